//! Black-box tests of the CNI contract: podlease is exec'd the way a runtime
//! does it (environment + stdin) and only stdout, stderr, the exit status and
//! the state directory are looked at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, Reply, conf, host_local_files, podlease};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

const NET: &str = "mynet";
const ALL_VERSIONS: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
const SUPPORTED_LIST: &str = r#"["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]"#;

// ---------------------------------------------------------------- helpers

fn bin() -> PathBuf {
    podlease()
}

/// A podlease network config named `mynet` with state in `dir`.
fn cfg(version: &str, dir: &Path, ipam: Value) -> Value {
    conf(version, NET, "podlease", ipam, dir)
}

/// One IPv4 range set, 10.1.2.0/24.
fn v4(version: &str, dir: &Path) -> Value {
    cfg(
        version,
        dir,
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }]] }),
    )
}

/// `conf` with extra top-level keys.
fn with_top(mut conf: Value, extra: Value) -> Value {
    if let (Some(m), Value::Object(e)) = (conf.as_object_mut(), extra) {
        m.extend(e);
    }
    conf
}

fn run(cmd: &str, conf: &Value, id: &str) -> Reply {
    Call::new(cmd, conf).id(id).run(&bin())
}

fn add(conf: &Value, id: &str) -> Reply {
    run("ADD", conf, id)
}

/// The files host-local would see in the network directory.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    host_local_files(&dir.join(NET))
}

/// Only the reservation files: address → content.
fn ip_files(dir: &Path) -> BTreeMap<String, String> {
    files(dir)
        .into_iter()
        .filter(|(k, _)| k.parse::<std::net::IpAddr>().is_ok())
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect()
}

use common::tree;

/// Runs `call` with some variables removed from its environment.
fn run_without(call: &Call, remove: &[&str]) -> Reply {
    let mut cmd = call.command(&bin());
    for k in remove {
        cmd.env_remove(k);
    }
    spawn(cmd, &call.stdin)
}

fn spawn(mut cmd: Command, stdin: &[u8]) -> Reply {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn podlease");
    let _ = child.stdin.take().unwrap().write_all(stdin);
    Reply::from(child.wait_with_output().unwrap())
}

/// The full error object, after checking exit status and code.
fn error_obj(r: &Reply, code: u64) -> Value {
    r.error(code);
    r.json()
}

/// A JSON value that remembers the order of object keys as printed.
#[derive(Debug, Clone)]
enum Node {
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
    Leaf,
}

impl Node {
    fn parse(s: &str) -> Self {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            Self::Obj(kv) => kv.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn get(&self, key: &str) -> &Self {
        match self {
            Self::Obj(kv) => kv
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key}")),
            _ => panic!("not an object"),
        }
    }
    fn items(&self) -> &[Self] {
        match self {
            Self::Arr(v) => v,
            _ => panic!("not an array"),
        }
    }
    /// Asserts that every object at every level has its keys sorted.
    fn assert_sorted(&self, path: &str) {
        match self {
            Self::Obj(kv) => {
                let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                assert_eq!(keys, sorted, "keys of {path} not sorted");
                for (k, v) in kv {
                    v.assert_sorted(&format!("{path}.{k}"));
                }
            }
            Self::Arr(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| v.assert_sorted(&format!("{path}[{i}]"))),
            Self::Leaf => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(n) = a.next_element()? {
                    v.push(n);
                }
                Ok(Node::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some((k, n)) = a.next_entry::<String, Node>()? {
                    v.push((k, n));
                }
                Ok(Node::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn write_resolv(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("resolv.conf");
    std::fs::write(&p, text).unwrap();
    p
}

// ---------------------------------------------------------------- VERSION, no command, unknown command

#[test]
fn version_prints_supported_versions() {
    // VERSION needs no other variable and does not read stdin.
    let mut cmd = Command::new(bin());
    cmd.env_clear().env("CNI_COMMAND", "VERSION");
    let r = spawn(cmd, b"this is not json");
    assert!(r.ok(), "{r:?}");
    let v = r.json();
    assert_eq!(
        v,
        json!({ "cniVersion": "1.1.0", "supportedVersions": ALL_VERSIONS })
    );
    // Also with the usual variables and a config on stdin.
    let dir = tempfile::tempdir().unwrap();
    let r = Call::new("VERSION", &v4("1.1.0", dir.path())).run(&bin());
    assert_eq!(r.json(), v);
    assert!(r.stderr.is_empty(), "{r:?}");
    assert!(tree(dir.path()).is_empty(), "VERSION touched the dataDir");
}

#[test]
fn no_command_prints_about_on_stderr() {
    let mut cmd = Command::new(bin());
    cmd.env_clear();
    let r = spawn(cmd, b"");
    assert_eq!(r.status, Some(0), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("podlease"), "{r:?}");
    assert!(
        r.stderr.contains(
            "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("podlease --help"), "{r:?}");
}

#[test]
fn unknown_command_is_code_4() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["FOO", "add", "Add", "DELETE", ""] {
        let r = Call::new(cmd, &v4("1.1.0", dir.path())).run(&bin());
        let msg = r.error(4);
        assert!(msg.contains("CNI_COMMAND"), "{cmd}: {msg}");
        if !cmd.is_empty() {
            assert!(msg.contains(cmd), "{cmd}: {msg}");
        }
    }
    assert!(tree(dir.path()).is_empty());
}

// ---------------------------------------------------------------- environment

#[test]
fn required_env_variables_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let c11 = v4("1.1.0", dir.path());
    let all = ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"];
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "ADD",
            &all,
            "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]",
        ),
        ("ADD", &["CNI_CONTAINERID"], "[CNI_CONTAINERID]"),
        ("ADD", &["CNI_NETNS"], "[CNI_NETNS]"),
        ("ADD", &["CNI_IFNAME", "CNI_PATH"], "[CNI_IFNAME,CNI_PATH]"),
        (
            "ADD",
            &["CNI_PATH", "CNI_CONTAINERID"],
            "[CNI_CONTAINERID,CNI_PATH]",
        ),
        (
            "CHECK",
            &all,
            "[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]",
        ),
        ("CHECK", &["CNI_NETNS"], "[CNI_NETNS]"),
        // DEL does not need a netns.
        ("DEL", &all, "[CNI_CONTAINERID,CNI_IFNAME,CNI_PATH]"),
        ("DEL", &["CNI_IFNAME"], "[CNI_IFNAME]"),
        ("GC", &all, "[CNI_PATH]"),
        ("STATUS", &all, "[CNI_PATH]"),
    ];
    for (cmd, remove, list) in cases {
        let r = run_without(&Call::new(cmd, &c11), remove);
        let msg = r.error(4);
        assert_eq!(
            msg,
            format!("required env variables {list} missing"),
            "{cmd} without {remove:?}"
        );
    }
    // An empty value is a missing value.
    let r = Call::new("ADD", &c11).id("").run(&bin());
    assert_eq!(
        r.error(4),
        "required env variables [CNI_CONTAINERID] missing"
    );
    let r = Call::new("ADD", &c11).ifname("").run(&bin());
    assert_eq!(r.error(4), "required env variables [CNI_IFNAME] missing");
    let r = Call::new("ADD", &c11).env("CNI_PATH", "").run(&bin());
    assert_eq!(r.error(4), "required env variables [CNI_PATH] missing");
    assert!(
        tree(dir.path()).is_empty(),
        "a refused command touched the dataDir: {:?}",
        tree(dir.path())
    );

    // What is not required is not needed: GC/STATUS with only CNI_PATH.
    let gc = with_top(c11.clone(), json!({ "cni.dev/valid-attachments": [] }));
    run_without(
        &Call::new("GC", &gc),
        &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
    )
    .success_empty();
    run_without(
        &Call::new("STATUS", &c11),
        &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
    )
    .success_empty();
    // DEL without CNI_NETNS, and with it empty.
    add(&c11, "a").success();
    run_without(&Call::new("DEL", &c11).id("a"), &["CNI_NETNS"]).success_empty();
    assert!(ip_files(dir.path()).is_empty());
    add(&c11, "b").success();
    let mut call = Call::new("DEL", &c11).id("b");
    call.netns = String::new();
    call.run(&bin()).success_empty();
    assert!(ip_files(dir.path()).is_empty());
    // CNI_ARGS is never required.
    run_without(&Call::new("ADD", &c11).id("c"), &["CNI_ARGS"]).success();
}

#[test]
fn bad_container_id_is_code_4() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    for id in [
        " dummy", "dummy ", "a b", "dum\nmy", "\tx", "../x", "..", ".", "-a", "_a", "a/b", "a:b",
        "é", "a*b",
    ] {
        for cmd in ["ADD", "DEL", "CHECK"] {
            let r = Call::new(cmd, &c).id(id).run(&bin());
            let msg = r.error(4);
            assert!(msg.contains("CNI_CONTAINERID"), "{cmd} {id:?}: {msg}");
            if !id.chars().any(char::is_control) {
                assert!(
                    msg.contains(id.trim()),
                    "{cmd} {id:?}: {msg} should name the value"
                );
            }
        }
    }
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
}

#[test]
fn bad_ifname_is_code_4() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    for ifname in [
        "1234567890123456",
        "averyveryverylongname",
        ".",
        "..",
        "a/b",
        "/",
        "a:b",
        ":",
        "a b",
        " eth0",
        "eth0\t",
        "eth\n0",
    ] {
        for cmd in ["ADD", "DEL", "CHECK"] {
            let r = Call::new(cmd, &c).ifname(ifname).run(&bin());
            let msg = r.error(4);
            assert!(msg.contains("CNI_IFNAME"), "{cmd} {ifname:?}: {msg}");
            if !ifname.chars().any(char::is_control) {
                assert!(
                    msg.contains(ifname),
                    "{cmd} {ifname:?}: {msg} should name the value"
                );
            }
        }
    }
    assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
    // 15 bytes is the limit, and odd but legal characters are fine.
    for ok in ["123456789012345", "net1.100", "e-t_h", "%x"] {
        Call::new("ADD", &c)
            .id(&format!("c{}", ok.len()))
            .ifname(ok)
            .run(&bin())
            .success();
    }
}

// ---------------------------------------------------------------- stdin

#[test]
fn stdin_must_be_a_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_json::to_vec(&with_top(
        v4("1.1.0", dir.path()),
        json!({ "cni.dev/valid-attachments": [] }),
    ))
    .unwrap();
    let truncated = good.get(..good.len() / 2).unwrap().to_vec();
    let inputs: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"42".to_vec(),
        b"\"a string\"".to_vec(),
        b"null".to_vec(),
        b"true".to_vec(),
        b"[{\"cniVersion\":\"1.1.0\",\"name\":\"mynet\"}]".to_vec(),
        truncated,
        vec![0xff, 0xfe, 0x00],
    ];
    for input in &inputs {
        for cmd in ["ADD", "DEL", "CHECK", "GC", "STATUS"] {
            let r = Call::new(cmd, &json!({})).stdin_bytes(input).run(&bin());
            r.error(6);
        }
    }
    assert!(tree(dir.path()).is_empty());
    // A cniVersion that is not a string cannot be decoded either.
    let bad = with_top(v4("1.1.0", dir.path()), json!({ "cniVersion": 1 }));
    add(&bad, "a").error(6);
}

