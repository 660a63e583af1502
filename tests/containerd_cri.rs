//! The kubelet path: Debian's containerd (1.6, CRI plugin, runc) runs pods
//! whose network comes from the shipped
//! `examples/conf/containerd-podlease.conflist.tmpl`, driven through the CRI
//! gRPC API the way kubelet drives it: `UpdateRuntimeConfig` with the node's
//! pod CIDR (containerd renders the template), `RunPodSandbox`,
//! `PodSandboxStatus`, `StopPodSandbox` and `RemovePodSandbox` (containerd
//! sends DEL on each).
//!
//! The CRI client is Debian's python3-grpcio running
//! `tests/fixtures/cri/cri_client.py`, with message classes that protoc
//! generates at test time from `tests/fixtures/cri/runtime_v1_subset.proto`
//! (the part of the CRI API the test uses; see that file).
//!
//! Each node is a private containerd: root, state, socket, CNI config and
//! binaries in a temporary directory; its own network namespace (so `cni0`,
//! the masquerade rules and the forwarding sysctls the bridge plugin sets
//! never touch the host's) and its own mount namespace, where `/run` is a
//! fresh tmpfs (shim sockets) and `/var/lib/cni` (podlease's default data
//! directory, which the shipped template uses, and containerd's CNI result
//! cache) is a directory of the temporary one. Every process it starts,
//! pods included, lives under one cgroup that cleanup empties and removes.
//!
//! Needs root, containerd, runc, busybox-static, iptables, protobuf-compiler,
//! python3-grpcio, python3-protobuf, iproute2, util-linux and the reference
//! plugins (`.ci/run` installs them): missing ones fail under `CI=true` and
//! SKIP elsewhere.
// Test scaffolding outside #[test] fns: failing loudly is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::Permissions;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{in_ci, podlease, reference_plugin, require_root};

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/conf/containerd-podlease.conflist.tmpl"
);
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cri");
const PAUSE_IMAGE: &str = "localhost/podlease-pause:test";
/// The network name in the shipped template.
const NETWORK: &str = "k8s-pod-network";
/// How long the node may take to answer before the test gives up (a
/// deadline for polling, not a measurement).
const PATIENCE: Duration = Duration::from_secs(90);

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

/// Every prerequisite, checked before anything is started.
fn prerequisites() -> bool {
    if !require_root() {
        return false;
    }
    for plugin in ["bridge", "portmap"] {
        if reference_plugin(plugin).is_none() {
            return false;
        }
    }
    let tools = [
        ("/usr/bin/containerd", "containerd"),
        ("/usr/bin/ctr", "containerd"),
        ("/usr/sbin/runc", "runc"),
        ("/bin/busybox", "busybox-static"),
        ("/usr/sbin/iptables", "iptables"),
        ("/usr/sbin/ip6tables", "iptables"),
        ("/usr/bin/protoc", "protobuf-compiler"),
        ("/usr/bin/python3", "python3"),
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/bin/nsenter", "util-linux"),
        ("/usr/bin/sha256sum", "coreutils"),
        ("/usr/bin/tar", "tar"),
        ("/bin/ip", "iproute2"),
        ("/bin/ping", "iputils-ping"),
    ];
    if !tools
        .iter()
        .all(|(path, package)| tool(path, package).is_some())
    {
        return false;
    }
    // Debian's grpc and protobuf for Debian's python3 (another python3 may
    // come first on PATH: this one is called by its full path).
    let imports = Command::new("/usr/bin/python3")
        .args(["-c", "import grpc, google.protobuf"])
        .output()
        .unwrap();
    if !imports.status.success() {
        assert!(
            !in_ci(),
            "/usr/bin/python3 cannot import grpc and google.protobuf: \
             apt-get install python3-grpcio python3-protobuf (.ci/run does): {}",
            String::from_utf8_lossy(&imports.stderr)
        );
        common::skip("python3-grpcio / python3-protobuf not installed");
        return false;
    }
    true
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(file: &Path) -> String {
    run(Command::new("sha256sum").arg(file))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The sandbox ("pause") image, since no registry is reachable: a Docker
/// archive whose one layer holds busybox, and whose entrypoint sleeps.
fn pause_image(w: &Path) -> PathBuf {
    let img = w.join("pause-image");
    let rootfs = w.join("pause-rootfs");
    for d in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::fs::create_dir_all(&img).unwrap();
    let layer = img.join("layer.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "config": { "Entrypoint": ["/bin/busybox", "sleep", "2147483647"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))] },
    });
    std::fs::write(img.join("config.json"), config.to_string()).unwrap();
    let manifest = json!([{
        "Config": "config.json",
        "RepoTags": [PAUSE_IMAGE],
        "Layers": ["layer.tar"],
    }]);
    std::fs::write(img.join("manifest.json"), manifest.to_string()).unwrap();
    let archive = w.join("pause.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&img)
        .arg("-cf")
        .arg(&archive)
        .args(["manifest.json", "config.json", "layer.tar"]));
    archive
}

/// The cgroup hierarchies mounted here (cgroup v1 controllers, the v2
/// unified one, or the v2 root alone).
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default()
}

