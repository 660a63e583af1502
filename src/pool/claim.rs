//! Claiming, adopting and releasing blocks in etcd.
//!
//! Keys under the prefix `P` (see docs/cluster-pools.md):
//! ```text
//! P/pools/<pool>/config                 {"cidr":..,"blockSize":..}   VALUE-compared by every claim
//! P/pools/<pool>/blocks/<hex>           {"cidr":..,"node":..,"uid":..,"network":..}
//! P/nodes/<node>/id                     {"uid":..}                     VALUE-compared by every claim/release
//! P/nodes/<node>/info                   {"addresses":[..]}             advisory (routes)
//! P/nodes/<node>/blocks/<pool>/<hex>    {"network":..}                 index, written in the block's txn
//! ```
//! `<pool>` is the pool's CIDR with `/` as `-`; `<hex>` the fixed-width hex
//! of the block's first address, so key order is address order.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::PoolError;
use super::etcd::{Client, Cmp, Kv, Op};
use crate::config::pools::{Pool, PoolsConfig};
use crate::range::{Family, from_u128, subnet_bounds, to_u128};

/// At most this many claim transactions per block wanted.
const MAX_ATTEMPTS: usize = 32;

/// A block etcd says this node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The block.
    pub cidr: IpNetwork,
    /// Its key's create revision.
    pub claim_rev: i64,
}

/// The pool's name in keys.
pub fn pool_key(pool: IpNetwork) -> String {
    pool.to_string().replace('/', "-")
}

/// Fixed-width hex of the block's first address.
pub fn block_hex(block: IpNetwork) -> String {
    match Family::of(block.ip()) {
        Family::V4 => format!("{:08x}", to_u128(block.ip())),
        Family::V6 => format!("{:032x}", to_u128(block.ip())),
    }
}

/// Every key of the layout.
pub struct Keys<'a> {
    prefix: &'a str,
    node: &'a str,
}

impl<'a> Keys<'a> {
    /// Keys under `prefix` for `node`.
    pub fn new(prefix: &'a str, node: &'a str) -> Self {
        Self { prefix, node }
    }
    /// `P/pools/<pool>/config`.
    pub fn config(&self, pool: IpNetwork) -> String {
        format!("{}/pools/{}/config", self.prefix, pool_key(pool))
    }
    /// `P/pools/<pool>/blocks/`.
    pub fn blocks(&self, pool: IpNetwork) -> String {
        format!("{}/pools/{}/blocks/", self.prefix, pool_key(pool))
    }
    /// `P/pools/<pool>/blocks/<hex>`.
    pub fn block(&self, pool: IpNetwork, block: IpNetwork) -> String {
        format!("{}{}", self.blocks(pool), block_hex(block))
    }
    /// `P/nodes/`.
    pub fn nodes(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }
    /// `P/nodes/<node>/id`.
    pub fn id(&self) -> String {
        format!("{}/nodes/{}/id", self.prefix, self.node)
    }
    /// `P/nodes/<node>/info`.
    pub fn info(&self) -> String {
        format!("{}/nodes/{}/info", self.prefix, self.node)
    }
    /// `P/nodes/<node>/blocks/<pool>/`.
    pub fn index(&self, pool: IpNetwork) -> String {
        format!(
            "{}/nodes/{}/blocks/{}/",
            self.prefix,
            self.node,
            pool_key(pool)
        )
    }
    /// `P/nodes/<node>/blocks/<pool>/<hex>`.
    pub fn index_entry(&self, pool: IpNetwork, block: IpNetwork) -> String {
        format!("{}{}", self.index(pool), block_hex(block))
    }
}

/// The exact bytes of a pool's geometry record.
pub fn config_value(pool: &Pool) -> Vec<u8> {
    json!({"cidr": pool.cidr.to_string(), "blockSize": pool.block_size})
        .to_string()
        .into_bytes()
}

/// The exact bytes of a node's identity record.
pub fn id_value(uid: &str) -> Vec<u8> {
    json!({ "uid": uid }).to_string().into_bytes()
}

/// The block with index `i` in `pool`.
pub fn nth_block(pool: &Pool, i: u128) -> IpNetwork {
    let (base, _) = subnet_bounds(pool.cidr);
    let family = Family::of(pool.cidr.ip());
    let shift = u32::from(family.bits() - pool.block_size);
    let start = base + (i << shift);
    IpNetwork::new(from_u128(family, start), pool.block_size).unwrap_or(pool.cidr)
}

