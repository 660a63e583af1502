//! `podlease history` and `podlease verify`: answers from the address journal
//! (who held an address, when, and why it changed) and a read-only check of
//! a network's state against itself and against the journal.
//!
//! (Not `ops::history`, which keeps the reuse-delay and sticky hints.)
//!
//! Owns: matching a query to journal records, time windows, the verify
//! report. Never: the lock, or any write: both commands read files only, so
//! they work on a read-only mount and never change what they look at.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::admin::{Admin, AdminError};
use crate::ids::NetworkName;
use crate::journal::{self, Tenure, format_time_ms};
use crate::store::disk::consistency::{self, Finding};
use crate::store::disk::recovery;
use crate::store::layout::Layout;
use crate::store::{Owner, StoreOptions};

/// What `history` looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryTarget {
    /// An address.
    Address(IpAddr),
    /// A container id, or a unique prefix of one.
    Container(String),
    /// `namespace/name`.
    Pod(String),
}

impl std::fmt::Display for HistoryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(ip) => write!(f, "address {ip}"),
            Self::Container(id) => write!(f, "container {id}"),
            Self::Pod(p) => write!(f, "pod {p}"),
        }
    }
}

/// Which times a query covers (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// Only holders at this instant.
    pub at: Option<i64>,
    /// Only holders at some time at or after this.
    pub since: Option<i64>,
    /// Only holders at some time at or before this.
    pub until: Option<i64>,
}

impl TimeWindow {
    fn admits(&self, t: &Tenure) -> bool {
        match self.at {
            Some(at) => t.covers(at),
            None => t.overlaps(self.since, self.until),
        }
    }

    /// The earliest instant the query asks about.
    fn earliest(&self) -> Option<i64> {
        self.at.or(self.since)
    }
}

/// One network's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkHistory {
    /// The network.
    pub network: String,
    /// Time of the oldest record still kept.
    pub journal_begins: Option<String>,
    /// Files read (current and rotated).
    pub journal_files: usize,
    /// Matching holders, newest first.
    pub tenures: Vec<Tenure>,
    /// What the journal cannot tell (it does not reach back that far...).
    pub notes: Vec<String>,
}

/// The answer to `podlease history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// The query as given.
    pub query: String,
    /// The container id a prefix resolved to.
    #[serde(rename = "containerId", skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Per network with a journal in scope.
    pub networks: Vec<NetworkHistory>,
}

impl HistoryReport {
    /// Number of matching holders over all networks.
    pub fn count(&self) -> usize {
        self.networks.iter().map(|n| n.tenures.len()).sum()
    }
}

fn scope(admin: &Admin, only: Option<&NetworkName>) -> Result<Vec<NetworkName>, AdminError> {
    match only {
        Some(n) if admin.data_dir.join(n.as_str()).is_dir() => Ok(vec![n.clone()]),
        Some(n) => Err(AdminError::NotFound(format!(
            "network {n} has no state in {}",
            admin.data_dir.display()
        ))),
        None => admin.networks(),
    }
}

fn journal_path(admin: &Admin, network: &NetworkName) -> std::path::PathBuf {
    Layout::new(&admin.data_dir, network).journal()
}

/// The one container id `prefix` names among `ids`: itself, or the only id
/// it begins.
///
/// # Errors
/// [`AdminError::NotFound`] or [`AdminError::Ambiguous`].
pub fn resolve_container<'a>(
    prefix: &str,
    ids: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<String, AdminError> {
    if ids.clone().into_iter().any(|id| id == prefix) {
        return Ok(prefix.to_owned());
    }
    let mut matches: Vec<&str> = ids
        .into_iter()
        .filter(|id| id.starts_with(prefix))
        .collect();
    matches.sort_unstable();
    matches.dedup();
    match matches.as_slice() {
        [] => Err(AdminError::NotFound(format!(
            "no container {prefix} (nor one beginning with it) in the journal"
        ))),
        [one] => Ok((*one).to_owned()),
        many => Err(AdminError::Ambiguous(format!(
            "{prefix} begins {} container ids in the journal ({}{}): give more of it",
            many.len(),
            many.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            if many.len() > 5 { ", ..." } else { "" }
        ))),
    }
}

