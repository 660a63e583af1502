//! The quick start: allocate, check and release addresses exactly as a
//! runtime would, against the example dual-stack config, in a temporary
//! directory. No root needed.
//!
//! `cargo run --example quickstart`
//!
//! It drives `podlease::plugin::run`, the same entry point the binary calls with
//! its environment and stdin, so every step below is what kubelet's runtime
//! gets when it execs `podlease` from `CNI_PATH`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use podlease::plugin::{RawInvocation, run};
use serde_json::Value;

fn invoke(command: &str, container: &str, conf: &Value) -> (u8, String) {
    let env: BTreeMap<String, String> = [
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", container),
        ("CNI_NETNS", "/var/run/netns/demo"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let out = run(&RawInvocation {
        env,
        stdin: serde_json::to_vec(conf).unwrap(),
        non_utf8: Vec::new(),
        exit: None,
    });
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Prints a step's result; returns whether it exited as expected.
fn show(step: &str, expected: u8, (status, stdout): (u8, String)) -> bool {
    println!("$ {step}  -> exit {status}");
    if !stdout.is_empty() {
        println!("{stdout}");
    }
    println!();
    if status != expected {
        println!("!! expected exit {expected}");
    }
    status == expected
}

fn main() -> std::process::ExitCode {
    let mut ok = true;
    let dir = tempfile::tempdir().expect("temporary directory");
    let conflist: Value =
        serde_json::from_str(include_str!("conf/20-podlease-dual-stack.conflist"))
            .expect("example conflist parses");
    // What libcni hands the bridge plugin (and bridge hands us): the plugin's
    // object with the list's name and cniVersion.
    let mut conf = conflist["plugins"][0].clone();
    conf["name"] = conflist["name"].clone();
    conf["cniVersion"] = conflist["cniVersion"].clone();
    conf["ipam"]["dataDir"] = Value::from(dir.path().to_string_lossy().into_owned());
    println!(
        "network config (examples/conf/20-podlease-dual-stack.conflist, dataDir in {}):",
        dir.path().display()
    );
    println!("{}\n", serde_json::to_string_pretty(&conf["ipam"]).unwrap());

    ok &= show("ADD pod-a", 0, invoke("ADD", "pod-a", &conf));
    ok &= show("ADD pod-b", 0, invoke("ADD", "pod-b", &conf));
    ok &= show(
        "ADD pod-a again (a runtime retry: same addresses back)",
        0,
        invoke("ADD", "pod-a", &conf),
    );

    let mut check = conf.clone();
    check["cniVersion"] = Value::from("1.0.0");
    ok &= show("CHECK pod-a", 0, invoke("CHECK", "pod-a", &check));

    let net_dir = dir.path().join("podnet-ds");
    let mut files: Vec<String> = std::fs::read_dir(&net_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    println!(
        "state on disk, host-local's layout ({}):",
        net_dir.display()
    );
    for f in &files {
        let content = std::fs::read_to_string(net_dir.join(f)).unwrap_or_default();
        println!("  {f:<22} {}", content.replace("\r\n", "\\r\\n"));
    }
    println!();

    ok &= show("DEL pod-a", 0, invoke("DEL", "pod-a", &conf));
    ok &= show(
        "DEL pod-a again (nothing left: still success)",
        0,
        invoke("DEL", "pod-a", &conf),
    );
    ok &= show(
        "CHECK pod-a after DEL (code 3: unknown container)",
        1,
        invoke("CHECK", "pod-a", &check),
    );
    ok &= show(
        "ADD pod-c (round robin: the next address, not pod-a's)",
        0,
        invoke("ADD", "pod-c", &conf),
    );

    let mut bad = conf.clone();
    bad["ipam"]["ranges"] =
        serde_json::json!([[{"subnet": "10.244.1.0/24", "gateway": "10.9.9.1"}]]);
    ok &= show(
        "ADD with a gateway outside its subnet (code 7)",
        1,
        invoke("ADD", "pod-d", &bad),
    );
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        println!("!! a step did not exit as expected");
        std::process::ExitCode::FAILURE
    }
}