/// The index of a block key's hex in `pool`, if it is a block of the pool's
/// geometry.
fn block_index(pool: &Pool, hex: &str) -> Option<u128> {
    let v = u128::from_str_radix(hex, 16).ok()?;
    let (base, last) = subnet_bounds(pool.cidr);
    let family = Family::of(pool.cidr.ip());
    let shift = u32::from(family.bits() - pool.block_size);
    (v >= base && v <= last).then(|| (v - base) >> shift)
}

/// FNV-1a: where a node starts looking, so concurrent nodes rarely collide.
fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Parses a block value.
fn block_owner(kv: &Kv) -> (String, String, String) {
    let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("node"), s("uid"), s("network"))
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One node's view of etcd for one invocation.
pub struct Session<'a> {
    /// The client.
    pub client: Client,
    cfg: &'a PoolsConfig,
    uid: &'a str,
    network: &'a str,
    /// Key names.
    pub keys: Keys<'a>,
}

impl<'a> Session<'a> {
    /// Opens a client.
    ///
    /// # Errors
    /// [`PoolError::Config`] for unreadable TLS or password files.
    pub fn new(cfg: &'a PoolsConfig, uid: &'a str, network: &'a str) -> Result<Self, PoolError> {
        Ok(Self {
            client: Client::new(&cfg.etcd)?,
            cfg,
            uid,
            network,
            keys: Keys::new(&cfg.etcd.prefix, &cfg.node_name),
        })
    }

    /// Registers the pool's geometry and this node's identity if absent,
    /// and refuses a mismatch of either. A node that already holds blocks
    /// and finds its identity gone was fenced (`release-node`): refused.
    ///
    /// # Errors
    /// [`PoolError::Conflict`] naming both sides; etcd failures.
    pub fn register(&mut self, pool: &Pool, holds_blocks: bool) -> Result<(), PoolError> {
        let cfg_key = self.keys.config(pool.cidr);
        let cfg_val = config_value(pool);
        let id_key = self.keys.id();
        let id_val = id_value(self.uid);
        // The steady state: both already there and equal, one round trip.
        let r = self.client.txn(
            &[Cmp::Value(&cfg_key, &cfg_val), Cmp::Value(&id_key, &id_val)],
            &[],
            &[Op::Get(&cfg_key), Op::Get(&id_key)],
        )?;
        if r.succeeded {
            return Ok(());
        }
        let stored_cfg = r.kv(0).map(|kv| kv.value.clone());
        let stored_id = r.kv(1).map(|kv| kv.value.clone());
        match stored_cfg {
            Some(v) if v != cfg_val => return Err(self.geometry_conflict(pool, &v)),
            Some(_) => {}
            None => {
                let r = self.client.txn(
                    &[Cmp::Absent(&cfg_key)],
                    &[Op::Put(&cfg_key, &cfg_val)],
                    &[Op::Get(&cfg_key)],
                )?;
                if let Some(kv) = r.kv(0).filter(|_| !r.succeeded)
                    && kv.value != cfg_val
                {
                    return Err(self.geometry_conflict(pool, &kv.value));
                }
            }
        }
        match stored_id {
            Some(v) if v != id_val => Err(self.identity_conflict(&v)),
            Some(_) => Ok(()),
            None if holds_blocks => Err(self.fenced()),
            None => {
                let r = self.client.txn(
                    &[Cmp::Absent(&id_key)],
                    &[Op::Put(&id_key, &id_val)],
                    &[Op::Get(&id_key)],
                )?;
                match r.kv(0).filter(|_| !r.succeeded) {
                    Some(kv) if kv.value != id_val => Err(self.identity_conflict(&kv.value)),
                    _ => Ok(()),
                }
            }
        }
    }

    fn fenced(&self) -> PoolError {
        PoolError::Conflict(format!(
            "node {:?} was decommissioned in etcd ({} is gone; `podlease pool release-node` fences a node so) while this host still holds blocks: it may no longer claim any. Remove this host's pool state ({}) with its containers, or give it a new ipam.nodeName",
            self.cfg.node_name,
            self.keys.id(),
            self.cfg.data_dir.display()
        ))
    }

    fn geometry_conflict(&self, pool: &Pool, stored: &[u8]) -> PoolError {
        PoolError::Conflict(format!(
            "pool {} is registered in etcd ({}) as {}, but this node's config says {}: every node must use the same cidr and blockSize for a pool",
            pool.cidr,
            self.keys.config(pool.cidr),
            shown(stored),
            shown(&config_value(pool))
        ))
    }

