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
use std::path::Path;

use serde::Serialize;

use super::{
    Allocation, DirStamp, FileStamp, MARKER_FORMAT, Owner, StoreError, io_err, parse_ip_name,
    read_address_file, read_optional,
};
use crate::ids::NetworkName;
use crate::store::index::{self, Index};
use crate::store::layout::Layout;

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

fn key_of(owner: &Owner) -> Option<String> {
    match owner {
        Owner::Attachment(who) => Some(index::key(who)),
        Owner::Legacy(id) => Some(index::legacy_key(id)),
        Owner::Empty | Owner::Unknown(_) => None,
    }
}

/// Looks at `network` under `data_dir` without the lock and without writing.
/// (What recovery would release is `recovery::inspect`'s.)
///
/// # Errors
/// [`StoreError`] when the network's directory cannot be listed.
pub fn check(data_dir: &Path, network: &NetworkName) -> Result<Inspection, StoreError> {
    let layout = Layout::new(data_dir, network);
    let mut out = Inspection::default();
    let dir = &layout.dir;
    let mut names: Vec<(IpAddr, std::path::PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        if let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) {
            names.push((ip, entry.path()));
        }
    }
    names.sort();
    for (ip, path) in names {
        let what = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => None,
            Ok(m) if m.file_type().is_symlink() => Some("a symbolic link"),
            Ok(m) if m.is_dir() => Some("a directory"),
            Ok(_) => Some("a special file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => Some("an entry that cannot be examined"),
        };
        if let Some(what) = what {
            out.findings.push(Finding::problem(
                "blocked",
                Some(ip),
                format!(
                    "{} is {what}, not a reservation: {ip} counts as taken and is never handed out; remove it by hand if nothing uses {ip}",
                    path.display()
                ),
            ));
            continue;
        }
        let (owner, meta) = match read_address_file(&path) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e) => {
                out.findings.push(Finding::problem(
                    "unreadable",
                    Some(ip),
                    format!("{e}: {ip} counts as taken until the file can be read"),
                ));
                continue;
            }
        };
        match &owner {
            Owner::Empty => out.findings.push(Finding::problem(
                "unowned",
                Some(ip),
                format!(
                    "{ip}: nobody owns it: its file is empty (a write that never finished); it stays taken: `podlease release {ip}` if nothing uses it"
                ),
            )),
            Owner::Unknown(s) => out.findings.push(Finding::problem(
                "unowned",
                Some(ip),
                format!(
                    "{ip}: nobody owns it: its file says {s:?}, which names no container; it stays taken: `podlease release {ip}` if nothing uses it"
                ),
            )),
            Owner::Attachment(_) | Owner::Legacy(_) => {}
        }
        let stamp = FileStamp::of(&meta);
        out.holders.push(Allocation {
            ip,
            owner,
            stamp,
            pod: None,
        });
    }

    let snapshot = Index::new(layout.index_dir()).snapshot()?;
    let whole = snapshot.whole();
    let entries: BTreeMap<String, index::IndexEntry> = snapshot
        .entries()
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    let pods: BTreeMap<IpAddr, String> = entries
        .values()
        .filter_map(|e| e.pod.as_ref().map(|p| (e, p)))
        .flat_map(|(e, p)| e.ips.iter().map(move |(ip, _)| (*ip, p.clone())))
        .collect();
    for h in &mut out.holders {
        if key_of(&h.owner).is_some() {
            h.pod = pods.get(&h.ip).cloned();
        }
    }

    let marker = read_optional(&layout.clean_marker(), 4096)?;
    let vouched = marker.as_deref().is_some_and(|t| {
        t.starts_with("dir ")
            && t.lines().any(|l| l == MARKER_FORMAT)
            && fs::metadata(dir).is_ok_and(|m| {
                t.lines().next().map(str::trim) == Some(DirStamp::of(&m).text.as_str())
            })
    });
    let finished = marker.as_deref().is_some_and(|t| t.starts_with("dir "));
    if !layout.meta.is_dir() {
        out.findings.push(Finding::notice(
            "recovery",
            None,
            "podlease has not worked on this network yet (host-local's state?): its first operation builds the index from the address files".into(),
        ));
    } else if !finished {
        out.findings.push(Finding::notice(
            "recovery",
            None,
            "the last operation did not finish (killed, or running now): the next one checks for a killed ADD and rebuilds the index".into(),
        ));
    } else if !vouched {
        out.findings.push(Finding::notice(
            "recovery",
            None,
            "the directory changed since podlease's last operation (host-local, or a change by hand): the next operation rebuilds the index from the address files".into(),
        ));
    } else {
        if !whole {
            out.findings.push(Finding::notice(
                "index",
                None,
                "an index bucket does not parse: the next operation that reads it rebuilds the index".into(),
            ));
        }
        compare_index(&entries, &out.holders, &mut out.findings);
    }
    Ok(out)
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
