//! A real container engine drives podlease: Podman (CNI backend) runs busybox
//! containers on a bridge network whose IPAM is podlease, the way an operator
//! would deploy it. Everything podman keeps (storage, config, networks) lives
//! in a temporary directory.
//!
//! Needs root, podman, runc and busybox-static (`.ci/run` installs them):
//! missing ones fail under `CI=true` and SKIP elsewhere.
// Test scaffolding outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{in_ci, podlease, reference_plugin, require_root};

fn tool(path: &str, package: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    assert!(
        !in_ci(),
        "{path} is missing: apt-get install {package} (.ci/run does)"
    );
    common::skip(&format!("{path} not installed (apt-get install {package})"));
    None
}

/// A Podman with its own storage and config, and the network it uses.
struct Engine {
    dir: tempfile::TempDir,
    bridge: String,
    network: String,
}

impl Engine {
    fn new() -> Option<Self> {
        if !require_root() {
            return None;
        }
        reference_plugin("bridge")?;
        tool("/usr/bin/podman", "podman")?;
        tool("/usr/sbin/runc", "runc")?;
        let busybox = tool("/bin/busybox", "busybox-static")?;
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().to_path_buf();
        let w = w.as_path();
        let tag = std::process::id();
        let engine = Self {
            bridge: format!("plpm{}", tag % 100_000),
            network: format!("plnet{tag}"),
            dir,
        };

        // A one-layer image: busybox and a few applets.
        let rootfs = w.join("rootfs/bin");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::copy(&busybox, rootfs.join("busybox")).unwrap();
        for applet in ["sh", "ip", "sleep", "ping", "cat"] {
            std::os::unix::fs::symlink("busybox", rootfs.join(applet)).unwrap();
        }
        let tar = w.join("rootfs.tar");
        run(Command::new("tar")
            .arg("-C")
            .arg(w.join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg("."));

        // CNI plugins: Debian's, plus podlease.
        let bin = w.join("cni-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for entry in std::fs::read_dir(common::CNI_BIN_DIR).unwrap() {
            let p = entry.unwrap().path();
            std::os::unix::fs::symlink(&p, bin.join(p.file_name().unwrap())).unwrap();
        }
        std::os::unix::fs::symlink(podlease(), bin.join("podlease")).unwrap();

        let netd = w.join("net.d");
        std::fs::create_dir_all(&netd).unwrap();
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": engine.network,
            "plugins": [{
                "type": "bridge", "bridge": engine.bridge, "isGateway": true,
                "ipam": {
                    "type": "podlease",
                    "dataDir": w.join("state"),
                    "ranges": [[{ "subnet": "10.124.0.0/29" }]],
                    "routes": [{ "dst": "0.0.0.0/0" }]
                }
            }]
        });
        std::fs::write(netd.join("50-podlease.conflist"), conflist.to_string()).unwrap();
        std::fs::write(
            w.join("containers.conf"),
            format!(
                "[network]\nnetwork_backend = \"cni\"\nnetwork_config_dir = \"{}\"\ncni_plugin_dirs = [\"{}\"]\n",
                netd.display(),
                bin.display()
            ),
        )
        .unwrap();
        engine.podman(&[
            "import",
            "-q",
            tar.to_str().unwrap(),
            "localhost/pl-busybox:1",
        ]);
        Some(engine)
    }

    fn podman(&self, args: &[&str]) -> String {
        let w = self.dir.path();
        let out = Command::new("podman")
            .env("CONTAINERS_CONF", w.join("containers.conf"))
            .arg("--root")
            .arg(w.join("storage"))
            .arg("--runroot")
            .arg(w.join("run"))
            .args(["--storage-driver", "vfs"])
            // runc, with limits podman would otherwise raise: this sandbox
            // forbids raising rlimits, and crun rejects its hybrid cgroups.
            .args(["--runtime", "/usr/sbin/runc"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn run_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec![
            "run",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--network",
        ];
        v.push(&self.network);
        v.extend_from_slice(extra);
        v
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state").join(&self.network)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    name.parse::<std::net::IpAddr>().ok()?;
                    Some((name, std::fs::read_to_string(e.path()).unwrap_or_default()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The address on eth0, from `ip -4 -o addr show eth0` output.
fn eth0_address(out: &str) -> String {
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no inet address in {out:?}"))
        .to_owned()
}

#[test]
fn podman_runs_containers_with_podlease_addresses() {
    let Some(engine) = Engine::new() else { return };

    // A long-running container: its address is configured in its namespace,
    // held in podlease's state under podman's container id, with the route.
    let id = engine
        .podman(&engine.run_args(&["-d", "localhost/pl-busybox:1", "sleep", "60"]))
        .trim()
        .to_owned();
    let shown = engine.podman(&["exec", &id, "sh", "-c", "ip -4 -o addr show eth0; ip route"]);
    let addr = eth0_address(&shown);
    assert!(
        addr.starts_with("10.124.0.") && addr.ends_with("/29"),
        "{shown}"
    );
    assert!(shown.contains("default via 10.124.0.1"), "{shown}");
    let ip = addr.split('/').next().unwrap().to_owned();
    assert_eq!(
        ip_files(&engine.state()),
        [(ip.clone(), format!("{id}\r\neth0"))]
    );

    // A second container reaches the first across the bridge.
    let ping = engine.podman(&engine.run_args(&[
        "--rm",
        "localhost/pl-busybox:1",
        "sh",
        "-c",
        &format!("ip -4 -o addr show eth0; ping -c 1 -W 2 {ip} >/dev/null && echo reached"),
    ]));
    assert!(ping.contains("reached"), "{ping}");
    let second = eth0_address(&ping);
    assert_ne!(
        second.split('/').next().unwrap(),
        ip,
        "two live containers share an address"
    );

    // --rm released the second container's address; removing the first releases its own.
    assert_eq!(ip_files(&engine.state()).len(), 1);
    engine.podman(&["rm", "-f", "-t", "0", &id]);
    assert!(
        ip_files(&engine.state()).is_empty(),
        "{:?}",
        ip_files(&engine.state())
    );

    // The /29 has 5 addresses: after round robin wraps, released ones come back.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let out = engine.podman(&engine.run_args(&[
            "--rm",
            "localhost/pl-busybox:1",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ]));
        seen.push(eth0_address(&out));
    }
    assert!(seen.iter().all(|a| a.starts_with("10.124.0.")), "{seen:?}");
    assert!(ip_files(&engine.state()).is_empty());
}
