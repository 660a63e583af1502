//! SIGKILL at random instants during ADD, DEL and GC (`Child::kill()` sends
//! SIGKILL), on a dual-stack network so that an ADD links two addresses.
//!
//! After every kill, with no process running, the directory must hold only
//! complete reservations (`<id>\r\n<ifname>` of a container that was
//! started), no address twice, and nothing for a container that is known to
//! have been released. Operations that are not killed must succeed. In the
//! end ADD of fresh ids, DEL of every id ever used and GC succeed and leave
//! no address file.
//!
//! The instants come from a small deterministic PRNG (splitmix64), so a
//! failing run can be replayed by its seed.
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
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Call, Reply, conf};
use serde_json::{Value, json};

/// splitmix64: tiny, deterministic, good enough to pick instants.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn ipam() -> Value {
    json!({ "ranges": [[{ "subnet": "10.60.0.0/22" }], [{ "subnet": "fd00:60::/64" }]] })
}

struct Net {
    data_dir: PathBuf,
    name: String,
    _tmp: Option<tempfile::TempDir>,
}

impl Net {
    fn new(name: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Self {
            data_dir: tmp.path().join("data"),
            name: name.into(),
            _tmp: Some(tmp),
        }
    }
    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }
    fn conf(&self) -> Value {
        conf("1.1.0", &self.name, "podlease", ipam(), &self.data_dir)
    }
    fn call(&self, command: &str, id: &str) -> Call {
        Call::new(command, &self.conf()).id(id)
    }
    fn gc_call(&self, keep: &BTreeSet<String>) -> Call {
        let mut c = self.conf();
        c["cni.dev/valid-attachments"] = keep
            .iter()
            .map(|id| json!({ "containerID": id, "ifname": "eth0" }))
            .collect::<Vec<_>>()
            .into();
        Call::new("GC", &c)
    }
}

/// What a run of one call came to.
enum Outcome {
    Killed,
    Done(Reply),
}

/// Spawns `call`, lets it run for `delay`, then SIGKILLs it (a no-op if it
/// has exited already).
fn run_and_kill(call: &Call, delay: Duration) -> Outcome {
    let mut child = call.command(&common::podlease()).spawn().expect("spawn");
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&call.stdin);
    }
    std::thread::sleep(delay);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if out.status.signal() == Some(9) {
        Outcome::Killed
    } else {
        Outcome::Done(Reply::from(out))
    }
}

/// What the test knows about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Known {
    /// ADD returned these addresses (v4, v6) and nothing released them since.
    Held(Vec<IpAddr>),
    /// DEL or GC finished: holds nothing.
    Free,
    /// Its ADD was killed (and nothing finished since): all or nothing.
    AddKilled,
    /// A DEL or GC that would release it was killed: any subset of what it held.
    ReleaseKilled,
}

/// What a container holds after its ADD was killed. ADD is all or nothing,
/// but it never touches what the container held before: a repeated ADD
/// leaves a holder's addresses, and after a DEL that was killed half-way the
/// rest stays until the next DEL (which the runtime retries), whether or
/// not the ADD ran.
fn after_killed_add(before: &Known) -> Known {
    match before {
        Known::Free | Known::AddKilled => Known::AddKilled,
        other => other.clone(),
    }
}

