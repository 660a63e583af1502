//! Side-by-side benchmark: podlease against the reference `host-local`,
//! against `/bin/true` and against a static no-op the bench builds itself
//! (`fn main() {}` for the musl target: the true floor of spawning a plugin),
//! each exec'd the way a runtime does it (a fresh process per call, the CNI
//! variables in a cleared environment, the network config piped on stdin,
//! stdout read to the end).
//!
//! Run: `bench/run` (the shipped static build), or `cargo bench --bench
//! side_by_side` (root is not needed). Options after `--`: `--samples N`
//! (default 300, the empty /24 and VERSION), `--held-samples N` (default 100,
//! the 3,000-held cases), `--big-samples N` (default 60, the 30,000-held
//! cases), `--big-host-local-samples N` (default 8: host-local reads every
//! file on every call, about half a second with 30,000), `--held N` (default
//! 3000), `--big N` (default 30000), `--concurrent-only` (just the 16-caller
//! case, 9 rounds, for tuning), `--host-local PATH` (default
//! /usr/lib/cni/host-local), `--podlease PATH` (default: the binary cargo
//! built for this bench), `--dir PATH` (where the data directories go;
//! default cargo's `target/tmp`; the file system matters, see
//! bench/README.md).
//!
//! Prints a Markdown table of medians and ratios, then the targets and
//! whether this run met them. See bench/README.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::exit,
    clippy::cast_precision_loss
)]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PODLEASE: &str = env!("CARGO_BIN_EXE_podlease");
const NETWORK: &str = "bench";
const CONCURRENT_CALLERS: usize = 16;
const CONCURRENT_ADDS: usize = 480;
const CONCURRENT_ROUNDS: usize = 3;
const MUSL: &str = "x86_64-unknown-linux-musl";

/// The programs compared. `Noop` is the floor: linked exactly like the
/// shipped podlease (static, not position-independent). `PieNoop`, the same
/// no-op as a static-PIE (the musl target's default), and `/bin/true` are
/// shown beside it for comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prog {
    Podlease,
    HostLocal,
    True,
    Noop,
    PieNoop,
}

const PROGS: [Prog; 5] = [
    Prog::Podlease,
    Prog::HostLocal,
    Prog::True,
    Prog::Noop,
    Prog::PieNoop,
];
const N: usize = PROGS.len();

struct Setup {
    podlease: PathBuf,
    host_local: PathBuf,
    true_bin: PathBuf,
    noop: PathBuf,
    pie_noop: PathBuf,
    root: tempfile::TempDir,
}

impl Setup {
    fn bin(&self, p: Prog) -> &Path {
        match p {
            Prog::Podlease => &self.podlease,
            Prog::HostLocal => &self.host_local,
            Prog::True => &self.true_bin,
            Prog::Noop => &self.noop,
            Prog::PieNoop => &self.pie_noop,
        }
    }

    /// The IPAM plugin whose config the floors are fed: podlease's, so the
    /// bytes on stdin are the same size.
    fn ipam_type(p: Prog) -> &'static str {
        match p {
            Prog::HostLocal => "host-local",
            Prog::Podlease | Prog::True | Prog::Noop | Prog::PieNoop => "podlease",
        }
    }

    fn data_dir(&self, p: Prog, label: &str) -> PathBuf {
        self.root.path().join(format!("{label}-{p:?}"))
    }

    /// A network config (cniVersion 1.0.0, host-local's schema) in its own data dir.
    fn config(&self, p: Prog, label: &str, subnet: &str) -> Vec<u8> {
        let route = if subnet.contains(':') {
            "::/0"
        } else {
            "0.0.0.0/0"
        };
        serde_json::to_vec(&serde_json::json!({
            "cniVersion": "1.0.0",
            "name": NETWORK,
            "type": "bridge",
            "ipam": {
                "type": Self::ipam_type(p),
                "dataDir": self.data_dir(p, label),
                "ranges": [[{"subnet": subnet}]],
                "routes": [{"dst": route}],
            },
        }))
        .unwrap()
    }
}

