//! Reclaim after reboot, with the boot signals injected:
//! `PODLEASE_BOOT_ID_FILE` (the boot id) and `PODLEASE_PROC_STAT` (a file
//! with `btime <secs>`). host-local's files get their mtimes from
//! `File::set_modified`, as if written at that instant.
//!
//! The rule under test (store/disk.rs, `reclaim_earlier_boots`): at the first
//! operation of a new boot id, every address file podlease recorded in an
//! earlier boot is released whatever its mtime; a file podlease never
//! recorded (host-local's) is released only if its mtime is before btime by
//! more than `reclaimClockSlackSeconds` (default 3600).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Call, Reply, conf};
use serde_json::{Value, json};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn set_mtime(path: &Path, secs: i64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs as u64))
        .unwrap();
}

/// A node whose boot we control.
struct Node {
    _tmp: tempfile::TempDir,
    data_dir: PathBuf,
    boot_id: PathBuf,
    stat: PathBuf,
    name: String,
    ipam: Value,
}

impl Node {
    fn new(ipam: Value) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let n = Self {
            data_dir: tmp.path().join("data"),
            boot_id: tmp.path().join("boot_id"),
            stat: tmp.path().join("stat"),
            name: "rb".into(),
            ipam,
            _tmp: tmp,
        };
        n.boot("boot-a", now() - 3600);
        n
    }

    /// Simulates a boot: its id and its boot time.
    fn boot(&self, id: &str, btime: i64) {
        std::fs::write(&self.boot_id, format!("{id}\n")).unwrap();
        self.set_btime(btime);
    }

    fn set_btime(&self, btime: i64) {
        std::fs::write(
            &self.stat,
            format!("cpu  1 2 3 4\nintr 5\nctxt 6\nbtime {btime}\nprocesses 7\n"),
        )
        .unwrap();
    }

    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }

    fn pl(&self, command: &str, id: &str) -> Reply {
        let c = conf(
            "1.0.0",
            &self.name,
            "podlease",
            self.ipam.clone(),
            &self.data_dir,
        );
        Call::new(command, &c)
            .id(id)
            .env("PODLEASE_BOOT_ID_FILE", self.boot_id.to_str().unwrap())
            .env("PODLEASE_PROC_STAT", self.stat.to_str().unwrap())
            .run(&common::podlease())
    }

    /// host-local ADD; `None` when host-local is not installed (test skipped).
    fn hl_add(&self, id: &str, mtime: i64) -> Option<()> {
        let bin = common::reference_plugin("host-local")?;
        let c = conf(
            "1.0.0",
            &self.name,
            "host-local",
            self.ipam.clone(),
            &self.data_dir,
        );
        let r = Call::new("ADD", &c).id(id).run(&bin);
        assert!(r.ok(), "host-local ADD {id}: {r:?}");
        for ip in r.addresses() {
            set_mtime(&self.dir().join(ip), mtime);
        }
        Some(())
    }

    /// Container id → number of address files it holds.
    fn holders(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(self.dir()).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .parse::<std::net::IpAddr>()
                .is_ok()
            {
                let text = std::fs::read_to_string(e.path()).unwrap();
                let id = text.split("\r\n").next().unwrap().to_owned();
                *out.entry(id).or_default() += 1;
            }
        }
        out
    }

    fn holds(&self, id: &str) -> bool {
        self.holders().contains_key(id)
    }
}

fn dual() -> Value {
    json!({ "ranges": [[{ "subnet": "10.70.0.0/24" }], [{ "subnet": "fd00:70::/64" }]] })
}

