//! `ipam.routes`: returned in the result as configured.

use super::ConfigError;
use super::fields::{bounded, null_cidr, opt_ip, parse_cidr};
use super::json::Obj;
use super::types::{MAX_LIST, Route};
use crate::range::Family;

/// Reads `ipam.routes` (absent: none).
pub(super) fn parse(ipam: &Obj<'_>) -> Result<Vec<Route>, ConfigError> {
    let Some(field) = ipam.get("routes") else {
        return Ok(Vec::new());
    };
    let mut routes = Vec::new();
    for item in bounded(field.items()?, &field.path, MAX_LIST)? {
        let obj = Obj::of(item.value, &item.path)?;
        null_cidr(&obj, "dst")?;
        let dst = match obj.get("dst") {
            Some(f) => parse_cidr(&f)?,
            None => {
                return Err(ConfigError::Missing {
                    field: format!("{}.dst", item.path),
                });
            }
        };
        let gw = opt_ip(&obj, "gw")?;
        if let Some(gw) = gw
            && Family::of(gw) != Family::of(dst.ip())
        {
            return Err(ConfigError::Invalid {
                field: format!("{}.gw", item.path),
                reason: format!("gateway {gw} is not of the same address family as dst {dst}"),
            });
        }
        routes.push(Route {
            dst,
            gw,
            mtu: obj.i64("mtu")?,
            advmss: obj.i64("advmss")?,
            priority: obj.i64("priority")?,
            table: obj.i64("table")?,
            scope: obj.i64("scope")?,
        });
    }
    Ok(routes)
}