    fn identity_conflict(&self, stored: &[u8]) -> PoolError {
        PoolError::Conflict(format!(
            "node name {:?} is registered in etcd ({}) by another host or an earlier install: etcd has {}, this host has {} (in {}). Give this host another ipam.nodeName, or, if the old host is gone for good, run `podlease pool release-node {} --force` first",
            self.cfg.node_name,
            self.keys.id(),
            shown(stored),
            shown(&id_value(self.uid)),
            super::local::uid_path(&self.cfg.data_dir).display(),
            self.cfg.node_name,
        ))
    }

    /// Blocks of `pool` that etcd's index says this network on this node
    /// holds and that `known` does not, verified against the block keys (one
    /// read each: only blocks whose local record was lost cost a round trip).
    ///
    /// # Errors
    /// etcd failures.
    pub fn unknown_owned(
        &mut self,
        pool: &Pool,
        known: impl Fn(IpNetwork) -> bool,
    ) -> Result<Vec<Claimed>, PoolError> {
        let index = self
            .client
            .range(&self.keys.index(pool.cidr), true, false)?;
        let mut out = Vec::new();
        for entry in index {
            let v: Value = serde_json::from_slice(&entry.value).unwrap_or(Value::Null);
            if v.get("network").and_then(Value::as_str) != Some(self.network) {
                continue;
            }
            let key = shown(&entry.key);
            let Some(hex) = key.rsplit('/').next() else {
                continue;
            };
            let Some(i) = block_index(pool, hex) else {
                continue;
            };
            let cidr = nth_block(pool, i);
            if known(cidr) {
                continue;
            }
            let Some(kv) = self
                .client
                .range(&self.keys.block(pool.cidr, cidr), false, false)?
                .into_iter()
                .next()
            else {
                continue;
            };
            let (node, uid, _) = block_owner(&kv);
            if node == self.cfg.node_name && uid == self.uid {
                out.push(Claimed {
                    cidr,
                    claim_rev: kv.create_revision,
                });
            }
        }
        Ok(out)
    }

