//! The locked-network transaction against a real directory: index
//! rebuilds, settled stamps, legacy files, leftovers of older versions.

use std::fs::{self, File};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::index::{self, Index, IndexEntry};
use super::layout::Layout;
use super::marker::{DirStamp, clean_record};
use super::*;
use crate::ids::{Attachment, ContainerId, IfName, NetworkName};
use crate::journal::JournalOptions;

fn opts() -> StoreOptions {
    // No boot id: no reclaim, so these tests are about the index alone.
    StoreOptions {
        reclaim_on_reboot: false,
        lock_timeout: Duration::from_secs(10),
        boot: BootSource {
            boot_id_path: "/nonexistent/boot_id".into(),
            proc_stat_path: "/nonexistent/stat".into(),
            run_path: "/nonexistent/run".into(),
        },
        foreign_clock_slack_secs: DEFAULT_FOREIGN_CLOCK_SLACK_SECS,
        on_lock_timeout: None,
        journal: JournalOptions::default(),
        journal_tap: None,
    }
}

fn who(id: &str, ifname: &str) -> Attachment {
    Attachment {
        container_id: ContainerId::new(id).unwrap(),
        ifname: IfName::new(ifname).unwrap(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    net: NetworkName,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            data: tmp.path().join("data"),
            net: NetworkName::new("unit").unwrap(),
            _tmp: tmp,
        }
    }

    fn open(&self) -> LockedNetwork {
        let mut net = LockedNetwork::open(&self.data, &self.net, &opts()).unwrap();
        net.recover().unwrap();
        net
    }

    fn layout(&self) -> Layout {
        Layout::new(&self.data, &self.net)
    }

    /// Reserves `ips` for `w` the way ADD does, and commits.
    fn reserve(&self, w: &Attachment, ips: &[&str]) {
        let mut net = self.open();
        let mut owner = net.prepare_owner(w).unwrap();
        for a in ips {
            assert!(net.try_reserve(&mut owner, ip(a)).unwrap(), "{a} taken");
        }
        net.finish(&owner, Some("ns/pod".into()), false).unwrap();
        net.commit().unwrap();
    }

    fn find(&self, w: &Attachment) -> Vec<IpAddr> {
        let mut net = self.open();
        let found = net.find(w).unwrap();
        net.commit().unwrap();
        found
    }

    /// The index entry of `w` as written on disk.
    fn entry(&self, w: &Attachment) -> Option<IndexEntry> {
        self.index().get(&index::key(w)).unwrap()
    }

    fn index(&self) -> Index {
        Index::new(self.layout().index_dir())
    }

    /// Writes an index entry behind the store's back.
    fn put_entry(&self, key: &str, e: Option<IndexEntry>) {
        self.index().put(key, e).unwrap();
    }

    fn entry_stamp(&self) -> FileStamp {
        FileStamp {
            ino: 1,
            mtime: 2,
            mtime_nsec: 3,
        }
    }

    fn entry_ips(&self, w: &Attachment) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = self
            .entry(w)
            .map(|e| e.ips.into_iter().map(|(i, _)| i).collect())
            .unwrap_or_default();
        ips.sort();
        ips
    }

    /// Writes an address file as host-local does (not through the store).
    fn foreign(&self, addr: &str, content: &str) {
        fs::write(self.layout().ip_file(ip(addr)), content).unwrap();
    }
}

#[test]
fn rebuild_after_missing_clean_marker() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2", "fd00::2"]);
    assert_eq!(f.entry_ips(&a), [ip("10.0.0.2"), ip("fd00::2")]);
    // A killed process: its index work half done, the clean marker gone.
    let l = f.layout();
    f.put_entry(&index::key(&a), None);
    let bogus = who("b", "eth0");
    f.put_entry(
        &index::key(&bogus),
        Some(IndexEntry {
            ips: vec![(ip("10.0.0.9"), f.entry_stamp())],
            pod: None,
        }),
    );
    fs::write(l.tmp_owner(), "b\r\neth0").unwrap();
    fs::remove_file(l.clean_marker()).unwrap();

    let mut net = f.open();
    assert_eq!(net.find(&a).unwrap(), [ip("10.0.0.2"), ip("fd00::2")]);
    assert!(net.find(&bogus).unwrap().is_empty());
    net.commit().unwrap();
    assert_eq!(f.entry_ips(&a), [ip("10.0.0.2"), ip("fd00::2")]);
    assert_eq!(
        f.entry(&a).unwrap().pod.as_deref(),
        None,
        "the pod lived only in the lost entry"
    );
    assert!(
        f.entry(&bogus).is_none(),
        "an entry with no address file is dropped"
    );
    assert!(l.clean_marker().exists());
}

