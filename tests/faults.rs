//! Faults of the state directory and its surroundings: a full or read-only
//! file system (a tiny tmpfs of our own, root only), a dataDir that is a
//! file, a bad resolvConf, stale or foreign files (lock content, leftover
//! temporaries, empty and garbage address files, a deleted `.podlease/`), and
//! a lock held by another process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, Mount, Reply, conf};
use serde_json::{Value, json};

/// A network in a data dir.
struct Net {
    data_dir: PathBuf,
    name: String,
    ipam: Value,
}

impl Net {
    fn new(data_dir: &Path, ipam: Value) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            name: "flt".into(),
            ipam,
        }
    }
    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }
    fn conf(&self) -> Value {
        conf(
            "1.1.0",
            &self.name,
            "podlease",
            self.ipam.clone(),
            &self.data_dir,
        )
    }
    fn call(&self, command: &str, id: &str) -> Call {
        Call::new(command, &self.conf()).id(id)
    }
    fn run(&self, command: &str, id: &str) -> Reply {
        self.call(command, id).run(&common::podlease())
    }
    fn add(&self, id: &str) -> Vec<String> {
        self.run("ADD", id).addresses()
    }
    /// Address files: address → content.
    fn files(&self) -> BTreeMap<IpAddr, Vec<u8>> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(self.dir()).unwrap().flatten() {
            if let Ok(ip) = e.file_name().to_string_lossy().parse::<IpAddr>() {
                out.insert(ip, std::fs::read(e.path()).unwrap());
            }
        }
        out
    }
}

fn v4() -> Value {
    json!({ "ranges": [[{ "subnet": "10.80.0.0/24" }]] })
}

fn dual() -> Value {
    json!({ "ranges": [[{ "subnet": "10.81.0.0/24" }], [{ "subnet": "fd00:81::/64" }]] })
}

/// Writes a filler file until the file system is full.
fn fill(path: &Path) -> std::fs::File {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xA5u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("fill: {e}"),
        }
    }
    f
}

/// Runs ADD in a full state directory with 0 to 5 pages left, so that each
/// of ADD's writes in turn is the one that fails. Checks that a failure is
/// code 5 with a clear message, that earlier allocations are untouched, and
/// that DEL and ADD work once space is freed. Returns the ADDs that failed yet
/// left their reservation behind.
fn add_in_full_state_dir() -> Vec<String> {
    let mut outcomes = Vec::new();
    let mut violations = Vec::new();
    for pages_left in 0..6u64 {
        let m = Mount::scratch("size=512k,mode=0755");
        let mnt = m.path.clone();
        let net = Net::new(&mnt.join("data"), dual());
        net.add("p1");
        net.add("p2");
        let before = net.files();
        let filler_path = mnt.join("filler");
        let filler = fill(&filler_path);
        let len = filler.metadata().unwrap().len();
        filler
            .set_len(len.saturating_sub(pages_left * 4096))
            .unwrap();
        drop(filler);

        let r = net.run("ADD", "p3");
        let after = net.files();
        if r.ok() {
            outcomes.push(format!("{pages_left} pages: ADD succeeded"));
            assert_eq!(r.addresses().len(), 2);
        } else {
            let msg = r.error(5);
            outcomes.push(format!("{pages_left} pages: {msg}"));
            assert!(msg.contains("No space left on device"), "{msg}");
            if after != before {
                let kept: Vec<_> = after.keys().filter(|ip| !before.contains_key(ip)).collect();
                violations.push(format!(
                    "{pages_left} pages left: ADD failed ({msg}) but p3 holds {kept:?}"
                ));
            }
        }
        for (ip, content) in &before {
            assert_eq!(after.get(ip), Some(content), "{ip} changed");
        }
        // CHECK may need to rewrite the index (a failed ADD leaves it to be
        // rebuilt), so while full it either succeeds or says why.
        let check = net.run("CHECK", "p1");
        if !check.ok() {
            outcomes.push(format!(
                "{pages_left} pages: CHECK p1 while full: {}",
                check.error(5)
            ));
        }

        std::fs::remove_file(&filler_path).unwrap();
        net.run("DEL", "p1").success_empty();
        let p3 = net.add("p3");
        net.run("CHECK", "p3").success_empty();
        net.run("DEL", "p3").success_empty();
        net.run("DEL", "p2").success_empty();
        assert!(
            net.files().is_empty(),
            "{pages_left} pages: {:?} left after DEL of all (p3 had {p3:?})",
            net.files()
        );
    }
    eprintln!("full state dir: {outcomes:#?}");
    violations
}

