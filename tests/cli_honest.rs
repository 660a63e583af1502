//! The operator is never misled (issue 17), black-box: a mistyped data
//! directory or address is an error that says what was looked for, configs
//! say where their state is, container ids are taken as container tools
//! print them, a pod is found by name, `release --dry-run` changes nothing,
//! and config typos are named, by every CNI call and by `podlease validate`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, Reply, podlease};
use serde_json::{Value, json};

/// Two 64-character container ids that share their first 12 characters,
/// as crictl and podman print them (13 and 12 characters).
const ID_A: &str = "3f2a9c8b1d4e7aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ID_B: &str = "3f2a9c8b1d4e8bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A data directory with network `mynet` (10.1.2.0/24): ID_A holds 10.1.2.2
/// for pod default/web-a, ID_B 10.1.2.3 for default/web-b; its config is in
/// `net.d/` and in `mynet.conflist` beside them.
struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(env.conf_dir()).unwrap();
        let conf = env.conf();
        for (id, pod) in [(ID_A, "web-a"), (ID_B, "web-b")] {
            Call::new("ADD", &conf)
                .id(id)
                .args(&format!("K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod}"))
                .run(&podlease())
                .success();
        }
        let list = json!({ "cniVersion": "1.0.0", "name": "mynet", "plugins": [
            { "type": "bridge", "ipam": conf["ipam"] }, { "type": "portmap" }
        ]});
        std::fs::write(env.conf_file(), serde_json::to_vec_pretty(&list).unwrap()).unwrap();
        std::fs::copy(env.conf_file(), env.conf_dir().join("10-mynet.conflist")).unwrap();
        env
    }
    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    fn conf_dir(&self) -> PathBuf {
        self.tmp.path().join("net.d")
    }
    fn conf_file(&self) -> PathBuf {
        self.tmp.path().join("mynet.conflist")
    }
    fn conf(&self) -> Value {
        common::conf(
            "1.0.0",
            "mynet",
            "podlease",
            json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }]] }),
            &self.data(),
        )
    }
    /// The CLI with this environment's data and config directories.
    fn cli(&self, args: &[&str]) -> Reply {
        let data = self.data();
        let conf_dir = self.conf_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--data-dir",
            data.to_str().unwrap(),
            "--conf-dir",
            conf_dir.to_str().unwrap(),
        ]);
        bare(&all)
    }
    /// The addresses allocated, by `list --json`.
    fn addresses(&self) -> Vec<String> {
        let v = json_of(&self.cli(&["list", "--json"]));
        v["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["address"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The CLI with nothing but `args` (no environment).
fn bare(args: &[&str]) -> Reply {
    let mut cmd = Command::new(podlease());
    cmd.env_clear()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdin.take());
    Reply::from(child.wait_with_output().unwrap())
}

fn status(r: Reply, want: i32) -> Reply {
    assert_eq!(r.status, Some(want), "expected exit {want}: {r:?}");
    r
}

fn json_of(r: &Reply) -> Value {
    assert_eq!(r.status, Some(0), "expected exit 0: {r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// A failure: the status, stdout empty, and stderr holding every `words`.
fn fails(r: Reply, want: i32, words: &[&str]) -> Reply {
    let r = status(r, want);
    assert!(r.stdout.is_empty(), "{r:?}");
    for w in words {
        assert!(r.stderr.contains(w), "{w:?} not in stderr: {r:?}");
    }
    r
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_network_directory_given_as_data_dir_says_which_was_meant() {
    let env = Env::new();
    let net = env.data().join("mynet");
    for cmd in ["list", "usage", "metrics"] {
        fails(
            bare(&[cmd, "--data-dir", s(&net), "--conf-dir", s(&env.conf_dir())]),
            3,
            &[
                &format!("{} is the state directory of network mynet", net.display()),
                &format!("did you mean --data-dir {}?", env.data().display()),
            ],
        );
    }
}

#[test]
fn a_data_dir_that_does_not_exist_is_not_an_empty_one() {
    let env = Env::new();
    let typo = env.tmp.path().join("dta");
    let conf_dir = env.conf_dir();
    for args in [
        &["list"][..],
        &["usage"],
        &["show", "10.1.2.2"],
        &["release", "10.1.2.2"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--data-dir", s(&typo), "--conf-dir", s(&conf_dir)]);
        fails(
            bare(&all),
            3,
            &[
                &format!("data directory {} does not exist", typo.display()),
                &format!("did you mean --data-dir {}?", env.data().display()),
            ],
        );
    }
    assert_eq!(env.addresses().len(), 2, "nothing was released");
    assert!(!typo.exists(), "a read created the directory");
}

#[test]
fn a_config_given_is_followed_to_its_data_dir() {
    let env = Env::new();
    // --config alone: its dataDir, not the default's "no networks".
    let r = bare(&["usage", "--json", "--config", s(&env.conf_file())]);
    let v = json_of(&r);
    assert!(!r.stderr.contains("ignored"), "{r:?}");
    assert_eq!(v["data_dir"], s(&env.data()));
    assert_eq!(v["networks"][0]["network"], "mynet");
    assert_eq!(v["networks"][0]["allocated"], 2);
    // --conf-dir alone: the one data directory its networks use.
    let v = json_of(&bare(&["list", "--json", "--conf-dir", s(&env.conf_dir())]));
    assert_eq!(v["allocations"].as_array().unwrap().len(), 2, "{v}");
    // Explicit files that disagree must be told apart by --data-dir.
    let other = env.tmp.path().join("other.conf");
    let mut conf = env.conf();
    conf["name"] = json!("other");
    conf["ipam"]["dataDir"] = json!(s(&env.tmp.path().join("elsewhere")));
    std::fs::write(&other, conf.to_string()).unwrap();
    fails(
        bare(&[
            "list",
            "--config",
            s(&env.conf_file()),
            "--config",
            s(&other),
        ]),
        2,
        &["several data directories", "--data-dir"],
    );
}

#[test]
fn a_malformed_address_is_a_usage_error_not_a_container_id() {
    let env = Env::new();
    for cmd in ["show", "release"] {
        for bad in ["10.1.2.400", "10.1.2", "2001:db8::zz", "10.1.2.2/24"] {
            fails(env.cli(&[cmd, bad]), 2, &[&format!("{bad:?}"), "address"]);
        }
    }
    assert_eq!(env.addresses().len(), 2, "nothing was released");
    fails(
        env.cli(&["show", "default/web-a"]),
        2,
        &["--pod default/web-a"],
    );
    // --container still reads it as a container id.
    fails(
        env.cli(&["show", "10.1.2.400", "--container"]),
        3,
        &["no allocation of container 10.1.2.400"],
    );
}

#[test]
fn container_ids_as_container_tools_print_them() {
    let env = Env::new();
    // crictl's 13 characters, podman's 12 (unique here: ID_A and ID_B differ at the 13th).
    for prefix in [&ID_A[..13], &ID_A[..20], ID_A] {
        let v = json_of(&env.cli(&["show", prefix, "--json"]));
        assert_eq!(v["matches"][0]["container_id"], ID_A, "{prefix}");
        assert_eq!(v["matches"][0]["address"], "10.1.2.2", "{prefix}");
    }
    // Ambiguous: the candidates are listed, nothing is done.
    for cmd in ["show", "release"] {
        fails(
            env.cli(&[cmd, &ID_A[..12]]),
            2,
            &["matches 2 containers", ID_A, ID_B],
        );
    }
    assert_eq!(env.addresses().len(), 2);
    let r = status(env.cli(&["release", &ID_B[..13], "--ifname", "eth0"]), 0);
    assert!(r.stdout.contains("released 10.1.2.3"), "{r:?}");
    assert_eq!(env.addresses(), ["10.1.2.2"]);
    // A prefix of nothing is still "nothing matched".
    fails(
        env.cli(&["show", "ffff"]),
        3,
        &["no allocation of container ffff"],
    );
}

#[test]
fn list_cuts_container_ids_like_container_tools() {
    let env = Env::new();
    let r = status(env.cli(&["list"]), 0);
    assert!(r.stdout.contains(&format!(" {}  ", &ID_A[..13])), "{r:?}");
    assert!(!r.stdout.contains(ID_A), "{r:?}");
    assert!(r.stdout.lines().all(|l| l.len() < 110), "{r:?}");
    let r = status(env.cli(&["list", "--no-trunc"]), 0);
    assert!(r.stdout.contains(ID_A) && r.stdout.contains(ID_B), "{r:?}");
    // JSON always carries whole ids.
    let v = json_of(&env.cli(&["list", "--json"]));
    assert_eq!(v["allocations"][0]["container_id"], ID_A);
}

#[test]
fn show_and_release_by_pod() {
    let env = Env::new();
    let r = status(env.cli(&["show", "--pod", "default/web-b"]), 0);
    assert!(
        r.stdout.contains("10.1.2.3") && r.stdout.contains(ID_B) && !r.stdout.contains("10.1.2.2"),
        "{r:?}"
    );
    let v = json_of(&env.cli(&["show", "--pod", "default/web-a", "--json"]));
    assert_eq!(v["query"], "pod default/web-a");
    assert_eq!(v["matches"].as_array().unwrap().len(), 1);
    fails(
        env.cli(&["show", "--pod", "default/nope"]),
        3,
        &["no allocation of pod default/nope", "K8S_POD_NAME"],
    );
    fails(env.cli(&["show", "--pod", "web-a"]), 2, &["NAMESPACE/NAME"]);
    let r = status(env.cli(&["release", "--pod", "default/web-a"]), 0);
    assert!(r.stdout.contains("released 10.1.2.2"), "{r:?}");
    assert_eq!(env.addresses(), ["10.1.2.3"]);
}

#[test]
fn release_dry_run_changes_nothing() {
    let env = Env::new();
    let before = common::tree(&env.data());
    let r = status(env.cli(&["release", "10.1.2.2", "--dry-run"]), 0);
    assert!(
        r.stdout.contains("would release 10.1.2.2 in network mynet")
            && r.stdout.contains("nothing was changed"),
        "{r:?}"
    );
    let v = json_of(&env.cli(&["release", &ID_B[..13], "--dry-run", "--json"]));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["released"][0]["address"], "10.1.2.3");
    fails(
        env.cli(&["release", "10.1.2.99", "--dry-run"]),
        3,
        &["10.1.2.99"],
    );
    assert_eq!(
        common::tree(&env.data()),
        before,
        "a dry run changed the state"
    );
}

#[test]
fn cni_calls_name_unknown_keys_and_still_accept_them() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = common::conf(
        "1.0.0",
        "typo",
        "podlease",
        json!({
            "ranges": [[{ "subnet": "10.3.0.0/24", "rangeStrat": "10.3.0.100" }]],
            "excludes": ["10.3.0.2"]
        }),
        tmp.path(),
    );
    let r = Call::new("ADD", &conf).run(&podlease());
    // Accepted as host-local would, typos and all: the start and exclusion are not applied.
    assert_eq!(r.addresses(), ["10.3.0.2"], "{r:?}");
    for w in [
        "podlease: warning: network typo: ipam.ranges[0][0].rangeStrat: unknown key, ignored (did you mean \"rangeStart\"?)",
        "podlease: warning: network typo: ipam.excludes: unknown key, ignored (did you mean \"exclude\"?)",
    ] {
        assert!(r.stderr.contains(w), "{w:?} not in {r:?}");
    }
    let r = Call::new("DEL", &conf).run(&podlease());
    r.success_empty();
    assert!(r.stderr.contains("rangeStrat"), "{r:?}");
    // Known keys in any case, and the main plugin's own keys, say nothing.
    let mut clean = common::conf(
        "1.0.0",
        "clean",
        "podlease",
        json!({ "RANGES": [[{ "Subnet": "10.4.0.0/24" }]] }),
        tmp.path(),
    );
    clean["isGateway"] = json!(true);
    let r = Call::new("ADD", &clean).run(&podlease());
    r.success();
    assert!(r.stderr.is_empty(), "{r:?}");
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(serde_json::to_string_pretty(v).unwrap().as_bytes())
        .unwrap();
    p
}

#[test]
fn validate_checks_configs_before_rollout() {
    let tmp = tempfile::tempdir().unwrap();
    let node = tmp.path().join("net.d");
    std::fs::create_dir(&node).unwrap();
    // The node already has a network on 10.9.0.0/16.
    write(
        &node,
        "10-existing.conflist",
        &json!({ "cniVersion": "1.0.0", "name": "existing", "plugins": [
            { "type": "bridge", "ipam": { "type": "host-local", "subnet": "10.9.0.0/16" } }
        ]}),
    );
    let typos = write(
        tmp.path(),
        "typos.conflist",
        &json!({ "cniVersion": "1.0.0", "name": "new", "plugins": [{ "type": "bridge", "ipam": {
            "type": "podlease",
            "ranges": [[{ "subnet": "10.9.4.0/24", "rangeStrat": "10.9.4.10" }]],
            "excludes": ["10.9.4.5"],
            "exclude": ["192.168.7.0/24"]
        }}]}),
    );
    let validate = |args: &[&str]| {
        let mut all = vec!["validate", "--conf-dir", s(&node)];
        all.extend(args);
        bare(&all)
    };
    let r = status(validate(&[s(&typos)]), 0);
    for w in [
        "did you mean \"rangeStart\"",
        "did you mean \"exclude\"",
        "ipam.exclude[0]: 192.168.7.0/24 is outside every range",
        "overlaps network existing's range set",
        "10-existing.conflist",
    ] {
        assert!(r.stdout.contains(w), "{w:?} not in {r:?}");
    }
    assert_eq!(r.stdout.matches(": warning: ").count(), 4, "{r:?}");
    let r = status(validate(&["--strict", s(&typos)]), 1);
    assert!(r.stderr.contains("0 error(s), 4 warning(s)"), "{r:?}");
    // A network configured twice on the node: only the first file counts.
    let twice = write(
        &node,
        "20-existing-again.conflist",
        &json!({ "cniVersion": "1.0.0", "name": "existing", "plugins": [
            { "type": "bridge", "ipam": { "type": "host-local", "subnet": "10.9.0.0/16" } }
        ]}),
    );
    let r = status(validate(&[s(&twice)]), 0);
    assert!(
        r.stdout.contains("network existing is also configured in")
            && r.stdout.contains("10-existing.conflist"),
        "{r:?}"
    );
    // ... and the overlap with it is reported once.
    let r = status(validate(&[s(&typos)]), 0);
    assert_eq!(
        r.stdout.matches("overlaps network existing").count(),
        1,
        "{r:?}"
    );

    // Errors: what ADD would refuse, with the field; a good file beside them is ok.
    let bad = write(
        tmp.path(),
        "bad.conf",
        &json!({ "cniVersion": "1.0.0", "name": "bad", "type": "bridge",
                 "ipam": { "type": "podlease", "ranges": [[{ "subnet": "10.5.0.1/24" }]] } }),
    );
    let good = write(
        tmp.path(),
        "good.conf",
        &json!({ "cniVersion": "1.0.0", "name": "good", "type": "bridge",
                 "ipam": { "type": "podlease", "ranges": [[{ "subnet": "10.6.0.0/24" }]] } }),
    );
    let broken = tmp.path().join("broken.conf");
    std::fs::write(&broken, "{ \"cniVersion\": ").unwrap();
    let r = status(validate(&[s(&bad), s(&good), s(&broken)]), 1);
    assert!(
        r.stdout
            .contains("bad.conf: network \"bad\" (plugin 0): error: ipam.ranges[0][0]"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("good.conf: network \"good\" (plugin 0): ok"),
        "{r:?}"
    );
    assert!(r.stdout.contains("broken.conf: error: not JSON"), "{r:?}");
    assert!(r.stderr.contains("2 error(s)"), "{r:?}");
    let v: Value = serde_json::from_str(&validate(&["--json", s(&good)]).stdout).unwrap();
    assert_eq!(v["errors"], 0);
    assert_eq!(
        v["files"][0]["networks"][0]["range_sets"][0],
        "10.6.0.1-10.6.0.254"
    );
    status(bare(&["validate"]), 2);
}

#[test]
fn mistyped_commands_get_a_suggestion() {
    let r = fails(bare(&["lsit"]), 2, &["lsit"]);
    assert!(
        r.stderr.contains("similar") && r.stderr.contains("'list'"),
        "{r:?}"
    );
    let r = fails(bare(&["list", "--no-trnc"]), 2, &["--no-trunc"]);
    assert!(r.stderr.contains("similar"), "{r:?}");
}

#[test]
fn an_unknown_network_names_the_ones_there() {
    let env = Env::new();
    for cmd in ["list", "usage"] {
        fails(
            env.cli(&[cmd, "mynte"]),
            3,
            &["network mynte has no state in", "(networks there: mynet)"],
        );
    }
}

#[test]
fn new_options_are_documented_in_help() {
    let r = status(bare(&["validate", "--help"]), 0);
    for w in ["podlease validate", "Example", "Exit status", "--strict"] {
        assert!(r.stdout.contains(w), "{w:?}: {r:?}");
    }
    let r = status(bare(&["show", "--help"]), 0);
    assert!(r.stdout.contains("--pod <NAMESPACE/NAME>"), "{r:?}");
    let r = status(bare(&["release", "--help"]), 0);
    assert!(r.stdout.contains("--dry-run"), "{r:?}");
    let r = status(bare(&["list", "--help"]), 0);
    assert!(r.stdout.contains("--no-trunc"), "{r:?}");
    let r = status(bare(&["--help"]), 0);
    assert!(r.stdout.contains("validate"), "{r:?}");
}
