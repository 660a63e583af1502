//! The operator's view of cluster pools (`podlease pool ...`): what etcd
//! says about blocks and nodes, releasing this node's empty blocks, fencing
//! a dead node, and host-gateway routes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::Serialize;
use serde_json::Value;

use super::claim::Session;
use super::etcd::{Client, Cmp, Op};
use super::keys::Keys;
use super::local::{self, BlockState, LocalBlocks};
use super::{PoolError, now_secs};
use crate::config::pools::{Pool, PoolsConfig};
use crate::ids::NetworkName;
use crate::range::Family;
use crate::store::{LockedNetwork, StoreOptions};

/// One block as etcd records it.
#[derive(Debug, Clone, Serialize)]
pub struct BlockInfo {
    /// The pool.
    pub pool: String,
    /// The block.
    pub cidr: String,
    /// The owner.
    pub node: String,
    /// The owner's network that holds it.
    pub network: String,
    /// The block key's create revision.
    pub claim_rev: i64,
    /// Addresses in use, when the block is this host's (read locally).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    /// Addresses free, when the block is this host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free: Option<u64>,
    /// Local state, when the block is this host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When it was claimed (seconds since the epoch), when this host's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<u64>,
}

/// One registered node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    /// Name.
    pub node: String,
    /// Its uid (None: fenced or never registered, but blocks remain).
    pub uid: Option<String>,
    /// Addresses it registered (`ipam.nodeAddresses`).
    pub addresses: Vec<String>,
    /// Blocks it holds, all pools.
    pub blocks: usize,
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Every block of the configured pools, with local usage for this host's.
///
/// # Errors
/// etcd failures.
pub fn show(cfg: &PoolsConfig, network: Option<&NetworkName>) -> Result<Vec<BlockInfo>, PoolError> {
    let mut client = Client::new(&cfg.etcd)?;
    let keys = Keys::new(&cfg.etcd.prefix, &cfg.node_name);
    let local = network.map(|n| LocalView::read(cfg, n)).transpose()?;
    let mut out = Vec::new();
    for pool in &cfg.pools {
        for kv in client.range(&keys.blocks(pool.cidr), true, false)? {
            let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            let mut info = BlockInfo {
                pool: pool.cidr.to_string(),
                cidr: field(&v, "cidr"),
                node: field(&v, "node"),
                network: field(&v, "network"),
                claim_rev: kv.create_revision,
                used: None,
                free: None,
                state: None,
                claimed_at: None,
            };
            if let Some(local) = &local
                && info.node == cfg.node_name
            {
                local.fill(&mut info, pool);
            }
            out.push(info);
        }
    }
    Ok(out)
}

/// This host's blocks of one network and the addresses it holds, read
/// without the network's lock (an operator's view; it never waits on ADD).
struct LocalView {
    network: String,
    blocks: LocalBlocks,
    addrs: Vec<IpAddr>,
}

impl LocalView {
    /// Reads the block record and lists the address files. (The store's
    /// listings need the network's lock, which `show` does not take.)
    fn read(cfg: &PoolsConfig, network: &NetworkName) -> Result<Self, PoolError> {
        let layout = crate::store::layout::Layout::new(&cfg.data_dir, network);
        let blocks = LocalBlocks::read(&layout.meta)?;
        let addrs: Vec<IpAddr> = std::fs::read_dir(&layout.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| crate::store::layout::parse_ip_name(e.file_name().to_str()?))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            network: network.to_string(),
            blocks,
            addrs,
        })
    }

    /// Adds usage and local state to `info` when the block is this
    /// network's on this host.
    fn fill(&self, info: &mut BlockInfo, pool: &Pool) {
        let Ok(cidr) = info.cidr.parse::<IpNetwork>() else {
            return;
        };
        let Some(b) = self.blocks.blocks.iter().find(|b| b.cidr == cidr) else {
            return;
        };
        if info.network != self.network {
            return;
        }
        let used = self.addrs.iter().filter(|ip| cidr.contains(**ip)).count() as u64;
        // The gateway is never handed out when it lies in the block.
        let (size, gw) = super::block_range(cidr, pool.gateway).map_or((0, 0), |r| {
            (r.len() as u64, u64::from(r.contains(r.gateway)))
        });
        info.used = Some(used);
        info.free = Some(size.saturating_sub(used + gw));
        info.state = Some(
            match b.state {
                BlockState::Active => "active",
                BlockState::Releasing => "releasing",
            }
            .to_owned(),
        );
        info.claimed_at = Some(b.claimed_at);
    }
}