#[test]
fn unsupported_cni_version_is_code_1() {
    let dir = tempfile::tempdir().unwrap();
    for version in [
        "1.2.0", "0.5.0", "2.0.0", "1.0", "v1.0.0", "1.0.0 ", "latest",
    ] {
        for cmd in ["ADD", "DEL", "CHECK", "GC", "STATUS"] {
            let c = with_top(
                v4(version, dir.path()),
                json!({ "cni.dev/valid-attachments": [] }),
            );
            let r = run(cmd, &c, "a");
            let e = error_obj(&r, 1);
            let msg = e["msg"].as_str().unwrap();
            assert!(msg.contains("incompatible CNI versions"), "{msg}");
            let details = e["details"].as_str().expect("details");
            assert!(details.contains(&format!("{version:?}")), "{details}");
            assert!(details.contains(SUPPORTED_LIST), "{details}");
        }
    }
    assert!(tree(dir.path()).is_empty());
    // A missing or empty cniVersion means 0.1.0.
    for remove in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = v4("", dir.path());
        if remove {
            c.as_object_mut().unwrap().remove("cniVersion");
        }
        let out = add(&c, "legacy").success();
        assert_eq!(out["cniVersion"], "0.1.0", "{out}");
        assert_eq!(out["ip4"]["ip"], "10.1.2.2/24");
        Call::new("DEL", &c)
            .id("legacy")
            .run(&bin())
            .success_empty();
    }
}

// ---------------------------------------------------------------- network name

#[test]
fn network_name_missing_or_invalid_is_code_7() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("a").join("b").join("data");
    std::fs::create_dir_all(&data).unwrap();
    let before = tree(root.path());
    let names: Vec<Value> = vec![
        json!("../../etc"),
        json!(".."),
        json!("."),
        json!("../x"),
        json!("a/b"),
        json!("/abs"),
        json!("my net"),
        json!("net\n"),
        json!("-x"),
        json!("_x"),
        json!("a:b"),
        json!("é"),
    ];
    for name in &names {
        for cmd in ["ADD", "DEL", "CHECK", "GC", "STATUS"] {
            let mut c = with_top(
                v4("1.1.0", &data),
                json!({ "cni.dev/valid-attachments": [] }),
            );
            c["name"] = name.clone();
            let msg = run(cmd, &c, "a").error(7);
            assert!(msg.contains("name"), "{cmd} {name}: {msg}");
            let shown = name.as_str().unwrap();
            if !shown.chars().any(char::is_control) {
                assert!(
                    msg.contains(shown),
                    "{cmd} {name}: {msg} should name the value"
                );
            }
        }
    }
    // Valid characters, but too long for a directory name.
    let long = "n".repeat(256);
    for cmd in ["ADD", "DEL", "CHECK", "GC", "STATUS"] {
        let mut c = with_top(
            v4("1.1.0", &data),
            json!({ "cni.dev/valid-attachments": [] }),
        );
        c["name"] = json!(long);
        let msg = run(cmd, &c, "a").error(7);
        assert!(msg.contains("name: 256 bytes long"), "{cmd}: {msg}");
    }
    // Missing, empty, null, or not a string.
    for name in [
        None,
        Some(json!("")),
        Some(Value::Null),
        Some(json!(5)),
        Some(json!(["x"])),
    ] {
        for cmd in ["ADD", "DEL", "CHECK", "GC", "STATUS"] {
            let mut c = with_top(
                v4("1.1.0", &data),
                json!({ "cni.dev/valid-attachments": [] }),
            );
            match &name {
                None => {
                    c.as_object_mut().unwrap().remove("name");
                }
                Some(v) => c["name"] = v.clone(),
            }
            let msg = run(cmd, &c, "a").error(7);
            assert!(msg.contains("name"), "{cmd} {name:?}: {msg}");
        }
    }
    assert_eq!(
        tree(root.path()),
        before,
        "a rejected network name created or changed files"
    );
}

