//! Field readers shared by the sections: addresses, CIDRs, bounded lists.
//! Exactly what host-local's Go accepts: no dotted masks, no `+`, no zones.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::ConfigError;
use super::json::{Field, Obj};
use super::types::MAX_LIST;
use crate::range::canonical;

pub(super) fn parse_ip(field: &Field<'_>) -> Result<IpAddr, ConfigError> {
    let s = field.as_str()?;
    s.parse::<IpAddr>()
        .map(canonical)
        .map_err(|_| ConfigError::Parse {
            field: field.path.clone(),
            value: s.to_owned(),
            what: "an IP address",
        })
}

pub(super) fn parse_cidr(field: &Field<'_>) -> Result<IpNetwork, ConfigError> {
    let s = field.as_str()?;
    let bad = || ConfigError::Parse {
        field: field.path.clone(),
        value: s.to_owned(),
        what: "a CIDR (address/prefix)",
    };
    // Exactly what host-local's Go accepts: no dotted masks, no `+`, no zones.
    crate::gonet::parse_cidr(s).ok_or_else(bad)
}

pub(super) fn opt_ip(obj: &Obj<'_>, key: &str) -> Result<Option<IpAddr>, ConfigError> {
    match obj.get(key) {
        Some(f) if f.value.as_str() == Some("") => Ok(None),
        Some(f) => parse_ip(&f).map(Some),
        None => Ok(None),
    }
}

/// `"subnet": null` or `"dst": null`: host-local's decoder reads it as the
/// CIDR `""` and fails (`invalid CIDR address: `), so podlease refuses it too.
pub(super) fn null_cidr(obj: &Obj<'_>, key: &str) -> Result<(), ConfigError> {
    if obj.is_null(key) {
        return Err(ConfigError::Parse {
            field: if obj.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", obj.path)
            },
            value: "null".into(),
            what: "a CIDR (address/prefix); null is not absent here, as in host-local",
        });
    }
    Ok(())
}

/// Refuses a list longer than `max` before anything quadratic looks at it.
pub(super) fn bounded<'a>(
    items: Vec<Field<'a>>,
    path: &str,
    max: usize,
) -> Result<Vec<Field<'a>>, ConfigError> {
    if items.len() > max {
        return Err(ConfigError::TooMany {
            field: path.to_owned(),
            count: items.len(),
            max,
        });
    }
    Ok(items)
}

/// A list of addresses or CIDRs (a bare address is a single-address block).
pub(super) fn cidr_list(
    ipam: &Obj<'_>,
    key: &str,
) -> Result<Vec<(IpNetwork, String)>, ConfigError> {
    let Some(field) = ipam.get(key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in bounded(field.items()?, &field.path, MAX_LIST)? {
        let s = item.as_str()?;
        let net = if s.contains('/') {
            crate::gonet::parse_cidr(s)
        } else {
            crate::gonet::parse_ip(s).map(|ip| IpNetwork::from(canonical(ip)))
        };
        let net = net.ok_or_else(|| ConfigError::Parse {
            field: item.path.clone(),
            value: s.to_owned(),
            what: "an address or CIDR",
        })?;
        out.push((net, item.path));
    }
    Ok(out)
}
