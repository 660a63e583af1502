//! The address journal: one append-only record per allocation and release of
//! a network's addresses, whoever made it, so an operator can answer "who had
//! this address, when, and why did it change?" (`podlease history`).
//!
//! Not to be confused with `ops::history`, the reuse-delay and sticky hints:
//! those are rewritten and forgotten; the journal is only ever appended to.
//!
//! Format (docs/journal.md): one JSON object per line in
//! `<dataDir>/<network>/.podlease/journal`, rotated to `journal.1` (newest)
//! ... `journal.<maxFiles-1>` (oldest) when the next line would take the file
//! past `maxBytes`. Each operation's records go out in one `O_APPEND` write
//! of whole lines, under the network's lock (so writers never interleave and
//! rotation never races a writer). Readers take no lock: they tolerate a
//! torn last line and retry when a rotation happened while they read.
//!
//! Owns: the record format, appending, rotation, reading back, and the
//! account of who held an address when ([`tenures`]). Never: the store's
//! truth (the journal is an account of changes, not a source of state), and
//! never fails an operation: a write that fails is dropped and remembered for
//! the debug log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default number of journal files kept per network (the current one and
/// four rotated ones).
pub const DEFAULT_MAX_FILES: u32 = 5;
/// Default size a journal file may reach before it is rotated: 1 MiB, about
/// 5,000 records.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Smallest `maxBytes` accepted: a file must hold a few records.
pub const MIN_MAX_BYTES: u64 = 4096;
/// Largest `maxFiles` accepted.
pub const MAX_MAX_FILES: u32 = 1000;
/// Name of the current journal file under `.podlease/`.
pub const FILE_NAME: &str = "journal";
/// Container ids longer than this are cut in the journal (a hostile runtime
/// can send 128 KiB); real ids are 64 characters.
const MAX_ID: usize = 512;
/// Lines longer than this are not read back (none is written longer).
const MAX_LINE: usize = 8192;

/// The journal's settings (`ipam.journal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Whether records are written at all (default on).
    pub enabled: bool,
    /// Files kept, the current one included.
    pub max_files: u32,
    /// Size a file may reach before rotation.
    pub max_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            max_files: DEFAULT_MAX_FILES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

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

// ---------------------------------------------------------------------------
// Time

