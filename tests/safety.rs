//! Issue 11, "never release or hand out a live address": the cases that
//! are not about a reboot (tests/reboot.rs) or the command line's reports
//! (tests/cli.rs). Each test names the item it covers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, Reply, conf};
use serde_json::{Value, json};

struct Net {
    _tmp: tempfile::TempDir,
    data_dir: PathBuf,
    name: String,
    ipam: Value,
}

impl Net {
    fn new(ipam: Value) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            data_dir: tmp.path().join("data"),
            name: "safe".into(),
            ipam,
            _tmp: tmp,
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
    fn cli(&self, args: &[&str]) -> Reply {
        let out = Command::new(common::podlease())
            .env_clear()
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--conf-dir", "/nonexistent"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Reply::from(out)
    }
}

fn dual() -> Value {
    json!({ "ranges": [[{ "subnet": "10.90.0.0/24" }], [{ "subnet": "fd00:90::/64" }]] })
}

fn rm_rf(path: &Path) {
    let st = Command::new("rm").arg("-rf").arg(path).status().unwrap();
    assert!(st.success());
}

/// Item 7: anything under `<net>/.podlease/` may vanish at any moment (an
/// operator, a full disk, a restore). Whichever part goes, between any two
/// operations, every command keeps working and nothing held is lost.
#[test]
fn podlease_dir_may_vanish_piece_by_piece() {
    let parts = [
        "", "tmp", "index", "spare", "sticky", "clean", "boot", "released", "owner",
    ];
    for part in parts {
        let mut ipam = dual();
        ipam["sticky"] = json!(true);
        ipam["reuseDelaySeconds"] = json!(60);
        let net = Net::new(ipam);
        let pod = |i: usize| format!("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p{i}");
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in 0..4 {
            let id = format!("c{i}");
            let r = net.call("ADD", &id).args(&pod(i)).run(&common::podlease());
            held.insert(id, r.addresses());
        }
        // A release log and a sticky record exist now (and `spare`, an
        // earlier build's inode pool, does not: removing it must be harmless).
        net.run("DEL", "c3").success_empty();
        held.remove("c3");
        for (step, command) in ["ADD", "CHECK", "DEL", "GC", "list", "ADD-again"]
            .iter()
            .enumerate()
        {
            let target = net.dir().join(".podlease").join(part);
            rm_rf(&target);
            let what = format!("after removing .podlease/{part}, {command}");
            match *command {
                "ADD" | "ADD-again" => {
                    let id = format!("n{step}");
                    let r = net
                        .call("ADD", &id)
                        .args(&pod(10 + step))
                        .run(&common::podlease());
                    assert!(r.ok(), "{what}: {r:?}");
                    let got = r.addresses();
                    for (other, ips) in &held {
                        assert!(
                            !got.iter().any(|a| ips.contains(a)),
                            "{what}: {id} got {got:?}, held by {other}"
                        );
                    }
                    held.insert(id, got);
                }
                "CHECK" => {
                    for id in held.keys() {
                        let r = net.run("CHECK", id);
                        assert!(r.ok(), "{what} {id}: {r:?}");
                    }
                }
                "DEL" => {
                    let r = net.run("DEL", "c0");
                    assert!(r.ok(), "{what}: {r:?}");
                    held.remove("c0");
                }
                "GC" => {
                    let keep: Vec<Value> = held
                        .keys()
                        .map(|id| json!({ "containerID": id, "ifname": "eth0" }))
                        .collect();
                    let mut c = net.conf();
                    c["cni.dev/valid-attachments"] = Value::Array(keep);
                    let r = Call::new("GC", &c).run(&common::podlease());
                    assert!(r.ok(), "{what}: {r:?}");
                }
                _ => {
                    let r = net.cli(&["list"]);
                    assert_eq!(r.status, Some(0), "{what}: {r:?}");
                }
            }
            // Nothing held is lost: every live attachment's files are there.
            let files = net.files();
            for (id, ips) in &held {
                for ip in ips {
                    let content = files.get(&ip.parse().unwrap());
                    assert_eq!(
                        content.map(Vec::as_slice),
                        Some(format!("{id}\r\neth0").as_bytes()),
                        "{what}: {id} lost {ip}"
                    );
                }
            }
        }
    }
}

