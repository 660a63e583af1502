//! The locked-network transaction: a network's state with its lock held.
//! Every read and write of state goes through [`LockedNetwork`], so none can
//! happen without the lock. An operation opens it (lock, read the `clean`
//! marker, change nothing), calls [`LockedNetwork::recover`], reads and
//! changes allocations (`lookup`, `reserve`, `release`, `hints`), and
//! commits (the marker vouches for the index again).
//!
//! Truth: an address is taken iff `<dir>/<ip>` exists (see `owner`).
//! Everything under `.podlease/` is a hint that is rebuilt from the address
//! files whenever it cannot be proven current (see `marker`); `index/` lists
//! each attachment's addresses (see `index`), so DEL and CHECK read one small
//! file plus the address files it names, whatever the number of allocations.
//! Entries are verified against the address files.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{StoreError, io_err};
use super::files::{
    O_NOFOLLOW, create_dir, open_for_rewrite, read_to_limit, remove_if_exists, write_in_place,
    write_over,
};
use super::index::Index;
use super::layout::{Layout, parse_ip_name};
use super::lock::{LockError, NetworkLock};
use super::marker::{Marker, boot_label, clean_record, settle_dir};
use super::options::StoreOptions;
use super::owner::{Allocation, FileStamp, Owner, read_address_file, scan_dir};
use crate::ids::NetworkName;
use crate::journal::{Event, Journal, Reason, Record};

/// A network's state with its lock held. Every read and write of state goes
/// through this, so none can happen without the lock.
#[derive(Debug)]
pub struct LockedNetwork {
    pub(super) layout: Layout,
    _lock: NetworkLock,
    /// Whether `clean` holds a stamp (so must be marked dirty before a change).
    pub(super) clean_on_disk: bool,
    /// The open `clean` marker, rewritten in place, and its length.
    pub(super) clean_file: Option<(File, u64)>,
    /// Cursor files opened by [`Self::cursor`], kept for [`Self::set_cursor`].
    pub(super) cursor_files: Vec<(usize, File, u64)>,
    /// Proven: the index has no legacy (id-only) entry. Set by a rebuild
    /// that found none, or by a clean marker that says so.
    pub(super) legacy_absent: bool,
    /// Whether the index must be (or has been) rewritten, so `clean` is due at commit.
    pub(super) needs_commit: bool,
    /// Proven: the index lists every address file of the directory, so an
    /// attachment it does not list holds nothing. Set by a rebuild in this
    /// operation, or by a clean marker whose settled directory stamp still
    /// matches (see `marker::DirStamp`); a missing or damaged bucket is caught by
    /// the lookup itself.
    pub(super) complete: bool,
    /// The current boot id, when it could be read.
    pub(super) boot_id: Option<String>,
    /// What the `clean` marker vouched for at open (its directory stamp,
    /// the boot it was written in), if it was clean.
    pub(super) opened_clean: Option<Marker>,
    /// Reclaim on reboot, its clock slack and the boot signals.
    pub(super) recovery_opts: StoreOptions,
    /// Whether [`Self::recover`] ran: nothing changes before it, and no
    /// `clean` marker is written without it.
    pub(super) recovered: bool,
    /// An index write failed (perhaps half done): the `clean` marker must
    /// not vouch for the index until a rebuild.
    pub(super) index_failed: bool,
    /// Which addresses each attachment holds.
    pub(super) index: Index,
    /// The address journal: every allocation and release is recorded through
    /// [`Self::journal_allocated`] and [`Self::journal_released`], and written
    /// in one append when this value is dropped (with the lock still held).
    pub(super) journal: Journal,
    /// Addresses this operation released, so an index rebuild does not
    /// report them again as removed by someone else.
    pub(super) released_here: BTreeSet<IpAddr>,
}

impl Drop for LockedNetwork {
    fn drop(&mut self) {
        // Fields drop after this: the lock is still held while writing.
        self.journal.flush();
    }
}

/// `ENOTDIR`: the network's directory (or dataDir) is a file.
const ENOTDIR: i32 = libc::ENOTDIR;

/// Takes the network's lock as `opts` say (timeout, and what a timeout does).
fn lock_network(layout: &Layout, opts: &StoreOptions) -> Result<NetworkLock, LockError> {
    NetworkLock::acquire(
        &layout.lock(),
        opts.lock_timeout,
        opts.on_lock_timeout.as_ref(),
    )
}

/// Whether the lock failed because the network has no directory (or a file
/// stands where it should be).
fn no_directory(e: &LockError) -> bool {
    matches!(e, LockError::Io { source, .. }
        if source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(ENOTDIR))
}

