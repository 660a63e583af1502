//! The address journal, `podlease history` and `podlease verify`, from the
//! outside: the plugin is run like a runtime runs it, the commands like an
//! operator does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Call, Mount, Reply, conf};
use serde_json::{Value, json};

/// A network under a data directory; with a boot we control for the tests
/// that reboot (root only, see `common::FakeBoot`).
struct Net {
    data_dir: PathBuf,
    name: String,
    ipam: Value,
    boot: std::cell::RefCell<Option<common::FakeBoot>>,
}

impl Net {
    fn new(root: &Path, name: &str, ipam: Value) -> Self {
        std::fs::create_dir_all(root).unwrap();
        Self {
            data_dir: root.join("data"),
            name: name.into(),
            ipam,
            boot: std::cell::RefCell::new(None),
        }
    }

    /// A network whose calls run in a simulated boot; `None` (a visible
    /// SKIP, a failure under CI) when not root.
    fn booted(root: &Path, name: &str, ipam: Value) -> Option<Self> {
        let n = Self::new(root, name, ipam);
        *n.boot.borrow_mut() = Some(common::FakeBoot::new("boot-a", now_secs() - 3600)?);
        Some(n)
    }

    /// A reboot, as the next call sees it.
    fn set_boot(&self, id: &str) {
        if let Some(b) = self.boot.borrow_mut().as_mut() {
            b.boot(id, now_secs() - 60);
        }
    }

    fn exec(&self, call: &Call) -> Reply {
        match self.boot.borrow().as_ref() {
            Some(b) => b.run(call, &common::podlease()),
            None => call.run(&common::podlease()),
        }
    }

    fn dir(&self) -> PathBuf {
        self.data_dir.join(&self.name)
    }

    fn journal(&self) -> PathBuf {
        self.dir().join(".podlease/journal")
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
        self.exec(&self.call(command, id))
    }

    /// ADD for a pod, optionally asking for `ip`.
    fn add_pod(&self, id: &str, pod: &str, ip: Option<&str>) -> Reply {
        let (ns, name) = pod.split_once('/').unwrap();
        let mut args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name}");
        if let Some(ip) = ip {
            args.push_str(&format!(";IP={ip}"));
        }
        self.exec(&self.call("ADD", id).args(&args))
    }

    fn gc(&self, keep: &[&str]) -> Reply {
        let mut c = self.conf();
        c["cni.dev/valid-attachments"] = keep
            .iter()
            .map(|id| json!({"containerID": id, "ifname": "eth0"}))
            .collect();
        self.exec(&Call::new("GC", &c))
    }

    /// The operator command line over this data directory.
    fn cli(&self, args: &[&str]) -> Reply {
        let data_dir = self.data_dir.to_str().unwrap();
        let mut all = vec!["--data-dir", data_dir, "--conf-dir", data_dir];
        all.extend_from_slice(args);
        if let Some(b) = self.boot.borrow().as_ref() {
            return b.cli(&all);
        }
        let out = Command::new(common::podlease())
            .env_clear()
            .args(&all)
            .output()
            .unwrap();
        Reply::from(out)
    }

    fn history(&self, args: &[&str]) -> Reply {
        let mut all = vec!["history", "--network", self.name.as_str()];
        all.extend_from_slice(args);
        self.cli(&all)
    }

    /// `history --json` → (container, from reason, to reason) per tenure.
    fn holders(&self, args: &[&str]) -> Vec<(String, String, String)> {
        let mut all = args.to_vec();
        all.push("--json");
        let r = self.history(&all);
        assert!(r.ok(), "{r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["networks"][0]["tenures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["containerId"].as_str().unwrap_or("-").to_owned(),
                    t["fromReason"].as_str().unwrap_or("-").to_owned(),
                    t["toReason"].as_str().unwrap_or("-").to_owned(),
                )
            })
            .collect()
    }

    /// A reply's status and stdout, with the data directory's path replaced.
    fn answer(&self, r: &Reply) -> (Option<i32>, String) {
        let dir = self.data_dir.to_str().unwrap();
        (r.status, r.stdout.replace(dir, "<dataDir>"))
    }

    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        common::host_local_files(&self.dir())
    }
}

