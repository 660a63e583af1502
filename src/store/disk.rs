//! The state directory, host-local's layout, under the lock.
//!
//! Truth: an address is taken iff `<dir>/<ip>` exists; its content is
//! `<containerID>\r\n<ifname>` (or a bare id, written by old host-local).
//! Everything under `.podlease/` is a hint that is rebuilt from the address
//! files whenever it cannot be proven current:
//!
//! * `clean` exists only between operations that finished. A mutating
//!   operation deletes it before its first change and writes it last, with
//!   the directory's (inode, mtime). An operation that finds it missing, or
//!   finds the directory changed behind its back (host-local, an operator's
//!   `rm`), rebuilds the index with one scan. A SIGKILL at any instant
//!   therefore costs at most one rebuild, never a wrong answer.
//! * `index/` lists each attachment's addresses (see [`super::index`]), so DEL
//!   and CHECK read one small file plus the address files it names, whatever
//!   the number of allocations. Entries are verified against the address files.
//!
//! Reservations are atomic: the owner's content is written once to
//! `.podlease/owner` and hard-linked to each address name; `link` fails if
//! the name exists, and a reader sees either no file or a complete one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::boot::BootSource;
use super::index::{self, Index, IndexEntry};
use super::layout::{Layout, parse_ip_name};
use super::lock::{LockError, NetworkLock, TimeoutHook};
use crate::ids::{Attachment, ContainerId, IfName, NetworkName};
use crate::journal::{Event, Journal, JournalOptions, Reason, Record, Tap};

/// An I/O failure, with what was being done and to which path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What we tried ("create directory", "read", "link"...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
}

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Options of the store that come from the config and the environment.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Release the allocations of earlier boots at the first operation of a
    /// boot. Off, nothing is released, but the boot is still recorded.
    pub reclaim_on_reboot: bool,
    /// How long to wait for another process's lock.
    pub lock_timeout: Duration,
    /// Where the boot id, the boot time and `/run` are.
    pub boot: BootSource,
    /// A file podlease did not write is released after a reboot only if its
    /// mtime is this much older than the boot time (and older than `/run`,
    /// see [`BootSource::foreign_reference`]).
    pub foreign_clock_slack_secs: u64,
    /// Ends the process on a lock timeout instead of returning the error (see
    /// [`TimeoutHook`]); the CNI entry point sets it, library users need not.
    pub on_lock_timeout: Option<TimeoutHook>,
    /// The address journal's settings (`ipam.journal`).
    pub journal: JournalOptions,
    /// Where the journal's records of each operation also go (the CNI
    /// face's debug log); `None` when nobody asked.
    pub journal_tap: Option<Tap>,
}

/// Default for [`StoreOptions::foreign_clock_slack_secs`]: one hour.
pub const DEFAULT_FOREIGN_CLOCK_SLACK_SECS: u64 = 3600;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            reclaim_on_reboot: true,
            lock_timeout: Duration::from_secs(60),
            boot: BootSource::default(),
            foreign_clock_slack_secs: DEFAULT_FOREIGN_CLOCK_SLACK_SECS,
            on_lock_timeout: None,
            journal: JournalOptions::default(),
            journal_tap: None,
        }
    }
}

impl StoreOptions {
    /// The defaults, with the one override the environment can set:
    /// `PODLEASE_LOCK_TIMEOUT_MS`. Nothing in the environment changes the
    /// boot identity (see [`BootSource`]).
    pub fn from_env(env: &std::collections::BTreeMap<String, String>) -> Self {
        let mut opts = Self::default();
        // An unreadable value keeps the default: a DEL must not fail over a
        // tuning variable (the CLI refuses it instead, see `cli`).
        if let Some(t) = env
            .get("PODLEASE_LOCK_TIMEOUT_MS")
            .and_then(|v| parse_lock_timeout(v).ok())
        {
            opts.lock_timeout = t;
        }
        opts
    }
}

/// A lock timeout as `PODLEASE_LOCK_TIMEOUT_MS` and `--lock-timeout` take
/// it: a whole number of milliseconds (`1500`), or with a unit, `1500ms` or
/// `2s`.
pub fn parse_lock_timeout(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, to_ms) = if let Some(d) = s.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = s.strip_suffix('s') {
        (d, 1000)
    } else {
        (s, 1)
    };
    let ms = digits
        .parse::<u64>()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.checked_mul(to_ms))
        .ok_or_else(|| {
            format!("{s:?} is not a lock timeout: give milliseconds (1500), or a unit (1500ms, 2s)")
        })?;
    Ok(Duration::from_millis(ms))
}

/// Who holds an address, as its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `id\r\nifname`.
    Attachment(Attachment),
    /// A bare id (host-local before 2018): held for every ifname of the id.
    Legacy(ContainerId),
    /// A zero-length file: a write that never finished (crash, power loss).
    Empty,
    /// Anything else, shown as found.
    Unknown(String),
}

impl Owner {
    fn parse(content: &str) -> Self {
        let content = content.trim();
        if content.is_empty() {
            return Self::Empty;
        }
        if let Some((id, ifname)) = content.split_once("\r\n") {
            if let (Ok(container_id), Ok(ifname)) =
                (ContainerId::new(id.trim()), IfName::new(ifname))
            {
                return Self::Attachment(Attachment {
                    container_id,
                    ifname,
                });
            }
        } else if let Ok(id) = ContainerId::new(content) {
            return Self::Legacy(id);
        }
        Self::Unknown(content.chars().take(200).collect())
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Attachment(a) => write!(f, "{a}"),
            Self::Legacy(id) => write!(f, "{id} (legacy, any interface)"),
            Self::Empty => f.write_str("(empty file)"),
            Self::Unknown(s) => write!(f, "(unrecognised content {s:?})"),
        }
    }
}

/// Identity of an address file: a file recreated under the same name differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Inode number.
    pub ino: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: i64,
}

