//! The journal's share of `podlease metrics`: record counts per network
//! (the address gauges are [`super::UsageReport`]'s).

use std::collections::BTreeMap;

use super::{Admin, AdminError};
use crate::journal;
use crate::store::view;

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
        let contents = view::read_journal(&admin.data_dir, &network).unwrap_or_default();
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