fn v4(extra: Value) -> Value {
    let mut ipam = json!({ "ranges": [[{ "subnet": "10.90.0.0/24" }]] });
    if let (Some(m), Value::Object(e)) = (ipam.as_object_mut(), extra) {
        m.extend(e);
    }
    ipam
}

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A time (ms) strictly between the records written before and after it.
fn mark() -> i64 {
    std::thread::sleep(Duration::from_millis(3));
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    std::thread::sleep(Duration::from_millis(3));
    i64::try_from(ms).unwrap()
}

/// A mark as the operator writes it (RFC 3339).
fn at(mark: i64) -> String {
    podlease::journal::format_time_ms(mark)
}

/// Enough short-lived pods to fill a few journal files.
fn churn(net: &Net, n: usize, tag: &str) {
    for i in 0..n {
        let id = format!("{tag}{i}");
        assert!(net.add_pod(&id, &format!("churn/{id}"), None).ok());
        net.run("DEL", &id).success_empty();
    }
}

const HELD: &str = "10.90.0.14";

/// ADD, DEL, GC, reboot reclaim and operator release of one address, with
/// rotations in between: history answers for the address (at given times,
/// and over a window), for a container (also by prefix) and for a pod.
#[test]
fn history_across_rotations() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = Net::booted(
        tmp.path(),
        "jnl",
        v4(json!({ "journal": { "maxFiles": 50, "maxBytes": 4096 } })),
    ) else {
        return;
    };
    let t0 = mark();
    net.add_pod("c1-aaaa", "shop/web-1", Some(HELD)).success();
    let t1 = mark();
    churn(&net, 20, "x");
    net.run("DEL", "c1-aaaa").success_empty();
    let t2 = mark();
    net.add_pod("c2-bbbb", "shop/web-2", Some(HELD)).success();
    let t3 = mark();
    churn(&net, 20, "y");
    net.gc(&[]).success_empty();
    let t4 = mark();
    net.add_pod("c3-cccc", "shop/web-3", Some(HELD)).success();
    let t5 = mark();
    // A reboot: the first operation of the new boot releases c3's address.
    net.set_boot("boot-b");
    net.add_pod("c4-dddd", "shop/web-4", None).success();
    let t6 = mark();
    net.add_pod("c5-eeee", "shop/web-5", Some(HELD)).success();
    let t7 = mark();
    let r = net.cli(&["release", HELD, "--network", "jnl"]);
    assert!(r.ok(), "{r:?}");
    let t8 = mark();
    churn(&net, 20, "z");

    assert!(
        podlease::journal::rotated(&net.journal(), 3).exists(),
        "the journal rotated several times"
    );
    let expect_at = |t: i64, who: &str| {
        let h = net.holders(&[HELD, "--at", &at(t)]);
        assert_eq!(h.len(), 1, "at {t}: {h:?}");
        assert_eq!(h[0].0, who, "at {t}");
    };
    expect_at(t1, "c1-aaaa");
    expect_at(t3, "c2-bbbb");
    expect_at(t5, "c3-cccc");
    expect_at(t7, "c5-eeee");
    for free in [t0, t2, t4, t6, t8] {
        let r = net.history(&[HELD, "--at", &at(free)]);
        assert_eq!(r.status, Some(3), "nobody held {HELD} at {free}: {r:?}");
        assert!(r.stdout.is_empty());
    }
    let all = net.holders(&[HELD]);
    let want = |c: &str, to: &str| (c.to_owned(), "add".to_owned(), to.to_owned());
    assert_eq!(
        all,
        [
            want("c5-eeee", "operator"),
            want("c3-cccc", "reclaim"),
            want("c2-bbbb", "gc"),
            want("c1-aaaa", "del"),
        ],
        "newest first, each with why it ended"
    );
    assert_eq!(
        net.holders(&[HELD, "--since", &at(t2), "--until", &at(t4)]),
        [want("c2-bbbb", "gc")]
    );
    // A container by its id and by a unique prefix; a pod.
    assert_eq!(
        net.holders(&["--container", "c3-cccc"]),
        [want("c3-cccc", "reclaim")]
    );
    assert_eq!(net.holders(&["--container", "c2"]), [want("c2-bbbb", "gc")]);
    assert_eq!(
        net.holders(&["--pod", "shop/web-1"]),
        [want("c1-aaaa", "del")]
    );
    let r = net.history(&["--container", "c"]);
    assert_eq!(r.status, Some(2), "an ambiguous prefix: {r:?}");
    assert!(r.stderr.contains("c1-aaaa"), "{r:?}");
    // The text form: one "held by" line per holder, newest first.
    let text = net.history(&[HELD]);
    assert!(text.ok(), "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", text.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "{HELD} held by pod shop/web-5 (container c5-eeee, eth0) from "
        )) && lines[0].ends_with("(operator)"),
        "{}",
        lines[0]
    );
    assert!(lines[3].contains("pod shop/web-1") && lines[3].ends_with("(del)"));
    // c4 still holds its address.
    let c4 = net.history(&["--container", "c4-dddd"]);
    assert!(c4.stdout.contains("to now (still held)"), "{c4:?}");
}