/// Every node registered under the prefix, or holding blocks.
///
/// # Errors
/// etcd failures.
pub fn nodes(cfg: &PoolsConfig) -> Result<Vec<NodeInfo>, PoolError> {
    let mut client = Client::new(&cfg.etcd)?;
    let keys = Keys::new(&cfg.etcd.prefix, &cfg.node_name);
    let prefix = keys.nodes();
    let mut by_node: BTreeMap<String, NodeInfo> = BTreeMap::new();
    for kv in client.range(&prefix, true, false)? {
        let key = text(&kv.key);
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let mut parts = rest.splitn(2, '/');
        let (Some(node), Some(what)) = (parts.next(), parts.next()) else {
            continue;
        };
        let entry = by_node.entry(node.to_owned()).or_insert_with(|| NodeInfo {
            node: node.to_owned(),
            uid: None,
            addresses: Vec::new(),
            blocks: 0,
        });
        let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
        if what == "id" {
            entry.uid = Some(field(&v, "uid"));
        } else if what == "info" {
            entry.addresses = v
                .get("addresses")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
        } else if what.starts_with("blocks/") {
            entry.blocks += 1;
        }
    }
    Ok(by_node.into_values().collect())
}

/// `ip route` lines: every block of another node via that node's
/// registered address of the block's family.
///
/// # Errors
/// etcd failures.
pub fn routes(cfg: &PoolsConfig) -> Result<Vec<String>, PoolError> {
    let nodes: BTreeMap<String, NodeInfo> = nodes(cfg)?
        .into_iter()
        .map(|n| (n.node.clone(), n))
        .collect();
    let mut out = Vec::new();
    for b in show(cfg, None)? {
        if b.node == cfg.node_name {
            continue;
        }
        let Ok(cidr) = b.cidr.parse::<IpNetwork>() else {
            continue;
        };
        let via = nodes.get(&b.node).and_then(|n| {
            n.addresses
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .find(|a| Family::of(*a) == Family::of(cidr.ip()))
        });
        match via {
            Some(via) => out.push(format!("{cidr} via {via}")),
            None => out.push(format!(
                "# {cidr} of node {}: no registered IPv{} address (ipam.nodeAddresses)",
                b.node,
                Family::of(cidr.ip()).version_str()
            )),
        }
    }
    Ok(out)
}

/// Fences `node` (deletes its identity, so its next claim or release
/// fails) and then releases every block it holds. Returns the blocks released.
///
/// # Errors
/// etcd failures; what was done before stays done (run it again).
pub fn release_node(cfg: &PoolsConfig, node: &str) -> Result<Vec<String>, PoolError> {
    let mut client = Client::new(&cfg.etcd)?;
    let keys = Keys::new(&cfg.etcd.prefix, node);
    client.txn(&[], &[Op::Delete(&keys.id())], &[])?;
    let mut released = Vec::new();
    let index_prefix = format!("{}/nodes/{node}/blocks/", cfg.etcd.prefix);
    for entry in client.range(&index_prefix, true, false)? {
        let index_key = text(&entry.key);
        let Some(rest) = index_key.strip_prefix(&index_prefix) else {
            continue;
        };
        let Some((pool_key, hex)) = rest.split_once('/') else {
            continue;
        };
        let block_key = format!("{}/pools/{pool_key}/blocks/{hex}", cfg.etcd.prefix);
        let block = client.range(&block_key, false, false)?.into_iter().next();
        match block {
            Some(kv) => {
                let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
                if field(&v, "node") == node {
                    let r = client.txn(
                        &[Cmp::Created(&block_key, kv.create_revision)],
                        &[Op::Delete(&block_key), Op::Delete(&index_key)],
                        &[],
                    )?;
                    if r.succeeded {
                        released.push(field(&v, "cidr"));
                    }
                } else {
                    client.txn(&[], &[Op::Delete(&index_key)], &[])?;
                }
            }
            None => {
                client.txn(&[], &[Op::Delete(&index_key)], &[])?;
            }
        }
    }
    client.txn(&[], &[Op::Delete(&keys.info())], &[])?;
    Ok(released)
}

