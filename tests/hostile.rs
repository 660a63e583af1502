//! Hostile input, exec'ing the real binary: random bytes, truncated JSON,
//! deep nesting, huge documents, wrong types at every field, extreme CIDRs,
//! path tricks in names, invalid UTF-8 in the environment, odd CNI_ARGS.
//!
//! The properties: the process exits with status 0 or 1 (never 101/134, a
//! panic or abort, never a signal); on status 1 stdout is exactly one CNI
//! error object with an integer `code` (not 110, our "caught panic") and a
//! string `msg`; for inputs that are invalid, the status is 1 and nothing
//! under the test's root (a dataDir holding a real allocation) changed.
//!
//! Every input that ever broke podlease is kept under
//! `tests/fixtures/hostile/` (one JSON file each) and replayed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Call, Reply};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use serde_json::{Value, json};

/// Inputs tried, over all tests of this file (printed for the record).
static TRIED: AtomicUsize = AtomicUsize::new(0);

const NET: &str = "hnet";

/// A root directory with a dataDir that holds a real allocation of `NET`.
struct World {
    tmp: tempfile::TempDir,
    before: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &p, out);
            } else if m.file_type().is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&p).unwrap()));
            } else {
                out.insert(rel, Entry::File(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("resolv.conf"),
            "nameserver 192.0.2.53\nsearch example.org\n",
        )
        .unwrap();
        let w = Self {
            tmp,
            before: BTreeMap::new(),
        };
        // The resident takes dynamic addresses; the base config's requested
        // ones (.50) stay free so that the base is valid for ADD.
        let mut resident = w.base();
        resident.as_object_mut().unwrap().remove("runtimeConfig");
        resident.as_object_mut().unwrap().remove("args");
        let r = Call::new("ADD", &resident)
            .id("resident")
            .run(&common::podlease());
        assert_eq!(r.addresses().len(), 2, "{r:?}");
        Self {
            before: snapshot(w.tmp.path()),
            ..w
        }
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A valid config using every field podlease reads.
    fn base(&self) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": NET,
            "type": "bridge",
            "ipam": {
                "type": "podlease",
                "dataDir": self.data(),
                "resolvConf": self.tmp.path().join("resolv.conf"),
                "ranges": [
                    [{ "subnet": "10.90.0.0/24", "rangeStart": "10.90.0.10", "rangeEnd": "10.90.0.200", "gateway": "10.90.0.1" }],
                    [{ "subnet": "fd00:90::/64" }]
                ],
                "routes": [{ "dst": "0.0.0.0/0", "gw": "10.90.0.1", "mtu": 1500 }, { "dst": "::/0" }],
                "reclaimOnReboot": true,
                "reuseDelaySeconds": 0,
                "sticky": false,
                "exclude": ["10.90.0.100/30"],
                "serviceCidrs": ["10.96.0.0/12"],
                "nodeAddresses": ["192.168.1.10"]
            },
            "runtimeConfig": { "ips": ["10.90.0.50"] },
            "args": { "cni": { "ips": ["fd00:90::50"] } }
        })
    }

    fn assert_unchanged(&self, what: &dyn std::fmt::Debug) {
        let now = snapshot(self.tmp.path());
        if now != self.before {
            let added: Vec<_> = now
                .keys()
                .filter(|k| !self.before.contains_key(*k))
                .collect();
            let removed: Vec<_> = self
                .before
                .keys()
                .filter(|k| !now.contains_key(*k))
                .collect();
            let changed: Vec<_> = now
                .iter()
                .filter(|(k, v)| self.before.get(*k).is_some_and(|b| b != *v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "state changed by {what:?}: added {added:?}, removed {removed:?}, changed {changed:?}"
            );
        }
    }
}

/// One hostile invocation: a call plus raw (possibly non-UTF-8) overrides.
#[derive(Clone, Debug)]
struct Input {
    call: Call,
    raw_env: Vec<(String, Vec<u8>)>,
}

impl Input {
    fn new(call: Call) -> Self {
        Self {
            call,
            raw_env: Vec::new(),
        }
    }