/// When old files have rotated away, history says the journal does not
/// reach back that far instead of answering "nobody".
#[test]
fn history_says_when_the_journal_does_not_reach_back() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Net::new(
        tmp.path(),
        "short",
        v4(json!({ "journal": { "maxFiles": 2, "maxBytes": 4096 } })),
    );
    net.add_pod("early", "shop/early", Some(HELD)).success();
    let t1 = mark();
    net.run("DEL", "early").success_empty();
    churn(&net, 40, "r");
    assert!(!podlease::journal::rotated(&net.journal(), 2).exists());
    let r = net.history(&[HELD, "--at", &at(t1)]);
    assert_eq!(r.status, Some(3), "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("does not reach back that far"),
        "{}",
        r.stderr
    );
    let json = net.history(&["--pod", "shop/early", "--json"]);
    assert_eq!(json.status, Some(3), "rotated away: {json:?}");
}

/// Every CNI command answers the same with the journal on, off, and
/// unwritable (its path is a directory): the journal never changes a result.
#[test]
fn unwritable_journal_leaves_results_unchanged() {
    let (t_on, t_off) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let on = Net::new(t_on.path(), "net", v4(json!({})));
    let off = Net::new(t_off.path(), "net", v4(json!({ "journal": false })));
    // Created before the first call: the journal's path is a directory.
    std::fs::create_dir_all(on.journal().join("x")).unwrap();
    type Step = Box<dyn Fn(&Net) -> Reply>;
    let steps: Vec<Step> = vec![
        Box::new(|n| n.add_pod("p1", "ns/p1", None)),
        Box::new(|n| n.add_pod("p2", "ns/p2", Some(HELD))),
        Box::new(|n| n.add_pod("p2", "ns/p2", Some(HELD))),
        Box::new(|n| n.run("CHECK", "p1")),
        Box::new(|n| n.run("DEL", "p1")),
        Box::new(|n| n.run("DEL", "p1")),
        Box::new(|n| n.gc(&["p3"])),
        Box::new(|n| n.run("CHECK", "p2")),
        Box::new(|n| n.run("STATUS", "x")),
    ];
    for (i, step) in steps.iter().enumerate() {
        let (a, b) = (step(&on), step(&off));
        assert_eq!(
            on.answer(&a),
            off.answer(&b),
            "step {i}: journal unwritable vs off"
        );
        assert!(a.stderr.is_empty(), "nothing on stderr: {a:?}");
        assert_eq!(on.files(), off.files(), "step {i}");
    }
    assert!(on.journal().is_dir());
    let v = on.cli(&["verify", "net"]);
    assert_eq!(v.status, Some(1), "{v:?}");
    assert!(v.stdout.contains("is not a regular file"), "{}", v.stdout);
}

