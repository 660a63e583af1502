//! The operations, each gluing config + alloc + store: the CNI face and the
//! operator CLI both call these.
//!
//! Owns: the lock's scope (visible in each operation) and the rollback of a
//! failed ADD. Never: JSON encoding, environment variables.

mod add;
mod check;
mod del;
pub mod error;
pub mod gc;
mod preferences;
mod status;

pub use add::add;
pub use check::check;
pub use del::del;
pub use gc::gc;
pub use status::status;

// The element of IpamResult; `crate::ops::IpEntry` was its old home.
pub use crate::alloc::IpEntry;
use crate::config::Route;
use crate::config::resolv::Dns;

/// Whether `e` is a file of ours under `.podlease/` (or one of its
/// directories) vanishing while the operation ran: an operator's `rm -r`, a
/// restore. Everything there is a hint, and a failed operation undid its
/// changes, so running it again is safe.
fn hint_vanished(e: &self::error::Error) -> bool {
    use self::error::Error;
    use crate::store::StoreError;
    match e {
        Error::Store(StoreError::Io { source, path, .. }) => {
            source.kind() == std::io::ErrorKind::NotFound
                && path.components().any(|c| c.as_os_str() == ".podlease")
        }
        Error::RolledBack { cause, .. } => hint_vanished(cause),
        Error::Several(all) => all.iter().any(hint_vanished),
        _ => false,
    }
}

/// Runs `op` again (at most twice more) when it failed only because part of
/// `.podlease/` vanished under it.
pub(crate) fn retry_if_hints_vanished<T>(
    mut op: impl FnMut() -> Result<T, self::error::Error>,
) -> Result<T, self::error::Error> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if tries < 2 && hint_vanished(&e) => tries += 1,
            other => return other,
        }
    }
}

/// What ADD returns, before it is encoded for a CNI version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamResult {
    /// One per range set, in range-set order.
    pub ips: Vec<IpEntry>,
    /// The configured routes.
    pub routes: Vec<Route>,
    /// From resolvConf.
    pub dns: Dns,
}