    fn run(&self) -> Reply {
        TRIED.fetch_add(1, Ordering::Relaxed);
        let mut cmd = self.call.command(&common::podlease());
        for (k, v) in &self.raw_env {
            cmd.env(k, OsString::from_vec(v.clone()));
        }
        let mut child = cmd.spawn().expect("spawn");
        let stdin = child.stdin.take().unwrap();
        let bytes = self.call.stdin.clone();
        // A writer thread: the plugin may stop reading (oversized input).
        let writer = std::thread::spawn(move || {
            let mut stdin = stdin;
            let _ = stdin.write_all(&bytes);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert!(
            out.status.signal().is_none(),
            "killed by signal {:?}: {}",
            out.status.signal(),
            self.fixture()
        );
        Reply::from(out)
    }

    /// The input as a fixture file (tests/fixtures/hostile/), for the record.
    fn fixture(&self) -> String {
        let mut env = serde_json::Map::new();
        env.insert("CNI_COMMAND".into(), self.call.command.clone().into());
        env.insert(
            "CNI_CONTAINERID".into(),
            self.call.container_id.clone().into(),
        );
        env.insert("CNI_IFNAME".into(), self.call.ifname.clone().into());
        if let Some(a) = &self.call.args {
            env.insert("CNI_ARGS".into(), a.clone().into());
        }
        for (k, v) in &self.call.extra_env {
            env.insert(k.clone(), v.clone().into());
        }
        let env_hex: serde_json::Map<String, Value> = self
            .raw_env
            .iter()
            .map(|(k, v)| (k.clone(), hex(v).into()))
            .collect();
        let mut f = json!({ "why": "", "expect": "error", "env": env, "env_hex": env_hex });
        match std::str::from_utf8(&self.call.stdin) {
            Ok(s) if s.len() < 100_000 => f["stdin"] = s.into(),
            _ if self.call.stdin.len() < 100_000 => f["stdin_hex"] = hex(&self.call.stdin).into(),
            _ => f["stdin_len"] = self.call.stdin.len().into(),
        }
        f.to_string()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Status 0 or 1; on 1, exactly one error object with an integer code that
/// is not 110 (a caught panic) and a string msg.
fn assert_sane(input: &Input, r: &Reply) {
    match r.status {
        Some(0) => {}
        Some(1) => {
            let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
                panic!(
                    "stdout is not one JSON value ({e}): {r:?}\ninput: {}",
                    input.fixture()
                )
            });
            let code = v.get("code").and_then(Value::as_u64);
            assert!(
                code.is_some() && v["msg"].is_string(),
                "not a CNI error object: {r:?}\ninput: {}",
                input.fixture()
            );
            assert_ne!(
                code,
                Some(110),
                "podlease panicked: {r:?}\ninput: {}",
                input.fixture()
            );
        }
        other => panic!(
            "exit status {other:?} (101 = panic, 134 = abort): {r:?}\ninput: {}",
            input.fixture()
        ),
    }
}

/// The property for invalid input: status 1, a CNI error, no change.
fn assert_rejected(world: &World, input: &Input) -> Reply {
    let r = input.run();
    assert_sane(input, &r);
    assert_eq!(
        r.status,
        Some(1),
        "accepted: {r:?}\ninput: {}",
        input.fixture()
    );
    world.assert_unchanged(&input.fixture());
    r
}

/// A fixed seed, so CI runs the same inputs every time.
/// `PODLEASE_FUZZ_SEED=<n>` and `PODLEASE_FUZZ_SCALE=<k>` (k times the cases)
/// explore further by hand.
#[allow(clippy::disallowed_methods)] // test-only knobs
fn config(cases: u32) -> ProptestConfig {
    let knob = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: cases * knob("PODLEASE_FUZZ_SCALE").unwrap_or(1) as u32,
        failure_persistence: None,
        max_shrink_iters: 200,
        rng_seed: RngSeed::Fixed(knob("PODLEASE_FUZZ_SEED").unwrap_or(0x706f_646c_6561_7365)),
        ..ProptestConfig::default()
    }
}

const COMMANDS: [&str; 5] = ["ADD", "DEL", "CHECK", "GC", "STATUS"];

#[test]
fn base_config_is_valid() {
    // The mutations below are only meaningful if the base itself is accepted.
    let w = World::new();
    let r = Call::new("ADD", &w.base())
        .id("probe")
        .run(&common::podlease());
    let got = r.addresses();
    assert_eq!(got, ["10.90.0.50", "fd00:90::50"], "{r:?}");
    Call::new("DEL", &w.base())
        .id("probe")
        .run(&common::podlease())
        .success_empty();
}

#[test]
fn random_bytes_on_stdin() {
    let w = World::new();
    proptest!(config(160), |(bytes in prop::collection::vec(any::<u8>(), 0..1500), cmd in 0..5usize)| {
        let input = Input::new(Call::new(COMMANDS[cmd], &json!({})).id("victim").stdin_bytes(&bytes));
        let r = assert_rejected(&w, &input);
        prop_assert!(matches!(r.json()["code"].as_u64(), Some(6 | 7 | 1)), "{r:?}");
    });
}

#[test]
fn truncated_json() {
    let w = World::new();
    let full = serde_json::to_vec(&w.base()).unwrap();
    let n = full.len();
    proptest!(config(160), |(cut in 0..n, cmd in 0..5usize)| {
        let input = Input::new(Call::new(COMMANDS[cmd], &json!({})).id("victim").stdin_bytes(&full[..cut]));
        let r = assert_rejected(&w, &input);
        prop_assert_eq!(r.json()["code"].as_u64(), Some(6));
    });
}

#[test]
fn deep_nesting_and_huge_documents() {
    let w = World::new();
    let base = serde_json::to_string(&w.base()).unwrap();
    let inside = |s: &str| format!("{}, \"deep\": {s}}}", &base[..base.len() - 1]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100k [", "[".repeat(100_000).into_bytes()),
        (
            "100k [ closed",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
        ("100k {\"a\":", "{\"a\":".repeat(100_000).into_bytes()),
        (
            "deep inside a valid config",
            inside(&format!("{}{}", "[".repeat(50_000), "]".repeat(50_000))).into_bytes(),
        ),
        (
            "5 MiB string",
            inside(&format!("\"{}\"", "x".repeat(5 << 20))).into_bytes(),
        ),
        (
            "5 MiB of spaces after a valid config",
            format!("{base}{}", " ".repeat(5 << 20)).into_bytes(),
        ),
        (
            "4 MiB + 1 byte",
            format!("{base}{}", " ".repeat((4 << 20) + 1 - base.len())).into_bytes(),
        ),
        ("16 MiB of zeros", vec![0u8; 16 << 20]),
        ("1M numbers where routes go", {
            let mut c = base.clone().into_bytes();
            let routes = format!("\"routes\":[{}0]", "0,".repeat(1_000_000));
            let s = String::from_utf8(c.clone()).unwrap().replacen(
                "\"routes\":[",
                &format!("{routes},\"routes_was\":["),
                1,
            );
            c = s.into_bytes();
            c
        }),
    ];
    for (what, stdin) in cases {
        // DEL and GC read only dataDir of a parseable config, on purpose.
        let commands: &[&str] = if what.starts_with("1M") {
            &["ADD", "CHECK"]
        } else {
            &["ADD", "DEL", "GC"]
        };
        for &cmd in commands {
            let input = Input::new(Call::new(cmd, &json!({})).id("victim").stdin_bytes(&stdin));
            let r = assert_rejected(&w, &input);
            let msg = r.json()["msg"].as_str().unwrap().to_owned();
            eprintln!(
                "{what} / {cmd}: code {} {}",
                r.json()["code"],
                &msg[..msg.len().min(120)]
            );
        }
    }
}

/// A wrong value for a field: every JSON type but the right one.
fn wrong_values(kind: &str, required: bool) -> Vec<Value> {
    let mut v = match kind {
        "str" => vec![
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!([]),
            json!(["x"]),
            json!({}),
            json!({ "a": "b" }),
        ],
        "arr" => vec![
            json!(true),
            json!(1),
            json!("x"),
            json!({}),
            json!({ "0": 1 }),
        ],
        "obj" => vec![json!(true), json!(1), json!("x"), json!([]), json!([{}])],
        "bool" => vec![
            json!(1),
            json!(0),
            json!("true"),
            json!("yes"),
            json!([]),
            json!({}),
        ],
        "int" => vec![
            json!("1500"),
            json!(1.5),
            json!(true),
            json!([]),
            json!({}),
            json!(1e300),
            json!(u64::MAX),
        ],
        "u64" => vec![
            json!(-1),
            json!(1.5),
            json!("10"),
            json!(true),
            json!([]),
            json!({}),
        ],
        other => panic!("{other}"),
    };
    if required {
        v.push(Value::Null);
    }
    v
}

/// (JSON pointer, kind, whether null is wrong too).
const FIELDS: &[(&str, &str, bool)] = &[
    ("/cniVersion", "str", false),
    ("/name", "str", true),
    ("/ipam", "obj", true),
    ("/ipam/dataDir", "str", false),
    ("/ipam/resolvConf", "str", false),
    ("/ipam/ranges", "arr", true),
    ("/ipam/ranges/0", "arr", true),
    ("/ipam/ranges/0/0", "obj", true),
    ("/ipam/ranges/0/0/subnet", "str", true),
    ("/ipam/ranges/0/0/rangeStart", "str", false),
    ("/ipam/ranges/0/0/rangeEnd", "str", false),
    ("/ipam/ranges/0/0/gateway", "str", false),
    ("/ipam/ranges/1/0/subnet", "str", true),
    ("/ipam/routes", "arr", false),
    ("/ipam/routes/0", "obj", true),
    ("/ipam/routes/0/dst", "str", true),
    ("/ipam/routes/0/gw", "str", false),
    ("/ipam/routes/0/mtu", "int", false),
    ("/ipam/reclaimOnReboot", "bool", false),
    ("/ipam/reuseDelaySeconds", "u64", false),
    ("/ipam/sticky", "bool", false),
    ("/ipam/exclude", "arr", false),
    ("/ipam/exclude/0", "str", true),
    ("/ipam/serviceCidrs", "arr", false),
    ("/ipam/serviceCidrs/0", "str", true),
    ("/ipam/nodeAddresses/0", "str", true),
    ("/runtimeConfig", "obj", false),
    ("/runtimeConfig/ips", "arr", false),
    ("/runtimeConfig/ips/0", "str", true),
    ("/args", "obj", false),
    ("/args/cni", "obj", false),
    ("/args/cni/ips", "arr", false),
    ("/args/cni/ips/0", "str", true),
];

/// Every wrong type at every field (exhaustive, not sampled): ADD and CHECK
/// reject it, naming the field.
#[test]
fn wrong_types_at_every_field() {
    let w = World::new();
    let mut tried = 0;
    for (ptr, kind, required) in FIELDS {
        for bad in wrong_values(kind, *required) {
            let mut conf = w.base();
            if ptr.ends_with("/ranges") && bad.is_null() {
                // Without ranges there is nothing to allocate from: also an error.
            }
            *conf.pointer_mut(ptr).unwrap_or_else(|| panic!("{ptr}")) = bad.clone();
            for cmd in ["ADD", "CHECK"] {
                let input = Input::new(Call::new(cmd, &conf).id("victim"));
                let r = assert_rejected(&w, &input);
                tried += 1;
                let msg = r.json()["msg"].as_str().unwrap().to_owned();
                let field = ptr.rsplit('/').next().unwrap();
                let named = field.parse::<usize>().is_ok()
                    || msg.contains(field)
                    || msg.contains("cniVersion");
                assert!(
                    named,
                    "{ptr} = {bad}: the message does not name the field: {msg}"
                );
            }
        }
    }
    eprintln!("wrong types: {tried} invocations");
}

const EXTREME_SUBNETS: &[&str] = &[
    "0.0.0.0/0",
    "0.0.0.0/1",
    "128.0.0.0/1",
    "10.0.0.0/30",
    "10.0.0.0/31",
    "10.0.0.0/32",
    "255.255.255.252/30",
    "255.255.255.0/24",
    "255.255.255.255/32",
    "::/0",
    "::/1",
    "8000::/1",
    "::/126",
    "::/127",
    "::/128",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120",
    "::ffff:0:0/96",
    "::ffff:10.0.0.0/120",
    "::ffff:255.255.255.0/120",
    "::ff:ff00/120",
    "::1:0/112",
    "1.2.3.4/33",
    "::/129",
    "10.0.0.0/-1",
    "10.0.0.0/24/1",
    "10.0.0.0/024",
    "10.0.0.0/ 24",
    "010.0.0.0/24",
    "10.0.0.0",
    "",
    "fe80::/64%eth0",
    "224.0.0.0/24",
    "127.0.0.0/8",
    "0.0.0.0/8",
    "ff02::/112",
    "::fffe:0:0/95",
    "169.254.0.0/16",
    "240.0.0.0/4",
    "fe80::/64",
    "10.0.0.0/255.255.255.0",
    "10.0.0.0/+24",
];

const EXTREME_IPS: &[&str] = &[
    "255.255.255.255",
    "255.255.255.254",
    "0.0.0.0",
    "0.0.0.1",
    "::",
    "::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
    "::ffff:255.255.255.255",
    "::ffff:10.0.0.1",
    "::ff:ffff",
    "::1:0",
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "128.0.0.0",
    "8000::",
    "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "",
    "1.2.3",
    "1.2.3.4.5",
    "169.254.1.1",
    "fe80::1",
    "224.0.0.1",
    "::fffe:ffff:ffff",
];

/// Extreme CIDRs and boundary addresses: accepted or rejected, never a panic;
/// an accepted one hands out an address inside the range and not the
/// gateway. Runs in network `xnet`, so `hnet` must stay untouched.
#[test]
fn extreme_cidrs() {
    let w = World::new();
    let pick = |v: &'static [&'static str]| prop::option::of(prop::sample::select(v));
    let (accepted, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    proptest!(config(400), |(
        subnet in prop::sample::select(EXTREME_SUBNETS),
        start in pick(EXTREME_IPS),
        end in pick(EXTREME_IPS),
        gw in pick(EXTREME_IPS),
        requested in pick(EXTREME_IPS),
        legacy in any::<bool>(),
    )| {
        let mut range = json!({ "subnet": subnet });
        for (k, v) in [("rangeStart", start), ("rangeEnd", end), ("gateway", gw)] {
            if let Some(v) = v {
                range[k] = json!(v);
            }
        }
        let mut conf = w.base();
        conf["name"] = json!("xnet");
        conf.as_object_mut().unwrap().remove("runtimeConfig");
        conf.as_object_mut().unwrap().remove("args");
        let ipam = conf["ipam"].as_object_mut().unwrap();
        for k in ["exclude", "serviceCidrs", "nodeAddresses", "routes"] {
            ipam.remove(k);
        }
        if legacy {
            ipam.remove("ranges");
            ipam.extend(range.as_object().unwrap().clone());
        } else {
            ipam.insert("ranges".into(), json!([[range]]));
        }
        if let Some(ip) = requested {
            conf["runtimeConfig"] = json!({ "ips": [ip] });
        }
        let input = Input::new(Call::new("ADD", &conf).id("x"));
        let r = input.run();
        assert_sane(&input, &r);
        total.fetch_add(1, Ordering::Relaxed);
        if r.ok() {
            accepted.fetch_add(1, Ordering::Relaxed);
            let ip = &r.json()["ips"][0];
            let addr: ipnetwork::IpNetwork = ip["address"].as_str().unwrap().parse().unwrap();
            let subnet_net: ipnetwork::IpNetwork = subnet.parse().unwrap();
            prop_assert!(subnet_net.contains(addr.ip()) || subnet.starts_with("::ffff:"), "{addr} outside {subnet}: {}", input.fixture());
            prop_assert_ne!(ip["gateway"].as_str().unwrap().parse::<std::net::IpAddr>().unwrap(), addr.ip(), "gateway handed out: {}", input.fixture());
            if let (Some(s), std::net::IpAddr::V4(a)) = (start.filter(|s| !s.is_empty()), addr.ip())
                && let Ok(std::net::IpAddr::V4(s)) = s.parse::<std::net::IpAddr>() {
                    prop_assert!(a >= s || requested.is_some(), "{a} below rangeStart {s}: {}", input.fixture());
                }
            let del = Input::new(Call::new("DEL", &conf).id("x")).run();
            del.success_empty();
        } else {
            let code = r.json()["code"].as_u64().unwrap();
            prop_assert!(matches!(code, 7 | 100 | 101), "code {code}: {r:?}\ninput: {}", input.fixture());
        }
        // hnet and everything outside dataDir/xnet are untouched.
        let now: BTreeMap<String, Entry> =
            snapshot(w.tmp.path()).into_iter().filter(|(k, _)| !k.starts_with("data/xnet")).collect();
        prop_assert!(now == w.before, "state outside xnet changed: {}", input.fixture());
    });
    eprintln!(
        "extreme CIDRs: {} of {} accepted",
        accepted.load(Ordering::Relaxed),
        total.load(Ordering::Relaxed)
    );
}

/// A name that breaks the container-id / network-name rule.
fn bad_id() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            ".",
            "..",
            "../x",
            "../../etc",
            "a/b",
            "/etc",
            "x/../..",
            "a\\b",
            "ab\n",
            " a",
            "a ",
            "-a",
            "_a",
            ".a",
            "a:b",
            "é",
            "%2e%2e",
            "a\tb",
            "*",
            "a;b",
            "a=b",
            "\u{202e}a",
        ])
        .prop_map(str::to_owned),
        "[^a-zA-Z0-9][ -~]{0,10}",
        "[a-z0-9]{1,6}[/:\\\\ *?\"'<>|;=,][ -~]{0,6}",
        "[a-z0-9]{1,4}\\.\\./[a-z]{0,4}",
    ]
    // An environment variable cannot hold NUL at all.
    .prop_map(|s| s.replace('\0', "?"))
}