/// A fresh copy of `bin`, made the way a node gets it (install-cni, dpkg and
/// `cp` write the file), into cargo's target tmp dir. The binaries the linker
/// wrote are not measured directly: here a just-linked podlease started up to
/// 40% slower than a copy of itself (VERSION 434 against 301 µs in one
/// side-by-side run; the same page faults, the cause not pinned down: where
/// the page cache holds the file), bench/README.md, "Installed copies".
/// host-local and
/// /bin/true are measured where their packages installed them.
fn installed(bin: &Path, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("installed");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(name);
    // A new inode: replacing the file keeps no page of an earlier copy.
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(bin, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", bin.display()));
    copy
}

/// How the shipped binary is linked, beyond the release profile:
/// `.cargo/config.toml`, `[target.x86_64-unknown-linux-musl] rustflags`.
/// The floor must be linked the same way (checked at run time: `elf_kind`).
const SHIPPED_FLAGS: &[&str] = &["-C", "relocation-model=static"];

/// Builds a spawn floor: `fn main() {}`, statically linked (musl), with the
/// release profile's code generation (opt-level 3, one codegen unit, fat
/// LTO, stripped) and `extra` flags, into cargo's target tmp dir as `name`.
/// Without the musl target, a static glibc no-op (slower to start,
/// bench/README.md "Start-up"), said so in the output. Returns the path and
/// how it was linked.
fn build_noop(name: &str, extra: &[&str]) -> Result<(PathBuf, String), String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spawn-floor");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let src = dir.join("noop.rs");
    std::fs::write(&src, "fn main() {}\n").map_err(|e| e.to_string())?;
    let out = dir.join(name);
    let mut why = String::new();
    for (flags, what) in [
        (&["--target", MUSL][..], "musl"),
        (
            &["-C", "target-feature=+crt-static"][..],
            "glibc: NO musl target, slower than the musl floor",
        ),
    ] {
        let st = Command::new("rustc")
            .args(["--edition", "2021"])
            .args(["-C", "opt-level=3", "-C", "codegen-units=1"])
            .args(["-C", "lto=fat", "-C", "strip=symbols"])
            .args(flags)
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg(&src)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("rustc: {e}"))?;
        if st.status.success() {
            return Ok((out.clone(), format!("{}, {what}", elf_kind(&out))));
        }
        why = String::from_utf8_lossy(&st.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
    }
    Err(format!("rustc failed: {why}"))
}

/// How an ELF executable is linked: static or dynamic (a `PT_INTERP`
/// program header names a loader), position-independent or not (`e_type`
/// `ET_DYN` or `ET_EXEC`). A static-PIE relocates its own image at every
/// start; the no-op floor must match podlease here to be fair.
fn elf_kind(path: &Path) -> &'static str {
    let Ok(b) = std::fs::read(path) else {
        return "unreadable";
    };
    let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|x| u64::from_le_bytes(x.try_into().unwrap()))
    };
    // ELF64, little-endian only (x86_64, aarch64).
    if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return "not a little-endian ELF64 file";
    }
    let (Some(e_type), Some(phoff), Some(phentsize), Some(phnum)) =
        (u16_at(16), u64_at(32), u16_at(54), u16_at(56))
    else {
        return "truncated ELF file";
    };
    let interp = (0..usize::from(phnum)).any(|i| {
        let at = usize::try_from(phoff).unwrap_or(usize::MAX) + i * usize::from(phentsize);
        u32_at(at) == Some(3) // PT_INTERP
    });
    match (interp, e_type) {
        (false, 2) => "static, not PIE (ET_EXEC)",
        (false, 3) => "static-PIE (ET_DYN)",
        (true, 2) => "dynamic, not PIE",
        (true, 3) => "dynamic PIE",
        _ => "ELF, neither an executable nor PIE",
    }
}

/// One plugin call: what came back and how long it took, spawn to exit.
struct Outcome {
    ok: bool,
    stdout: Vec<u8>,
    elapsed: Duration,
}

fn call(bin: &Path, command: &str, id: &str, stdin: &[u8]) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", "/var/run/netns/bench")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    // The floors may exit before reading: EPIPE is expected there.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Outcome {
        ok: out.status.success(),
        stdout: out.stdout,
        elapsed: start.elapsed(),
    }
}

