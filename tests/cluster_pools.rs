//! Cluster pools against a real etcd (Debian's etcd-server 3.4, started by
//! each test on free loopback ports): many nodes (separate processes of the
//! real binary, each with its own nodeName and dataDir) claim blocks of one
//! pool; no address and no block is ever held twice, etcd and the nodes'
//! local records agree, and etcd failures surface as code 11 with nothing
//! written locally.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;
mod etcd_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Call, Reply, conf};
use etcd_support::{Etcd, blocks_file};
use ipnetwork::IpNetwork;
use podlease::pool::keys::{block_hex, pool_key};
use serde_json::{Value, json};

const NET: &str = "podnet";

/// A node's local block record: (cidr, claimRev, state).
type Blocks = Vec<(IpNetwork, i64, String)>;
const PREFIX: &str = "/podlease";

/// One simulated node: its own name and data directory.
struct Node {
    name: String,
    data_dir: PathBuf,
    endpoint: String,
    pool: String,
    block_size: u8,
    extra: Value,
}

impl Node {
    fn new(root: &Path, name: &str, endpoint: &str, pool: &str, block_size: u8) -> Self {
        Self {
            name: name.into(),
            data_dir: root.join(name),
            endpoint: endpoint.into(),
            pool: pool.into(),
            block_size,
            extra: json!({}),
        }
    }

    fn conf(&self) -> Value {
        let mut pool = json!({"cidr": self.pool, "blockSize": self.block_size});
        if let (Some(p), Some(e)) = (pool.as_object_mut(), self.extra.get("pool")) {
            p.extend(e.as_object().unwrap().clone());
        }
        // A budget that tolerates a loaded CI machine; tests that expect
        // code 11 from a dead or stopped etcd set a short one.
        let mut etcd = json!({"endpoints": [self.endpoint], "timeoutSeconds": 10});
        if let (Some(p), Some(e)) = (etcd.as_object_mut(), self.extra.get("etcd")) {
            p.extend(e.as_object().unwrap().clone());
        }
        conf(
            "1.1.0",
            NET,
            "podlease",
            json!({"nodeName": self.name, "pools": [pool], "etcd": etcd}),
            &self.data_dir,
        )
    }

    fn call(&self, command: &str, id: &str) -> Reply {
        Call::new(command, &self.conf())
            .id(id)
            .run(&common::podlease())
    }

    fn add(&self, id: &str) -> Reply {
        self.call("ADD", id)
    }