/// (1) The allocations of the previous boot are gone after the first
/// operation of the new boot, whichever operation it is.
fn first_op_of_new_boot_releases(op: &str) {
    let node = Node::new(dual());
    node.pl("ADD", "p1").success();
    node.pl("ADD", "p2").success();
    node.pl("ADD", "keep-me-not").success();
    assert_eq!(node.holders().len(), 3);
    node.boot("boot-b", now() + 5);
    let r = node.pl(op, "p1");
    match op {
        "ADD" => assert_eq!(r.addresses().len(), 2),
        "DEL" => r.success_empty(),
        _ => {
            r.error(3);
        }
    }
    let held = node.holders();
    assert!(
        !held.contains_key("p2") && !held.contains_key("keep-me-not"),
        "{op}: {held:?}"
    );
    if op == "ADD" {
        assert_eq!(
            held,
            BTreeMap::from([("p1".to_owned(), 2)]),
            "the new ADD holds its own addresses"
        );
    } else {
        assert!(held.is_empty(), "{op}: {held:?}");
    }
}

#[test]
fn new_boot_first_add_releases_previous_boot() {
    first_op_of_new_boot_releases("ADD");
}

#[test]
fn new_boot_first_del_releases_previous_boot() {
    first_op_of_new_boot_releases("DEL");
}

#[test]
fn new_boot_first_check_releases_previous_boot() {
    first_op_of_new_boot_releases("CHECK");
}

/// (2) What is allocated in the current boot stays: podlease's, and
/// host-local's written after the boot (before or after podlease's first
/// operation of the boot).
#[test]
fn current_boot_allocations_are_kept() {
    let node = Node::new(dual());
    let btime_a = now() - 10 * 3600;
    node.boot("boot-a", btime_a);
    node.pl("ADD", "a-pl").success();
    if node.hl_add("a-hl", btime_a + 100).is_none() {
        return;
    }
    // Not seen by podlease in boot A: released by the mtime rule.
    let btime_b = now() + 5;
    node.boot("boot-b", btime_b);
    node.hl_add("b-hl-early", btime_b + 2).unwrap();
    node.pl("ADD", "b-pl").success();
    let held = node.holders();
    assert!(
        !held.contains_key("a-pl") && !held.contains_key("a-hl"),
        "{held:?}"
    );
    assert!(
        held.contains_key("b-hl-early") && held.contains_key("b-pl"),
        "{held:?}"
    );

    node.hl_add("b-hl-late", btime_b + 3).unwrap();
    node.pl("ADD", "b-pl2").success();
    node.pl("CHECK", "b-pl").success_empty();
    node.pl("CHECK", "b-hl-early").success_empty();
    node.pl("CHECK", "b-hl-late").success_empty();
    let held = node.holders();
    for id in ["b-hl-early", "b-pl", "b-hl-late", "b-pl2"] {
        assert_eq!(held.get(id), Some(&2), "{id}: {held:?}");
    }
    assert_eq!(held.len(), 4, "{held:?}");
}

/// (3) Migration: a dataDir only host-local wrote (no `.podlease/`): files
/// older than the boot (by more than the slack) go at podlease's first
/// operation; newer ones, and ones within the slack, stay.
#[test]
fn migration_from_host_local_uses_boot_time() {
    let node = Node::new(dual());
    let btime = now() - 600;
    node.boot("boot-m", btime);
    if node.hl_add("old-1", btime - 86_400).is_none() {
        return;
    }
    node.hl_add("old-2", btime - 3601).unwrap();
    node.hl_add("slack", btime - 3599).unwrap();
    node.hl_add("new-1", btime + 1).unwrap();
    node.hl_add("new-2", now()).unwrap();
    assert!(!node.dir().join(".podlease").exists());
    node.pl("ADD", "pl").success();
    let held = node.holders();
    assert_eq!(
        held.keys().map(String::as_str).collect::<Vec<_>>(),
        ["new-1", "new-2", "pl", "slack"],
        "{held:?}"
    );
    node.pl("CHECK", "old-1").error(3);
    node.pl("CHECK", "new-1").success_empty();
    node.pl("DEL", "new-1").success_empty();
    assert!(!node.holds("new-1"));
}