/// Runs `command` and insists on success (the floors always succeed).
fn must(s: &Setup, p: Prog, command: &str, id: &str, stdin: &[u8]) -> Outcome {
    let o = call(s.bin(p), command, id, stdin);
    assert!(
        o.ok,
        "{p:?} {command} {id} failed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    o
}

/// The first address of an ADD result.
fn address(stdout: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    v["ips"][0]["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The CHECK stdin: the config with the ADD result as `prevResult`, as libcni sends it.
fn with_prev(conf: &[u8], add_stdout: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(conf).unwrap();
    if let Ok(prev) = serde_json::from_slice::<serde_json::Value>(add_stdout) {
        v["prevResult"] = prev;
    }
    serde_json::to_vec(&v).unwrap()
}

fn median_us(v: &[Duration]) -> f64 {
    let mut v: Vec<Duration> = v.to_vec();
    v.sort();
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    m.as_secs_f64() * 1e6
}

type PerProg = [Vec<Duration>; N];

/// The runtime's cycle, one network: ADD, CHECK (with the ADD result as
/// `prevResult`), DEL, and DEL again (containerd calls it on
/// StopPodSandbox and again on RemovePodSandbox).
#[derive(Default)]
struct Samples {
    add: PerProg,
    check: PerProg,
    del: PerProg,
    del_again: PerProg,
}

fn idx(p: Prog) -> usize {
    PROGS.iter().position(|q| *q == p).unwrap()
}

/// One network the cycle runs on, in a data directory per program.
struct Scenario {
    label: &'static str,
    name: String,
    subnet: &'static str,
    conf: [Vec<u8>; N],
    /// Addresses held outside the cycle.
    held: usize,
    /// A cycle every `every` samples; host-local's every `host_local_every`.
    every: usize,
    host_local_every: usize,
    samples: Samples,
}

impl Scenario {
    fn new(s: &Setup, label: &'static str, name: String, subnet: &'static str) -> Self {
        Self {
            label,
            name,
            subnet,
            conf: PROGS.map(|p| s.config(p, label, subnet)),
            held: 0,
            every: 1,
            host_local_every: 1,
            samples: Samples::default(),
        }
    }

    fn net_dir(&self, s: &Setup, p: Prog) -> PathBuf {
        s.data_dir(p, self.label).join(NETWORK)
    }

    /// ADD → CHECK → DEL → DEL of container `id`, timing each call.
    fn cycle(&mut self, s: &Setup, p: Prog, id: &str) {
        let conf = &self.conf[idx(p)];
        let add = must(s, p, "ADD", id, conf);
        let check_in = with_prev(conf, &add.stdout);
        let check = must(s, p, "CHECK", id, &check_in);
        let del = must(s, p, "DEL", id, &check_in);
        let again = must(s, p, "DEL", id, &check_in);
        let out = &mut self.samples;
        out.add[idx(p)].push(add.elapsed);
        out.check[idx(p)].push(check.elapsed);
        out.del[idx(p)].push(del.elapsed);
        out.del_again[idx(p)].push(again.elapsed);
    }

    /// Writes `n` reservations straight into podlease's and host-local's
    /// directories, in host-local's format (`<id>\r\n<ifname>` files named
    /// by the address, the cursor on the last), as a node that migrates
    /// from host-local has them; podlease has never seen them.
    fn fill(&mut self, s: &Setup, n: usize) {
        let net: ipnetwork::IpNetwork = self.subnet.parse().unwrap();
        let base = match net.network() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let addr = |i: usize| -> IpAddr {
            let v = base + 2 + i as u128;
            match net {
                ipnetwork::IpNetwork::V4(_) => IpAddr::V4(u32::try_from(v).unwrap().into()),
                ipnetwork::IpNetwork::V6(_) => IpAddr::V6(v.into()),
            }
        };
        for p in [Prog::Podlease, Prog::HostLocal] {
            let dir = self.net_dir(s, p);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                std::fs::write(dir.join(addr(i).to_string()), format!("filled-{i}\r\neth0"))
                    .unwrap();
            }
            if n > 0 {
                std::fs::write(dir.join("last_reserved_ip.0"), addr(n - 1).to_string()).unwrap();
            }
        }
        self.held = n;
        // podlease's first call after host-local's files appeared indexes
        // them (one scan); not measured, as on a node it happens once.
        must(
            s,
            Prog::Podlease,
            "DEL",
            "first-contact",
            &self.conf[idx(Prog::Podlease)],
        );
    }

    /// Asserts that podlease and host-local hold exactly `held` again.
    fn assert_held(&self, s: &Setup) {
        for p in [Prog::Podlease, Prog::HostLocal] {
            let count = std::fs::read_dir(self.net_dir(s, p))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<IpAddr>().is_ok())
                .count();
            assert_eq!(
                count, self.held,
                "{p:?} should hold {} in {}",
                self.held, self.name
            );
        }
    }

    fn rows(&self) -> Vec<Row> {
        let s = &self.samples;
        vec![
            row(&format!("ADD, {}", self.name), &s.add),
            row(&format!("CHECK, {}", self.name), &s.check),
            row(&format!("DEL, {}", self.name), &s.del),
            row(&format!("DEL again, {}", self.name), &s.del_again),
        ]
    }
}

/// 16 callers, 480 ADDs in all, on an empty /16; returns (wall time, distinct addresses).
fn concurrent(s: &Setup, p: Prog, round: usize) -> (Duration, usize) {
    let conf = Arc::new(s.config(p, &format!("conc{round}"), "10.30.0.0/16"));
    let bin = Arc::new(s.bin(p).to_path_buf());
    let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS + 1));
    let per = CONCURRENT_ADDS / CONCURRENT_CALLERS;
    let plugin = matches!(p, Prog::Podlease | Prog::HostLocal);
    let handles: Vec<_> = (0..CONCURRENT_CALLERS)
        .map(|t| {
            let (conf, bin, barrier) = (Arc::clone(&conf), Arc::clone(&bin), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut addrs = Vec::with_capacity(per);
                let mut failures = 0;
                for i in 0..per {
                    let o = call(&bin, "ADD", &format!("c{t}-{i}"), &conf);
                    if !o.ok {
                        failures += 1;
                    } else if plugin {
                        addrs.push(address(&o.stdout));
                    }
                }
                (addrs, failures)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut all = Vec::new();
    let mut failures = 0;
    for h in handles {
        let (a, f) = h.join().unwrap();
        all.extend(a);
        failures += f;
    }
    let wall = start.elapsed();
    assert_eq!(failures, 0, "{p:?}: {failures} concurrent ADDs failed");
    let distinct: BTreeSet<String> = all.into_iter().collect();
    (
        wall,
        if plugin {
            distinct.len()
        } else {
            CONCURRENT_ADDS
        },
    )
}

struct Row {
    name: String,
    med: [f64; N],
}

impl Row {
    fn of(&self, p: Prog) -> f64 {
        self.med[idx(p)]
    }
}

fn row(name: &str, d: &PerProg) -> Row {
    Row {
        name: name.to_owned(),
        med: std::array::from_fn(|i| median_us(&d[i])),
    }
}

struct Args {
    samples: usize,
    held_samples: usize,
    big_samples: usize,
    big_host_local_samples: usize,
    held: usize,
    big: usize,
    host_local: PathBuf,
    podlease: PathBuf,
    dir: Option<PathBuf>,
    concurrent_only: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        samples: 300,
        held_samples: 100,
        big_samples: 60,
        big_host_local_samples: 8,
        held: 3000,
        big: 30000,
        host_local: PathBuf::from("/usr/lib/cni/host-local"),
        podlease: PathBuf::from(PODLEASE),
        dir: None,
        concurrent_only: false,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, what: &str| -> usize {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what} needs a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--samples" => a.samples = num(it.next(), "--samples").max(1),
            "--held-samples" => a.held_samples = num(it.next(), "--held-samples").max(1),
            "--big-samples" => a.big_samples = num(it.next(), "--big-samples").max(1),
            "--big-host-local-samples" => {
                a.big_host_local_samples = num(it.next(), "--big-host-local-samples").max(1);
            }
            "--held" => a.held = num(it.next(), "--held"),
            "--big" => a.big = num(it.next(), "--big"),
            "--host-local" => a.host_local = PathBuf::from(it.next().expect("--host-local PATH")),
            "--podlease" => a.podlease = PathBuf::from(it.next().expect("--podlease PATH")),
            "--dir" => a.dir = Some(PathBuf::from(it.next().expect("--dir PATH"))),
            "--concurrent-only" => a.concurrent_only = true,
            _ => {} // cargo passes --bench; libtest filters do not apply here.
        }
    }
    a
}

