//! The state directory: host-local's on-disk layout, our index beside it, and
//! the one lock.
//!
//! Owns: every file under `<dataDir>/<network>/`.
//! Never: configuration, ranges, or the choice of addresses.

pub mod boot;
pub mod disk;
pub mod index;
pub mod layout;
pub mod lock;

pub use boot::BootSource;
pub use disk::recovery::{Inspection, ReleaseEvent, ReleaseReason, inspect, report_release};
pub use disk::{Allocation, FileStamp, LockedNetwork, Owner, OwnerFile, StoreError, StoreOptions};