/// The address files: address → raw bytes.
fn ip_files(dir: &Path) -> BTreeMap<IpAddr, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if let Ok(ip) = e.file_name().to_string_lossy().parse::<IpAddr>() {
            out.insert(ip, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[derive(Default, Debug)]
struct Figures {
    runs: usize,
    kills: usize,
    kills_during_change: usize,
    /// Containers seen holding one of their two addresses (raw, before the
    /// next operation rolls it back).
    half_allocations_seen: BTreeSet<String>,
    completed: usize,
}

/// Checks the quiescent directory against the model. With `strict`, a killed
/// ADD's container must hold all of its addresses or none; otherwise a half
/// allocation is only counted.
fn check_dir(net: &Net, model: &BTreeMap<String, Known>, strict: bool, figures: &mut Figures) {
    let files = ip_files(&net.dir());
    let mut by_id: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for (ip, bytes) in &files {
        let text =
            std::str::from_utf8(bytes).unwrap_or_else(|_| panic!("{ip}: not UTF-8: {bytes:?}"));
        let id = text
            .strip_suffix("\r\neth0")
            .unwrap_or_else(|| panic!("{ip}: empty or torn reservation file {text:?}"));
        assert!(
            model.contains_key(id),
            "{ip} held by {id:?}, a container never started"
        );
        by_id.entry(id.to_owned()).or_default().push(*ip);
    }
    for (id, known) in model {
        let held = by_id.get(id).cloned().unwrap_or_default();
        let v4 = held.iter().filter(|ip| ip.is_ipv4()).count();
        let v6 = held.len() - v4;
        assert!(v4 <= 1 && v6 <= 1, "{id} holds {held:?}");
        match known {
            Known::Held(ips) => {
                let mut want = ips.clone();
                want.sort();
                assert_eq!(held, want, "{id}: ADD returned {ips:?}");
            }
            Known::Free => assert!(held.is_empty(), "{id} was released but holds {held:?}"),
            Known::AddKilled if held.len() == 1 => {
                figures.half_allocations_seen.insert(id.clone());
                assert!(
                    !strict,
                    "{id}: a killed ADD left a half allocation {held:?}"
                );
            }
            Known::AddKilled | Known::ReleaseKilled => {}
        }
    }
}

/// Any operation under the lock: a DEL of a container that never existed.
fn recovery_op(net: &Net) {
    net.call("DEL", "never-used")
        .run(&common::podlease())
        .success_empty();
}

/// The kill campaign on one network; returns the figures.
fn campaign(name: &str, seed: u64, rounds: usize) -> Figures {
    let strict = true;
    let net = Net::new(name);
    let mut rng = Prng(seed);
    let mut model: BTreeMap<String, Known> = BTreeMap::new();
    let mut fig = Figures::default();
    let mut fresh = 0usize;
    // A few containers that hold addresses throughout.
    for i in 0..4 {
        let id = format!("base-{i}");
        let r = net.call("ADD", &id).run(&common::podlease());
        model.insert(id, Known::Held(addrs(&r)));
    }

    for round in 0..rounds {
        let ids: Vec<String> = model.keys().cloned().collect();
        let pick = |rng: &mut Prng| ids[rng.below(ids.len() as u64) as usize].clone();
        let roll = rng.below(100);
        // (call, ids it may release, id it adds)
        let (call, releases, adds): (Call, Vec<String>, Option<String>) = if roll < 50 {
            // ADD: a fresh container, or a runtime retrying one whose ADD was killed.
            let retry: Vec<&String> = model
                .iter()
                .filter(|(_, k)| **k == Known::AddKilled)
                .map(|(id, _)| id)
                .collect();
            let id = if !retry.is_empty() && rng.chance(40) {
                retry[rng.below(retry.len() as u64) as usize].clone()
            } else {
                fresh += 1;
                format!("c{fresh}")
            };
            model.entry(id.clone()).or_insert(Known::Free);
            (net.call("ADD", &id), Vec::new(), Some(id))
        } else if roll < 85 {
            let id = pick(&mut rng);
            (net.call("DEL", &id), vec![id], None)
        } else {
            // GC keeps everything but a few doomed containers.
            let doomed: BTreeSet<String> = (0..1 + rng.below(3)).map(|_| pick(&mut rng)).collect();
            let keep: BTreeSet<String> = model
                .keys()
                .filter(|id| !doomed.contains(*id))
                .cloned()
                .collect();
            (net.gc_call(&keep), doomed.into_iter().collect(), None)
        };
        // Up to 2 ms: a call takes about 1-3 ms here, so most kills land
        // mid-call, and some calls complete (both must stay correct).
        let delay = Duration::from_micros(rng.below(2000));
        fig.runs += 1;
        let clean = net.dir().join(".podlease/clean");
        let is_clean =
            |p: &std::path::Path| std::fs::read_to_string(p).is_ok_and(|s| s.starts_with("dir "));
        let clean_before = is_clean(&clean);
        match run_and_kill(&call, delay) {
            Outcome::Killed => {
                fig.kills += 1;
                if clean_before && !is_clean(&clean) {
                    fig.kills_during_change += 1;
                }
                if let Some(id) = adds {
                    let k = model.get_mut(&id).unwrap();
                    *k = after_killed_add(k);
                }
                for id in releases {
                    let k = model.get_mut(&id).unwrap();
                    if *k != Known::Free {
                        *k = Known::ReleaseKilled;
                    }
                }
            }
            Outcome::Done(r) => {
                fig.completed += 1;
                if let Some(id) = adds {
                    assert!(r.ok(), "round {round} (seed {seed}): ADD {id}: {r:?}");
                    let ips = addrs(&r);
                    if let Known::Held(before) = &model[&id] {
                        assert_eq!(before, &ips, "a repeated ADD must return what is held");
                    }
                    model.insert(id, Known::Held(ips));
                } else {
                    assert!(
                        r.ok() && r.stdout.is_empty(),
                        "round {round} (seed {seed}): {}: {r:?}",
                        call.command
                    );
                    for id in releases {
                        model.insert(id, Known::Free);
                    }
                }
            }
        }
        check_dir(&net, &model, false, &mut fig);
        if round % 20 == 19 {
            // Under the lock podlease may tidy what a kill left; afterwards the
            // all-or-nothing rule must hold.
            recovery_op(&net);
            check_dir(&net, &model, strict, &mut fig);
        }
    }
    recovery_op(&net);
    check_dir(&net, &model, strict, &mut fig);

    // The next operations succeed.
    let mut held: BTreeSet<IpAddr> = ip_files(&net.dir()).into_keys().collect();
    for i in 0..8 {
        let id = format!("after-{i}");
        let ips = addrs(&net.call("ADD", &id).run(&common::podlease()));
        for ip in &ips {
            assert!(held.insert(*ip), "{ip} handed out twice");
        }
        model.insert(id, Known::Held(ips));
    }
    check_dir(&net, &model, strict, &mut fig);
    for id in model.keys() {
        net.call("DEL", id).run(&common::podlease()).success_empty();
        let r = net.call("CHECK", id).run(&common::podlease());
        r.error(3);
    }
    net.gc_call(&BTreeSet::new())
        .run(&common::podlease())
        .success_empty();
    let left = ip_files(&net.dir());
    assert!(
        left.is_empty(),
        "address files left after DEL of every id: {left:?}"
    );
    eprintln!(
        "{name} (seed {seed:#x}): {} runs, {} SIGKILLs ({} interrupted a change: clean marker left absent), \
         {} completed, {} containers, {} half allocations seen before the next operation, 0 duplicates, 0 lost",
        fig.runs,
        fig.kills,
        fig.kills_during_change,
        fig.completed,
        model.len(),
        fig.half_allocations_seen.len()
    );
    fig
}

fn addrs(r: &Reply) -> Vec<IpAddr> {
    let ips: Vec<IpAddr> = r.addresses().iter().map(|a| a.parse().unwrap()).collect();
    assert!(
        ips.len() == 2 && ips[0].is_ipv4() && ips[1].is_ipv6(),
        "{r:?}"
    );
    ips
}

/// The campaign: every invariant, including that a killed ADD leaves all of
/// its addresses or none once any later operation has run (the next
/// operation rolls back what a killed ADD linked), and that the runtime's
/// retry of a killed ADD succeeds.
#[test]
fn sigkill_during_add_del_gc() {
    let fig = campaign("crash-a", 0x5EED_0001, 400);
    // How many kills land depends on the machine's speed: a floor, not a count.
    assert!(fig.kills >= fig.runs / 4, "{fig:?}");
}

/// The same with another seed.
#[test]
fn sigkill_during_add_del_gc_second_seed() {
    let fig = campaign("crash-b", 0x5EED_0002, 300);
    assert!(fig.kills >= fig.runs / 4, "{fig:?}");
}

/// Four workers killing processes on one network at once (ADD and DEL of
/// their own containers): kills land on lock holders and on waiters.
#[test]
fn parallel_workers_with_kills() {
    let net = Net::new("crash-par");
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let data_dir = net.data_dir.clone();
            let name = net.name.clone();
            std::thread::spawn(move || {
                let net = Net {
                    data_dir,
                    name,
                    _tmp: None,
                };
                let mut rng = Prng(0xC0FFEE + w);
                let mut model: BTreeMap<String, Known> = BTreeMap::new();
                let (mut kills, mut runs) = (0, 0);
                for i in 0..60 {
                    let id = format!("w{w}-{}", rng.below(12));
                    let add = rng.chance(60) || !model.contains_key(&id);
                    let call = net.call(if add { "ADD" } else { "DEL" }, &id);
                    runs += 1;
                    match run_and_kill(&call, Duration::from_micros(rng.below(4000))) {
                        Outcome::Killed => {
                            kills += 1;
                            let k = model.entry(id).or_insert(Known::Free);
                            if add {
                                *k = after_killed_add(k);
                            } else if *k != Known::Free {
                                *k = Known::ReleaseKilled;
                            }
                        }
                        Outcome::Done(r) if add => {
                            assert!(r.ok(), "worker {w} op {i}: ADD {id}: {r:?}");
                            model.insert(id, Known::Held(addrs(&r)));
                        }
                        Outcome::Done(r) => {
                            r.success_empty();
                            model.insert(id, Known::Free);
                        }
                    }
                }
                (model, kills, runs)
            })
        })
        .collect();
    let mut model = BTreeMap::new();
    let (mut kills, mut runs) = (0, 0);
    for w in workers {
        let (m, k, r) = w.join().unwrap();
        model.extend(m);
        kills += k;
        runs += r;
    }
    let mut fig = Figures::default();
    check_dir(&net, &model, false, &mut fig);
    recovery_op(&net);
    check_dir(&net, &model, true, &mut fig);
    for id in model.keys() {
        net.call("DEL", id).run(&common::podlease()).success_empty();
    }
    assert!(ip_files(&net.dir()).is_empty());
    eprintln!(
        "crash-par: 4 workers, {runs} runs, {kills} SIGKILLs, {} half allocations seen, 0 duplicates, 0 lost",
        fig.half_allocations_seen.len()
    );
}