    /// Claims one free block of `pool`.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] when the pool has no free block;
    /// [`PoolError::Conflict`] when the geometry or identity changed under
    /// us; etcd failures ([`PoolError::Unavailable`] leaves the outcome
    /// unknown: the next claim adopts the block if it was committed).
    pub fn claim(&mut self, pool: &Pool) -> Result<Claimed, PoolError> {
        let blocks_prefix = self.keys.blocks(pool.cidr);
        let mut used: BTreeSet<u128> = self
            .client
            .range(&blocks_prefix, true, true)?
            .iter()
            .filter_map(|kv| {
                let key = shown(&kv.key);
                block_index(pool, key.rsplit('/').next()?)
            })
            .collect();
        let n = pool.block_count();
        let start = u128::from(fnv64(&self.cfg.node_name)) % n;
        let cfg_key = self.keys.config(pool.cidr);
        let cfg_val = config_value(pool);
        let id_key = self.keys.id();
        let id_val = id_value(self.uid);
        let info_val = json!({
            "addresses": self.cfg.node_addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes();
        let info_key = self.keys.info();
        for _ in 0..MAX_ATTEMPTS {
            let Some(i) = first_free(start, n, &used) else {
                return Err(PoolError::Exhausted(format!(
                    "pool {} has no free /{} block: all {n} are held by nodes (`podlease pool show`); release blocks of dead nodes (`podlease pool release-node NODE --force`) or add a pool",
                    pool.cidr, pool.block_size
                )));
            };
            let cidr = nth_block(pool, i);
            let block_key = self.keys.block(pool.cidr, cidr);
            let index_key = self.keys.index_entry(pool.cidr, cidr);
            let block_val = json!({
                "cidr": cidr.to_string(),
                "node": self.cfg.node_name,
                "uid": self.uid,
                "network": self.network,
            })
            .to_string()
            .into_bytes();
            let index_val = json!({ "network": self.network }).to_string().into_bytes();
            let r = self.client.txn(
                &[
                    Cmp::Value(&cfg_key, &cfg_val),
                    Cmp::Value(&id_key, &id_val),
                    Cmp::Absent(&block_key),
                ],
                &[
                    Op::Put(&block_key, &block_val),
                    Op::Put(&index_key, &index_val),
                    Op::Put(&info_key, &info_val),
                ],
                &[Op::Get(&block_key), Op::Get(&id_key), Op::Get(&cfg_key)],
            )?;
            if r.succeeded {
                return Ok(Claimed {
                    cidr,
                    claim_rev: r.revision,
                });
            }
            match r.kv(2) {
                Some(kv) if kv.value == cfg_val => {}
                Some(kv) => return Err(self.geometry_conflict(pool, &kv.value)),
                None => {
                    return Err(PoolError::Conflict(format!(
                        "pool {}'s record {cfg_key} vanished from etcd during the claim",
                        pool.cidr
                    )));
                }
            }
            match r.kv(1) {
                Some(kv) if kv.value == id_val => {}
                Some(kv) => return Err(self.identity_conflict(&kv.value)),
                None => return Err(self.fenced()),
            }
            if let Some(kv) = r.kv(0) {
                let (node, uid, network) = block_owner(kv);
                if node == self.cfg.node_name && uid == self.uid && network == self.network {
                    // Our own earlier claim whose answer was lost.
                    return Ok(Claimed {
                        cidr,
                        claim_rev: kv.create_revision,
                    });
                }
            }
            used.insert(i);
        }
        Err(PoolError::Unavailable(format!(
            "pool {}: {MAX_ATTEMPTS} claims in a row lost a race to other nodes; try again",
            pool.cidr
        )))
    }

    /// Gives `block` back: deletes the block and its index entry, only if
    /// it is still the incarnation this node claimed and this node is still
    /// registered. Returns whether etcd no longer attributes it to us.
    ///
    /// # Errors
    /// etcd failures (the block stays `releasing` locally then).
    pub fn release(
        &mut self,
        pool: IpNetwork,
        block: IpNetwork,
        claim_rev: i64,
    ) -> Result<bool, PoolError> {
        let block_key = self.keys.block(pool, block);
        let index_key = self.keys.index_entry(pool, block);
        let id_key = self.keys.id();
        let id_val = id_value(self.uid);
        let r = self.client.txn(
            &[
                Cmp::Created(&block_key, claim_rev),
                Cmp::Value(&id_key, &id_val),
            ],
            &[Op::Delete(&block_key), Op::Delete(&index_key)],
            &[Op::Get(&block_key), Op::Get(&id_key)],
        )?;
        if r.succeeded {
            return Ok(true);
        }
        match r.kv(0) {
            // Another incarnation (or nobody): not ours any more.
            Some(kv) if kv.create_revision != claim_rev => Ok(true),
            None => Ok(true),
            // Still ours but our identity is gone: fenced.
            Some(_) => Err(PoolError::Conflict(format!(
                "cannot release {block}: node {:?} is not registered with this host's uid any more ({id_key})",
                self.cfg.node_name
            ))),
        }
    }
}

/// The first index at or after `start` (wrapping) that is not used.
fn first_free(start: u128, n: u128, used: &BTreeSet<u128>) -> Option<u128> {
    if used.len() as u128 >= n {
        return None;
    }
    let mut i = start;
    for _ in 0..=used.len() {
        if !used.contains(&i) {
            return Some(i);
        }
        i = if i + 1 >= n { 0 } else { i + 1 };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cidr: &str, size: u8) -> Pool {
        Pool {
            cidr: cidr.parse().unwrap(),
            block_size: size,
            min_blocks: 1,
            max_blocks: None,
            release_after_secs: 600,
            gateway: None,
        }
    }

    #[test]
    fn blocks_are_aligned_and_named_in_address_order() {
        let p = pool("10.244.0.0/16", 26);
        assert_eq!(p.block_count(), 1024);
        assert_eq!(nth_block(&p, 0).to_string(), "10.244.0.0/26");
        assert_eq!(nth_block(&p, 1023).to_string(), "10.244.255.192/26");
        assert_eq!(block_hex(nth_block(&p, 5)), "0af40140");
        assert_eq!(block_index(&p, "0af40140"), Some(5));
        assert_eq!(block_index(&p, "0af50000"), None);
        let v6 = pool("fd00:10:244::/56", 120);
        assert_eq!(nth_block(&v6, 1).to_string(), "fd00:10:244::100/120");
        assert_eq!(block_hex(nth_block(&v6, 1)).len(), 32);
        assert_eq!(pool_key(v6.cidr), "fd00:10:244::-56");
    }

    #[test]
    fn first_free_wraps_and_reports_full() {
        let used: BTreeSet<u128> = [2, 3].into();
        assert_eq!(first_free(2, 4, &used), Some(0));
        assert_eq!(first_free(1, 4, &used), Some(1));
        let full: BTreeSet<u128> = [0, 1, 2, 3].into();
        assert_eq!(first_free(1, 4, &full), None);
    }
}
