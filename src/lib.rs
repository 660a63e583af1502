//! podlease: a CNI IPAM plugin that replaces host-local.
//!
//! The data path of an ADD, one module per step:
//! 1. [`plugin::run`] reads the environment and stdin, checks the `CNI_*` rules
//!    ([`ids`]) and the version ([`plugin::version`]).
//! 2. [`config::IpamConfig::parse`] validates the `ipam` section into range
//!    sets ([`range`]) and requested addresses.
//! 3. [`ops::add`] takes the network's lock ([`store::LockedNetwork::open`],
//!    which changes nothing), then runs recovery explicitly
//!    ([`store::LockedNetwork::recover`]: undo of a killed ADD, reclaim of
//!    earlier boots, index rebuild).
//! 4. [`alloc::Candidates`] proposes addresses in host-local's round-robin
//!    order; [`store::LockedNetwork::try_reserve`] links each atomically.
//! 5. The lock is released and [`plugin::result::encode`] writes the result in
//!    the config's version.
#![forbid(unsafe_code)]

pub mod alloc;
pub mod config;
pub mod error;
pub mod gonet;
pub mod ids;
pub mod journal;
pub mod ops;
pub mod plugin;
pub mod pool;
pub mod range;
pub mod store;

// shim: old path, removed after the merge
pub use error::{Error, ErrorCode};

// shim: old path, removed after the merge
pub use plugin as cni;
