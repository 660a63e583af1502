//! `podlease verify`: a read-only check of a network's state against
//! itself (through the store's consistency check and recovery inspection)
//! and against the journal.
//!
//! Never: the lock, or any write: it reads files only, so it works on a
//! read-only mount and never changes what it looks at.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use super::{Admin, AdminError};
use crate::ids::NetworkName;
use crate::journal::{self, Tenure, format_time_ms};
use crate::store::consistency::{self, Finding};
use crate::store::recovery;
use crate::store::view::{self, JournalFile};
use crate::store::{Allocation, Owner, StoreOptions};

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
    for network in admin.state_scope(only)? {
        let opts = admin.opts_for(&network);
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
    let (path, file) = view::journal_file(&admin.data_dir, network);
    match file {
        JournalFile::NotRegular => {
            seen.findings.push(problem(format!(
                "{} is not a regular file: nothing can be recorded in the journal",
                path.display()
            )));
            return 0;
        }
        JournalFile::ReadOnly => seen.findings.push(problem(format!(
            "{} is read-only: records are dropped unless the process may write anyway (root)",
            path.display()
        ))),
        JournalFile::Missing | JournalFile::Writable => {}
    }
    let contents = match view::read_journal(&admin.data_dir, network) {
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
    seen.findings.extend(damage(&contents));
    let Some(begins) = contents.start() else {
        return 0;
    };
    // Until recovery ran, the files and the journal legitimately disagree.
    if !seen.findings.iter().any(|f| f.check == "recovery") {
        let found = disagreements(&contents.records, begins, &seen.holders);
        seen.findings.extend(found);
    }
    contents.records.len()
}

/// A problem of the journal as a whole.
fn problem(message: String) -> Finding {
    Finding::problem("journal", None, message)
}

/// Damaged records and torn ends in the journal's files.
fn damage(contents: &journal::Contents) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, f) in contents.files.iter().enumerate() {
        if let Some(first) = f.bad_lines.first() {
            out.push(problem(format!(
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
            out.push(if i == 0 {
                Finding::notice("journal", None, m)
            } else {
                problem(m)
            });
        }
    }
    out
}

/// Where the journal (whose oldest record is at `begins`) and the address
/// files `holders` disagree: a holder whose allocation was not recorded, an
/// address the journal thinks held whose release was not recorded.
fn disagreements(records: &[journal::Record], begins: i64, holders: &[Allocation]) -> Vec<Finding> {
    // The latest holder of each address the journal still thinks is held.
    let mut held: BTreeMap<IpAddr, Tenure> = BTreeMap::new();
    for t in journal::tenures(records) {
        if t.to.is_none() && !t.end_unknown {
            held.entry(t.address).or_insert(t);
        }
    }
    let mut out = Vec::new();
    for a in holders {
        let id = match &a.owner {
            Owner::Attachment(who) => who.container_id.as_str(),
            Owner::Legacy(id) => id.as_str(),
            Owner::Empty | Owner::Unknown(_) => continue,
        };
        let since = a.stamp.mtime.saturating_mul(1000) + a.stamp.mtime_nsec / 1_000_000;
        let recorded = held
            .get(&a.ip)
            .is_some_and(|t| t.container_id.as_deref() == Some(id));
        if !recorded && since >= begins {
            out.push(Finding::problem(
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
    let files: BTreeSet<IpAddr> = holders.iter().map(|a| a.ip).collect();
    for (ip, t) in held.iter().filter(|(ip, _)| !files.contains(ip)) {
        out.push(Finding::problem(
            "journal",
            Some(*ip),
            format!(
                "{ip}: the journal says {} holds it since {}, but it is free: its release was not recorded",
                t.container_id.as_deref().unwrap_or("(unknown)"),
                t.from.map_or_else(|| "?".into(), format_time_ms)
            ),
        ));
    }
    out
}