    /// The local block record: (cidr, claimRev, state).
    fn blocks(&self) -> Blocks {
        let Ok(text) = std::fs::read_to_string(blocks_file(&self.data_dir, NET)) else {
            return Vec::new();
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["cidr"].as_str().unwrap().parse().unwrap(),
                    b["claimRev"].as_i64().unwrap(),
                    b["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// Every address with a reservation file.
    fn addresses(&self) -> Vec<IpAddr> {
        let Ok(rd) = std::fs::read_dir(self.data_dir.join(NET)) else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect()
    }

    /// What a failed ADD must leave alone: address files, cursors, blocks.
    fn snapshot(&self) -> (BTreeMap<String, Vec<u8>>, Blocks) {
        let mut files = common::host_local_files(&self.data_dir.join(NET));
        // Every operation creates the lock file it takes (host-local too).
        files.remove("lock");
        (files, self.blocks())
    }
}

fn contains(net: IpNetwork, ip: IpAddr) -> bool {
    net.contains(ip)
}

/// The invariants of the design (docs/cluster-pools.md):
/// (a) every address is held once, inside an active block of its node;
/// (b) the nodes' local blocks are pairwise disjoint;
/// (c) each local block is in etcd, owned by that node, created at its claimRev;
/// (d) every etcd block is aligned, of the pool's size, inside the pool;
/// (e) the per-node index matches the block keys exactly.
fn check_invariants(etcd: &Etcd, nodes: &[Node]) {
    let pool: IpNetwork = nodes[0].pool.parse().unwrap();
    let size = nodes[0].block_size;
    let pk = pool_key(pool);
    // (a)
    let mut seen: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for n in nodes {
        let blocks = n.blocks();
        for ip in n.addresses() {
            if let Some(other) = seen.insert(ip, &n.name) {
                panic!("{ip} is held by {other} and {}", n.name);
            }
            assert!(
                blocks
                    .iter()
                    .any(|(b, _, s)| s == "active" && contains(*b, ip)),
                "{ip} of {} is outside its active blocks {blocks:?}",
                n.name
            );
        }
    }
    // (b)
    let mut all: Vec<(IpNetwork, &str)> = Vec::new();
    for n in nodes {
        for (b, _, _) in n.blocks() {
            if let Some((o, who)) = all
                .iter()
                .find(|(o, _)| o.contains(b.ip()) || b.contains(o.ip()))
            {
                panic!("block {b} of {} overlaps {o} of {who}", n.name);
            }
            all.push((b, &n.name));
        }
    }
    // (c)
    let dump = etcd.dump(&format!("{PREFIX}/"));
    let by_key: BTreeMap<&str, (&Value, i64)> =
        dump.iter().map(|(k, v, r)| (k.as_str(), (v, *r))).collect();
    for n in nodes {
        for (b, rev, _) in n.blocks() {
            let key = format!("{PREFIX}/pools/{pk}/blocks/{}", block_hex(b));
            let (v, created) = by_key
                .get(key.as_str())
                .unwrap_or_else(|| panic!("{}'s block {b} is not in etcd", n.name));
            assert_eq!(v["node"], json!(n.name), "{key}: {v}");
            assert_eq!(*created, rev, "{key}: claimRev of {}", n.name);
        }
    }
    // (d) and (e)
    let block_prefix = format!("{PREFIX}/pools/{pk}/blocks/");
    let mut from_blocks = BTreeSet::new();
    for (k, v, _) in &dump {
        let Some(hex) = k.strip_prefix(&block_prefix) else {
            continue;
        };
        let cidr: IpNetwork = v["cidr"].as_str().unwrap().parse().unwrap();
        assert_eq!(cidr.prefix(), size, "{k}: {v}");
        assert_eq!(cidr.network(), cidr.ip(), "{k} not aligned: {v}");
        assert!(pool.contains(cidr.ip()), "{k} outside the pool: {v}");
        assert_eq!(block_hex(cidr), hex, "{k}: {v}");
        from_blocks.insert((v["node"].as_str().unwrap().to_owned(), hex.to_owned()));
    }
    let mut from_index = BTreeSet::new();
    for (k, _, _) in &dump {
        let Some(rest) = k.strip_prefix(&format!("{PREFIX}/nodes/")) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if let [node, "blocks", p, hex] = parts.as_slice() {
            assert_eq!(*p, pk);
            from_index.insert(((*node).to_owned(), (*hex).to_owned()));
        }
    }
    assert_eq!(from_blocks, from_index, "index and blocks differ");
}

/// The CNI error code of a failed reply.
fn code(r: &Reply) -> Option<u64> {
    if r.ok() {
        return None;
    }
    r.json()["code"].as_u64()
}

#[test]
fn fifty_nodes_claim_concurrently_without_overlap() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let nodes: Vec<Node> = (0..50)
        .map(|i| {
            Node::new(
                root.path(),
                &format!("node-{i:02}"),
                &etcd.url(),
                "10.244.0.0/16",
                28,
            )
        })
        .map(|mut n| {
            n.extra = json!({"etcd": {"timeoutSeconds": 10}});
            n
        })
        .collect();
    // A /28 block has 13 addresses for pods: 30 ADDs need 3 blocks.
    const ADDS: usize = 30;
    let barrier = Barrier::new(nodes.len());
    let results: Vec<Vec<IpAddr>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (0..ADDS)
                        .map(|i| {
                            let r = n.add(&format!("c{i}"));
                            r.addresses()[0].parse::<IpAddr>().unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<IpAddr> = results.iter().flatten().copied().collect();
    let distinct: BTreeSet<&IpAddr> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "an address was handed out twice");
    for n in &nodes {
        assert_eq!(n.blocks().len(), 3, "{}: {:?}", n.name, n.blocks());
    }
    check_invariants(&etcd, &nodes);
}

/// A tiny deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn etcd_killed_restarted_and_stopped_during_claims() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let url = etcd.url();
    let root = tempfile::tempdir().unwrap();
    let mut nodes: Vec<Node> = (0..12)
        .map(|i| Node::new(root.path(), &format!("n{i}"), &url, "10.244.0.0/16", 29))
        .map(|mut n| {
            n.extra = json!({"etcd": {"timeoutSeconds": 2}});
            n
        })
        .collect();
    let done = AtomicBool::new(false);
    let (etcd, ok, unavailable) = std::thread::scope(|s| {
        // Ends the chaos even when a node's thread panics.
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let done_guard = Done(&done);
        let done = &done;
        let chaos = s.spawn(move || {
            let mut rng = Lcg(7);
            let mut round = 0;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100 + rng.next(300)));
                if round % 2 == 0 {
                    etcd.kill();
                    std::thread::sleep(Duration::from_millis(200 + rng.next(1000)));
                    etcd.restart();
                } else {
                    etcd.stop();
                    std::thread::sleep(Duration::from_millis(300 + rng.next(1200)));
                    etcd.cont();
                }
                round += 1;
            }
            (etcd, round)
        });
        let handles: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(k, n)| {
                s.spawn(move || {
                    let mut rng = Lcg(k as u64 + 1);
                    let (mut ok, mut unavailable) = (0, 0);
                    for i in 0..24 {
                        let id = format!("c{i}");
                        if i % 6 == 5 {
                            // A plugin killed at a random moment (maybe between
                            // etcd's commit and its local write).
                            let call = Call::new("ADD", &n.conf()).id(&id);
                            let mut child = call.command(&common::podlease()).spawn().unwrap();
                            child.stdin.take().unwrap().write_all(&call.stdin).unwrap();
                            std::thread::sleep(Duration::from_millis(rng.next(30)));
                            let _ = child.kill();
                            let _ = child.wait();
                            continue;
                        }
                        let before = n.snapshot();
                        let r = n.add(&id);
                        match code(&r) {
                            None => ok += 1,
                            Some(11) => {
                                unavailable += 1;
                                assert_eq!(
                                    n.snapshot(),
                                    before,
                                    "code 11 changed local state: {r:?}"
                                );
                            }
                            Some(c) => panic!("{}: ADD {id}: unexpected code {c}: {r:?}", n.name),
                        }
                    }
                    (ok, unavailable)
                })
            })
            .collect();
        let counts: Vec<(usize, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        drop(done_guard);
        let (etcd, rounds) = chaos.join().unwrap();
        assert!(rounds > 0, "the chaos thread never acted");
        let (ok, unavailable) = counts.iter().fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        (etcd, ok, unavailable)
    });
    eprintln!("during chaos: {ok} ADDs succeeded, {unavailable} returned 11");
    assert!(ok > 0, "no ADD succeeded at all");
    // Recovery: etcd runs again; every node can allocate, adopting what it
    // lost (with a budget that tolerates a loaded CI machine).
    for n in &mut nodes {
        n.extra = json!({"etcd": {"timeoutSeconds": 20}});
        n.add("after").addresses();
    }
    check_invariants(&etcd, &nodes);
}

