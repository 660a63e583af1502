//! End to end: two nodes sharing one cluster pool. Each node is a network
//! namespace with a bridge (Debian's `bridge` plugin, podlease as its IPAM),
//! the two are joined by a veth link, etcd runs inside node A's namespace on
//! the link address. Each node claims its own block; the routes printed by
//! `podlease pool routes` are installed; a pod on node A pings a pod on
//! node B. Needs root; under `CI=true` a missing prerequisite fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;
mod etcd_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Reply;
use ipnetwork::IpNetwork;
use serde_json::{Value, json};

const TOOL_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .env("PATH", TOOL_PATH)
        .output()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .env("PATH", TOOL_PATH)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn has_tool(name: &str) -> bool {
    let found = TOOL_PATH
        .split(':')
        .any(|d| Path::new(d).join(name).is_file());
    if !found {
        if common::in_ci() {
            panic!("{name} is missing (CI requires it)");
        }
        common::skip(&format!("{name} not installed"));
    }
    found
}

/// Namespaces created by the test; deleted on drop (their links and bridges go with them).
struct World {
    namespaces: Vec<String>,
}

impl Drop for World {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            try_sh(&["ip", "netns", "del", ns]);
        }
    }
}

impl World {
    fn ns(&mut self, name: &str) -> String {
        sh(&["ip", "netns", "add", name]);
        sh(&["ip", "-n", name, "link", "set", "lo", "up"]);
        self.namespaces.push(name.to_owned());
        name.to_owned()
    }
}

/// One node: its namespace, address on the link, bridge, data directory.
struct NodeHost {
    name: &'static str,
    ns: String,
    bridge: String,
    data_dir: PathBuf,
    cni_path: PathBuf,
}