/// Item 9: address files are 0644 like host-local's (less the umask of the
/// runtime; ours is 022 here), also for the address of a released 0600 file
/// (as podlease 0.1 wrote them).
#[test]
fn address_files_are_mode_0644() {
    let net = Net::new(dual());
    let mode = |ip: &str| {
        std::fs::metadata(net.dir().join(ip))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let umask = 0o022;
    for ip in net.add("a") {
        assert_eq!(mode(&ip), 0o644 & !umask, "{ip}");
    }
    // A 0600 file (as podlease 0.1 wrote them), released.
    for ip in net.add("b") {
        std::fs::set_permissions(net.dir().join(&ip), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    net.run("DEL", "b").success_empty();
    for ip in net.add("c") {
        assert_eq!(mode(&ip), 0o644, "{ip} (after a 0600 file)");
    }
}

/// Runs `call` with a file size limit of `blocks` × 512 bytes and SIGXFSZ
/// ignored, so the write that crosses the limit is cut short (a torn write)
/// and the next one fails with EFBIG.
fn run_with_fsize_limit(call: &Call, blocks: u32) -> Reply {
    let inner = call.command(&common::podlease());
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$0\""))
        .arg(inner.get_program())
        .env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let _ = child.stdin.take().unwrap().write_all(&call.stdin);
    Reply::from(child.wait_with_output().unwrap())
}

/// Item 10: an ADD that fails after a torn index write (the bucket write cut
/// short) does not mark the index clean: the next operation rebuilds it
/// from the address files, and every allocation is still found.
#[test]
fn failed_add_after_a_torn_index_write_leaves_the_index_dirty() {
    let net = Net::new(json!({ "ranges": [[{ "subnet": "10.91.0.0/24" }]] }));
    let p1 = net.add("p1");
    let p2 = net.add("p2");
    // Every bucket ends just below 2048 bytes (blank filler, which readers
    // skip), so the next record appended to any of them crosses the limit.
    let index = net.dir().join(".podlease/index");
    for n in 0..64 {
        let path = index.join(format!("bucket-{n:02}"));
        let mut text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| "podlease-index 1\n".to_owned());
        let pad = 2040 - text.len();
        text.push_str(&" ".repeat(pad - 1));
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let clean = net.dir().join(".podlease/clean");
    assert!(std::fs::read_to_string(&clean).unwrap().starts_with("dir "));
    let r = run_with_fsize_limit(&net.call("ADD", "p3"), 4);
    let msg = r.error(5);
    assert!(msg.contains("File too large"), "{msg}");
    let marker = std::fs::read_to_string(&clean).unwrap_or_default();
    assert!(
        !marker.starts_with("dir "),
        "the failed ADD vouched for a torn index: {marker:?}"
    );
    // Nothing of p3 is left, nothing else is lost, and all works on.
    assert_eq!(net.files().len(), 2);
    net.run("CHECK", "p1").success_empty();
    net.run("CHECK", "p2").success_empty();
    assert_eq!(net.add("p1"), p1);
    assert_eq!(net.add("p2"), p2);
    let p3 = net.add("p3");
    assert!(!p3.iter().any(|a| p1.contains(a) || p2.contains(a)));
    for id in ["p1", "p2", "p3"] {
        net.run("DEL", id).success_empty();
    }
    assert!(net.files().is_empty());
}

/// Item 10: `sticky` keeps a bounded number of records: pods with generated
/// names (Deployments, Jobs) each add one, and the oldest make room.
#[test]
fn sticky_records_are_bounded() {
    let net = Net::new(json!({ "ranges": [[{ "subnet": "10.92.0.0/24" }]], "sticky": true }));
    net.call("ADD", "first")
        .args("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=first")
        .run(&common::podlease())
        .success();
    let sticky = net.dir().join(".podlease/sticky");
    // Records of 1100 pods of long ago.
    for i in 0..1100 {
        let p = sticky.join(format!("ns_gen-{i}"));
        std::fs::write(&p, "10.92.0.99\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i))
            .unwrap();
    }
    for i in 0..3 {
        net.call("ADD", &format!("new{i}"))
            .args(&format!("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=new-{i}"))
            .run(&common::podlease())
            .success();
        let count = std::fs::read_dir(&sticky).unwrap().count();
        assert!(count <= 1024, "{count} sticky records");
        assert!(sticky.join(format!("ns_new-{i}")).exists());
    }
    assert!(sticky.join("ns_first").exists(), "the newest records stay");
}

/// Item 2: inspection works as a user who may only read (address files are
/// 0644, the lock file 0644, directories 0755): `list`, `show`, `usage` and
/// `metrics` as `nobody` succeed and change nothing.
#[test]
fn inspection_works_as_non_root() {
    if !common::require_root() {
        return;
    }
    let net = Net::new(dual());
    let a = net.add("a");
    net.add("b");
    // The temporary directory is 0700: let others in, as /var/lib is.
    let mut p = net.data_dir.clone();
    while p.pop() {
        if p.starts_with(std::env::temp_dir()) && p != std::env::temp_dir() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            break;
        }
    }
    let snapshot = common::tree(&net.data_dir);
    for args in [&["list"][..], &["show", &a[0]], &["usage"], &["metrics"]] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(common::podlease())
            .args(args)
            .arg("--data-dir")
            .arg(&net.data_dir)
            .args(["--conf-dir", "/nonexistent"])
            .env_clear()
            .output()
            .unwrap();
        let r = Reply::from(out);
        assert_eq!(r.status, Some(0), "{args:?} as nobody: {r:?}");
        if args[0] == "list" {
            assert!(r.stdout.contains(&a[0]), "{r:?}");
        }
    }
    assert_eq!(common::tree(&net.data_dir), snapshot);
}

