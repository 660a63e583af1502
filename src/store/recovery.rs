//! Recovery: the one place where podlease releases an address nobody asked
//! it to release. Each CNI operation calls [`LockedNetwork::recover`]
//! explicitly, after taking the lock and before it reads the index; opening
//! the store never changes anything, and inspection
//! ([`inspect`]) reports what recovery would do without doing it.
//!
//! Three steps, in this order:
//! 1. **Undo of a killed ADD** (only when the `clean` marker is not clean):
//!    the scratch owner file of an ADD that never finished is still there,
//!    and every address it linked shares its inode. The runtime saw that ADD
//!    fail, so those addresses are released.
//! 2. **Reboot reclaim** (only when the recorded boot differs from the
//!    current one): an address file our index recorded with the same inode
//!    and mtime existed before this boot began and is released. A file we
//!    never recorded (host-local's) is released only if it names an
//!    attachment and its mtime is before the boot by the rule of
//!    [`super::BootSource::foreign_reference`]. Empty, unrecognised or unreadable
//!    files we never recorded are never released here. With
//!    `reclaimOnReboot: false` nothing is released, but the boot is recorded
//!    all the same, so that turning reclaim on later in this boot cannot
//!    mistake this boot's files for an earlier boot's.
//! 3. **Index rebuild** from the address files, when the marker cannot vouch
//!    for the index. It removes nothing.
//!
//! Every release is reported by [`report_release`], one line on stderr.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::{StoreError, io_err};
use super::files::{create_dir, is_real_dir, read_optional, remove_if_exists};
use super::index::{self, Index};
use super::layout::{Layout, parse_ip_name};
use super::lock::{LockError, NetworkLock};
use super::marker::{DirStamp, Marker, UNKNOWN_BOOT, boot_label};
use super::network::LockedNetwork;
use super::options::StoreOptions;
use super::owner::{Allocation, FileStamp, Owner, read_address_file, scan_dir};
use crate::ids::NetworkName;
use crate::journal::Reason;

/// Why recovery released (or would release) an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseReason {
    /// It was linked by an ADD that was killed before it finished.
    KilledAdd,
    /// Our index recorded this very file (inode and mtime) in an earlier boot.
    EarlierBoot {
        /// The boot recorded in `.podlease/boot`.
        recorded: String,
        /// The current boot id.
        current: String,
    },
    /// A file we never recorded, older than the boot.
    OlderThanBoot {
        /// Its mtime, seconds since the epoch.
        mtime: i64,
        /// The reference it is older than.
        reference: i64,
    },
}

impl std::fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KilledAdd => f.write_str("undo of an ADD that was killed before it finished"),
            Self::EarlierBoot { recorded, current } => write!(
                f,
                "reboot reclaim: allocated in boot {recorded}, this is boot {current}"
            ),
            Self::OlderThanBoot { mtime, reference } => write!(
                f,
                "reboot reclaim: written by another plugin at {mtime}, before this boot (reference {reference})"
            ),
        }
    }
}

/// One automatic release, as reported.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseEvent<'a> {
    /// The network's state directory.
    pub dir: &'a Path,
    /// The released address.
    pub ip: IpAddr,
    /// What its file said.
    pub owner: &'a Owner,
    /// Why.
    pub reason: &'a ReleaseReason,
}

impl std::fmt::Display for ReleaseEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let network = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // One line whatever a file held.
        let owner: String = self.owner.to_string().escape_debug().collect();
        write!(
            f,
            "podlease: released {} of network {network} (held by {owner}): {}",
            self.ip, self.reason
        )
    }
}

/// The one point every automatic release goes through: one line on stderr,
/// which the runtime logs.
pub fn report_release(event: &ReleaseEvent<'_>) {
    // Nothing to do if stderr is gone; the release itself stands.
    let _ = writeln!(io::stderr().lock(), "{event}");
}