/// Who held what the target names, when, and why it changed, from the
/// journals of `only` or of every network. Reads files only.
///
/// # Errors
/// [`AdminError::NotFound`] for a network without state or an unknown
/// container; [`AdminError::Ambiguous`] for a container prefix that names
/// several.
pub fn history(
    admin: &Admin,
    target: &HistoryTarget,
    window: &TimeWindow,
    only: Option<&NetworkName>,
) -> Result<HistoryReport, AdminError> {
    let mut read = Vec::new();
    for network in scope(admin, only)? {
        let contents = journal::read(&journal_path(admin, &network));
        read.push((network, contents));
    }
    let container_id = match target {
        HistoryTarget::Container(prefix) => {
            let ids = read
                .iter()
                .filter_map(|(_, c)| c.as_ref().ok())
                .flat_map(|c| c.records.iter())
                .filter_map(|r| r.container_id.as_deref());
            Some(resolve_container(prefix, ids)?)
        }
        _ => None,
    };
    let mut networks = Vec::new();
    for (network, contents) in read {
        let mut notes = Vec::new();
        let contents = match contents {
            Ok(c) => c,
            Err(e) => {
                notes.push(format!("cannot read the journal of network {network}: {e}"));
                journal::Contents::default()
            }
        };
        let begins = contents.start();
        if contents.files.is_empty() {
            notes.push(format!(
                "network {network} has no journal (it is off, or nothing was recorded yet)"
            ));
        }
        let tenures: Vec<Tenure> = journal::tenures(&contents.records)
            .into_iter()
            .filter(|t| match target {
                HistoryTarget::Address(ip) => t.address == *ip,
                HistoryTarget::Container(_) => t.container_id == container_id,
                HistoryTarget::Pod(p) => t.pod.as_deref() == Some(p.as_str()),
            })
            .filter(|t| window.admits(t))
            .collect();
        if let (Some(b), Some(asked)) = (begins, window.earliest())
            && b > asked
        {
            notes.push(format!(
                "the journal of network {network} begins at {}, after {}: it does not reach back that far, so earlier holders are not known",
                format_time_ms(b),
                format_time_ms(asked)
            ));
        }
        networks.push(NetworkHistory {
            network: network.to_string(),
            journal_begins: begins.map(format_time_ms),
            journal_files: contents.files.len(),
            tenures,
            notes,
        });
    }
    Ok(HistoryReport {
        query: target.to_string(),
        container_id,
        networks,
    })
}

// ---------------------------------------------------------------------------
// verify

/// One network's verification.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkVerify {
    /// The network.
    pub network: String,
    /// Address files found.
    pub addresses: usize,
    /// Journal records read.
    pub journal_records: usize,
    /// Problems and notices.
    pub findings: Vec<Finding>,
}

/// The answer to `podlease verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Problems over all networks: verify fails when this is not zero.
    pub problems: usize,
    /// Per network.
    pub networks: Vec<NetworkVerify>,
}

fn opts_for(admin: &Admin, network: &NetworkName) -> StoreOptions {
    let mut opts = admin.opts.clone();
    if let Some(cfg) = admin.configs.get(network) {
        opts.reclaim_on_reboot = cfg.release.reclaim_on_reboot;
        opts.foreign_clock_slack_secs = cfg.release.reclaim_clock_slack_secs;
        opts.journal = cfg.release.journal;
    }
    opts
}

/// Checks `only` or every network: the address files against the index,
/// files nobody owns, entries blocking an address, what recovery would do,
/// and the journal's health and agreement with the address files. Reads
/// files only, without the lock.
///
/// # Errors
/// [`AdminError::NotFound`] for a network without state; a directory that
/// cannot be listed.
pub fn verify(admin: &Admin, only: Option<&NetworkName>) -> Result<VerifyReport, AdminError> {
    let mut networks = Vec::new();
    for network in scope(admin, only)? {
        let opts = opts_for(admin, &network);
        let mut seen = consistency::check(&admin.data_dir, &network)?;
        // What the next operation's recovery releases, by its own rules.
        let reclaim = admin
            .configs
            .get(&network)
            .map(|c| c.release.reclaim_on_reboot);
        if let Some(pending) = recovery::inspect(&admin.data_dir, &network, &opts, reclaim)? {
            for (ip, why) in &pending.pending {
                seen.findings.push(Finding::notice(
                    "recovery",
                    Some(*ip),
                    format!("{ip}: the next operation releases it: {why}"),
                ));
            }
        }
        let records = check_journal(admin, &network, &opts, &mut seen);
        networks.push(NetworkVerify {
            network: network.to_string(),
            addresses: seen.holders.len(),
            journal_records: records,
            findings: seen.findings,
        });
    }
    Ok(VerifyReport {
        problems: networks
            .iter()
            .flat_map(|n| &n.findings)
            .filter(|f| f.problem)
            .count(),
        networks,
    })
}