/// Fills the file system, then frees `pages` pages.
fn fill(path: &Path, pages: u64) {
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
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(pages * 4096)).unwrap();
}

/// Pads the journal with a valid record to a whole number of pages, so its
/// next write needs a new page.
fn pad_journal(path: &Path) {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let rest = 4096 - len % 4096;
    let base = r#"{"time":"2020-01-01T00:00:00.000Z","event":"release","address":"10.90.0.250","reason":"operator","note":""}"#;
    let mut rest = rest as usize;
    if rest < base.len() + 1 {
        rest += 4096;
    }
    let pad = "p".repeat(rest - base.len() - 1);
    let line = base.replace(r#""note":"""#, &format!(r#""note":"{pad}""#));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len() % 4096, 0);
}

/// A full disk: with 0 to 5 pages left, ADD and DEL answer exactly as they
/// do with the journal off on the same full disk, also when the journal's
/// own write is the one that fails.
#[test]
fn full_disk_leaves_results_unchanged() {
    if !common::require_root() {
        return;
    }
    // Calls that succeeded while their journal write failed.
    let mut journal_failed_call_ok = 0;
    let mut outcomes = Vec::new();
    for pages in 0..6u64 {
        let (m_on, m_off) = (
            Mount::scratch("size=512k,mode=0755"),
            Mount::scratch("size=512k,mode=0755"),
        );
        let on = Net::new(&m_on.path, "full", v4(json!({})));
        let off = Net::new(&m_off.path, "full", v4(json!({ "journal": false })));
        for n in [&on, &off] {
            n.add_pod("p1", "ns/p1", None).success();
            n.add_pod("p2", "ns/p2", None).success();
            n.run("DEL", "p1").success_empty();
        }
        pad_journal(&on.journal());
        let before = std::fs::metadata(on.journal()).unwrap().len();
        fill(&m_on.path.join("filler"), pages);
        fill(&m_off.path.join("filler"), pages);
        let (a, b) = (
            on.add_pod("p3", "ns/p3", None),
            off.add_pod("p3", "ns/p3", None),
        );
        assert_eq!(on.answer(&a), off.answer(&b), "{pages} pages: ADD");
        assert_eq!(on.files(), off.files(), "{pages} pages: after ADD");
        let grew = std::fs::metadata(on.journal()).unwrap().len() > before;
        outcomes.push(format!(
            "{pages} pages: ADD ok={} journal written={grew}",
            a.ok()
        ));
        if a.ok() && !grew {
            journal_failed_call_ok += 1;
            // The lost record shows in verify.
            let v = on.cli(&["verify", "full"]);
            assert_eq!(v.status, Some(1), "{v:?}");
            assert!(
                v.stdout.contains("has no record of its allocation"),
                "{v:?}"
            );
        }
        // DEL on a disk with no page left at all.
        std::fs::remove_file(m_on.path.join("filler")).unwrap();
        std::fs::remove_file(m_off.path.join("filler")).unwrap();
        pad_journal(&on.journal());
        fill(&m_on.path.join("filler"), 0);
        fill(&m_off.path.join("filler"), 0);
        let before = std::fs::metadata(on.journal()).unwrap().len();
        let (a, b) = (on.run("DEL", "p2"), off.run("DEL", "p2"));
        assert_eq!(on.answer(&a), off.answer(&b), "{pages} pages: DEL");
        a.success_empty();
        assert_eq!(on.files(), off.files(), "{pages} pages: after DEL");
        // (The DEL may free pages itself, e.g. spares after a failed ADD,
        // and tmpfs counts free pages per CPU: the journal may have room.)
        let text = std::fs::read(on.journal()).unwrap();
        assert!(text.ends_with(b"\n"), "{pages} pages: no torn line left");
        let grew = text.len() as u64 > before;
        outcomes.push(format!("{pages} pages: DEL journal written={grew}"));
        if !grew {
            journal_failed_call_ok += 1;
        }
    }
    eprintln!("full disk: {outcomes:#?}");
    assert!(
        journal_failed_call_ok > 0,
        "some call succeeded while its journal write failed: {outcomes:#?}"
    );
}

/// A clean directory passes verify; each planted inconsistency is found,
/// with a non-zero exit and one line naming it. Verify writes nothing.
#[test]
fn verify_finds_each_planted_inconsistency() {
    type Plant = fn(&Net);
    let cases: Vec<(&str, Plant, &str)> = vec![
        (
            "empty file",
            |n| std::fs::write(n.dir().join("10.90.0.77"), b"").unwrap(),
            "10.90.0.77: nobody owns it: its file is empty",
        ),
        (
            "garbage content",
            |n| std::fs::write(n.dir().join("10.90.0.78"), b"!!\n??").unwrap(),
            "10.90.0.78: nobody owns it",
        ),
        (
            "directory named like an address",
            |n| std::fs::create_dir(n.dir().join("10.90.0.79")).unwrap(),
            "is a directory, not a reservation",
        ),
        (
            "file rewritten in place",
            |n| {
                // Same directory mtime: only the content says it changed.
                let p = n.dir().join(HELD);
                let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                f.write_all(b"other\r\neth0").unwrap();
            },
            "the index says p2:eth0 holds it, but its file names other",
        ),
        (
            "damaged journal line",
            |n| {
                let text = std::fs::read_to_string(n.journal()).unwrap();
                let damaged = text.replacen("\"event\"", "\"ev\x00ent\"", 1);
                std::fs::write(n.journal(), damaged).unwrap();
            },
            "line(s) do not parse",
        ),
        (
            "lost allocation record",
            |n| {
                let text = std::fs::read_to_string(n.journal()).unwrap();
                let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"p2\"")).collect();
                std::fs::write(n.journal(), kept.join("\n") + "\n").unwrap();
            },
            "has no record of its allocation",
        ),
        (
            "lost release record",
            |n| {
                let text = std::fs::read_to_string(n.journal()).unwrap();
                let kept: Vec<&str> = text
                    .lines()
                    .filter(|l| !(l.contains("\"p1\"") && l.contains("release")))
                    .collect();
                std::fs::write(n.journal(), kept.join("\n") + "\n").unwrap();
            },
            "its release was not recorded",
        ),
    ];
    for (name, plant, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let net = Net::new(tmp.path(), "ver", v4(json!({})));
        net.add_pod("p1", "ns/p1", None).success();
        net.add_pod("p2", "ns/p2", Some(HELD)).success();
        net.run("DEL", "p1").success_empty();
        net.add_pod("p3", "ns/p3", None).success();
        let clean = net.cli(&["verify"]);
        assert!(clean.ok(), "clean before planting {name}: {clean:?}");
        assert!(
            clean.stdout.starts_with("0 problem(s) in 1 network(s)"),
            "{clean:?}"
        );
        plant(&net);
        let tree = common::tree(&net.dir());
        let r = net.cli(&["verify", "ver"]);
        assert_eq!(r.status, Some(1), "{name}: {r:?}");
        let problems: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.contains(": problem: "))
            .collect();
        assert!(
            problems.iter().any(|l| l.contains(want)),
            "{name}: want {want:?} in {}",
            r.stdout
        );
        assert!(r.stderr.contains("verify found"), "{r:?}");
        let j = net.cli(&["verify", "--json"]);
        let v: Value = serde_json::from_str(&j.stdout).unwrap();
        assert!(v["problems"].as_u64().unwrap() >= 1, "{name}");
        assert_eq!(
            common::tree(&net.dir()),
            tree,
            "{name}: verify wrote nothing"
        );
    }
}