/// strace, used to deliver SIGKILL exactly on entry to the n-th call of one
/// system call: every point between two changes of state is hit once.
fn strace() -> Option<PathBuf> {
    let found = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !common::in_ci(),
            "strace is missing: CI installs it (.ci/run) for the exhaustive kill sweep"
        );
        common::skip("strace not installed; the exhaustive kill sweep needs it");
    }
    found
}

/// The system calls that change state (or end the process): killing on entry
/// to each occurrence of each covers every crash point that matters, since a
/// kill between two of them leaves the same state as a kill at the next one.
const STATE_SYSCALLS: &[&str] = &[
    "open", // musl's libc opens with open(2), glibc's with openat(2)
    "openat",
    "write",
    "pwrite64",
    "ftruncate",
    "linkat",
    "link",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "flock",
    "exit_group",
];

/// Runs `call` under strace, SIGKILLed on entry to the `n`-th `sys`.
/// Returns `None` when it completed (there is no `n`-th `sys`).
fn kill_at(strace: &Path, call: &Call, sys: &str, n: u32) -> Option<()> {
    let mut cmd = call.command(strace);
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={sys}"))
        .arg("-e")
        .arg(format!("inject={sys}:signal=KILL:when={n}"))
        .arg(common::podlease());
    let mut child = cmd.spawn().expect("spawn strace");
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&call.stdin);
    }
    let out = child.wait_with_output().unwrap();
    if out.status.signal() == Some(9) || out.status.code() == Some(137) {
        Some(())
    } else {
        let r = Reply::from(out);
        assert!(
            r.ok(),
            "{} completed under strace but failed: {r:?}",
            call.command
        );
        None
    }
}