/// An interface name that breaks its rule.
fn bad_ifname() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            ".",
            "..",
            "a/b",
            "eth0:1",
            "e th",
            "eth0\n",
            "../x",
            "/",
            ":",
            "1234567890123456"
        ])
        .prop_map(str::to_owned),
        "[a-z0-9]{0,5}[/: \t][a-z0-9]{0,5}",
        "[a-z0-9]{16,40}",
    ]
    .prop_map(|s| s.replace('\0', "?"))
}

/// Path tricks in the network name, container id and ifname: rejected before
/// any file is touched.
#[test]
fn path_tricks_in_names() {
    let w = World::new();
    proptest!(config(120), |(name in bad_id(), cmd in 0..5usize)| {
        let mut conf = w.base();
        conf["name"] = json!(name);
        let input = Input::new(Call::new(COMMANDS[cmd], &conf).id("victim"));
        let r = assert_rejected(&w, &input);
        prop_assert_eq!(r.json()["code"].as_u64(), Some(7), "{:?}", r);
    });
    proptest!(config(120), |(id in bad_id(), cmd in 0..3usize)| {
        let input = Input::new(Call::new(COMMANDS[cmd], &w.base()).id(&id));
        let r = input.run();
        assert_sane(&input, &r);
        if id.is_empty() {
            // An empty variable is a missing one (code 4 as well).
        }
        prop_assert_eq!(r.json()["code"].as_u64(), Some(4), "{:?}", r);
        w.assert_unchanged(&input.fixture());
    });
    proptest!(config(120), |(ifname in bad_ifname(), cmd in 0..3usize)| {
        let input = Input::new(Call::new(COMMANDS[cmd], &w.base()).id("victim").ifname(&ifname));
        let r = assert_rejected(&w, &input);
        prop_assert_eq!(r.json()["code"].as_u64(), Some(4), "{:?}", r);
    });
}

