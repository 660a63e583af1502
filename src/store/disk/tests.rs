use super::*;

use std::time::{Duration, SystemTime};

fn opts() -> StoreOptions {
    // No boot id: no reclaim, so these tests are about the index alone.
    StoreOptions {
        reclaim_on_reboot: false,
        lock_timeout: Duration::from_secs(10),
        boot: BootSource {
            boot_id_path: "/nonexistent/boot_id".into(),
            proc_stat_path: "/nonexistent/stat".into(),
        },
        foreign_clock_slack_secs: DEFAULT_FOREIGN_CLOCK_SLACK_SECS,
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
        LockedNetwork::open(&self.data, &self.net, &opts()).unwrap()
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
        net.finish(&owner, Some("ns/pod".into())).unwrap();
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
        let text = fs::read_to_string(self.layout().index_entry(w)?).ok()?;
        IndexEntry::parse(&text)
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
    fs::remove_file(l.index_entry(&a).unwrap()).unwrap();
    let bogus = who("b", "eth0");
    fs::write(
        l.index_entry(&bogus).unwrap(),
        IndexEntry {
            ips: vec![],
            pod: None,
        }
        .render(),
    )
    .unwrap();
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
        !l.index_entry(&bogus).unwrap().exists(),
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
/// by our unlock, creates its file in the same tick as our last change, and
/// the directory's (inode, mtime) is what the clean marker recorded.
/// Simulated by restoring the mtime. The index misses the file, but DEL
/// re-scans before saying "nothing held", and so does CHECK (ops::check).
/// (ADD's lookup does not re-scan: the README documents that window.)
#[test]
fn foreign_file_with_unchanged_dir_mtime_is_still_released() {
    let f = Fixture::new();
    f.reserve(&who("a", "eth0"), &["10.0.0.2"]);
    let dir = f.layout().dir;
    let mtime: SystemTime = fs::metadata(&dir).unwrap().modified().unwrap();
    f.foreign("10.0.0.9", "hl\r\neth1");
    File::open(&dir).unwrap().set_modified(mtime).unwrap();
    let h = who("hl", "eth1");
    let mut net = f.open();
    assert!(
        net.find(&h).unwrap().is_empty(),
        "the index alone cannot see it"
    );
    assert_eq!(
        net.release(&h).unwrap(),
        [ip("10.0.0.9")],
        "DEL misses host-local's allocation"
    );
    net.commit().unwrap();
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
    let idx = f
        .layout()
        .legacy_index_entry(&ContainerId::new("legacy").unwrap())
        .unwrap();
    assert!(idx.exists());
    // An exact match wins over legacy files (host-local's order).
    f.foreign("10.0.0.6", "legacy\r\neth0");
    assert_eq!(f.find(&who("legacy", "eth0")), [ip("10.0.0.6")]);
    assert_eq!(
        f.find(&who("legacy", "eth1")),
        [ip("10.0.0.5"), ip("fd00::5")]
    );
    // DEL of another ifname releases the legacy files, not the exact one.
    let mut net = f.open();
    let mut released = net.release(&who("legacy", "eth1")).unwrap();
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
    fs::write(l.index_entry(&a).unwrap(), stale.render()).unwrap();
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
    assert_eq!(net.release(&a).unwrap(), [ip("10.0.0.2")]);
    net.commit().unwrap();
    assert!(l.ip_file(ip("fd00::2")).exists() && l.ip_file(ip("10.0.0.3")).exists());
}

#[test]
fn owner_parsing() {
    let att = |id, ifname| Owner::Attachment(who(id, ifname));
    assert_eq!(Owner::parse("abc\r\neth0"), att("abc", "eth0"));
    assert_eq!(
        Owner::parse("  abc\r\neth0\n"),
        att("abc", "eth0"),
        "host-local trims the whole content"
    );
    assert_eq!(Owner::parse("abc\r\nné1"), att("abc", "né1"));
    assert_eq!(
        Owner::parse("abc"),
        Owner::Legacy(ContainerId::new("abc").unwrap())
    );
    assert_eq!(
        Owner::parse("abc\n"),
        Owner::Legacy(ContainerId::new("abc").unwrap())
    );
    assert_eq!(
        Owner::parse("abc\r\n"),
        Owner::Legacy(ContainerId::new("abc").unwrap()),
        "trimmed first, as host-local does"
    );
    assert_eq!(Owner::parse(""), Owner::Empty);
    assert_eq!(Owner::parse(" \r\n\t"), Owner::Empty);
    for garbage in [
        "abc\neth0",
        "\r\neth0 x",
        "x\r\n\r\neth0",
        "a/b\r\neth0",
        "abc\r\neth0\r\nx",
        "abc\r\neth 0",
        "-x",
        "a b",
        "abc\r\n1234567890123456",
    ] {
        assert!(
            matches!(Owner::parse(garbage), Owner::Unknown(_)),
            "{garbage:?}: {:?}",
            Owner::parse(garbage)
        );
    }
    let long = "x".repeat(1000);
    let Owner::Unknown(shown) = Owner::parse(&format!("{long} {long}")) else {
        panic!("not unknown")
    };
    assert!(shown.chars().count() <= 200, "shown content is bounded");

    let a = who("abc", "eth0");
    assert!(att("abc", "eth0").belongs_to(&a));
    assert!(!att("abc", "eth1").belongs_to(&a));
    assert!(Owner::Legacy(ContainerId::new("abc").unwrap()).belongs_to(&a));
    assert!(!Owner::Legacy(ContainerId::new("abcd").unwrap()).belongs_to(&a));
    assert!(!Owner::Empty.belongs_to(&a));
    assert!(!Owner::Unknown("abc\r\neth0".into()).belongs_to(&a));
}

#[test]
fn index_entry_round_trip() {
    let stamp = |ino, mtime, mtime_nsec| FileStamp {
        ino,
        mtime,
        mtime_nsec,
    };
    let entries = [
        IndexEntry::default(),
        IndexEntry {
            ips: vec![(ip("10.0.0.2"), stamp(12, 1_700_000_000, 999_999_999))],
            pod: None,
        },
        IndexEntry {
            ips: vec![
                (ip("10.0.0.2"), stamp(u64::MAX, i64::MAX, 0)),
                (ip("fd00::1:2"), stamp(0, -5, 1)),
                (ip("::ffff:1.2.3.4"), stamp(1, i64::MIN, 7)),
            ],
            pod: Some("kube-system/coredns-5d78c9869d-abcde".into()),
        },
        IndexEntry {
            ips: vec![],
            pod: Some(String::new()),
        },
        IndexEntry {
            ips: vec![(ip("::"), stamp(3, 4, 5))],
            pod: Some("ns/ä ö €".into()),
        },
    ];
    for e in entries {
        let text = e.render();
        assert!(text.starts_with("podlease-attachment 1\n"));
        assert_eq!(IndexEntry::parse(&text), Some(e.clone()), "{text:?}");
    }
    assert_eq!(IndexEntry::parse(""), None);
    assert_eq!(
        IndexEntry::parse("abc\r\neth0"),
        None,
        "an address file is never read as an entry"
    );
    assert_eq!(IndexEntry::parse("podlease-attachment 2\n"), None);
    assert_eq!(
        IndexEntry::parse("podlease-attachment 1\nip 10.0.0.2 1 2\n"),
        None
    );
    assert_eq!(
        IndexEntry::parse("podlease-attachment 1\nip nonsense 1 2 3\n"),
        None
    );
    assert_eq!(
        IndexEntry::parse("podlease-attachment 1\nip 10.0.0.2 x 2 3\n"),
        None
    );
}

/// A pod name is whatever `K8S_POD_NAME` says; a newline in it must not
/// inject index lines (an `ip` line would be read back as an address).
#[test]
fn index_entry_pod_with_newline() {
    let e = IndexEntry {
        ips: vec![],
        pod: Some("ns/x\nip 10.0.0.9 1 2 3".into()),
    };
    let back = IndexEntry::parse(&e.render()).unwrap();
    assert!(back.ips.is_empty(), "{back:?}");
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

#[test]
fn empty_address_file_is_removed_by_a_rebuild() {
    let f = Fixture::new();
    f.reserve(&who("a", "eth0"), &["10.0.0.2"]);
    f.foreign("10.0.0.3", "");
    let net = f.open();
    assert!(!net.taken().unwrap().contains(&ip("10.0.0.3")));
    net.commit().unwrap();
    assert!(!f.layout().ip_file(ip("10.0.0.3")).exists());
}
