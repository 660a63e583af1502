//! The operations, each gluing config + alloc + store: the CNI face and the
//! operator CLI both call these.
//!
//! Owns: the lock's scope (visible in each operation) and the rollback of a
//! failed ADD. Never: JSON encoding, environment variables.

mod add;
pub mod admin;
mod check;
mod del;
pub mod error;
pub mod gc;
mod history;
pub mod locate;
mod status;
pub mod tenancy;
pub mod validate;

use std::net::IpAddr;

use ipnetwork::IpNetwork;

pub use add::add;
pub use check::check;
pub use del::del;
pub use gc::gc;
pub use status::status;

use crate::alloc::Skips;
use crate::config::resolv::Dns;
use crate::config::{IpamConfig, Route};
use crate::range::{Family, to_u128};

/// Whether `e` is a file of ours under `.podlease/` (or one of its
/// directories) vanishing while the operation ran: an operator's `rm -r`, a
/// restore. Everything there is a hint, and a failed operation undid its
/// changes, so running it again is safe.
fn hint_vanished(e: &crate::error::Error) -> bool {
    use crate::error::Error;
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
    mut op: impl FnMut() -> Result<T, crate::error::Error>,
) -> Result<T, crate::error::Error> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if tries < 2 && hint_vanished(&e) => tries += 1,
            other => return other,
        }
    }
}

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpEntry {
    /// Address with the range's prefix.
    pub address: IpNetwork,
    /// The range's gateway.
    pub gateway: IpAddr,
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

/// Addresses that are never handed out in `family`: every configured gateway
/// (host-local skips only the gateway of the range being walked) and every
/// `exclude` block.
pub fn skips_for(cfg: &IpamConfig, family: Family) -> Skips {
    let gateways = cfg
        .range_sets
        .iter()
        .flat_map(|s| s.ranges())
        .filter(|r| r.family() == family)
        .map(|r| to_u128(r.gateway))
        .map(|v| (v, v));
    let excluded = cfg
        .exclude
        .iter()
        .filter(|(net, _)| Family::of(net.ip()) == family)
        .map(|(net, _)| crate::range::subnet_bounds(*net));
    Skips::new(gateways.chain(excluded).collect())
}

/// The result entries for the addresses an attachment holds, in range-set
/// order, if each is inside a configured range (and is the requested one
/// where an address is requested). A range set the attachment holds nothing
/// in is no mismatch: a set added to the config (dual-stack turned on)
/// leaves running pods valid, as with host-local.
pub(crate) fn entries_matching(cfg: &IpamConfig, ips: &[IpAddr]) -> Result<Vec<IpEntry>, String> {
    let mut placed: Vec<(usize, IpAddr)> = Vec::with_capacity(ips.len());
    for ip in ips {
        placed.push((range_set_of(cfg, *ip)?, *ip));
    }
    for (idx, req) in cfg
        .requested
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
    {
        let held: Vec<&IpAddr> = placed
            .iter()
            .filter(|(i, _)| *i == idx)
            .map(|(_, ip)| ip)
            .collect();
        if held.iter().any(|ip| **ip != req.ip) || held.is_empty() {
            let what = if held.is_empty() {
                "nothing".to_owned()
            } else {
                held.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "holds {what} in range set {idx} but {} requests {}",
                req.source, req.ip
            ));
        }
    }
    placed.sort_by_key(|(idx, ip)| (*idx, to_u128(*ip)));
    Ok(entries_for(cfg, &placed))
}

/// The range set that holds `ip`, or why none does.
pub(crate) fn range_set_of(cfg: &IpamConfig, ip: IpAddr) -> Result<usize, String> {
    cfg.range_sets
        .iter()
        .position(|s| s.range_for(ip).is_some())
        .ok_or_else(|| format!("holds {ip}, which is outside every configured range"))
}

/// The result entries of addresses placed in their range sets, in the order
/// given: each with its range's prefix and gateway.
pub(crate) fn entries_for(cfg: &IpamConfig, placed: &[(usize, IpAddr)]) -> Vec<IpEntry> {
    placed
        .iter()
        .filter_map(|(idx, ip)| {
            let range = cfg.range_sets.get(*idx)?.range_for(*ip)?;
            Some(IpEntry {
                address: range.with_prefix(*ip),
                gateway: range.gateway,
            })
        })
        .collect()
}
