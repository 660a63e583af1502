//! Many plugin processes at once on one network: podlease alone, podlease
//! mixed with host-local on the same dataDir (both lock `<dir>/lock`),
//! single- and dual-stack, pools that run out mid-way, concurrent DELs of one
//! container and concurrent ADD retries of one container.
//!
//! Every batch is spawned in full before any process gets its stdin (each
//! blocks reading it), then every stdin is written in quick succession and
//! every process is waited for: the processes really overlap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use common::{Call, Reply, conf};
use serde_json::{Value, json};

/// How many processes each batch runs at once (the brief asks for >= 64).
const BATCH: usize = 72;

const PODLEASE_EXHAUSTED: &str = "no free address in range set";
const HOST_LOCAL_EXHAUSTED: &str = "no IP addresses available";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plugin {
    Podlease,
    HostLocal,
}

/// One process of a batch.
#[derive(Clone, Debug)]
struct Job {
    plugin: Plugin,
    call: Call,
}

struct Net {
    data_dir: PathBuf,
    name: String,
    ipam: Value,
    host_local: Option<PathBuf>,
    // Declared before `_tmp`: unmounted before the directory is removed.
    _mount: Option<Ramfs>,
    _tmp: tempfile::TempDir,
}

/// A ramfs mounted for one test, unmounted on drop. ramfs keeps coarse
/// (jiffy) timestamps even on kernels with fine-grained ones elsewhere, as
/// every file system had before Linux 6.13 (Debian 12 runs 6.1).
struct Ramfs(PathBuf);

impl Ramfs {
    fn mount(path: &Path) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "ramfs", "podlease-test"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "mount -t ramfs {}", path.display());
        Self(path.to_owned())
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
}

impl Net {
    fn new(name: &str, ipam: Value) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            data_dir: tmp.path().join("data"),
            name: name.into(),
            ipam,
            host_local: common::reference_plugin("host-local"),
            _mount: None,
            _tmp: tmp,
        }
    }

    /// The same with dataDir on a ramfs (coarse timestamps).
    fn on_ramfs(name: &str, ipam: Value) -> Self {
        let mut net = Self::new(name, ipam);
        net._mount = Some(Ramfs::mount(&net.data_dir));
        net
    }

    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }

    fn conf(&self, plugin: Plugin) -> Value {
        let ty = match plugin {
            Plugin::Podlease => "podlease",
            Plugin::HostLocal => "host-local",
        };
        // 1.0.0: the newest version Debian's host-local speaks.
        conf("1.0.0", &self.name, ty, self.ipam.clone(), &self.data_dir)
    }

    fn job(&self, plugin: Plugin, command: &str, id: &str) -> Job {
        Job {
            plugin,
            call: Call::new(command, &self.conf(plugin)).id(id),
        }
    }

    fn bin(&self, plugin: Plugin) -> PathBuf {
        match plugin {
            Plugin::Podlease => common::podlease(),
            Plugin::HostLocal => self.host_local.clone().expect("host-local binary"),
        }
    }

    /// Runs every job at once; replies in job order.
    fn run_all(&self, jobs: &[Job]) -> Vec<Reply> {
        let mut children: Vec<_> = jobs
            .iter()
            .map(|j| {
                j.call
                    .command(&self.bin(j.plugin))
                    .spawn()
                    .expect("spawn plugin")
            })
            .collect();
        for (child, job) in children.iter_mut().zip(jobs) {
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(&job.call.stdin);
        }
        children
            .into_iter()
            .map(|c| Reply::from(c.wait_with_output().unwrap()))
            .collect()
    }

    /// The address files: address → content.
    fn files(&self) -> BTreeMap<IpAddr, String> {
        ip_files(&self.dir())
    }
}