/// Item 7, at any moment: `.podlease/` removed over and over while pods come
/// and go. An operation may fail (cleanly, with a CNI error) when its
/// scratch file vanishes under it, but no address is ever held twice and
/// nothing a successful ADD returned is lost.
#[test]
fn podlease_dir_vanishing_during_operations_loses_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let net = Net::new(json!({ "ranges": [[{ "subnet": "10.93.0.0/24" }]] }));
    net.add("seed");
    let stop = Arc::new(AtomicBool::new(false));
    let meta = net.dir().join(".podlease");
    let remover = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                // May fail when a file appears mid-removal: try again.
                let _ = Command::new("rm").arg("-rf").arg(&meta).status();
                n += 1;
            }
            n
        })
    };
    let mut live: BTreeMap<String, Vec<String>> = BTreeMap::new();
    live.insert("seed".into(), vec!["10.93.0.2".into()]);
    let mut failures = 0;
    for i in 0..60 {
        let id = format!("p{i}");
        let r = net.run("ADD", &id);
        if r.ok() {
            live.insert(id, r.addresses());
        } else {
            failures += 1;
            let code = r.json()["code"].as_u64();
            assert!(matches!(code, Some(5 | 11)), "{r:?}");
        }
        if i % 3 == 2 {
            let victim = live.keys().find(|k| *k != "seed").cloned();
            if let Some(v) = victim
                && net.run("DEL", &v).ok()
            {
                live.remove(&v);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let removals = remover.join().unwrap();
    eprintln!("{removals} removals of .podlease, {failures} failed ADDs");
    let mut seen = BTreeMap::new();
    for (id, ips) in &live {
        for ip in ips {
            assert!(seen.insert(ip.clone(), id.clone()).is_none(), "{ip} twice");
        }
    }
    let files = net.files();
    for (id, ips) in &live {
        net.run("CHECK", id).success_empty();
        for ip in ips {
            assert_eq!(
                files.get(&ip.parse().unwrap()).map(Vec::as_slice),
                Some(format!("{id}\r\neth0").as_bytes()),
                "{id} lost {ip}"
            );
        }
    }
}