/// The hierarchy that tracks every process (`pids` on v1, the root on v2).
fn process_hierarchy() -> PathBuf {
    let pids = Path::new("/sys/fs/cgroup/pids");
    if pids.join("cgroup.procs").exists() {
        pids.to_path_buf()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

/// Every process in the cgroup `dir` and below.
fn cgroup_pids(dir: &Path, out: &mut Vec<String>) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(procs.lines().map(str::to_owned));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                cgroup_pids(&e.path(), out);
            }
        }
    }
}

/// Removes the cgroup `dir` and those below it (each must be empty of processes).
fn remove_cgroup(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// One CNI call as the wrapper in the node's CNI bin dir logged it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PluginCall {
    command: String,
    container: String,
    status: String,
}

/// A private containerd, as a node's kubelet sees it.
struct Node {
    /// Owns the node's files; removed after `Drop::drop` has stopped everything.
    dir: tempfile::TempDir,
    containerd: Option<Child>,
    /// The cgroup (same name in every hierarchy) holding every process of the node.
    cgroup: String,
    /// Counted in `VAR_LIB_CNI`.
    holds_var_lib_cni: bool,
}

static NODES: AtomicUsize = AtomicUsize::new(0);

/// `/var/lib/cni` is where each node mounts its own: (nodes using it, whether
/// the first of them had to create it). The last one removes what it made.
static VAR_LIB_CNI: Mutex<(usize, bool)> = Mutex::new((0, false));

fn hold_var_lib_cni() {
    let mut held = VAR_LIB_CNI.lock().unwrap_or_else(PoisonError::into_inner);
    if held.0 == 0 {
        held.1 = !Path::new("/var/lib/cni").exists();
        std::fs::create_dir_all("/var/lib/cni").unwrap();
    }
    held.0 += 1;
}

fn release_var_lib_cni() {
    let mut held = VAR_LIB_CNI.lock().unwrap_or_else(PoisonError::into_inner);
    held.0 -= 1;
    if held.0 == 0 && held.1 {
        let _ = std::fs::remove_dir("/var/lib/cni");
    }
}

