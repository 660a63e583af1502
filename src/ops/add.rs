//! ADD: one address from each range set, all or nothing, under one lock:
//! lock → recover → what the attachment holds already → allocate the rest →
//! record → commit; a failure undoes this ADD's reservations.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::error::Error;
use super::{IpamResult, preferences};
use crate::alloc::{Addresses, PickError, Picker, entries_for, is_complete, place_held, skips_for};
use crate::config::resolv::Dns;
use crate::config::{IpamConfig, Requested};
use crate::ids::{Attachment, NetworkName};
use crate::range::RangeSet;
use crate::store::{LockedNetwork, OwnerFile, StoreError, StoreOptions};

/// Addresses placed in their range sets: (range set index, address).
type Placed = Vec<(usize, IpAddr)>;

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

/// Who is allocating, and what it keeps from an earlier ADD.
struct Request<'a> {
    network: &'a NetworkName,
    who: &'a Attachment,
    pod: Option<String>,
    /// Held already, by range set: these sets are not allocated again.
    kept: Placed,
}

fn add_once(
    network: &NetworkName,
    who: &Attachment,
    cfg_in: &IpamConfig,
    pod: Option<String>,
    opts: &StoreOptions,
) -> Result<IpamResult, Error> {
    // Everything that can fail without state is done before the lock.
    let dns = read_dns(cfg_in)?;
    let mut net = LockedNetwork::open(&cfg_in.data_dir, network, opts)?;
    net.recover()?;
    // Cluster pools: this node's blocks are the range sets (see crate::pool).
    let mut pooled = crate::pool::for_add(cfg_in, network, &mut net)?;
    let cfg = pooled.as_ref().unwrap_or(cfg_in);

    let kept = already_held(&mut net, who, cfg)?;
    if !kept.is_empty() && kept.len() == cfg.range_sets.len() {
        net.commit()?;
        return result(cfg, &kept, dns);
    }
    if kept.is_empty() {
        refuse_legacy(&mut net, who)?;
    }
    let req = Request {
        network,
        who,
        pod,
        kept,
    };
    let (owner, outcome) = match reserve_growing(&mut net, &req, cfg_in, &mut pooled)? {
        Reserved::Tried(owner, outcome) => (owner, outcome),
        Reserved::PoolFailed(e) => {
            net.commit()?;
            return Err(e);
        }
    };
    let cfg = pooled.as_ref().unwrap_or(cfg_in);
    let outcome = outcome
        .and_then(|picked| record(&mut net, &owner, &picked, cfg, &req).map(|()| picked))
        .and_then(|picked| net.mark_clean().map(|()| picked).map_err(Error::from));
    match outcome {
        Ok(picked) => {
            let ips: Vec<IpAddr> = picked.iter().map(|(_, ip)| *ip).collect();
            net.journal_allocated(who, &ips, req.pod.as_deref());
            let mut all = picked;
            all.extend(req.kept.iter().copied());
            all.sort_by_key(|(set, _)| *set);
            result(cfg, &all, dns)
        }
        Err(cause) => Err(undo(net, owner, cause)),
    }
}

/// The DNS settings of the result, from `resolvConf`.
fn read_dns(cfg: &IpamConfig) -> Result<Dns, Error> {
    match &cfg.resolv_conf {
        Some(path) => Dns::read(path).map_err(|source| Error::ResolvConf {
            path: path.clone(),
            source,
        }),
        None => Ok(Dns::default()),
    }
}

/// What this attachment already holds, by range set. A retried ADD that
/// holds an address in every range set gets them back; one that holds some
/// (a range set was added to the config since its first ADD, or a DEL was
/// killed half-way) keeps them and gets the missing ones.
fn already_held(
    net: &mut LockedNetwork,
    who: &Attachment,
    cfg: &IpamConfig,
) -> Result<Placed, Error> {
    let held = net.find_exact(who)?;
    place_held(&cfg.range_sets, &cfg.requested, &held).map_err(|why| Error::RepeatedAddDiffers {
        container_id: who.container_id.to_string(),
        ifname: who.ifname.to_string(),
        why,
    })
}

/// An id-only file (host-local before 2018) holds its address for every
/// interface of the container: giving it to this one could give it to two.
fn refuse_legacy(net: &mut LockedNetwork, who: &Attachment) -> Result<(), Error> {
    match net.find_legacy(&who.container_id)?.first() {
        Some(ip) => Err(Error::LegacyReservation {
            container_id: who.container_id.to_string(),
            ip: *ip,
        }),
        None => Ok(()),
    }
}

/// How reserving ended.
enum Reserved {
    /// The owner file and the outcome to record or undo.
    Tried(OwnerFile, Result<Placed, Error>),
    /// A cluster pool could not grow; nothing is reserved.
    PoolFailed(Error),
}

