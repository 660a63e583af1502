//! The fast "holds nothing" answers (repeated DEL, DEL and CHECK of an
//! unknown container) and STATUS, against what they must never get wrong:
//! host-local writing into the same directory in the same clock tick,
//! legacy id-only files, and podlease's own hints vanishing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, conf};
use serde_json::json;

/// A ramfs mounted for one test, unmounted on drop. ramfs keeps coarse
/// (jiffy) timestamps even on kernels with fine-grained ones elsewhere, as
/// every file system had before Linux 6.13.
struct Ramfs(PathBuf);

impl Ramfs {
    fn mount(path: &Path) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let st = Command::new("mount")
            .args(["-t", "ramfs", "podlease-lookup"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t ramfs {}", path.display());
        Self(path.to_owned())
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// The address files of a network directory: name → content.
fn ip_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<std::net::IpAddr>().is_ok() {
            let bytes = std::fs::read(e.path()).unwrap();
            out.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    out
}

/// Holds the network's lock with flock(1) until dropped (its stdin closed).
struct LockHolder(std::process::Child);

impl LockHolder {
    fn take(lock: &Path) -> Self {
        let mut child = Command::new("flock")
            .arg(lock)
            .args(["sh", "-c", "echo locked; exec cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("flock(1)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Self(child)
    }

    fn release(mut self) {
        drop(self.0.stdin.take());
        self.0.wait().unwrap();
    }
}

/// The (mtime, ctime) pair of a directory, in nanoseconds.
fn dir_times(dir: &Path) -> (i128, i128) {
    let m = std::fs::metadata(dir).unwrap();
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    (ns(m.mtime(), m.mtime_nsec()), ns(m.ctime(), m.ctime_nsec()))
}

/// The runtime's call pattern on a file system with coarse timestamps, with
/// host-local on the same directory: podlease's DEL and host-local's ADD
/// queue on the lock and run back to back, so host-local's write often lands
/// in the same clock tick as podlease's commit (an mtime-only stamp then
/// still matches). The repeated DEL, and a DEL of a container podlease never
/// saw, must release nothing of host-local's; CHECK must find host-local's
/// allocation, and DEL must release it.
#[test]
fn repeated_del_after_host_local_add_in_the_same_tick() {
    if !common::require_root() {
        return;
    }
    let Some(host_local) = common::reference_plugin("host-local") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let _mount = Ramfs::mount(&data);
    let ipam = json!({ "ranges": [[{ "subnet": "10.41.0.0/16" }]] });
    let pl = conf("1.0.0", "same-tick", "podlease", ipam.clone(), &data);
    let hl = conf("1.0.0", "same-tick", "host-local", ipam, &data);
    let dir = data.join("same-tick");
    let podlease = common::podlease();
    Call::new("ADD", &pl).id("seed").run(&podlease).success();
    let mut same_tick = 0;
    let mut failures = Vec::new();
    for round in 0..30 {
        let (p, h) = (format!("p{round}"), format!("h{round}"));
        Call::new("ADD", &pl).id(&p).run(&podlease).success();
        // podlease's DEL first in the queue, host-local's ADD right behind it.
        let holder = LockHolder::take(&dir.join("lock"));
        let jobs = [
            (&podlease, Call::new("DEL", &pl).id(&p)),
            (&host_local, Call::new("ADD", &hl).id(&h)),
        ];
        let mut children: Vec<_> = jobs
            .iter()
            .map(|(bin, call)| {
                let mut c = call.command(bin).spawn().unwrap();
                c.stdin.take().unwrap().write_all(&call.stdin).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(15));
                c
            })
            .collect();
        holder.release();
        for c in children.drain(..) {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        // Informative only: host-local wrote in the tick of podlease's commit.
        let (m, c) = dir_times(&dir);
        let marker = std::fs::read_to_string(dir.join(".podlease/clean")).unwrap_or_default();
        let recorded_ctime: Option<i128> = marker.lines().next().and_then(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some(f.get(4)?.parse::<i128>().ok()? * 1_000_000_000 + f.get(5)?.parse::<i128>().ok()?)
        });
        if m == c && recorded_ctime == Some(c) {
            same_tick += 1;
        }
        let hl_files = |files: &BTreeMap<String, String>| {
            files
                .values()
                .filter(|v| v.starts_with(&format!("{h}\r\n")))
                .count()
        };
        // The runtime's second DEL, and a DEL of a container never seen.
        Call::new("DEL", &pl).id(&p).run(&podlease).success_empty();
        Call::new("DEL", &pl)
            .id(&format!("u{round}"))
            .run(&podlease)
            .success_empty();
        if hl_files(&ip_files(&dir)) != 1 {
            failures.push(format!("round {round}: a DEL released host-local's {h}"));
            continue;
        }
        // CHECK finds host-local's allocation; DEL releases it.
        let check = Call::new("CHECK", &pl).id(&h).run(&podlease);
        if !check.ok() {
            failures.push(format!("round {round}: CHECK {h}: {}", check.stdout));
        }
        Call::new("DEL", &pl).id(&h).run(&podlease).success_empty();
        if hl_files(&ip_files(&dir)) != 0 {
            failures.push(format!("round {round}: DEL left host-local's {h}"));
        }
    }
    eprintln!("30 rounds; host-local wrote in the tick of podlease's commit in {same_tick}");
    assert!(failures.is_empty(), "{failures:#?}");
    // Only the seed is left.
    assert_eq!(ip_files(&dir).len(), 1, "{:?}", ip_files(&dir));
}

/// A container that holds exact files and a legacy id-only file (written by
/// host-local before 2018, kept through a migration): host-local's DEL
/// releases once per range set, so with two range sets both kinds go, with
/// one the legacy file stays (another interface of the container may hold
/// it). podlease does the same (issue 12, item 2).
#[test]
fn del_releases_legacy_files_as_host_local_does() {
    let Some(host_local) = common::reference_plugin("host-local") else {
        return;
    };
    let dual =
        json!({ "ranges": [[{ "subnet": "10.42.0.0/24" }], [{ "subnet": "fd00:42::/64" }]] });
    let single = json!({ "ranges": [[{ "subnet": "10.42.0.0/24" }]] });
    for (ipam, sets) in [(dual, 2), (single, 1)] {
        let mut left = BTreeMap::new();
        for (plugin, bin) in [
            ("host-local", host_local.clone()),
            ("podlease", common::podlease()),
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let c = conf("1.0.0", "legacy", plugin, ipam.clone(), tmp.path());
            Call::new("ADD", &c).id("ctr").run(&bin).success();
            let dir = tmp.path().join("legacy");
            std::fs::write(dir.join("10.42.0.77"), "ctr").unwrap();
            Call::new("DEL", &c).id("ctr").run(&bin).success_empty();
            left.insert(plugin, ip_files(&dir));
        }
        let legacy_left = if sets == 1 {
            BTreeMap::from([("10.42.0.77".to_owned(), "ctr".to_owned())])
        } else {
            BTreeMap::new()
        };
        assert_eq!(
            left["host-local"], legacy_left,
            "host-local, {sets} range set(s)"
        );
        assert_eq!(
            left["podlease"], legacy_left,
            "podlease, {sets} range set(s)"
        );
    }
}

/// Every inode under a directory, by path.
fn inodes(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), m.ino());
        }
    }
    out
}