/// A proxy in front of etcd that can forward one claim and then drop the
/// connection instead of relaying etcd's answer: the claim commits, the
/// plugin never hears of it.
struct Proxy {
    port: u16,
    drop_next_claim: Arc<AtomicBool>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8(body).ok()?))
}

impl Proxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let drop_next_claim = Arc::new(AtomicBool::new(false));
        let flag = drop_next_claim.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let flag = flag.clone();
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    while let Some((path, body)) = read_request(&mut r) {
                        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let answer = etcd_support::post(upstream, &path, &value);
                        // The claim txn is the one with three puts (block, index, node info).
                        let is_claim = body.matches("request_put").count() == 3;
                        if is_claim && flag.swap(false, Ordering::SeqCst) {
                            return; // committed in etcd; the answer is lost
                        }
                        let Some(answer) = answer else { return };
                        let text = answer.to_string();
                        let _ = write!(
                            w,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                            text.len()
                        );
                    }
                });
            }
        });
        Self {
            port,
            drop_next_claim,
        }
    }
}

#[test]
fn a_claim_whose_answer_was_lost_is_adopted_not_duplicated() {
    let Some(etcd) = Etcd::start() else { return };
    let proxy = Proxy::start(etcd.client_port);
    let root = tempfile::tempdir().unwrap();
    let n = Node::new(
        root.path(),
        "node-a",
        &format!("http://127.0.0.1:{}", proxy.port),
        "10.244.0.0/16",
        26,
    );
    proxy.drop_next_claim.store(true, Ordering::SeqCst);
    let r = n.add("c1");
    let msg = r.error(11);
    assert!(msg.contains("etcd"), "{msg}");
    assert!(
        n.blocks().is_empty(),
        "a block was recorded without etcd's answer"
    );
    assert!(n.addresses().is_empty());
    let in_etcd: Vec<(String, Value, i64)> = etcd
        .dump(&format!("{PREFIX}/pools/"))
        .into_iter()
        .filter(|(k, _, _)| k.contains("/blocks/"))
        .collect();
    assert_eq!(in_etcd.len(), 1, "the claim did commit: {in_etcd:?}");
    let committed: IpNetwork = in_etcd[0].1["cidr"].as_str().unwrap().parse().unwrap();

    // The next ADD adopts that block instead of claiming a second one.
    let ip: IpAddr = n.add("c2").addresses()[0].parse().unwrap();
    assert!(
        committed.contains(ip),
        "{ip} is not from the adopted {committed}"
    );
    assert_eq!(n.blocks().len(), 1, "{:?}", n.blocks());
    assert_eq!(n.blocks()[0].0, committed);
    assert_eq!(
        n.blocks()[0].1,
        in_etcd[0].2,
        "claimRev is the key's create revision"
    );
    let blocks_now = etcd
        .dump(&format!("{PREFIX}/pools/"))
        .into_iter()
        .filter(|(k, _, _)| k.contains("/blocks/"))
        .count();
    assert_eq!(blocks_now, 1);
    check_invariants(&etcd, &[n]);
}

