//! Specific addresses a caller asks for (`CNI_ARGS IP=`, `args.cni.ips`,
//! `runtimeConfig.ips`), read as host-local reads them.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::ConfigError;
use super::json::{Field, Obj};
use super::types::Requested;
use crate::range::{RangeSet, canonical};

/// Parses an address with an optional `/prefix`, which is discarded as
/// host-local does (`ip.IP.UnmarshalText`: with a `/`, the whole text must be
/// a CIDR by Go's `net.ParseCIDR`; without, an address by `net.ParseIP`).
pub fn parse_requested_ip(s: &str) -> Option<IpAddr> {
    let ip = if s.contains('/') {
        crate::gonet::parse_cidr(s)?.ip()
    } else {
        crate::gonet::parse_ip(s)?
    };
    Some(canonical(ip))
}

/// Every request in host-local's order: `CNI_ARGS` `IP=` (`args_ips`), then
/// `args.cni.ips`, then `runtimeConfig.ips`.
pub(super) fn collect(
    args_ips: &[IpAddr],
    root: &Obj<'_>,
    runtime: Option<&Obj<'_>>,
) -> Result<Vec<Requested>, ConfigError> {
    let mut requests: Vec<Requested> = args_ips
        .iter()
        .map(|&ip| Requested {
            ip,
            source: "CNI_ARGS IP".into(),
        })
        .collect();
    let args_obj = root
        .get("args")
        .map(|f| Obj::of(f.value, "args"))
        .transpose()?;
    let cni_args = args_obj
        .and_then(|a| a.get("cni"))
        .map(|f| (f.value, f.path));
    if let Some((value, path)) = &cni_args {
        requested_list(Obj::of(value, path)?.get("ips"), &mut requests)?;
    }
    if let Some(rt) = runtime {
        requested_list(rt.get("ips"), &mut requests)?;
    }
    Ok(requests)
}

/// For each range set, the address requested from it: none with pools (a
/// node's blocks are not known here), none inside `exclude`, at most one per
/// set, never a gateway.
pub(super) fn assign(
    sets: &[RangeSet],
    requests: Vec<Requested>,
    has_pools: bool,
    exclude: &[(IpNetwork, String)],
) -> Result<Vec<Option<Requested>>, ConfigError> {
    if let (true, Some(req)) = (has_pools, requests.first()) {
        return Err(ConfigError::Invalid {
            field: req.source.clone(),
            reason: format!(
                "requests address {}, but ipam.pools hands out addresses only from this node's blocks: specific addresses are not supported with pools",
                req.ip
            ),
        });
    }
    let requested = assign_to_sets(sets, requests)?;
    if let Some((req, (net, field))) = requested.iter().flatten().find_map(|r| {
        exclude
            .iter()
            .find(|(n, _)| n.contains(r.ip))
            .map(|e| (r, e))
    }) {
        return Err(ConfigError::RequestedExcluded {
            field: req.source.clone(),
            ip: req.ip,
            exclude: format!("{field} ({net})"),
        });
    }
    Ok(requested)
}

fn requested_list(field: Option<Field<'_>>, out: &mut Vec<Requested>) -> Result<(), ConfigError> {
    let Some(field) = field else { return Ok(()) };
    for item in field.items()? {
        let s = item.as_str()?;
        let ip = parse_requested_ip(s).ok_or_else(|| ConfigError::Parse {
            field: item.path.clone(),
            value: s.to_owned(),
            what: "an IP address (optionally with /prefix)",
        })?;
        out.push(Requested {
            ip,
            source: item.path,
        });
    }
    Ok(())
}

/// Gives each requested address to the first range set that contains it, in
/// request order (host-local walks a Go map, so its choice is random).
fn assign_to_sets(
    sets: &[RangeSet],
    requests: Vec<Requested>,
) -> Result<Vec<Option<Requested>>, ConfigError> {
    let mut per_set: Vec<Option<Requested>> = vec![None; sets.len()];
    let all_ranges = || {
        sets.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    for req in requests {
        let Some((idx, set)) = sets
            .iter()
            .enumerate()
            .find(|(_, s)| s.range_for(req.ip).is_some())
        else {
            return Err(ConfigError::RequestedOutside {
                field: req.source,
                ip: req.ip,
                ranges: all_ranges(),
            });
        };
        if sets
            .iter()
            .flat_map(RangeSet::ranges)
            .any(|r| r.gateway == req.ip)
        {
            return Err(ConfigError::RequestedGateway {
                field: req.source,
                ip: req.ip,
            });
        }
        match per_set.get_mut(idx) {
            Some(Some(first)) if first.ip == req.ip => {} // the same address asked twice
            Some(Some(first)) => {
                return Err(ConfigError::RequestedTwice {
                    field: req.source,
                    ip: req.ip,
                    other: first.ip,
                    set: idx,
                    ranges: set.to_string(),
                });
            }
            Some(slot) => *slot = Some(req),
            None => {}
        }
    }
    Ok(per_set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_dropped_and_mapped_v4_canonical() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_requested_ip("10.1.2.11/24"), Some(ip("10.1.2.11")));
        assert_eq!(parse_requested_ip("::ffff:10.0.0.1"), Some(ip("10.0.0.1")));
        assert_eq!(parse_requested_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        for bad in [
            "10.0.0.1/99",
            "010.0.0.1",
            "fe80::1%eth0",
            "10.0.0.1/+24",
            "",
        ] {
            assert_eq!(parse_requested_ip(bad), None, "{bad}");
        }
    }
}
