//! The operator command line, black-box: the binary run without
//! `CNI_COMMAND`, against state made by real CNI ADDs through the same binary
//! and by hand-written host-local files. Human and `--json` output, exit
//! statuses 0/1/2/3, and that changes go through the lock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{Call, Reply, podlease};
use serde_json::{Value, json};

/// A data directory, an empty config directory, and helpers to fill them.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(env.conf_dir()).unwrap();
        env
    }
    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    fn conf_dir(&self) -> PathBuf {
        self.tmp.path().join("net.d")
    }
    fn net(&self, network: &str) -> PathBuf {
        self.data().join(network)
    }

    /// A podlease network config with `ranges`, stored in this data directory.
    fn conf(&self, network: &str, ranges: Value) -> Value {
        common::conf(
            "1.1.0",
            network,
            "podlease",
            json!({ "ranges": ranges }),
            &self.data(),
        )
    }

    /// Writes `conf` to the config directory as a one-plugin conflist.
    fn install(&self, file: &str, conf: &Value) {
        let mut plugin = conf.clone();
        let name = plugin.as_object_mut().unwrap().remove("name").unwrap();
        let version = plugin
            .as_object_mut()
            .unwrap()
            .remove("cniVersion")
            .unwrap();
        let list = json!({ "cniVersion": version, "name": name, "plugins": [plugin, { "type": "portmap" }] });
        std::fs::write(
            self.conf_dir().join(file),
            serde_json::to_vec_pretty(&list).unwrap(),
        )
        .unwrap();
    }

    /// A CNI ADD through the binary, with a pod; returns the addresses.
    fn add(&self, conf: &Value, id: &str, ifname: &str, pod: Option<&str>) -> Vec<String> {
        let mut call = Call::new("ADD", conf).id(id).ifname(ifname);
        if let Some(pod) = pod {
            let (ns, name) = pod.split_once('/').unwrap();
            call = call.args(&format!("K8S_POD_NAMESPACE={ns};K8S_POD_NAME={name}"));
        }
        call.run(&podlease()).addresses()
    }

    /// Runs the CLI with `--data-dir` and `--conf-dir` of this environment.
    fn cli(&self, args: &[&str]) -> Reply {
        self.cli_stdin(args, b"")
    }

    fn cli_stdin(&self, args: &[&str], stdin: &[u8]) -> Reply {
        let mut cmd = Command::new(podlease());
        cmd.env_clear()
            .args(args)
            .arg("--data-dir")
            .arg(self.data())
            .arg("--conf-dir")
            .arg(self.conf_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run(cmd, stdin)
    }

    /// Writes a host-local-style reservation file.
    fn write_ip_file(&self, network: &str, ip: &str, content: &str) {
        std::fs::create_dir_all(self.net(network)).unwrap();
        std::fs::write(self.net(network).join(ip), content).unwrap();
    }
}

fn run(mut cmd: Command, stdin: &[u8]) -> Reply {
    let mut child = cmd.spawn().unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    Reply::from(child.wait_with_output().unwrap())
}

/// The CLI with nothing but `args` (no environment).
fn bare(args: &[&str]) -> Reply {
    let mut cmd = Command::new(podlease());
    cmd.env_clear()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run(cmd, b"")
}

fn status(r: Reply, want: i32) -> Reply {
    assert_eq!(r.status, Some(want), "expected exit {want}: {r:?}");
    r
}