/// For ADD, DEL and GC: a fresh network per crash point, killed before each
/// state-changing system call in turn. Returns (kills, half allocations left
/// by a killed ADD after the next operation).
fn sweep(strace: &Path) -> (usize, usize) {
    let (mut kills, mut halves) = (0, 0);
    for op in ["ADD", "DEL", "GC"] {
        for sys in STATE_SYSCALLS {
            for n in 1..=64 {
                let net = Net::new("sweep");
                let mut model = BTreeMap::new();
                for id in ["b0", "b1"] {
                    model.insert(
                        id.to_owned(),
                        Known::Held(addrs(&net.call("ADD", id).run(&common::podlease()))),
                    );
                }
                // A released container leaves a spare inode, which the ADD
                // below takes: its rename and rewrite are crash points too.
                let gone = net.call("ADD", "gone").run(&common::podlease());
                assert!(gone.ok(), "{gone:?}");
                net.call("DEL", "gone")
                    .run(&common::podlease())
                    .success_empty();
                model.insert("gone".to_owned(), Known::Free);
                let call = match op {
                    "ADD" => {
                        model.insert("new".to_owned(), Known::AddKilled);
                        net.call("ADD", "new")
                    }
                    "DEL" => {
                        model.insert("b1".to_owned(), Known::ReleaseKilled);
                        net.call("DEL", "b1")
                    }
                    _ => {
                        model.insert("b1".to_owned(), Known::ReleaseKilled);
                        net.gc_call(&["b0".to_owned()].into_iter().collect())
                    }
                };
                if kill_at(strace, &call, sys, n).is_none() {
                    break;
                }
                kills += 1;
                // Raw state right after the kill: complete files only; a
                // killed ADD may have linked one of its two addresses.
                let mut fig = Figures::default();
                check_dir(&net, &model, false, &mut fig);
                halves += fig.half_allocations_seen.len();
                // The next operation under the lock makes it all or nothing.
                recovery_op(&net);
                check_dir(&net, &model, true, &mut fig);
                // The runtime retries: the operation succeeds and its result stands.
                let retry = call.run(&common::podlease());
                if op == "ADD" {
                    assert!(
                        retry.ok(),
                        "ADD retried after a kill at {sys} #{n}: {retry:?}"
                    );
                    model.insert("new".to_owned(), Known::Held(addrs(&retry)));
                } else {
                    assert!(
                        retry.ok() && retry.stdout.is_empty(),
                        "{op} retried after a kill at {sys} #{n}: {retry:?}"
                    );
                    model.insert("b1".to_owned(), Known::Free);
                }
                check_dir(&net, &model, true, &mut fig);
                for id in model.keys() {
                    net.call("DEL", id).run(&common::podlease()).success_empty();
                }
                assert!(
                    ip_files(&net.dir()).is_empty(),
                    "after a kill of {op} at {sys} #{n}"
                );
            }
        }
    }
    (kills, halves)
}

/// Every crash point of ADD, DEL and GC: no torn or empty file, no duplicate,
/// nothing lost; after the next operation a killed ADD holds all of its
/// addresses or none; the retried operation succeeds.
#[test]
fn kill_before_every_state_change() {
    let Some(strace) = strace() else { return };
    let (kills, halves) = sweep(&strace);
    eprintln!(
        "crash-sweep: {kills} SIGKILLs, one before each state-changing system call of ADD, DEL and GC; \
         {halves} left a half allocation, rolled back by the next operation"
    );
    assert!(kills >= 50, "{kills}");
}