/// Bytes with at least one that is not valid UTF-8.
fn non_utf8() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..40),
        0..40usize,
        prop::sample::select(vec![0x80u8, 0xc0, 0xfe, 0xff, 0xed]),
    )
        .prop_map(|(mut v, at, bad)| {
            v.insert(at.min(v.len()), bad);
            v.retain(|b| *b != 0);
            if std::str::from_utf8(&v).is_ok() {
                v.push(0xff);
            }
            v
        })
}

/// Invalid UTF-8 in the variables that must be valid: rejected; in the
/// others (netns, path, our tuning knobs): never a panic, nothing changed by a
/// DEL of an unknown container.
#[test]
fn invalid_utf8_in_environment() {
    let w = World::new();
    let strict = ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"];
    proptest!(config(200), |(bytes in non_utf8(), var in 0..4usize, cmd in 0..3usize)| {
        let key = strict[var];
        let value = if key == "CNI_ARGS" { [b"IP=".as_slice(), &bytes].concat() } else { bytes };
        // DEL ignores CNI_ARGS on purpose (it must release whatever the args say).
        let command = if key == "CNI_ARGS" { ["ADD", "CHECK", "ADD"][cmd] } else { COMMANDS[cmd] };
        let mut input = Input::new(Call::new(command, &w.base()).id("victim"));
        input.raw_env.push((key.to_owned(), value));
        let r = assert_rejected(&w, &input);
        prop_assert_eq!(r.json()["code"].as_u64(), Some(4), "{:?}", r);
    });
    let lax = [
        "CNI_NETNS",
        "CNI_PATH",
        "PODLEASE_LOCK_TIMEOUT_MS",
        "PODLEASE_BOOT_ID_FILE",
        "PODLEASE_PROC_STAT",
        "CNI_NETNS_OVERRIDE",
    ];
    proptest!(config(120), |(bytes in non_utf8(), var in 0..6usize)| {
        let mut input = Input::new(Call::new("DEL", &w.base()).id("victim"));
        input.raw_env.push((lax[var].to_owned(), bytes));
        let r = input.run();
        assert_sane(&input, &r);
        w.assert_unchanged(&input.fixture());
    });
}