/// A full state directory: ADD fails with code 5 naming the cause, holds
/// nothing afterwards, earlier allocations are intact, DEL works once space
/// is freed.
#[test]
fn full_state_dir() {
    if !common::require_root() {
        return;
    }
    let violations = add_in_full_state_dir();
    assert!(
        violations.is_empty(),
        "a failed ADD left its reservation: {violations:#?}"
    );
}

/// DEL in a full state directory (a node whose disk filled up must still be
/// able to tear pods down).
#[test]
fn del_in_full_state_dir() {
    if !common::require_root() {
        return;
    }
    let m = Mount::scratch("size=256k,mode=0755");
    let mnt = m.path.clone();
    let net = Net::new(&mnt.join("data"), dual());
    net.add("p1");
    net.add("p2");
    let _filler = fill(&mnt.join("filler"));
    net.run("DEL", "p1").success_empty();
    assert!(!net.files().values().any(|c| c.starts_with(b"p1\r\n")));
    net.run("CHECK", "p2").success_empty();
}

/// No free inode: ADD fails with code 5, nothing is lost.
#[test]
fn no_free_inode() {
    if !common::require_root() {
        return;
    }
    let m = Mount::scratch("size=4m,nr_inodes=64,mode=0755");
    let mnt = m.path.clone();
    let net = Net::new(&mnt.join("data"), dual());
    net.add("p1");
    let before = net.files();
    let mut fillers = Vec::new();
    for i in 0.. {
        let p = mnt.join(format!("f{i}"));
        match std::fs::File::create(&p) {
            Ok(_) => fillers.push(p),
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let msg = net.run("ADD", "p2").error(5);
    assert!(msg.contains("No space left on device"), "{msg}");
    assert_eq!(net.files(), before);
    for p in fillers.drain(..) {
        std::fs::remove_file(p).unwrap();
    }
    net.add("p2");
    net.run("DEL", "p1").success_empty();
    net.run("DEL", "p2").success_empty();
    assert!(net.files().is_empty());
}

/// A read-only state directory: ADD fails with code 5, STATUS reports 50,
/// nothing is lost, and everything works again once writable.
#[test]
fn read_only_state_dir() {
    if !common::require_root() {
        return;
    }
    let m = Mount::scratch("size=1m,mode=0755");
    let mnt = m.path.clone();
    let net = Net::new(&mnt.join("data"), dual());
    let p1 = net.add("p1");
    let before = net.files();
    m.remount("ro");
    let msg = net.run("ADD", "p2").error(5);
    assert!(msg.contains("Read-only file system"), "{msg}");
    let status = net.run("STATUS", "x").error(50);
    assert!(
        status.contains("Read-only file system") || status.contains("unusable"),
        "{status}"
    );
    let del = net.run("DEL", "p1");
    assert!(
        !del.ok(),
        "DEL cannot have released anything on a read-only fs: {del:?}"
    );
    del.error(5);
    assert_eq!(net.files(), before);
    m.remount("rw");
    net.run("CHECK", "p1").success_empty();
    net.run("STATUS", "x").success_empty();
    assert_eq!(net.add("p1"), p1, "a repeated ADD returns what is held");
    net.add("p2");
    net.run("DEL", "p1").success_empty();
    net.run("DEL", "p2").success_empty();
    assert!(net.files().is_empty());
}

/// `dataDir` is a regular file: code 5, naming the path.
#[test]
fn data_dir_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let net = Net::new(&file, v4());
    let msg = net.run("ADD", "p1").error(5);
    assert!(msg.contains(file.to_str().unwrap()), "{msg}");
    let status = net.run("STATUS", "x").error(50);
    assert!(status.contains(file.to_str().unwrap()), "{status}");
    // The network directory itself is a file.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("flt"), "x").unwrap();
    let net = Net::new(&data, v4());
    let msg = net.run("ADD", "p1").error(5);
    assert!(msg.contains(data.join("flt").to_str().unwrap()), "{msg}");
    assert_eq!(std::fs::read(data.join("flt")).unwrap(), b"x");
}

/// A missing or unreadable resolvConf: an error naming the path, and nothing
/// allocated.
#[test]
fn bad_resolv_conf() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (what, path) in [
        ("missing", tmp.path().join("nope.conf")),
        ("a directory", tmp.path().to_owned()),
    ] {
        let mut ipam = v4();
        ipam["resolvConf"] = json!(path);
        let net = Net::new(&data, ipam);
        let r = net.run("ADD", "p1");
        assert_eq!(r.status, Some(1), "{what}: {r:?}");
        let msg = r.json()["msg"].as_str().unwrap().to_owned();
        assert!(
            msg.contains(path.to_str().unwrap()) && msg.contains("resolvConf"),
            "{what}: {msg}"
        );
        if net.dir().exists() {
            assert!(net.files().is_empty(), "{what}");
        }
    }
}