impl NodeHost {
    fn conf(&self, etcd: &str, link_ip: &str) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "cluster",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "podlease",
                "dataDir": self.data_dir,
                "pools": [{"cidr": "10.88.0.0/16", "blockSize": 28}],
                "nodeName": self.name,
                "nodeAddresses": [link_ip],
                "routes": [{"dst": "0.0.0.0/0"}],
                "etcd": {"endpoints": [etcd], "timeoutSeconds": 10},
            },
        })
    }

    /// Runs the bridge plugin inside this node's namespace, as its runtime would.
    fn exec(&self, command: &str, pod_ns: &str, id: &str, conf: &Value) -> Reply {
        let mut child = Command::new("/usr/bin/ip")
            .args(["netns", "exec", &self.ns])
            .arg(self.cni_path.join("bridge"))
            .env_clear()
            .env("PATH", TOOL_PATH)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", id)
            .env("CNI_NETNS", format!("/var/run/netns/{pod_ns}"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&serde_json::to_vec(conf).unwrap())
            .unwrap();
        Reply::from(child.wait_with_output().unwrap())
    }

    /// `podlease pool SUB`, run where the node runs (it reaches etcd
    /// there); its stdout, or None when it failed.
    fn pool(&self, conf_file: &Path, sub: &str) -> Option<String> {
        let out = Command::new("/usr/bin/ip")
            .args(["netns", "exec", &self.ns])
            .arg(common::podlease())
            .arg("--config")
            .arg(conf_file)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["pool", sub])
            .env_clear()
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[test]
fn pods_on_two_nodes_sharing_a_pool_reach_each_other() {
    if !common::require_root() || common::reference_plugin("bridge").is_none() {
        return;
    }
    if !has_tool("ip") || !has_tool("ping") || etcd_support::etcd_bin().is_none() {
        return;
    }
    let tag = format!("plc{}", std::process::id() % 100_000);
    let dir = tempfile::tempdir().unwrap();
    let cni_path = dir.path().join("bin");
    std::fs::create_dir(&cni_path).unwrap();
    std::os::unix::fs::symlink(common::podlease(), cni_path.join("podlease")).unwrap();
    std::os::unix::fs::symlink(
        Path::new(common::CNI_BIN_DIR).join("bridge"),
        cni_path.join("bridge"),
    )
    .unwrap();

    let mut world = World {
        namespaces: Vec::new(),
    };
    let ns_a = world.ns(&format!("{tag}-a"));
    let ns_b = world.ns(&format!("{tag}-b"));
    let pod_a = world.ns(&format!("{tag}-pa"));
    let pod_b = world.ns(&format!("{tag}-pb"));
    // The link between the nodes.
    let (va, vb) = (format!("{tag}va"), format!("{tag}vb"));
    sh(&[
        "ip", "link", "add", &va, "netns", &ns_a, "type", "veth", "peer", "name", &vb, "netns",
        &ns_b,
    ]);
    for (ns, dev, ip) in [
        (&ns_a, &va, "192.168.77.1/24"),
        (&ns_b, &vb, "192.168.77.2/24"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", ip, "dev", dev]);
        sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
    }
    let etcd = etcd_support::Etcd::start_in_netns(&ns_a, "192.168.77.1").unwrap();
    let nodes = [
        NodeHost {
            name: "a",
            ns: ns_a.clone(),
            bridge: format!("{tag}ba"),
            data_dir: dir.path().join("a"),
            cni_path: cni_path.clone(),
        },
        NodeHost {
            name: "b",
            ns: ns_b.clone(),
            bridge: format!("{tag}bb"),
            data_dir: dir.path().join("b"),
            cni_path: cni_path.clone(),
        },
    ];
    let link_ips = ["192.168.77.1", "192.168.77.2"];
    let mut pod_ips = Vec::new();
    let mut blocks = Vec::new();
    let conf_files: Vec<PathBuf> = nodes
        .iter()
        .zip(link_ips)
        .map(|(node, link_ip)| {
            let f = dir.path().join(format!("{}.conf", node.name));
            std::fs::write(
                &f,
                serde_json::to_vec(&node.conf(&etcd.url(), link_ip)).unwrap(),
            )
            .unwrap();
            f
        })
        .collect();
    // etcd starts in the background: wait until `podlease pool nodes` reaches it.
    let up = (0..150).any(|_| {
        let ok = nodes[0].pool(&conf_files[0], "nodes").is_some();
        if !ok {
            std::thread::sleep(Duration::from_millis(200));
        }
        ok
    });
    assert!(up, "etcd did not come up in {ns_a}");
    for ((node, pod), link_ip) in nodes.iter().zip([&pod_a, &pod_b]).zip(link_ips) {
        let conf = node.conf(&etcd.url(), link_ip);
        let reply = node.exec("ADD", pod, &format!("pod-{}", node.name), &conf);
        let result = reply.success();
        let addr: IpNetwork = result["ips"][0]["address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(addr.prefix(), 28, "the result's prefix is the block's");
        pod_ips.push(addr.ip());
        blocks.push(IpNetwork::new(addr.network(), 28).unwrap());
    }
    assert_ne!(blocks[0], blocks[1], "the nodes got the same block");
    assert!(!blocks[0].contains(pod_ips[1]) && !blocks[1].contains(pod_ips[0]));

    // Host-gateway routing from `podlease pool routes`.
    for (node, conf_file) in nodes.iter().zip(&conf_files) {
        let routes: Vec<String> = node
            .pool(conf_file, "routes")
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(routes.len(), 1, "{routes:?}");
        let mut args = vec!["ip", "-n", &node.ns, "route", "replace"];
        args.extend(routes[0].split_whitespace());
        sh(&args);
    }
    let target = pod_ips[1].to_string();
    let ping = || {
        try_sh(&[
            "ip", "netns", "exec", &pod_a, "ping", "-4", "-c", "1", "-W", "1", &target,
        ])
    };
    assert!(
        ping() || ping(),
        "pod {} on node a cannot reach pod {target} on node b",
        pod_ips[0]
    );
}