/// verify and history on a read-only mount (root only): they read
/// files and take no lock.
#[test]
fn inspection_works_on_a_read_only_mount() {
    if !common::require_root() {
        return;
    }
    let m = Mount::scratch("size=2m,mode=0755");
    let net = Net::new(&m.path, "ro", v4(json!({})));
    net.add_pod("p1", "ns/p1", Some(HELD)).success();
    net.run("DEL", "p1").success_empty();
    net.add_pod("p2", "ns/p2", None).success();
    m.remount("ro");
    let v = net.cli(&["verify"]);
    assert!(v.ok(), "{v:?}");
    let h = net.history(&[HELD]);
    assert!(h.ok() && h.stdout.contains("pod ns/p1"), "{h:?}");
}

/// Metrics count the journal's records by reason and give the time of the
/// last automatic release.
#[test]
fn metrics_count_releases_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(net) = Net::booted(tmp.path(), "met", v4(json!({}))) else {
        return;
    };
    net.add_pod("a", "ns/a", None).success();
    net.add_pod("b", "ns/b", None).success();
    net.add_pod("c", "ns/c", None).success();
    net.run("DEL", "a").success_empty();
    net.gc(&["c"]).success_empty();
    let m = net.cli(&["metrics"]);
    assert!(m.ok(), "{m:?}");
    let value = |name: &str| -> String {
        m.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {}", m.stdout))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        value("podlease_journal_allocations{network=\"met\",reason=\"add\"}"),
        "3"
    );
    assert_eq!(
        value("podlease_journal_releases{network=\"met\",reason=\"del\"}"),
        "1"
    );
    assert_eq!(
        value("podlease_journal_releases{network=\"met\",reason=\"gc\"}"),
        "1"
    );
    assert_eq!(
        value("podlease_journal_last_automatic_release_seconds{network=\"met\"}"),
        "0"
    );
    net.set_boot("boot-b");
    net.add_pod("d", "ns/d", None).success();
    let m2 = net.cli(&["metrics"]);
    assert!(
        m2.stdout
            .contains("podlease_journal_releases{network=\"met\",reason=\"reclaim\"} 1"),
        "{}",
        m2.stdout
    );
    assert!(
        !m2.stdout
            .contains("podlease_journal_last_automatic_release_seconds{network=\"met\"} 0\n")
    );
}