// ---------------------------------------------------------------- commands per version

#[test]
fn check_gc_status_refused_before_their_version() {
    let dir = tempfile::tempdir().unwrap();
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1"] {
        let msg = run("CHECK", &v4(version, dir.path()), "a").error(1);
        assert!(msg.contains("CHECK") && msg.contains(version), "{msg}");
    }
    for version in ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"] {
        let c = with_top(
            v4(version, dir.path()),
            json!({ "cni.dev/valid-attachments": [] }),
        );
        let msg = run("GC", &c, "a").error(1);
        assert!(msg.contains("GC") && msg.contains(version), "{msg}");
        let msg = run("STATUS", &c, "a").error(1);
        assert!(msg.contains("STATUS") && msg.contains(version), "{msg}");
    }
    assert!(tree(dir.path()).is_empty());
    // An allocation made with an old version survives a refused GC.
    add(&v4("1.0.0", dir.path()), "a").success();
    let snapshot = tree(dir.path());
    let c = with_top(
        v4("1.0.0", dir.path()),
        json!({ "cni.dev/valid-attachments": [] }),
    );
    run("GC", &c, "a").error(1);
    assert_eq!(tree(dir.path()), snapshot);
}

// ---------------------------------------------------------------- result encoding

/// Dual-stack with routes of both families.
fn dual(version: &str, dir: &Path, resolv: Option<&Path>) -> Value {
    let mut ipam = json!({
        "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/64" }]],
        "routes": [
            { "dst": "0.0.0.0/0" },
            { "dst": "::/0" },
            { "dst": "192.168.0.0/16", "gw": "1.1.1.1" },
            { "dst": "2001:db8:2::/64", "gw": "2001:db8:3::1" }
        ]
    });
    if let Some(p) = resolv {
        ipam["resolvConf"] = json!(p);
    }
    cfg(version, dir, ipam)
}

fn assert_pretty(r: &Reply) {
    assert!(
        r.stdout.starts_with("{\n    \""),
        "not 4-space indented: {}",
        r.stdout
    );
}

#[test]
fn result_0_1_and_0_2() {
    for version in ["0.1.0", "0.2.0"] {
        let dir = tempfile::tempdir().unwrap();
        let r = add(&dual(version, dir.path(), None), "a");
        let v = r.success();
        assert_pretty(&r);
        let n = Node::parse(&r.stdout);
        assert_eq!(
            n.keys(),
            ["cniVersion", "ip4", "ip6", "dns"],
            "{}",
            r.stdout
        );
        assert_eq!(n.get("ip4").keys(), ["ip", "gateway", "routes"]);
        assert_eq!(
            v,
            json!({
                "cniVersion": version,
                "ip4": {
                    "ip": "10.1.2.2/24",
                    "gateway": "10.1.2.1",
                    "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "192.168.0.0/16", "gw": "1.1.1.1" }]
                },
                "ip6": {
                    "ip": "2001:db8:1::2/64",
                    "gateway": "2001:db8:1::1",
                    "routes": [{ "dst": "::/0" }, { "dst": "2001:db8:2::/64", "gw": "2001:db8:3::1" }]
                },
                "dns": {}
            }),
            "{version}"
        );

        // IPv4 only: no ip6, IPv6 routes dropped, 1.1 route attributes dropped.
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(
            version,
            dir.path(),
            json!({
                "ranges": [[{ "subnet": "10.1.2.0/24" }]],
                "routes": [{ "dst": "::/0" }, { "dst": "0.0.0.0/0", "gw": "10.1.2.1", "mtu": 1400, "table": 5 }]
            }),
        );
        let v = add(&c, "a").success();
        assert_eq!(
            v,
            json!({
                "cniVersion": version,
                "ip4": { "ip": "10.1.2.2/24", "gateway": "10.1.2.1", "routes": [{ "dst": "0.0.0.0/0", "gw": "10.1.2.1" }] },
                "dns": {}
            })
        );

        // dns filled from resolvConf, in struct order.
        let dir = tempfile::tempdir().unwrap();
        let resolv = write_resolv(
            dir.path(),
            "nameserver 192.0.2.3\ndomain example.com\nsearch a.example\noptions ndots:5\n",
        );
        let r = add(
            &cfg(
                version,
                dir.path(),
                json!({ "subnet": "10.1.2.0/24", "resolvConf": resolv }),
            ),
            "a",
        );
        let v = r.success();
        assert_eq!(
            Node::parse(&r.stdout).get("dns").keys(),
            ["nameservers", "domain", "search", "options"]
        );
        assert_eq!(
            v["dns"],
            json!({ "nameservers": ["192.0.2.3"], "domain": "example.com", "search": ["a.example"], "options": ["ndots:5"] })
        );
        assert!(
            v.get("ip6").is_none() && v["ip4"].get("routes").is_none(),
            "{v}"
        );
    }
}

#[test]
fn result_0_3_and_0_4() {
    for version in ["0.3.0", "0.3.1", "0.4.0"] {
        let dir = tempfile::tempdir().unwrap();
        let r = add(&dual(version, dir.path(), None), "a");
        let v = r.success();
        assert_pretty(&r);
        assert!(
            r.stdout.contains("\"version\":"),
            "H1: 0.3.x/0.4.0 output has version fields"
        );
        let n = Node::parse(&r.stdout);
        assert_eq!(
            n.keys(),
            ["cniVersion", "ips", "routes", "dns"],
            "{}",
            r.stdout
        );
        for ip in n.get("ips").items() {
            assert_eq!(ip.keys(), ["version", "address", "gateway"]);
        }
        assert_eq!(n.get("routes").items()[2].keys(), ["dst", "gw"]);
        assert_eq!(
            v,
            json!({
                "cniVersion": version,
                "ips": [
                    { "version": "4", "address": "10.1.2.2/24", "gateway": "10.1.2.1" },
                    { "version": "6", "address": "2001:db8:1::2/64", "gateway": "2001:db8:1::1" }
                ],
                "routes": [
                    { "dst": "0.0.0.0/0" },
                    { "dst": "::/0" },
                    { "dst": "192.168.0.0/16", "gw": "1.1.1.1" },
                    { "dst": "2001:db8:2::/64", "gw": "2001:db8:3::1" }
                ],
                "dns": {}
            })
        );
        // No routes: no routes key; dns is still there.
        let dir = tempfile::tempdir().unwrap();
        let r = add(&v4(version, dir.path()), "a");
        assert_eq!(
            Node::parse(&r.stdout).keys(),
            ["cniVersion", "ips", "dns"],
            "{}",
            r.stdout
        );
        assert_eq!(r.json()["dns"], json!({}));
        // resolvConf: dns in struct order.
        let dir = tempfile::tempdir().unwrap();
        let resolv = write_resolv(
            dir.path(),
            "options rotate\nsearch s.example\ndomain d.example\nnameserver 192.0.2.9\n",
        );
        let r = add(
            &cfg(
                version,
                dir.path(),
                json!({ "subnet": "10.1.2.0/24", "resolvConf": resolv }),
            ),
            "a",
        );
        assert_eq!(
            Node::parse(&r.stdout).get("dns").keys(),
            ["nameservers", "domain", "search", "options"]
        );
    }
}

