//! Reclaim after reboot. A boot is simulated as root: each call runs in a
//! private mount namespace with files of ours bind-mounted over the kernel's
//! boot id, `/proc/stat` (`btime`) and `/run` (a directory made at the
//! simulated boot, whose birth time is the boot's reference), see
//! `common::FakeBoot`. host-local's files get their mtimes from
//! `File::set_modified`, as if written at that instant.
//!
//! The rule under test (store/disk/recovery.rs): at the first operation of a
//! new boot id, every address file podlease recorded in an earlier boot is
//! released whatever its mtime; a file podlease never recorded (host-local's)
//! is released only if it names an attachment and its mtime is before both
//! btime minus `reclaimClockSlackSeconds` (default 3600) and the birth time of
//! `/run`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Call, FakeBoot, Reply, conf};
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
    fake: RefCell<FakeBoot>,
    name: String,
    ipam: Value,
}

impl Node {
    /// `None` (a visible SKIP) when not root.
    fn new(ipam: Value) -> Option<Self> {
        let tmp = tempfile::tempdir().unwrap();
        let fake = FakeBoot::new("boot-a", now() - 3600)?;
        Some(Self {
            data_dir: tmp.path().join("data"),
            fake: RefCell::new(fake),
            name: "rb".into(),
            ipam,
            _tmp: tmp,
        })
    }

    /// Simulates a boot: its id and its boot time (and a fresh /run).
    fn boot(&self, id: &str, btime: i64) {
        self.fake.borrow_mut().boot(id, btime);
    }

    fn set_btime(&self, btime: i64) {
        self.fake.borrow().set_btime(btime);
    }

    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }

    fn conf_with(&self, ipam: Value) -> Value {
        conf("1.1.0", &self.name, "podlease", ipam, &self.data_dir)
    }

    fn pl(&self, command: &str, id: &str) -> Reply {
        self.pl_with(command, id, self.ipam.clone())
    }

    fn pl_with(&self, command: &str, id: &str, ipam: Value) -> Reply {
        let c = self.conf_with(ipam);
        self.fake
            .borrow()
            .run(&Call::new(command, &c).id(id), &common::podlease())
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
    let mut before = Vec::new();
    for id in ["p1", "p2", "keep-me-not"] {
        before.extend(node.pl("ADD", id).addresses());
    }
    assert_eq!(node.holders().len(), 3);
    node.boot("boot-b", now() + 5);
    let r = node.pl(op, "p1");
    // Every automatic release is one line on stderr naming the address
    // and the reason.
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), before.len(), "{op}: {}", r.stderr);
    for ip in &before {
        assert!(
            lines.iter().any(|l| l.contains(&format!("released {ip} "))
                && l.contains("reboot reclaim")
                && l.contains("boot boot-a")),
            "{op}: no release line for {ip}: {}",
            r.stderr
        );
    }
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(fresh) = Node::new(dual()) else {
        return;
    };
    fresh.boot("boot-x", now() - 10);
    fresh.hl_add("future", now() + 86_400).unwrap();
    fresh.pl("ADD", "pl").success();
    assert!(fresh.holds("future"));
}