/// The per-call debug log: one JSON line per call with what it did,
/// automatic releases included; `logLevel: error` logs failures only; a log
/// that cannot be written changes nothing, and nothing goes to stdout.
#[test]
fn debug_log_one_line_per_call() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("podlease.log");
    let Some(net) = Net::booted(
        tmp.path(),
        "dbg",
        v4(json!({ "logFile": log, "logLevel": "info" })),
    ) else {
        return;
    };
    let plain = Net::new(&tmp.path().join("plain"), "dbg", v4(json!({})));
    let a = net.add_pod("p1", "ns/p1", None);
    let b = plain.add_pod("p1", "ns/p1", None);
    assert_eq!(
        net.answer(&a),
        plain.answer(&b),
        "the log changes no result"
    );
    net.run("CHECK", "nope").error(3);
    net.set_boot("boot-b");
    net.run("DEL", "p1").success_empty();
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0]["command"], "ADD");
    assert_eq!(lines[0]["network"], "dbg");
    assert_eq!(lines[0]["containerId"], "p1");
    assert_eq!(lines[0]["code"], 0);
    assert_eq!(lines[0]["addresses"], json!(["10.90.0.2/24"]));
    assert!(lines[0]["durationMs"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[0]["changes"][0]["event"], "allocate");
    assert_eq!(lines[1]["code"], 3);
    assert!(lines[1]["error"].as_str().unwrap().contains("nope"));
    // After the reboot, DEL's own lookup finds nothing: reclaim released it.
    assert_eq!(
        lines[2]["changes"][0]["reason"], "reclaim",
        "{:#}",
        lines[2]
    );

    // Failures only.
    let errors_only = tmp.path().join("errors.log");
    let quiet = Net::new(
        &tmp.path().join("q"),
        "dbg",
        v4(json!({ "logFile": errors_only, "logLevel": "error" })),
    );
    quiet.add_pod("p1", "ns/p1", None).success();
    quiet.run("CHECK", "nope").error(3);
    let text = std::fs::read_to_string(&errors_only).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"CHECK\""));

    // A log file that cannot be opened (a directory) changes nothing.
    let broken = Net::new(
        &tmp.path().join("b"),
        "dbg",
        v4(json!({ "logFile": tmp.path() })),
    );
    let r = broken.add_pod("p1", "ns/p1", None);
    assert_eq!(broken.answer(&r), plain.answer(&b));
    assert!(r.stderr.is_empty());
}

