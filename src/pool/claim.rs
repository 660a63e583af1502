//! Claiming, adopting and releasing blocks in etcd (the keys and values are
//! in `keys.rs`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::PoolError;
use super::etcd::{Client, Cmp, Kv, Op, TxnResponse};
use super::keys::{Keys, block_index, block_owner, config_value, id_value, nth_block};
use crate::config::pools::{Pool, PoolsConfig};

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

/// FNV-1a: where a node starts looking, so concurrent nodes rarely collide.
fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
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
        let mut used = self.used_blocks(pool)?;
        let n = pool.block_count();
        let start = u128::from(fnv64(&self.cfg.node_name)) % n;
        for _ in 0..MAX_ATTEMPTS {
            let Some(i) = first_free(start, n, &used) else {
                return Err(PoolError::Exhausted(format!(
                    "pool {} has no free /{} block: all {n} are held by nodes (`podlease pool show`); release blocks of dead nodes (`podlease pool release-node NODE --force`) or add a pool",
                    pool.cidr, pool.block_size
                )));
            };
            if let Some(claimed) = self.try_claim(pool, i)? {
                return Ok(claimed);
            }
            used.insert(i);
        }
        Err(PoolError::Unavailable(format!(
            "pool {}: {MAX_ATTEMPTS} claims in a row lost a race to other nodes; try again",
            pool.cidr
        )))
    }

    /// The indexes of the blocks of `pool` that any node holds.
    fn used_blocks(&mut self, pool: &Pool) -> Result<BTreeSet<u128>, PoolError> {
        Ok(self
            .client
            .range(&self.keys.blocks(pool.cidr), true, true)?
            .iter()
            .filter_map(|kv| {
                let key = shown(&kv.key);
                block_index(pool, key.rsplit('/').next()?)
            })
            .collect())
    }

    /// One create-if-absent transaction for block `i` of `pool`, fenced by
    /// the pool's geometry and this node's identity: the block when it is
    /// ours now (claimed, or our own earlier claim whose answer was lost),
    /// `None` when another node holds it.
    fn try_claim(&mut self, pool: &Pool, i: u128) -> Result<Option<Claimed>, PoolError> {
        let cidr = nth_block(pool, i);
        let (cfg_key, cfg_val) = (self.keys.config(pool.cidr), config_value(pool));
        let (id_key, id_val) = (self.keys.id(), id_value(self.uid));
        let (info_key, info_val) = (self.keys.info(), self.info_value());
        let block_key = self.keys.block(pool.cidr, cidr);
        let index_key = self.keys.index_entry(pool.cidr, cidr);
        let block_val = self.block_value(cidr);
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
            return Ok(Some(Claimed {
                cidr,
                claim_rev: r.revision,
            }));
        }
        self.check_fences(pool, &r, &cfg_key)?;
        Ok(r.kv(0).filter(|kv| self.is_ours(kv)).map(|kv| Claimed {
            cidr,
            claim_rev: kv.create_revision,
        }))
    }

    /// After a failed claim (ops: block, identity, geometry): the error
    /// when the geometry or this node's identity is not what the claim was
    /// fenced by.
    fn check_fences(&self, pool: &Pool, r: &TxnResponse, cfg_key: &str) -> Result<(), PoolError> {
        match r.kv(2) {
            Some(kv) if kv.value == config_value(pool) => {}
            Some(kv) => return Err(self.geometry_conflict(pool, &kv.value)),
            None => {
                return Err(PoolError::Conflict(format!(
                    "pool {}'s record {cfg_key} vanished from etcd during the claim",
                    pool.cidr
                )));
            }
        }
        match r.kv(1) {
            Some(kv) if kv.value == id_value(self.uid) => Ok(()),
            Some(kv) => Err(self.identity_conflict(&kv.value)),
            None => Err(self.fenced()),
        }
    }

    /// Whether a block's value names this node, this host and this network.
    fn is_ours(&self, kv: &Kv) -> bool {
        let (node, uid, network) = block_owner(kv);
        node == self.cfg.node_name && uid == self.uid && network == self.network
    }

    /// The value of a block this node claims.
    fn block_value(&self, cidr: IpNetwork) -> Vec<u8> {
        json!({
            "cidr": cidr.to_string(),
            "node": self.cfg.node_name,
            "uid": self.uid,
            "network": self.network,
        })
        .to_string()
        .into_bytes()
    }

    /// This node's advisory record: its addresses, for routes.
    fn info_value(&self) -> Vec<u8> {
        json!({
            "addresses": self.cfg.node_addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>(),
        })
        .to_string()
        .into_bytes()
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

    #[test]
    fn first_free_wraps_and_reports_full() {
        let used: BTreeSet<u128> = [2, 3].into();
        assert_eq!(first_free(2, 4, &used), Some(0));
        assert_eq!(first_free(1, 4, &used), Some(1));
        let full: BTreeSet<u128> = [0, 1, 2, 3].into();
        assert_eq!(first_free(1, 4, &full), None);
    }
}
