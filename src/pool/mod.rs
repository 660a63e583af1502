//! Cluster pools: a range source. Nodes lease aligned blocks of a shared
//! pool from etcd; a block this node holds becomes an ordinary range of the
//! network's local state, so the store, the allocator and every guarantee of
//! configured ranges apply unchanged.
//!
//! Owns: "which ranges does this node own" for a pool config, the etcd
//! conversation (claim, adopt, release) and the local block record.
//! Never: which addresses in those ranges are taken (that is the store's).
//! etcd is touched only when an ADD finds no free address in the held blocks
//! (and by the operator's `podlease pool` commands); DEL, CHECK, GC and
//! STATUS never wait on it. See docs/cluster-pools.md.

pub mod admin;
pub mod b64;
pub mod claim;
mod error;
pub mod etcd;
pub mod keys;
pub mod local;

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use crate::config::IpamConfig;
use crate::ids::NetworkName;
use crate::range::{Range, RangeSet};
use crate::store::LockedNetwork;
pub use error::PoolError;
use local::{BlockState, LocalBlock, LocalBlocks};

use crate::config::pools::PoolsConfig;

/// How many times one ADD may grow a pool before giving up.
pub const MAX_GROWTH_PER_POOL: usize = 3;

/// The range of one block: its prefix for results, its first host address
/// as the gateway, or the pool's link-local `gateway`, outside the block as
/// a configured range's may be (the first host address is then handed out).
fn block_range(cidr: IpNetwork, gateway: Option<IpAddr>) -> Option<Range> {
    Range::new(cidr, None, None, gateway).ok()
}

