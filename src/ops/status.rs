//! STATUS (CNI 1.1): can ADD be served? Fails with code 50 when the state
//! directory is unusable or a range set has no free address; never changes
//! an allocation.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::error::Error;
use crate::alloc::{Addresses, PickError, Picker, skips_for};
use crate::config::IpamConfig;
use crate::ids::NetworkName;
use crate::store::{LockedNetwork, StoreError, StoreOptions};

/// The picker's view of the state for STATUS: an address is taken by
/// looking at it (one `lstat`), never by creating anything.
struct Looking<'a>(&'a LockedNetwork);

impl Addresses for Looking<'_> {
    type Error = StoreError;

    fn try_take(&mut self, ip: IpAddr) -> Result<bool, StoreError> {
        self.0.is_free(ip)
    }

    fn taken(&mut self) -> Result<BTreeSet<IpAddr>, StoreError> {
        self.0.taken()
    }
}

/// Reports whether every range set has a free address and the state
/// directory is writable. Creates and removes nothing, and costs a few
/// `lstat`s after each cursor (ADD's fast path, looked at rather than taken)
/// unless a range set is (nearly) full.
///
/// # Errors
/// [`Error::StateUnusable`] or [`Error::RangeSetFull`] (code 50).
pub fn status(network: &NetworkName, cfg: &IpamConfig, opts: &StoreOptions) -> Result<(), Error> {
    let unusable = |e: &dyn std::fmt::Display| Error::StateUnusable {
        reason: e.to_string(),
    };
    let mut net = LockedNetwork::open(&cfg.data_dir, network, opts).map_err(|e| unusable(&e))?;
    net.check_writable().map_err(|e| unusable(&e))?;
    // No reuse delay, no sticky address: any free address will do.
    let mut picker = Picker::default();
    let mut full = None;
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        let skips = skips_for(cfg, set.family());
        let cursor = net.cursor(idx);
        match picker.pick(&mut Looking(&net), set, cursor, &skips) {
            Ok(_) => {}
            Err(PickError::Exhausted { .. }) => {
                full = Some((idx, set));
                break;
            }
            Err(PickError::Store(e)) => return Err(unusable(&e)),
        }
    }
    net.commit().map_err(|e| unusable(&e))?;
    if let Some((idx, set)) = full {
        return Err(Error::RangeSetFull {
            set: idx,
            ranges: set.to_string(),
            network: network.to_string(),
        });
    }
    Ok(())
}
