//! Shared harness for black-box tests: exec the built binary the way a runtime
//! does (environment + stdin), and find the reference plugins.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]
#![allow(clippy::disallowed_methods)] // tests read CI from their own environment

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The podlease binary under test: the one cargo built for this test run,
/// or `PODLEASE_TEST_BIN` (CI runs the suite again against the shipped
/// static musl build that way).
pub fn podlease() -> PathBuf {
    #[allow(clippy::disallowed_methods)] // a test harness setting, not plugin input
    std::env::var_os("PODLEASE_TEST_BIN")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_podlease")),
            PathBuf::from,
        )
}

/// Says that a test is skipped, visibly: written straight to the process's
/// stderr, which the test harness does not capture (it captures `eprintln!`,
/// so a skipped test would otherwise look like a silent pass).
pub fn skip(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIP: {why}");
}

/// Whether we run in CI, where every prerequisite must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Directory of Debian's reference plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// A reference plugin (host-local, bridge, ...). Under `CI=true` a missing one
/// fails the test; elsewhere the test prints a visible SKIP line and returns None.
pub fn reference_plugin(name: &str) -> Option<PathBuf> {
    let p = Path::new(CNI_BIN_DIR).join(name);
    if p.is_file() {
        return Some(p);
    }
    if in_ci() {
        panic!(
            "{} is missing: install Debian's containernetworking-plugins (CI requires it)",
            p.display()
        );
    }
    skip(&format!(
        "{} not installed (apt-get install containernetworking-plugins)",
        p.display()
    ));
    None
}

/// Whether we are root; under `CI=true`, not being root fails the test.
pub fn require_root() -> bool {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("1").to_owned())
        });
    if uid.as_deref() == Some("0") {
        return true;
    }
    if in_ci() {
        panic!("this test needs root, and CI runs as root");
    }
    skip("not root");
    false
}

/// One plugin invocation.
#[derive(Clone, Debug)]
pub struct Call {
    pub command: String,
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    pub args: Option<String>,
    pub path: String,
    pub extra_env: Vec<(String, String)>,
    pub stdin: Vec<u8>,
}

impl Call {
    /// A call with the Go tests' conventions: container `dummy`, `eth0`, a
    /// netns path that does not exist.
    pub fn new(command: &str, conf: &Value) -> Self {
        Self {
            command: command.into(),
            container_id: "dummy".into(),
            ifname: "eth0".into(),
            netns: "/some/where".into(),
            args: None,
            path: CNI_BIN_DIR.into(),
            extra_env: Vec::new(),
            stdin: serde_json::to_vec(conf).unwrap(),
        }
    }
    pub fn id(mut self, id: &str) -> Self {
        self.container_id = id.into();
        self
    }
    pub fn ifname(mut self, ifname: &str) -> Self {
        self.ifname = ifname.into();
        self
    }
    pub fn args(mut self, args: &str) -> Self {
        self.args = Some(args.into());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.extra_env.push((k.into(), v.into()));
        self
    }
    pub fn stdin_bytes(mut self, bytes: &[u8]) -> Self {
        self.stdin = bytes.to_vec();
        self
    }

