//! GC (CNI 1.1): release every allocation of the network whose attachment is
//! not in the runtime's list of valid attachments. Also the operator's
//! `podlease gc --keep` for runtimes without CNI GC, which adds a minimum
//! age: its keep list was taken before the lock, so what was allocated since
//! (younger than the minimum age) is kept.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::Error;
use crate::config::ReleaseConfig;
use crate::ids::NetworkName;
use crate::store::{Allocation, LockedNetwork, Owner, StoreOptions};

/// An attachment as the runtime names it in `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidAttachment {
    /// `containerID`.
    pub container_id: String,
    /// `ifname`.
    pub ifname: String,
}

/// Which allocations a GC keeps.
///
/// Kept: files whose attachment is listed; legacy id-only files whose
/// container has any listed attachment; with a minimum age, every file
/// written less than that long ago (or in the future: the clock went back).
/// Released: every other allocation, including files that name no
/// attachment (empty, unrecognised): GC is a request to release them.
#[derive(Debug, Clone)]
pub struct KeepRule {
    pairs: BTreeSet<(String, String)>,
    ids: BTreeSet<String>,
    /// Files with an mtime after this (seconds since the epoch) are kept.
    newer_than: Option<i64>,
}

impl KeepRule {
    /// The rule for `keep`, keeping also what was written less than
    /// `min_age` before now.
    pub fn new(keep: &[ValidAttachment], min_age: Option<Duration>) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self {
            pairs: keep
                .iter()
                .map(|a| (a.container_id.clone(), a.ifname.clone()))
                .collect(),
            ids: keep.iter().map(|a| a.container_id.clone()).collect(),
            newer_than: min_age
                .map(|age| now.saturating_sub(i64::try_from(age.as_secs()).unwrap_or(i64::MAX))),
        }
    }

    /// Whether GC keeps `a`.
    pub fn keeps(&self, a: &Allocation) -> bool {
        if self.newer_than.is_some_and(|t| a.stamp.mtime > t) {
            return true;
        }
        match &a.owner {
            Owner::Attachment(who) => self
                .pairs
                .contains(&(who.container_id.to_string(), who.ifname.to_string())),
            Owner::Legacy(id) => self.ids.contains(id.as_str()),
            Owner::Empty | Owner::Unknown(_) => false,
        }
    }
}

/// Splits `all` into what `rule` keeps and what GC releases, each in the
/// order given: the one decision shared by CNI GC ([`collect`]) and the
/// operator's `podlease gc`, dry run included.
pub fn partition(rule: &KeepRule, all: Vec<Allocation>) -> (Vec<Allocation>, Vec<Allocation>) {
    all.into_iter().partition(|a| rule.keeps(a))
}

/// What one GC did under the lock.
#[derive(Debug, Default)]
pub struct Collected {
    /// Released, as they were just before.
    pub released: Vec<Allocation>,
    /// How many were kept.
    pub kept: usize,
    /// Failures, each leaving its address allocated.
    pub failures: Vec<Error>,
}

/// GC of one network whose lock is held and whose recovery ran: list and
/// release under the same lock, so nothing allocated in between can be
/// released. Also drops sticky records of pods that no longer hold an
/// address and were last written more than a week ago.
pub fn collect(net: &mut LockedNetwork, rule: &KeepRule) -> Result<Collected, Error> {
    let mut out = Collected::default();
    let (kept, doomed) = partition(rule, net.list()?);
    out.kept = kept.len();
    let live_pods: BTreeSet<String> = kept.into_iter().filter_map(|a| a.pod).collect();
    for a in doomed {
        match net.release_ip(a.ip, crate::journal::Reason::Gc) {
            Ok(_) => out.released.push(a),
            Err(e) => out.failures.push(Error::from(e)),
        }
    }
    if let Err(e) = super::preferences::prune_sticky(net, &live_pods) {
        out.failures.push(Error::from(e));
    }
    Ok(out)
}

/// Releases everything not kept (CNI GC). Returns the released addresses.
/// Keeps going past individual failures and reports them all.
///
/// # Errors
/// [`Error::Several`] with every failure; I/O errors opening the store.
pub fn gc(
    network: &NetworkName,
    keep: &[ValidAttachment],
    cfg: &ReleaseConfig,
    opts: &StoreOptions,
) -> Result<Vec<IpAddr>, Error> {
    super::retry_if_hints_vanished(|| gc_once(network, keep, cfg, opts))
}

fn gc_once(
    network: &NetworkName,
    keep: &[ValidAttachment],
    cfg: &ReleaseConfig,
    opts: &StoreOptions,
) -> Result<Vec<IpAddr>, Error> {
    let Some(mut net) = LockedNetwork::open_existing(&cfg.data_dir, network, opts)? else {
        return Ok(Vec::new());
    };
    net.recover()?;
    let done = collect(&mut net, &KeepRule::new(keep, None))?;
    net.commit()?;
    if done.failures.is_empty() {
        Ok(done.released.into_iter().map(|a| a.ip).collect())
    } else {
        Err(Error::Several(done.failures))
    }
}
