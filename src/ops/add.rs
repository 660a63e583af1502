//! ADD: one address from each range set, all or nothing, under one lock.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{IpEntry, IpamResult, entries_for, history, range_set_of, skips_for};
use crate::alloc::Candidates;
use crate::config::IpamConfig;
use crate::config::resolv::Dns;
use crate::error::Error;
use crate::ids::{Attachment, NetworkName};
use crate::range::{Family, RangeSet, to_u128};
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
    super::retry_if_hints_vanished(|| add_once(network, who, cfg, pod.clone(), opts))
}

fn add_once(
    network: &NetworkName,
    who: &Attachment,
    cfg_in: &IpamConfig,
    pod: Option<String>,
    opts: &StoreOptions,
) -> Result<IpamResult, Error> {
    let cfg = cfg_in;
    // Everything that can fail without state is done before the lock.
    let dns = match &cfg.resolv_conf {
        Some(path) => Dns::read(path).map_err(|source| Error::ResolvConf {
            path: path.clone(),
            source,
        })?,
        None => Dns::default(),
    };
    let mut net = LockedNetwork::open(&cfg.data_dir, network, opts)?;
    net.recover()?;
    // Cluster pools: this node's blocks are the range sets (see crate::pool).
    let mut pooled = crate::pool::for_add(cfg, network, &mut net)?;
    let cfg = pooled.clone();
    let cfg = cfg.as_ref().unwrap_or(cfg_in);

    let held = net.find_exact(who)?;
    let mismatch = |why: String| {
        Error::AttachmentMismatch(format!(
            "container {} interface {} already {why}; a repeated ADD must match the first one (DEL it first to change it)",
            who.container_id, who.ifname
        ))
    };
    // What this attachment already holds, by range set. A retried ADD that
    // holds an address in every range set gets them back; one that holds
    // some (a range set was added to the config since its first ADD, or a
    // DEL was killed half-way) keeps them and gets the missing ones.
    let mut kept = place_held(cfg, &held).map_err(mismatch)?;
    kept.sort_by_key(|(set, _)| *set);
    if !held.is_empty() && kept.len() == cfg.range_sets.len() {
        let ips = entries_for(cfg, &kept);
        net.commit()?;
        ensure_complete(cfg, &ips)?;
        return Ok(IpamResult {
            ips,
            routes: cfg.routes.clone(),
            dns,
        });
    }
    // An id-only file (host-local before 2018) holds its address for every
    // interface of the container: giving it to this one could give it to two.
    let legacy = if kept.is_empty() {
        net.find_legacy(&who.container_id)?
    } else {
        Vec::new()
    };
    if let Some(ip) = legacy.first() {
        return Err(Error::AttachmentMismatch(format!(
            "container {} holds {ip} through a legacy id-only reservation, which cannot tell its interfaces apart; DEL the container (or `podlease release {ip}`) first",
            who.container_id
        )));
    }

    let mut owner = net.prepare_owner(who)?;
    let journal_pod = pod.clone();
    let mut outcome = reserve_all(&mut net, &mut owner, network, cfg, pod.as_deref(), &kept);
    // A pool whose held blocks are full grows by a block, then ADD tries again.
    let mut growth = 0;
    while let (Some(p), Err(Error::Exhausted { set, .. })) = (&pooled, &outcome) {
        if growth >= crate::pool::MAX_GROWTH_PER_POOL * cfg.range_sets.len() {
            break;
        }
        growth += 1;
        let set = *set;
        net.abandon(owner)?;
        match crate::pool::grow(p, set, network, &mut net) {
            Ok(c) => pooled = Some(c),
            Err(e) => {
                net.commit()?;
                return Err(e);
            }
        }
        owner = net.prepare_owner(who)?;
        let c = pooled.as_ref().unwrap_or(cfg_in);
        outcome = reserve_all(&mut net, &mut owner, network, c, pod.as_deref(), &kept);
    }
    let cfg = pooled.as_ref().unwrap_or(cfg_in);
    let outcome = outcome.and_then(|picked| {
        record(&mut net, &owner, &picked, cfg, pod, !kept.is_empty()).map(|()| picked)
    });
    let outcome = outcome.and_then(|picked| net.mark_clean().map(|()| picked).map_err(Error::from));
    match outcome {
        Ok(picked) => {
            let ips: Vec<IpAddr> = picked.iter().map(|(_, ip)| *ip).collect();
            net.journal_allocated(who, &ips, journal_pod.as_deref());
            let mut all = picked;
            all.extend(kept.iter().copied());
            all.sort_by_key(|(set, _)| *set);
            let ips = entries_for(cfg, &all);
            ensure_complete(cfg, &ips)?;
            Ok(IpamResult {
                ips,
                routes: cfg.routes.clone(),
                dns,
            })
        }
        Err(cause) => match net.abandon(owner) {
            Ok(()) => {
                // If even this commit fails, the `clean` marker stays absent and
                // the next operation rebuilds the index; the cause is the news.
                match net.commit() {
                    Ok(()) => Err(cause),
                    Err(e) => Err(Error::RolledBack {
                        cause: Box::new(cause),
                        rollback: e,
                    }),
                }
            }
            Err(rollback) => Err(Error::RolledBack {
                cause: Box::new(cause),
                rollback,
            }),
        },
    }
}

