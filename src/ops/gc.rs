//! GC (CNI 1.1): release every allocation of the network whose attachment is
//! not in the runtime's list of valid attachments. Also the operator's
//! `podlease gc --keep` for runtimes without CNI GC.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::ReleaseConfig;
use crate::error::Error;
use crate::ids::NetworkName;
use crate::store::{LockedNetwork, Owner, StoreOptions};

/// An attachment as the runtime names it in `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidAttachment {
    /// `containerID`.
    pub container_id: String,
    /// `ifname`.
    pub ifname: String,
}

/// Releases everything not kept. Returns the released addresses. Keeps going
/// past individual failures and reports them all.
///
/// Also drops sticky records of pods that no longer hold an address and were
/// last written more than a week ago.
///
/// Kept: files whose attachment is listed; legacy id-only files whose
/// container has any listed attachment. Released: every other allocation,
/// including empty files (a write that never finished) and files whose
/// content names no attachment at all.
///
/// # Errors
/// [`Error::Several`] with every failure; I/O errors opening the store.
pub fn gc(
    network: &NetworkName,
    keep: &[ValidAttachment],
    cfg: &ReleaseConfig,
    opts: &StoreOptions,
) -> Result<Vec<IpAddr>, Error> {
    let keep_pairs: BTreeSet<(&str, &str)> = keep
        .iter()
        .map(|a| (a.container_id.as_str(), a.ifname.as_str()))
        .collect();
    let keep_ids: BTreeSet<&str> = keep.iter().map(|a| a.container_id.as_str()).collect();
    let Some(mut net) = LockedNetwork::open_existing(&cfg.data_dir, network, opts)? else {
        return Ok(Vec::new());
    };
    let mut released = Vec::new();
    let mut failures = Vec::new();
    let mut live_pods = BTreeSet::new();
    for a in net.list()? {
        let kept = match &a.owner {
            Owner::Attachment(who) => {
                keep_pairs.contains(&(who.container_id.as_str(), who.ifname.as_str()))
            }
            Owner::Legacy(id) => keep_ids.contains(id.as_str()),
            Owner::Empty | Owner::Unknown(_) => false,
        };
        if kept {
            live_pods.extend(a.pod);
            continue;
        }
        match net.release_ip(a.ip, crate::journal::Reason::Gc) {
            Ok(_) => released.push(a.ip),
            Err(e) => failures.push(Error::from(e)),
        }
    }
    if let Err(e) = super::history::prune_sticky(&mut net, &live_pods) {
        failures.push(Error::from(e));
    }
    net.commit()?;
    if failures.is_empty() {
        Ok(released)
    } else {
        Err(Error::Several(failures))
    }
}