/// The journal's health, and whether it agrees with the address files.
/// Returns the number of records read.
fn check_journal(
    admin: &Admin,
    network: &NetworkName,
    opts: &StoreOptions,
    seen: &mut consistency::Inspection,
) -> usize {
    let path = journal_path(admin, network);
    let problem = |m: String| Finding::problem("journal", None, m);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => {
            seen.findings.push(problem(format!(
                "{} is not a regular file: nothing can be recorded in the journal",
                path.display()
            )));
            return 0;
        }
        Ok(m) if m.permissions().readonly() => seen.findings.push(problem(format!(
            "{} is read-only: records are dropped unless the process may write anyway (root)",
            path.display()
        ))),
        _ => {}
    }
    let contents = match journal::read(&path) {
        Ok(c) => c,
        Err(e) => {
            seen.findings
                .push(problem(format!("cannot read the journal: {e}")));
            return 0;
        }
    };
    if !opts.journal.enabled {
        if contents.files.is_empty() {
            seen.findings.push(Finding::notice(
                "journal",
                None,
                "the journal is off in this network's config".into(),
            ));
        }
        return contents.records.len();
    }
    for (i, f) in contents.files.iter().enumerate() {
        if let Some(first) = f.bad_lines.first() {
            seen.findings.push(problem(format!(
                "{}: {} line(s) do not parse (the first is line {first}): a record was damaged",
                f.path.display(),
                f.bad_lines.len()
            )));
        }
        if f.torn_end {
            let m = format!(
                "{}: the last line is incomplete (a write cut short by a full disk or a crash, or one in progress)",
                f.path.display()
            );
            // In the current file it may be a write in progress.
            seen.findings.push(if i == 0 {
                Finding::notice("journal", None, m)
            } else {
                problem(m)
            });
        }
    }
    let Some(begins) = contents.start() else {
        return 0;
    };
    // The latest holder of each address the journal still thinks is held.
    let mut held: BTreeMap<IpAddr, Tenure> = BTreeMap::new();
    for t in journal::tenures(&contents.records) {
        if t.to.is_none() && !t.end_unknown {
            held.entry(t.address).or_insert(t);
        }
    }
    let recovery_pending = seen.findings.iter().any(|f| f.check == "recovery");
    for a in &seen.holders {
        let id = match &a.owner {
            Owner::Attachment(who) => who.container_id.as_str(),
            Owner::Legacy(id) => id.as_str(),
            Owner::Empty | Owner::Unknown(_) => continue,
        };
        let since = a.stamp.mtime.saturating_mul(1000) + a.stamp.mtime_nsec / 1_000_000;
        let recorded = held
            .get(&a.ip)
            .is_some_and(|t| t.container_id.as_deref() == Some(id));
        if !recorded && since >= begins && !recovery_pending {
            seen.findings.push(Finding::problem(
                "journal",
                Some(a.ip),
                format!(
                    "{}: held by {} since {}, but the journal has no record of its allocation (a journal write failed: full disk?)",
                    a.ip,
                    a.owner,
                    format_time_ms(since)
                ),
            ));
        }
    }
    if !recovery_pending {
        let files: BTreeMap<IpAddr, &Owner> =
            seen.holders.iter().map(|a| (a.ip, &a.owner)).collect();
        for (ip, t) in &held {
            if !files.contains_key(ip) {
                seen.findings.push(Finding::problem(
                    "journal",
                    Some(*ip),
                    format!(
                        "{ip}: the journal says {} holds it since {}, but it is free: its release was not recorded",
                        t.container_id.as_deref().unwrap_or("(unknown)"),
                        t.from.map_or_else(|| "?".into(), format_time_ms)
                    ),
                ));
            }
        }
    }
    contents.records.len()
}

// ---------------------------------------------------------------------------
// metrics

/// Counts of one network's journal, for `podlease metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalCounts {
    /// The network.
    pub network: String,
    /// Allocation records, by reason (add, external).
    pub allocations: BTreeMap<journal::Reason, u64>,
    /// Release records, by reason.
    pub releases: BTreeMap<journal::Reason, u64>,
    /// Time of the newest automatic release (reclaim, recovery), ms.
    pub last_automatic_release: Option<i64>,
    /// Time of the oldest record kept, ms.
    pub begins: Option<i64>,
}

/// The journal counts of every network with state (read-only). A journal
/// that cannot be read counts as empty.
///
/// # Errors
/// [`AdminError::Io`] when the data directory cannot be listed.
pub fn journal_counts(admin: &Admin) -> Result<Vec<JournalCounts>, AdminError> {
    let mut out = Vec::new();
    for network in admin.networks()? {
        let contents = journal::read(&journal_path(admin, &network)).unwrap_or_default();
        let mut c = JournalCounts {
            network: network.to_string(),
            begins: contents.start(),
            ..JournalCounts::default()
        };
        for r in &contents.records {
            let map = match r.event {
                journal::Event::Allocate => &mut c.allocations,
                journal::Event::Release => &mut c.releases,
            };
            *map.entry(r.reason).or_default() += 1;
            if r.event == journal::Event::Release && r.reason.is_automatic() {
                c.last_automatic_release = c.last_automatic_release.max(Some(r.time));
            }
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_prefixes() {
        let ids = ["3f2a9c01", "3f2b0000", "abc", "abcdef"];
        let r = |p: &str| resolve_container(p, ids.iter().copied());
        assert_eq!(r("3f2a").unwrap(), "3f2a9c01");
        assert_eq!(r("3f2a9c01").unwrap(), "3f2a9c01");
        // An exact id wins over the longer ids it begins.
        assert_eq!(r("abc").unwrap(), "abcdef".get(..3).unwrap());
        assert!(
            matches!(r("3f2"), Err(AdminError::Ambiguous(m)) if m.contains("3f2a9c01, 3f2b0000"))
        );
        assert!(matches!(r("zz"), Err(AdminError::NotFound(_))));
    }
}