/// Opens the `clean` marker for the in-place rewrites to come, and reads
/// what it vouches for. `.podlease` missing or damaged reads as "not clean":
/// recovery makes it.
fn open_marker(path: &Path) -> (Option<(File, u64)>, Option<Marker>) {
    // Never through a symlink: the marker is rewritten in place.
    let Ok(mut file) = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_NOFOLLOW)
        .open(path)
    else {
        return (None, None);
    };
    // 256 bytes as written; room for an absurd boot id.
    let Ok(bytes) = read_to_limit(&mut file, 1024) else {
        return (Some((file, 0)), None);
    };
    let len = bytes.len() as u64;
    let marker = String::from_utf8(bytes)
        .ok()
        .and_then(|t| Marker::parse(&t));
    (Some((file, len)), marker)
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
            Err(LockError::Io { source, .. }) if source.raw_os_error() == Some(ENOTDIR) => {
                return Err(io_err("use as a directory", &layout.dir)(source));
            }
            Err(e) if no_directory(&e) => {
                fs::create_dir_all(&layout.dir).map_err(io_err("create directory", &layout.dir))?;
                lock_network(&layout, opts)?
            }
            other => other?,
        };
        Ok(Self::locked(layout, lock, opts, boot_id))
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
            Err(e) if no_directory(&e) => Ok(None),
            other => Ok(Some(Self::locked(layout, other?, opts, boot_id))),
        }
    }

    fn locked(
        layout: Layout,
        lock: NetworkLock,
        opts: &StoreOptions,
        boot_id: Option<String>,
    ) -> Self {
        let (clean_file, marker) = open_marker(&layout.clean_marker());
        let mut index = Index::new(layout.index_dir());
        index.expect_buckets(marker.as_ref().map_or(0, |m| m.buckets));
        let journal =
            Journal::new(layout.journal(), opts.journal).with_tap(opts.journal_tap.clone());
        Self {
            layout,
            _lock: lock,
            clean_on_disk: marker.is_some(),
            clean_file,
            cursor_files: Vec::new(),
            legacy_absent: marker.as_ref().is_some_and(|m| m.legacy_none),
            needs_commit: false,
            boot_id,
            opened_clean: marker,
            recovery_opts: opts.clone(),
            recovered: false,
            index_failed: false,
            complete: false,
            index,
            journal,
            released_here: BTreeSet::new(),
        }
    }

    /// The paths of this network.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Records that state is about to change: until [`Self::commit`], a reader
    /// that finds no `clean` marker rebuilds the index.
    pub(super) fn begin_change(&mut self) -> Result<(), StoreError> {
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
    pub(super) fn rewrite(&self, path: &Path, content: &str) -> Result<(), StoreError> {
        write_in_place(&self.open_for_rewrite(path)?, content.as_bytes(), path)
    }

    /// [`open_for_rewrite`], where our own directories may have vanished (an
    /// operator, a restore): they are made again.
    pub(super) fn open_for_rewrite(&self, path: &Path) -> Result<File, StoreError> {
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
    pub(super) fn replace_file(&self, path: &Path, content: &str) -> Result<(), StoreError> {
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

    /// Reads one address file's owner; `None` if the address is free.
    ///
    /// # Errors
    /// [`StoreError`] when the file exists but cannot be read.
    pub fn owner_of(&self, ip: IpAddr) -> Result<Option<(Owner, FileStamp)>, StoreError> {
        Ok(read_address_file(&self.layout.ip_file(ip))?
            .map(|(owner, meta)| (owner, FileStamp::of(&meta))))
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

    /// Every release of an address, whoever makes it, passes through here
    /// right after the address file is removed: it is recorded in the journal.
    pub(super) fn journal_released(
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
        let marker = Marker {
            stamp: settle_dir(&self.layout.dir)?.text,
            boot: Some(boot_label(self.boot_id.as_deref()).to_owned()),
            legacy_none: self.legacy_absent,
            buckets: self.index.present(),
        };
        self.write_marker(&marker.render())?;
        self.clean_on_disk = true;
        Ok(())
    }

    /// Writes the `clean` marker's record in place, keeping it open.
    fn write_marker(&mut self, record: &[u8]) -> Result<(), StoreError> {
        let path = self.layout.clean_marker();
        let (file, len) = match self.clean_file.take() {
            Some((f, len)) => (f, Some(len)),
            None => (self.open_for_rewrite(&path)?, None),
        };
        let written = write_over(&file, record, len, &path);
        self.clean_file = Some((file, record.len() as u64));
        written
    }
}
