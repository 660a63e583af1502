//! A real etcd (Debian's etcd-server, 3.4) for cluster-pool tests: started on
//! free loopback ports with a temporary data directory, killed on drop. Under
//! `CI=true` a missing etcd fails the test; elsewhere it prints SKIP.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use podlease::pool::b64;
use serde_json::{Value, json};

use crate::common::{in_ci, skip};

/// Where Debian installs etcd.
pub const ETCD_BIN: &str = "/usr/bin/etcd";

/// A free loopback port (bound, then released for etcd to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The etcd binary, or None (SKIP) outside CI.
pub fn etcd_bin() -> Option<PathBuf> {
    let p = PathBuf::from(ETCD_BIN);
    if p.is_file() {
        return Some(p);
    }
    if in_ci() {
        panic!("{ETCD_BIN} is missing: install Debian's etcd-server (CI requires it)");
    }
    skip(&format!(
        "{ETCD_BIN} not installed (apt-get install etcd-server)"
    ));
    None
}

/// One etcd server.
pub struct Etcd {
    bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub client_port: u16,
    peer_port: u16,
    extra: Vec<String>,
    scheme: &'static str,
    /// Runs inside this network namespace, listening on this address.
    netns: Option<(String, String)>,
    child: Option<Child>,
}

impl Etcd {
    /// Starts a plain-HTTP etcd, or None when etcd is not installed (outside CI).
    pub fn start() -> Option<Self> {
        Self::start_with(Vec::new(), "http", None)
    }

    /// Starts etcd with extra flags and a scheme for its client URL;
    /// `ready` checks it answers (default: a plain range).
    pub fn start_with(
        extra: Vec<String>,
        scheme: &'static str,
        dir: Option<tempfile::TempDir>,
    ) -> Option<Self> {
        let bin = etcd_bin()?;
        let mut e = Self {
            bin,
            dir: dir.unwrap_or_else(|| tempfile::tempdir().unwrap()),
            client_port: free_port(),
            peer_port: free_port(),
            extra,
            scheme,
            netns: None,
            child: None,
        };
        e.spawn();
        if scheme == "http" {
            e.wait_ready();
        }
        Some(e)
    }

    /// Starts a plain-HTTP etcd inside network namespace `ns`, listening on
    /// `ip` there (the caller waits for it: this process cannot reach it).
    pub fn start_in_netns(ns: &str, ip: &str) -> Option<Self> {
        let bin = etcd_bin()?;
        let mut e = Self {
            bin,
            dir: tempfile::tempdir().unwrap(),
            client_port: 2379,
            peer_port: 2380,
            extra: Vec::new(),
            scheme: "http",
            netns: Some((ns.to_owned(), ip.to_owned())),
            child: None,
        };
        e.spawn();
        Some(e)
    }

    fn host(&self) -> &str {
        self.netns
            .as_ref()
            .map_or("127.0.0.1", |(_, ip)| ip.as_str())
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host(), self.client_port)
    }

    fn spawn(&mut self) {
        let client = self.url();
        let peer = format!("http://{}:{}", self.host(), self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let mut cmd = match &self.netns {
            Some((ns, _)) => {
                let mut c = Command::new("/usr/bin/ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let child = cmd
            .arg("--name=n")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=n={peer}"))
            .arg("--log-level=warn")
            .args(&self.extra)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits until a range answers.
    pub fn wait_ready(&self) {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if self
                .try_post("/v3/kv/range", &json!({"key": "AA=="}))
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        panic!("etcd did not come up on {}: {log}", self.url());
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same data directory and ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready();
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -{sig}");
        }
    }

    /// SIGSTOP: connections are accepted by the kernel, nothing answers.
    pub fn stop(&self) {
        self.signal("STOP");
    }

    /// SIGCONT.
    pub fn cont(&self) {
        self.signal("CONT");
    }

    /// One plain-HTTP POST; None if etcd does not answer 200.
    pub fn try_post(&self, path: &str, body: &Value) -> Option<Value> {
        post(self.client_port, path, body)
    }

    /// Every key under `prefix` with value and create revision.
    pub fn dump(&self, prefix: &str) -> Vec<(String, Value, i64)> {
        let end = podlease::pool::etcd::prefix_end(prefix.as_bytes());
        let r = self
            .try_post(
                "/v3/kv/range",
                &json!({"key": b64::encode(prefix.as_bytes()), "range_end": b64::encode(&end)}),
            )
            .expect("etcd range");
        r.get("kvs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|kv| {
                let key =
                    String::from_utf8(b64::decode(kv["key"].as_str().unwrap()).unwrap()).unwrap();
                let value = kv
                    .get("value")
                    .and_then(Value::as_str)
                    .map(|v| b64::decode(v).unwrap())
                    .unwrap_or_default();
                let value = serde_json::from_slice(&value).unwrap_or(Value::Null);
                let rev = kv["create_revision"].as_str().unwrap().parse().unwrap();
                (key, value, rev)
            })
            .collect()
    }

    /// Deletes one key (test set-up of odd states).
    pub fn delete(&self, key: &str) {
        self.try_post(
            "/v3/kv/deleterange",
            &json!({"key": b64::encode(key.as_bytes())}),
        )
        .expect("etcd delete");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped etcd must be continued to die cleanly.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(c.id().to_string())
                .status();
        }
        self.kill();
    }
}

/// A plain HTTP/1.0 POST to 127.0.0.1:`port`; None unless 200.
pub fn post(port: u16, path: &str, body: &Value) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

/// Path of a node's block record.
pub fn blocks_file(data_dir: &Path, network: &str) -> PathBuf {
    data_dir
        .join(network)
        .join(".podlease")
        .join("pool-blocks.json")
}
