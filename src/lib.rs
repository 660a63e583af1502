//! podlease: a CNI IPAM plugin that replaces host-local.
//!
//! # The path of an ADD, file by file
//! 1. `main.rs` reads the environment and stdin into a
//!    [`plugin::RawInvocation`] and calls [`plugin::run`] (a panic becomes
//!    error 110); whatever `run` returns is written to stdout.
//! 2. `plugin/invocation.rs`: `CNI_COMMAND`, the variables ADD requires and
//!    the attachment (`CNI_CONTAINERID`, `CNI_IFNAME`, checked by [`ids`]).
//! 3. `plugin/network.rs`: stdin decoded as Go decodes it
//!    (`config/json.rs`), its `cniVersion` ([`config::version`]) and `name`;
//!    `plugin/version.rs` says whether that version has the command.
//! 4. `plugin/request.rs`: the typed [`plugin::request::Request`]`::Add`:
//!    `CNI_ARGS` (`plugin/args.rs`) and [`config::IpamConfig::parse`]
//!    (`config/mod.rs`, which reads `config/ranges.rs`, `requested.rs`,
//!    `routes.rs`, `policy.rs`, `pools.rs`).
//! 5. `plugin/store_options.rs`: the store's options, built once.
//! 6. `ops/add.rs`: lock ([`store::LockedNetwork::open`], `store/network.rs`
//!    over `store/lock.rs`), recover (`store/recovery.rs`: undo of a killed
//!    ADD, reclaim of earlier boots, index rebuild, all explicit and
//!    journalled), what the attachment holds already (`store/lookup.rs`,
//!    `alloc/placement.rs`), allocate (`alloc/candidates.rs` and
//!    `alloc/picker.rs` choose, `store/reserve.rs` links each address
//!    atomically; cluster pools grow through [`pool`]), record ([`journal`]),
//!    commit.
//! 7. `plugin/result.rs` writes the result in the config's version; a
//!    failure is written there too, its code from `plugin/error_code.rs`,
//!    the one table from error to CNI code.
//!
//! # Layers (a module imports only from those below it)
//! [`gonet`], [`range`], [`ids`], [`bytesearch`] → [`journal`] → [`config`] → [`alloc`] →
//! [`store`] → [`pool`] → [`ops`] (errors: [`ops::error`]) → `admin` →
//! [`plugin`] → `main.rs`, `cli/`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod alloc;
pub mod bytesearch;
pub mod config;
pub mod gonet;
pub mod ids;
pub mod journal;
pub mod ops;
pub mod plugin;
pub mod pool;
pub mod range;
pub mod store;