#[test]
fn rebuild_keeps_pod_of_surviving_entries() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    fs::remove_file(f.layout().clean_marker()).unwrap();
    f.find(&a);
    assert_eq!(f.entry(&a).unwrap().pod.as_deref(), Some("ns/pod"));
}

#[test]
fn rebuild_after_foreign_file_appears() {
    let f = Fixture::new();
    f.reserve(&who("a", "eth0"), &["10.0.0.2"]);
    let h = who("hl", "eth1");
    f.foreign("10.0.0.9", "hl\r\neth1");
    f.foreign("fd00::9", "hl\r\neth1");
    assert_eq!(f.find(&h), [ip("10.0.0.9"), ip("fd00::9")]);
    assert_eq!(
        f.entry_ips(&h),
        [ip("10.0.0.9"), ip("fd00::9")],
        "found through a rebuilt index, not by chance"
    );
    // host-local releases one of them: the entry follows.
    fs::remove_file(f.layout().ip_file(ip("fd00::9"))).unwrap();
    assert_eq!(f.find(&h), [ip("10.0.0.9")]);
    assert_eq!(f.entry_ips(&h), [ip("10.0.0.9")]);
}

/// Directory timestamps of jiffy granularity (every file system before Linux
/// 6.13, e.g. Debian 12's 6.1; ramfs, NFS, FUSE still): host-local, woken
/// by our unlock, creates its file in the same tick as our last change, so
/// the kernel stamps it with the time our commit's ctime has. An mtime-only
/// stamp would then look unchanged. Simulated by setting the directory's
/// mtime to that value. The stamp does not match, because a change of
/// entries always leaves mtime = ctime and the recorded stamp is settled
/// (mtime ≠ ctime), so DEL finds host-local's file without being told to scan.
#[test]
fn foreign_file_in_the_same_tick_is_still_released() {
    let f = Fixture::new();
    f.reserve(&who("a", "eth0"), &["10.0.0.2"]);
    let dir = f.layout().dir;
    let m = fs::metadata(&dir).unwrap();
    assert_ne!(
        (m.mtime(), m.mtime_nsec()),
        (m.ctime(), m.ctime_nsec()),
        "the commit settles the directory"
    );
    let tick = SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(m.ctime()).unwrap(),
            u32::try_from(m.ctime_nsec()).unwrap(),
        );
    f.foreign("10.0.0.9", "hl\r\neth1");
    File::open(&dir).unwrap().set_modified(tick).unwrap();
    let h = who("hl", "eth1");
    let mut net = f.open();
    assert_eq!(
        net.release(&h, 1).unwrap(),
        [ip("10.0.0.9")],
        "DEL misses host-local's allocation"
    );
    net.commit().unwrap();
}

/// The fast path: a settled stamp that still matches proves the index
/// complete, so "holds nothing" (a repeated DEL, DEL or CHECK of an unknown
/// container) needs no scan; an unsettled one (the times could not be set)
/// falls back to one.
#[test]
fn settled_stamp_proves_the_index_complete() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    assert_eq!(release(&f, &a), [ip("10.0.0.2")]);
    let mut net = f.open();
    assert!(net.complete, "a settled, matching stamp proves the index");
    assert!(net.release(&a, 1).unwrap().is_empty());
    assert!(!net.ensure_complete().unwrap(), "no scan needed");
    net.commit().unwrap();
    // Without that proof (the times could not be set), one scan.
    let mut net = f.open();
    net.complete = false;
    assert!(net.release(&a, 1).unwrap().is_empty());
    assert!(net.complete, "nothing found without proof: one scan");
    net.commit().unwrap();
}

/// A clean marker whose stamp matches but is not settled (the times could
/// not be set when it was written): the first "holds nothing" scans once,
/// and its commit settles the stamp, so the next one needs no scan.
#[test]
fn an_unsettled_stamp_is_settled_by_the_next_commit() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    // An entry change leaves mtime = ctime; record that stamp as clean.
    f.foreign("10.0.0.9", "x\r\neth0");
    fs::remove_file(f.layout().ip_file(ip("10.0.0.9"))).unwrap();
    let m = fs::metadata(f.layout().dir).unwrap();
    let stamp = DirStamp::of(&m);
    assert!(!stamp.settled);
    let marker = fs::read_to_string(f.layout().clean_marker()).unwrap();
    let rest = marker.split_once('\n').unwrap().1;
    fs::write(
        f.layout().clean_marker(),
        clean_record(&format!("{}\n{}", stamp.text, rest.trim_end())),
    )
    .unwrap();
    let mut net = f.open();
    assert!(!net.complete, "an unsettled stamp proves nothing");
    assert!(net.release(&who("b", "eth0"), 1).unwrap().is_empty());
    net.commit().unwrap();
    let mut net = f.open();
    assert!(net.complete, "the commit settled the stamp");
    assert!(!net.ensure_complete().unwrap());
    net.commit().unwrap();
    assert_eq!(f.find(&a), [ip("10.0.0.2")]);
}