#[test]
fn same_node_name_on_two_hosts_and_wiped_state_are_refused() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let a = Node::new(root.path(), "node-a", &etcd.url(), "10.244.0.0/16", 26);
    a.add("c1").addresses();
    // Another host (its own data directory) calling itself node-a.
    let mut twin = Node::new(root.path(), "node-a", &etcd.url(), "10.244.0.0/16", 26);
    twin.data_dir = root.path().join("twin");
    let msg = twin.add("c1").error(7);
    assert!(
        msg.contains("node-a") && msg.contains("release-node"),
        "{msg}"
    );
    assert!(twin.blocks().is_empty());
    // The same host after its state was wiped: a new identity, refused too.
    #[allow(clippy::disallowed_methods)] // a test's own temporary directory
    std::fs::remove_dir_all(&a.data_dir).unwrap();
    let msg = a.add("c2").error(7);
    assert!(msg.contains("release-node"), "{msg}");
    assert!(a.blocks().is_empty());
}

#[test]
fn pool_geometry_mismatch_is_refused_naming_both() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    Node::new(root.path(), "a", &etcd.url(), "10.244.0.0/16", 26)
        .add("c1")
        .addresses();
    let b = Node::new(root.path(), "b", &etcd.url(), "10.244.0.0/16", 27);
    let msg = b.add("c1").error(7);
    assert!(
        msg.contains("\"blockSize\":26") && msg.contains("\"blockSize\":27"),
        "{msg}"
    );
    assert!(b.blocks().is_empty());
}

#[test]
fn held_blocks_serve_while_etcd_is_down_and_a_claim_then_fails_with_11() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut n = Node::new(root.path(), "a", &etcd.url(), "10.244.0.0/16", 28);
    n.extra = json!({"etcd": {"timeoutSeconds": 2}});
    let first = n.add("c0").success();
    etcd.kill();
    // 12 more addresses come from the held /28 without etcd.
    for i in 1..13 {
        n.add(&format!("c{i}")).addresses();
    }
    n.call("DEL", "c1").success_empty();
    n.add("c1").addresses();
    let mut check = n.conf();
    check["prevResult"] = first;
    Call::new("CHECK", &check)
        .id("c0")
        .run(&common::podlease())
        .success_empty();
    // The block is full: the next ADD needs etcd, which is down.
    let before = n.snapshot();
    let msg = n.add("c13").error(11);
    assert!(msg.contains(&etcd.url()), "{msg}");
    assert_eq!(n.snapshot(), before, "code 11 wrote local state");
    // STATUS does not ask etcd: the node may still grow, so it is available.
    n.call("STATUS", "x").success_empty();

    // A stopped etcd (accepts, never answers) gives 11 too, within the budget.
    etcd.restart();
    etcd.stop();
    let msg = n.add("c13").error(11);
    assert!(msg.contains("did not answer"), "{msg}");
    assert_eq!(n.snapshot(), before);
    etcd.cont();
    n.add("c13").addresses();
    assert_eq!(n.blocks().len(), 2);
    check_invariants(&etcd, &[n]);
}

#[test]
fn exhausted_pool_and_block_cap_give_the_exhaustion_code() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    // A /26 pool of /28 blocks: four blocks.
    let nodes: Vec<Node> = (0..4)
        .map(|i| {
            Node::new(
                root.path(),
                &format!("n{i}"),
                &etcd.url(),
                "10.99.0.0/26",
                28,
            )
        })
        .collect();
    for n in &nodes {
        n.add("c0").addresses();
    }
    let late = Node::new(root.path(), "late", &etcd.url(), "10.99.0.0/26", 28);
    let msg = late.add("c0").error(100);
    assert!(msg.contains("no free /28 block"), "{msg}");
    check_invariants(&etcd, &nodes);

    let mut capped = Node::new(root.path(), "capped", &etcd.url(), "10.98.0.0/16", 28);
    capped.extra = json!({"pool": {"maxBlocks": 1}});
    for i in 0..13 {
        capped.add(&format!("c{i}")).addresses();
    }
    let msg = capped.add("c13").error(100);
    assert!(msg.contains("maxBlocks"), "{msg}");
    // STATUS: the node cannot grow and its block is full.
    let msg = capped.call("STATUS", "x").error(50);
    assert!(msg.contains("no free address"), "{msg}");
}