/// What `gc` did to one block.
#[derive(Debug, Clone, Serialize)]
pub struct GcAction {
    /// The block.
    pub cidr: String,
    /// `released`, `empty` (seen empty, not yet long enough), `kept`
    /// (minBlocks), `pending` (etcd unreachable: stays releasing).
    pub action: String,
}

/// Releases this node's blocks of `network` that have been empty for the
/// pool's `releaseAfterSeconds`, keeping `minBlocks` per pool. Under the
/// network's lock; a block is first marked `releasing` locally (no new
/// allocations), then deleted in etcd only if it is still the incarnation
/// this node claimed, then forgotten locally.
///
/// # Errors
/// Store ([`PoolError::Store`]) or local-record failures; etcd failures
/// leave blocks `releasing` (reported as `pending`), retried by the next gc.
pub fn gc(
    cfg: &PoolsConfig,
    network: &NetworkName,
    opts: &StoreOptions,
) -> Result<Vec<GcAction>, PoolError> {
    let Some(net) = LockedNetwork::open_existing(&cfg.data_dir, network, opts)? else {
        return Ok(Vec::new());
    };
    let meta = net.layout().meta.clone();
    let mut blocks = LocalBlocks::read(&meta)?;
    let taken = net.taken()?;
    let (mut actions, to_release) = mark_empty(cfg, &mut blocks, &taken, now_secs());
    blocks.write(&meta)?;
    if !to_release.is_empty() {
        let uid = local::node_uid(&cfg.data_dir)?;
        let mut session = Session::new(cfg, &uid, network.as_str())?;
        for cidr in to_release {
            if let Some(a) = release_one(&mut session, &meta, &mut blocks, cidr)? {
                actions.push(a);
            }
        }
    }
    net.commit()?;
    Ok(actions)
}

fn action(cidr: IpNetwork, action: impl Into<String>) -> GcAction {
    GcAction {
        cidr: cidr.to_string(),
        action: action.into(),
    }
}

/// Notes when each block was first seen empty, and marks `releasing` those
/// empty for long enough beyond `minBlocks`. Returns the actions to report
/// and the blocks to release (marked now, or left `releasing` by an
/// earlier gc).
fn mark_empty(
    cfg: &PoolsConfig,
    blocks: &mut LocalBlocks,
    taken: &BTreeSet<IpAddr>,
    now: u64,
) -> (Vec<GcAction>, Vec<IpNetwork>) {
    let mut actions = Vec::new();
    let mut to_release = Vec::new();
    for pool in &cfg.pools {
        let mut active = blocks.active(pool.cidr).len() as u64;
        for b in blocks.blocks.iter_mut().filter(|b| b.pool == pool.cidr) {
            if b.state == BlockState::Releasing {
                to_release.push(b.cidr);
                continue;
            }
            let empty = !taken.iter().any(|ip| b.cidr.contains(*ip));
            if !empty {
                b.empty_since = None;
                continue;
            }
            let since = *b.empty_since.get_or_insert(now);
            if now.saturating_sub(since) < pool.release_after_secs {
                actions.push(action(b.cidr, "empty"));
            } else if active <= pool.min_blocks {
                actions.push(action(b.cidr, "kept"));
            } else {
                b.state = BlockState::Releasing;
                active -= 1;
                to_release.push(b.cidr);
            }
        }
    }
    (actions, to_release)
}

/// Releases one `releasing` block in etcd and then forgets it locally; an
/// etcd failure leaves it `releasing` (`pending`).
fn release_one(
    session: &mut Session<'_>,
    meta: &std::path::Path,
    blocks: &mut LocalBlocks,
    cidr: IpNetwork,
) -> Result<Option<GcAction>, PoolError> {
    let Some(b) = blocks.blocks.iter().find(|b| b.cidr == cidr).cloned() else {
        return Ok(None);
    };
    match session.release(b.pool, b.cidr, b.claim_rev) {
        Ok(_) => {
            blocks.blocks.retain(|x| x.cidr != cidr);
            blocks.write(meta)?;
            Ok(Some(action(cidr, "released")))
        }
        Err(e) => Ok(Some(action(cidr, format!("pending: {e}")))),
    }
}
