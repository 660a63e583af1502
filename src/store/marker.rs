//! The `clean` marker and the settled directory stamp it records.
//!
//! `clean` exists only between operations that finished. A mutating
//! operation makes it say "dirty" before its first change and writes it
//! last, with the directory's stamp. An operation that finds it dirty or
//! missing, or finds the directory changed behind its back (host-local, an
//! operator's `rm`), rebuilds the index with one scan. A SIGKILL at any
//! instant therefore costs at most one rebuild, never a wrong answer.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::error::{StoreError, io_err};

/// Length of every record written to the `clean` marker: the same length
/// each time, so switching between "dirty" and a stamp is one `pwrite`.
const CLEAN_RECORD: usize = 256;

/// The line of the `clean` marker naming the layout of `.podlease/` it vouches
/// for: 64 index buckets (see `store::index`). podlease 0.1 kept one index
/// file per attachment and wrote no such line; "format 2" had 16 buckets.
/// "format 4" adds the directory's ctime to the stamp and the set of index
/// buckets that exist.
pub(super) const MARKER_FORMAT: &str = "format 4";

/// What the boot record holds when the boot id could not be read: no boot
/// matches it, and a record saying it proves nothing about the index.
pub(super) const UNKNOWN_BOOT: &str = "unknown";

/// The boot id as recorded: the id, or [`UNKNOWN_BOOT`].
pub(super) fn boot_label(id: Option<&str>) -> &str {
    id.unwrap_or(UNKNOWN_BOOT)
}

pub(super) fn clean_record(text: &str) -> Vec<u8> {
    let mut record = text.as_bytes().to_vec();
    // Pad with a line of spaces, which readers ignore; a longer text (an
    // absurd boot id) is written whole.
    record.resize(record.len().max(CLEAN_RECORD), b' ');
    record
}

/// What a `clean` marker of this layout vouches for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Marker {
    /// The directory stamp (see [`DirStamp`]), trimmed.
    pub stamp: String,
    /// The boot it was written in, if it says.
    pub boot: Option<String>,
    /// The index holds no legacy (id-only) entry. Legacy files are rare: the
    /// marker says so, and the usual ADD and DEL skip looking for them.
    pub legacy_none: bool,
    /// Bit `n` set: index bucket `n` exists (one that has vanished since is
    /// damage, see `index`).
    pub buckets: u64,
}

impl Marker {
    /// Parses a marker; `None` for "dirty", garbage, or a marker of another
    /// layout version, which does not vouch for this index.
    pub fn parse(text: &str) -> Option<Self> {
        if !(text.starts_with("dir ") && text.lines().any(|l| l == MARKER_FORMAT)) {
            return None;
        }
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name));
        Some(Self {
            stamp: text.lines().next().unwrap_or_default().trim().to_owned(),
            boot: field("boot ").map(str::to_owned),
            legacy_none: text.lines().any(|l| l == "legacy none"),
            buckets: field("buckets ")
                .and_then(|n| u64::from_str_radix(n.trim(), 16).ok())
                .unwrap_or(0),
        })
    }

    /// The marker's record, padded to [`CLEAN_RECORD`].
    pub fn render(&self) -> Vec<u8> {
        let boot = format!("boot {}\n", self.boot.as_deref().unwrap_or(UNKNOWN_BOOT));
        let legacy = if self.legacy_none {
            "legacy none\n"
        } else {
            ""
        };
        clean_record(&format!(
            "{}\n{MARKER_FORMAT}\n{boot}{legacy}buckets {:x}\n",
            self.stamp, self.buckets
        ))
    }
}

/// The network directory's identity and times, as the clean marker records
/// them: `dir <ino> <mtime s> <mtime ns> <ctime s> <ctime ns>`.
///
/// Why the stamp can prove that no address file came or went, even where
/// timestamps are coarse (a host-local write in the same clock tick as our
/// last change): every change to a directory's entries (create, link,
/// unlink, rename) sets its mtime and its ctime to one and the same value,
/// the current time. A stamp whose mtime differs from its ctime is therefore
/// *settled*: no entry has changed since it was taken, whatever the clock
/// did. When it commits, podlease settles the directory itself by setting
/// its mtime one nanosecond back (`futimens`; the kernel then sets the ctime
/// to now), and records the result. If the stamp still matches at the next
/// operation, and is settled, the index is complete without a scan. Where
/// the times cannot be set (not the owner, a file system that refuses),
/// the stamp stays unsettled and an answer of "holds nothing" is checked
/// with one scan, as before.
pub(super) struct DirStamp {
    pub text: String,
    pub settled: bool,
}

impl DirStamp {
    pub fn of(m: &fs::Metadata) -> Self {
        Self {
            text: format!(
                "dir {} {} {} {} {}",
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            ),
            settled: (m.mtime(), m.mtime_nsec()) != (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Stamps the network directory, settling it first if an entry changed
/// since it was last settled (see [`DirStamp`]).
pub(super) fn settle_dir(path: &Path) -> Result<DirStamp, StoreError> {
    let dir = File::open(path).map_err(io_err("open", path))?;
    let m = dir.metadata().map_err(io_err("stat", path))?;
    let stamp = DirStamp::of(&m);
    if stamp.settled {
        return Ok(stamp);
    }
    let back = u64::try_from(m.mtime())
        .ok()
        .zip(u32::try_from(m.mtime_nsec()).ok())
        .and_then(|(s, ns)| {
            std::time::UNIX_EPOCH
                .checked_add(Duration::new(s, ns).checked_sub(Duration::from_nanos(1))?)
        });
    // Best effort: an unsettled stamp only costs a scan later.
    match back.map(|t| dir.set_modified(t)) {
        Some(Ok(())) => Ok(DirStamp::of(&dir.metadata().map_err(io_err("stat", path))?)),
        _ => Ok(stamp),
    }
}