impl Node {
    /// Starts containerd; None when a prerequisite is missing outside CI.
    fn start() -> Option<Self> {
        if !prerequisites() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().to_path_buf();
        let cgroup = format!(
            "podlease-cri-{}-{}",
            std::process::id(),
            NODES.fetch_add(1, Ordering::SeqCst)
        );
        let mut node = Self {
            dir,
            containerd: None,
            cgroup,
            holds_var_lib_cni: false,
        };
        hold_var_lib_cni();
        node.holds_var_lib_cni = true;

        // CRI message classes from the .proto subset.
        let pb2 = w.join("pb2");
        std::fs::create_dir_all(&pb2).unwrap();
        run(Command::new("/usr/bin/protoc")
            .arg("-I")
            .arg(FIXTURES)
            .arg(format!("--python_out={}", pb2.display()))
            .arg("runtime_v1_subset.proto"));

        // CNI binaries: Debian's reference plugins, and podlease behind a
        // wrapper that logs each call (command, container, exit status).
        let bin = w.join("cni-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for entry in std::fs::read_dir(common::CNI_BIN_DIR).unwrap() {
            let p = entry.unwrap().path();
            // A podlease installed there (Debian package) is not the one under test.
            if p.file_name().is_some_and(|n| n != "podlease") {
                std::os::unix::fs::symlink(&p, bin.join(p.file_name().unwrap())).unwrap();
            }
        }
        std::fs::copy(podlease(), w.join("podlease-under-test")).unwrap();
        let wrapper = format!(
            "#!/bin/sh\n\"{real}\"\nstatus=$?\necho \"$CNI_COMMAND $CNI_CONTAINERID $status\" >> \"{log}\"\nexit $status\n",
            real = w.join("podlease-under-test").display(),
            log = w.join("podlease-calls.log").display(),
        );
        std::fs::write(bin.join("podlease"), wrapper).unwrap();
        std::fs::set_permissions(bin.join("podlease"), Permissions::from_mode(0o755)).unwrap();
        for d in [
            "net.d",
            "var-lib-cni",
            "root",
            "state",
            "opt",
            "runc",
            "pods",
        ] {
            std::fs::create_dir_all(w.join(d)).unwrap();
        }

        let config = format!(
            r#"version = 2
root = "{w}/root"
state = "{w}/state"

[grpc]
  address = "{w}/containerd.sock"

[ttrpc]
  address = "{w}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{w}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{w}/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{w}/cni-bin"
    conf_dir = "{w}/net.d"
    conf_template = "{TEMPLATE}"
"#,
            w = w.display()
        );
        std::fs::write(w.join("config.toml"), config).unwrap();

        // Every process of the node under one cgroup.
        let procs_dir = process_hierarchy().join(&node.cgroup).join("daemon");
        std::fs::create_dir_all(&procs_dir).unwrap();
        let script = format!(
            "set -e\n\
             echo $$ > '{procs}'\n\
             mount -t tmpfs -o mode=0755 podlease-cri-run /run\n\
             mount --bind '{w}/var-lib-cni' /var/lib/cni\n\
             /bin/ip link set lo up\n\
             exec /usr/bin/containerd --config '{w}/config.toml' --log-level info\n",
            procs = procs_dir.join("cgroup.procs").display(),
            w = w.display(),
        );
        let log = std::fs::File::create(w.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/unshare")
            .args(["--mount", "--net", "--propagation", "private", "--"])
            .args(["/bin/sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        node.containerd = Some(child);

        let version = node.wait_for("containerd to serve CRI", |n| {
            n.cri("Version", &json!({ "version": "v1" })).ok()
        });
        assert_eq!(version["runtime_name"], "containerd", "{version}");
        assert_eq!(version["runtime_api_version"], "v1", "{version}");
        run(Command::new("/usr/bin/ctr")
            .arg("-a")
            .arg(node.socket())
            .args([
                "-n",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                "overlayfs",
            ])
            .arg(pause_image(&w)));
        Some(node)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn socket(&self) -> PathBuf {
        self.path("containerd.sock")
    }

    /// The node's network namespace is containerd's.
    fn pid(&self) -> u32 {
        self.containerd.as_ref().unwrap().id()
    }

    /// Whether containerd still runs (a zombie does not).
    fn containerd_alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|s| !s.trim_start().starts_with('Z'))
        })
    }