/// A `CNI_ARGS` value with at least one fragment that cannot be accepted,
/// among odd but legal ones.
fn odd_args() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "IgnoreUnknown=1",
            "IgnoreUnknown=true",
            "IgnoreUnknown=0",
            "IgnoreUnknown=",
            "K8S_POD_NAMESPACE=ns",
            "K8S_POD_NAME=",
            "K8S_POD_UID=u",
            "K8S_POD_INFRA_CONTAINER_ID=x",
            "IP=",
            "IP=,",
            "IP=10.90.0.60,",
            "IP=10.90.0.60/24",
            "IP=::ffff:10.90.0.61",
            "Unknown=1",
            "ip=10.90.0.5",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z_]{1,8}=[ -:<-~]{0,12}",
    ];
    let bad = prop_oneof![
        prop::sample::select(vec![
            "junk",
            ";",
            "==",
            "a=b=c",
            "IP=not-an-ip",
            "IP=10.90.0.5/abc",
            "IP=999.1.1.1",
            "IP=10.90.0.5/99",
            "IP=1.2.3.4,,zz",
            "IP=fd00:90::/",
            "IP==",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z]{1,8}",
        "IP=[g-z]{1,10}",
    ];
    (
        prop::collection::vec(fragment, 0..6),
        bad,
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut frags, bad, at)| {
            let i = at.index(frags.len() + 1);
            frags.insert(i, bad);
            frags.join(";")
        })
}