/// The file system type and mount options `path` lives on, from /proc/self/mountinfo.
fn fs_of(path: &Path) -> String {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return "unknown".into();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut best: Option<(usize, String)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        let (mount_point, opts) = (
            f.get(4).copied().unwrap_or(""),
            f.get(5).copied().unwrap_or(""),
        );
        let fstype = f.get(dash + 1).copied().unwrap_or("?");
        let source = f.get(dash + 2).copied().unwrap_or("");
        let super_opts = f.get(dash + 3).copied().unwrap_or("");
        if path.starts_with(mount_point)
            && best.as_ref().is_none_or(|(l, _)| mount_point.len() >= *l)
        {
            // Without a journal, ext4's inode allocation steps over recently
            // freed inodes one by one (bench/README.md): worth knowing.
            let journal = if fstype == "ext4" {
                let dev = source.rsplit('/').next().unwrap_or(source);
                let has = std::fs::read_dir("/proc/fs/jbd2").is_ok_and(|d| {
                    d.flatten().any(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(&format!("{dev}-"))
                    })
                });
                if has { "" } else { ", no journal" }
            } else {
                ""
            };
            best = Some((
                mount_point.len(),
                format!("{fstype}{journal} on {mount_point} ({opts},{super_opts})"),
            ));
        }
    }
    best.map_or_else(|| "unknown".into(), |(_, d)| d)
}