/// A bucket removed behind our back (an operator's `rm -r .podlease/index`,
/// a restore without it) is damage, not "no entries": the clean marker lists
/// the buckets that exist, so DEL still finds and releases the address.
#[test]
fn a_vanished_index_bucket_is_rebuilt_not_believed() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2", "fd00::2"]);
    // (`rm -r`, which the lints keep out of the store's code.)
    for e in fs::read_dir(f.layout().index_dir()).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    fs::remove_dir(f.layout().index_dir()).unwrap();
    assert_eq!(release(&f, &a), [ip("10.0.0.2"), ip("fd00::2")]);
    assert!(!f.layout().ip_file(ip("10.0.0.2")).exists());
}

/// host-local's DEL releases once per range set: exact files, or if there are
/// none, the container's legacy id-only files. With two range sets or more
/// the second pass takes the legacy files too (issue 12, item 2).
#[test]
fn del_releases_legacy_files_as_host_local_does() {
    for (sets, legacy_goes) in [(1, false), (2, true)] {
        let f = Fixture::new();
        let a = who("c", "eth0");
        f.reserve(&a, &["10.0.0.2", "fd00::2"]);
        f.foreign("10.0.0.7", "c");
        let mut net = f.open();
        let mut got = net.release(&a, sets).unwrap();
        net.commit().unwrap();
        got.sort();
        let mut want = vec![ip("10.0.0.2"), ip("fd00::2")];
        if legacy_goes {
            want.insert(1, ip("10.0.0.7"));
        }
        assert_eq!(got, want, "{sets} range set(s)");
        assert_eq!(f.layout().ip_file(ip("10.0.0.7")).exists(), !legacy_goes);
    }
}

#[test]
fn legacy_id_only_files() {
    let f = Fixture::new();
    f.reserve(&who("other", "eth0"), &["10.0.0.2"]);
    f.foreign("10.0.0.5", "legacy");
    f.foreign("fd00::5", "legacy\n");
    // A legacy file is held for every ifname of its container.
    assert_eq!(
        f.find(&who("legacy", "eth0")),
        [ip("10.0.0.5"), ip("fd00::5")]
    );
    assert_eq!(
        f.find(&who("legacy", "net9")),
        [ip("10.0.0.5"), ip("fd00::5")]
    );
    assert!(f.find(&who("legacyx", "eth0")).is_empty());
    assert!(
        f.index()
            .get(&index::legacy_key(&ContainerId::new("legacy").unwrap()))
            .unwrap()
            .is_some()
    );
    // An exact match wins over legacy files (host-local's order).
    f.foreign("10.0.0.6", "legacy\r\neth0");
    assert_eq!(f.find(&who("legacy", "eth0")), [ip("10.0.0.6")]);
    assert_eq!(
        f.find(&who("legacy", "eth1")),
        [ip("10.0.0.5"), ip("fd00::5")]
    );
    // DEL of another ifname releases the legacy files, not the exact one.
    let mut net = f.open();
    let mut released = net.release(&who("legacy", "eth1"), 1).unwrap();
    released.sort();
    assert_eq!(released, [ip("10.0.0.5"), ip("fd00::5")]);
    net.commit().unwrap();
    assert_eq!(f.find(&who("legacy", "eth0")), [ip("10.0.0.6")]);
    assert!(f.layout().ip_file(ip("10.0.0.2")).exists());
}

#[test]
fn find_verifies_a_stale_index() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2", "fd00::2"]);
    // The entry lists an address that now belongs to someone else and one
    // that no longer exists; the clean marker still matches the directory.
    let l = f.layout();
    let mut stale = f.entry(&a).unwrap();
    stale.ips.push((
        ip("10.0.0.3"),
        FileStamp {
            ino: 1,
            mtime: 2,
            mtime_nsec: 3,
        },
    ));
    stale.ips.push((
        ip("10.0.0.4"),
        FileStamp {
            ino: 1,
            mtime: 2,
            mtime_nsec: 3,
        },
    ));
    f.put_entry(&index::key(&a), Some(stale));
    // (The two addresses share one inode: replace the file, not its content.)
    let dir_mtime = fs::metadata(&l.dir).unwrap().modified().unwrap();
    fs::remove_file(l.ip_file(ip("fd00::2"))).unwrap();
    f.foreign("fd00::2", "b\r\neth0");
    f.foreign("10.0.0.3", "c\r\neth0");
    File::open(&l.dir).unwrap().set_modified(dir_mtime).unwrap();

    let mut net = f.open();
    assert_eq!(net.find(&a).unwrap(), [ip("10.0.0.2")]);
    assert_eq!(
        net.owner_of(ip("fd00::2")).unwrap().map(|(o, _)| o),
        Some(Owner::Attachment(who("b", "eth0")))
    );
    drop(net);
    // DEL releases only what the files say is ours.
    let mut net = f.open();
    assert_eq!(net.release(&a, 1).unwrap(), [ip("10.0.0.2")]);
    net.commit().unwrap();
    assert!(l.ip_file(ip("fd00::2")).exists() && l.ip_file(ip("10.0.0.3")).exists());
}