#[test]
fn odd_cni_args() {
    let w = World::new();
    proptest!(config(200), |(args in odd_args(), check in any::<bool>())| {
        let input = Input::new(Call::new(if check { "CHECK" } else { "ADD" }, &w.base()).id("victim").args(&args));
        let r = assert_rejected(&w, &input);
        prop_assert_eq!(r.json()["code"].as_u64(), Some(4), "{:?}", r);
    });
}

/// IP files of `NET`: address → content.
fn ip_files(w: &World) -> BTreeMap<String, Vec<u8>> {
    snapshot(&w.data().join(NET))
        .into_iter()
        .filter(|(k, _)| k.parse::<std::net::IpAddr>().is_ok())
        .filter_map(|(k, v)| match v {
            Entry::File(b) => Some((k, b)),
            _ => None,
        })
        .collect()
}

/// Unusual but legal names and pod metadata: what ADD accepts, CHECK finds
/// and DEL releases completely (ADD may also refuse, cleanly).
#[test]
fn accepted_attachments_are_releasable() {
    let w = World::new();
    let mut conf = w.base();
    conf.as_object_mut().unwrap().remove("runtimeConfig");
    conf.as_object_mut().unwrap().remove("args");
    let id = prop_oneof![
        "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,60}",
        prop::sample::select(vec![
            250usize, 251, 254, 300, 4080, 4089, 4090, 4091, 4100, 8000, 60_000
        ])
        .prop_map(|n| "a".repeat(n)),
    ];
    let ifname = prop_oneof![
        "[a-zA-Z0-9%@#+-]{1,15}",
        prop::sample::select(vec!["é", "ü€", "eth0.100", "123456789012345", "-", "%d"])
            .prop_map(str::to_owned),
    ];
    let small = "[^;=\u{0}]{0,40}";
    // A value must fit in one environment string (128 KiB with its name).
    let text = prop_oneof![
        small,
        (
            prop::sample::select(vec!["€", "é", "a", "𝄞"]),
            70_000usize..100_000,
            0..3usize
        )
            .prop_map(|(unit, bytes, pad)| format!(
                "{}{}",
                "x".repeat(pad),
                unit.repeat(bytes / unit.len())
            )),
    ];
    proptest!(config(60), |(id in id, ifname in ifname, pod in prop::option::of((small, text)))| {
        let mut call = Call::new("ADD", &conf).id(&id).ifname(&ifname);
        if let Some((ns, name)) = &pod {
            call = call.args(&format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name}"));
        }
        // Per case: an earlier case's leak must not fail this one.
        let initial = ip_files(&w);
        let add = Input::new(call.clone());
        let r = add.run();
        assert_sane(&add, &r);
        if !r.ok() {
            prop_assert!(ip_files(&w) == initial, "a failed ADD changed state: {}", add.fixture());
            return Ok(());
        }
        let mut check = call.clone();
        check.command = "CHECK".into();
        let c = Input::new(check).run();
        prop_assert!(c.ok(), "CHECK after ADD: {c:?}\ninput: {}", add.fixture());
        let mut del = call.clone();
        del.command = "DEL".into();
        del.args = None;
        Input::new(del).run().success_empty();
        let left = ip_files(&w);
        prop_assert!(left == initial, "DEL left {:?}\ninput: {}", left.keys().filter(|k| !initial.contains_key(*k)).collect::<Vec<_>>(), add.fixture());
    });
}

/// One invocation of a fixture.
fn fixture_step(step: &Value, w: &World) -> (Input, String) {
    let env = step["env"].as_object().cloned().unwrap_or_default();
    let mut env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    // "env_repeat": {"KEY": [prefix, unit, count, suffix]} builds long values.
    if let Some(rep) = step["env_repeat"].as_object() {
        for (k, v) in rep {
            let p = |i: usize| v[i].as_str().unwrap_or_default().to_owned();
            env.insert(
                k.clone(),
                format!(
                    "{}{}{}",
                    p(0),
                    p(1).repeat(v[2].as_u64().unwrap() as usize),
                    p(3)
                ),
            );
        }
    }
    let mut call = Call::new(
        env.get("CNI_COMMAND").map_or("ADD", String::as_str),
        &json!({}),
    );
    call.container_id = env
        .get("CNI_CONTAINERID")
        .cloned()
        .unwrap_or_else(|| "victim".into());
    call.ifname = env
        .get("CNI_IFNAME")
        .cloned()
        .unwrap_or_else(|| "eth0".into());
    call.args = env.get("CNI_ARGS").cloned();
    for (k, v) in &env {
        if !["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"].contains(&k.as_str()) {
            call.extra_env.push((k.clone(), v.clone()));
        }
    }
    let fill = |s: &str| {
        s.replace("@DATA@", w.data().to_str().unwrap())
            .replace("@ROOT@", w.tmp.path().to_str().unwrap())
    };
    call.stdin = match (&step["stdin"], &step["stdin_hex"]) {
        (Value::String(s), _) => fill(s).into_bytes(),
        (_, Value::String(h)) => unhex(h),
        (v @ Value::Object(_), _) => fill(&v.to_string()).into_bytes(),
        _ => Vec::new(),
    };
    let mut input = Input::new(call);
    if let Some(raw) = step["env_hex"].as_object() {
        input.raw_env = raw
            .iter()
            .map(|(k, v)| (k.clone(), unhex(v.as_str().unwrap())))
            .collect();
    }
    (input, step["expect"].as_str().unwrap_or("sane").to_owned())
}

