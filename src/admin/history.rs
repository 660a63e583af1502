//! `podlease history`: who held an address, when, and why it changed,
//! from the networks' address journals.
//!
//! (The reuse-delay and sticky hints are `ops::preferences`.)
//!
//! Owns: matching a query to journal records, time windows. Never: the
//! lock, or any write: it reads files only, so it works on a read-only
//! mount and never changes what it looks at.

use std::net::IpAddr;

use serde::Serialize;

use super::{Admin, AdminError};
use crate::ids::NetworkName;
use crate::journal::{self, Tenure, format_time_ms};
use crate::store::view;

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
    for network in admin.state_scope(only)? {
        let contents = view::read_journal(&admin.data_dir, &network);
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
    let networks = read
        .into_iter()
        .map(|(network, contents)| {
            network_history(&network, contents, target, container_id.as_deref(), window)
        })
        .collect();
    Ok(HistoryReport {
        query: target.to_string(),
        container_id,
        networks,
    })
}

/// One network's answer from its journal's `contents`; `container_id` is
/// what a container target resolved to.
fn network_history(
    network: &NetworkName,
    contents: std::io::Result<journal::Contents>,
    target: &HistoryTarget,
    container_id: Option<&str>,
    window: &TimeWindow,
) -> NetworkHistory {
    let mut notes = Vec::new();
    let contents = contents.unwrap_or_else(|e| {
        notes.push(format!("cannot read the journal of network {network}: {e}"));
        journal::Contents::default()
    });
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
            HistoryTarget::Container(_) => t.container_id.as_deref() == container_id,
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
    NetworkHistory {
        network: network.to_string(),
        journal_begins: begins.map(format_time_ms),
        journal_files: contents.files.len(),
        tenures,
        notes,
    }
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