/// The range set of each address `held`: every one inside a configured
/// range set, at most one per set, and the requested address where a set
/// has a request.
fn place_held(cfg: &IpamConfig, held: &[IpAddr]) -> Result<Vec<(usize, IpAddr)>, String> {
    let mut placed: Vec<(usize, IpAddr)> = Vec::with_capacity(held.len());
    for ip in held {
        let idx = range_set_of(cfg, *ip)?;
        if let Some((_, other)) = placed.iter().find(|(i, _)| *i == idx) {
            return Err(format!("holds {other} and {ip}, both in range set {idx}"));
        }
        if let Some(Some(req)) = cfg.requested.get(idx)
            && req.ip != *ip
        {
            return Err(format!(
                "holds {ip} in range set {idx} but {} requests {}",
                req.source, req.ip
            ));
        }
        placed.push((idx, *ip));
    }
    Ok(placed)
}

/// Never a success without one address per range set (of the config the
/// ADD allocated from: with cluster pools, this node's blocks), each inside
/// its set: an address that is not, say an IPv4-mapped one turned into IPv4,
/// would be missing from the result. A failure here is a bug; the attachment
/// keeps what it holds until DEL.
fn ensure_complete(cfg: &IpamConfig, ips: &[IpEntry]) -> Result<(), Error> {
    let complete = ips.len() == cfg.range_sets.len()
        && ips
            .iter()
            .zip(&cfg.range_sets)
            .all(|(e, set)| set.range_for(e.address.ip()).is_some());
    if complete {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "ADD produced {} address(es) for {} range set(s); the attachment keeps them until DEL",
        ips.len(),
        cfg.range_sets.len()
    )))
}

/// Everything after the reservations: cursors, reuse/sticky hints, the index.
/// A failure here undoes the reservations like a failure before.
fn record(
    net: &mut LockedNetwork,
    owner: &OwnerFile,
    picked: &[(usize, IpAddr)],
    cfg: &IpamConfig,
    pod: Option<String>,
    completes: bool,
) -> Result<(), Error> {
    for (set, ip) in picked {
        net.set_cursor(*set, *ip)?;
    }
    let ips: Vec<IpAddr> = picked.iter().map(|(_, ip)| *ip).collect();
    history::forget_released(net, &ips, cfg.reuse_delay_secs)?;
    if let (true, Some(pod)) = (cfg.sticky, &pod) {
        history::remember_sticky(net, pod, &ips)?;
    }
    net.finish(owner, pod, completes)?;
    Ok(())
}

/// Per-ADD context shared by the range sets.
struct Picker<'a> {
    cfg: &'a IpamConfig,
    network: &'a NetworkName,
    /// Released within the reuse delay: tried only when nothing else is free.
    recent: BTreeSet<IpAddr>,
    /// The pod's addresses from last time (sticky), tried first.
    sticky: Vec<IpAddr>,
    /// One directory listing per ADD at most, shared by the range sets.
    listing: Option<BTreeSet<IpAddr>>,
}