#[test]
fn result_1_x() {
    for version in ["1.0.0", "1.1.0"] {
        let dir = tempfile::tempdir().unwrap();
        let r = add(&dual(version, dir.path(), None), "a");
        let v = r.success();
        assert_pretty(&r);
        assert!(!r.stdout.contains("\"version\""), "{}", r.stdout);
        let n = Node::parse(&r.stdout);
        n.assert_sorted("result");
        assert_eq!(
            n.keys(),
            ["cniVersion", "ips", "routes"],
            "dns omitted when empty: {}",
            r.stdout
        );
        assert_eq!(
            v,
            json!({
                "cniVersion": version,
                "ips": [
                    { "address": "10.1.2.2/24", "gateway": "10.1.2.1" },
                    { "address": "2001:db8:1::2/64", "gateway": "2001:db8:1::1" }
                ],
                "routes": [
                    { "dst": "0.0.0.0/0" },
                    { "dst": "::/0" },
                    { "dst": "192.168.0.0/16", "gw": "1.1.1.1" },
                    { "dst": "2001:db8:2::/64", "gw": "2001:db8:3::1" }
                ]
            })
        );
        // No routes, no dns: just cniVersion and ips.
        let dir = tempfile::tempdir().unwrap();
        let r = add(&v4(version, dir.path()), "a");
        assert_eq!(
            Node::parse(&r.stdout).keys(),
            ["cniVersion", "ips"],
            "{}",
            r.stdout
        );
        // With dns: sorted keys everywhere.
        let dir = tempfile::tempdir().unwrap();
        let resolv = write_resolv(
            dir.path(),
            "options rotate\nsearch s.example\ndomain d.example\nnameserver 192.0.2.9\n",
        );
        let r = add(&dual(version, dir.path(), Some(&resolv)), "a");
        let n = Node::parse(&r.stdout);
        n.assert_sorted("result");
        assert_eq!(n.keys(), ["cniVersion", "dns", "ips", "routes"]);
        assert_eq!(
            n.get("dns").keys(),
            ["domain", "nameservers", "options", "search"]
        );
    }
}

#[test]
fn every_version_round_trip() {
    // For every version: ADD succeeds with the config's version, and DEL
    // (and CHECK/GC/STATUS where they exist) print nothing.
    for version in ALL_VERSIONS {
        let dir = tempfile::tempdir().unwrap();
        let c = with_top(
            v4(version, dir.path()),
            json!({ "cni.dev/valid-attachments": [{ "containerID": "a", "ifname": "eth0" }] }),
        );
        let v = add(&c, "a").success();
        assert_eq!(v["cniVersion"], version);
        let addr = match version {
            "0.1.0" | "0.2.0" => v["ip4"]["ip"].clone(),
            _ => v["ips"][0]["address"].clone(),
        };
        assert_eq!(addr, "10.1.2.2/24", "{version}: {v}");
        if version >= "0.4.0" {
            run("CHECK", &c, "a").success_empty();
        }
        if version >= "1.1.0" {
            run("GC", &c, "a").success_empty();
            run("STATUS", &c, "a").success_empty();
            assert_eq!(
                ip_files(dir.path()).len(),
                1,
                "GC kept the listed attachment"
            );
        }
        run("DEL", &c, "a").success_empty();
        assert!(ip_files(dir.path()).is_empty());
    }
}

// ---------------------------------------------------------------- DEL

#[test]
fn del_with_nothing_allocated_and_twice() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    // Nothing ever allocated (H5).
    run("DEL", &c, "dummy").success_empty();
    // After ADD: DEL twice.
    add(&c, "a").success();
    add(&c, "b").success();
    run("DEL", &c, "a").success_empty();
    run("DEL", &c, "a").success_empty();
    assert_eq!(
        ip_files(dir.path()),
        BTreeMap::from([("10.1.2.3".into(), "b\r\neth0".into())])
    );
    // Another interface of the same container is untouched.
    Call::new("ADD", &c)
        .id("b")
        .ifname("eth1")
        .run(&bin())
        .success();
    Call::new("DEL", &c)
        .id("b")
        .ifname("eth1")
        .run(&bin())
        .success_empty();
    assert_eq!(
        ip_files(dir.path()),
        BTreeMap::from([("10.1.2.3".into(), "b\r\neth0".into())])
    );
    // Legacy-style config (ipam.subnet).
    let legacy = cfg("0.3.1", dir.path(), json!({ "subnet": "10.1.2.0/24" }));
    Call::new("DEL", &legacy)
        .id("nobody")
        .run(&bin())
        .success_empty();
}

#[test]
fn del_with_missing_data_dir_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("does").join("not").join("exist");
    let c = v4("1.1.0", &data);
    run("DEL", &c, "dummy").success_empty();
    let gc = with_top(c.clone(), json!({ "cni.dev/valid-attachments": [] }));
    run("GC", &gc, "dummy").success_empty();
    assert!(tree(root.path()).is_empty(), "{:?}", tree(root.path()));
}

#[test]
fn del_ignores_bad_ranges_and_bad_args() {
    let broken_ipams = [
        json!({ "ranges": "x" }),
        json!({ "subnet": "foo" }),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/33" }]] }),
        json!({ "ranges": [] }),
        json!({ "ranges": [[{ "subnet": "10.9.0.0/16" }]], "routes": [{ "dst": "bad" }] }),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24", "gateway": "2001:db8::1" }]] }),
        json!({ "subnet": "10.1.2.0/24", "resolvConf": "/does/not/exist" }),
    ];
    for ipam in broken_ipams {
        let dir = tempfile::tempdir().unwrap();
        add(&v4("1.1.0", dir.path()), "a").success();
        let bad = cfg("1.1.0", dir.path(), ipam.clone());
        Call::new("DEL", &bad).id("a").run(&bin()).success_empty();
        assert!(
            ip_files(dir.path()).is_empty(),
            "DEL with {ipam} left {:?}",
            ip_files(dir.path())
        );
    }
    // Bad CNI_ARGS and requested addresses that do not parse.
    for (args, top) in [
        ("foo=bar", json!({})),
        ("IP=foo", json!({})),
        ("IP=1.2.3.4;", json!({})),
        ("", json!({ "args": { "cni": { "ips": ["nonsense"] } } })),
        ("", json!({ "runtimeConfig": { "ips": "x" } })),
    ] {
        let dir = tempfile::tempdir().unwrap();
        add(&v4("1.1.0", dir.path()), "a").success();
        let c = with_top(v4("1.1.0", dir.path()), top);
        Call::new("DEL", &c)
            .id("a")
            .args(args)
            .run(&bin())
            .success_empty();
        assert!(
            ip_files(dir.path()).is_empty(),
            "DEL with CNI_ARGS {args:?}"
        );
    }
    // A 0.2.0 config with two IPv4 sets (host-local refuses DEL of it).
    let dir = tempfile::tempdir().unwrap();
    add(&v4("0.2.0", dir.path()), "a").success();
    let two = cfg(
        "0.2.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "10.1.3.0/24" }]] }),
    );
    Call::new("DEL", &two).id("a").run(&bin()).success_empty();
    assert!(ip_files(dir.path()).is_empty());
}

// ---------------------------------------------------------------- GC

fn gc_conf(dir: &Path, keep: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = keep
        .iter()
        .map(|(id, ifname)| json!({ "containerID": id, "ifname": ifname }))
        .collect();
    with_top(
        v4("1.1.0", dir),
        json!({ "cni.dev/valid-attachments": list }),
    )
}