fn json_of(r: &Reply) -> Value {
    assert_eq!(r.status, Some(0), "expected exit 0: {r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// The data rows of a table (header dropped), split on runs of spaces.
fn rows(r: &Reply) -> Vec<Vec<String>> {
    let mut lines = r.stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("NETWORK "), "no table header: {r:?}");
    lines
        .take_while(|l| !l.is_empty() && !l.starts_with("note:"))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn set_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn v4_24() -> Value {
    json!([[{ "subnet": "10.1.2.0/24" }]])
}

/// Three pods by ADD in `mynet` (10.1.2.0/24), a legacy and an unrecognised
/// file written by hand, and `other` written by hand as host-local would.
fn populated() -> Env {
    let env = Env::new();
    let conf = env.conf("mynet", v4_24());
    env.install("10-mynet.conflist", &conf);
    for i in 1..=3 {
        let ips = env.add(
            &conf,
            &format!("c{i}"),
            "eth0",
            Some(&format!("default/web-{i}")),
        );
        assert_eq!(ips, vec![format!("10.1.2.{}", i + 1)]);
    }
    env.write_ip_file("mynet", "10.1.2.50", "oldid");
    env.write_ip_file("mynet", "10.1.2.51", "garbage here");
    // The boot is recorded by now, so an old mtime is not reclaimed.
    set_mtime(&env.net("mynet").join("10.1.2.50"), 1_000_000_000);
    env.write_ip_file("other", "192.168.0.5", "zz\r\neth0");
    std::fs::write(env.net("other").join("lock"), "").unwrap();
    env
}

#[test]
fn no_arguments_prints_the_banner() {
    let r = status(bare(&[]), 0);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.starts_with("CNI podlease plugin v"), "{r:?}");
    assert!(
        r.stderr.contains("CNI protocol versions supported: 0.1.0"),
        "{r:?}"
    );
}

#[test]
fn help_and_version() {
    let top = status(bare(&["--help"]), 0);
    for word in [
        "list",
        "show",
        "usage",
        "release",
        "gc",
        "metrics",
        "Exit status",
        "3  nothing matched",
    ] {
        assert!(top.stdout.contains(word), "{word}: {top:?}");
    }
    for sub in ["list", "show", "usage", "release", "gc", "metrics"] {
        let r = status(bare(&[sub, "--help"]), 0);
        assert!(r.stdout.contains("Example"), "{sub}: {r:?}");
        assert!(
            r.stdout.contains(&format!("podlease {sub}")),
            "{sub}: {r:?}"
        );
        assert!(r.stdout.contains("Exit status"), "{sub}: {r:?}");
        assert!(r.stderr.is_empty(), "{sub}: {r:?}");
        // The first line is the one-line description.
        assert!(!r.stdout.lines().next().unwrap().is_empty(), "{sub}: {r:?}");
        status(bare(&["help", sub]), 0);
    }
    let v = status(bare(&["--version"]), 0);
    // Then the commit it was built from (tests/install.rs).
    assert!(
        v.stdout
            .starts_with(&format!("podlease {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{v:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = populated();
    for args in [
        &["lisst"][..],
        &["list", "--bogus"],
        &["show"],
        &["gc"],
        &["list", "../etc"],
        &["show", "10.1.2.2", "--network", "a/b"],
        &["show", "not an id!"],
        &["release", "10.1.2.2", "--ifname", "eth0"],
        &["release", "c1", "--ifname", "a/b"],
        &["metrics", "--json"],
        &["--lock-timeout", "soon", "list"],
    ] {
        let r = status(env.cli(args), 2);
        assert!(r.stderr.starts_with("podlease: "), "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    // Nothing was released by any of them.
    assert_eq!(
        json_of(&env.cli(&["list", "--json"]))["allocations"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

/// The column names of a table the CLI printed.
fn header(stdout: &str) -> Vec<&str> {
    stdout.lines().next().unwrap().split_whitespace().collect()
}

#[test]
fn list_human() {
    let env = populated();
    let r = status(env.cli(&["list"]), 0);
    let header = header(&r.stdout);
    assert_eq!(
        header,
        [
            "NETWORK",
            "ADDRESS",
            "CONTAINER",
            "IFNAME",
            "POD",
            "ALLOCATED",
            "STATE"
        ]
    );
    let rows = rows(&r);
    assert_eq!(rows.len(), 6, "{r:?}");
    assert_eq!(
        rows[0][..5],
        ["mynet", "10.1.2.2", "c1", "eth0", "default/web-1"]
    );
    assert!(
        rows[0][5].ends_with('Z') && rows[0][5].len() == 20,
        "{:?}",
        rows[0]
    );
    assert_eq!(
        rows[3],
        [
            "mynet",
            "10.1.2.50",
            "oldid",
            "(legacy: any)",
            "-",
            "2001-09-09T01:46:40Z",
            "held"
        ]
    );
    // A file naming no attachment keeps its address out of use.
    assert_eq!(rows[4].last().map(String::as_str), Some("blocked"));
    assert_eq!(
        rows[4][..4],
        [
            "mynet",
            "10.1.2.51",
            "(unrecognised: \"garbage here\")",
            "-"
        ]
    );
    assert_eq!(rows[5][..5], ["other", "192.168.0.5", "zz", "eth0", "-"]);
    // Columns are aligned: every row puts ADDRESS at the header's offset.
    let at = r.stdout.lines().next().unwrap().find("ADDRESS").unwrap();
    for line in r.stdout.lines().skip(1) {
        assert!(
            line[at..].starts_with(|c: char| c.is_ascii_digit()),
            "{line:?}"
        );
        assert_eq!(line, line.trim_end());
    }

    let one = rows_of(&env, &["list", "other"]);
    assert_eq!(one.len(), 1);
    // A data directory that does not exist is an error, unless a config names it.
    let empty = Env::new();
    let r = status(empty.cli(&["list"]), 3);
    assert!(r.stderr.contains("does not exist"), "{r:?}");
    empty.install("10-fresh.conflist", &empty.conf("fresh", v4_24()));
    assert_eq!(
        status(empty.cli(&["list"]), 0).stdout.trim(),
        format!("no allocations in {}", empty.data().display())
    );
    let r = status(env.cli(&["list", "nosuchnet"]), 3);
    assert!(r.stderr.contains("network nosuchnet has no state"), "{r:?}");
    assert!(!env.net("nosuchnet").exists(), "list created a directory");
}

fn rows_of(env: &Env, args: &[&str]) -> Vec<Vec<String>> {
    rows(&status(env.cli(args), 0))
}

#[test]
fn list_json() {
    let env = populated();
    let v = json_of(&env.cli(&["list", "--json"]));
    assert_eq!(v["data_dir"], env.data().to_str().unwrap());
    let all = v["allocations"].as_array().unwrap();
    assert_eq!(all.len(), 6);
    let a = &all[0];
    assert_eq!(a["network"], "mynet");
    assert_eq!(a["address"], "10.1.2.2");
    assert_eq!(a["kind"], "attachment");
    assert_eq!(a["container_id"], "c1");
    assert_eq!(a["ifname"], "eth0");
    assert_eq!(a["pod"], "default/web-1");
    assert_eq!(a["range_set"], 0);
    assert_eq!(
        a["file"],
        env.net("mynet").join("10.1.2.2").to_str().unwrap()
    );
    let legacy = &all[3];
    assert_eq!(
        (legacy["kind"].as_str(), legacy["container_id"].as_str()),
        (Some("legacy"), Some("oldid"))
    );
    assert!(legacy["ifname"].is_null() && legacy["pod"].is_null());
    assert_eq!(legacy["allocated_at"], "2001-09-09T01:46:40Z");
    assert_eq!(legacy["allocated_at_unix"], 1_000_000_000);
    assert_eq!(
        (all[4]["kind"].as_str(), all[4]["content"].as_str()),
        (Some("unknown"), Some("garbage here"))
    );
    assert!(all[5]["range_set"].is_null(), "no config for other");
    // Global flags go anywhere.
    let v2 = json_of(&env.cli(&["--json", "list", "mynet"]));
    assert_eq!(v2["allocations"].as_array().unwrap().len(), 5);
}

#[test]
fn data_dir_from_environment() {
    let env = populated();
    let mut cmd = Command::new(podlease());
    cmd.env_clear()
        .env("PODLEASE_DATA_DIR", env.data())
        .args(["list", "other", "--json", "--conf-dir"])
        .arg(env.conf_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let v = json_of(&run(cmd, b""));
    assert_eq!(v["allocations"][0]["address"], "192.168.0.5");
}

#[test]
fn show_address_and_container() {
    let env = populated();
    // The same container in a second network, with two interfaces.
    let conf_b = env.conf("netb", json!([[{ "subnet": "10.9.0.0/24" }]]));
    env.add(&conf_b, "c1", "net1", None);
    env.add(&conf_b, "c1", "net2", None);

    let r = status(env.cli(&["show", "10.1.2.2"]), 0);
    for line in [
        "network:      mynet",
        "address:      10.1.2.2",
        "container id: c1",
        "ifname:       eth0",
        "pod:          default/web-1",
        "range set:    0",
    ] {
        assert!(r.stdout.contains(line), "{line}: {r:?}");
    }
    let v = json_of(&env.cli(&["show", "10.1.2.2", "--json"]));
    assert_eq!(v["matches"].as_array().unwrap().len(), 1);
    assert_eq!(v["matches"][0]["pod"], "default/web-1");
    assert_eq!(v["query"], "address 10.1.2.2");

    let v = json_of(&env.cli(&["show", "c1", "--json"]));
    let found: Vec<(&str, &str)> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["network"].as_str().unwrap(),
                m["ifname"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("mynet", "eth0"), ("netb", "net1"), ("netb", "net2")]
    );
    let v = json_of(&env.cli(&[
        "show",
        "c1",
        "--network",
        "netb",
        "--ifname",
        "net2",
        "--json",
    ]));
    assert_eq!(v["matches"].as_array().unwrap().len(), 1);
    assert_eq!(v["matches"][0]["address"], "10.9.0.3");
    // Two blocks in human form, separated by a blank line.
    let r = status(env.cli(&["show", "c1", "--network", "netb"]), 0);
    assert_eq!(r.stdout.matches("network:      netb").count(), 2);
    assert!(r.stdout.contains("\n\n"));
    // A legacy file answers for its container.
    let v = json_of(&env.cli(&["show", "oldid", "--ifname", "eth7", "--json"]));
    assert_eq!(v["matches"][0]["kind"], "legacy");

    for args in [
        &["show", "10.1.2.99"][..],
        &["show", "nobody"],
        &["show", "10.1.2.2", "--network", "netb"],
        &["show", "10.1.2.2", "--network", "nosuchnet"],
        &["show", "c1", "--ifname", "eth9"],
        &["show", "10.1.2.2", "--container"],
        &["show", "nobody", "--json"],
    ] {
        let r = status(env.cli(args), 3);
        assert!(
            r.stderr.starts_with("podlease: no allocation of"),
            "{args:?}: {r:?}"
        );
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
}

#[test]
fn usage_exact_numbers() {
    let env = Env::new();
    let conf = env.conf("mynet", v4_24());
    env.install("10-mynet.conflist", &conf);
    for i in 1..=3 {
        env.add(&conf, &format!("c{i}"), "eth0", None);
    }
    env.write_ip_file("stateonly", "172.16.0.9", "x\r\neth0");

    let v = json_of(&env.cli(&["usage", "--json"]));
    let nets = v["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    let n = &nets[0];
    assert_eq!(n["network"], "mynet");
    assert_eq!(
        n["config"],
        env.conf_dir().join("10-mynet.conflist").to_str().unwrap()
    );
    assert_eq!(
        (n["allocated"].as_u64(), n["outside_ranges"].as_u64()),
        (Some(3), Some(0))
    );
    let s = &n["range_sets"][0];
    assert_eq!(
        (s["size"].as_u64(), s["used"].as_u64(), s["free"].as_u64()),
        (Some(253), Some(3), Some(250))
    );
    assert!(
        (s["percent_used"].as_f64().unwrap() - 300.0 / 253.0).abs() < 1e-9,
        "{s}"
    );
    assert_eq!(
        s["ranges"][0],
        json!({ "subnet": "10.1.2.0/24", "start": "10.1.2.1", "end": "10.1.2.254", "gateway": "10.1.2.1" })
    );
    let u = &nets[1];
    assert_eq!(u["network"], "stateonly");
    assert!(u["config"].is_null() && u["range_sets"].as_array().unwrap().is_empty());
    assert_eq!(u["allocated"], 1);

    let r = status(env.cli(&["usage"]), 0);
    let header = header(&r.stdout);
    assert_eq!(
        header,
        ["NETWORK", "SET", "RANGES", "SIZE", "USED", "FREE", "USED%"]
    );
    assert_eq!(
        rows(&r),
        [
            vec![
                "mynet",
                "0",
                "10.1.2.1-10.1.2.254",
                "253",
                "3",
                "250",
                "1.2%"
            ],
            vec!["stateonly", "-", "(no config found)", "-", "1", "-", "-"],
        ]
    );
    // One network; a configured network without state has zero usage.
    let v = json_of(&env.cli(&["usage", "mynet", "--json"]));
    assert_eq!(v["networks"].as_array().unwrap().len(), 1);
    env.install(
        "20-fresh.conflist",
        &env.conf("fresh", json!([[{ "subnet": "10.7.0.0/16" }]])),
    );
    let v = json_of(&env.cli(&["usage", "fresh", "--json"]));
    assert_eq!(v["networks"][0]["range_sets"][0]["size"], 65533);
    assert_eq!(v["networks"][0]["range_sets"][0]["used"], 0);
    assert!(!env.net("fresh").exists(), "usage created a directory");
    status(env.cli(&["usage", "nosuchnet"]), 3);
}

#[test]
fn usage_config_sources() {
    let env = Env::new();
    // Dual stack with an IPv6 /64 and two IPv4 ranges in one set, from an explicit .conf file.
    let ranges = json!([
        [{ "subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10", "rangeEnd": "10.1.0.19" }, { "subnet": "10.1.1.0/24" }],
        [{ "subnet": "2001:db8:1::/64" }]
    ]);
    let conf = env.conf("dual", ranges);
    let file = env.tmp.path().join("dual.conf");
    std::fs::write(&file, serde_json::to_vec(&conf).unwrap()).unwrap();
    env.add(&conf, "c1", "eth0", None);
    env.write_ip_file("dual", "10.200.0.1", "x\r\neth0"); // outside every range

    let v = json_of(&env.cli(&["usage", "--json", "--config", file.to_str().unwrap()]));
    let n = &v["networks"][0];
    assert_eq!(n["outside_ranges"], 1);
    // 10 (gateway .1 lies outside .10-.19) + 253.
    assert_eq!(
        (
            n["range_sets"][0]["size"].as_u64(),
            n["range_sets"][0]["used"].as_u64()
        ),
        (Some(263), Some(1))
    );
    assert_eq!(n["range_sets"][1]["size"].as_u64(), Some(u64::MAX - 1));
    let r = status(env.cli(&["usage", "--config", file.to_str().unwrap()]), 0);
    assert!(r.stdout.contains("(outside configured ranges)"), "{r:?}");

    // A config directory with noise: a broken file and a network of another data directory.
    std::fs::write(env.conf_dir().join("00-broken.conf"), "{ not json").unwrap();
    let elsewhere = common::conf(
        "1.1.0",
        "dual",
        "host-local",
        json!({ "subnet": "10.5.0.0/24" }),
        Path::new("/elsewhere"),
    );
    std::fs::write(
        env.conf_dir().join("05-elsewhere.conf"),
        serde_json::to_vec(&elsewhere).unwrap(),
    )
    .unwrap();
    std::fs::write(
        env.conf_dir().join("10-dual.conf"),
        serde_json::to_vec(&conf).unwrap(),
    )
    .unwrap();
    let r = env.cli(&["usage", "--json"]);
    let v = json_of(&r);
    assert_eq!(
        v["networks"][0]["config"],
        env.conf_dir().join("10-dual.conf").to_str().unwrap()
    );
    assert!(
        r.stderr.contains("podlease: warning: skipping") && r.stderr.contains("00-broken.conf"),
        "{r:?}"
    );
    assert!(r.stderr.contains("keeps its state in /elsewhere"), "{r:?}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2);

    // An explicit config that cannot be used is an error.
    let r = env.cli(&["usage", "--config", "/nonexistent/x.conf"]);
    status(r, 1);
    std::fs::write(env.tmp.path().join("bad.conf"), "[]").unwrap();
    status(
        env.cli(&[
            "usage",
            "--config",
            env.tmp.path().join("bad.conf").to_str().unwrap(),
        ]),
        2,
    );
}

#[test]
fn release_then_add_hands_the_address_out_again() {
    let env = Env::new();
    let conf = env.conf(
        "small",
        json!([[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.2", "rangeEnd": "10.1.2.4" }]]),
    );
    for id in ["a", "b", "c"] {
        env.add(&conf, id, "eth0", Some(&format!("ns/{id}")));
    }
    Call::new("ADD", &conf).id("d").run(&podlease()).error(100);

    let r = status(env.cli(&["release", "10.1.2.3"]), 0);
    assert_eq!(
        r.stdout,
        "released 10.1.2.3 in network small (container b, interface eth0, pod ns/b)\n"
    );
    status(env.cli(&["show", "10.1.2.3"]), 3);
    status(env.cli(&["release", "10.1.2.3"]), 3);
    assert_eq!(env.add(&conf, "d", "eth0", None), ["10.1.2.3"]);

    // By container, JSON; then the container's DEL finds nothing and succeeds.
    let v = json_of(&env.cli(&["release", "c", "--json"]));
    assert_eq!(v["query"], "container c");
    assert_eq!(v["released"][0]["address"], "10.1.2.4");
    assert_eq!(v["released"][0]["pod"], "ns/c");
    Call::new("DEL", &conf)
        .id("c")
        .run(&podlease())
        .success_empty();
    assert_eq!(env.add(&conf, "e", "eth0", None), ["10.1.2.4"]);
    // CHECK of the released attachment reports it unknown.
    let mut check = conf.clone();
    check["prevResult"] = json!({ "cniVersion": "1.1.0", "ips": [{ "address": "10.1.2.3/24" }] });
    Call::new("CHECK", &check).id("b").run(&podlease()).error(3);
}

#[test]
fn release_refuses_ambiguous_targets() {
    let env = Env::new();
    let a = env.conf("neta", v4_24());
    let b = env.conf("netb", v4_24()); // overlapping subnets: separate stores
    env.add(&a, "shared", "eth0", None);
    env.add(&b, "shared", "net1", None);
    env.add(&a, "only-a", "eth0", None);

    for target in ["shared", "10.1.2.2"] {
        let r = status(env.cli(&["release", target]), 2);
        assert!(
            r.stderr.contains("several networks (neta, netb)") && r.stderr.contains("--network"),
            "{r:?}"
        );
    }
    assert_eq!(
        json_of(&env.cli(&["list", "--json"]))["allocations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Unambiguous without --network.
    let r = status(env.cli(&["release", "only-a"]), 0);
    assert_eq!(
        r.stdout,
        "released 10.1.2.3 in network neta (container only-a, interface eth0)\n"
    );
    // --network chooses; --ifname narrows.
    status(
        env.cli(&["release", "shared", "--network", "netb", "--ifname", "eth0"]),
        3,
    );
    let v = json_of(&env.cli(&[
        "release",
        "shared",
        "--network",
        "netb",
        "--ifname",
        "net1",
        "--json",
    ]));
    assert_eq!(v["released"][0]["network"], "netb");
    let left = json_of(&env.cli(&["list", "--json"]));
    let left: Vec<&str> = left["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["network"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["neta"]);
    status(
        env.cli(&["release", "10.1.2.2", "--network", "nosuchnet"]),
        3,
    );
}

#[test]
fn release_waits_for_the_lock() {
    let env = populated();
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(env.net("mynet").join("lock"))
        .unwrap();
    #[allow(clippy::disallowed_methods)]
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    let r = status(
        env.cli(&[
            "release",
            "10.1.2.2",
            "--network",
            "mynet",
            "--lock-timeout",
            "0",
        ]),
        1,
    );
    assert!(
        r.stderr.starts_with("podlease: ") && r.stderr.contains("lock"),
        "{r:?}"
    );
    status(env.cli(&["list", "mynet", "--lock-timeout", "0"]), 1);

    // A patient release waits for the holder, then releases.
    let mut cmd = Command::new(podlease());
    cmd.env_clear()
        .args(["release", "10.1.2.2", "--lock-timeout", "30s", "--data-dir"])
        .arg(env.data())
        .arg("--conf-dir")
        .arg(env.conf_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "release did not wait for the lock"
    );
    assert!(env.net("mynet").join("10.1.2.2").exists());
    drop(lock);
    let r = status(Reply::from(child.wait_with_output().unwrap()), 0);
    assert!(
        r.stdout.starts_with("released 10.1.2.2 in network mynet"),
        "{r:?}"
    );
    assert!(!env.net("mynet").join("10.1.2.2").exists());
}

fn listed(env: &Env) -> Vec<String> {
    let v = json_of(&env.cli(&["list", "--json"]));
    v["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["network"].as_str().unwrap(),
                a["address"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn gc_with_a_text_keep_file() {
    let env = populated();
    let keep = env.tmp.path().join("keep.txt");
    std::fs::write(
        &keep,
        "# attachments still running\nc1 eth0\n\nc3 eth0   # the last one\noldid eth1\n",
    )
    .unwrap();
    let before = listed(&env);

    let r = status(
        env.cli(&[
            "gc",
            "--min-age",
            "0",
            "--keep",
            keep.to_str().unwrap(),
            "--network",
            "mynet",
            "--dry-run",
        ]),
        0,
    );
    assert_eq!(
        r.stdout,
        "would release 10.1.2.3 in network mynet (container c2, interface eth0, pod default/web-2)\n\
         would release 10.1.2.51 in network mynet (unrecognised content \"garbage here\")\n\
         dry run: would release 2 address(es), kept 3, in 1 network(s)\n"
    );
    assert_eq!(listed(&env), before, "dry run changed state");

    let r = status(
        env.cli(&[
            "gc",
            "--min-age",
            "0",
            "--keep",
            keep.to_str().unwrap(),
            "--network",
            "mynet",
        ]),
        0,
    );
    assert!(
        r.stdout.starts_with("released 10.1.2.3 in network mynet"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .ends_with("released 2 address(es), kept 3, in 1 network(s)\n"),
        "{r:?}"
    );
    assert_eq!(
        listed(&env),
        [
            "mynet/10.1.2.2",
            "mynet/10.1.2.4",
            "mynet/10.1.2.50",
            "other/192.168.0.5"
        ]
    );
}

#[test]
fn gc_with_json_and_stdin() {
    let env = populated();
    let keep = env.tmp.path().join("keep.json");
    std::fs::write(
        &keep,
        r#"[{"containerID":"c2","ifname":"eth0"},{"containerID":"zz","ifname":"eth0"}]"#,
    )
    .unwrap();
    let v = json_of(&env.cli(&[
        "gc",
        "--min-age",
        "0",
        "--all-networks",
        "--keep",
        keep.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(v["dry_run"], false);
    let nets = v["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    let released: Vec<&str> = nets[0]["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(released, ["10.1.2.2", "10.1.2.4", "10.1.2.50", "10.1.2.51"]);
    assert_eq!(
        (nets[0]["kept"].as_u64(), nets[1]["kept"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(listed(&env), ["mynet/10.1.2.3", "other/192.168.0.5"]);

    // stdin, CNI's GC shape, all networks.
    let stdin = br#"{"cni.dev/valid-attachments":[{"containerID":"c2","ifname":"eth0"}]}"#;
    let v = json_of(&env.cli_stdin(
        &[
            "gc",
            "--min-age",
            "0",
            "--all-networks",
            "--keep",
            "-",
            "--json",
        ],
        stdin,
    ));
    assert_eq!(v["networks"][1]["released"][0]["address"], "192.168.0.5");
    assert_eq!(listed(&env), ["mynet/10.1.2.3"]);
    // Plain text on stdin.
    let r = status(
        env.cli_stdin(
            &["gc", "--min-age", "0", "--all-networks", "--keep", "-"],
            b"c9 eth0\n",
        ),
        0,
    );
    assert!(
        r.stdout.starts_with("released 10.1.2.3 in network mynet"),
        "{r:?}"
    );
    assert!(listed(&env).is_empty());
}

#[test]
fn gc_refuses_bad_or_empty_keep_lists() {
    let env = populated();
    let before = listed(&env);
    for (stdin, what) in [
        (&b""[..], "empty"),
        (b"# nothing\n", "empty"),
        (b"[]", "empty"),
        (b"c1\n", "line 1"),
        (b"c1 eth0\nc2 eth0 extra\n", "line 2"),
        (b"c1 eth0/x\n", "line 1: ifname"),
        (b"[{\"containerID\":\"c1\"}]", "element 0"),
        (b"{\"x\":1}", "cni.dev/valid-attachments"),
    ] {
        let r = status(
            env.cli_stdin(
                &["gc", "--min-age", "0", "--all-networks", "--keep", "-"],
                stdin,
            ),
            2,
        );
        assert!(r.stderr.contains(what), "{what}: {r:?}");
    }
    status(
        env.cli(&[
            "gc",
            "--min-age",
            "0",
            "--all-networks",
            "--keep",
            "/nonexistent/keep",
        ]),
        1,
    );
    status(
        env.cli_stdin(
            &[
                "gc",
                "--min-age",
                "0",
                "--keep",
                "-",
                "--network",
                "nosuchnet",
            ],
            b"c1 eth0\n",
        ),
        3,
    );
    assert_eq!(listed(&env), before);
    // An empty list is allowed in a dry run, and with --allow-empty.
    let v = json_of(&env.cli_stdin(
        &[
            "gc",
            "--min-age",
            "0",
            "--keep",
            "-",
            "--dry-run",
            "--json",
            "--network",
            "other",
        ],
        b"",
    ));
    assert_eq!(v["networks"][0]["released"].as_array().unwrap().len(), 1);
    status(
        env.cli_stdin(
            &[
                "gc",
                "--min-age",
                "0",
                "--keep",
                "-",
                "--allow-empty",
                "--network",
                "other",
            ],
            b"",
        ),
        0,
    );
    assert!(listed(&env).iter().all(|a| a.starts_with("mynet/")));
}

/// Issue 11, item 3: the keep list is a snapshot. A pod created after it
/// was taken (here: an allocation younger than the default minimum age, not
/// in the list) is kept; with `--min-age 0` it would go. And a keep list is
/// applied to one network unless `--all-networks` says otherwise: an
/// eth0-only list must not wipe a Multus network's net1 attachments.
#[test]
fn gc_keeps_what_is_younger_than_the_keep_list_and_needs_a_network() {
    let env = populated();
    let before = listed(&env);
    // Taken before c4 existed.
    let keep = b"c1 eth0\nc2 eth0\nc3 eth0\n";
    let conf = env.conf("mynet", v4_24());
    let c4 = env.add(&conf, "c4", "eth0", None);
    let r = status(
        env.cli_stdin(&["gc", "--keep", "-", "--network", "mynet"], keep),
        0,
    );
    assert!(
        !r.stdout.contains(&format!("released {} ", c4[0])),
        "a pod newer than the keep list was released: {r:?}"
    );
    assert!(listed(&env).contains(&format!("mynet/{}", c4[0])), "{r:?}");
    // The old legacy file (2001) is released; the young garbage file is not.
    assert!(r.stdout.contains("released 10.1.2.50 "), "{r:?}");
    assert!(listed(&env).contains(&"mynet/10.1.2.51".to_owned()));

    // No network, no --all-networks: a usage error, nothing changed.
    let now = listed(&env);
    let r = status(
        env.cli_stdin(&["gc", "--keep", "-", "--min-age", "0"], keep),
        2,
    );
    assert!(r.stderr.contains("--network"), "{r:?}");
    assert_eq!(listed(&env), now);
    status(
        env.cli_stdin(
            &["gc", "--keep", "-", "--network", "mynet", "--all-networks"],
            keep,
        ),
        2,
    );
    status(
        env.cli_stdin(
            &["gc", "--keep", "-", "--network", "mynet", "--min-age", "5x"],
            keep,
        ),
        2,
    );
    assert_eq!(listed(&env), now);
    assert!(before.iter().any(|a| a == "other/192.168.0.5"));
    assert!(now.iter().any(|a| a == "other/192.168.0.5"));
}

/// Issue 11, item 2: inspection never writes. On a read-only bind mount of
/// the data directory, `list`, `show`, `usage` and `metrics` work and change
/// nothing; a pending recovery (here a killed ADD: a scratch owner file
/// linked to an address, marker dirty) is reported, not done.
#[test]
fn inspection_never_writes_and_works_read_only() {
    let env = populated();
    let net = env.net("mynet");
    // A killed ADD: its scratch owner linked to 10.1.2.60, marker dirty.
    std::fs::write(net.join(".podlease/owner"), "killed\r\neth0").unwrap();
    std::fs::hard_link(net.join(".podlease/owner"), net.join("10.1.2.60")).unwrap();
    std::fs::write(net.join(".podlease/clean"), "dirty\n").unwrap();
    let snapshot = common::tree(&env.tmp.path().join("data"));
    let r = status(env.cli(&["list", "--json"]), 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let pending: Vec<(&str, &str)> = v["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| Some((a["address"].as_str()?, a["pending_release"].as_str()?)))
        .collect();
    assert_eq!(pending, [("10.1.2.60", "killed-add")], "{r:?}");
    let blocked: Vec<&str> = v["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["blocked"] == true)
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(blocked, ["10.1.2.51"], "{r:?}");
    for args in [
        &["list"][..],
        &["show", "10.1.2.60"],
        &["show", "c1"],
        &["usage"],
        &["metrics"],
        &["gc", "--keep", "-", "--dry-run", "--network", "mynet"],
    ] {
        let r = env.cli_stdin(args, b"c1 eth0\n");
        assert_eq!(r.status, Some(0), "{args:?}: {r:?}");
        assert_eq!(
            common::tree(&env.tmp.path().join("data")),
            snapshot,
            "{args:?} changed the state directory"
        );
    }
    if !common::require_root() {
        return;
    }
    // The same on a read-only mount.
    let data = env.tmp.path().join("data");
    let ro = env.tmp.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let ok = std::process::Command::new("sh")
        .arg("-c")
        .arg("mount --bind \"$1\" \"$2\" && mount -o remount,bind,ro \"$2\"")
        .args(["sh", data.to_str().unwrap(), ro.to_str().unwrap()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "read-only bind mount");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(ro.clone());
    for args in [
        &["list"][..],
        &["show", "10.1.2.2"],
        &["usage"],
        &["metrics"],
    ] {
        let conf_dir = env.conf_dir();
        let mut full = vec![
            "--data-dir",
            ro.to_str().unwrap(),
            "--conf-dir",
            conf_dir.to_str().unwrap(),
        ];
        full.extend_from_slice(args);
        let r = bare(&full);
        assert_eq!(r.status, Some(0), "{args:?} on a read-only mount: {r:?}");
    }
    let r = bare(&["--data-dir", ro.to_str().unwrap(), "list"]);
    assert!(r.stdout.contains("to-release (killed-add)"), "{r:?}");
    assert_eq!(common::tree(&data), snapshot);
}

/// A metric name, its labels and its value.
type Sample = (String, Vec<(String, String)>, f64);

/// Checks the shape of Prometheus text exposition and returns the samples.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut typed = std::collections::BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(name.starts_with("podlease_") && !help.is_empty(), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge", "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let (name, labels) = series.split_once('{').unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            assert!(typed.contains(name), "sample before its TYPE: {line}");
            let labels = labels.strip_suffix('}').unwrap();
            let labels: Vec<(String, String)> = labels
                .split(',')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("{line}"));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            samples.push((name.to_owned(), labels, value));
        }
    }
    samples
}

fn sample(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
        })
        .unwrap_or_else(|| panic!("no {name}{labels:?}"))
        .2
}

#[test]
fn metrics_are_prometheus_text() {
    let env = populated();
    let r = status(env.cli(&["metrics"]), 0);
    assert!(r.stderr.is_empty(), "{r:?}");
    assert!(r.stdout.ends_with('\n'));
    let s = parse_prometheus(&r.stdout);
    let mynet0 = [("network", "mynet"), ("range_set", "0")];
    assert_eq!(sample(&s, "podlease_addresses_allocated", &mynet0), 5.0);
    assert_eq!(sample(&s, "podlease_addresses_capacity", &mynet0), 253.0);
    assert_eq!(sample(&s, "podlease_addresses_free", &mynet0), 248.0);
    assert_eq!(
        sample(
            &s,
            "podlease_addresses_allocated",
            &[("network", "other"), ("range_set", "none")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "podlease_allocations_by_owner_kind",
            &[("network", "mynet"), ("kind", "legacy")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "podlease_allocations_by_owner_kind",
            &[("network", "mynet"), ("kind", "unknown")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "podlease_allocations_by_owner_kind",
            &[("network", "mynet"), ("kind", "attachment")]
        ),
        3.0
    );
    assert_eq!(
        sample(
            &s,
            "podlease_allocations_by_owner_kind",
            &[("network", "other"), ("kind", "empty")]
        ),
        0.0
    );
    assert_eq!(
        sample(&s, "podlease_network_config_found", &[("network", "other")]),
        0.0
    );

    // --output replaces the file atomically and leaves no temporary behind.
    let dir = env.tmp.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("podlease.prom");
    std::fs::write(&out, "old").unwrap();
    let r = status(env.cli(&["metrics", "--output", out.to_str().unwrap()]), 0);
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), parse_and_keep(&env));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let r = status(
        env.cli(&["metrics", "--output", "/nonexistent/dir/x.prom"]),
        1,
    );
    assert!(
        r.stderr
            .starts_with("podlease: cannot write /nonexistent/dir/x.prom"),
        "{r:?}"
    );
}

fn parse_and_keep(env: &Env) -> String {
    let text = status(env.cli(&["metrics"]), 0).stdout.clone();
    parse_prometheus(&text);
    text
}

#[test]
fn empty_data_dir_metrics_and_usage() {
    let env = Env::new();
    // Neither state nor a config naming the data directory: a wrong path, said so.
    for args in [&["metrics"][..], &["usage"], &["usage", "--json"]] {
        let r = status(env.cli(args), 3);
        assert!(r.stderr.contains("does not exist"), "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    // A node where no pod has an address yet: the config names the directory.
    env.install("10-fresh.conflist", &env.conf("fresh", v4_24()));
    let r = status(env.cli(&["metrics"]), 0);
    let samples = parse_prometheus(&r.stdout);
    assert_eq!(
        sample(
            &samples,
            "podlease_addresses_allocated",
            &[("network", "fresh"), ("range_set", "0")]
        ),
        0.0
    );
    let networks = &json_of(&env.cli(&["usage", "--json"]))["networks"];
    assert_eq!(networks[0]["allocated"], 0, "{networks}");
    assert!(!env.data().exists(), "a read created the data directory");
}