/// The files of a killed ADD: every address sharing the inode of the scratch
/// owner file, which a finished ADD removes before it commits.
fn killed_add_files(layout: &Layout) -> Result<Vec<IpAddr>, StoreError> {
    let tmp = layout.tmp_owner();
    let ino = match fs::symlink_metadata(&tmp) {
        Ok(m) => m.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("stat", &tmp)(e)),
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(&layout.dir).map_err(io_err("list", &layout.dir))? {
        let entry = entry.map_err(io_err("list", &layout.dir))?;
        let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) else {
            continue;
        };
        if entry.metadata().is_ok_and(|m| m.ino() == ino) {
            out.push(ip);
        }
    }
    Ok(out)
}

/// What reboot reclaim releases among `allocs` (see the module's rule).
fn reboot_releases(
    allocs: &[Allocation],
    known: &BTreeMap<IpAddr, FileStamp>,
    recorded: Option<&str>,
    current: &str,
    reference: Option<i64>,
) -> Vec<(Allocation, ReleaseReason)> {
    let mut out = Vec::new();
    for a in allocs {
        let reason = if known.get(&a.ip) == Some(&a.stamp) {
            ReleaseReason::EarlierBoot {
                recorded: recorded.unwrap_or(UNKNOWN_BOOT).to_owned(),
                current: current.to_owned(),
            }
        } else if matches!(a.owner, Owner::Attachment(_) | Owner::Legacy(_))
            && let Some(reference) = reference
            && a.stamp.mtime < reference
        {
            ReleaseReason::OlderThanBoot {
                mtime: a.stamp.mtime,
                reference,
            }
        } else {
            continue;
        };
        out.push((a.clone(), reason));
    }
    out
}

/// Removes `.podlease/spare/`, the inode pool of earlier podlease builds
/// (blanked files of released addresses, never an allocation: host-local's
/// scans and ours never match one). Nothing in it is read. Best effort, and
/// only at a rebuild (after a crash, a reboot, or a change behind our back),
/// so the usual operation pays nothing: a spare left meanwhile costs an
/// inode, never an address. Never through a symlink: its target's files
/// are not ours.
fn remove_leftover_spares(layout: &Layout) {
    let dir = layout.legacy_spare_dir();
    if !is_real_dir(&dir) {
        return;
    }
    if let Ok(list) = fs::read_dir(&dir) {
        for entry in list.flatten() {
            // Unlinks the name only: a spare hard-linked elsewhere (an
            // address, an operator's copy) keeps its other names.
            let _ = fs::remove_file(entry.path());
        }
    }
    let _ = fs::remove_dir(&dir);
}

/// The index entries that rule 2 may trust: only those of a boot we know.
fn known_files(index: &Index, recorded: Option<&str>) -> BTreeMap<IpAddr, FileStamp> {
    if recorded.is_none_or(|r| r == UNKNOWN_BOOT) {
        return BTreeMap::new();
    }
    index
        .read_all()
        .map(|(entries, _)| entries.into_values().flat_map(|e| e.ips).collect())
        .unwrap_or_default()
}

impl LockedNetwork {
    /// Recovery, the explicit step every CNI operation takes after opening:
    /// undo of a killed ADD, reboot reclaim, index rebuild (see the module).
    /// Cheap when the last operation finished in this boot: the `clean`
    /// marker proves there is nothing to do.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure; what was released before it stays
    /// released, and the marker stays dirty.
    pub fn recover(&mut self) -> Result<(), StoreError> {
        self.recovered = true;
        let was_clean = self.clean_on_disk;
        let mut must_rebuild = !was_clean;
        if !was_clean {
            create_dir(&self.layout.meta)?;
            create_dir(&self.layout.tmp_dir())?;
            self.undo_killed_add()?;
        }
        let current = boot_label(self.boot_id.as_deref()).to_owned();
        // The marker carries the boot it was written in: a match proves no
        // reboot happened since, without reading the record.
        let marker_boot = self.opened_clean.as_ref().and_then(|m| m.boot.as_deref());
        if marker_boot != Some(current.as_str()) && self.settle_boot(&current)? {
            must_rebuild = true;
        }
        let dir = &self.layout.dir;
        let stamp = DirStamp::of(&fs::metadata(dir).map_err(io_err("stat", dir))?);
        let vouched = self.opened_clean.as_ref().map(|m| m.stamp.as_str());
        if !must_rebuild && vouched == Some(stamp.text.as_str()) {
            // The index is current; complete (no scan needed to answer
            // "holds nothing") only if no entry changed since it was settled.
            self.complete = stamp.settled;
        } else {
            self.rebuild_index()?;
            // The marker must be (re)written with the current stamp.
            self.needs_commit = true;
            remove_leftover_spares(&self.layout);
        }
        Ok(())
    }