#[test]
fn leftover_owner_linked_to_a_live_address_is_not_truncated() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    let l = f.layout();
    fs::hard_link(l.ip_file(ip("10.0.0.2")), l.tmp_owner()).unwrap();
    f.reserve(&who("b", "eth0"), &["10.0.0.3"]);
    assert_eq!(fs::read(l.ip_file(ip("10.0.0.2"))).unwrap(), b"a\r\neth0");
    assert_eq!(f.find(&a), [ip("10.0.0.2")]);
}

/// An empty file (an operator's `touch`, the host-local way to keep an
/// address out of use) survives a rebuild: only a release on request
/// removes it.
#[test]
fn empty_address_file_survives_a_rebuild() {
    let f = Fixture::new();
    f.reserve(&who("a", "eth0"), &["10.0.0.2"]);
    f.foreign("10.0.0.3", "");
    let mut net = f.open();
    net.recover().unwrap();
    net.rebuild_index().unwrap();
    assert!(net.taken().unwrap().contains(&ip("10.0.0.3")));
    net.commit().unwrap();
    assert!(f.layout().ip_file(ip("10.0.0.3")).exists());
}

/// Releases `w`'s addresses the way DEL does, and commits.
fn release(f: &Fixture, w: &Attachment) -> Vec<IpAddr> {
    let mut net = f.open();
    let mut out = net.release(w, 1).unwrap();
    net.commit().unwrap();
    out.sort();
    out
}

/// A node upgraded from a version with the spare-inode pool: its
/// `.podlease/spare/` files are never allocations. While the marker is
/// clean they are left alone; the next rebuild removes them (names only),
/// and neither step releases or blocks an address.
#[test]
fn a_leftover_spare_pool_is_never_an_allocation() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    let l = f.layout();
    let spare = l.legacy_spare_dir();
    fs::create_dir(&spare).unwrap();
    fs::write(spare.join("0"), "        ").unwrap();
    // A spare that was never blanked (a torn blank) and one sharing the
    // inode of a live address (an operator's hard link).
    fs::write(spare.join("1"), "b\r\neth0").unwrap();
    fs::hard_link(l.ip_file(ip("10.0.0.2")), spare.join("2")).unwrap();
    assert!(
        fs::read_to_string(l.clean_marker())
            .unwrap()
            .starts_with("dir ")
    );

    // Clean marker: the pool is left alone, and nothing it holds counts.
    assert_eq!(f.find(&a), [ip("10.0.0.2")]);
    assert!(f.find(&who("b", "eth0")).is_empty());
    assert!(spare.join("1").exists());
    let net = f.open();
    assert!(net.is_free(ip("10.0.0.3")).unwrap());
    assert_eq!(
        net.taken().unwrap().into_iter().collect::<Vec<_>>(),
        [ip("10.0.0.2")]
    );
    drop(net);

    // After a crash the rebuild removes the pool, never the address.
    fs::write(l.clean_marker(), "dirty\n").unwrap();
    f.open().commit().unwrap();
    assert!(fs::symlink_metadata(&spare).is_err(), "the pool is removed");
    assert_eq!(fs::read(l.ip_file(ip("10.0.0.2"))).unwrap(), b"a\r\neth0");
    assert_eq!(f.find(&a), [ip("10.0.0.2")]);
    assert!(f.find(&who("b", "eth0")).is_empty());
    assert_eq!(release(&f, &a), [ip("10.0.0.2")]);
}

/// A leftover pool that is a symlink (planted, or a restore's) is removed
/// as a name, never followed: pointing at the network's own directory, it
/// would otherwise delete every address file and the lock.
#[test]
fn a_symlinked_leftover_spare_pool_deletes_nothing() {
    let f = Fixture::new();
    let a = who("a", "eth0");
    f.reserve(&a, &["10.0.0.2"]);
    let l = f.layout();
    std::os::unix::fs::symlink("..", l.legacy_spare_dir()).unwrap();
    fs::write(l.clean_marker(), "dirty\n").unwrap();
    f.open().commit().unwrap();
    assert!(l.ip_file(ip("10.0.0.2")).is_file());
    assert!(l.lock().is_file());
    assert_eq!(f.find(&a), [ip("10.0.0.2")]);
}
