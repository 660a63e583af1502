//! Matching the addresses an attachment holds to the configured range sets:
//! which set each one belongs to, whether that fits the configuration, and
//! the result entries (prefix, gateway) they make.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::config::Requested;
use crate::range::{RangeSet, to_u128};

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpEntry {
    /// Address with the range's prefix.
    pub address: IpNetwork,
    /// The range's gateway.
    pub gateway: IpAddr,
}

/// The range set that holds `ip`, or why none does.
///
/// # Errors
/// A sentence (after "container … interface … ") when no set holds it.
fn range_set_of(sets: &[RangeSet], ip: IpAddr) -> Result<usize, String> {
    sets.iter()
        .position(|s| s.range_for(ip).is_some())
        .ok_or_else(|| format!("holds {ip}, which is outside every configured range"))
}

/// The result entries of addresses placed in their range sets, in the order
/// given: each with its range's prefix and gateway.
pub fn entries_for(sets: &[RangeSet], placed: &[(usize, IpAddr)]) -> Vec<IpEntry> {
    placed
        .iter()
        .filter_map(|(idx, ip)| {
            let range = sets.get(*idx)?.range_for(*ip)?;
            Some(IpEntry {
                address: range.with_prefix(*ip),
                gateway: range.gateway,
            })
        })
        .collect()
}

/// For a repeated ADD: the range set of each address `held`, sorted by set.
/// Every one inside a configured range set, at most one per set, and the
/// requested address where a set has a request; a set it holds nothing in is
/// left for the ADD to fill.
///
/// # Errors
/// Why the addresses do not fit the configuration.
pub fn place_held(
    sets: &[RangeSet],
    requested: &[Option<Requested>],
    held: &[IpAddr],
) -> Result<Vec<(usize, IpAddr)>, String> {
    let mut placed: Vec<(usize, IpAddr)> = Vec::with_capacity(held.len());
    for ip in held {
        let idx = range_set_of(sets, *ip)?;
        if let Some((_, other)) = placed.iter().find(|(i, _)| *i == idx) {
            return Err(format!("holds {other} and {ip}, both in range set {idx}"));
        }
        if let Some(Some(req)) = requested.get(idx)
            && req.ip != *ip
        {
            return Err(format!(
                "holds {ip} in range set {idx} but {} requests {}",
                req.source, req.ip
            ));
        }
        placed.push((idx, *ip));
    }
    placed.sort_by_key(|(set, _)| *set);
    Ok(placed)
}

/// For CHECK: the result entries for the addresses an attachment holds, in
/// range-set order, if each is inside a configured range (and is the
/// requested one where an address is requested). A range set the attachment
/// holds nothing in is no mismatch: a set added to the config (dual-stack
/// turned on) leaves running pods valid, as with host-local.
///
/// # Errors
/// Why the addresses do not fit the configuration.
pub fn entries_matching(
    sets: &[RangeSet],
    requested: &[Option<Requested>],
    ips: &[IpAddr],
) -> Result<Vec<IpEntry>, String> {
    let mut placed: Vec<(usize, IpAddr)> = Vec::with_capacity(ips.len());
    for ip in ips {
        placed.push((range_set_of(sets, *ip)?, *ip));
    }
    for (idx, req) in requested
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
    Ok(entries_for(sets, &placed))
}

/// Whether `ips` has one address per range set of `sets`, each inside its
/// set: an address that is not (say an IPv4-mapped one turned into IPv4)
/// would be missing from the result.
pub fn is_complete(sets: &[RangeSet], ips: &[IpEntry]) -> bool {
    ips.len() == sets.len()
        && ips
            .iter()
            .zip(sets)
            .all(|(e, set)| set.range_for(e.address.ip()).is_some())
}

#[cfg(test)]
mod tests;