    /// Removes the addresses of a killed ADD and its scratch file.
    fn undo_killed_add(&mut self) -> Result<(), StoreError> {
        let tmp = self.layout.tmp_owner();
        if fs::symlink_metadata(&tmp).is_err() {
            return Ok(());
        }
        self.begin_change()?;
        for ip in killed_add_files(&self.layout)? {
            let path = self.layout.ip_file(ip);
            let owner = read_address_file(&path)
                .ok()
                .flatten()
                .map_or(Owner::Empty, |(o, _)| o);
            if remove_if_exists(&path)? {
                report_release(&ReleaseEvent {
                    dir: &self.layout.dir,
                    ip,
                    owner: &owner,
                    reason: &ReleaseReason::KilledAdd,
                });
                let note = Some("an ADD that was killed before it finished");
                self.journal_released(ip, &owner, None, Reason::Recovery, note);
            }
        }
        remove_if_exists(&tmp)?;
        Ok(())
    }

    /// Reads the boot record; on a new boot releases what reboot reclaim
    /// releases (if on), then records the current boot. Returns whether
    /// anything was released.
    fn settle_boot(&mut self, current: &str) -> Result<bool, StoreError> {
        let record_path = self.layout.boot_record();
        let recorded = read_optional(&record_path, 256)?;
        let recorded = recorded.as_deref().map(str::trim);
        if recorded == Some(current) {
            return Ok(false);
        }
        let released = if current != UNKNOWN_BOOT && self.recovery_opts.reclaim_on_reboot {
            self.reclaim(recorded, current)?
        } else {
            false
        };
        self.replace_file(&record_path, &format!("{current}\n"))?;
        // The clean marker must now carry this boot: force it to be rewritten.
        self.needs_commit = true;
        Ok(released)
    }

    /// Reboot reclaim: releases what the module's rule 2 releases, for a
    /// boot that follows `recorded`. Returns whether anything was released.
    fn reclaim(&mut self, recorded: Option<&str>, current: &str) -> Result<bool, StoreError> {
        let known = known_files(&self.index, recorded);
        let reference = self
            .recovery_opts
            .boot
            .foreign_reference(self.recovery_opts.foreign_clock_slack_secs);
        let allocs = self.scan()?;
        // The pods, for the journal.
        let pods = self
            .index
            .read_all()
            .map(|(entries, _)| index::pods_by_address(entries.values()))
            .unwrap_or_default();
        let mut released = false;
        for (a, reason) in reboot_releases(&allocs, &known, recorded, current, reference) {
            let path = self.layout.ip_file(a.ip);
            // Still the very file judged (we hold the lock, an operator
            // does not).
            let same = fs::symlink_metadata(&path).is_ok_and(|m| FileStamp::of(&m) == a.stamp);
            if !same {
                continue;
            }
            self.begin_change()?;
            if remove_if_exists(&path)? {
                released = true;
                report_release(&ReleaseEvent {
                    dir: &self.layout.dir,
                    ip: a.ip,
                    owner: &a.owner,
                    reason: &reason,
                });
                let pod = pods.get(&a.ip).map(|(pod, _)| pod.as_str());
                self.journal_released(a.ip, &a.owner, pod, Reason::Reclaim, None);
            }
        }
        Ok(released)
    }
}

/// A network's state as read by an inspection: nothing is written, nothing
/// is created, and the lock (shared) is taken only where the files allow.
#[derive(Debug)]
pub struct Inspection {
    /// Every address file, with the pod recorded for it when the index says.
    pub allocations: Vec<Allocation>,
    /// What the next operation's recovery would release, and why.
    pub pending: BTreeMap<IpAddr, ReleaseReason>,
    /// Whether the current boot differs from the recorded one (the next
    /// operation settles it).
    pub new_boot: bool,
}

