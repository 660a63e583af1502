//! What an operator installing the plugin sees, black-box: `--version`
//! names the commit, `install-cni` (the node installer image's entrypoint)
//! puts a working copy of the binary into a CNI directory, and a bare run
//! says how to get help.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Call, Reply, conf, podlease};
use serde_json::json;

fn cli(args: &[&str]) -> Reply {
    Reply::from(
        Command::new(podlease())
            .env_clear()
            .args(args)
            .output()
            .unwrap(),
    )
}

/// The commit of the checkout the tests run in, if git can tell.
fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let r = cli(&["--version"]);
    assert!(r.ok(), "{r:?}");
    let prefix = format!("podlease {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = r
        .stdout
        .strip_prefix(&prefix)
        .and_then(|s| s.trim_end().strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version: {r:?}"));
    assert!(!commit.is_empty(), "{r:?}");
    match git_head() {
        // Built from this checkout (maybe with uncommitted changes).
        Some(head) => assert!(
            commit == head || commit == format!("{head}-dirty"),
            "--version says {commit}, the checkout is at {head}"
        ),
        None => assert_eq!(commit, "unknown", "{r:?}"),
    }
}

#[test]
fn bare_run_prints_the_cni_versions_and_how_to_get_help() {
    let r = cli(&[]);
    assert_eq!(r.status, Some(0), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(
        r.stderr
            .starts_with("CNI podlease plugin v0.1.0\nCNI protocol versions supported: "),
        "{r:?}"
    );
    assert!(r.stderr.contains("CNI_COMMAND"), "{r:?}");
    assert!(r.stderr.contains("podlease --help"), "{r:?}");
    // And --help does list the operator commands.
    let help = cli(&["--help"]);
    assert!(help.ok() && help.stdout.contains("list"), "{help:?}");
}

#[test]
fn install_cni_puts_a_working_plugin_in_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("opt-cni-bin");
    std::fs::create_dir(&bin_dir).unwrap();
    // An older binary in place, as on an upgrade.
    std::fs::write(bin_dir.join("podlease"), b"#!/bin/sh\nexit 1\n").unwrap();

    let r = cli(&["install-cni", "--dest", bin_dir.to_str().unwrap()]);
    assert!(r.ok(), "{r:?}");
    assert!(r.stdout.starts_with("installed "), "{r:?}");
    let installed = bin_dir.join("podlease");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(podlease()).unwrap(),
        "the installed file is not a copy of the binary"
    );
    assert_eq!(
        std::fs::metadata(&installed).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    let names: Vec<_> = std::fs::read_dir(&bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["podlease"], "a temporary file was left behind");

    // The installed copy works as a plugin: ADD then DEL.
    let data = tmp.path().join("data");
    let cfg = conf(
        "1.1.0",
        "installed",
        "podlease",
        json!({ "ranges": [[{ "subnet": "10.77.0.0/24" }]] }),
        &data,
    );
    let add = Call::new("ADD", &cfg).id("c1").run(&installed);
    assert_eq!(add.addresses(), ["10.77.0.2"], "{add:?}");
    Call::new("DEL", &cfg)
        .id("c1")
        .run(&installed)
        .success_empty();
    assert!(!data.join("installed").join("10.77.0.2").exists());
}

#[test]
fn install_cni_refuses_a_missing_directory_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let r = cli(&["install-cni", "--dest", missing.to_str().unwrap()]);
    assert_eq!(r.status, Some(1), "{r:?}");
    assert!(r.stderr.starts_with("podlease: cannot install "), "{r:?}");
    assert!(!Path::new(&missing).exists());

    let dir = tmp.path().to_str().unwrap();
    for name in ["", "../x", ".hidden", "a/b"] {
        let r = cli(&["install-cni", "--dest", dir, "--name", name]);
        assert_eq!(r.status, Some(2), "{name:?}: {r:?}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn lock_timeout_takes_milliseconds_or_a_unit() {
    for ok in ["250", "250ms", "2s"] {
        let tmp = tempfile::tempdir().unwrap();
        // A data directory holding a network: an empty one is exit 3.
        std::fs::create_dir(tmp.path().join("net")).unwrap();
        std::fs::write(tmp.path().join("net/lock"), "").unwrap();
        let r = cli(&[
            "list",
            "--lock-timeout",
            ok,
            "--data-dir",
            tmp.path().to_str().unwrap(),
            "--conf-dir",
            tmp.path().to_str().unwrap(),
        ]);
        assert!(r.ok(), "{ok}: {r:?}");
    }
    for bad in ["soon", "1.5s", "5m"] {
        let r = cli(&["list", "--lock-timeout", bad]);
        assert_eq!(r.status, Some(2), "{bad}: {r:?}");
        assert!(r.stderr.contains("1500ms"), "{bad}: {r:?}");
    }
}
