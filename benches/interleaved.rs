//! A/B of several builds or configs, interleaved call by call: each sample
//! runs every entry once, in an order rotated every sample, so machine load
//! hits them alike (the machine is shared; never compare separate runs).
//!
//! ```sh
//! cargo bench --bench interleaved -- [--samples N] [--cycle] NAME=BINARY[@CONFIG] ...
//! ```
//!
//! Without `--cycle`: one `CNI_COMMAND=VERSION` call per entry and sample
//! (start-up and exit only; the config, if any, on stdin). With `--cycle`:
//! ADD then DEL of a new container per sample, each timed, with the entry's
//! config on stdin (each entry needs its own data directory in its config).
//! Spawn to exit, environment cleared but for the CNI variables, as
//! benches/side_by_side.rs does. Each entry runs a fresh copy of its binary,
//! made at the start (two copies of one binary made minutes apart have
//! started 12-25% apart here, bench/README.md). Prints medians in µs and each
//! entry's ratio to the first. bench/README.md, "Interleaved A/B".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Entry {
    name: String,
    bin: PathBuf,
    conf: Vec<u8>,
    /// Per timed command: the durations of the samples.
    times: Vec<Vec<Duration>>,
}

fn call(e: &Entry, command: &str, id: &str) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(&e.bin)
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
        .unwrap_or_else(|err| panic!("spawn {}: {err}", e.bin.display()));
    // A no-op may exit before reading: EPIPE is expected there.
    let _ = child.stdin.take().unwrap().write_all(&e.conf);
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "{} {command} {id} failed: {}",
        e.name,
        String::from_utf8_lossy(&out.stdout)
    );
    elapsed
}

fn median_us(v: &[Duration]) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2].as_secs_f64() * 1e6,
        n => (v[n / 2 - 1] + v[n / 2]).as_secs_f64() * 0.5e6,
    }
}

fn main() {
    let mut samples = 1000;
    let mut cycle = false;
    let mut entries = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--samples" => {
                samples = it.next().and_then(|v| v.parse().ok()).expect("--samples N");
            }
            "--cycle" => cycle = true,
            a if a.contains('=') => {
                let (name, rest) = a.split_once('=').unwrap();
                let (bin, conf) = match rest.split_once('@') {
                    Some((b, c)) => (b, std::fs::read(c).unwrap_or_else(|e| panic!("{c}: {e}"))),
                    None => (rest, Vec::new()),
                };
                entries.push(Entry {
                    name: name.to_owned(),
                    bin: PathBuf::from(bin),
                    conf,
                    times: vec![Vec::new(); 2],
                });
            }
            _ => {} // cargo passes --bench
        }
    }
    assert!(
        !entries.is_empty(),
        "usage: interleaved [--samples N] [--cycle] NAME=BINARY[@CONFIG] ..."
    );
    // Fresh copies, one per entry, all made now.
    let copies = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for (i, e) in entries.iter_mut().enumerate() {
        let copy = copies.path().join(format!("{i}-{}", e.name));
        std::fs::copy(&e.bin, &copy).unwrap_or_else(|err| panic!("{}: {err}", e.bin.display()));
        e.bin = copy;
    }
    let commands: &[&str] = if cycle { &["ADD", "DEL"] } else { &["VERSION"] };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let n = entries.len();
    // Warm-up: page cache, directories.
    for e in &entries {
        for i in 0..10 {
            for c in commands {
                call(e, c, &format!("warm-{i}"));
            }
        }
    }
    let t = Instant::now();
    for i in 0..samples {
        for k in 0..n {
            let e = &mut entries[(i + k) % n];
            let id = format!("s-{i}");
            for (j, c) in commands.iter().enumerate() {
                let d = call(e, c, &id);
                e.times[j].push(d);
            }
        }
    }
    println!(
        "{samples} samples per entry, interleaved; load average {} at the start, {} at the end; {:.0} s\n",
        load.split(' ').take(3).collect::<Vec<_>>().join(" "),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        t.elapsed().as_secs_f64()
    );
    println!("| entry | size bytes | command | median µs | / first |");
    println!("|---|---:|---|---:|---:|");
    for (j, c) in commands.iter().enumerate() {
        let first = median_us(&entries[0].times[j]);
        for e in &entries {
            let m = median_us(&e.times[j]);
            let size = std::fs::metadata(&e.bin).map_or(0, |m| m.len());
            println!("| {} | {size} | {c} | {m:.0} | {:.3} |", e.name, m / first);
        }
    }
}
