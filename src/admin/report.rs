//! What the commands report about one allocated address, shared by list,
//! show, release and gc (and its JSON form).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::discovery::NetworkConfig;
use crate::ids::NetworkName;
use crate::journal::format_time_ms;
use crate::store::layout::Layout;
use crate::store::{Allocation, Owner};

/// Seconds since the epoch as RFC 3339 in UTC: `2024-05-01T12:34:56Z` (the
/// journal's [`format_time_ms`] without the milliseconds).
pub fn rfc3339_utc(secs: i64) -> String {
    let with_ms = format_time_ms(secs.saturating_mul(1000));
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`: the year is clamped to four digits.
    match with_ms.get(..19) {
        Some(s) => format!("{s}Z"),
        None => with_ms,
    }
}

/// What holds an address, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// `id\r\nifname`.
    Attachment,
    /// A bare container id (host-local before 2018): any interface.
    Legacy,
    /// A zero-length file (a write that never finished).
    Empty,
    /// Unrecognised content.
    Unknown,
}

impl OwnerKind {
    /// Every kind, in display order.
    pub const ALL: [Self; 4] = [Self::Attachment, Self::Legacy, Self::Empty, Self::Unknown];

    /// The kind of an owner.
    pub fn of(owner: &Owner) -> Self {
        match owner {
            Owner::Attachment(_) => Self::Attachment,
            Owner::Legacy(_) => Self::Legacy,
            Owner::Empty => Self::Empty,
            Owner::Unknown(_) => Self::Unknown,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Legacy => "legacy",
            Self::Empty => "empty",
            Self::Unknown => "unknown",
        }
    }
}

/// One allocated address.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationInfo {
    /// The network.
    pub network: String,
    /// The address.
    pub address: IpAddr,
    /// What kind of owner the file names.
    pub kind: OwnerKind,
    /// The container id (attachment and legacy files).
    pub container_id: Option<String>,
    /// The interface (attachment files only).
    pub ifname: Option<String>,
    /// The file's content when it is not recognised.
    pub content: Option<String>,
    /// `namespace/name` when the runtime passed the pod.
    pub pod: Option<String>,
    /// The file's mtime, RFC 3339 UTC.
    pub allocated_at: String,
    /// The file's mtime, seconds since the epoch.
    pub allocated_at_unix: i64,
    /// The range set holding the address, when the network's config is known.
    pub range_set: Option<usize>,
    /// The reservation file.
    pub file: PathBuf,
    /// The file names no attachment (empty, unrecognised, unreadable): the
    /// address is kept out of use until `release` or GC removes it.
    pub blocked: bool,
    /// What the next operation's recovery would do with it (inspection
    /// only): `killed-add` or `reboot-reclaim` when it would be released.
    pub pending_release: Option<&'static str>,
    /// Why, in words.
    pub pending_reason: Option<String>,
}

impl AllocationInfo {
    /// The report of `a`, an allocation of `network` under `data_dir`;
    /// `cfg` (the network's config, when found) gives its range set.
    pub fn new(
        network: &NetworkName,
        a: &Allocation,
        data_dir: &Path,
        cfg: Option<&NetworkConfig>,
    ) -> Self {
        let (container_id, ifname, content) = match &a.owner {
            Owner::Attachment(who) => (
                Some(who.container_id.to_string()),
                Some(who.ifname.to_string()),
                None,
            ),
            Owner::Legacy(id) => (Some(id.to_string()), None, None),
            Owner::Empty => (None, None, None),
            Owner::Unknown(s) => (None, None, Some(s.clone())),
        };
        let range_set = cfg.and_then(|c| c.ipam.as_ref()).and_then(|i| {
            i.range_sets
                .iter()
                .position(|s| s.range_for(a.ip).is_some())
        });
        Self {
            network: network.to_string(),
            address: a.ip,
            kind: OwnerKind::of(&a.owner),
            container_id,
            ifname,
            content,
            pod: a.pod.clone(),
            allocated_at: rfc3339_utc(a.stamp.mtime),
            allocated_at_unix: a.stamp.mtime,
            range_set,
            file: Layout::new(data_dir, network).ip_file(a.ip),
            blocked: matches!(a.owner, Owner::Empty | Owner::Unknown(_)),
            pending_release: None,
            pending_reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MIN), "0000-01-01T00:00:00Z");
        // Every day boundary over 400 years agrees with a naive counter.
        let (mut y, mut m, mut d) = (1970i64, 1usize, 1i64);
        for day in 0..146_097i64 {
            assert_eq!(
                rfc3339_utc(day * 86_400 + 86_399),
                format!("{y:04}-{m:02}-{d:02}T23:59:59Z"),
                "day {day}"
            );
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let feb = if leap { 29 } else { 28 };
            let len = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