impl FileStamp {
    fn of(m: &fs::Metadata) -> Self {
        Self {
            ino: m.ino(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// One reservation as found on disk.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// The address.
    pub ip: IpAddr,
    /// Its holder.
    pub owner: Owner,
    /// The file's identity (its mtime is the allocation time).
    pub stamp: FileStamp,
    /// The pod, when the runtime passed `K8S_POD_NAMESPACE`/`K8S_POD_NAME`.
    pub pod: Option<String>,
}

/// A reservation's owner file, written once and linked to each address.
#[derive(Debug)]
pub struct OwnerFile {
    who: Attachment,
    stamp: FileStamp,
    linked: Vec<IpAddr>,
}

/// A network's state with its lock held. Every read and write of state goes
/// through this, so none can happen without the lock.
#[derive(Debug)]
pub struct LockedNetwork {
    layout: Layout,
    _lock: NetworkLock,
    /// Whether `clean` holds a stamp (so must be marked dirty before a change).
    clean_on_disk: bool,
    /// The open `clean` marker, rewritten in place, and its length.
    clean_file: Option<(File, u64)>,
    /// Cursor files opened by [`Self::cursor`], kept for [`Self::set_cursor`].
    cursor_files: Vec<(usize, File, u64)>,
    /// Proven: the index has no legacy (id-only) entry. Set by a rebuild
    /// that found none, or by a clean marker that says so.
    legacy_absent: bool,
    /// Whether the index must be (or has been) rewritten, so `clean` is due at commit.
    needs_commit: bool,
    /// Proven: the index lists every address file of the directory, so an
    /// attachment it does not list holds nothing. Set by a rebuild in this
    /// operation, or by a clean marker whose settled directory stamp still
    /// matches (see [`DirStamp`]); a missing or damaged bucket is caught by
    /// the lookup itself.
    complete: bool,
    /// The current boot id, when it could be read.
    boot_id: Option<String>,
    /// The directory stamp the `clean` marker vouched for at open, if any.
    clean_stamp: Option<String>,
    /// The boot the `clean` marker was written in, if it says.
    clean_boot: Option<String>,
    /// Reclaim on reboot, its clock slack and the boot signals.
    recovery_opts: StoreOptions,
    /// Whether [`Self::recover`] ran: nothing changes before it, and no
    /// `clean` marker is written without it.
    recovered: bool,
    /// An index write failed (perhaps half done): the `clean` marker must
    /// not vouch for the index until a rebuild.
    index_failed: bool,
    /// Which addresses each attachment holds.
    index: Index,
    /// The address journal: every allocation and release is recorded through
    /// [`Self::journal_allocated`] and [`Self::journal_released`], and written
    /// in one append when this value is dropped (with the lock still held).
    journal: Journal,
    /// Addresses this operation released, so an index rebuild does not
    /// report them again as removed by someone else.
    released_here: BTreeSet<IpAddr>,
}

impl Drop for LockedNetwork {
    fn drop(&mut self) {
        // Fields drop after this: the lock is still held while writing.
        self.journal.flush();
    }
}

/// The holder an index key names (`id:ifname`, or `id:` for a legacy file).
fn owner_of_key(key: &str) -> Owner {
    let (id, ifname) = key.split_once(':').unwrap_or((key, ""));
    match (ContainerId::new(id), ifname) {
        (Ok(id), "") => Owner::Legacy(id),
        (Ok(container_id), ifname) => match IfName::new(ifname) {
            Ok(ifname) => Owner::Attachment(Attachment {
                container_id,
                ifname,
            }),
            Err(_) => Owner::Unknown(key.to_owned()),
        },
        (Err(_), _) => Owner::Unknown(key.to_owned()),
    }
}

/// Reads the whole of an open small file in (usually) one `read`: a short
/// read of a regular file means end of file.
fn read_once(file: &mut File, limit: usize) -> io::Result<String> {
    let mut buf = vec![0u8; limit];
    let n = file.read(&mut buf)?;
    buf.truncate(n);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads a small file with as few system calls as possible: files on the
/// hot path (index entries, address files, markers) are far below 4 KiB, and
/// a short read of a regular file means end of file.
fn read_small(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_small_bytes(path, limit)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// [`read_small`] without the UTF-8 check.
fn read_small_bytes(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut file = open_to_read(path)?;
    // Address files and hints are tens of bytes: a small first buffer spares
    // musl's allocator a page-sized group (an mmap, a fault, a munmap).
    let mut buf = vec![0u8; 512];
    let mut len = 0;
    loop {
        let n = file.read(buf.get_mut(len..).unwrap_or_default())?;
        len += n;
        if n == 0 || len < buf.len() || len as u64 >= limit {
            break;
        }
        buf.resize(
            (buf.len() * 2)
                .min(usize::try_from(limit).unwrap_or(usize::MAX))
                .max(len + 1),
            0,
        );
    }
    buf.truncate(len.min(usize::try_from(limit).unwrap_or(usize::MAX)));
    Ok(buf)
}

/// Opens a file to read it, without blocking: a FIFO (planted, or a
/// restore's) named like one of our files would otherwise wait for a writer
/// forever, with the lock held. It reads as empty.
fn open_to_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

/// Largest address file we read: `CNI_CONTAINERID` can be as long as an
/// environment variable (128 KiB), and host-local stores it whole.
const MAX_OWNER_FILE: u64 = 256 * 1024;

/// The owner an address file names. Every reader parses the same way (invalid
/// UTF-8 lossily), so a file has one owner whichever path reads it.
fn parse_owner(bytes: &[u8]) -> Owner {
    Owner::parse(&String::from_utf8_lossy(bytes))
}

/// Opens an address file: its owner and metadata, `None` if it is gone. An
/// entry that is not a regular file is never read; its owner says so.
fn read_address_file(path: &Path) -> Result<Option<(Owner, fs::Metadata)>, StoreError> {
    let mut file = match open_to_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let meta = file.metadata().map_err(io_err("stat", path))?;
    if !meta.is_file() {
        return Ok(Some((Owner::Unknown("(not a regular file)".into()), meta)));
    }
    let mut buf = Vec::new();
    (&mut file)
        .take(MAX_OWNER_FILE)
        .read_to_end(&mut buf)
        .map_err(io_err("read", path))?;
    Ok(Some((parse_owner(&buf), meta)))
}

fn read_optional(path: &Path, limit: u64) -> Result<Option<String>, StoreError> {
    match read_small(path, limit) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // Garbage (not UTF-8) in one of our hints is the same as no hint.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// Overwrites a file in place: write from offset 0, then cut it to length.
/// No scratch file and no rename: on ext4, a rename over an existing file
/// or a truncation to zero forces the data out to disk (`auto_da_alloc`),
/// which cost more than the rest of an ADD. Safe for every file written
/// while the `clean` marker says "dirty": a write cut short by a crash is
/// followed by an index rebuild; and for host-local's cursor, which
/// host-local treats as absent when it does not parse.
fn write_in_place(file: &File, content: &[u8], path: &Path) -> Result<(), StoreError> {
    write_over(file, content, None, path)
}

/// [`write_in_place`] for a file whose current length is known: when the new
/// content is not shorter, no truncation (one system call) is needed.
pub(super) fn write_over(
    file: &File,
    content: &[u8],
    known_len: Option<u64>,
    path: &Path,
) -> Result<(), StoreError> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(content, 0)
        .map_err(io_err("write", path))?;
    let len = content.len() as u64;
    if known_len.is_none_or(|k| k > len) {
        file.set_len(len).map_err(io_err("write", path))?;
    }
    Ok(())
}

/// Length of every record written to the `clean` marker: the same length
/// each time, so switching between "dirty" and a stamp is one `pwrite`.
const CLEAN_RECORD: usize = 256;

/// The line of the `clean` marker naming the layout of `.podlease/` it vouches
/// for: 64 index buckets (see `store::index`). podlease 0.1 kept one index
/// file per attachment and wrote no such line; "format 2" had 16 buckets.
/// "format 4" adds the directory's ctime to the stamp and the set of index
/// buckets that exist.
const MARKER_FORMAT: &str = "format 4";

fn clean_record(text: &str) -> Vec<u8> {
    let mut record = text.as_bytes().to_vec();
    // Pad with a line of spaces, which readers ignore; a longer text (an
    // absurd boot id) is written whole.
    record.resize(record.len().max(CLEAN_RECORD), b' ');
    record
}

/// Opens one of our files (or host-local's cursor) for an in-place rewrite,
/// creating it. Never through a symlink: one found in its place (planted,
/// or a restore's) is removed and a regular file made.
pub(super) fn open_for_rewrite(path: &Path) -> Result<File, StoreError> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(path)
    };
    match open() {
        Err(e) if e.raw_os_error() == Some(ELOOP) => {
            remove_if_exists(path)?;
            open()
        }
        other => other,
    }
    .map_err(io_err("open", path))
}

pub(super) fn remove_if_exists(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

/// Makes one of our directories. A symlink found in its place (planted, or a
/// restore's) is replaced by a directory: what we list in it and delete
/// (sticky records) must never be files elsewhere.
pub(super) fn create_dir(path: &Path) -> Result<(), StoreError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_real_dir(path) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            remove_if_exists(path)?;
            fs::create_dir(path).map_err(io_err("create directory", path))
        }
        Err(e) => Err(io_err("create directory", path)(e)),
    }
}

/// Whether `path` is a directory itself, not a symlink to one.
pub(super) fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Every address file of `dir` with its owner, by address. A file that
/// cannot be read is listed with an owner saying why (it stays taken: what
/// cannot be read cannot be proven free); only a directory that cannot be
/// listed is an error.
pub(super) fn scan_dir(dir: &Path) -> Result<Vec<Allocation>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) else {
            continue;
        };
        // Only regular files are reservations: a symlink named like an
        // address is never followed (its name still counts as taken).
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let (owner, meta) = match read_address_file(&entry.path()) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e) => match entry.metadata() {
                Ok(meta) => (Owner::Unknown(format!("(unreadable: {})", cause(&e))), meta),
                Err(_) => continue,
            },
        };
        if !meta.is_file() {
            continue;
        }
        out.push(Allocation {
            ip,
            owner,
            stamp: FileStamp::of(&meta),
            pod: None,
        });
    }
    out.sort_by_key(|a| (crate::range::Family::of(a.ip), crate::range::to_u128(a.ip)));
    Ok(out)
}