/// The lock file's content does not matter (host-local leaves it empty; an
/// operator may write anything into it).
#[test]
fn stale_lock_file_content_is_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Net::new(&tmp.path().join("data"), v4());
    std::fs::create_dir_all(net.dir()).unwrap();
    std::fs::write(
        net.dir().join("lock"),
        "12345\nstale pid of a dead process\n\0\u{1}",
    )
    .unwrap();
    net.add("p1");
    net.run("CHECK", "p1").success_empty();
    net.run("DEL", "p1").success_empty();
}

/// Leftover temporaries of killed processes: the next ADD succeeds and no
/// address file is ever emptied or rewritten. An `owner` scratch file
/// hard-linked to an address file:
/// * with the clean marker gone (what a killed ADD leaves: ADD removes the
///   marker before writing `owner`, and removes `owner` before its result is
///   printed), it is a killed ADD that reported nothing: its reservation is
///   rolled back as a whole;
/// * with the marker present (no podlease process leaves that), the address
///   file keeps its content.
#[test]
fn leftover_temporaries() {
    for killed_add in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let net = Net::new(&tmp.path().join("data"), dual());
        let p1 = net.add("p1");
        let p0 = net.add("p0");
        let scratch = net.dir().join(".podlease/tmp");
        let owner = net.dir().join(".podlease/owner");
        let _ = std::fs::remove_file(&owner);
        std::fs::hard_link(net.dir().join(&p1[0]), &owner).unwrap();
        for (name, content) in [
            ("clean.new", "garbage"),
            ("replace", "10.81.0.200"),
            ("last_reserved_ip.0.new", "10.81.0.200"),
            ("p9:eth0.new", "podlease-attachment 1\nip 10.81.0.9 1 2 3\n"),
            ("status-probe", ""),
            ("random", "\u{0}\u{1}"),
        ] {
            std::fs::write(scratch.join(name), content).unwrap();
        }
        if killed_add {
            std::fs::remove_file(net.dir().join(".podlease/clean")).unwrap();
        }
        let before = net.files();
        let p2 = net.add("p2");
        assert!(
            p2.iter().all(|a| !p1.contains(a) && !p0.contains(a)),
            "{p1:?} {p0:?} {p2:?}"
        );
        let after = net.files();
        for (ip, content) in &before {
            let rolled_back = killed_add && p1.contains(&ip.to_string());
            match after.get(ip) {
                Some(now) => assert_eq!(now, content, "{ip} rewritten"),
                None => assert!(rolled_back, "{ip} lost"),
            }
        }
        net.run("CHECK", "p0").success_empty();
        net.run("CHECK", "p9").error(3);
        if killed_add {
            assert!(
                p1.iter().all(|a| !after.contains_key(&a.parse().unwrap())),
                "all of p1 or none: {after:?}"
            );
            net.run("CHECK", "p1").error(3);
        } else {
            assert_eq!(
                std::fs::read(net.dir().join(&p1[0])).unwrap(),
                b"p1\r\neth0"
            );
            net.run("CHECK", "p1").success_empty();
            assert_eq!(net.add("p1"), p1);
        }
        for id in ["p0", "p1", "p2"] {
            net.run("DEL", id).success_empty();
        }
        assert!(net.files().is_empty(), "{:?}", net.files());
    }
}