/// `cfg` with the pools' range sets built from `blocks`: each pool's active
/// blocks, or `Err(i)` for the first pool without one.
fn with_blocks(
    cfg: &IpamConfig,
    pools: &PoolsConfig,
    blocks: &LocalBlocks,
) -> Result<IpamConfig, usize> {
    let mut sets = Vec::with_capacity(pools.pools.len());
    for (i, pool) in pools.pools.iter().enumerate() {
        let ranges: Vec<Range> = blocks
            .active(pool.cidr)
            .iter()
            .filter_map(|b| block_range(b.cidr, pool.gateway))
            .collect();
        sets.push(RangeSet::new(ranges).map_err(|_| i)?);
    }
    let mut out = cfg.clone();
    out.range_sets = sets;
    out.requested = vec![None; out.range_sets.len()];
    Ok(out)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Gets one more usable block of pool `i` from etcd: a block committed to
/// this node earlier whose local record was lost (adopted), else a new one.
/// The local record is written only after etcd committed.
fn acquire(
    pools: &PoolsConfig,
    i: usize,
    network: &NetworkName,
    meta: &std::path::Path,
    blocks: &mut LocalBlocks,
) -> Result<(), PoolError> {
    let Some(pool) = pools.pools.get(i) else {
        return Ok(());
    };
    let uid = local::node_uid(&pools.data_dir)?;
    let mut session = claim::Session::new(pools, &uid, network.as_str())?;
    session.register(pool, !blocks.blocks.is_empty())?;
    let adopted = session.unknown_owned(pool, |cidr| blocks.holds(cidr))?;
    let fresh = if adopted.is_empty() {
        let held = blocks.blocks.iter().filter(|b| b.pool == pool.cidr).count() as u64;
        if let Some(max) = pool.max_blocks
            && held >= max
        {
            return Err(PoolError::Exhausted(format!(
                "node {:?} holds {held} block(s) of pool {} for network {network}, its maxBlocks, and none has a free address",
                pools.node_name, pool.cidr
            )));
        }
        vec![session.claim(pool)?]
    } else {
        adopted
    };
    for c in fresh {
        blocks.blocks.push(LocalBlock {
            pool: pool.cidr,
            cidr: c.cidr,
            claim_rev: c.claim_rev,
            state: BlockState::Active,
            empty_since: None,
            claimed_at: now_secs(),
        });
    }
    blocks.write(meta)
}

/// For a pool config, under the network's lock: `cfg` with this node's
/// active blocks as its range sets, claiming a first block for each pool
/// that has none. `None` for a config without pools (no cost).
///
/// # Errors
/// [`PoolError`]: etcd, identity or geometry conflicts, exhaustion, the
/// local record.
pub fn for_add(
    cfg: &IpamConfig,
    network: &NetworkName,
    net: &mut LockedNetwork,
) -> Result<Option<IpamConfig>, PoolError> {
    let Some(pools) = &cfg.pools else {
        return Ok(None);
    };
    let meta = net.layout().meta.clone();
    let mut blocks = LocalBlocks::read(&meta)?;
    loop {
        match with_blocks(cfg, pools, &blocks) {
            Ok(c) => return Ok(Some(c)),
            Err(i) => acquire(pools, i, network, &meta, &mut blocks)?,
        }
    }
}

/// Under the network's lock, after range set `set` of a pool config had no
/// free address: one more block for it, and the config with it.
///
/// # Errors
/// [`PoolError`], as [`for_add`].
pub fn grow_pool(
    cfg: &IpamConfig,
    set: usize,
    network: &NetworkName,
    net: &mut LockedNetwork,
) -> Result<IpamConfig, PoolError> {
    let Some(pools) = &cfg.pools else {
        return Ok(cfg.clone());
    };
    let meta = net.layout().meta.clone();
    let mut blocks = LocalBlocks::read(&meta)?;
    acquire(pools, set, network, &meta, &mut blocks)?;
    with_blocks(cfg, pools, &blocks)
        .map_err(|i| PoolError::Io(format!("pool {i} has no block after a claim (a bug)")))
}

/// For CHECK: `cfg` with the node's blocks (active or releasing) as range
/// sets, read without etcd. `None` for a config without pools.
///
/// # Errors
/// [`PoolError::Io`] when the record cannot be read; [`PoolError::NoBlock`]
/// (code 102) when a pool has no block at all (nothing can be allocated
/// from it).
pub fn for_check(cfg: &IpamConfig, network: &NetworkName) -> Result<Option<IpamConfig>, PoolError> {
    let Some(pools) = &cfg.pools else {
        return Ok(None);
    };
    let meta = crate::store::layout::Layout::new(&cfg.data_dir, network).meta;
    let mut blocks = LocalBlocks::read(&meta)?;
    for b in &mut blocks.blocks {
        b.state = BlockState::Active;
    }
    with_blocks(cfg, pools, &blocks)
        .map(Some)
        .map_err(|index| PoolError::NoBlock {
            index,
            pool: pools.pools.get(index).map(|p| p.cidr),
            network: network.clone(),
        })
}

/// For STATUS: `cfg` whose range sets are only the pools that cannot grow
/// (at `maxBlocks`): a pool that can still claim a block can serve ADD as
/// far as this node knows. Never touches etcd.
///
/// # Errors
/// [`PoolError::Status`] (code 50) when the record cannot be read.
pub fn for_status(
    cfg: &IpamConfig,
    network: &NetworkName,
) -> Result<Option<IpamConfig>, PoolError> {
    let Some(pools) = &cfg.pools else {
        return Ok(None);
    };
    let meta = crate::store::layout::Layout::new(&cfg.data_dir, network).meta;
    let blocks = LocalBlocks::read(&meta).map_err(|e| PoolError::Status(Box::new(e)))?;
    let mut out = cfg.clone();
    out.range_sets = pools
        .pools
        .iter()
        .filter(|p| {
            let held = blocks.blocks.iter().filter(|b| b.pool == p.cidr).count() as u64;
            p.max_blocks.is_some_and(|m| held >= m)
        })
        .filter_map(|p| {
            let ranges = blocks
                .active(p.cidr)
                .iter()
                .filter_map(|b| block_range(b.cidr, p.gateway))
                .collect();
            RangeSet::new(ranges).ok()
        })
        .collect();
    out.requested = vec![None; out.range_sets.len()];
    Ok(Some(out))
}

#[cfg(test)]
mod tests;