fn populate(dir: &Path) {
    let c = v4("1.1.0", dir);
    for (id, ifname) in [("a", "eth0"), ("b", "eth0"), ("b", "eth1"), ("c", "eth0")] {
        Call::new("ADD", &c)
            .id(id)
            .ifname(ifname)
            .run(&bin())
            .success();
    }
    // Legacy (id-only) files as host-local before 2018 wrote them.
    std::fs::write(dir.join(NET).join("10.1.2.100"), "d").unwrap();
    std::fs::write(dir.join(NET).join("10.1.2.101"), "e").unwrap();
}

#[test]
fn gc_releases_everything_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let cursor = files(dir.path()).get("last_reserved_ip.0").cloned();
    run(
        "GC",
        &gc_conf(
            dir.path(),
            &[("a", "eth0"), ("b", "eth1"), ("d", "eth9"), ("zzz", "eth0")],
        ),
        "x",
    )
    .success_empty();
    assert_eq!(
        ip_files(dir.path()),
        BTreeMap::from([
            ("10.1.2.2".into(), "a\r\neth0".into()),
            ("10.1.2.4".into(), "b\r\neth1".into()),
            ("10.1.2.100".into(), "d".into()),
        ])
    );
    // lock and cursor are not allocations.
    let f = files(dir.path());
    assert!(f.contains_key("lock"));
    assert_eq!(f.get("last_reserved_ip.0").cloned(), cursor);
    // What GC kept is still checkable, what it released is unknown.
    let c = v4("1.1.0", dir.path());
    run("CHECK", &c, "a").success_empty();
    Call::new("CHECK", &c)
        .id("b")
        .ifname("eth1")
        .run(&bin())
        .success_empty();
    run("CHECK", &c, "c").error(3);
    Call::new("CHECK", &c)
        .id("b")
        .ifname("eth0")
        .run(&bin())
        .error(3);
    // Released addresses are free again: a new ADD continues round-robin.
    assert_eq!(add(&c, "new").addresses(), ["10.1.2.6"]);
}

#[test]
fn gc_with_empty_list_releases_all() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    run("GC", &gc_conf(dir.path(), &[]), "x").success_empty();
    assert!(
        ip_files(dir.path()).is_empty(),
        "{:?}",
        ip_files(dir.path())
    );
    assert!(files(dir.path()).contains_key("last_reserved_ip.0"));
    // Idempotent.
    run("GC", &gc_conf(dir.path(), &[]), "x").success_empty();
}

/// Issue 11, item 9: libcni sends `"cni.dev/valid-attachments": null` for
/// a node without pods (Go's nil slice): that is an empty list, so the
/// leaks there are collected. A missing key is still refused (below).
#[test]
fn gc_with_null_list_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    assert!(!ip_files(dir.path()).is_empty());
    let c = with_top(
        v4("1.1.0", dir.path()),
        json!({ "cni.dev/valid-attachments": null }),
    );
    run("GC", &c, "x").success_empty();
    assert!(
        ip_files(dir.path()).is_empty(),
        "{:?}",
        ip_files(dir.path())
    );
}

#[test]
fn gc_without_the_key_is_refused_and_releases_nothing() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let snapshot = ip_files(dir.path());
    let msg = run("GC", &v4("1.1.0", dir.path()), "x").error(7);
    assert!(msg.contains("cni.dev/valid-attachments"), "{msg}");
    // Malformed lists are refused too.
    for bad in [
        json!("x"),
        json!({}),
        json!([{ "containerID": "a" }]),
        json!([{ "ifname": "eth0" }]),
        json!([{ "containerID": 5, "ifname": "eth0" }]),
    ] {
        let c = with_top(
            v4("1.1.0", dir.path()),
            json!({ "cni.dev/valid-attachments": bad }),
        );
        let msg = run("GC", &c, "x").error(7);
        assert!(msg.contains("cni.dev/valid-attachments"), "{msg}");
    }
    assert_eq!(ip_files(dir.path()), snapshot);
}

#[test]
fn gc_only_touches_its_network() {
    let dir = tempfile::tempdir().unwrap();
    let other = conf(
        "1.1.0",
        "othernet",
        "podlease",
        json!({ "subnet": "10.1.2.0/24" }),
        dir.path(),
    );
    add(&other, "a").success();
    add(&v4("1.1.0", dir.path()), "a").success();
    run("GC", &gc_conf(dir.path(), &[]), "x").success_empty();
    assert!(ip_files(dir.path()).is_empty());
    assert_eq!(
        host_local_files(&dir.path().join("othernet"))
            .get("10.1.2.2")
            .map(Vec::as_slice),
        Some(&b"a\r\neth0"[..])
    );
}

// ---------------------------------------------------------------- STATUS

#[test]
fn status_reports_a_full_range_set() {
    let dir = tempfile::tempdir().unwrap();
    // Set 1 holds exactly one address (10.0.1.2).
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.0.0.0/24" }], [{ "subnet": "10.0.1.0/30" }]] }),
    );
    run("STATUS", &c, "x").success_empty();
    add(&c, "a").success();
    let before = ip_files(dir.path());
    let msg = run("STATUS", &c, "x").error(50);
    assert!(msg.contains("10.0.1.1-10.0.1.2"), "{msg}");
    assert_eq!(ip_files(dir.path()), before, "STATUS changed allocations");
    run("DEL", &c, "a").success_empty();
    run("STATUS", &c, "x").success_empty();
    // A config error is still a config error.
    let bad = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.0.0.0/33" }]] }),
    );
    run("STATUS", &bad, "x").error(7);
}

// ---------------------------------------------------------------- CHECK

#[test]
fn check_verifies_the_attachment() {
    for version in ["0.4.0", "1.0.0", "1.1.0"] {
        let dir = tempfile::tempdir().unwrap();
        let c = dual(version, dir.path(), None);
        // Unknown attachment: code 3.
        let msg = run("CHECK", &c, "dummy").error(3);
        assert!(msg.contains("dummy") && msg.contains("eth0"), "{msg}");
        let result = add(&c, "dummy").success();
        run("CHECK", &c, "dummy").success_empty();
        // Another interface of the same container is unknown.
        Call::new("CHECK", &c).ifname("eth1").run(&bin()).error(3);
        // prevResult listing our addresses (as the runtime would send it).
        let with_prev = with_top(c.clone(), json!({ "prevResult": result }));
        run("CHECK", &with_prev, "dummy").success_empty();
        // prevResult that does not list one of our addresses: 102.
        let mut wrong = result.clone();
        wrong["ips"][1]["address"] = json!("2001:db8:1::99/64");
        let msg = run(
            "CHECK",
            &with_top(c.clone(), json!({ "prevResult": wrong })),
            "dummy",
        )
        .error(102);
        assert!(msg.contains("2001:db8:1::2"), "{msg}");
        let empty = json!({ "cniVersion": version, "ips": [] });
        run(
            "CHECK",
            &with_top(c.clone(), json!({ "prevResult": empty })),
            "dummy",
        )
        .error(102);
        // The config changed so the address no longer matches: 102.
        let moved = cfg(
            version,
            dir.path(),
            json!({ "ranges": [[{ "subnet": "10.9.9.0/24" }], [{ "subnet": "2001:db8:1::/64" }]] }),
        );
        run("CHECK", &moved, "dummy").error(102);
        // After DEL: 3.
        run("DEL", &c, "dummy").success_empty();
        run("CHECK", &c, "dummy").error(3);
        run("CHECK", &with_prev, "dummy").error(3);
    }
}