fn ip_files(dir: &Path) -> BTreeMap<IpAddr, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(ip) = name.parse::<IpAddr>() {
            let bytes = std::fs::read(e.path()).unwrap();
            out.insert(ip, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    out
}

fn content(id: &str) -> String {
    format!("{id}\r\neth0")
}

/// The addresses of a successful ADD (1.0.0 result).
fn addresses(r: &Reply) -> Vec<IpAddr> {
    r.addresses().iter().map(|a| a.parse().unwrap()).collect()
}

/// Asserts `r` is an exhaustion failure of its plugin.
fn assert_exhausted(plugin: Plugin, r: &Reply) {
    match plugin {
        Plugin::Podlease => {
            let msg = r.error(100);
            assert!(
                msg.contains(PODLEASE_EXHAUSTED),
                "podlease exhaustion message: {msg}"
            );
        }
        Plugin::HostLocal => {
            let msg = r.error(999);
            assert!(
                msg.contains(HOST_LOCAL_EXHAUSTED),
                "host-local exhaustion message: {msg}"
            );
        }
    }
}

/// The model of who holds what: container id → addresses returned by its ADD.
type Live = BTreeMap<String, Vec<IpAddr>>;

/// Checks the directory against the model: exactly the live allocations,
/// each file holding `<id>\r\neth0`, no address shared.
fn assert_dir_matches(net: &Net, live: &Live, per_container: usize) {
    let mut want = BTreeMap::new();
    for (id, ips) in live {
        assert_eq!(ips.len(), per_container, "{id} got {ips:?}");
        for ip in ips {
            let prev = want.insert(*ip, content(id));
            assert!(
                prev.is_none(),
                "address {ip} handed to two live containers: {prev:?} and {id}"
            );
        }
    }
    assert_eq!(
        net.files(),
        want,
        "address files differ from the live allocations"
    );
}

/// Runs a batch of ADDs (new ids) and DELs (of live ids) at once, checks every
/// reply, updates the model, checks the directory. Returns (ADD successes,
/// exhaustion failures).
fn batch(
    net: &Net,
    live: &mut Live,
    adds: &[(Plugin, String)],
    dels: &[(Plugin, String)],
    per: usize,
) -> (usize, usize) {
    let mut jobs: Vec<Job> = Vec::new();
    // Interleave so ADDs and DELs start mixed.
    let n = adds.len().max(dels.len());
    for i in 0..n {
        if let Some((p, id)) = adds.get(i) {
            jobs.push(net.job(*p, "ADD", id));
        }
        if let Some((p, id)) = dels.get(i) {
            jobs.push(net.job(*p, "DEL", id));
        }
    }
    let replies = net.run_all(&jobs);
    let (mut ok, mut exhausted) = (0, 0);
    let mut handed: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (job, r) in jobs.iter().zip(&replies) {
        let id = job.call.container_id.clone();
        match job.call.command.as_str() {
            "DEL" => {
                r.success_empty();
                live.remove(&id);
            }
            _ if r.ok() => {
                let ips = addresses(r);
                assert_eq!(ips.len(), per, "{job:?}: {r:?}");
                for ip in &ips {
                    if let Some(other) = handed.insert(*ip, id.clone()) {
                        panic!("duplicate address {ip}: {other} and {id}");
                    }
                }
                ok += 1;
                live.insert(id, ips);
            }
            _ => {
                assert_exhausted(job.plugin, r);
                exhausted += 1;
            }
        }
    }
    // An address handed out in this batch is not held by a container that
    // stayed live from before.
    for (id, ips) in live.iter() {
        for ip in ips {
            if let Some(holder) = handed.get(ip) {
                assert_eq!(holder, id, "{ip} handed to {holder} while {id} holds it");
            }
        }
    }
    assert_dir_matches(net, live, per);
    // podlease finds every live attachment, whoever wrote it (its index is
    // rebuilt after host-local's changes).
    let checks: Vec<Job> = live
        .keys()
        .map(|id| net.job(Plugin::Podlease, "CHECK", id))
        .collect();
    for (job, r) in checks.iter().zip(net.run_all(&checks)) {
        assert!(
            r.ok() && r.stdout.is_empty(),
            "CHECK {}: {r:?}",
            job.call.container_id
        );
    }
    (ok, exhausted)
}

fn ids(prefix: &str, n: usize, plugin_of: impl Fn(usize) -> Plugin) -> Vec<(Plugin, String)> {
    (0..n)
        .map(|i| (plugin_of(i), format!("{prefix}-{i}")))
        .collect()
}

/// The round structure shared by the single-stack scenarios: a /26 (61 free
/// addresses) and 72 ADDs, then mixed DEL+ADD, then DEL everything, then fill
/// again.
fn single_stack_rounds(name: &str, plugin_of: impl Fn(usize) -> Plugin + Copy) {
    single_stack_rounds_in(
        Net::new(name, json!({ "ranges": [[{ "subnet": "10.20.0.0/26" }]] })),
        name,
        plugin_of,
    );
}

fn single_stack_rounds_in(net: Net, name: &str, plugin_of: impl Fn(usize) -> Plugin + Copy) {
    if net.host_local.is_none() && plugin_of(1) == Plugin::HostLocal {
        return;
    }
    const FREE: usize = 61;
    let mut live = Live::new();

    // Round 1: the pool runs out mid-way.
    let (ok, ex) = batch(&net, &mut live, &ids("a", BATCH, plugin_of), &[], 1);
    assert_eq!((ok, ex), (FREE, BATCH - FREE), "round 1");

    // Round 2: release half while others try to allocate.
    let victims: Vec<(Plugin, String)> = live
        .keys()
        .step_by(2)
        .enumerate()
        .map(|(i, id)| (plugin_of(i + 1), id.clone()))
        .collect();
    let before = live.len();
    let (ok, _) = batch(&net, &mut live, &ids("b", 40, plugin_of), &victims, 1);
    assert_eq!(live.len(), before - victims.len() + ok);
    assert!(ok <= FREE - before + victims.len());

    // Round 3: fill what is free now.
    let free_now = FREE - live.len();
    let (ok, ex) = batch(&net, &mut live, &ids("c", BATCH, plugin_of), &[], 1);
    assert_eq!((ok, ex), (free_now, BATCH - free_now), "round 3");

    // Round 4: everybody leaves at once.
    let all: Vec<(Plugin, String)> = live
        .keys()
        .enumerate()
        .map(|(i, id)| (plugin_of(i), id.clone()))
        .collect();
    batch(&net, &mut live, &[], &all, 1);
    assert!(net.files().is_empty());

    // Round 5: the whole pool is available again.
    let (ok, ex) = batch(&net, &mut live, &ids("d", BATCH, plugin_of), &[], 1);
    assert_eq!((ok, ex), (FREE, BATCH - FREE), "round 5");
    eprintln!(
        "{name}: 5 rounds of {BATCH}+ concurrent processes, no duplicate, no lost allocation"
    );
}

#[test]
fn podlease_alone_single_stack_pool_runs_out() {
    single_stack_rounds("conc-pl", |_| Plugin::Podlease);
}

#[test]
fn podlease_and_host_local_mixed_single_stack() {
    single_stack_rounds("conc-mix", |i| {
        if i % 2 == 0 {
            Plugin::Podlease
        } else {
            Plugin::HostLocal
        }
    });
}

/// Dual-stack: v4 /24 (253 free) and v6 /123 (30 free): the second range set
/// runs out, so every failed ADD must give its v4 address back.
fn dual_stack_rounds(name: &str, plugin_of: impl Fn(usize) -> Plugin + Copy) {
    let net = Net::new(
        name,
        json!({ "ranges": [[{ "subnet": "10.30.0.0/24" }], [{ "subnet": "fd00:30::/123" }]] }),
    );
    if net.host_local.is_none() && plugin_of(1) == Plugin::HostLocal {
        return;
    }
    const FREE: usize = 30;
    let mut live = Live::new();
    let (ok, ex) = batch(&net, &mut live, &ids("a", BATCH, plugin_of), &[], 2);
    assert_eq!((ok, ex), (FREE, BATCH - FREE), "round 1");
    for ips in live.values() {
        assert!(ips[0].is_ipv4() && ips[1].is_ipv6(), "{ips:?}");
    }
    let victims: Vec<(Plugin, String)> = live
        .keys()
        .step_by(3)
        .enumerate()
        .map(|(i, id)| (plugin_of(i + 1), id.clone()))
        .collect();
    batch(&net, &mut live, &ids("b", BATCH, plugin_of), &victims, 2);
    let all: Vec<(Plugin, String)> = live
        .keys()
        .enumerate()
        .map(|(i, id)| (plugin_of(i), id.clone()))
        .collect();
    batch(&net, &mut live, &[], &all, 2);
    assert!(net.files().is_empty());
    let (ok, _) = batch(&net, &mut live, &ids("c", BATCH, plugin_of), &[], 2);
    assert_eq!(ok, FREE, "round 4");
}

#[test]
fn podlease_alone_dual_stack_second_set_runs_out() {
    dual_stack_rounds("conc-ds-pl", |_| Plugin::Podlease);
}

#[test]
fn podlease_and_host_local_mixed_dual_stack() {
    dual_stack_rounds("conc-ds-mix", |i| {
        if i % 2 == 0 {
            Plugin::Podlease
        } else {
            Plugin::HostLocal
        }
    });
}

/// 64+ DELs of one container at once (some from host-local): all succeed
/// silently, the addresses are free, others are untouched.
#[test]
fn many_concurrent_dels_of_one_container() {
    let net = Net::new(
        "conc-del",
        json!({ "ranges": [[{ "subnet": "10.40.0.0/24" }], [{ "subnet": "fd00:40::/64" }]] }),
    );
    let mut live = Live::new();
    batch(
        &net,
        &mut live,
        &ids("keep", 3, |_| Plugin::Podlease),
        &[],
        2,
    );
    for round in 0..3 {
        let id = format!("victim-{round}");
        let r = net
            .job(Plugin::Podlease, "ADD", &id)
            .call
            .run(&common::podlease());
        live.insert(id.clone(), addresses(&r));
        assert_dir_matches(&net, &live, 2);
        let jobs: Vec<Job> = (0..BATCH)
            .map(|i| {
                let p = if net.host_local.is_some() && round == 2 && i % 3 == 0 {
                    Plugin::HostLocal
                } else {
                    Plugin::Podlease
                };
                net.job(p, "DEL", &id)
            })
            .collect();
        for r in net.run_all(&jobs) {
            r.success_empty();
        }
        live.remove(&id);
        assert_dir_matches(&net, &live, 2);
        let r = net
            .job(Plugin::Podlease, "CHECK", &id)
            .call
            .run(&common::podlease());
        r.error(3);
    }
}

/// 64+ ADDs of one container id/ifname at once (a runtime retrying): one
/// allocation in the end, and every success returned that allocation.
/// podlease's documented choice: a repeated ADD returns what is held.
#[test]
fn concurrent_add_retries_of_one_container() {
    let net = Net::new(
        "conc-retry",
        json!({ "ranges": [[{ "subnet": "10.50.0.0/24" }], [{ "subnet": "fd00:50::/64" }]] }),
    );
    let mut live = Live::new();
    // Others allocate at the same time, so the retries race with real work.
    for round in 0..3 {
        let id = format!("retry-{round}");
        let mut jobs: Vec<Job> = (0..BATCH)
            .map(|_| net.job(Plugin::Podlease, "ADD", &id))
            .collect();
        for i in 0..8 {
            jobs.push(net.job(Plugin::Podlease, "ADD", &format!("other-{round}-{i}")));
        }
        let replies = net.run_all(&jobs);
        let mut seen: BTreeSet<Vec<IpAddr>> = BTreeSet::new();
        for (job, r) in jobs.iter().zip(&replies) {
            let ips = addresses(r);
            if job.call.container_id == id {
                seen.insert(ips);
            } else {
                live.insert(job.call.container_id.clone(), ips);
            }
        }
        assert_eq!(
            seen.len(),
            1,
            "retries of {id} got different answers: {seen:?}"
        );
        live.insert(id, seen.into_iter().next().unwrap());
        assert_dir_matches(&net, &live, 2);
    }
}

/// podlease and host-local on a file system with coarse directory
/// timestamps (ramfs; every file system before Linux 6.13): host-local, woken
/// when podlease unlocks, may change the directory within the same tick, so
/// the directory's (inode, mtime) would still match podlease's clean marker
/// while the index misses host-local's allocation. podlease's CHECK must not
/// answer 3 and its DEL must not leave the allocation behind. Every round
/// queues all plugins on the lock (held by flock(1)) so that they run back to
/// back; small rounds keep host-local fast. (The deterministic form of this
/// race is the unit test `foreign_file_in_the_same_tick_is_still_released`;
/// `tests/lookup.rs` runs it against the fast "holds nothing" answers.)
#[test]
fn podlease_and_host_local_mixed_coarse_timestamps() {
    if !common::require_root() {
        return;
    }
    let net = Net::on_ramfs(
        "conc-coarse",
        json!({ "ranges": [[{ "subnet": "10.21.0.0/16" }]] }),
    );
    if net.host_local.is_none() {
        return;
    }
    let (mut missed, mut leaked) = (Vec::new(), Vec::new());
    // Create the directory and its lock.
    net.job(Plugin::Podlease, "ADD", "seed")
        .call
        .run(&common::podlease())
        .success();
    net.job(Plugin::Podlease, "DEL", "seed")
        .call
        .run(&common::podlease())
        .success_empty();
    for round in 0..40 {
        // Every process queues on the lock, held by flock(1); once it is
        // released they run back to back, podlease and host-local alternating
        // within microseconds of each other.
        let mut holder = std::process::Command::new("flock")
            .arg(net.dir().join("lock"))
            .args(["sh", "-c", "echo locked; exec cat"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("flock(1)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        let jobs: Vec<Job> = (0..8)
            .map(|i| {
                let p = if i % 2 == 0 {
                    Plugin::Podlease
                } else {
                    Plugin::HostLocal
                };
                net.job(p, "ADD", &format!("r{round}-{i}"))
            })
            .collect();
        let mut children: Vec<_> = jobs
            .iter()
            .map(|j| {
                j.call
                    .command(&net.bin(j.plugin))
                    .spawn()
                    .expect("spawn plugin")
            })
            .collect();
        for (child, job) in children.iter_mut().zip(&jobs) {
            let _ = child.stdin.take().unwrap().write_all(&job.call.stdin);
        }
        // Long enough for every plugin to start and block on the lock.
        std::thread::sleep(std::time::Duration::from_millis(40));
        drop(holder.stdin.take());
        holder.wait().unwrap();
        for c in children {
            Reply::from(c.wait_with_output().unwrap()).success();
        }
        let checks: Vec<Job> = jobs
            .iter()
            .map(|j| net.job(Plugin::Podlease, "CHECK", &j.call.container_id))
            .collect();
        for (job, r) in checks.iter().zip(net.run_all(&checks)) {
            if !r.ok() {
                missed.push(job.call.container_id.clone());
            }
        }
        let dels: Vec<Job> = jobs
            .iter()
            .map(|j| net.job(Plugin::Podlease, "DEL", &j.call.container_id))
            .collect();
        for r in net.run_all(&dels) {
            r.success_empty();
        }
        for (ip, content) in net.files() {
            leaked.push(format!("{ip} {content:?}"));
            std::fs::remove_file(net.dir().join(ip.to_string())).unwrap();
        }
    }
    eprintln!(
        "coarse timestamps: 40 rounds of 4 podlease + 4 host-local ADDs; podlease missed {} allocations, its DEL left {}",
        missed.len(),
        leaked.len()
    );
    assert!(
        missed.is_empty() && leaked.is_empty(),
        "CHECK code 3 for {missed:?}; DEL left {leaked:?}"
    );
}
