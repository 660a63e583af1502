//! CHECK: the attachment still holds one address per range set, and those
//! are the addresses the runtime's `prevResult` says it configured.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::error::Error;
use crate::alloc::entries_matching;
use crate::config::IpamConfig;
use crate::ids::{Attachment, NetworkName};
use crate::range::canonical;
use crate::store::{LockedNetwork, StoreOptions};

/// Addresses listed in a `prevResult` of any version.
fn prev_addresses(prev: &Value) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    let mut take = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            let addr = s.split_once('/').map_or(s, |(a, _)| a);
            if let Ok(ip) = addr.parse::<IpAddr>() {
                out.insert(canonical(ip));
            }
        }
    };
    if let Some(ips) = prev.get("ips").and_then(Value::as_array) {
        for entry in ips {
            take(entry.get("address"));
        }
    }
    for key in ["ip4", "ip6"] {
        take(prev.get(key).and_then(|v| v.get("ip")));
    }
    out
}

/// Verifies `who`'s allocation.
///
/// # Errors
/// Code 3 when nothing is allocated; 102 when the allocation does not match
/// the configuration or `prevResult`; I/O errors.
pub fn check(
    network: &NetworkName,
    who: &Attachment,
    cfg: &IpamConfig,
    prev_result: Option<&Value>,
    opts: &StoreOptions,
) -> Result<(), Error> {
    super::retry_if_hints_vanished(|| check_once(network, who, cfg, prev_result, opts))
}

fn check_once(
    network: &NetworkName,
    who: &Attachment,
    cfg: &IpamConfig,
    prev_result: Option<&Value>,
    opts: &StoreOptions,
) -> Result<(), Error> {
    let held = {
        let mut net = LockedNetwork::open(&cfg.data_dir, network, opts)?;
        net.recover()?;
        let mut held = net.find(who)?;
        // "Unknown container" may make the runtime tear the pod down:
        // before saying it, make sure the index missed nothing (free when
        // the directory's stamp proves it, one scan otherwise).
        if held.is_empty() && net.ensure_complete()? {
            held = net.find(who)?;
        }
        net.commit()?;
        held
    };
    if held.is_empty() {
        return Err(Error::UnknownAttachment {
            network: network.to_string(),
            container_id: who.container_id.to_string(),
            ifname: who.ifname.to_string(),
        });
    }
    let mismatch = |why: String| Error::CheckMismatch {
        container_id: who.container_id.to_string(),
        ifname: who.ifname.to_string(),
        why,
    };
    entries_matching(&cfg.range_sets, &cfg.requested, &held).map_err(mismatch)?;
    if let Some(prev) = prev_result {
        let listed = prev_addresses(prev);
        if let Some(missing) = held.iter().find(|ip| !listed.contains(ip)) {
            return Err(mismatch(format!(
                "holds {missing}, which prevResult does not list"
            )));
        }
    }
    Ok(())
}