#[test]
fn check_accepts_a_legacy_prev_result() {
    // A 1.x runtime may hand back the prevResult it got; an older-shaped one
    // (ip4/ip6) is understood too.
    let dir = tempfile::tempdir().unwrap();
    let c = v4("0.4.0", dir.path());
    add(&c, "a").success();
    let prev = json!({ "cniVersion": "0.2.0", "ip4": { "ip": "10.1.2.2/24", "gateway": "10.1.2.1" }, "dns": {} });
    run(
        "CHECK",
        &with_top(c.clone(), json!({ "prevResult": prev })),
        "a",
    )
    .success_empty();
    let prev = json!({ "cniVersion": "0.4.0", "ips": [{ "version": "4", "address": "10.1.2.2/24" }], "dns": {} });
    run("CHECK", &with_top(c, json!({ "prevResult": prev })), "a").success_empty();
}

// ---------------------------------------------------------------- repeated ADD

#[test]
fn repeated_add_returns_the_same_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let c = dual("1.0.0", dir.path(), None);
    let first = add(&c, "dummy");
    first.success();
    let before = files(dir.path());
    let again = add(&c, "dummy");
    assert_eq!(again.success(), first.json());
    assert_eq!(again.stdout, first.stdout, "byte-identical answer");
    assert_eq!(files(dir.path()), before, "a repeated ADD changed state");
    // The cursor did not move: the next container gets .3.
    assert_eq!(add(&c, "dummy1").addresses(), ["10.1.2.3", "2001:db8:1::3"]);
    // Asking for the address it already holds is the same answer.
    let same = Call::new("ADD", &c).args("IP=10.1.2.2").run(&bin());
    assert_eq!(same.success(), first.json());
    // Another ifname of the same container is a new attachment.
    assert_eq!(
        Call::new("ADD", &c).ifname("eth1").run(&bin()).addresses(),
        ["10.1.2.4", "2001:db8:1::4"]
    );
}

#[test]
fn repeated_add_that_no_longer_matches_is_102() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    add(&c, "dummy").success();
    let before = tree(dir.path());
    let before_ips = ip_files(dir.path());
    let changed = [
        // The range moved.
        (
            cfg(
                "1.1.0",
                dir.path(),
                json!({ "ranges": [[{ "subnet": "10.9.0.0/24" }]] }),
            ),
            "",
        ),
        // The range shrank below the address.
        (
            cfg(
                "1.1.0",
                dir.path(),
                json!({ "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.10" }]] }),
            ),
            "",
        ),
        // A different address is requested now.
        (c.clone(), "IP=10.1.2.50"),
    ];
    for (conf, args) in &changed {
        let r = Call::new("ADD", conf).args(args).run(&bin());
        let msg = r.error(102);
        assert!(msg.contains("dummy") && msg.contains("eth0"), "{msg}");
        assert_eq!(
            ip_files(dir.path()),
            before_ips,
            "a refused repeated ADD changed allocations"
        );
    }
    let _ = before;
    // The original answer is still there once the config is back.
    assert_eq!(add(&c, "dummy").addresses(), ["10.1.2.2"]);
}

// ---------------------------------------------------------------- requested addresses

#[test]
fn requested_addresses_from_every_source() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "",
            json!({ "runtimeConfig": { "ips": ["10.1.2.50"] } }),
            "10.1.2.50",
        ),
        (
            "",
            json!({ "runtimeConfig": { "ips": ["10.1.2.50/24"] } }),
            "10.1.2.50",
        ),
        (
            "",
            json!({ "runtimeConfig": { "ips": ["::ffff:10.1.2.54"] } }),
            "10.1.2.54",
        ),
        (
            "",
            json!({ "args": { "cni": { "ips": ["10.1.2.51"] } } }),
            "10.1.2.51",
        ),
        (
            "",
            json!({ "args": { "cni": { "ips": ["10.1.2.51/8"] } } }),
            "10.1.2.51",
        ),
        ("IP=10.1.2.52", json!({}), "10.1.2.52"),
        ("IP=10.1.2.52/24", json!({}), "10.1.2.52"),
        ("IP=::ffff:10.1.2.53", json!({}), "10.1.2.53"),
        (
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u;IP=10.1.2.55",
            json!({}),
            "10.1.2.55",
        ),
        // The same address from two sources is one request.
        (
            "IP=10.1.2.56",
            json!({ "args": { "cni": { "ips": ["10.1.2.56"] } } }),
            "10.1.2.56",
        ),
    ];
    for (args, top, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let c = with_top(v4("1.0.0", dir.path()), top.clone());
        let r = Call::new("ADD", &c).args(args).run(&bin());
        assert_eq!(r.addresses(), [*want], "{args} {top}");
        assert_eq!(
            r.json()["ips"][0]["address"],
            format!("{want}/24"),
            "the range's prefix, not the request's"
        );
        assert_eq!(
            ip_files(dir.path()),
            BTreeMap::from([(want.to_string(), "dummy\r\neth0".to_string())])
        );
        // host-local moves the cursor to a requested address; so do we.
        assert_eq!(
            files(dir.path())
                .get("last_reserved_ip.0")
                .map(Vec::as_slice),
            Some(want.as_bytes())
        );
    }
}

#[test]
fn requested_address_per_family() {
    let dir = tempfile::tempdir().unwrap();
    let c = with_top(
        dual("1.1.0", dir.path(), None),
        json!({ "runtimeConfig": { "ips": ["2001:db8:1::abcd"] } }),
    );
    assert_eq!(add(&c, "a").addresses(), ["10.1.2.2", "2001:db8:1::abcd"]);
    // Requests follow range-set order, not request order.
    let dir = tempfile::tempdir().unwrap();
    let c = with_top(
        dual("1.1.0", dir.path(), None),
        json!({ "args": { "cni": { "ips": ["2001:db8:1::9", "10.1.2.9"] } } }),
    );
    assert_eq!(add(&c, "a").addresses(), ["10.1.2.9", "2001:db8:1::9"]);
}

#[test]
fn requested_address_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.10", "rangeEnd": "10.1.2.20" }]] }),
    );
    add(&base, "other").success();
    let before = tree(dir.path());
    let cases: &[(&str, Value, u64, &[&str])] = &[
        // Outside every range (in the subnet, but before rangeStart).
        (
            "",
            json!({ "runtimeConfig": { "ips": ["10.1.2.9"] } }),
            7,
            &["runtimeConfig.ips[0]", "10.1.2.9"],
        ),
        (
            "",
            json!({ "args": { "cni": { "ips": ["192.168.0.1"] } } }),
            7,
            &["args.cni.ips[0]", "192.168.0.1"],
        ),
        ("IP=10.1.2.21", json!({}), 7, &["CNI_ARGS", "10.1.2.21"]),
        (
            "",
            json!({ "runtimeConfig": { "ips": ["2001:db8::1"] } }),
            7,
            &["runtimeConfig.ips[0]", "2001:db8::1"],
        ),
        // Two for one range set.
        (
            "IP=10.1.2.11",
            json!({ "args": { "cni": { "ips": ["10.1.2.12"] } } }),
            7,
            &["args.cni.ips[0]", "10.1.2.11", "10.1.2.12"],
        ),
        (
            "",
            json!({ "runtimeConfig": { "ips": ["10.1.2.11", "10.1.2.12/24"] } }),
            7,
            &["runtimeConfig.ips[1]", "10.1.2.11", "10.1.2.12"],
        ),
        // Not an address.
        (
            "",
            json!({ "runtimeConfig": { "ips": ["nonsense"] } }),
            7,
            &["runtimeConfig.ips[0]", "nonsense"],
        ),
        (
            "",
            json!({ "runtimeConfig": { "ips": [""] } }),
            7,
            &["runtimeConfig.ips[0]"],
        ),
        ("IP=foo", json!({}), 4, &["IP", "foo"]),
        // Taken by another container: 101 naming the holder.
        ("IP=10.1.2.10", json!({}), 101, &["10.1.2.10", "other"]),
        (
            "",
            json!({ "runtimeConfig": { "ips": ["10.1.2.10"] } }),
            101,
            &["runtimeConfig.ips[0]", "10.1.2.10", "other"],
        ),
    ];
    for (args, top, code, needles) in cases {
        let c = with_top(base.clone(), top.clone());
        let msg = Call::new("ADD", &c).args(args).run(&bin()).error(*code);
        for n in *needles {
            assert!(
                msg.contains(n),
                "{args} {top}: {msg:?} should contain {n:?}"
            );
        }
        assert_eq!(
            tree(dir.path()),
            before,
            "{args} {top}: a refused ADD changed state"
        );
    }
    // A gateway, explicit or default, is never handed out.
    let dir = tempfile::tempdir().unwrap();
    for (ipam, gw) in [
        (json!({ "subnet": "10.1.2.0/24" }), "10.1.2.1"),
        (
            json!({ "subnet": "10.1.2.0/24", "gateway": "10.1.2.254" }),
            "10.1.2.254",
        ),
        (
            json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/64" }]] }),
            "2001:db8:1::1",
        ),
    ] {
        let c = cfg("1.1.0", dir.path(), ipam);
        let msg = Call::new("ADD", &c)
            .args(&format!("IP={gw}"))
            .run(&bin())
            .error(7);
        assert!(msg.contains(gw) && msg.contains("gateway"), "{msg}");
    }
    assert!(ip_files(dir.path()).is_empty());
}

