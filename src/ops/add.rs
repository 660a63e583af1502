//! ADD: one address from each range set, all or nothing, under one lock.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{IpEntry, IpamResult, history};
use crate::alloc::{Addresses, PickError, Picker, entries_for, is_complete, place_held, skips_for};
use crate::config::resolv::Dns;
use crate::config::{IpamConfig, Requested};
use crate::error::Error;
use crate::ids::{Attachment, NetworkName};
use crate::range::RangeSet;
use crate::store::{LockedNetwork, OwnerFile, StoreError, StoreOptions};

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
    let kept = place_held(&cfg.range_sets, &cfg.requested, &held).map_err(mismatch)?;
    if !held.is_empty() && kept.len() == cfg.range_sets.len() {
        let ips = entries_for(&cfg.range_sets, &kept);
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
            let ips = entries_for(&cfg.range_sets, &all);
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

/// Never a success without one address per range set (of the config the
/// ADD allocated from: with cluster pools, this node's blocks), each inside
/// its set: an address that is not, say an IPv4-mapped one turned into IPv4,
/// would be missing from the result. A failure here is a bug; the attachment
/// keeps what it holds until DEL.
fn ensure_complete(cfg: &IpamConfig, ips: &[IpEntry]) -> Result<(), Error> {
    if is_complete(&cfg.range_sets, ips) {
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

/// One address in every range set not `kept`: the requested one
/// where one is requested, the picker's choice elsewhere.
fn reserve_all(
    net: &mut LockedNetwork,
    owner: &mut OwnerFile,
    network: &NetworkName,
    cfg: &IpamConfig,
    pod: Option<&str>,
    kept: &[(usize, IpAddr)],
) -> Result<Vec<(usize, IpAddr)>, Error> {
    let sticky = match pod {
        Some(pod) if cfg.sticky => history::sticky_addresses(net, pod),
        _ => Vec::new(),
    };
    let mut picker = Picker::new(
        history::recently_released(net, cfg.reuse_delay_secs),
        sticky,
    );
    let mut state = Reserving { net, owner };
    let mut picked = Vec::with_capacity(cfg.range_sets.len());
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        if kept.iter().any(|(i, _)| *i == idx) {
            continue;
        }
        let ip = match cfg.requested.get(idx) {
            Some(Some(requested)) => reserve_requested(&mut state, requested)?,
            _ => pick(&mut state, &mut picker, network, cfg, idx, set)?,
        };
        picked.push((idx, ip));
    }
    Ok(picked)
}

/// The requested address, or who holds it.
fn reserve_requested(state: &mut Reserving<'_>, req: &Requested) -> Result<IpAddr, Error> {
    if state.try_take(req.ip)? {
        return Ok(req.ip);
    }
    let holder = state
        .net
        .owner_of(req.ip)?
        .map_or_else(|| "another attachment".to_owned(), |(o, _)| o.to_string());
    Err(Error::AddressInUse {
        field: req.source.clone(),
        ip: req.ip,
        holder,
    })
}

/// The picker's view of the state: taking an address links it to this
/// ADD's owner file.
struct Reserving<'a> {
    net: &'a mut LockedNetwork,
    owner: &'a mut OwnerFile,
}

impl Addresses for Reserving<'_> {
    type Error = StoreError;

    fn try_take(&mut self, ip: IpAddr) -> Result<bool, StoreError> {
        self.net.try_reserve(self.owner, ip)
    }

    fn taken(&mut self) -> Result<BTreeSet<IpAddr>, StoreError> {
        self.net.taken()
    }
}

/// One address of range set `idx` (`set`), after its cursor.
fn pick(
    state: &mut Reserving<'_>,
    picker: &mut Picker,
    network: &NetworkName,
    cfg: &IpamConfig,
    idx: usize,
    set: &RangeSet,
) -> Result<IpAddr, Error> {
    let skips = skips_for(cfg, set.family());
    let cursor = state.net.cursor(idx);
    picker
        .pick(state, set, cursor, &skips)
        .map_err(|e| match e {
            PickError::Store(e) => Error::from(e),
            PickError::Exhausted { in_use } => Error::Exhausted {
                network: network.to_string(),
                set: idx,
                ranges: set.to_string(),
                in_use,
            },
        })
}
