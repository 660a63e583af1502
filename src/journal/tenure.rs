//! Who held what, when: allocations paired with releases, address by
//! address (`podlease history`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::record::{Event, Reason, Record};
use super::time::format_time_ms;

/// One holder's time with an address, from an allocation to a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenure {
    /// The address.
    pub address: IpAddr,
    /// The container, if known.
    pub container_id: Option<String>,
    /// The interface, if known.
    pub ifname: Option<String>,
    /// The pod, if known.
    pub pod: Option<String>,
    /// When it was allocated; `None` when the journal has no allocation
    /// record for it (before the journal begins, or never recorded).
    #[serde(serialize_with = "opt_time")]
    pub from: Option<i64>,
    /// Why it was allocated.
    pub from_reason: Option<Reason>,
    /// When it was released; `None` while it is still held (as far as the
    /// journal knows).
    #[serde(serialize_with = "opt_time")]
    pub to: Option<i64>,
    /// Why it was released.
    pub to_reason: Option<Reason>,
    /// True when the release is not recorded but the address was allocated
    /// again (a journal write was lost): the end is unknown.
    pub end_unknown: bool,
    /// A note of the release record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Position of the tenure's first record, for ordering.
    #[serde(skip)]
    pub seq: usize,
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)] // serde's signature
fn opt_time<S: serde::Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(ms) => s.serialize_str(&format_time_ms(*ms)),
        None => s.serialize_none(),
    }
}

impl Tenure {
    fn open(r: &Record, seq: usize) -> Self {
        Self {
            address: r.address,
            container_id: r.container_id.clone(),
            ifname: r.ifname.clone(),
            pod: r.pod.clone(),
            from: Some(r.time),
            from_reason: Some(r.reason),
            to: None,
            to_reason: None,
            end_unknown: false,
            note: None,
            seq,
        }
    }

    /// Whether the address was held at `t` (ms): allocated at or before it
    /// (or before the journal), released after it (or not yet).
    pub fn covers(&self, t: i64) -> bool {
        self.from.is_none_or(|f| f <= t) && !self.end_unknown && self.to.is_none_or(|e| e > t)
    }

    /// Whether the tenure overlaps `[since, until]` (either may be open).
    pub fn overlaps(&self, since: Option<i64>, until: Option<i64>) -> bool {
        let starts_before_end = until.is_none_or(|u| self.from.is_none_or(|f| f <= u));
        let ends_after_start =
            since.is_none_or(|s| self.end_unknown || self.to.is_none_or(|e| e >= s));
        starts_before_end && ends_after_start
    }
}

/// Pairs allocations with releases, address by address, in journal order.
/// A release without an allocation makes a tenure whose start is unknown;
/// an allocation of an address still held closes the earlier tenure with an
/// unknown end. The result is newest first.
pub fn tenures(records: &[Record]) -> Vec<Tenure> {
    let mut open: BTreeMap<IpAddr, Tenure> = BTreeMap::new();
    let mut done = Vec::new();
    for (seq, r) in records.iter().enumerate() {
        match r.event {
            Event::Allocate => {
                if let Some(mut earlier) = open.insert(r.address, Tenure::open(r, seq)) {
                    earlier.end_unknown = true;
                    done.push(earlier);
                }
            }
            Event::Release => {
                let mut t = open.remove(&r.address).unwrap_or_else(|| {
                    let mut t = Tenure::open(r, seq);
                    t.from = None;
                    t.from_reason = None;
                    t
                });
                t.to = Some(r.time);
                t.to_reason = Some(r.reason);
                t.note.clone_from(&r.note);
                // The release names the holder when the allocation did not.
                if t.container_id.is_none() {
                    t.container_id.clone_from(&r.container_id);
                    t.ifname.clone_from(&r.ifname);
                }
                if t.pod.is_none() {
                    t.pod.clone_from(&r.pod);
                }
                done.push(t);
            }
        }
    }
    done.extend(open.into_values());
    done.sort_by_key(|t| std::cmp::Reverse(t.seq));
    done
}
