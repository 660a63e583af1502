//! A read-only look at a network's state, taken without the lock, for
//! `podlease verify`: the address files against the index, files nobody owns,
//! entries that block an address, and whether the next operation's recovery
//! rebuilds the index (what it releases is `recovery::inspect`'s). Nothing here creates, changes or removes a file, so it
//! works on a read-only mount and never races a writer into a wrong state
//! (a concurrent operation can only make a finding stale).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{StoreError, io_err};
use super::files::read_optional;
use super::index::{self, Index, key_of};
use super::layout::{Layout, parse_ip_name};
use super::marker::{DirStamp, Marker};
use super::owner::{Allocation, FileStamp, Owner, read_address_file};
use crate::ids::NetworkName;

/// One thing `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A problem (verify fails), or a notice of what recovery will do.
    pub problem: bool,
    /// Which check: `blocked`, `unreadable`, `unowned`, `index`, `recovery`,
    /// `reclaim`, `journal`.
    pub check: &'static str,
    /// The address concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// One line saying what and what to do.
    pub message: String,
}

impl Finding {
    /// A problem.
    pub fn problem(check: &'static str, address: Option<IpAddr>, message: String) -> Self {
        Self {
            problem: true,
            check,
            address,
            message,
        }
    }

    /// A notice.
    pub fn notice(check: &'static str, address: Option<IpAddr>, message: String) -> Self {
        Self {
            problem: false,
            check,
            address,
            message,
        }
    }
}

/// What [`check`] saw.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// Every readable regular address file with its owner (pods from the index).
    pub holders: Vec<Allocation>,
    /// Problems and notices, in the order found.
    pub findings: Vec<Finding>,
}

/// Looks at `network` under `data_dir` without the lock and without writing.
/// (What recovery would release is `recovery::inspect`'s.)
///
/// # Errors
/// [`StoreError`] when the network's directory cannot be listed.
pub fn check(data_dir: &Path, network: &NetworkName) -> Result<Inspection, StoreError> {
    let layout = Layout::new(data_dir, network);
    let mut out = Inspection::default();
    for (ip, path) in address_names(&layout.dir)? {
        if let Some(holder) = examine(ip, &path, &mut out.findings) {
            out.holders.push(holder);
        }
    }
    let snapshot = Index::new(layout.index_dir()).snapshot()?;
    let whole = snapshot.whole();
    let entries: BTreeMap<String, index::IndexEntry> = snapshot
        .entries()
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    add_pods(&entries, &mut out.holders);
    match recovery_notice(&layout)? {
        Some(notice) => out.findings.push(notice),
        None => {
            if !whole {
                out.findings.push(Finding::notice(
                    "index",
                    None,
                    "an index bucket does not parse: the next operation that reads it rebuilds the index".into(),
                ));
            }
            compare_index(&entries, &out.holders, &mut out.findings);
        }
    }
    Ok(out)
}

/// Every entry of `dir` named like an address, sorted.
fn address_names(dir: &Path) -> Result<Vec<(IpAddr, PathBuf)>, StoreError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) {
            names.push((ip, entry.path()));
        }
    }
    names.sort();
    Ok(names)
}