#[test]
fn a_pool_with_a_link_local_gateway_hands_out_the_first_host_address() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    // One /28 block: 14 host addresses, all allocatable, since the gateway
    // is 169.254.1.1 (13 with the default gateway, the block's first host).
    let mut n = Node::new(root.path(), "gw", &etcd.url(), "10.97.0.0/16", 28);
    n.extra = json!({"pool": {"gateway": "169.254.1.1", "maxBlocks": 1}});
    let mut got = BTreeSet::new();
    for i in 0..14 {
        let reply = n.add(&format!("c{i}"));
        // Every pool key is known: none is warned about as a typo.
        assert!(!reply.stderr.contains("unknown key"), "{reply:?}");
        let r = reply.success();
        assert_eq!(r["ips"][0]["gateway"], "169.254.1.1", "{r}");
        let addr = r["ips"][0]["address"].as_str().unwrap().to_owned();
        assert!(addr.ends_with("/28"), "{r}");
        got.insert(addr.split('/').next().unwrap().parse::<IpAddr>().unwrap());
        if i == 12 {
            // `pool show` counts the first host address as free, not as a gateway.
            let show = cli(&n, &["--json", "pool", "show"]);
            let v: Value = serde_json::from_str(&show.stdout).unwrap();
            assert_eq!(
                (v[0]["used"].as_u64(), v[0]["free"].as_u64()),
                (Some(13), Some(1)),
                "{v}"
            );
        }
    }
    let blocks = n.blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let block = blocks[0].0;
    let IpAddr::V4(net) = block.network() else {
        panic!("{block} is not IPv4")
    };
    let first_host = IpAddr::V4((u32::from(net) + 1).into());
    assert!(got.contains(&first_host), "{first_host} not in {got:?}");
    assert_eq!(got.len(), 14);
    assert!(got.iter().all(|ip| contains(block, *ip)));
    let msg = n.add("c14").error(100);
    assert!(msg.contains("maxBlocks"), "{msg}");
    check_invariants(&etcd, std::slice::from_ref(&n));
}