/// (4a) A podlease allocation of the previous boot whose mtime is in the
/// future (the clock was ahead then) is still released: the boot id decides.
#[test]
fn previous_boot_allocation_with_future_mtime_is_released() {
    let node = Node::new(dual());
    let r = node.pl("ADD", "ahead").success();
    let ips = common::addresses_of(&r);
    let future = now() + 86_400;
    for ip in &ips {
        set_mtime(&node.dir().join(ip), future);
    }
    // The index is rebuilt within boot A, so it records the file as it is on
    // disk: as if it had been written while the clock was a day ahead.
    std::fs::remove_file(node.dir().join(".podlease/clean")).unwrap();
    node.pl("CHECK", "ahead").success_empty();
    assert!(node.holds("ahead"));
    node.boot("boot-b", now() + 5);
    node.pl("ADD", "after").success();
    assert!(!node.holds("ahead"), "{:?}", node.holders());
}

/// (4b) A host-local file with an mtime in the future, written in this boot
/// before podlease ran, is kept.
#[test]
fn host_local_file_with_future_mtime_is_kept() {
    let node = Node::new(dual());
    node.pl("ADD", "a-pl").success();
    node.boot("boot-b", now() - 10);
    if node.hl_add("future", now() + 86_400).is_none() {
        return;
    }
    node.pl("ADD", "b-pl").success();
    let held = node.holders();
    assert!(
        held.contains_key("future") && !held.contains_key("a-pl"),
        "{held:?}"
    );
    // Also on migration (no .podlease yet).
    let fresh = Node::new(dual());
    fresh.boot("boot-x", now() - 10);
    fresh.hl_add("future", now() + 86_400).unwrap();
    fresh.pl("ADD", "pl").success();
    assert!(fresh.holds("future"));
}

/// (4c) The clock stepped forward within a boot (btime moves past the
/// allocations' mtimes): nothing of the current boot is released.
#[test]
fn clock_stepped_forward_keeps_current_boot() {
    let node = Node::new(dual());
    node.pl("ADD", "p1").success();
    if node.hl_add("h1", now()).is_none() {
        return;
    }
    node.pl("ADD", "p2").success();
    node.set_btime(now() + 3600);
    node.pl("ADD", "p3").success();
    node.pl("CHECK", "p1").success_empty();
    node.pl("CHECK", "h1").success_empty();
    let held = node.holders();
    assert_eq!(held.len(), 4, "{held:?}");
}

/// (5) `reclaimOnReboot: false` keeps everything across a boot.
#[test]
fn reclaim_can_be_disabled() {
    let mut ipam = dual();
    ipam["reclaimOnReboot"] = json!(false);
    let node = Node::new(ipam);
    node.pl("ADD", "p1").success();
    if node.hl_add("h-old", now() - 7200).is_none() {
        return;
    }
    node.boot("boot-b", now() + 5);
    node.pl("ADD", "p2").success();
    node.pl("CHECK", "p1").success_empty();
    node.pl("DEL", "nobody").success_empty();
    let held = node.holders();
    assert_eq!(
        held.keys().map(String::as_str).collect::<Vec<_>>(),
        ["h-old", "p1", "p2"],
        "{held:?}"
    );
}

/// (6) The same boot id again releases nothing, even files older than btime
/// that host-local wrote after podlease's first operation of the boot.
#[test]
fn same_boot_id_releases_nothing() {
    let node = Node::new(dual());
    let btime = now() - 600;
    node.boot("boot-a", btime);
    node.pl("ADD", "p1").success();
    if node.hl_add("h-odd", btime - 50).is_none() {
        return;
    }
    for (i, bt) in [btime, btime + 10_000, btime - 10_000]
        .into_iter()
        .enumerate()
    {
        node.boot("boot-a", bt);
        node.pl("ADD", &format!("n{i}")).success();
        node.pl("CHECK", "p1").success_empty();
        node.pl("DEL", "nobody").success_empty();
    }
    let held = node.holders();
    assert_eq!(held.len(), 5, "{held:?}");
}