/// Median µs to create one file in a fresh directory under `parent`.
fn creation_cost(parent: &Path) -> Option<f64> {
    let dir = tempfile::tempdir_in(parent).ok()?;
    let mut t = Vec::new();
    for i in 0..40 {
        let start = Instant::now();
        std::fs::File::create(dir.path().join(i.to_string())).ok()?;
        t.push(start.elapsed());
    }
    Some(median_us(&t))
}

/// Where the data directories go: `--dir`, or cargo's `target/…/tmp`, not
/// the system temp dir, where the test suite has just deleted thousands of
/// files. Also says what creating a file costs there now: on ext4 without a
/// journal, creating an inode steps over every inode recently freed in its
/// group, so next to a recent mass deletion it can cost 10x more for minutes.
/// That is the file system's state, not the plugins' cost (bench/README.md).
fn choose_parent(dir: Option<PathBuf>) -> (PathBuf, String) {
    let parent = dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&parent).unwrap();
    let cost = creation_cost(&parent).map_or("?".into(), |c| format!("{c:.0}"));
    (
        parent,
        format!("creating a file there costs {cost} µs now, median of 40"),
    )
}

/// The concurrent case, `rounds` times for each program, interleaved.
fn concurrency_phase(s: &Setup, rounds: usize) -> (PerProg, [usize; N]) {
    let t = Instant::now();
    let mut wall: PerProg = Default::default();
    let mut distinct = [usize::MAX; N];
    for round in 0..rounds {
        for k in 0..N {
            let p = PROGS[(round + k) % N];
            let (w, d) = concurrent(s, p, round);
            wall[idx(p)].push(w);
            distinct[idx(p)] = distinct[idx(p)].min(d);
        }
    }
    eprintln!("concurrency phase: {:.1} s", t.elapsed().as_secs_f64());
    (wall, distinct)
}

