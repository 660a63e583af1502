//! STATUS (CNI 1.1): can ADD be served? Fails with code 50 when the state
//! directory is unusable or a range set has no free address; never changes
//! an allocation.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::skips_for;
use crate::alloc::Candidates;
use crate::config::IpamConfig;
use crate::error::Error;
use crate::ids::NetworkName;
use crate::range::{Family, to_u128};
use crate::store::{LockedNetwork, StoreOptions};

/// How many candidates after the cursor are looked at, one `lstat` each,
/// before one directory listing settles whether a range set is full. After a
/// round-robin cursor the next address is almost always free.
const PROBES: usize = 8;

/// Reports whether every range set has a free address and the state
/// directory is writable. Creates and removes nothing, and costs a few
/// `lstat`s unless a range set is (nearly) full.
///
/// # Errors
/// [`Error::NotAvailable`] with the reason.
pub fn status(network: &NetworkName, cfg: &IpamConfig, opts: &StoreOptions) -> Result<(), Error> {
    let unusable =
        |e: &dyn std::fmt::Display| Error::NotAvailable(format!("state directory unusable: {e}"));
    let mut net = LockedNetwork::open(&cfg.data_dir, network, opts).map_err(|e| unusable(&e))?;
    net.check_writable().map_err(|e| unusable(&e))?;
    let mut listing: Option<BTreeSet<IpAddr>> = None;
    let mut full = None;
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        let family = set.family();
        let skips = skips_for(cfg, family);
        let cursor = net.cursor(idx);
        let none = BTreeSet::new();
        let mut candidates = Candidates::new(set, cursor, &skips);
        let mut free = false;
        for _ in 0..PROBES {
            let Some(ip) = candidates.next_free(&none) else {
                break;
            };
            if net.is_free(ip).map_err(|e| unusable(&e))? {
                free = true;
                break;
            }
        }
        if free {
            continue;
        }
        let taken = match listing.take() {
            Some(l) => l,
            None => net.taken().map_err(|e| unusable(&e))?,
        };
        let taken_here: BTreeSet<u128> = taken
            .iter()
            .filter(|ip| Family::of(**ip) == family)
            .map(|ip| to_u128(*ip))
            .collect();
        listing = Some(taken);
        if Candidates::new(set, None, &skips)
            .next_free(&taken_here)
            .is_none()
        {
            full = Some((idx, set));
            break;
        }
    }
    net.commit().map_err(|e| unusable(&e))?;
    if let Some((idx, set)) = full {
        return Err(Error::NotAvailable(format!(
            "range set {idx} ({set}) of network {network} has no free address"
        )));
    }
    Ok(())
}