/// Bad journal settings are a code-7 error naming the field on ADD; DEL
/// falls back to the defaults and still releases.
#[test]
fn journal_settings_are_validated() {
    let tmp = tempfile::tempdir().unwrap();
    let good = Net::new(tmp.path(), "cfg", v4(json!({})));
    good.add_pod("p1", "ns/p1", None).success();
    for (bad, field) in [
        (json!({ "maxBytes": 100 }), "ipam.journal.maxBytes"),
        (json!({ "maxFiles": 0 }), "ipam.journal.maxFiles"),
        (json!({ "maxFiles": "many" }), "ipam.journal.maxFiles"),
        (json!("yes"), "ipam.journal"),
    ] {
        let net = Net::new(tmp.path(), "cfg", v4(json!({ "journal": bad })));
        let msg = net.add_pod("p2", "ns/p2", None).error(7);
        assert!(msg.contains(field), "{msg}");
    }
    let net = Net::new(
        tmp.path(),
        "cfg",
        v4(json!({ "journal": { "maxBytes": 1 } })),
    );
    net.run("DEL", "p1").success_empty();
    assert_eq!(good.holders(&["--container", "p1"])[0].2, "del");
}

/// Changes podlease did not make are recorded when an index rebuild notices
/// them (host-local's ADD and DEL, an `rm`), and crash recovery records what
/// it releases: a killed ADD's addresses.
#[test]
fn external_changes_and_recovery_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Net::new(tmp.path(), "ext", v4(json!({})));
    net.add_pod("p1", "ns/p1", None).success();
    // host-local's ADD, then our next operation.
    std::fs::write(net.dir().join("10.90.0.50"), b"hl1\r\neth0").unwrap();
    net.run("CHECK", "p1").success_empty();
    // host-local's DEL (the file goes).
    std::fs::remove_file(net.dir().join("10.90.0.50")).unwrap();
    net.run("CHECK", "p1").success_empty();
    assert_eq!(
        net.holders(&["10.90.0.50"]),
        [(
            "hl1".to_owned(),
            "external".to_owned(),
            "external".to_owned()
        )]
    );
    // An ADD killed after linking its address: its scratch owner file is
    // still there and the `clean` marker is gone.
    let meta = net.dir().join(".podlease");
    std::fs::write(meta.join("owner"), b"k1\r\neth0").unwrap();
    std::fs::hard_link(meta.join("owner"), net.dir().join("10.90.0.60")).unwrap();
    std::fs::remove_file(meta.join("clean")).unwrap();
    let v = net.cli(&["verify"]);
    assert!(
        v.stdout
            .contains("10.90.0.60: the next operation releases it: undo of an ADD that was killed"),
        "{v:?}"
    );
    net.run("CHECK", "p1").success_empty();
    let h = net.history(&["10.90.0.60"]);
    assert!(
        h.stdout.contains("container k1, eth0")
            && h.stdout
                .contains("(recovery: an ADD that was killed before it finished)"),
        "{h:?}"
    );
    assert!(net.cli(&["verify"]).ok());
}
