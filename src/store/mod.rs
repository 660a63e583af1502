//! The state directory: host-local's on-disk layout, our index beside it, and
//! the one lock.
//!
//! Owns: every file under `<dataDir>/<network>/`.
//! Never: configuration, ranges, or the choice of addresses.
//!
//! Files, bottom to top (each uses only those before it): `lock` (the
//! `flock`), `error` (the store's error), `files` (small-file reads, in-place
//! writes, directories never followed through a symlink), `layout` (every
//! path), `boot` (which boot this is), `options`; `owner` (what an address
//! file says, scans), `marker` (the `clean` marker and the settled directory
//! stamp), `index` (attachment → addresses, in 64 bucket files whose text
//! `index/bucket` reads and edits); `network` (the locked-network
//! transaction: open, change, commit), then the steps of an operation on it:
//! `rebuild`, `lookup`, `reserve`, `release`, `hints`, `recovery` (the only
//! automatic releases; also the read-only [`inspect`]); `consistency`
//! (`podlease verify`'s read-only look); `view` (what the operator commands
//! read: which networks have state, the journal file).

pub mod boot;
pub mod consistency;
mod error;
mod files;
mod hints;
pub mod index;
pub mod layout;
pub mod lock;
mod lookup;
mod marker;
mod network;
mod options;
mod owner;
mod rebuild;
pub mod recovery;
mod release;
mod reserve;
pub mod view;

pub use boot::BootSource;
pub use error::StoreError;
pub use network::LockedNetwork;
pub use options::{DEFAULT_FOREIGN_CLOCK_SLACK_SECS, StoreOptions, parse_lock_timeout};
pub use owner::{Allocation, FileStamp, Owner, OwnerFile};
pub use recovery::{Inspection, ReleaseEvent, ReleaseReason, inspect, report_release};

#[cfg(test)]
mod tests;