/// (7) After reclaim the addresses are handed out again, and CHECK of a
/// released container is code 3 (DEL of it succeeds).
#[test]
fn reclaimed_pool_is_usable_again() {
    let node = Node::new(json!({ "ranges": [[{ "subnet": "10.71.0.0/29" }]] }));
    for i in 0..5 {
        node.pl("ADD", &format!("a{i}")).success();
    }
    assert!(node.pl("ADD", "a5").error(100).contains("no free address"));
    node.boot("boot-b", now() + 5);
    node.pl("CHECK", "a0").error(3);
    node.pl("DEL", "a1").success_empty();
    let mut got = Vec::new();
    for i in 0..5 {
        got.extend(node.pl("ADD", &format!("b{i}")).addresses());
    }
    got.sort();
    assert_eq!(
        got,
        [
            "10.71.0.2",
            "10.71.0.3",
            "10.71.0.4",
            "10.71.0.5",
            "10.71.0.6"
        ]
    );
    node.pl("ADD", "b5").error(100);
    assert_eq!(node.holders().len(), 5);
}

/// Without a readable boot id nothing can be proven old: nothing is released.
#[test]
fn unreadable_boot_id_releases_nothing() {
    let node = Node::new(dual());
    node.pl("ADD", "p1").success();
    std::fs::remove_file(&node.boot_id).unwrap();
    node.set_btime(now() + 3600);
    node.pl("ADD", "p2").success();
    assert!(node.holds("p1") && node.holds("p2"));
}

/// `reclaimClockSlackSeconds: 0`: a host-local file one second older than
/// the boot is released.
#[test]
fn migration_with_zero_slack() {
    let mut ipam = dual();
    ipam["reclaimClockSlackSeconds"] = json!(0);
    let node = Node::new(ipam);
    let btime = now() - 600;
    node.boot("boot-m", btime);
    if node.hl_add("old", btime - 1).is_none() {
        return;
    }
    node.hl_add("new", btime + 1).unwrap();
    node.pl("ADD", "pl").success();
    let held = node.holders();
    assert_eq!(
        held.keys().map(String::as_str).collect::<Vec<_>>(),
        ["new", "pl"],
        "{held:?}"
    );
}

/// The clock is stepped forward early in a boot (NTP after an RTC that was
/// behind): /proc/stat's btime is derived from the current clock, so it moves
/// past the mtimes of files written before the step. A host-local
/// allocation of this boot, written before podlease's first operation of the
/// boot, is kept (design invariant 3).
fn step_forward_keeps_host_local_allocation_of_this_boot(step: i64) {
    let node = Node::new(dual());
    node.pl("ADD", "a-pl").success();
    node.boot("boot-b", now() - 10);
    if node.hl_add("b-hl", now()).is_none() {
        return;
    }
    node.set_btime(now() + step - 10);
    node.pl("ADD", "b-pl").success();
    let held = node.holders();
    assert!(!held.contains_key("a-pl"), "{held:?}");
    assert!(
        held.contains_key("b-hl"),
        "a live allocation of this boot was released: {held:?}"
    );
}

/// (4d) A step within `reclaimClockSlackSeconds` (30 minutes < 1 hour).
#[test]
fn clock_stepped_forward_within_slack_keeps_host_local_allocation_of_this_boot() {
    step_forward_keeps_host_local_allocation_of_this_boot(1800);
}

/// (4e) A step larger than the slack (2 hours): the mtime rule cannot tell
/// this boot's host-local file from an old one. Documented in the README as
/// the rule's limit; a boot-time reference in the same clock as the files
/// (for example the birth time of a tmpfs mounted at boot, such as /run)
/// would not move with later steps.
#[test]
#[ignore = "podlease limitation: a host-local allocation of this boot is released when the clock steps forward by more than reclaimClockSlackSeconds before podlease's first op"]
fn clock_stepped_forward_beyond_slack_keeps_host_local_allocation_of_this_boot() {
    step_forward_keeps_host_local_allocation_of_this_boot(7200);
}