    /// The command, ready to spawn (environment cleared, as a runtime's exec is explicit).
    pub fn command(&self, bin: &Path) -> Command {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("CNI_COMMAND", &self.command)
            .env("CNI_CONTAINERID", &self.container_id)
            .env("CNI_IFNAME", &self.ifname)
            .env("CNI_NETNS", &self.netns)
            .env("CNI_PATH", &self.path)
            // The reference skeleton refuses when CNI_NETNS is its own netns; we pass a fake path.
            .env("CNI_NETNS_OVERRIDE", "1");
        if let Some(a) = &self.args {
            cmd.env("CNI_ARGS", a);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `bin` with this call.
    pub fn run(&self, bin: &Path) -> Reply {
        let mut child = self.command(bin).spawn().expect("spawn plugin");
        // The plugin may exit before reading everything (VERSION); ignore EPIPE.
        let _ = child.stdin.take().unwrap().write_all(&self.stdin);
        Reply::from(child.wait_with_output().unwrap())
    }
}

/// What a plugin answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Reply {
    fn from(o: Output) -> Self {
        Self {
            status: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
    /// The stdout JSON; panics with the whole reply if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
    /// Asserts success and returns the result JSON.
    pub fn success(&self) -> Value {
        assert!(self.ok(), "expected success, got {self:?}");
        self.json()
    }
    /// Asserts success with empty stdout (DEL, CHECK, GC, STATUS).
    pub fn success_empty(&self) {
        assert!(
            self.ok() && self.stdout.is_empty(),
            "expected silent success, got {self:?}"
        );
    }
    /// Asserts a CNI error with `code`; returns its `msg`.
    pub fn error(&self, code: u64) -> String {
        assert_eq!(self.status, Some(1), "expected exit 1: {self:?}");
        let v = self.json();
        assert_eq!(v["code"].as_u64(), Some(code), "wrong code: {self:?}");
        v["msg"].as_str().expect("msg").to_owned()
    }
    /// The addresses (without prefix) of a 0.3+/1.x result.
    pub fn addresses(&self) -> Vec<String> {
        addresses_of(&self.success())
    }
}

/// The addresses (without prefix) in the `ips` of a 0.3+/1.x result.
pub fn addresses_of(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|e| e["address"].as_str())
                .map(|a| a.split('/').next().unwrap_or(a).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A network config with an ipam section for `plugin` (podlease or host-local).
pub fn conf(version: &str, name: &str, plugin: &str, ipam_extra: Value, data_dir: &Path) -> Value {
    let mut ipam = serde_json::json!({ "type": plugin, "dataDir": data_dir });
    if let (Some(m), Value::Object(extra)) = (ipam.as_object_mut(), ipam_extra) {
        m.extend(extra);
    }
    serde_json::json!({ "cniVersion": version, "name": name, "type": "bridge", "ipam": ipam })
}

/// Every regular file under `dir` (relative path → bytes), our `.podlease/` excluded.
pub fn host_local_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".podlease" || !e.path().is_file() {
                continue;
            }
            out.insert(name, std::fs::read(e.path()).unwrap_or_default());
        }
    }
    out
}

/// Every path under `root` (directories marked with a trailing `/`), with file
/// contents: a full snapshot to prove that a failing command changed nothing.
pub fn tree(root: &Path) -> std::collections::BTreeSet<(String, Option<Vec<u8>>)> {
    fn walk(
        base: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeSet<(String, Option<Vec<u8>>)>,
    ) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if p.is_dir() {
                out.insert((format!("{rel}/"), None));
                walk(base, &p, out);
            } else {
                out.insert((rel, Some(std::fs::read(&p).unwrap_or_default())));
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// A simulated boot of the node, for the reboot tests (root only): each
/// call runs in a private mount namespace (`unshare -m`) where files of
/// ours are bind-mounted over the kernel's boot id, `/proc/stat` (for
/// `btime`) and `/run` (whose birth time is the boot's reference). The
/// binary has no switch for any of this: it reads the real paths.
pub struct FakeBoot {
    dir: tempfile::TempDir,
    pub boot_id: PathBuf,
    pub stat: PathBuf,
    pub run: PathBuf,
    boots: usize,
}

/// Mounts `$1` over the boot id, `$2` over /proc/stat, `$3` over /run, then
/// execs the rest. PATH is given to mount only, not to the plugin.
const FAKE_BOOT_SCRIPT: &str = "P=/usr/sbin:/usr/bin:/sbin:/bin; \
    PATH=$P mount --bind \"$1\" /proc/sys/kernel/random/boot_id && \
    PATH=$P mount --bind \"$2\" /proc/stat && \
    PATH=$P mount --bind \"$3\" /run && shift 3 && exec \"$@\"";

impl FakeBoot {
    /// A node booted as `id` at `btime`; `None` (a visible SKIP) when not
    /// root, which fails under `CI=true`.
    pub fn new(id: &str, btime: i64) -> Option<Self> {
        if !require_root() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut b = Self {
            boot_id: dir.path().join("boot_id"),
            stat: dir.path().join("stat"),
            run: dir.path().join("run-0"),
            dir,
            boots: 0,
        };
        b.boot(id, btime);
        Some(b)
    }

    /// Simulates a boot: its id, its boot time, and a fresh `/run` born now.
    pub fn boot(&mut self, id: &str, btime: i64) {
        std::fs::write(&self.boot_id, format!("{id}\n")).unwrap();
        self.set_btime(btime);
        self.boots += 1;
        self.run = self.dir.path().join(format!("run-{}", self.boots));
        std::fs::create_dir(&self.run).unwrap();
    }

    /// Moves the boot time, as a clock step does.
    pub fn set_btime(&self, btime: i64) {
        std::fs::write(
            &self.stat,
            format!("cpu  1 2 3 4\nintr 5\nctxt 6\nbtime {btime}\nprocesses 7\n"),
        )
        .unwrap();
    }

    /// A boot id that cannot be read (an empty file).
    pub fn lose_boot_id(&self) {
        std::fs::write(&self.boot_id, "").unwrap();
    }

    /// `cmd` (program and environment set, stdio piped) run in this boot.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut w = Command::new("unshare");
        w.args([
            "-m",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            FAKE_BOOT_SCRIPT,
            "sh",
        ])
        .arg(&self.boot_id)
        .arg(&self.stat)
        .arg(&self.run)
        .arg(cmd.get_program())
        .args(cmd.get_args());
        w.env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                w.env(k, v);
            }
        }
        w.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        w
    }

    /// Runs a plugin call in this boot.
    pub fn run(&self, call: &Call, bin: &Path) -> Reply {
        let mut child = self
            .wrap(&call.command(bin))
            .spawn()
            .expect("spawn unshare");
        let _ = child.stdin.take().unwrap().write_all(&call.stdin);
        Reply::from(child.wait_with_output().unwrap())
    }

    /// Runs the operator command line in this boot.
    pub fn cli(&self, args: &[&str]) -> Reply {
        let mut cmd = Command::new(podlease());
        cmd.env_clear().args(args);
        let mut child = self.wrap(&cmd).spawn().expect("spawn unshare");
        drop(child.stdin.take());
        Reply::from(child.wait_with_output().unwrap())
    }
}

/// A tmpfs mounted on a fresh temporary directory for one test (root), for
/// full disks and read-only mounts; unmounted on drop (also when the test
/// fails), before the directory is removed.
pub struct Mount {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    pub fn scratch(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir_all(&path).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "podlease-test"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mount -t tmpfs -o {options} {}",
            path.display()
        );
        Self { path, _dir: dir }
    }

    pub fn remount(&self, options: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(st.success(), "mount -o remount,{options}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