fn main() {
    let a = parse_args();
    let true_bin = ["/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("/bin/true");
    if !a.host_local.is_file() {
        eprintln!(
            "SKIP: {} not installed (apt-get install containernetworking-plugins)",
            a.host_local.display()
        );
        return;
    }
    let floor = |name: &str, extra: &[&str]| {
        build_noop(name, extra).unwrap_or_else(|why| {
            panic!(
                "cannot build the static no-op (the spawn floor): {why}; rustup target add {MUSL}"
            )
        })
    };
    let (noop, noop_kind) = floor("noop", SHIPPED_FLAGS);
    let (pie_noop, pie_noop_kind) = floor("noop-pie", &[]);
    let podlease_kind = elf_kind(&a.podlease);
    // The floor is only fair if it starts the way podlease does.
    let floor_note = if noop_kind.starts_with(podlease_kind) {
        String::new()
    } else {
        format!(
            "\n- **WARNING: the floor is not linked like podlease** (podlease: {podlease_kind}; \
             no-op: {noop_kind}): ratios against the no-op are not fair"
        )
    };
    let (parent, why) = choose_parent(a.dir.clone());
    let s = Setup {
        podlease: installed(&a.podlease, "podlease"),
        host_local: a.host_local.clone(),
        true_bin,
        noop: installed(&noop, "noop"),
        pie_noop: installed(&pie_noop, "noop-pie"),
        root: tempfile::tempdir_in(&parent).unwrap(),
    };
    if a.concurrent_only {
        // For tuning: only the concurrent case, more rounds.
        println!("data directories in {} ({why})", parent.display());
        let (wall, distinct) = concurrency_phase(&s, 9);
        let r = row("concurrent ADDs (wall, median of 9)", &wall);
        for (p, w) in PROGS.iter().zip(&wall) {
            let ms: Vec<u128> = w.iter().map(Duration::as_millis).collect();
            println!("{p:?} rounds, ms: {ms:?}");
        }
        println!(
            "{}: podlease {:.0} µs, host-local {:.0} µs, /bin/true {:.0} µs, static no-op {:.0} µs, \
             static-PIE no-op {:.0} µs; podlease / no-op {:.2}; distinct {}",
            r.name,
            r.of(Prog::Podlease),
            r.of(Prog::HostLocal),
            r.of(Prog::True),
            r.of(Prog::Noop),
            r.of(Prog::PieNoop),
            r.of(Prog::Podlease) / r.of(Prog::Noop),
            distinct[0]
        );
        return;
    }
    let total = Instant::now();
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!("# podlease vs host-local, side by side\n");
    println!(
        "- podlease: {} ({} bytes, {:.0} KiB, {podlease_kind})",
        s.podlease.display(),
        size(&s.podlease),
        size(&s.podlease) as f64 / 1024.0
    );
    println!(
        "- host-local: {} ({} bytes)",
        s.host_local.display(),
        size(&s.host_local)
    );
    println!(
        "- the floor, spawned with the same environment and stdin: {} (`fn main() {{}}`, \
         {noop_kind}, {} bytes, built by this run, linked like podlease); beside it \
         {} (the same no-op, {pie_noop_kind}, {} bytes) and {} ({}){floor_note}",
        s.noop.display(),
        size(&s.noop),
        s.pie_noop.display(),
        size(&s.pie_noop),
        s.true_bin.display(),
        elf_kind(&s.true_bin),
    );
    println!(
        "- data directories: {} on {}",
        s.root.path().display(),
        fs_of(s.root.path())
    );
    println!("  ({why})");
    println!(
        "- {cpus} CPUs, load average at start: {}",
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );

    // Warm up: page cache, binaries, directories.
    for p in PROGS {
        let conf = s.config(p, "warm", "10.9.0.0/24");
        for i in 0..10 {
            let id = format!("warm-{i}");
            must(&s, p, "ADD", &id, &conf);
            must(&s, p, "DEL", &id, &conf);
        }
    }

    // Concurrency first: creating files is what it measures, and on ext4
    // without a journal every inode freed in the last minute (the DELs of
    // the loop below) makes creating one slower (bench/README.md).
    let (conc_wall, conc_distinct) = concurrency_phase(&s, CONCURRENT_ROUNDS);

    let t = Instant::now();
    let mut empty = Scenario::new(&s, "empty", "empty /24".into(), "10.10.0.0/24");
    let mut held = Scenario::new(
        &s,
        "held",
        format!("{} held on a /16", a.held),
        "10.20.0.0/16",
    );
    let mut big = Scenario::new(
        &s,
        "big",
        format!("{} held on a /16", a.big),
        "10.40.0.0/16",
    );
    let mut big6 = Scenario::new(
        &s,
        "big6",
        format!("{} held on an IPv6 /64", a.big),
        "fd00:40::/64",
    );
    held.fill(&s, a.held);
    big.fill(&s, a.big);
    big6.fill(&s, a.big);
    held.every = (a.samples / a.held_samples).max(1);
    for sc in [&mut big, &mut big6] {
        sc.every = (a.samples / a.big_samples).max(1);
        sc.host_local_every = sc.every * (a.big_samples / a.big_host_local_samples).max(1);
    }
    eprintln!(
        "writing {} + 2 x {} reservations: {:.1} s",
        a.held,
        a.big,
        t.elapsed().as_secs_f64()
    );
    println!(
        "- per program: {} samples of VERSION and of the empty-/24 cycle, one {}-held cycle \
         every {} samples, one {}-held cycle every {} (host-local every {}); programs and cases \
         interleaved; medians in µs, spawn to exit. The held reservations are written straight \
         into both directories in host-local's format before the loop; podlease indexes them at \
         its first call (not measured)\n",
        a.samples, a.held, held.every, a.big, big.every, big.host_local_every
    );

    // One loop, so that machine drift hits every case alike: each sample runs
    // VERSION (start-up alone), then the cycle of a new container on each
    // network whose turn it is; the programs in an order rotated every sample.
    let t = Instant::now();
    let version_in = s.config(Prog::Podlease, "version", "10.8.0.0/24");
    let mut version: PerProg = Default::default();
    for i in 0..a.samples {
        for k in 0..N {
            let p = PROGS[(i + k) % N];
            version[idx(p)].push(must(&s, p, "VERSION", "v", &version_in).elapsed);
            for sc in [&mut empty, &mut held, &mut big, &mut big6] {
                let every = if p == Prog::HostLocal {
                    sc.host_local_every
                } else {
                    sc.every
                };
                if i % every == 0 {
                    sc.cycle(&s, p, &format!("{}-{i}", sc.label));
                }
            }
        }
    }
    eprintln!("measurement loop: {:.1} s", t.elapsed().as_secs_f64());
    for sc in [&empty, &held, &big, &big6] {
        sc.assert_held(&s);
    }

    let version = row("VERSION (start-up and exit only, no file work)", &version);
    let conc = row(
        &format!(
            "{CONCURRENT_ADDS} ADDs by {CONCURRENT_CALLERS} concurrent callers \
             (wall, median of {CONCURRENT_ROUNDS})"
        ),
        &conc_wall,
    );
    let (er, hr, br, b6r) = (empty.rows(), held.rows(), big.rows(), big6.rows());
    println!(
        "| case | podlease µs | host-local µs | /bin/true µs | static no-op µs | \
         static-PIE no-op µs | podlease / host-local | podlease / no-op |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let all: Vec<&Row> = std::iter::once(&version)
        .chain(&er)
        .chain(&hr)
        .chain(&br)
        .chain(&b6r)
        .chain(std::iter::once(&conc))
        .collect();
    for r in &all {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.name,
            r.of(Prog::Podlease),
            r.of(Prog::HostLocal),
            r.of(Prog::True),
            r.of(Prog::Noop),
            r.of(Prog::PieNoop),
            r.of(Prog::Podlease) / r.of(Prog::HostLocal),
            r.of(Prog::Podlease) / r.of(Prog::Noop)
        );
    }
    println!(
        "\nDistinct addresses after {CONCURRENT_ADDS} concurrent ADDs (worst round): \
         podlease {}, host-local {}",
        conc_distinct[idx(Prog::Podlease)],
        conc_distinct[idx(Prog::HostLocal)]
    );

    // Targets (issue 14).
    let floor = |r: &Row| r.of(Prog::Podlease) / r.of(Prog::Noop);
    let mut verdicts = Vec::new();
    for r in er.iter().chain(&hr).chain(&br).chain(&b6r) {
        verdicts.push((
            format!("{}: at most 3x the static no-op", r.name),
            floor(r) <= 3.0,
            format!("{:.2}x", floor(r)),
        ));
    }
    for rows in [&br, &b6r] {
        for (big, small) in rows.iter().zip(&er) {
            let x = big.of(Prog::Podlease) / small.of(Prog::Podlease);
            verdicts.push((
                format!("{}: within 1.2x of the empty /24", big.name),
                x <= 1.2,
                format!("{x:.2}x"),
            ));
        }
    }
    let again = &hr[3];
    let x = again.of(Prog::HostLocal) / again.of(Prog::Podlease);
    verdicts.push((
        format!("{}: at least 20x faster than host-local", again.name),
        x >= 20.0,
        format!("{x:.1}x"),
    ));
    let x = floor(&conc);
    verdicts.push((
        format!("{}: at most 1.5x the static no-op's", conc.name),
        x <= 1.5,
        format!("{x:.2}x"),
    ));
    verdicts.push((
        format!("{CONCURRENT_ADDS} concurrent ADDs give {CONCURRENT_ADDS} distinct addresses"),
        conc_distinct[idx(Prog::Podlease)] == CONCURRENT_ADDS,
        format!("{}", conc_distinct[idx(Prog::Podlease)]),
    ));
    let x = floor(&version);
    verdicts.push((
        "VERSION: at most 1.5x the static no-op".into(),
        x <= 1.5,
        format!("{x:.2}x"),
    ));
    println!("\n| target | met | measured |\n|---|---|---|");
    for (name, ok, got) in &verdicts {
        println!(
            "| {name} | {} | {got} |",
            if *ok { "yes" } else { "**no**" }
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nLoad average at the end: {}. Whole run: {:.0} s",
        load.split(' ').take(3).collect::<Vec<_>>().join(" "),
        total.elapsed().as_secs_f64()
    );
}