#[test]
fn requested_gateway_of_another_range_is_refused() {
    // Range B's gateway lies inside range A: host-local would hand it out.
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[
            { "subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10", "rangeEnd": "10.1.0.20", "gateway": "10.1.0.15" },
            { "subnet": "10.1.0.0/24", "rangeStart": "10.1.0.30", "rangeEnd": "10.1.0.40", "gateway": "10.1.0.12" }
        ]] }),
    );
    let msg = Call::new("ADD", &c)
        .args("IP=10.1.0.12")
        .run(&bin())
        .error(7);
    assert!(msg.contains("10.1.0.12"), "{msg}");
    // And dynamic allocation skips it too.
    let got: Vec<String> = (0..3)
        .map(|i| add(&c, &format!("c{i}")).addresses().remove(0))
        .collect();
    assert_eq!(got, ["10.1.0.10", "10.1.0.11", "10.1.0.13"]);
}

// ---------------------------------------------------------------- exhaustion

#[test]
fn pool_exhaustion_is_100() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg("1.1.0", dir.path(), json!({ "subnet": "192.168.1.0/29" }));
    let got: Vec<String> = (2..=6)
        .map(|i| add(&c, &format!("ID{i}")).addresses().remove(0))
        .collect();
    assert_eq!(
        got,
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
    let before = tree(dir.path());
    let msg = add(&c, "ID8").error(100);
    assert!(msg.contains("192.168.1.1-192.168.1.6"), "{msg}");
    assert!(msg.contains(NET), "{msg}");
    assert_eq!(ip_files(dir.path()).len(), 5);
    assert!(!ip_files(dir.path()).values().any(|v| v.starts_with("ID8")));
    let _ = before;
    // Freeing one makes room again.
    run("DEL", &c, "ID4").success_empty();
    assert_eq!(add(&c, "ID8").addresses(), ["192.168.1.4"]);
}

#[test]
fn exhaustion_in_a_later_set_rolls_back_earlier_sets() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.0.0.0/24" }], [{ "subnet": "10.0.1.0/30" }]] }),
    );
    assert_eq!(add(&c, "a").addresses(), ["10.0.0.2", "10.0.1.2"]);
    let msg = add(&c, "b").error(100);
    assert!(msg.contains("10.0.1.1-10.0.1.2"), "{msg}");
    assert_eq!(
        ip_files(dir.path()).keys().collect::<Vec<_>>(),
        ["10.0.0.2", "10.0.1.2"]
    );
    run("CHECK", &c, "b").error(3);
}

// ---------------------------------------------------------------- resolvConf

#[test]
fn resolv_conf_becomes_dns() {
    let cases: &[(&str, Value)] = &[
        // D1: indented lines.
        (
            " nameserver 192.0.2.0\n nameserver 192.0.2.1\n",
            json!({ "nameservers": ["192.0.2.0", "192.0.2.1"] }),
        ),
        // D2: comments with ';'.
        (
            "nameserver 192.0.2.0\n;nameserver 192.0.2.1\n",
            json!({ "nameservers": ["192.0.2.0"] }),
        ),
        // D3: every directive.
        (
            "nameserver 192.0.2.0\nnameserver 192.0.2.2\ndomain example.com\n;nameserver comment\n#nameserver comment\nsearch example.net example.org\nsearch example.gov\noptions one two three\noptions four\n",
            json!({
                "nameservers": ["192.0.2.0", "192.0.2.2"],
                "domain": "example.com",
                "search": ["example.net", "example.org", "example.gov"],
                "options": ["one", "two", "three", "four"]
            }),
        ),
        // The last domain wins; lines of one field and unknown keywords are skipped.
        (
            "domain a.example\nnameserver\nsortlist 1.2.3.4\ndomain b.example\n",
            json!({ "domain": "b.example" }),
        ),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let resolv = write_resolv(dir.path(), text);
        let v = add(
            &cfg(
                "1.0.0",
                dir.path(),
                json!({ "subnet": "10.1.2.0/24", "resolvConf": resolv }),
            ),
            "a",
        )
        .success();
        assert_eq!(&v["dns"], want, "{text:?}");
    }
    // Nothing usable: dns omitted in 1.x.
    let dir = tempfile::tempdir().unwrap();
    let resolv = write_resolv(dir.path(), "# empty\n\n");
    let v = add(
        &cfg(
            "1.0.0",
            dir.path(),
            json!({ "subnet": "10.1.2.0/24", "resolvConf": resolv }),
        ),
        "a",
    )
    .success();
    assert!(v.get("dns").is_none(), "{v}");
}

#[test]
fn missing_resolv_conf_is_code_5() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("resolv.conf");
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "subnet": "10.1.2.0/24", "resolvConf": path }),
    );
    let msg = add(&c, "a").error(5);
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(ip_files(dir.path()).is_empty(), "nothing allocated");
    // An empty resolvConf means none.
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "subnet": "10.1.2.0/24", "resolvConf": "" }),
    );
    add(&c, "a").success();
}

// ---------------------------------------------------------------- routes

#[test]
fn routes_pass_through_with_1_1_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let routes = json!([
        { "dst": "0.0.0.0/0", "gw": "10.1.2.1", "mtu": 1400, "advmss": 1360, "priority": 100, "table": 10, "scope": 0 },
        { "dst": "10.5.0.0/16", "scope": 253 },
        { "dst": "10.6.7.8/16" },
        { "dst": "2001:db8:9::/48", "gw": "2001:db8:1::fe", "table": 254 }
    ]);
    let c = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/64" }]], "routes": routes }),
    );
    let r = add(&c, "a");
    let v = r.success();
    Node::parse(&r.stdout).assert_sorted("result");
    assert_eq!(
        v["routes"], routes,
        "routes are returned as configured (host bits of dst kept)"
    );
}

// ---------------------------------------------------------------- odd but legal names, unusable state

