//! The record format: one JSON object per line, what happened to which
//! address, by whom and why.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::time::{format_time_ms, now_ms, parse_time};

/// Container ids longer than this are cut in the journal (a hostile runtime
/// can send 128 KiB); real ids are 64 characters.
const MAX_ID: usize = 512;
/// Lines longer than this are not read back (none is written longer).
pub(super) const MAX_LINE: usize = 8192;

/// What happened to the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// It was reserved.
    Allocate,
    /// It was released.
    Release,
}

/// Why: which operation made the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// CNI ADD.
    Add,
    /// CNI DEL.
    Del,
    /// CNI GC, or `podlease gc`.
    Gc,
    /// Released because it was made in an earlier boot.
    Reclaim,
    /// Crash recovery: the addresses of an ADD killed before it finished.
    Recovery,
    /// `podlease release`.
    Operator,
    /// Noticed by an index rebuild: made or removed by something else
    /// (host-local during a migration, or a hand edit).
    External,
}

impl Reason {
    /// Every reason, in a stable order (metrics).
    pub const ALL: [Self; 7] = [
        Self::Add,
        Self::Del,
        Self::Gc,
        Self::Reclaim,
        Self::Recovery,
        Self::Operator,
        Self::External,
    ];

    /// The name written in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Del => "del",
            Self::Gc => "gc",
            Self::Reclaim => "reclaim",
            Self::Recovery => "recovery",
            Self::Operator => "operator",
            Self::External => "external",
        }
    }

    /// Whether podlease made this change on its own, without a request for
    /// it (reboot reclaim, crash recovery).
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::Reclaim | Self::Recovery)
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When, in milliseconds since the epoch (written as RFC 3339, UTC).
    #[serde(with = "time_field")]
    pub time: i64,
    /// Allocated or released.
    pub event: Event,
    /// The address.
    pub address: IpAddr,
    /// The container, when the address file named one.
    #[serde(
        rename = "containerId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
    /// The interface, when the address file named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    /// `namespace/name`, when the runtime passed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Which operation.
    pub reason: Reason,
    /// More about an unusual record (an empty file, a killed ADD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Record {
    /// A record stamped now; an over-long container id is cut.
    pub fn now(event: Event, address: IpAddr, reason: Reason) -> Self {
        Self {
            time: now_ms(),
            event,
            address,
            container_id: None,
            ifname: None,
            pod: None,
            reason,
            note: None,
        }
    }

    /// With the attachment's names.
    #[must_use]
    pub fn by(mut self, container_id: &str, ifname: Option<&str>) -> Self {
        self.container_id = Some(cut_id(container_id));
        self.ifname = ifname.map(str::to_owned);
        self
    }

    /// With the pod.
    #[must_use]
    pub fn pod(mut self, pod: Option<&str>) -> Self {
        self.pod = pod.map(str::to_owned);
        self
    }

    /// With a note.
    #[must_use]
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }
}

fn cut_id(id: &str) -> String {
    if id.len() <= MAX_ID {
        return id.to_owned();
    }
    let mut end = MAX_ID;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}...({} bytes)",
        id.get(..end).unwrap_or_default(),
        id.len()
    )
}

mod time_field {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = <&str>::deserialize(d)?;
        super::parse_time(s).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 time"))
    }
}
