//! Side-by-side benchmark: podlease against the reference `host-local` and
//! against `/bin/true`, each exec'd the way a runtime does it (a fresh
//! process per call, the CNI variables in a cleared environment, the
//! network config piped on stdin, stdout read to the end).
//!
//! Run: `cargo bench --bench side_by_side` (root is not needed).
//! Options after `--`: `--samples N` (default 300), `--held N` (default 3000),
//! `--held-samples N` (samples with N held, default 100: host-local then takes
//! ~50 ms a call), `--fill-by-host-local` (fill host-local's /16 with its own
//! ADDs, minutes, instead of a copy of podlease's identical files),
//! `--concurrent-only` (just the 16-caller case, 9 rounds, for tuning),
//! `--host-local PATH` (default /usr/lib/cni/host-local), `--podlease PATH`
//! (default: the binary cargo built for this bench), `--dir PATH` (where
//! the data directories go; default cargo's `target/tmp`; the file system
//! matters, see bench/README.md).
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
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PODLEASE: &str = env!("CARGO_BIN_EXE_podlease");
const NETWORK: &str = "bench";
const CONCURRENT_CALLERS: usize = 16;
const CONCURRENT_ADDS: usize = 480;
const CONCURRENT_ROUNDS: usize = 3;

/// The three programs compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prog {
    Podlease,
    HostLocal,
    True,
}

const PROGS: [Prog; 3] = [Prog::Podlease, Prog::HostLocal, Prog::True];

struct Setup {
    podlease: PathBuf,
    host_local: PathBuf,
    true_bin: PathBuf,
    root: tempfile::TempDir,
}

impl Setup {
    fn bin(&self, p: Prog) -> &Path {
        match p {
            Prog::Podlease => &self.podlease,
            Prog::HostLocal => &self.host_local,
            Prog::True => &self.true_bin,
        }
    }