#[test]
fn pools_with_ranges_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = conf(
        "1.0.0",
        NET,
        "podlease",
        json!({
            "pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}],
            "ranges": [[{"subnet": "10.1.0.0/24"}]],
            "nodeName": "a",
            "etcd": {"endpoints": ["http://127.0.0.1:1"]},
        }),
        dir.path(),
    );
    let msg = Call::new("ADD", &cfg).run(&common::podlease()).error(7);
    assert!(
        msg.contains("ipam.pools") && msg.contains("ipam.ranges"),
        "{msg}"
    );
    for (ipam, field) in [
        (
            json!({"pools": [{"cidr": "10.244.0.0/16", "blockSize": 31}], "nodeName": "a",
                "etcd": {"endpoints": ["http://127.0.0.1:1"]}}),
            "blockSize",
        ),
        (
            json!({"pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}], "nodeName": "a"}),
            "ipam.etcd",
        ),
        (
            json!({"pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}], "nodeName": "a/b",
                "etcd": {"endpoints": ["http://127.0.0.1:1"]}}),
            "nodeName",
        ),
        (
            json!({"pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}], "nodeName": "a",
                "etcd": {"endpoints": ["127.0.0.1:2379"]}}),
            "endpoints",
        ),
    ] {
        let cfg = conf("1.0.0", NET, "podlease", ipam, dir.path());
        let msg = Call::new("ADD", &cfg).run(&common::podlease()).error(7);
        assert!(msg.contains(field), "{field}: {msg}");
    }
}

/// Runs the operator CLI with the network's config file.
fn cli(n: &Node, args: &[&str]) -> Reply {
    let conf_file = n.data_dir.with_extension("conf");
    std::fs::write(&conf_file, serde_json::to_vec(&n.conf()).unwrap()).unwrap();
    let out = std::process::Command::new(common::podlease())
        .env_clear()
        .arg("--config")
        .arg(&conf_file)
        .arg("--data-dir")
        .arg(&n.data_dir)
        .args(args)
        .output()
        .unwrap();
    Reply::from(out)
}

#[test]
fn operator_commands_show_routes_gc_and_release_node() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut a = Node::new(root.path(), "a", &etcd.url(), "10.244.0.0/16", 28);
    let b = Node::new(root.path(), "b", &etcd.url(), "10.244.0.0/16", 28);
    a.extra = json!({"pool": {"releaseAfterSeconds": 0, "minBlocks": 1}});
    let with_address = |n: &Node, addr: &str| {
        let mut c = n.conf();
        c["ipam"]["nodeAddresses"] = json!([addr]);
        c
    };
    // 14 addresses need two /28 blocks on a; one on b.
    for i in 0..14 {
        let r = Call::new("ADD", &with_address(&a, "192.168.1.10"))
            .id(&format!("c{i}"))
            .run(&common::podlease());
        r.addresses();
    }
    Call::new("ADD", &with_address(&b, "192.168.1.11"))
        .id("c0")
        .run(&common::podlease())
        .addresses();
    assert_eq!(a.blocks().len(), 2);

    let show = cli(&a, &["--json", "pool", "show"]);
    assert!(show.ok(), "{show:?}");
    let blocks: Value = serde_json::from_str(&show.stdout).unwrap();
    let blocks = blocks.as_array().unwrap();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let used: u64 = blocks
        .iter()
        .filter(|b| b["node"] == "a")
        .map(|b| b["used"].as_u64().unwrap())
        .sum();
    assert_eq!(used, 14);

    let nodes = cli(&a, &["pool", "nodes"]);
    assert!(
        nodes.ok() && nodes.stdout.contains("192.168.1.11"),
        "{nodes:?}"
    );

    let routes = cli(&a, &["pool", "routes"]);
    assert!(routes.ok(), "{routes:?}");
    let b_block = b.blocks()[0].0;
    assert_eq!(routes.stdout.trim(), format!("{b_block} via 192.168.1.11"));

    // Empty the second block; gc gives it back (releaseAfterSeconds 0) and keeps the first.
    let second = a.blocks()[1].0;
    for i in 0..14 {
        let id = format!("c{i}");
        let r = n_ip(&a, &id);
        if second.contains(r) {
            a.call("DEL", &id).success_empty();
        }
    }
    let gc = cli(&a, &["pool", "gc"]);
    assert!(
        gc.ok() && gc.stdout.contains(&format!("{second}  released")),
        "{gc:?}"
    );
    assert_eq!(a.blocks().len(), 1);
    assert!(!a.blocks().iter().any(|(c, _, _)| *c == second));
    check_invariants(&etcd, &[a, b]);

    // release-node needs --force, then fences b and frees its block.
    let b = Node::new(root.path(), "b", &etcd.url(), "10.244.0.0/16", 28);
    let refused = cli(&b, &["pool", "release-node", "b"]);
    assert_eq!(refused.status, Some(2), "{refused:?}");
    let released = cli(&b, &["pool", "release-node", "b", "--force"]);
    assert!(
        released.ok() && released.stdout.contains(&b_block.to_string()),
        "{released:?}"
    );
    assert!(etcd.dump(&format!("{PREFIX}/nodes/b/")).is_empty());
    // b still holds its block locally; once it is full, its claim is refused.
    for i in 1..13 {
        b.add(&format!("c{i}")).addresses();
    }
    let msg = b.add("c13").error(7);
    assert!(msg.contains("decommissioned"), "{msg}");
    assert!(
        etcd.dump(&format!("{PREFIX}/nodes/b/")).is_empty(),
        "a fenced node re-registered"
    );
}

/// The address `id` holds on node `n` (from its reservation files).
fn n_ip(n: &Node, id: &str) -> IpAddr {
    n.addresses()
        .into_iter()
        .find(|ip| {
            std::fs::read_to_string(n.data_dir.join(NET).join(ip.to_string()))
                .unwrap()
                .starts_with(&format!("{id}\r\n"))
        })
        .unwrap()
}

/// A tool the test needs; under CI its absence fails the test.
fn tool(path: &str, package: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        return Some(p);
    }
    if common::in_ci() {
        panic!("{path} is missing: install Debian's {package} (CI requires it)");
    }
    common::skip(&format!("{path} not installed (apt-get install {package})"));
    None
}

