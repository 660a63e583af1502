//! STATUS (CNI 1.1): can ADD be served? Fails with code 50 when the state
//! directory is unusable or a range set has no free address; never changes
//! an allocation.

use std::collections::BTreeSet;

use super::skips_for;
use crate::alloc::Candidates;
use crate::config::IpamConfig;
use crate::error::Error;
use crate::ids::NetworkName;
use crate::range::{Family, to_u128};
use crate::store::{LockedNetwork, StoreOptions};

/// Reports whether every range set has a free address and the state
/// directory is writable.
///
/// # Errors
/// [`Error::NotAvailable`] with the reason.
pub fn status(network: &NetworkName, cfg: &IpamConfig, opts: &StoreOptions) -> Result<(), Error> {
    let unusable =
        |e: &dyn std::fmt::Display| Error::NotAvailable(format!("state directory unusable: {e}"));
    let mut net = LockedNetwork::open(&cfg.data_dir, network, opts).map_err(|e| unusable(&e))?;
    net.probe_writable().map_err(|e| unusable(&e))?;
    let taken = net.taken().map_err(|e| unusable(&e))?;
    net.commit().map_err(|e| unusable(&e))?;
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        let family = set.family();
        let skips = skips_for(cfg, family);
        let taken_here: BTreeSet<u128> = taken
            .iter()
            .filter(|ip| Family::of(**ip) == family)
            .map(|ip| to_u128(*ip))
            .collect();
        if Candidates::new(set, None, &skips)
            .next_free(&taken_here)
            .is_none()
        {
            return Err(Error::NotAvailable(format!(
                "range set {idx} ({set}) of network {network} has no free address"
            )));
        }
    }
    Ok(())
}