/// Runs one fixture file: a step, or `steps` in order; `expect` per step
/// ("error": status 1 and no change; "ok": status 0; "sane": either);
/// `"released": true`: no address file of any step's container is left at
/// the end. `@DATA@` and `@ROOT@` in stdin name the test's dataDir and root.
fn replay(file: &Path) {
    let w = World::new();
    let f: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let steps: Vec<Value> = f["steps"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![f.clone()]);
    let mut ids = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (input, expect) = fixture_step(step, &w);
        ids.push(input.call.container_id.clone());
        let before = snapshot(w.tmp.path());
        let r = input.run();
        assert_sane(&input, &r);
        let at = format!("{} step {i}", file.display());
        match expect.as_str() {
            "error" => {
                assert_eq!(r.status, Some(1), "{at}: {r:?}");
                assert!(snapshot(w.tmp.path()) == before, "{at}: state changed");
            }
            "ok" => assert_eq!(r.status, Some(0), "{at}: {r:?}"),
            _ => {}
        }
    }
    if f["released"] == true {
        let held: Vec<String> = ip_files(&w)
            .into_iter()
            .filter(|(_, c)| {
                ids.iter()
                    .any(|id| c.starts_with(format!("{id}\r\n").as_bytes()))
            })
            .map(|(k, _)| k)
            .collect();
        assert!(
            held.is_empty(),
            "{}: {held:?} still held after DEL",
            file.display()
        );
    }
}

fn fixtures(known_bugs: bool) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.retain(|p| {
        let f: Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap_or(Value::Null);
        f.get("known_bug").is_some() == known_bugs
    });
    files.sort();
    files
}

/// Replays every input that ever broke podlease and has been fixed.
#[test]
fn replay_fixtures() {
    let files = fixtures(false);
    for file in &files {
        replay(file);
    }
    eprintln!(
        "replayed {} fixtures; {} hostile inputs tried in this run so far",
        files.len(),
        TRIED.load(Ordering::Relaxed)
    );
}

/// Replays the inputs that still break podlease (their `known_bug` says
/// how). Remove the field once fixed: the case then runs in
/// `replay_fixtures`.
#[test]
#[ignore = "fixtures marked known_bug (none at present): inputs that still break podlease"]
fn replay_known_bug_fixtures() {
    let files = fixtures(true);
    let mut failed = Vec::new();
    for file in &files {
        if std::panic::catch_unwind(|| replay(file)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "still failing: {failed:#?}");
}

/// Issue 11, item 6: no variable in the environment changes the boot
/// identity. The test hooks of old (`PODLEASE_BOOT_ID_FILE`,
/// `PODLEASE_PROC_STAT`) exported by mistake must not make an ADD believe
/// in a reboot and release the live allocations.
#[test]
fn boot_identity_cannot_be_changed_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = common::conf(
        "1.1.0",
        "bootenv",
        "podlease",
        serde_json::json!({ "ranges": [[{ "subnet": "10.74.0.0/24" }]] }),
        &data,
    );
    let bin = common::podlease();
    let first = Call::new("ADD", &conf).id("live").run(&bin).addresses();
    let other_id = tmp.path().join("boot_id");
    std::fs::write(&other_id, "00000000-0000-0000-0000-000000000000\n").unwrap();
    let stat = tmp.path().join("stat");
    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    std::fs::write(&stat, format!("btime {future}\n")).unwrap();
    let r = Call::new("ADD", &conf)
        .id("next")
        .env("PODLEASE_BOOT_ID_FILE", other_id.to_str().unwrap())
        .env("PODLEASE_PROC_STAT", stat.to_str().unwrap())
        .run(&bin);
    let next = r.addresses();
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_ne!(first, next);
    Call::new("CHECK", &conf)
        .id("live")
        .run(&bin)
        .success_empty();
    for ip in &first {
        assert!(data.join("bootenv").join(ip).exists(), "{ip} was released");
    }
}

/// Issue 11, item 10 (symlinks): a symlink planted among our files is never
/// followed. In the spare pool an older version left (issue 13 removed it)
/// it would have made the next ADD write its container id wherever it
/// points; among the sticky records, overwrite that file. Each ADD still
/// succeeds, with a regular address file, and the target is untouched.
#[test]
fn symlinks_in_the_spare_pool_and_hints_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = common::conf(
        "1.1.0",
        "links",
        "podlease",
        serde_json::json!({ "ranges": [[{ "subnet": "10.75.0.0/24" }]], "sticky": true }),
        &data,
    );
    let bin = common::podlease();
    let pod = |n: &str| format!("K8S_POD_NAMESPACE=ns;K8S_POD_NAME={n}");
    Call::new("ADD", &conf)
        .id("a")
        .args(&pod("a"))
        .run(&bin)
        .success();
    Call::new("DEL", &conf).id("a").run(&bin).success_empty();
    let meta = data.join("links/.podlease");
    let spare = meta.join("spare/0");
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir_all(meta.join("spare")).unwrap();
    std::os::unix::fs::symlink(&victim, &spare).unwrap();
    std::fs::remove_file(meta.join("sticky/ns_b")).ok();
    std::os::unix::fs::symlink(&victim, meta.join("sticky/ns_b")).unwrap();
    // And every file of ours rewritten in place: the marker, each index
    // bucket, host-local's cursor.
    let link = |p: PathBuf| {
        std::fs::remove_file(&p).ok();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
    };
    link(meta.join("clean"));
    for n in 0..64 {
        link(meta.join(format!("index/bucket-{n:02}")));
    }
    link(data.join("links/last_reserved_ip.0"));

    let ips = Call::new("ADD", &conf)
        .id("b")
        .args(&pod("b"))
        .run(&bin)
        .addresses();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
    for ip in &ips {
        let path = data.join("links").join(ip);
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_file(), "{ip} is not a regular file");
        assert_eq!(std::fs::read(&path).unwrap(), b"b\r\neth0");
    }
    Call::new("CHECK", &conf).id("b").run(&bin).success_empty();
    Call::new("DEL", &conf).id("b").run(&bin).success_empty();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
}