    /// The IPAM plugin whose config `/bin/true` is fed: podlease's, so the
    /// bytes on stdin are the same size.
    fn ipam_type(p: Prog) -> &'static str {
        match p {
            Prog::HostLocal => "host-local",
            Prog::Podlease | Prog::True => "podlease",
        }
    }

    /// A network config (cniVersion 1.0.0, host-local's schema) in its own data dir.
    fn config(&self, p: Prog, label: &str, subnet: &str) -> Vec<u8> {
        let data_dir = self.root.path().join(format!("{label}-{p:?}"));
        serde_json::to_vec(&serde_json::json!({
            "cniVersion": "1.0.0",
            "name": NETWORK,
            "type": "bridge",
            "ipam": {
                "type": Self::ipam_type(p),
                "dataDir": data_dir,
                "ranges": [[{"subnet": subnet}]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }))
        .unwrap()
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
    // /bin/true may exit before reading: EPIPE is expected there.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    Outcome {
        ok: out.status.success(),
        stdout: out.stdout,
        elapsed: start.elapsed(),
    }
}

/// Runs `command` and insists on success (except for /bin/true, which always succeeds).
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

#[derive(Default)]
struct Samples {
    add: [Vec<Duration>; 3],
    check: [Vec<Duration>; 3],
    del: [Vec<Duration>; 3],
}

fn idx(p: Prog) -> usize {
    PROGS.iter().position(|q| *q == p).unwrap()
}

/// ADD → CHECK → DEL of container `id`, timing each call into `out`.
fn cycle(s: &Setup, p: Prog, conf: &[u8], id: &str, out: &mut Samples) {
    let add = must(s, p, "ADD", id, conf);
    let check_in = with_prev(conf, &add.stdout);
    let check = must(s, p, "CHECK", id, &check_in);
    let del = must(s, p, "DEL", id, &check_in);
    out.add[idx(p)].push(add.elapsed);
    out.check[idx(p)].push(check.elapsed);
    out.del[idx(p)].push(del.elapsed);
}

/// Copies host-local's part of a network directory (address files, cursor,
/// lock; not podlease's `.podlease/`, which host-local's recursive scan would
/// otherwise read too), like `cp -a` of those files.
fn copy_host_local_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_name() != ".podlease" && e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Fills `conf`'s network with `n` real ADDs (containers `held-0`..).
fn populate(bin: &Path, conf: &[u8], n: usize) {
    for i in 0..n {
        let o = call(bin, "ADD", &format!("held-{i}"), conf);
        assert!(
            o.ok,
            "populating {}: ADD {i} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// 16 callers, 480 ADDs in all, on an empty /16; returns (wall time, distinct addresses).
fn concurrent(s: &Setup, p: Prog, round: usize) -> (Duration, usize) {
    let conf = Arc::new(s.config(p, &format!("conc{round}"), "10.30.0.0/16"));
    let bin = Arc::new(s.bin(p).to_path_buf());
    let barrier = Arc::new(Barrier::new(CONCURRENT_CALLERS + 1));
    let per = CONCURRENT_ADDS / CONCURRENT_CALLERS;
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
                    } else if p != Prog::True {
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
        if p == Prog::True {
            CONCURRENT_ADDS
        } else {
            distinct.len()
        },
    )
}

struct Row {
    name: String,
    med: [f64; 3],
}

fn row(name: &str, d: &[Vec<Duration>; 3]) -> Row {
    Row {
        name: name.to_owned(),
        med: [median_us(&d[0]), median_us(&d[1]), median_us(&d[2])],
    }
}

struct Args {
    samples: usize,
    held_samples: usize,
    held: usize,
    host_local: PathBuf,
    podlease: PathBuf,
    dir: Option<PathBuf>,
    fill_by_host_local: bool,
    concurrent_only: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        samples: 300,
        held_samples: 100,
        held: 3000,
        host_local: PathBuf::from("/usr/lib/cni/host-local"),
        podlease: PathBuf::from(PODLEASE),
        dir: None,
        fill_by_host_local: false,
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
            "--held" => a.held = num(it.next(), "--held"),
            "--host-local" => a.host_local = PathBuf::from(it.next().expect("--host-local PATH")),
            "--podlease" => a.podlease = PathBuf::from(it.next().expect("--podlease PATH")),
            "--dir" => a.dir = Some(PathBuf::from(it.next().expect("--dir PATH"))),
            "--fill-by-host-local" => a.fill_by_host_local = true,
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
fn concurrency_phase(s: &Setup, rounds: usize) -> ([Vec<Duration>; 3], [usize; 3]) {
    let t = Instant::now();
    let mut wall: [Vec<Duration>; 3] = Default::default();
    let mut distinct = [usize::MAX; 3];
    for round in 0..rounds {
        for k in 0..3 {
            let p = PROGS[(round + k) % 3];
            let (w, d) = concurrent(s, p, round);
            wall[idx(p)].push(w);
            distinct[idx(p)] = distinct[idx(p)].min(d);
        }
    }
    eprintln!("concurrency phase: {:.1} s", t.elapsed().as_secs_f64());
    (wall, distinct)
}

fn main() {
    let Args {
        samples,
        held_samples,
        held,
        host_local,
        podlease,
        dir,
        fill_by_host_local,
        concurrent_only,
    } = parse_args();
    let true_bin = ["/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("/bin/true");
    if !host_local.is_file() {
        eprintln!(
            "SKIP: {} not installed (apt-get install containernetworking-plugins)",
            host_local.display()
        );
        return;
    }
    let (parent, why) = choose_parent(dir);
    let s = Setup {
        podlease,
        host_local,
        true_bin,
        root: tempfile::tempdir_in(&parent).unwrap(),
    };
    if concurrent_only {
        // For tuning: only the concurrent case, more rounds.
        println!("data directories in {} ({why})", parent.display());
        let (wall, distinct) = concurrency_phase(&s, 9);
        let r = row("concurrent ADDs (wall, median of 9)", &wall);
        for (p, w) in PROGS.iter().zip(&wall) {
            let ms: Vec<u128> = w.iter().map(Duration::as_millis).collect();
            println!("{p:?} rounds, ms: {ms:?}");
        }
        println!(
            "{}: podlease {:.0} µs, host-local {:.0} µs, /bin/true {:.0} µs; \
             podlease / true {:.2}; distinct {}",
            r.name,
            r.med[0],
            r.med[1],
            r.med[2],
            r.med[0] / r.med[2],
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
        "- podlease: {} ({} bytes, {:.0} KiB)",
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
        "- baseline: {} spawned with the same environment and stdin",
        s.true_bin.display()
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
    println!(
        "- {samples} samples per empty-/24 case, {} per {held}-held case (one every {}), \
         programs and cases interleaved; medians in µs, spawn to exit\n",
        samples.div_ceil((samples / held_samples).max(1)),
        (samples / held_samples).max(1)
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

    // A /16 with `held` addresses held, populated by real ADDs.
    let t = Instant::now();
    let full = PROGS.map(|p| s.config(p, "held", "10.20.0.0/16"));
    let net_dir = |p: Prog| s.root.path().join(format!("held-{p:?}")).join(NETWORK);
    if fill_by_host_local {
        // Each plugin fills its own directory (host-local takes minutes: each ADD reads every file).
        std::thread::scope(|scope| {
            for p in [Prog::Podlease, Prog::HostLocal] {
                let (bin, conf) = (s.bin(p), &full[idx(p)]);
                scope.spawn(move || populate(bin, conf, held));
            }
        });
    } else {
        // podlease's ADDs write host-local's format exactly (`<id>\r\n<ifname>`
        // files, `last_reserved_ip.0`), so host-local starts from a copy.
        populate(s.bin(Prog::Podlease), &full[idx(Prog::Podlease)], held);
        copy_host_local_files(&net_dir(Prog::Podlease), &net_dir(Prog::HostLocal));
    }
    eprintln!(
        "populating {held} addresses: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // One loop, so that machine drift hits every case alike: each sample runs
    // VERSION (start-up alone), then ADD → CHECK → DEL of a new container on
    // the empty /24 (it is the only one) and, every few samples, on the /16
    // that holds `held` (held+1 during CHECK and DEL, `held` again after); the
    // three programs in an order rotated every sample.
    let t = Instant::now();
    let version_in = s.config(Prog::Podlease, "version", "10.8.0.0/24");
    let empty = PROGS.map(|p| s.config(p, "empty", "10.10.0.0/24"));
    let every = (samples / held_samples).max(1);
    let mut version: [Vec<Duration>; 3] = Default::default();
    let (mut e, mut h) = (Samples::default(), Samples::default());
    for i in 0..samples {
        for k in 0..3 {
            let p = PROGS[(i + k) % 3];
            version[idx(p)].push(must(&s, p, "VERSION", "v", &version_in).elapsed);
            cycle(&s, p, &empty[idx(p)], &format!("e-{i}"), &mut e);
            if i % every == 0 {
                cycle(&s, p, &full[idx(p)], &format!("h-{i}"), &mut h);
            }
        }
    }
    eprintln!("measurement loop: {:.1} s", t.elapsed().as_secs_f64());
    for p in [Prog::Podlease, Prog::HostLocal] {
        let count = std::fs::read_dir(net_dir(p))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("10."))
            .count();
        assert_eq!(
            count, held,
            "{p:?} should hold {held} addresses after the loop"
        );
    }

    let version = row("VERSION (start-up and exit only, no file work)", &version);
    let add_e = row("ADD, empty /24", &e.add);
    let del_e = row("DEL, empty /24 (holder of the only address)", &e.del);
    let check_e = row("CHECK, empty /24 (holder of the only address)", &e.check);
    let add_h = row(&format!("ADD, {held} held on a /16"), &h.add);
    let del_h = row(&format!("DEL, {held} held on a /16"), &h.del);
    let check_h = row(&format!("CHECK, {held} held on a /16"), &h.check);
    let conc = row(
        &format!(
            "{CONCURRENT_ADDS} ADDs by {CONCURRENT_CALLERS} concurrent callers \
             (wall, median of {CONCURRENT_ROUNDS})"
        ),
        &conc_wall,
    );
    let cases = [&add_e, &del_e, &check_e, &add_h, &del_h, &check_h, &conc];
    println!(
        "| case | podlease µs | host-local µs | /bin/true µs | podlease / host-local | podlease / true |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in std::iter::once(&version).chain(cases) {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            r.name,
            r.med[0],
            r.med[1],
            r.med[2],
            r.med[0] / r.med[1],
            r.med[0] / r.med[2]
        );
    }
    println!(
        "\nDistinct addresses after {CONCURRENT_ADDS} concurrent ADDs (worst round): \
         podlease {}, host-local {}",
        conc_distinct[0], conc_distinct[1]
    );

    // Targets.
    let faster = |r: &Row, factor: f64| {
        let x = r.med[1] / r.med[0];
        (
            format!("{}: ≥ {factor}x faster than host-local", r.name),
            x >= factor,
            format!("{x:.2}x"),
        )
    };
    let held_count = held;
    let not_slower = |held: &Row, empty: &Row, what: &str| {
        (
            format!("{what} not slower with {held_count} held than empty"),
            held.med[0] <= empty.med[0] * 1.05,
            format!("{:.0} vs {:.0} µs", held.med[0], empty.med[0]),
        )
    };
    let mut verdicts = vec![
        faster(&add_e, 2.5),
        faster(&del_e, 2.5),
        faster(&add_h, 10.0),
        faster(&del_h, 10.0),
        not_slower(&del_h, &del_e, "DEL"),
        not_slower(&check_h, &check_e, "CHECK"),
        (
            format!("{CONCURRENT_ADDS} concurrent ADDs give {CONCURRENT_ADDS} distinct addresses"),
            conc_distinct[0] == CONCURRENT_ADDS,
            format!("{}", conc_distinct[0]),
        ),
    ];
    for r in cases {
        let x = r.med[0] / r.med[2];
        verdicts.push((
            format!("{}: within 1.5x of /bin/true", r.name),
            x <= 1.5,
            format!("{x:.2}x"),
        ));
    }
    println!("\n| target | met | measured |\n|---|---|---|");
    for (name, ok, got) in &verdicts {
        println!(
            "| {name} | {} | {got} |",
            if *ok { "yes" } else { "**no**" }
        );
    }
    println!(
        "\n(\"not slower\" allows 5% noise.) Whole run: {:.0} s",
        total.elapsed().as_secs_f64()
    );
}