/// Looks at one address entry: its holder, when it is a readable regular
/// file; a finding for whatever blocks the address or names nobody.
fn examine(ip: IpAddr, path: &Path, findings: &mut Vec<Finding>) -> Option<Allocation> {
    let what = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => None,
        Ok(m) if m.file_type().is_symlink() => Some("a symbolic link"),
        Ok(m) if m.is_dir() => Some("a directory"),
        Ok(_) => Some("a special file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(_) => Some("an entry that cannot be examined"),
    };
    if let Some(what) = what {
        findings.push(Finding::problem(
            "blocked",
            Some(ip),
            format!(
                "{} is {what}, not a reservation: {ip} counts as taken and is never handed out; remove it by hand if nothing uses {ip}",
                path.display()
            ),
        ));
        return None;
    }
    let (owner, meta) = match read_address_file(path) {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(e) => {
            findings.push(Finding::problem(
                "unreadable",
                Some(ip),
                format!("{e}: {ip} counts as taken until the file can be read"),
            ));
            return None;
        }
    };
    let says = match &owner {
        Owner::Empty => Some("is empty (a write that never finished)".to_owned()),
        Owner::Unknown(s) => Some(format!("says {s:?}, which names no container")),
        Owner::Attachment(_) | Owner::Legacy(_) => None,
    };
    if let Some(says) = says {
        findings.push(Finding::problem(
            "unowned",
            Some(ip),
            format!(
                "{ip}: nobody owns it: its file {says}; it stays taken: `podlease release {ip}` if nothing uses it"
            ),
        ));
    }
    Some(Allocation {
        ip,
        owner,
        stamp: FileStamp::of(&meta),
        pod: None,
    })
}

/// Gives each holder that names an attachment the pod its index entry records.
fn add_pods(entries: &BTreeMap<String, index::IndexEntry>, holders: &mut [Allocation]) {
    let pods = index::pods_by_address(entries.values());
    for h in holders {
        if key_of(&h.owner).is_some() {
            h.pod = pods.get(&h.ip).map(|(pod, _)| pod.clone());
        }
    }
}

/// What the next operation's recovery does to the index, when the `clean`
/// marker does not vouch for it; `None` when it does (the index can then be
/// compared with the address files).
fn recovery_notice(layout: &Layout) -> Result<Option<Finding>, StoreError> {
    let marker = read_optional(&layout.clean_marker(), 4096)?;
    let vouched = marker
        .as_deref()
        .and_then(Marker::parse)
        .is_some_and(|m| fs::metadata(&layout.dir).is_ok_and(|d| m.stamp == DirStamp::of(&d).text));
    let finished = marker.as_deref().is_some_and(|t| t.starts_with("dir "));
    let message = if !layout.meta.is_dir() {
        "podlease has not worked on this network yet (host-local's state?): its first operation builds the index from the address files"
    } else if !finished {
        "the last operation did not finish (killed, or running now): the next one checks for a killed ADD and rebuilds the index"
    } else if !vouched {
        "the directory changed since podlease's last operation (host-local, or a change by hand): the next operation rebuilds the index from the address files"
    } else {
        return Ok(None);
    };
    Ok(Some(Finding::notice("recovery", None, message.into())))
}

/// Index entries against the address files, when the `clean` marker says
/// they agree: every indexed address has a file naming the entry's holder,
/// and every owned file is indexed.
fn compare_index(
    entries: &BTreeMap<String, index::IndexEntry>,
    holders: &[Allocation],
    findings: &mut Vec<Finding>,
) {
    let by_ip: BTreeMap<IpAddr, &Allocation> = holders.iter().map(|a| (a.ip, a)).collect();
    let mut indexed: BTreeSet<IpAddr> = BTreeSet::new();
    for (key, e) in entries {
        for (ip, _) in &e.ips {
            indexed.insert(*ip);
            match by_ip.get(ip) {
                None => findings.push(Finding::problem(
                    "index",
                    Some(*ip),
                    format!(
                        "{ip}: the index says {key} holds it, but it has no address file; the next rebuild drops the entry"
                    ),
                )),
                Some(a) if key_of(&a.owner).as_deref() != Some(key.as_str()) => {
                    findings.push(Finding::problem(
                        "index",
                        Some(*ip),
                        format!(
                            "{ip}: the index says {key} holds it, but its file names {} (changed in place?); the address file is the truth, the next rebuild follows it",
                            a.owner
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for a in holders {
        if key_of(&a.owner).is_some() && !indexed.contains(&a.ip) {
            findings.push(Finding::problem(
                "index",
                Some(a.ip),
                format!(
                    "{}: held by {} but missing from the index; DEL of its holder rebuilds the index and finds it",
                    a.ip, a.owner
                ),
            ));
        }
    }
}