/// A symlinked directory under `.podlease/` is never followed to delete
/// what is in it: with `spare` or `att` pointing at the network's own
/// directory, the recovery after a crash emptied the pool (every address
/// file, and the lock) and the next ADD handed out a live address; with
/// `sticky` pointing there, a GC pruned every address file older than a
/// week, listed ones included. No line on stderr either time.
#[test]
fn symlinked_directories_under_the_dot_directory_release_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = common::conf(
        "1.1.0",
        "dirlinks",
        "podlease",
        serde_json::json!({ "ranges": [[{ "subnet": "10.76.0.0/24" }]] }),
        &data,
    );
    let bin = common::podlease();
    let dir = data.join("dirlinks");
    let meta = dir.join(".podlease");
    let held: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|id| Call::new("ADD", &conf).id(id).run(&bin).addresses())
        .collect();
    let files = || -> BTreeMap<String, Vec<u8>> {
        common::host_local_files(&dir)
            .into_iter()
            .filter(|(name, _)| name.parse::<std::net::IpAddr>().is_ok())
            .collect()
    };
    let before = files();
    assert_eq!(before.len(), 2, "{before:?}");

    // Recovery after a crash (the marker says dirty) with `spare` and `att`
    // (podlease 0.1's index) pointing at the network's directory.
    let _ = std::fs::remove_dir(meta.join("spare"));
    std::os::unix::fs::symlink("..", meta.join("spare")).unwrap();
    std::os::unix::fs::symlink("..", meta.join("att")).unwrap();
    std::fs::remove_file(meta.join("clean")).unwrap();
    Call::new("DEL", &conf)
        .id("nobody")
        .run(&bin)
        .success_empty();
    assert_eq!(files(), before, "recovery deleted through a symlink");
    assert!(dir.join("lock").is_file(), "the lock file was deleted");
    let fresh = Call::new("ADD", &conf).id("c").run(&bin).addresses();
    assert!(
        fresh.iter().all(|ip| !held.contains(ip)),
        "{fresh:?} handed out again (held: {held:?})"
    );
    Call::new("DEL", &conf).id("c").run(&bin).success_empty();

    // GC with `sticky` pointing at the network's directory, every address
    // file a month old and listed.
    std::fs::remove_dir(meta.join("sticky")).ok();
    std::os::unix::fs::symlink("..", meta.join("sticky")).unwrap();
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400);
    for ip in &held {
        std::fs::File::options()
            .write(true)
            .open(dir.join(ip))
            .unwrap()
            .set_modified(month_ago)
            .unwrap();
    }
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = serde_json::json!([
        { "containerID": "a", "ifname": "eth0" },
        { "containerID": "b", "ifname": "eth0" },
    ]);
    Call::new("GC", &gc).run(&bin).success_empty();
    assert_eq!(files(), before, "GC deleted through a symlink");
}

/// Runs `call` and waits for it at most a minute: a plugin that blocks
/// (opening a FIFO) holds the network's lock, and every later call waits.
fn run_bounded(call: &Call, bin: &Path) -> Option<Reply> {
    let mut child = call.command(bin).spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(&call.stdin);
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return Some(Reply::from(child.wait_with_output().unwrap()));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

/// A FIFO where an address file should be (planted, or a restore's) never
/// blocks a call: opening it to read whose it is waited for a writer
/// forever, with the network's lock held. The address stays taken.
#[test]
fn a_fifo_named_like_an_address_never_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let conf = common::conf(
        "1.1.0",
        "fifo",
        "podlease",
        serde_json::json!({ "ranges": [[{ "subnet": "10.74.0.0/24" }]] }),
        &data,
    );
    let bin = common::podlease();
    let dir = data.join("fifo");
    let held = Call::new("ADD", &conf).id("a").run(&bin).addresses();
    let mkfifo = |name: &str| {
        let ok = std::process::Command::new("mkfifo")
            .arg(dir.join(name))
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo {name}");
    };
    // A requested address held by a FIFO.
    mkfifo("10.74.0.9");
    let mut requested = conf.clone();
    requested["runtimeConfig"] = serde_json::json!({ "ips": ["10.74.0.9/24"] });
    let reply = run_bounded(&Call::new("ADD", &requested).id("b"), &bin)
        .expect("ADD of an address held by a FIFO never finished");
    reply.error(101);
    // An indexed address replaced by a FIFO: DEL looks it up.
    std::fs::remove_file(dir.join(&held[0])).unwrap();
    mkfifo(&held[0]);
    let reply = run_bounded(&Call::new("DEL", &conf).id("a"), &bin)
        .expect("DEL through a FIFO never finished");
    reply.success_empty();
    let reply = run_bounded(&Call::new("ADD", &conf).id("c"), &bin).unwrap();
    let got = reply.addresses();
    assert!(
        !got.contains(&held[0]) && !got.iter().any(|ip| ip == "10.74.0.9"),
        "{got:?}"
    );
}