    /// One CRI call: the response, or the gRPC error.
    fn cri(&self, method: &str, request: &Value) -> Result<Value, String> {
        let out = Command::new("/usr/bin/python3")
            .arg(Path::new(FIXTURES).join("cri_client.py"))
            .arg(self.path("pb2"))
            .arg(self.socket())
            .arg(method)
            .arg(request.to_string())
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// A CRI call that must succeed.
    fn call(&self, method: &str, request: &Value) -> Value {
        self.cri(method, request)
            .unwrap_or_else(|e| panic!("{method} {request}: {e}"))
    }

    /// Polls `probe` until it answers, or fails the test after `PATIENCE`.
    fn wait_for<T>(&self, what: &str, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(
                self.containerd_alive(),
                "containerd exited while waiting for {what}; its log is printed below"
            );
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}; containerd's log is printed below"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// containerd's `NetworkReady` condition, as kubelet reads it from `Status`.
    fn network_ready(&self) -> bool {
        let status = self.call("Status", &json!({}));
        status["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "NetworkReady")
            .map(|c| c["status"] == true)
            .unwrap()
    }

    /// What kubelet sends to start pod `namespace/name`.
    fn run_pod(&self, namespace: &str, name: &str) -> String {
        static PODS: AtomicUsize = AtomicUsize::new(0);
        let uid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            PODS.fetch_add(1, Ordering::SeqCst)
        );
        let logs = self.path("pods").join(format!("{namespace}_{name}_{uid}"));
        std::fs::create_dir_all(&logs).unwrap();
        let response = self.call(
            "RunPodSandbox",
            &json!({ "config": {
                "metadata": { "name": name, "uid": uid, "namespace": namespace, "attempt": 0 },
                "hostname": name,
                "log_directory": logs,
                "labels": {
                    "io.kubernetes.pod.name": name,
                    "io.kubernetes.pod.namespace": namespace,
                    "io.kubernetes.pod.uid": uid,
                },
                "annotations": { "kubernetes.io/config.source": "api" },
                "linux": { "cgroup_parent": format!("/{}/pod{uid}", self.cgroup) },
            }}),
        );
        let id = response["pod_sandbox_id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 64, "{response}");
        id
    }

    /// `PodSandboxStatus` (verbose: containerd adds the sandbox's pid).
    fn status(&self, id: &str) -> Value {
        self.call(
            "PodSandboxStatus",
            &json!({ "pod_sandbox_id": id, "verbose": true }),
        )
    }

    /// podlease's own view: `podlease list --json` on the node's data directory.
    fn podlease_list(&self) -> Vec<Value> {
        let out = Command::new(podlease())
            .arg("list")
            .arg("--json")
            .arg("--data-dir")
            .arg(self.path("var-lib-cni/networks"))
            .arg("--conf-dir")
            .arg(self.path("net.d"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podlease list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["allocations"].as_array().unwrap().clone()
    }

    /// Every ADD and DEL the plugin got, with its exit status.
    fn plugin_calls(&self) -> Vec<PluginCall> {
        std::fs::read_to_string(self.path("podlease-calls.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some(PluginCall {
                    command: f.next()?.to_owned(),
                    container: f.next()?.to_owned(),
                    status: f.next()?.to_owned(),
                })
            })
            .filter(|c| c.command == "ADD" || c.command == "DEL")
            .collect()
    }

    /// Runs `args` in the node's network namespace.
    fn in_node_netns(&self, args: &[&str]) -> String {
        run(Command::new("/usr/bin/nsenter")
            .arg("-t")
            .arg(self.pid().to_string())
            .arg("-n")
            .args(args))
    }

    /// The pod's addresses on eth0, seen from inside its network namespace.
    fn pod_addresses(&self, status: &Value) -> BTreeSet<IpAddr> {
        let info: Value = serde_json::from_str(status["info"]["info"].as_str().unwrap()).unwrap();
        let pid = info["pid"].as_u64().unwrap();
        let out = run(Command::new("/usr/bin/nsenter")
            .arg("-t")
            .arg(pid.to_string())
            .arg("-n")
            .args([
                "/bin/ip", "-o", "addr", "show", "dev", "eth0", "scope", "global",
            ]));
        out.lines()
            .filter_map(|l| {
                let mut f = l
                    .split_whitespace()
                    .skip_while(|w| *w != "inet" && *w != "inet6");
                f.next()?;
                f.next()?.split('/').next()?.parse().ok()
            })
            .collect()
    }

    /// Stops every pod still there (the way kubelet would), best effort.
    fn remove_all_pods(&self) {
        let Ok(list) = self.cri("ListPodSandbox", &json!({})) else {
            return;
        };
        for pod in list["items"].as_array().into_iter().flatten() {
            if let Some(id) = pod["id"].as_str() {
                let _ = self.cri("StopPodSandbox", &json!({ "pod_sandbox_id": id }));
                let _ = self.cri("RemovePodSandbox", &json!({ "pod_sandbox_id": id }));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.path("containerd.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- containerd log (last lines) ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
            eprintln!(
                "--- podlease calls ---\n{}",
                std::fs::read_to_string(self.path("podlease-calls.log")).unwrap_or_default()
            );
        }
        // Pods first, through CRI, as kubelet would: runc and the plugins
        // clean up after them.
        if self.containerd.is_some() {
            self.remove_all_pods();
        }
        if let Some(mut child) = self.containerd.take() {
            let pid = child.id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // Whatever is left (shims, pods, containerd itself): killed by pid.
            // When the last of them is gone, so are the node's network and
            // mount namespaces, with cni0, iptables rules and mounts.
            let mine = process_hierarchy().join(&self.cgroup);
            for _ in 0..100 {
                let mut pids = Vec::new();
                cgroup_pids(&mine, &mut pids);
                if pids.is_empty() {
                    break;
                }
                let _ = Command::new("kill").arg("-KILL").args(&pids).status();
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.wait();
        }
        for h in cgroup_hierarchies() {
            remove_cgroup(&h.join(&self.cgroup));
        }
        if self.holds_var_lib_cni {
            release_var_lib_cni();
        }
    }
}

/// The address in a CIDR's network (`10.244.3.0/24` holds `10.244.3.7`).
fn in_cidr(addr: IpAddr, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').unwrap();
    let net: IpAddr = net.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The pod's addresses as `PodSandboxStatus` gives them: `ip` first, then
/// `additional_ips`.
fn status_addresses(status: &Value) -> Vec<IpAddr> {
    let network = &status["status"]["network"];
    let mut v = vec![network["ip"].as_str().unwrap().parse().unwrap()];
    for extra in network["additional_ips"].as_array().into_iter().flatten() {
        v.push(extra["ip"].as_str().unwrap().parse().unwrap());
    }
    v
}

/// The node comes up with no network, like a fresh kubelet node; then
/// kubelet's `UpdateRuntimeConfig` carries the node's pod CIDRs and
/// containerd renders the shipped template. Returns the rendered conflist.
fn configure_pod_cidrs(node: &Node, pod_cidrs: &[&str]) -> Value {
    assert!(
        !node.network_ready(),
        "NetworkReady before any CNI config was rendered"
    );
    node.call(
        "UpdateRuntimeConfig",
        &json!({ "runtime_config": { "network_config": { "pod_cidr": pod_cidrs.join(",") } } }),
    );
    node.wait_for("containerd to load the rendered CNI config", |n| {
        n.network_ready().then_some(())
    });
    let rendered: Value = serde_json::from_slice(
        &std::fs::read(node.path("net.d/10-containerd-net.conflist")).unwrap(),
    )
    .unwrap();
    assert_eq!(rendered["name"], NETWORK, "{rendered}");
    let ipam = &rendered["plugins"][0]["ipam"];
    assert_eq!(ipam["type"], "podlease", "{rendered}");
    let subnets: Vec<&str> = ipam["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| set[0]["subnet"].as_str().unwrap())
        .collect();
    assert_eq!(subnets, pod_cidrs, "{rendered}");
    rendered
}

/// podlease's allocations by address: (container, pod).
fn allocations(node: &Node) -> BTreeMap<IpAddr, (String, String)> {
    node.podlease_list()
        .iter()
        .map(|a| {
            assert_eq!(a["network"], NETWORK, "{a}");
            (
                a["address"].as_str().unwrap().parse().unwrap(),
                (
                    a["container_id"].as_str().unwrap().to_owned(),
                    a["pod"].as_str().unwrap_or("").to_owned(),
                ),
            )
        })
        .collect()
}

/// Runs `names` in namespace `ns`, checks every pod got one address per
/// CIDR, distinct across pods, on its eth0, held by podlease under the
/// sandbox id and pod name; returns (sandbox id, addresses) per pod.
fn run_pods(
    node: &Node,
    ns: &str,
    names: &[&str],
    pod_cidrs: &[&str],
) -> Vec<(String, Vec<IpAddr>)> {
    let pods: Vec<(String, Vec<IpAddr>)> = names
        .iter()
        .map(|name| {
            let id = node.run_pod(ns, name);
            let status = node.status(&id);
            let s = &status["status"];
            assert_eq!(s["id"], id.as_str(), "{status}");
            assert_eq!(s["metadata"]["name"], *name, "{status}");
            assert_eq!(s["metadata"]["namespace"], ns, "{status}");
            assert_eq!(s["state"], "SANDBOX_READY", "{status}");
            let addrs = status_addresses(&status);
            assert_eq!(addrs.len(), pod_cidrs.len(), "{status}");
            for (addr, cidr) in addrs.iter().zip(pod_cidrs) {
                assert!(in_cidr(*addr, cidr), "{addr} not in {cidr}: {status}");
            }
            assert_eq!(
                node.pod_addresses(&status),
                addrs.iter().copied().collect::<BTreeSet<_>>(),
                "the pod's eth0 does not carry what PodSandboxStatus reports"
            );
            (id, addrs)
        })
        .collect();
    let all: Vec<IpAddr> = pods.iter().flat_map(|(_, a)| a.clone()).collect();
    let distinct: BTreeSet<IpAddr> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "two live pods share an address: {pods:?}"
    );

    let held = allocations(node);
    for ((id, addrs), name) in pods.iter().zip(names) {
        for addr in addrs {
            assert_eq!(
                held.get(addr),
                Some(&(id.clone(), format!("{ns}/{name}"))),
                "podlease list does not name pod {ns}/{name} for {addr}: {held:?}"
            );
        }
    }
    pods
}

/// Stops then removes pod `id` as kubelet does; containerd sends DEL on each.
/// The first DEL releases; the second finds nothing and succeeds.
fn stop_and_remove(node: &Node, id: &str, addrs: &[IpAddr]) {
    node.call("StopPodSandbox", &json!({ "pod_sandbox_id": id }));
    assert_eq!(node.status(id)["status"]["state"], "SANDBOX_NOTREADY");
    let held = allocations(node);
    for addr in addrs {
        assert!(
            !held.contains_key(addr),
            "{addr} still held after StopPodSandbox: {held:?}"
        );
    }
    node.call("RemovePodSandbox", &json!({ "pod_sandbox_id": id }));
    assert!(
        node.cri("PodSandboxStatus", &json!({ "pod_sandbox_id": id }))
            .is_err()
    );
}

/// Each pod got one ADD and two DELs (StopPodSandbox, RemovePodSandbox), and
/// podlease succeeded on every one.
fn assert_add_then_two_dels(node: &Node, ids: &[String]) {
    let calls = node.plugin_calls();
    for call in &calls {
        assert_eq!(call.status, "0", "podlease failed a call: {calls:?}");
    }
    for id in ids {
        let of: Vec<&str> = calls
            .iter()
            .filter(|c| &c.container == id)
            .map(|c| c.command.as_str())
            .collect();
        assert_eq!(of, ["ADD", "DEL", "DEL"], "calls for {id}: {calls:?}");
    }
}

/// Stops the node; its processes, cgroups and files must all be gone.
fn stop_node(node: Node) {
    let cgroup = node.cgroup.clone();
    let dir = node.dir.path().to_path_buf();
    drop(node);
    for h in cgroup_hierarchies() {
        assert!(
            !h.join(&cgroup).exists(),
            "{} left behind",
            h.join(&cgroup).display()
        );
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

fn pod_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn containerd_runs_pods_on_the_rendered_template_and_releases_them() {
    let Some(node) = Node::start() else { return };
    let cidrs = ["10.244.3.0/24"];
    let rendered = configure_pod_cidrs(&node, &cidrs);
    assert_eq!(
        rendered["plugins"][0]["ipam"]["routes"][0]["dst"], "0.0.0.0/0",
        "{rendered}"
    );

    let names = pod_names("web", 4);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pods = run_pods(&node, "shop", &names, &cidrs);

    // The node reaches its pods through cni0.
    for (_, addrs) in &pods {
        node.in_node_netns(&["/bin/ping", "-c", "1", "-W", "5", &addrs[0].to_string()]);
    }

    // One pod goes; its address is released, the others keep theirs.
    let (gone_id, gone_addrs) = &pods[0];
    stop_and_remove(&node, gone_id, gone_addrs);
    let held = allocations(&node);
    assert_eq!(held.len(), pods.len() - 1, "{held:?}");

    // A new pod gets an address no live pod holds.
    let late = run_pods(&node, "shop", &["late-1"], &cidrs);
    for (_, addrs) in &pods[1..] {
        assert!(!addrs.contains(&late[0].1[0]), "{late:?} {pods:?}");
    }

    // Everything goes: nothing is held, nothing left in the data directory.
    let mut ids: Vec<String> = pods.iter().map(|(id, _)| id.clone()).collect();
    for (id, addrs) in pods[1..].iter().chain(&late) {
        stop_and_remove(&node, id, addrs);
    }
    ids.push(late[0].0.clone());
    assert!(allocations(&node).is_empty(), "{:?}", allocations(&node));
    assert_eq!(
        node.call("ListPodSandbox", &json!({}))["items"],
        json!([]),
        "containerd still lists pods"
    );
    let left: Vec<String> =
        common::host_local_files(&node.path("var-lib-cni/networks").join(NETWORK))
            .into_keys()
            .filter(|f| f.parse::<IpAddr>().is_ok())
            .collect();
    assert!(left.is_empty(), "address files left: {left:?}");
    assert_add_then_two_dels(&node, &ids);
    stop_node(node);
}

#[test]
fn containerd_dual_stack_pods_get_one_address_per_family() {
    let Some(node) = Node::start() else { return };
    let cidrs = ["10.244.5.0/24", "fd00:10:244:5::/64"];
    let rendered = configure_pod_cidrs(&node, &cidrs);
    let routes: Vec<&str> = rendered["plugins"][0]["ipam"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dst"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["0.0.0.0/0", "::/0"], "{rendered}");

    let names = pod_names("api", 3);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pods = run_pods(&node, "dual", &names, &cidrs);
    for (_, addrs) in &pods {
        assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
    }
    let ids: Vec<String> = pods.iter().map(|(id, _)| id.clone()).collect();
    for (id, addrs) in &pods {
        stop_and_remove(&node, id, addrs);
    }
    assert!(allocations(&node).is_empty(), "{:?}", allocations(&node));
    assert_add_then_two_dels(&node, &ids);
    stop_node(node);
}

#[test]
fn containerd_full_pod_cidr_fails_run_pod_sandbox_with_podleases_error() {
    let Some(node) = Node::start() else { return };
    // A /29: the gateway takes .1, so five pods fit.
    let cidrs = ["10.244.7.0/29"];
    configure_pod_cidrs(&node, &cidrs);
    let names = pod_names("batch", 5);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pods = run_pods(&node, "jobs", &names, &cidrs);
    let before = allocations(&node);
    assert_eq!(before.len(), 5, "{before:?}");

    // The sixth: kubelet gets podlease's error through containerd and the
    // bridge plugin; containerd sends DEL for the failed sandbox, which
    // takes nothing from the pods that hold addresses.
    let err = node
        .cri(
            "RunPodSandbox",
            &json!({ "config": {
                "metadata": { "name": "batch-6", "uid": "batch-6-uid", "namespace": "jobs", "attempt": 0 },
                "hostname": "batch-6",
                "log_directory": node.path("pods"),
                "linux": { "cgroup_parent": format!("/{}/podbatch-6", node.cgroup) },
            }}),
        )
        .expect_err("a sixth pod started in a full /29");
    assert!(
        err.contains("no free address in range set 0 (10.244.7.1-10.244.7.6)")
            && err.contains(NETWORK),
        "RunPodSandbox's error does not carry podlease's: {err}"
    );
    assert_eq!(
        allocations(&node),
        before,
        "the failed ADD changed the held addresses"
    );
    let calls = node.plugin_calls();
    let failed: Vec<&PluginCall> = calls.iter().filter(|c| c.status != "0").collect();
    assert!(
        failed.len() == 1 && failed[0].command == "ADD",
        "one failed ADD expected: {calls:?}"
    );
    let of_failed: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c.container == failed[0].container)
        .map(|c| (c.command.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(of_failed, [("ADD", "1"), ("DEL", "0")], "{calls:?}");
    assert_eq!(
        node.call("ListPodSandbox", &json!({}))["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // A pod goes; the retried pod gets its address.
    stop_and_remove(&node, &pods[0].0, &pods[0].1);
    let retried = run_pods(&node, "jobs", &["batch-6"], &cidrs);
    assert_eq!(retried[0].1, pods[0].1, "the only free address");
    for (id, addrs) in pods[1..].iter().chain(&retried) {
        stop_and_remove(&node, id, addrs);
    }
    assert!(allocations(&node).is_empty(), "{:?}", allocations(&node));
    stop_node(node);
}