/// Milliseconds since the epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds:
/// `2026-05-01T12:34:56.789Z`.
pub fn format_time_ms(ms: i64) -> String {
    // Years 0..=9999, so nothing overflows on a hostile value.
    let ms = ms.clamp(-62_167_219_200_000, 253_402_300_799_999);
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

fn digits(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a time an operator or the journal writes, to milliseconds since
/// the epoch: RFC 3339 (`2026-05-01T12:34:56Z`, `...56.5+02:00`, a space
/// instead of `T`), a bare date-time taken as UTC, a date (`2026-05-01`,
/// midnight UTC), or `@<unix seconds>`.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(secs) = s.strip_prefix('@') {
        return secs.parse::<i64>().ok()?.checked_mul(1000);
    }
    let date = s.get(..10)?;
    let mut parts = date.split('-');
    let (y, mo, d) = (
        digits(parts.next()?)?,
        digits(parts.next()?)?,
        digits(parts.next()?)?,
    );
    if date.len() != 10 || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let day_ms = days_from_civil(y, mo, d) * 86_400_000;
    let rest = s.get(10..)?;
    if rest.is_empty() {
        return Some(day_ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let hms = rest.get(..8)?;
    let mut t = hms.split(':');
    let (h, mi, sec) = (digits(t.next()?)?, digits(t.next()?)?, digits(t.next()?)?);
    if hms.len() != 8 || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = rest.get(8..)?;
    let mut frac_ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        let frac = f.get(..n)?;
        if frac.is_empty() {
            return None;
        }
        let padded: String = frac.chars().chain("000".chars()).take(3).collect();
        frac_ms = padded.parse::<i64>().ok()?;
        rest = f.get(n..)?;
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let off = rest.get(1..)?;
            let (oh, om) = off.split_once(':')?;
            let (oh, om) = (digits(oh)?, digits(om)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(day_ms + ((h * 3600 + mi * 60 + sec - offset_secs) * 1000) + frac_ms)
}

// ---------------------------------------------------------------------------
// Writing

/// The path of rotated file `n` (1 = newest) beside `current`.
pub fn rotated(current: &Path, n: u32) -> PathBuf {
    let mut name = current.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Where a caller collects the records an operation made (and why a journal
/// write failed), for the per-call debug log: shared with the store through
/// `StoreOptions`, filled when the network is unlocked.
#[derive(Debug, Clone, Default)]
pub struct Tap(std::sync::Arc<std::sync::Mutex<TapContents>>);

/// What a [`Tap`] collected.
#[derive(Debug, Clone, Default)]
pub struct TapContents {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Why writing the journal failed, if it did.
    pub failure: Option<String>,
}

impl Tap {
    /// What was collected so far.
    pub fn take(&self) -> TapContents {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    fn add(&self, journal: &Journal) {
        if let Ok(mut c) = self.0.lock() {
            c.records.extend_from_slice(&journal.written);
            if let Some(f) = &journal.failure {
                c.failure = Some(f.clone());
            }
        }
    }
}

/// The writer of one network's journal. Records are collected during an
/// operation and written by [`Self::flush`] in one `write`; nothing here
/// ever returns an error to the operation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    opts: JournalOptions,
    pending: Vec<Record>,
    /// Every record this process has handed to the journal, for the debug log.
    written: Vec<Record>,
    /// Why writing failed, if it did.
    failure: Option<String>,
    /// Where the records also go (the debug log), if anywhere.
    tap: Option<Tap>,
}

impl Journal {
    /// The journal at `path` (`.podlease/journal`).
    pub fn new(path: PathBuf, opts: JournalOptions) -> Self {
        Self {
            path,
            opts,
            pending: Vec::new(),
            written: Vec::new(),
            failure: None,
            tap: None,
        }
    }

    /// Also hands every record to `tap` (when the journal is off, too).
    #[must_use]
    pub fn with_tap(mut self, tap: Option<Tap>) -> Self {
        self.tap = tap;
        self
    }

    /// Queues a record for the next [`Self::flush`].
    pub fn push(&mut self, record: Record) {
        if self.opts.enabled {
            self.pending.push(record);
        } else if self.tap.is_some() {
            self.written.push(record);
        }
    }

    /// The records handed to the journal so far (written or not).
    pub fn records(&self) -> &[Record] {
        &self.written
    }

    /// Why the last write failed, if one did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Writes the queued records as one append, rotating first if they would
    /// take the file past `maxBytes`. A failure (full disk, read-only or
    /// unwritable directory) drops them and is remembered, never returned.
    pub fn flush(&mut self) {
        self.write_pending();
        if let Some(tap) = &self.tap {
            tap.add(self);
            self.written.clear();
        }
    }

    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut text = Vec::with_capacity(self.pending.len() * 200);
        for r in &self.pending {
            if serde_json::to_writer(&mut text, r).is_ok() {
                text.push(b'\n');
            }
        }
        self.written.append(&mut self.pending);
        if let Err(e) = self.append(&text) {
            self.failure = Some(format!("cannot write {}: {e}", self.path.display()));
        }
    }

    fn open(&self) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
    }

    fn append(&self, text: &[u8]) -> io::Result<()> {
        // Only ever a regular file: opening a FIFO for writing would block
        // the operation (and the lock) until someone reads it.
        if let Ok(m) = fs::symlink_metadata(&self.path)
            && !m.file_type().is_file()
        {
            return Err(io::Error::other("not a regular file"));
        }
        let mut file = self.open()?;
        let mut size = file.metadata()?.len();
        if size > 0 && size + text.len() as u64 > self.opts.max_bytes {
            self.rotate()?;
            file = self.open()?;
            size = file.metadata()?.len();
        }
        // One write of whole lines: a reader sees all of them or a torn last
        // line (only a full disk or a crash cuts it), never another
        // writer's bytes in between (every writer holds the network's lock).
        let n = match file.write(text) {
            Ok(n) => n,
            Err(e) => {
                let _ = file.set_len(size);
                return Err(e);
            }
        };
        if n < text.len() {
            // A full disk took part of it: cut it off, so the next record
            // starts on a line of its own.
            let _ = file.set_len(size);
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write ({n} of {} bytes)", text.len()),
            ));
        }
        Ok(())
    }

    /// `journal.<n>` becomes `journal.<n+1>`, the oldest kept is overwritten,
    /// and the current file becomes `journal.1`.
    fn rotate(&self) -> io::Result<()> {
        let keep = self.opts.max_files.max(1);
        // Files beyond the limit (the limit was lowered) go.
        for (n, path) in existing_rotated(&self.path) {
            if n >= keep {
                let _ = fs::remove_file(path);
            }
        }
        if keep == 1 {
            return fs::remove_file(&self.path);
        }
        for n in (1..keep - 1).rev() {
            match fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1))
    }
}