fn reserve_all(
    net: &mut LockedNetwork,
    owner: &mut OwnerFile,
    network: &NetworkName,
    cfg: &IpamConfig,
    pod: Option<&str>,
    kept: &[(usize, IpAddr)],
) -> Result<Vec<(usize, IpAddr)>, Error> {
    let mut picker = Picker {
        cfg,
        network,
        recent: history::recently_released(net, cfg.reuse_delay_secs),
        sticky: match pod {
            Some(pod) if cfg.sticky => history::sticky_addresses(net, pod),
            _ => Vec::new(),
        },
        listing: None,
    };
    let mut picked = Vec::with_capacity(cfg.range_sets.len());
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        if kept.iter().any(|(i, _)| *i == idx) {
            continue;
        }
        if let Some(Some(req)) = cfg.requested.get(idx) {
            if !net.try_reserve(owner, req.ip)? {
                let holder = net
                    .owner_of(req.ip)?
                    .map_or_else(|| "another attachment".to_owned(), |(o, _)| o.to_string());
                return Err(Error::AddressInUse {
                    field: req.source.clone(),
                    ip: req.ip,
                    holder,
                });
            }
            picked.push((idx, req.ip));
            continue;
        }
        let ip = picker.pick(net, owner, idx, set)?;
        picked.push((idx, ip));
    }
    Ok(picked)
}

impl Picker<'_> {
    fn pick(
        &mut self,
        net: &mut LockedNetwork,
        owner: &mut OwnerFile,
        idx: usize,
        set: &RangeSet,
    ) -> Result<IpAddr, Error> {
        let skips = skips_for(self.cfg, set.family());
        if let Some(ip) = self
            .sticky
            .iter()
            .copied()
            .find(|ip| set.range_for(*ip).is_some())
            && !skips.contains(to_u128(ip))
            && net.try_reserve(owner, ip)?
        {
            return Ok(ip);
        }
        let cursor = net.cursor(idx);
        let family = set.family();
        let recent: BTreeSet<u128> = self
            .recent
            .iter()
            .filter(|ip| Family::of(**ip) == family)
            .map(|ip| to_u128(*ip))
            .collect();

        // Fast path: a few candidates after the cursor, one link each.
        let mut candidates = Candidates::new(set, cursor, &skips);
        for _ in 0..PROBES {
            let Some(ip) = candidates.next_free(&recent) else {
                break;
            };
            if net.try_reserve(owner, ip)? {
                return Ok(ip);
            }
        }
        // Slow path: one listing tells every taken address.
        let listing = match self.listing.take() {
            Some(l) => l,
            None => net.taken()?,
        };
        let mut taken: BTreeSet<u128> = listing
            .iter()
            .filter(|ip| Family::of(**ip) == family)
            .map(|ip| to_u128(*ip))
            .collect();
        let in_use = listing
            .iter()
            .filter(|ip| set.range_for(**ip).is_some())
            .count() as u128;
        self.listing = Some(listing);
        let mut avoid: BTreeSet<u128> = taken.union(&recent).copied().collect();
        if let Some(ip) = Self::first_reservable(net, owner, &mut candidates, &mut avoid)? {
            return Ok(ip);
        }
        // Only recently released addresses are left: the delay yields.
        if !recent.is_empty() {
            let mut again = Candidates::new(set, cursor, &skips);
            if let Some(ip) = Self::first_reservable(net, owner, &mut again, &mut taken)? {
                return Ok(ip);
            }
        }
        Err(Error::Exhausted {
            network: self.network.to_string(),
            set: idx,
            ranges: set.to_string(),
            in_use,
        })
    }

    fn first_reservable(
        net: &mut LockedNetwork,
        owner: &mut OwnerFile,
        candidates: &mut Candidates<'_>,
        taken: &mut BTreeSet<u128>,
    ) -> Result<Option<IpAddr>, Error> {
        while let Some(ip) = candidates.next_free(taken) {
            if net.try_reserve(owner, ip)? {
                return Ok(Some(ip));
            }
            // Named in a form the listing did not parse to; never try it again.
            taken.insert(to_u128(ip));
        }
        Ok(None)
    }
}
