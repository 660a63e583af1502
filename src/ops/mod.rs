//! The operations, each gluing config + alloc + store: the CNI face and the
//! operator CLI both call these.
//!
//! Owns: the lock's scope (visible in each operation) and the rollback of a
//! failed ADD. Never: JSON encoding, environment variables.

mod add;
pub mod admin;
mod check;
mod del;
pub mod gc;
mod history;
mod status;
pub mod tenancy;

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

/// The result entries for `ips` if they are exactly one address per range set
/// (and the requested ones where requested), in range-set order.
pub(crate) fn entries_matching(cfg: &IpamConfig, ips: &[IpAddr]) -> Result<Vec<IpEntry>, String> {
    let mut out = Vec::with_capacity(cfg.range_sets.len());
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        let inside: Vec<&IpAddr> = ips
            .iter()
            .filter(|ip| set.range_for(**ip).is_some())
            .collect();
        let [ip] = inside.as_slice() else {
            return Err(format!(
                "holds {} address(es) in range set {idx} ({set}) where the configuration gives one",
                inside.len()
            ));
        };
        if let Some(Some(req)) = cfg.requested.get(idx)
            && req.ip != **ip
        {
            return Err(format!(
                "holds {ip} in range set {idx} but {} requests {}",
                req.source, req.ip
            ));
        }
        if let Some(range) = set.range_for(**ip) {
            out.push(IpEntry {
                address: range.with_prefix(**ip),
                gateway: range.gateway,
            });
        }
    }
    if let Some(stray) = ips
        .iter()
        .find(|ip| cfg.range_sets.iter().all(|s| s.range_for(**ip).is_none()))
    {
        return Err(format!(
            "holds {stray}, which is outside every configured range"
        ));
    }
    Ok(out)
}