fn run_ok(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// ADD until etcd answers (it starts in the background), for https etcd.
fn add_when_up(n: &Node, id: &str) -> Reply {
    for _ in 0..100 {
        let r = n.add(id);
        if code(&r) != Some(11) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    n.add(id)
}

#[test]
fn tls_with_a_private_ca_and_client_certificates() {
    let Some(openssl) = tool("/usr/bin/openssl", "openssl") else {
        return;
    };
    if etcd_support::etcd_bin().is_none() {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let p = |f: &str| pki.path().join(f);
    let ossl = || {
        let mut c = std::process::Command::new(&openssl);
        c.current_dir(pki.path());
        c
    };
    run_ok(ossl().args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=podlease-test-ca",
    ]));
    // With --client-cert-auth etcd's gateway dials etcd with the server
    // certificate as a client certificate: it needs both usages.
    std::fs::write(
        p("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    std::fs::write(p("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [("server", "etcd"), ("client", "node-a")] {
        run_ok(ossl().args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]));
        run_ok(ossl().args([
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
        ]));
    }
    let s = |f: &str| p(f).display().to_string();
    let etcd = Etcd::start_with(
        vec![
            format!("--cert-file={}", s("server.pem")),
            format!("--key-file={}", s("server.key")),
            "--client-cert-auth".into(),
            format!("--trusted-ca-file={}", s("ca.pem")),
        ],
        "https",
        None,
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut n = Node::new(root.path(), "node-a", &etcd.url(), "10.244.0.0/16", 26);
    n.extra = json!({"etcd": {"caFile": s("ca.pem"), "certFile": s("client.pem"), "keyFile": s("client.key")}});
    let ip = add_when_up(&n, "c1").addresses();
    assert_eq!(ip.len(), 1);
    assert_eq!(n.blocks().len(), 1);

    // Without a client certificate the server refuses the handshake.
    let mut anon = Node::new(root.path(), "node-b", &etcd.url(), "10.244.0.0/16", 26);
    anon.extra = json!({"etcd": {"caFile": s("ca.pem")}});
    assert!(!anon.add("c1").ok());
    assert!(anon.blocks().is_empty());
    // Without the private CA the server is not trusted.
    let mut untrusting = Node::new(root.path(), "node-c", &etcd.url(), "10.244.0.0/16", 26);
    untrusting.extra = json!({"etcd": {"certFile": s("client.pem"), "keyFile": s("client.key")}});
    assert!(!untrusting.add("c1").ok());
    assert!(untrusting.blocks().is_empty());
}

#[test]
fn username_and_password_authentication() {
    let Some(etcdctl) = tool("/usr/bin/etcdctl", "etcd-client") else {
        return;
    };
    let Some(etcd) = Etcd::start() else { return };
    let ctl = |args: &[&str]| {
        run_ok(
            std::process::Command::new(&etcdctl)
                .env_clear()
                .env("ETCDCTL_API", "3")
                .arg(format!("--endpoints={}", etcd.url()))
                .args(args),
        );
    };
    ctl(&["user", "add", "root:rootpw"]);
    ctl(&["user", "add", "podlease:s3cret"]);
    ctl(&["role", "add", "podlease"]);
    ctl(&[
        "role",
        "grant-permission",
        "podlease",
        "--prefix=true",
        "readwrite",
        "/podlease/",
    ]);
    ctl(&["user", "grant-role", "podlease", "podlease"]);
    ctl(&["auth", "enable"]);
    let root = tempfile::tempdir().unwrap();
    let pw = root.path().join("password");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let mut n = Node::new(root.path(), "node-a", &etcd.url(), "10.244.0.0/16", 26);
    n.extra = json!({"etcd": {"username": "podlease", "passwordFile": pw, "timeoutSeconds": 5}});
    assert_eq!(n.add("c1").addresses().len(), 1);
    assert_eq!(n.blocks().len(), 1);

    std::fs::write(&pw, "wrong\n").unwrap();
    let mut m = Node::new(root.path(), "node-b", &etcd.url(), "10.244.0.0/16", 26);
    m.extra = json!({"etcd": {"username": "podlease", "passwordFile": pw, "timeoutSeconds": 5}});
    let msg = m.add("c1").error(7);
    assert!(msg.contains("podlease"), "{msg}");
    // Without credentials etcd refuses too (it needs a user).
    let anon = Node::new(root.path(), "node-c", &etcd.url(), "10.244.0.0/16", 26);
    let msg = anon.add("c1").error(7);
    assert!(msg.contains("ipam.etcd.username"), "{msg}");
    assert!(anon.blocks().is_empty());
}

#[test]
fn the_example_conflist_allocates_dual_stack_from_etcd() {
    let Some(etcd) = Etcd::start() else { return };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/conf/60-podlease-cluster-pools.conflist");
    let list: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut conf = list["plugins"][0].clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    conf["ipam"]["dataDir"] = json!(state.path());
    conf["ipam"]["nodeName"] = json!("node-a");
    // The example's etcd is https with files elsewhere: point it at the test's.
    conf["ipam"]["etcd"] = json!({"endpoints": [etcd.url()]});
    let r = Call::new("ADD", &conf).run(&common::podlease());
    let ips = r.success()["ips"].as_array().unwrap().clone();
    assert_eq!(ips.len(), 2, "{r:?}");
    assert!(ips[0]["address"].as_str().unwrap().ends_with("/26"));
    assert!(ips[1]["address"].as_str().unwrap().ends_with("/120"));
    Call::new("DEL", &conf)
        .run(&common::podlease())
        .success_empty();
}

#[test]
fn a_release_interrupted_by_etcd_stays_releasing_and_finishes_later() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut a = Node::new(root.path(), "a", &etcd.url(), "10.244.0.0/16", 28);
    a.extra = json!({"pool": {"releaseAfterSeconds": 0, "minBlocks": 1}});
    for i in 0..14 {
        a.add(&format!("c{i}")).addresses();
    }
    let second = a.blocks()[1].0;
    for i in 0..14 {
        let id = format!("c{i}");
        if second.contains(n_ip(&a, &id)) {
            a.call("DEL", &id).success_empty();
        }
    }
    // etcd is down: the block is taken out of service locally, then the
    // etcd step fails; it stays `releasing`.
    etcd.kill();
    let gc = cli(&a, &["pool", "gc"]);
    assert!(gc.ok() && gc.stdout.contains("pending"), "{gc:?}");
    let states: Vec<(IpNetwork, String)> = a.blocks().into_iter().map(|(c, _, s)| (c, s)).collect();
    assert!(states.contains(&(second, "releasing".into())), "{states:?}");
    // No address comes from a releasing block: the first block is full, so
    // the next ADD needs a new block, and etcd is down.
    assert!(a.add("c99").error(11).contains("etcd"));
    etcd.restart();
    let gc = cli(&a, &["pool", "gc"]);
    assert!(
        gc.ok() && gc.stdout.contains(&format!("{second}  released")),
        "{gc:?}"
    );
    assert_eq!(a.blocks().len(), 1);
    let ip: IpAddr = a.add("c99").addresses()[0].parse().unwrap();
    assert!(
        a.blocks()
            .iter()
            .any(|(c, _, s)| s == "active" && c.contains(ip)),
        "{ip} {:?}",
        a.blocks()
    );
    check_invariants(&etcd, &[a]);
}

#[test]
fn releases_racing_claims_of_other_nodes_keep_blocks_disjoint() {
    let Some(etcd) = Etcd::start() else { return };
    let root = tempfile::tempdir().unwrap();
    // A small pool so that released blocks are claimed again at once.
    let pool = "10.250.0.0/24";
    let mut releaser = Node::new(root.path(), "releaser", &etcd.url(), pool, 28);
    releaser.extra = json!({"pool": {"releaseAfterSeconds": 0, "minBlocks": 1}});
    // 5 blocks on the releaser, then all but one emptied.
    for i in 0..65 {
        releaser.add(&format!("c{i}")).addresses();
    }
    assert_eq!(releaser.blocks().len(), 5);
    let keep = releaser.blocks()[0].0;
    for i in 0..65 {
        let id = format!("c{i}");
        if !keep.contains(n_ip(&releaser, &id)) {
            releaser.call("DEL", &id).success_empty();
        }
    }
    let claimers: Vec<Node> = (0..8)
        .map(|i| Node::new(root.path(), &format!("k{i}"), &etcd.url(), pool, 28))
        .collect();
    let barrier = Barrier::new(claimers.len() + 1);
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            barrier.wait();
            let gc = cli(&releaser, &["pool", "gc"]);
            assert!(gc.ok(), "{gc:?}");
        });
        for n in &claimers {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for i in 0..20 {
                    let r = n.add(&format!("c{i}"));
                    // The pool (16 blocks) runs out: that is code 100.
                    assert!(r.ok() || code(&r) == Some(100), "{r:?}");
                }
            });
        }
        r.join().unwrap();
    });
    assert_eq!(releaser.blocks().len(), 1, "{:?}", releaser.blocks());
    // Whatever the claimers could not get during the race, they get now.
    for n in &claimers {
        for i in 0..13 {
            let r = n.add(&format!("late{i}"));
            assert!(r.ok() || code(&r) == Some(100), "{r:?}");
        }
    }
    // The pool is full again: the released blocks went to the claimers.
    let held: usize = claimers.iter().map(|n| n.blocks().len()).sum();
    assert_eq!(held + 1, 16, "released blocks were not reused");
    let mut all = claimers;
    all.push(releaser);
    check_invariants(&etcd, &all);
}