/// The operating system's words for a store error.
fn cause(e: &StoreError) -> String {
    match e {
        StoreError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

/// `O_NOFOLLOW`: an open of a name that is a symlink fails. Its value
/// differs between architectures (0o400000 on x86, 0o100000 on arm64).
pub(super) const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// `ELOOP`: the name opened with `O_NOFOLLOW` is a symlink.
pub(super) const ELOOP: i32 = libc::ELOOP;

/// `O_NONBLOCK`: opening a FIFO does not wait for a writer.
const O_NONBLOCK: i32 = libc::O_NONBLOCK;

/// Takes the network's lock as `opts` say (timeout, and what a timeout does).
fn lock_network(layout: &Layout, opts: &StoreOptions) -> Result<NetworkLock, LockError> {
    NetworkLock::acquire(
        &layout.lock(),
        opts.lock_timeout,
        opts.on_lock_timeout.as_ref(),
    )
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
struct DirStamp {
    text: String,
    settled: bool,
}

impl DirStamp {
    fn of(m: &fs::Metadata) -> Self {
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
fn settle_dir(path: &Path) -> Result<DirStamp, StoreError> {
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

impl LockedNetwork {
    /// Creates the network's directory if needed and takes the lock. Reads
    /// the `clean` marker and changes nothing else: the operation then calls
    /// [`Self::recover`] (undo of a killed ADD, reboot reclaim, index
    /// rebuild) before it reads or changes allocations through the index.
    ///
    /// # Errors
    /// [`StoreError`] for any file system failure or a lock timeout.
    pub fn open(
        data_dir: &Path,
        network: &NetworkName,
        opts: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let layout = Layout::new(data_dir, network);
        // Read before waiting for the lock: it keeps the critical section short.
        let boot_id = opts.boot.boot_id();
        let lock = match lock_network(&layout, opts) {
            Ok(lock) => lock,
            Err(LockError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&layout.dir).map_err(io_err("create directory", &layout.dir))?;
                lock_network(&layout, opts)?
            }
            Err(LockError::Io { source, .. }) if source.raw_os_error() == Some(20) => {
                // ENOTDIR: the network's directory (or dataDir) is a file.
                return Err(io_err("use as a directory", &layout.dir)(source));
            }
            Err(e) => return Err(e.into()),
        };
        Self::locked(layout, lock, opts, boot_id)
    }

    /// Like [`Self::open`], but `None` when the network has no state
    /// directory: nothing is created just to find nothing.
    ///
    /// # Errors
    /// [`StoreError`] for any file system failure or a lock timeout.
    pub fn open_existing(
        data_dir: &Path,
        network: &NetworkName,
        opts: &StoreOptions,
    ) -> Result<Option<Self>, StoreError> {
        let layout = Layout::new(data_dir, network);
        let boot_id = opts.boot.boot_id();
        match lock_network(&layout, opts) {
            Ok(lock) => Self::locked(layout, lock, opts, boot_id).map(Some),
            Err(LockError::Io { source, .. })
                if source.kind() == io::ErrorKind::NotFound
                    || source.raw_os_error() == Some(20) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn locked(
        layout: Layout,
        lock: NetworkLock,
        opts: &StoreOptions,
        boot_id: Option<String>,
    ) -> Result<Self, StoreError> {
        // `.podlease` missing or damaged reads as "not clean": it is made below.
        let clean_path = layout.clean_marker();
        // Never through a symlink: the marker is rewritten in place.
        let mut clean_file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(&clean_path)
            .ok()
            .map(|f| (f, 0));
        let clean = clean_file.as_mut().and_then(|(f, len)| {
            // 256 bytes as written; room for an absurd boot id.
            let buf = read_once(f, 1024).ok()?;
            *len = buf.len() as u64;
            // A marker of another layout version does not vouch for this index.
            (buf.starts_with("dir ") && buf.lines().any(|l| l == MARKER_FORMAT)).then_some(buf)
        });
        // Legacy (id-only) files are rare: the marker says whether the index
        // holds any, so the usual ADD and DEL skip looking for them.
        let legacy_known_absent = clean
            .as_deref()
            .is_some_and(|t| t.lines().any(|l| l == "legacy none"));
        let (clean_stamp, clean_boot) = match clean.as_deref() {
            Some(text) => {
                let mut lines = text.lines();
                (
                    lines.next().map(str::to_owned),
                    lines
                        .find_map(|l| l.strip_prefix("boot "))
                        .map(str::to_owned),
                )
            }
            None => (None, None),
        };
        let index_dir = layout.index_dir();
        let journal_path = layout.journal();
        // Which index buckets exist: one that has vanished since is damage.
        let buckets = clean
            .as_deref()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("buckets ")))
            .and_then(|n| u64::from_str_radix(n.trim(), 16).ok())
            .unwrap_or(0);
        let mut index = Index::new(index_dir);
        index.expect_buckets(buckets);
        Ok(Self {
            layout,
            _lock: lock,
            clean_on_disk: clean.is_some(),
            clean_file,
            cursor_files: Vec::new(),
            legacy_absent: legacy_known_absent,
            needs_commit: false,
            boot_id,
            clean_stamp: clean_stamp.map(|s| s.trim().to_owned()),
            clean_boot,
            recovery_opts: opts.clone(),
            recovered: false,
            index_failed: false,
            complete: false,
            index,
            journal: Journal::new(journal_path, opts.journal).with_tap(opts.journal_tap.clone()),
            released_here: BTreeSet::new(),
        })
    }

    /// The paths of this network.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Records that state is about to change: until [`Self::commit`], a reader
    /// that finds no `clean` marker rebuilds the index.
    fn begin_change(&mut self) -> Result<(), StoreError> {
        if !self.recovered {
            // A bug, refused rather than risked: a change before recovery
            // could be judged by the next boot's reclaim as an old allocation.
            return Err(StoreError::Io {
                op: "change (before recovery ran: a bug)",
                path: self.layout.dir.clone(),
                source: io::Error::other("state changed before recovery"),
            });
        }
        if self.clean_on_disk {
            let path = self.layout.clean_marker();
            match &mut self.clean_file {
                Some((f, len)) => {
                    let record = clean_record("dirty\n");
                    write_over(f, &record, Some(*len), &path)?;
                    *len = record.len() as u64;
                }
                None => {
                    remove_if_exists(&path)?;
                }
            }
            self.clean_on_disk = false;
        }
        self.needs_commit = true;
        Ok(())
    }

    /// Overwrites one of our hint files or host-local's cursor in place.
    fn rewrite(&self, path: &Path, content: &str) -> Result<(), StoreError> {
        write_in_place(&self.open_for_rewrite(path)?, content.as_bytes(), path)
    }

    /// [`open_for_rewrite`], where our own directories may have vanished (an
    /// operator, a restore): they are made again.
    fn open_for_rewrite(&self, path: &Path) -> Result<File, StoreError> {
        let ours = path.starts_with(&self.layout.meta);
        match open_for_rewrite(path) {
            Err(StoreError::Io { source, .. })
                if ours && source.kind() == io::ErrorKind::NotFound =>
            {
                create_dir(&self.layout.meta)?;
                if let Some(parent) = path.parent() {
                    create_dir(parent)?;
                }
                open_for_rewrite(path)
            }
            other => other,
        }
    }

    /// Writes `content` to `path` atomically (scratch file, then rename): for
    /// the boot record, which is read before the `clean` marker is trusted.
    fn replace_file(&self, path: &Path, content: &str) -> Result<(), StoreError> {
        let tmp = self.layout.tmp_replace();
        // `.podlease/` and `tmp/` may have vanished (an operator, a restore).
        create_dir(&self.layout.meta)?;
        create_dir(&self.layout.tmp_dir())?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(content.as_bytes())
            .map_err(io_err("write", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    }

    /// Every address file with its owner. One read per file: used by
    /// rebuilds, GC, reclaim and the operator's listing, never by ADD/DEL/CHECK
    /// on a healthy index.
    ///
    /// # Errors
    /// [`StoreError`] when the directory cannot be listed.
    pub fn scan(&self) -> Result<Vec<Allocation>, StoreError> {
        scan_dir(&self.layout.dir)
    }

    /// The set of taken addresses, from file names alone (no file is read).
    ///
    /// # Errors
    /// [`StoreError`] when the directory cannot be listed.
    pub fn taken(&self) -> Result<BTreeSet<IpAddr>, StoreError> {
        let dir = &self.layout.dir;
        let mut out = BTreeSet::new();
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            if let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) {
                out.insert(ip);
            }
        }
        Ok(out)
    }

    /// Rewrites the index from the address files. Files that name no
    /// attachment (empty, unrecognised, unreadable) are left alone: they stay
    /// taken until an operator or GC releases them.
    fn rebuild_index(&mut self) -> Result<(), StoreError> {
        // Read once: the old entries keep their pods, and the plan is made
        // against what is on disk now.
        let current = self.index.snapshot()?;
        let mut legacy_seen = false;
        let mut wanted: BTreeMap<String, IndexEntry> = BTreeMap::new();
        for a in self.scan()? {
            let key = match &a.owner {
                Owner::Attachment(who) => index::key(who),
                Owner::Legacy(id) => {
                    legacy_seen = true;
                    index::legacy_key(id)
                }
                Owner::Empty | Owner::Unknown(_) => continue,
            };
            let e = wanted.entry(key).or_default();
            e.ips.push((a.ip, a.stamp));
        }
        if current.whole() {
            self.journal_external(&current, &wanted);
        }
        for (key, e) in &mut wanted {
            e.ips.sort_by_key(|(ip, _)| *ip);
            e.pod = current.get(key).and_then(|o| o.pod.clone());
        }
        let plan = Index::plan(&current, &wanted);
        if plan.changes_index() {
            self.begin_change()?;
        }
        if let Err(e) = self.index.write(plan) {
            self.index_failed = true;
            return Err(e);
        }
        self.index_failed = false;
        self.legacy_absent = !legacy_seen;
        // Under the lock, from a scan made now: nothing is missing.
        self.complete = true;
        Ok(())
    }

    /// Records what a rebuild found changed by someone else since our index
    /// was written: addresses that appeared (host-local's ADD) or went
    /// (host-local's DEL, an `rm`). Our own releases in this operation are
    /// not counted again.
    fn journal_external(&mut self, old: &index::Snapshot, wanted: &BTreeMap<String, IndexEntry>) {
        let holders = |entries: &mut dyn Iterator<Item = (&String, &IndexEntry)>| {
            let mut by_ip: BTreeMap<IpAddr, (String, Option<String>)> = BTreeMap::new();
            for (key, e) in entries {
                for (ip, _) in &e.ips {
                    by_ip.insert(*ip, (key.clone(), e.pod.clone()));
                }
            }
            by_ip
        };
        let before = holders(&mut old.entries());
        let after = holders(&mut wanted.iter());
        let split = |key: &str| -> (String, Option<String>) {
            match key.split_once(':') {
                Some((id, "")) => (id.to_owned(), None),
                Some((id, ifname)) => (id.to_owned(), Some(ifname.to_owned())),
                None => (key.to_owned(), None),
            }
        };
        for (ip, (key, pod)) in &before {
            if after.get(ip).is_none_or(|(k, _)| k != key) && !self.released_here.contains(ip) {
                let (id, ifname) = split(key);
                let r = Record::now(Event::Release, *ip, Reason::External)
                    .by(&id, ifname.as_deref())
                    .pod(pod.as_deref())
                    .note("gone when the index was rebuilt (host-local, or a change by hand)");
                self.journal.push(r);
            }
        }
        for (ip, (key, _)) in &after {
            if before.get(ip).is_none_or(|(k, _)| k != key) {
                let (id, ifname) = split(key);
                let r = Record::now(Event::Allocate, *ip, Reason::External)
                    .by(&id, ifname.as_deref())
                    .note("found when the index was rebuilt (host-local, or a change by hand)");
                self.journal.push(r);
            }
        }
    }

    /// Reads one address file's owner; `None` if the address is free.
    ///
    /// # Errors
    /// [`StoreError`] when the file exists but cannot be read.
    pub fn owner_of(&self, ip: IpAddr) -> Result<Option<(Owner, FileStamp)>, StoreError> {
        Ok(read_address_file(&self.layout.ip_file(ip))?
            .map(|(owner, meta)| (owner, FileStamp::of(&meta))))
    }

    /// Reads one address file's owner without its stamp (one open, one read).
    fn read_owner(&self, ip: IpAddr) -> Result<Option<Owner>, StoreError> {
        let path = self.layout.ip_file(ip);
        match read_small_bytes(&path, MAX_OWNER_FILE) {
            Ok(bytes) => Ok(Some(parse_owner(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// The addresses `who` holds, verified against the address files: exact
    /// matches first; legacy id-only files only when there is no exact match,
    /// as host-local's DEL and CHECK do.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find(&mut self, who: &Attachment) -> Result<Vec<IpAddr>, StoreError> {
        let exact = self.find_exact(who)?;
        if !exact.is_empty() {
            return Ok(exact);
        }
        self.find_legacy(&who.container_id)
    }

    /// Addresses whose file names exactly `who` (`id\r\nifname`).
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find_exact(&mut self, who: &Attachment) -> Result<Vec<IpAddr>, StoreError> {
        let want = Owner::Attachment(who.clone());
        self.lookup(&index::key(who), &want)
    }

    /// Addresses held by legacy (id-only) files of container `id`.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find_legacy(&mut self, id: &ContainerId) -> Result<Vec<IpAddr>, StoreError> {
        if self.legacy_absent {
            return Ok(Vec::new());
        }
        let want = Owner::Legacy(id.clone());
        self.lookup(&index::legacy_key(id), &want)
    }

    /// Looks `want` up through its index entry. An entry that names a file
    /// that is gone or now says something else proves the index stale (the
    /// directory was changed in a way its mtime did not show, e.g. a file
    /// rewritten in place), and so does a bucket that does not parse: the
    /// index is rebuilt and the lookup done again.
    fn lookup(&mut self, key: &str, want: &Owner) -> Result<Vec<IpAddr>, StoreError> {
        for attempt in 0..2 {
            let entry = self.index.get(key)?;
            let mut found = Vec::new();
            let mut stale = entry.is_none() && self.index.saw_corrupt();
            for (ip, _) in entry.map(|e| e.ips).unwrap_or_default() {
                match self.read_owner(ip)? {
                    Some(owner) if owner == *want => found.push(ip),
                    _ => stale = true,
                }
            }
            if !stale || attempt == 1 {
                return Ok(found);
            }
            self.rebuild_index()?;
        }
        Ok(Vec::new())
    }

    /// Records an index entry; a bucket found damaged on the way is rebuilt
    /// from the address files before the operation commits, so a clean
    /// marker never vouches for it.
    fn index_put(&mut self, key: &str, entry: Option<IndexEntry>) -> Result<(), StoreError> {
        if let Err(e) = self.index.put(key, entry) {
            // Perhaps written in part: only a rebuild can vouch for it again.
            self.index_failed = true;
            return Err(e);
        }
        if self.index.saw_corrupt() {
            self.rebuild_index()?;
        }
        Ok(())
    }

    /// Makes sure the index lists every address file: rebuilds it (one
    /// scan) unless that is already proven (see the settled directory stamp, `DirStamp`). Operations
    /// call this before reporting that an attachment holds nothing, where a
    /// wrong answer would hurt (CHECK, DEL). Returns whether it rebuilt, so
    /// the caller knows to look again.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn ensure_complete(&mut self) -> Result<bool, StoreError> {
        if self.complete {
            return Ok(false);
        }
        self.rebuild_index()?;
        // Commit tries again to settle the stamp, so the next operation
        // need not scan.
        self.needs_commit = true;
        Ok(true)
    }

    /// The pod recorded for `who`, if any.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn pod_of(&mut self, who: &Attachment) -> Result<Option<String>, StoreError> {
        Ok(self.index.get(&index::key(who))?.and_then(|e| e.pod))
    }

    /// Writes the owner content once, ready to be linked to addresses.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure (nothing is reserved then).
    pub fn prepare_owner(&mut self, who: &Attachment) -> Result<OwnerFile, StoreError> {
        let was_clean = self.clean_on_disk;
        self.begin_change()?;
        let tmp = self.layout.tmp_owner();
        // After an operation that did not finish, a leftover may still be
        // linked to an address: unlink it rather than truncate it, which would
        // empty that address file. (A clean marker proves there is none: every
        // ADD removes its scratch file before it commits.)
        if !was_clean {
            remove_if_exists(&tmp)?;
        }
        let content = format!("{}\r\n{}", who.container_id, who.ifname);
        // 0644 like host-local's files (less the umask): non-root readers of
        // the state directory depend on it.
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
        };
        let mut f = match create() {
            // Not ours to explain (an operator's copy?): unlink, never truncate.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                remove_if_exists(&tmp)?;
                create()
            }
            other => other,
        }
        .map_err(io_err("create", &tmp))?;
        f.write_all(content.as_bytes())
            .map_err(io_err("write", &tmp))?;
        let meta = f.metadata().map_err(io_err("stat", &tmp))?;
        Ok(OwnerFile {
            who: who.clone(),
            stamp: FileStamp::of(&meta),
            linked: Vec::new(),
        })
    }

    /// Tries to reserve `ip` for the owner: `Ok(false)` if it is taken.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than "exists".
    pub fn try_reserve(&mut self, owner: &mut OwnerFile, ip: IpAddr) -> Result<bool, StoreError> {
        let target = self.layout.ip_file(ip);
        match fs::hard_link(self.layout.tmp_owner(), &target) {
            Ok(()) => {
                owner.linked.push(ip);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // The scratch file vanished (an operator's `rm -r .podlease`).
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.layout.dir.is_dir() => {
                Err(io_err("link", &self.layout.tmp_owner())(e))
            }
            Err(e) => Err(io_err("create reservation", &target)(e)),
        }
    }

    /// Undoes the links made through `owner` (ADD failed part-way). Only what
    /// this ADD created is removed, never an earlier reservation.
    ///
    /// # Errors
    /// [`StoreError`] listing the first address that could not be removed.
    pub fn abandon(&mut self, owner: OwnerFile) -> Result<(), StoreError> {
        let mut first_err = None;
        for ip in &owner.linked {
            if let Err(e) = self.remove_if_owned(
                *ip,
                &Owner::Attachment(owner.who.clone()),
                Some(owner.stamp),
            ) {
                first_err.get_or_insert(e);
            }
        }
        remove_if_exists(&self.layout.tmp_owner())?;
        first_err.map_or(Ok(()), Err)
    }

    /// Records the reservation in the index and drops the scratch file.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn finish(
        &mut self,
        owner: &OwnerFile,
        pod: Option<String>,
        completes: bool,
    ) -> Result<(), StoreError> {
        let mut ips: Vec<_> = owner.linked.iter().map(|ip| (*ip, owner.stamp)).collect();
        // An ADD that completes what the attachment already held keeps the
        // record of those files beside the new ones.
        if completes && let Some(old) = self.index.get(&index::key(&owner.who))? {
            ips.extend(
                old.ips
                    .into_iter()
                    .filter(|(ip, _)| !owner.linked.contains(ip)),
            );
        }
        ips.sort_by_key(|(ip, _)| *ip);
        self.index_put(&index::key(&owner.who), Some(IndexEntry { ips, pod }))?;
        remove_if_exists(&self.layout.tmp_owner())?;
        Ok(())
    }

    /// Removes `ip`'s file if it still belongs to `owner` (and, when given, is
    /// the very file with `stamp`). Returns whether it was removed.
    fn remove_if_owned(
        &mut self,
        ip: IpAddr,
        owner: &Owner,
        stamp: Option<FileStamp>,
    ) -> Result<bool, StoreError> {
        match self.owner_of(ip)? {
            Some((o, st)) if o == *owner && stamp.is_none_or(|s| s == st) => {
                self.begin_change()?;
                remove_if_exists(&self.layout.ip_file(ip))
            }
            _ => Ok(false),
        }
    }

    /// Records in the journal that `who` was given `ips` (ADD). Never fails:
    /// the record is written when the operation ends.
    pub fn journal_allocated(&mut self, who: &Attachment, ips: &[IpAddr], pod: Option<&str>) {
        for ip in ips {
            let r = Record::now(Event::Allocate, *ip, Reason::Add)
                .by(who.container_id.as_str(), Some(who.ifname.as_str()))
                .pod(pod);
            self.journal.push(r);
        }
    }

    /// Every release of an address, whoever makes it, passes through here
    /// right after the address file is removed: it is recorded in the journal.
    fn journal_released(
        &mut self,
        ip: IpAddr,
        owner: &Owner,
        pod: Option<&str>,
        reason: Reason,
        note: Option<&str>,
    ) {
        self.released_here.insert(ip);
        let r = Record::now(Event::Release, ip, reason).pod(pod);
        let mut r = match owner {
            Owner::Attachment(a) => r.by(a.container_id.as_str(), Some(a.ifname.as_str())),
            Owner::Legacy(id) => r.by(id.as_str(), None),
            Owner::Empty => r.note("empty address file"),
            Owner::Unknown(s) => r.note(&format!("address file said {s:?}")),
        };
        if let Some(n) = note {
            r = r.note(n);
        }
        self.journal.push(r);
    }

    /// Releases everything `who` holds (DEL), as host-local's DEL does with
    /// `range_sets` range sets in its config: it releases once per range
    /// set, each time the files naming `who` exactly, or if there are none,
    /// the container's legacy id-only files. So the legacy files go when
    /// nothing exact is held, or when there are two range sets or more (the
    /// second pass finds the exact files gone). Returns the released addresses.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure; what was released before it stays released.
    pub fn release(
        &mut self,
        who: &Attachment,
        range_sets: usize,
    ) -> Result<Vec<IpAddr>, StoreError> {
        let released = self.release_indexed(who, range_sets)?;
        if released.is_empty() && self.ensure_complete()? {
            // Nothing found, and the index was not proven complete (a stamp
            // that could not be settled): the scan just made settles it.
            return self.release_indexed(who, range_sets);
        }
        Ok(released)
    }

    fn release_indexed(
        &mut self,
        who: &Attachment,
        range_sets: usize,
    ) -> Result<Vec<IpAddr>, StoreError> {
        let exact = self.find_exact(who)?;
        let legacy_too = exact.is_empty() || range_sets >= 2;
        let mut released = self.retire(&exact, &index::key(who))?;
        if legacy_too {
            let legacy = self.find_legacy(&who.container_id)?;
            released.extend(self.retire(&legacy, &index::legacy_key(&who.container_id))?);
        }
        Ok(released)
    }

    /// Releases `ips`, just verified to be held under index `key`, and
    /// drops the key's entry.
    fn retire(&mut self, ips: &[IpAddr], key: &str) -> Result<Vec<IpAddr>, StoreError> {
        // Verified just now, under the lock: nobody else can change them.
        let mut released = Vec::new();
        let pod = self.index.get(key)?.and_then(|e| e.pod);
        let owner = owner_of_key(key);
        for ip in ips {
            self.begin_change()?;
            if remove_if_exists(&self.layout.ip_file(*ip))? {
                self.journal_released(*ip, &owner, pod.as_deref(), Reason::Del, None);
                released.push(*ip);
            }
        }
        if self.index.get(key)?.is_some() {
            self.begin_change()?;
            self.index_put(key, None)?;
        }
        Ok(released)
    }

    /// Releases one address whatever holds it (operator release, GC), for
    /// `reason`. Returns the owner it had, `None` if it was free.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn release_ip(&mut self, ip: IpAddr, reason: Reason) -> Result<Option<Owner>, StoreError> {
        let Some((owner, _)) = self.owner_of(ip)? else {
            return Ok(None);
        };
        self.begin_change()?;
        remove_if_exists(&self.layout.ip_file(ip))?;
        let pod = match &owner {
            Owner::Attachment(who) => self.index.get(&index::key(who))?.and_then(|e| e.pod),
            _ => None,
        };
        self.journal_released(ip, &owner, pod.as_deref(), reason, None);
        let key = match &owner {
            Owner::Attachment(who) => Some(index::key(who)),
            Owner::Legacy(id) => Some(index::legacy_key(id)),
            Owner::Empty | Owner::Unknown(_) => None,
        };
        if let Some(key) = key
            && let Some(mut e) = self.index.get(&key)?
        {
            e.ips.retain(|(i, _)| *i != ip);
            let keep = (!e.ips.is_empty()).then_some(e);
            self.index_put(&key, keep)?;
        }
        Ok(Some(owner))
    }

    /// Every allocation with the pod recorded for it.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn list(&self) -> Result<Vec<Allocation>, StoreError> {
        let mut all = self.scan()?;
        let (index, _) = self.index.read_all()?;
        let mut pods = BTreeMap::new();
        for entry in index.values() {
            if let Some(pod) = &entry.pod {
                for (ip, _) in &entry.ips {
                    pods.insert(*ip, pod.clone());
                }
            }
        }
        for a in &mut all {
            a.pod = pods.get(&a.ip).cloned();
        }
        Ok(all)
    }

    /// host-local's round-robin cursor for a range set; `None` when absent or
    /// unreadable (host-local ignores those too). Trailing white space is
    /// tolerated, which host-local does not do.
    pub fn cursor(&mut self, set: usize) -> Option<IpAddr> {
        let path = self.layout.cursor(set);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
            .ok()?;
        let text = read_once(&mut file, 128).ok()?;
        // Kept open: the ADD that reads a cursor usually moves it.
        self.cursor_files.push((set, file, text.len() as u64));
        text.trim().parse().ok().map(crate::range::canonical)
    }

    /// Moves a range set's cursor, overwriting it in place.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn set_cursor(&mut self, set: usize, ip: IpAddr) -> Result<(), StoreError> {
        self.begin_change()?;
        let path = self.layout.cursor(set);
        let content = ip.to_string();
        match self.cursor_files.iter_mut().find(|(s, _, _)| *s == set) {
            Some((_, file, len)) => {
                write_over(file, content.as_bytes(), Some(*len), &path)?;
                *len = content.len() as u64;
                Ok(())
            }
            None => write_in_place(&open_for_rewrite(&path)?, content.as_bytes(), &path),
        }
    }

    /// Reads our own log of recent releases: (address, unix seconds).
    pub fn released_log(&self) -> Vec<(IpAddr, i64)> {
        let Ok(Some(text)) = read_optional(&self.layout.released_log(), 4 << 20) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| {
                let (ip, t) = l.split_once(' ')?;
                Some((ip.parse().ok()?, t.parse().ok()?))
            })
            .collect()
    }

    /// Replaces the release log.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn write_released_log(&mut self, entries: &[(IpAddr, i64)]) -> Result<(), StoreError> {
        let text: String = entries
            .iter()
            .map(|(ip, t)| format!("{ip} {t}\n"))
            .collect();
        self.rewrite(&self.layout.released_log(), &text)
    }

    /// Shows that the state directory takes writes (STATUS) without writing:
    /// the `clean` marker was opened for writing by [`Self::open`], which a
    /// read-only file system or missing permissions refuse; without one, the
    /// commit writes it. No file is created or removed.
    ///
    /// # Errors
    /// [`StoreError`] when the marker cannot be opened for writing.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.clean_file.is_some() {
            return Ok(());
        }
        let path = self.layout.clean_marker();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .map(drop)
            .or_else(|e| {
                // A marker that is missing is written at commit, which then
                // fails if the directory cannot take it.
                if e.kind() == io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(io_err("open for writing", &path))
    }

    /// Whether `ip` is free: no directory entry of that name (one `lstat`).
    ///
    /// # Errors
    /// [`StoreError`] when the entry cannot be examined.
    pub fn is_free(&self, ip: IpAddr) -> Result<bool, StoreError> {
        let path = self.layout.ip_file(ip);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(io_err("stat", &path)(e)),
        }
    }

    /// Reads a small hint file of ours under `.podlease/`.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than absence.
    pub fn read_hint(&self, path: &Path) -> Result<Option<String>, StoreError> {
        read_optional(path, 4096)
    }

    /// Writes a small hint file of ours under `.podlease/`, creating its directory.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn write_hint(&mut self, path: &Path, content: &str) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        self.rewrite(path, content)
    }

    /// Makes room for one more file in one of our hint directories: when it
    /// holds `max` files or more, removes the least recently written ones
    /// (never `keep`) until one more fits. Returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than the directory being absent.
    pub fn bound_hints(&mut self, dir: &Path, max: usize, keep: &str) -> Result<usize, StoreError> {
        // Never through a symlink: its target's files are not hints of ours.
        if !is_real_dir(dir) {
            return Ok(0);
        }
        let names: Vec<fs::DirEntry> = match fs::read_dir(dir) {
            Ok(l) => l.filter_map(Result::ok).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        if names.len() < max {
            return Ok(0);
        }
        let mut aged: Vec<(std::time::SystemTime, PathBuf)> = names
            .into_iter()
            .filter(|e| e.file_name().to_str() != Some(keep))
            .map(|e| {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (t, e.path())
            })
            .collect();
        aged.sort();
        let excess = (aged.len() + 1).saturating_sub(max);
        let mut removed = 0;
        for (_, path) in aged.into_iter().take(excess) {
            if remove_if_exists(&path)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes files in one of our hint directories (e.g. `.podlease/sticky`)
    /// that `keep` rejects and that were last written before `cutoff`.
    /// Returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than the directory being absent.
    pub fn prune_hints(
        &mut self,
        dir: &Path,
        keep: impl Fn(&str) -> bool,
        cutoff: std::time::SystemTime,
    ) -> Result<usize, StoreError> {
        // Never through a symlink: its target's files are not hints of ours.
        if !is_real_dir(dir) {
            return Ok(0);
        }
        let list = match fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        let mut removed = 0;
        for entry in list {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t < cutoff);
            if old && !keep(&name) && remove_if_exists(&entry.path())? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Finishes the operation: records that the index matches the directory.
    /// Dropping without commit leaves the `clean` marker absent, so the next
    /// operation rebuilds the index. The lock is held until the value is dropped.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.mark_clean()
    }

    /// [`Self::commit`] without giving up the lock, for an operation that
    /// must undo its work if the marker cannot be written.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn mark_clean(&mut self) -> Result<(), StoreError> {
        if !self.needs_commit && self.clean_on_disk {
            return Ok(());
        }
        // Without recovery the index was never proven current; after a
        // failed index write it may be torn. Either way the marker stays
        // as it is (or dirty), and the next operation rebuilds.
        if !self.recovered || self.index_failed {
            return Ok(());
        }
        let stamp = settle_dir(&self.layout.dir)?.text;
        let boot = format!("boot {}\n", recovery::boot_label(self.boot_id.as_deref()));
        let path = self.layout.clean_marker();
        let (file, len) = match self.clean_file.take() {
            Some((f, len)) => (f, Some(len)),
            None => (self.open_for_rewrite(&path)?, None),
        };
        let legacy = if self.legacy_absent {
            "legacy none\n"
        } else {
            ""
        };
        let buckets = self.index.present();
        let record = clean_record(&format!(
            "{stamp}\n{MARKER_FORMAT}\n{boot}{legacy}buckets {buckets:x}\n"
        ));
        let written = write_over(&file, &record, len, &path);
        self.clean_file = Some((file, record.len() as u64));
        written?;
        self.clean_on_disk = true;
        Ok(())
    }
}

pub mod consistency;
pub mod recovery;

#[cfg(test)]
mod tests;