/// (4c) The clock stepped forward within a boot (btime moves past the
/// allocations' mtimes): nothing of the current boot is released.
#[test]
fn clock_stepped_forward_keeps_current_boot() {
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(node) = Node::new(ipam) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
    let Some(node) = Node::new(json!({ "ranges": [[{ "subnet": "10.71.0.0/29" }]] })) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
    node.pl("ADD", "p1").success();
    node.fake.borrow().lose_boot_id();
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
    let Some(node) = Node::new(ipam) else {
        return;
    };
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
    let Some(node) = Node::new(dual()) else {
        return;
    };
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
fn clock_stepped_forward_beyond_slack_keeps_host_local_allocation_of_this_boot() {
    step_forward_keeps_host_local_allocation_of_this_boot(7200);
}

/// Issue 11, item 1: the boot is recorded even while `reclaimOnReboot` is
/// off. Boot A: ADD c0. Boot B: ADD c1, c2 with reclaim off. Still boot B,
/// reclaim back on: c1 and c2 are of this boot and stay held; the next
/// pods get other addresses.
#[test]
fn reclaim_off_then_on_in_the_same_boot_keeps_this_boots_allocations() {
    let Some(node) = Node::new(json!({ "ranges": [[{ "subnet": "10.72.0.0/29" }]] })) else {
        return;
    };
    let off = json!({ "ranges": [[{ "subnet": "10.72.0.0/29" }]], "reclaimOnReboot": false });
    node.pl("ADD", "c0").success();
    node.boot("boot-b", now() - 60);
    let c1 = node.pl_with("ADD", "c1", off.clone()).addresses();
    let c2 = node.pl_with("ADD", "c2", off).addresses();
    let r = node.pl("ADD", "c3");
    let c3 = r.addresses();
    assert!(
        !r.stderr.contains("released"),
        "nothing of boot B may be released: {}",
        r.stderr
    );
    node.pl("CHECK", "c1").success_empty();
    node.pl("CHECK", "c2").success_empty();
    assert!(node.holds("c1") && node.holds("c2"), "{:?}", node.holders());
    assert!(
        !c3.iter().any(|a| c1.contains(a) || c2.contains(a)),
        "{c3:?}"
    );
    // c0 (boot A) was adopted when boot B was first seen with reclaim off:
    // kept, for GC to collect.
    assert!(node.holds("c0"));
}

/// Issue 11, item 4: an empty file an operator touched (host-local's way to
/// keep an address out of use) is not released by reboot reclaim, however
/// old: it names no attachment, so nothing proves it dead.
#[test]
fn reclaim_keeps_files_that_name_no_attachment() {
    let Some(node) = Node::new(json!({ "ranges": [[{ "subnet": "10.73.0.0/29" }]] })) else {
        return;
    };
    node.pl("ADD", "p0").success();
    std::fs::create_dir_all(node.dir()).unwrap();
    std::fs::write(node.dir().join("10.73.0.5"), "").unwrap();
    std::fs::write(node.dir().join("10.73.0.6"), "reserved by ops\n").unwrap();
    for f in ["10.73.0.5", "10.73.0.6"] {
        set_mtime(&node.dir().join(f), now() - 30 * 86_400);
    }
    node.boot("boot-b", now() - 10);
    let mut got = Vec::new();
    for i in 0..4 {
        let r = node.pl("ADD", &format!("n{i}"));
        if r.ok() {
            got.extend(r.addresses());
        } else {
            r.error(100);
        }
    }
    got.sort();
    assert_eq!(got, ["10.73.0.2", "10.73.0.3", "10.73.0.4"]);
    assert!(node.dir().join("10.73.0.5").exists());
    assert!(node.dir().join("10.73.0.6").exists());
}

/// Issue 11, item 7: `.podlease/` may vanish at any moment. Removed in the
/// middle of a boot whose clock was stepped forward by two hours, it takes
/// the boot record and the index with it: the next operation judges every
/// file by its mtime, and this boot's allocations (podlease's and
/// host-local's) must all survive, because `/run` was born before them.
#[test]
fn podlease_dir_removed_after_a_clock_step_loses_nothing() {
    let Some(node) = Node::new(dual()) else {
        return;
    };
    node.boot("boot-b", now() - 10);
    let p1 = node.pl("ADD", "p1").addresses();
    if node.hl_add("h1", now()).is_none() {
        return;
    }
    node.set_btime(now() + 7200 - 10);
    let st = std::process::Command::new("rm")
        .arg("-rf")
        .arg(node.dir().join(".podlease"))
        .status()
        .unwrap();
    assert!(st.success());
    let r = node.pl("ADD", "p2");
    let p2 = r.addresses();
    assert!(!r.stderr.contains("released"), "{}", r.stderr);
    assert!(!p2.iter().any(|a| p1.contains(a)), "{p1:?} {p2:?}");
    node.pl("CHECK", "p1").success_empty();
    node.pl("CHECK", "h1").success_empty();
    assert_eq!(node.holders().len(), 3, "{:?}", node.holders());
}

/// Issue 11, item 2: inspection never runs recovery. After a reboot, before
/// any CNI operation, `podlease list` (here without the network's config,
/// as for a k3s config directory or a Multus attachment) reports which
/// addresses the next operation's reboot reclaim would release, and
/// releases nothing: not even the earlier boot's, and never this boot's.
#[test]
fn list_after_a_reboot_reports_and_releases_nothing() {
    let Some(node) = Node::new(dual()) else {
        return;
    };
    node.pl("ADD", "p1").success();
    // Boot B, and a pod added with reclaim off (the CLI will not find this
    // config): the old code did not record boot B then, and `list`, with
    // the CLI's default reclaim, released p2, a live pod of this boot.
    node.boot("boot-b", now() - 10);
    let off = json!({ "ranges": dual()["ranges"].clone(), "reclaimOnReboot": false });
    node.pl_with("ADD", "p2", off).success();
    let before = common::tree(&node.data_dir);
    let data = node.data_dir.to_str().unwrap().to_owned();
    for args in [
        vec!["list", "--json"],
        vec!["usage"],
        vec!["show", "p1"],
        vec!["metrics"],
    ] {
        let mut full: Vec<&str> = args.clone();
        full.extend(["--data-dir", &data, "--conf-dir", "/nonexistent"]);
        let r = node.fake.borrow().cli(&full);
        assert_eq!(r.status, Some(0), "{args:?}: {r:?}");
        assert_eq!(common::tree(&node.data_dir), before, "{args:?} wrote");
    }
    assert!(node.holds("p1") && node.holds("p2"));
    // A boot not yet settled: p1's files are reported as pending.
    node.boot("boot-c", now() - 5);
    let r = node.fake.borrow().cli(&[
        "list",
        "--json",
        "--data-dir",
        &data,
        "--conf-dir",
        "/nonexistent",
    ]);
    assert_eq!(r.status, Some(0), "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let pending: Vec<&str> = v["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["pending_release"] == "reboot-reclaim")
        .map(|a| a["container_id"].as_str().unwrap())
        .collect();
    assert_eq!(pending.len(), 4, "{}", r.stdout);
    assert!(
        v["allocations"][0]["pending_reason"]
            .as_str()
            .unwrap()
            .contains("if reclaimOnReboot is on"),
        "{}",
        r.stdout
    );
    assert_eq!(node.holders().len(), 2, "list released something");
}