/// The rotated files beside `current` that exist: (n, path), any order.
fn existing_rotated(current: &Path) -> Vec<(u32, PathBuf)> {
    let (Some(dir), Some(base)) = (current.parent(), current.file_name()) else {
        return Vec::new();
    };
    let base = base.to_string_lossy();
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    list.flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name
                .to_str()?
                .strip_prefix(base.as_ref())?
                .strip_prefix('.')?
                .parse::<u32>()
                .ok()?;
            (n > 0).then(|| (n, e.path()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Reading

/// One journal file as read.
#[derive(Debug, Clone, Serialize)]
pub struct FileHealth {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records read.
    pub records: usize,
    /// Lines that did not parse (1-based line numbers, at most 20).
    pub bad_lines: Vec<usize>,
    /// Whether the file ends in the middle of a line (a write in progress,
    /// or one cut short by a full disk or a crash).
    pub torn_end: bool,
}

/// A network's journal as read, oldest record first.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// Every record, in the order written.
    pub records: Vec<Record>,
    /// The files, newest first.
    pub files: Vec<FileHealth>,
}

impl Contents {
    /// Time of the oldest record still kept.
    pub fn start(&self) -> Option<i64> {
        self.records.first().map(|r| r.time)
    }
}

fn inode_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

/// Reads a network's journal (`current` and its rotated files) without any
/// lock. A missing journal reads as empty. If a rotation happens while the
/// files are opened, they are opened again.
///
/// # Errors
/// When a file exists but cannot be opened or read.
pub fn read(current: &Path) -> io::Result<Contents> {
    for _ in 0..5 {
        let mut names: Vec<(u32, PathBuf)> = existing_rotated(current);
        names.push((0, current.to_path_buf()));
        // Oldest first: highest number first, the current file last.
        names.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        let before: Vec<Option<u64>> = names.iter().map(|(_, p)| inode_of(p)).collect();
        let mut opened = Vec::with_capacity(names.len());
        for (_, path) in &names {
            // Never open anything else: a FIFO would block the reader.
            if let Ok(m) = fs::symlink_metadata(path)
                && !m.file_type().is_file()
            {
                return Err(io::Error::other(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            match File::open(path) {
                Ok(f) => opened.push(Some(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => opened.push(None),
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
            }
        }
        let after: Vec<Option<u64>> = names.iter().map(|(_, p)| inode_of(p)).collect();
        let opened_inodes: Vec<Option<u64>> = opened
            .iter()
            .map(|f| f.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino()))
            .collect();
        if before != after || after != opened_inodes {
            continue;
        }
        let mut out = Contents::default();
        for ((_, path), file) in names.iter().zip(opened) {
            let Some(mut file) = file else { continue };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            out.files.push(parse_file(path, &bytes, &mut out.records));
        }
        out.files.reverse();
        return Ok(out);
    }
    Err(io::Error::other(format!(
        "{} kept rotating while it was read; try again",
        current.display()
    )))
}

fn parse_file(path: &Path, bytes: &[u8], records: &mut Vec<Record>) -> FileHealth {
    let mut health = FileHealth {
        path: path.to_path_buf(),
        bytes: bytes.len() as u64,
        records: 0,
        bad_lines: Vec::new(),
        torn_end: !bytes.is_empty() && !bytes.ends_with(b"\n"),
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a line still being written.
    lines.pop();
    for (i, line) in lines.iter().enumerate() {
        let parsed = (line.len() <= MAX_LINE)
            .then(|| serde_json::from_slice::<Record>(line).ok())
            .flatten();
        match parsed {
            Some(r) => {
                records.push(r);
                health.records += 1;
            }
            None if health.bad_lines.len() < 20 => health.bad_lines.push(i + 1),
            None => {}
        }
    }
    health
}

// ---------------------------------------------------------------------------
// Who held what, when

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

#[cfg(test)]
mod tests;