/// STATUS creates and removes no file (runtimes may call it often), and
/// keeps working when anything under `.podlease/` vanishes (issue 11, item 7:
/// after `rm -r .podlease/tmp` it answered 50 forever).
#[test]
fn status_writes_no_file_and_survives_vanished_hints() {
    let tmp = tempfile::tempdir().unwrap();
    let c = conf(
        "1.1.0",
        "status",
        "podlease",
        json!({ "ranges": [[{ "subnet": "10.43.0.0/24" }]] }),
        tmp.path(),
    );
    let bin = common::podlease();
    Call::new("ADD", &c).id("a").run(&bin).success();
    Call::new("STATUS", &c).run(&bin).success_empty();
    let dir = tmp.path().join("status");
    let before = (inodes(&dir), common::tree(&dir), dir_times(&dir));
    for _ in 0..3 {
        Call::new("STATUS", &c).run(&bin).success_empty();
    }
    assert!(
        before == (inodes(&dir), common::tree(&dir), dir_times(&dir)),
        "STATUS changed the state directory"
    );
    for gone in ["tmp", "index", "spare", ""] {
        let p = dir.join(".podlease").join(gone);
        if p.exists() {
            // What the operator types.
            assert!(
                Command::new("rm")
                    .arg("-r")
                    .arg(&p)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        Call::new("STATUS", &c).run(&bin).success_empty();
        Call::new("STATUS", &c).run(&bin).success_empty();
        let r = Call::new("CHECK", &c).id("a").run(&bin);
        assert!(r.ok(), "after rm -r .podlease/{gone}: CHECK {:?}", r.json());
    }
    // A full range set is still reported.
    let full = conf(
        "1.1.0",
        "full",
        "podlease",
        json!({ "ranges": [[{ "subnet": "10.44.0.0/30" }]] }),
        tmp.path(),
    );
    Call::new("ADD", &full).id("x").run(&bin).success();
    let err = Call::new("STATUS", &full).run(&bin).error(50);
    assert!(err.contains("no free address"), "{err}");
}