/// Issue 11, item 4: an empty address file is the host-local way to keep an
/// address out of use (`touch <dataDir>/<net>/<ip>`). It is never removed
/// automatically, neither by the index rebuild that a DEL of an unknown
/// container triggers nor by any later operation: the address is never
/// handed out. `podlease list` shows it as blocked; `podlease release`
/// removes it on request.
#[test]
fn empty_address_file_blocks_its_address() {
    let tmp = tempfile::tempdir().unwrap();
    // A /30: .2 is the only address.
    let data = tmp.path().join("data");
    let net = Net::new(&data, json!({ "ranges": [[{ "subnet": "10.82.0.0/30" }]] }));
    assert_eq!(net.add("p0"), ["10.82.0.2"]);
    net.run("DEL", "p0").success_empty();
    std::fs::write(net.dir().join("10.82.0.2"), "").unwrap();
    // DEL of an unknown container rebuilds the index (nothing found).
    net.run("DEL", "unknown").success_empty();
    net.run("CHECK", "nobody").error(3);
    net.run("STATUS", "x");
    for i in 0..3 {
        net.run("ADD", &format!("p{i}")).error(100);
    }
    assert_eq!(std::fs::read(net.dir().join("10.82.0.2")).unwrap(), b"");
    // Also when it appears while the index is clean.
    let cli = |args: &[&str]| {
        let out = Command::new(common::podlease())
            .env_clear()
            .args(args)
            .args(["--data-dir", data.to_str().unwrap(), "--conf-dir"])
            .arg(tmp.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = cli(&["list"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("10.82.0.2") && l.ends_with("blocked")),
        "{out}"
    );
    let (code, out) = cli(&["release", "10.82.0.2", "--network", "flt"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(net.add("p9"), ["10.82.0.2"]);
}

/// An address file with content that names no attachment stays taken (it is
/// never handed out) and does not disturb DEL of others.
#[test]
fn garbage_address_file_stays_taken() {
    let tmp = tempfile::tempdir().unwrap();
    // A /29: .2 to .6.
    let net = Net::new(
        &tmp.path().join("data"),
        json!({ "ranges": [[{ "subnet": "10.83.0.0/29" }]] }),
    );
    net.add("p0");
    net.run("DEL", "p0").success_empty();
    let garbage: [(&str, &[u8]); 3] = [
        ("10.83.0.3", b"hello world\n\0\x01"),
        ("10.83.0.4", b"\xff\xfe\xfd not utf-8"),
        ("10.83.0.5", b"a/b\r\neth0\r\nextra"),
    ];
    for (ip, content) in garbage {
        std::fs::write(net.dir().join(ip), content).unwrap();
    }
    let mut got = Vec::new();
    for i in 0..4 {
        let r = net.run("ADD", &format!("c{i}"));
        if r.ok() {
            got.extend(r.addresses());
        } else {
            assert!(r.error(100).contains("no free address"));
        }
    }
    got.sort();
    assert_eq!(got, ["10.83.0.2", "10.83.0.6"]);
    for i in 0..4 {
        net.run("DEL", &format!("c{i}")).success_empty();
    }
    let files = net.files();
    assert_eq!(files.len(), 3, "{files:?}");
    for (ip, content) in garbage {
        assert_eq!(
            files.get(&ip.parse().unwrap()).map(Vec::as_slice),
            Some(content),
            "{ip}"
        );
    }
}

/// The operator deletes `.podlease/` entirely: the next operations rebuild
/// it and still find every allocation.
#[test]
fn deleted_podlease_dir_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Net::new(&tmp.path().join("data"), dual());
    let p1 = net.add("p1");
    let p2 = net.add("p2");
    let st = Command::new("rm")
        .arg("-rf")
        .arg(net.dir().join(".podlease"))
        .status()
        .unwrap();
    assert!(st.success());
    net.run("CHECK", "p1").success_empty();
    assert_eq!(net.add("p2"), p2, "a repeated ADD returns what is held");
    let p3 = net.add("p3");
    assert!(p3.iter().all(|a| !p1.contains(a) && !p2.contains(a)));
    net.run("DEL", "p1").success_empty();
    net.run("CHECK", "p1").error(3);
    // And again, between two operations of the same attachment.
    let st = Command::new("rm")
        .arg("-rf")
        .arg(net.dir().join(".podlease"))
        .status()
        .unwrap();
    assert!(st.success());
    net.run("DEL", "p2").success_empty();
    net.run("DEL", "p3").success_empty();
    assert!(net.files().is_empty(), "{:?}", net.files());
}

/// Another process holds the lock: code 11 after the configured wait, and no
/// change; once released, everything proceeds.
#[test]
fn lock_held_by_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Net::new(&tmp.path().join("data"), v4());
    net.add("p1");
    let before = net.files();
    let lock = net.dir().join("lock");
    // flock(1) takes the lock, then runs a shell that says so and waits on stdin.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sh", "-c", "echo locked; exec cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    for command in ["ADD", "DEL", "CHECK"] {
        let r = net
            .call(command, "p2")
            .env("PODLEASE_LOCK_TIMEOUT_MS", "300")
            .run(&common::podlease());
        let msg = r.error(11);
        assert!(
            msg.contains("lock") && msg.contains(lock.to_str().unwrap()),
            "{command}: {msg}"
        );
    }
    assert_eq!(net.files(), before);
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    net.add("p2");
    net.run("DEL", "p1").success_empty();
    net.run("DEL", "p2").success_empty();
}
