//! ADD: one address from each range set, all or nothing, under one lock.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{IpEntry, IpamResult, entries_matching, skips_for};
use crate::alloc::Candidates;
use crate::config::IpamConfig;
use crate::config::resolv::Dns;
use crate::error::Error;
use crate::ids::{Attachment, NetworkName};
use crate::range::{Family, to_u128};
use crate::store::{LockedNetwork, OwnerFile, StoreOptions};

/// How many candidates are tried one `link` at a time before one directory
/// listing tells us every taken address at once. After a round-robin cursor
/// the next address is almost always free, so this is the common path.
const PROBES: usize = 8;

/// Allocates for `who`, or returns what it already holds when that still
/// matches the configuration (a runtime retrying ADD gets the same answer
/// instead of a leak or an error).
///
/// # Errors
/// [`Error`]: I/O, exhaustion, a requested address in use, a mismatching
/// earlier allocation, or a lock timeout.
pub fn add(
    network: &NetworkName,
    who: &Attachment,
    cfg: &IpamConfig,
    pod: Option<String>,
    opts: &StoreOptions,
) -> Result<IpamResult, Error> {
    // Everything that can fail without state is done before the lock.
    let dns = match &cfg.resolv_conf {
        Some(path) => Dns::read(path).map_err(|source| Error::ResolvConf { path: path.clone(), source })?,
        None => Dns::default(),
    };
    let mut net = LockedNetwork::open(&cfg.data_dir, network, opts)?;

    let held = net.find(who)?;
    if !held.is_empty() {
        let ips = entries_matching(cfg, &held).map_err(|why| {
            Error::AttachmentMismatch(format!(
                "container {} interface {} already {why}; a repeated ADD must match the first one (DEL it first to change it)",
                who.container_id, who.ifname
            ))
        })?;
        net.commit()?;
        return Ok(IpamResult { ips, routes: cfg.routes.clone(), dns });
    }

    let mut owner = net.prepare_owner(who)?;
    match reserve_all(&mut net, &mut owner, network, cfg) {
        Ok(picked) => {
            for (set, ip) in &picked {
                net.set_cursor(*set, *ip)?;
            }
            net.finish(owner, pod)?;
            net.commit()?;
            let ips = picked
                .iter()
                .filter_map(|(set, ip)| {
                    let range = cfg.range_sets.get(*set)?.range_for(*ip)?;
                    Some(IpEntry { address: range.with_prefix(*ip), gateway: range.gateway })
                })
                .collect();
            Ok(IpamResult { ips, routes: cfg.routes.clone(), dns })
        }
        Err(cause) => match net.abandon(owner) {
            Ok(()) => {
                net.commit()?;
                Err(cause)
            }
            Err(rollback) => Err(Error::RolledBack { cause: Box::new(cause), rollback }),
        },
    }
}

fn reserve_all(
    net: &mut LockedNetwork,
    owner: &mut OwnerFile,
    network: &NetworkName,
    cfg: &IpamConfig,
) -> Result<Vec<(usize, IpAddr)>, Error> {
    let mut picked = Vec::with_capacity(cfg.range_sets.len());
    let mut taken_listing: Option<BTreeSet<IpAddr>> = None;
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        if let Some(Some(req)) = cfg.requested.get(idx) {
            if !net.try_reserve(owner, req.ip)? {
                let holder = net.owner_of(req.ip)?.map_or_else(|| "another attachment".to_owned(), |(o, _)| o.to_string());
                return Err(Error::AddressInUse { field: req.source.clone(), ip: req.ip, holder });
            }
            picked.push((idx, req.ip));
            continue;
        }
        let skips = skips_for(cfg, set.family());
        let mut candidates = Candidates::new(set, net.cursor(idx), &skips);
        let mut found = None;
        let none_taken = BTreeSet::new();
        for _ in 0..PROBES {
            let Some(ip) = candidates.next_free(&none_taken) else { break };
            if net.try_reserve(owner, ip)? {
                found = Some(ip);
                break;
            }
        }
        if found.is_none() {
            let listing = match taken_listing.take() {
                Some(l) => l,
                None => net.taken()?,
            };
            let family = set.family();
            let mut taken: BTreeSet<u128> =
                listing.iter().filter(|ip| Family::of(**ip) == family).map(|ip| to_u128(*ip)).collect();
            while let Some(ip) = candidates.next_free(&taken) {
                if net.try_reserve(owner, ip)? {
                    found = Some(ip);
                    break;
                }
                // Named in a form the listing did not parse to; never reuse it.
                taken.insert(to_u128(ip));
            }
            taken_listing = Some(listing);
        }
        let Some(ip) = found else {
            let in_use = taken_listing
                .as_ref()
                .map_or(0, |l| l.iter().filter(|ip| set.range_for(**ip).is_some()).count() as u128);
            return Err(Error::Exhausted { network: network.to_string(), set: idx, ranges: set.to_string(), in_use });
        };
        picked.push((idx, ip));
    }
    Ok(picked)
}