/// Reads `network`'s state without changing anything: for `list`, `show`,
/// `usage`, `metrics`. Works on a read-only mount and, where the modes allow
/// reading, as any user. `reclaim` is the network's `reclaimOnReboot`
/// (`None` when unknown: the reboot releases are then reported as they
/// would be with reclaim on). `None` when the network has no directory.
///
/// # Errors
/// [`StoreError`] when the directory cannot be listed, or on a lock timeout.
pub fn inspect(
    data_dir: &Path,
    network: &NetworkName,
    opts: &StoreOptions,
    reclaim: Option<bool>,
) -> Result<Option<Inspection>, StoreError> {
    let layout = Layout::new(data_dir, network);
    if !layout.dir.is_dir() {
        return Ok(None);
    }
    // Readers share the lock; without a readable lock file (none yet, or
    // not ours to open) the state is read as it is.
    let _lock = match NetworkLock::acquire_shared(&layout.lock(), opts.lock_timeout) {
        Ok(lock) => Some(lock),
        Err(e @ LockError::Timeout { .. }) => return Err(e.into()),
        Err(LockError::Io { .. }) => None,
    };
    let marker = read_optional(&layout.clean_marker(), 4096)
        .ok()
        .flatten()
        .and_then(|t| Marker::parse(&t));
    let mut allocations = scan_dir(&layout.dir)?;
    let index = Index::new(layout.index_dir());
    let (pending, new_boot) = pending_releases(
        &layout,
        &index,
        marker.as_ref(),
        &allocations,
        opts,
        reclaim,
    );
    add_indexed_pods(&index, &mut allocations);
    Ok(Some(Inspection {
        allocations,
        pending,
        new_boot,
    }))
}

/// What the next operation's recovery would release among `allocations`,
/// and whether it would record a new boot (see [`LockedNetwork::recover`]).
fn pending_releases(
    layout: &Layout,
    index: &Index,
    marker: Option<&Marker>,
    allocations: &[Allocation],
    opts: &StoreOptions,
    reclaim: Option<bool>,
) -> (BTreeMap<IpAddr, ReleaseReason>, bool) {
    let mut pending = BTreeMap::new();
    if marker.is_none() {
        for ip in killed_add_files(layout).unwrap_or_default() {
            pending.insert(ip, ReleaseReason::KilledAdd);
        }
    }
    let boot_id = opts.boot.boot_id();
    let current = boot_label(boot_id.as_deref());
    // The marker carries the boot it was written in: a match proves no
    // reboot happened since, without reading the record.
    if marker.and_then(|m| m.boot.as_deref()) == Some(current) {
        return (pending, false);
    }
    let recorded = read_optional(&layout.boot_record(), 256).ok().flatten();
    let recorded = recorded.as_deref().map(str::trim);
    if recorded == Some(current) {
        return (pending, false);
    }
    if current != UNKNOWN_BOOT && reclaim != Some(false) {
        let known = known_files(index, recorded);
        let reference = opts.boot.foreign_reference(opts.foreign_clock_slack_secs);
        let survivors: Vec<Allocation> = allocations
            .iter()
            .filter(|a| !pending.contains_key(&a.ip))
            .cloned()
            .collect();
        for (a, reason) in reboot_releases(&survivors, &known, recorded, current, reference) {
            pending.insert(a.ip, reason);
        }
    }
    (pending, true)
}

/// Gives each allocation the pod the index recorded for its very file, from
/// whatever of the index can be read.
fn add_indexed_pods(index: &Index, allocations: &mut [Allocation]) {
    let Ok((entries, _)) = index.read_all() else {
        return;
    };
    let pods = index::pods_by_address(entries.values());
    for a in allocations {
        a.pod = pods
            .get(&a.ip)
            .filter(|(_, st)| st.ino == a.stamp.ino)
            .map(|(p, _)| p.clone());
    }
}