/// ADD, CHECK, repeated ADD, DEL and CHECK again for a container id of `len` bytes.
fn long_id_round_trip(len: usize) {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    let id = "a".repeat(len);
    let first = add(&c, &id).addresses();
    assert_eq!(first, ["10.1.2.2"], "{len}");
    assert_eq!(ip_files(dir.path())["10.1.2.2"], format!("{id}\r\neth0"));
    run("CHECK", &c, &id).success_empty();
    assert_eq!(
        add(&c, &id).addresses(),
        first,
        "repeated ADD, id of {len} bytes"
    );
    run("DEL", &c, &id).success_empty();
    assert!(ip_files(dir.path()).is_empty(), "{len}");
    run("CHECK", &c, &id).error(3);
    // And the network is still usable by others.
    assert_eq!(add(&c, "other").addresses(), ["10.1.2.3"]);
}

#[test]
fn long_container_ids() {
    // The spec sets no limit. 251 + ":eth0" no longer fits a file name.
    for len in [64, 200, 251, 300, 1000] {
        long_id_round_trip(len);
    }
}

#[test]
fn container_id_filling_a_file_name() {
    // `<id>:<ifname>` is 255 bytes: the index entry fits, its `.new` scratch name does not.
    long_id_round_trip(250);
}

#[test]
fn container_id_longer_than_4_kib() {
    long_id_round_trip(5000);
}

#[test]
fn container_id_that_looks_like_an_address() {
    // host-local's legacy scan matches `last_reserved_ip.N` holding that
    // address and deletes the cursor on DEL; podlease must not.
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    assert_eq!(add(&c, "10.1.2.2").addresses(), ["10.1.2.2"]);
    run("DEL", &c, "10.1.2.2").success_empty();
    assert!(ip_files(dir.path()).is_empty());
    assert_eq!(
        files(dir.path())
            .get("last_reserved_ip.0")
            .map(Vec::as_slice),
        Some(&b"10.1.2.2"[..])
    );
    run("CHECK", &c, "10.1.2.2").error(3);
}

#[test]
fn legacy_file_is_not_given_to_two_interfaces() {
    // A legacy file says "held by container dummy", not by which interface.
    // Returning it to eth0 and again to eth1 gives two live attachments the
    // same address (host-local refuses both ADDs as duplicates).
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.0.0", dir.path());
    std::fs::create_dir_all(dir.path().join(NET)).unwrap();
    std::fs::write(dir.path().join(NET).join("10.1.2.5"), "dummy").unwrap();
    let eth0 = Call::new("ADD", &c).ifname("eth0").run(&bin());
    let eth1 = Call::new("ADD", &c).ifname("eth1").run(&bin());
    if eth0.ok() && eth1.ok() {
        let (a, b) = (eth0.addresses(), eth1.addresses());
        assert!(
            a.iter().all(|ip| !b.contains(ip)),
            "eth0 {a:?} and eth1 {b:?} share an address"
        );
    }
}

#[test]
fn unusable_data_dir_is_code_5() {
    let dir = tempfile::tempdir().unwrap();
    // dataDir is a regular file.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let c = with_top(
        v4("1.1.0", &file),
        json!({ "cni.dev/valid-attachments": [] }),
    );
    let msg = add(&c, "a").error(5);
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    run("CHECK", &c, "a").error(5);
    let msg = run("STATUS", &c, "a").error(50);
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // The network directory is a regular file.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join(NET), "x").unwrap();
    let c = v4("1.1.0", &data);
    let msg = add(&c, "a").error(5);
    assert!(msg.contains(NET), "{msg}");
    run("STATUS", &c, "a").error(50);
    assert_eq!(std::fs::read(data.join(NET)).unwrap(), b"x");
}

#[test]
fn concurrent_adds_get_distinct_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    let children: Vec<_> = (0..30)
        .map(|i| {
            let call = Call::new("ADD", &c).id(&format!("c{i}"));
            let mut child = call.command(&bin()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(&call.stdin).unwrap();
            child
        })
        .collect();
    let mut seen = BTreeMap::new();
    for (i, child) in children.into_iter().enumerate() {
        let r = Reply::from(child.wait_with_output().unwrap());
        let ip = r.addresses().remove(0);
        assert!(
            seen.insert(ip.clone(), format!("c{i}\r\neth0")).is_none(),
            "{ip} handed out twice"
        );
    }
    assert_eq!(ip_files(dir.path()), seen);
}

/// Issue 11, item 9: a range set added to the config (dual-stack turned on)
/// leaves running pods valid, as with host-local: CHECK passes while its
/// addresses are inside a configured range, and a retried ADD returns what
/// the pod holds plus an address in the new range set.
#[test]
fn range_set_added_keeps_running_pods_valid() {
    let dir = tempfile::tempdir().unwrap();
    let c = v4("1.1.0", dir.path());
    let first = add(&c, "dummy").success();
    let dual = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "fd00:1:2::/64" }]] }),
    );
    Call::new("CHECK", &dual).run(&bin()).success_empty();
    let mut with_prev = dual.clone();
    with_prev["prevResult"] = first.clone();
    Call::new("CHECK", &with_prev).run(&bin()).success_empty();
    // A retried ADD keeps what the pod holds and completes the new range
    // set: one address per range set, the IPv4 one unchanged.
    let again = Call::new("ADD", &dual).run(&bin()).success();
    let ips = again["ips"].as_array().unwrap();
    assert_eq!(ips.len(), 2, "{again}");
    assert_eq!(ips[0], first["ips"][0], "{again}");
    assert!(
        ips[1]["address"]
            .as_str()
            .unwrap()
            .starts_with("fd00:1:2::"),
        "{again}"
    );
    // And again: the same answer, nothing more allocated.
    assert_eq!(Call::new("ADD", &dual).run(&bin()).success(), again);
    let mut with_both = dual.clone();
    with_both["prevResult"] = again.clone();
    Call::new("CHECK", &with_both).run(&bin()).success_empty();
    // Outside every range is still a mismatch.
    let moved = cfg(
        "1.1.0",
        dir.path(),
        json!({ "ranges": [[{ "subnet": "10.9.0.0/24" }], [{ "subnet": "fd00:1:2::/64" }]] }),
    );
    Call::new("CHECK", &moved).run(&bin()).error(102);
    // DEL releases both: nothing is left behind.
    Call::new("DEL", &dual).run(&bin()).success_empty();
    Call::new("CHECK", &dual).run(&bin()).error(3);
}

/// A config of exactly the limit (4 MiB, padded with JSON whitespace) is read
/// whole and served; one byte more is refused as too large (code 6), never
/// truncated into something that parses.
#[test]
fn stdin_is_read_whole_up_to_the_limit_and_refused_past_it() {
    const LIMIT: usize = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let conf = serde_json::to_vec(&v4("1.0.0", dir.path())).unwrap();
    let padded = |len: usize| {
        let mut b = conf.clone();
        b.resize(len, b' ');
        b
    };
    let r = Call::new("ADD", &json!({}))
        .id("whole")
        .stdin_bytes(&padded(LIMIT))
        .run(&bin());
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.json()["ips"].as_array().map(Vec::len), Some(1), "{r:?}");
    let r = Call::new("ADD", &json!({}))
        .id("too-big")
        .stdin_bytes(&padded(LIMIT + 1))
        .run(&bin());
    let msg = r.error(6);
    assert!(msg.contains("more than the 4194304"), "{msg}");
    assert_eq!(ip_files(dir.path()).len(), 1, "the refused ADD allocated");
}