/// Reserves an address in every range set not kept. A cluster pool whose
/// held blocks are full grows by a block (into `pooled`), then this tries
/// again. `Err` only when the owner file could not be prepared or given up.
fn reserve_growing(
    net: &mut LockedNetwork,
    req: &Request<'_>,
    cfg_in: &IpamConfig,
    pooled: &mut Option<IpamConfig>,
) -> Result<Reserved, Error> {
    let max_growth = pooled
        .as_ref()
        .map_or(0, |c| crate::pool::MAX_GROWTH_PER_POOL * c.range_sets.len());
    let mut owner = net.prepare_owner(req.who)?;
    let mut outcome = reserve_all(net, &mut owner, req, pooled.as_ref().unwrap_or(cfg_in));
    let mut growth = 0;
    while let (Some(p), Err(Error::Exhausted { set, .. })) = (pooled.as_ref(), &outcome) {
        if growth >= max_growth {
            break;
        }
        growth += 1;
        let set = *set;
        net.abandon(owner)?;
        match crate::pool::grow_pool(p, set, req.network, net) {
            Ok(c) => *pooled = Some(c),
            Err(e) => return Ok(Reserved::PoolFailed(e.into())),
        }
        owner = net.prepare_owner(req.who)?;
        outcome = reserve_all(net, &mut owner, req, pooled.as_ref().unwrap_or(cfg_in));
    }
    Ok(Reserved::Tried(owner, outcome))
}

/// One address in every range set `req` does not keep: the requested one
/// where one is requested, the picker's choice elsewhere.
fn reserve_all(
    net: &mut LockedNetwork,
    owner: &mut OwnerFile,
    req: &Request<'_>,
    cfg: &IpamConfig,
) -> Result<Placed, Error> {
    let sticky = match &req.pod {
        Some(pod) if cfg.sticky => preferences::sticky_addresses(net, pod),
        _ => Vec::new(),
    };
    let mut picker = Picker::new(
        preferences::recently_released(net, cfg.reuse_delay_secs),
        sticky,
    );
    let mut state = Reserving { net, owner };
    let mut picked = Vec::with_capacity(cfg.range_sets.len());
    for (idx, set) in cfg.range_sets.iter().enumerate() {
        if req.kept.iter().any(|(i, _)| *i == idx) {
            continue;
        }
        let ip = match cfg.requested.get(idx) {
            Some(Some(requested)) => reserve_requested(&mut state, requested)?,
            _ => pick(&mut state, &mut picker, req.network, cfg, idx, set)?,
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

/// Everything after the reservations: cursors, reuse/sticky hints, the index.
/// A failure here undoes the reservations like a failure before.
fn record(
    net: &mut LockedNetwork,
    owner: &OwnerFile,
    picked: &[(usize, IpAddr)],
    cfg: &IpamConfig,
    req: &Request<'_>,
) -> Result<(), Error> {
    for (set, ip) in picked {
        net.set_cursor(*set, *ip)?;
    }
    let ips: Vec<IpAddr> = picked.iter().map(|(_, ip)| *ip).collect();
    preferences::forget_released(net, &ips, cfg.reuse_delay_secs)?;
    if let (true, Some(pod)) = (cfg.sticky, &req.pod) {
        preferences::remember_sticky(net, pod, &ips)?;
    }
    net.finish(owner, req.pod.clone(), !req.kept.is_empty())?;
    Ok(())
}

/// Gives up this ADD's reservations after `cause`, and commits.
fn undo(mut net: LockedNetwork, owner: OwnerFile, cause: Error) -> Error {
    if let Err(rollback) = net.abandon(owner) {
        return Error::RolledBack {
            cause: Box::new(cause),
            rollback,
        };
    }
    // If even this commit fails, the `clean` marker stays absent and the
    // next operation rebuilds the index; the cause is the news.
    match net.commit() {
        Ok(()) => cause,
        Err(rollback) => Error::RolledBack {
            cause: Box::new(cause),
            rollback,
        },
    }
}

/// The result of the addresses `placed` in their range sets. Never a success
/// without one address per range set (of the config the ADD allocated from:
/// with cluster pools, this node's blocks), each inside its set. A failure
/// here is a bug; the attachment keeps what it holds until DEL.
fn result(cfg: &IpamConfig, placed: &[(usize, IpAddr)], dns: Dns) -> Result<IpamResult, Error> {
    let ips = entries_for(&cfg.range_sets, placed);
    if !is_complete(&cfg.range_sets, &ips) {
        return Err(Error::Internal(format!(
            "ADD produced {} address(es) for {} range set(s); the attachment keeps them until DEL",
            ips.len(),
            cfg.range_sets.len()
        )));
    }
    Ok(IpamResult {
        ips,
        routes: cfg.routes.clone(),
        dns,
    })
}
