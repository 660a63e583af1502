//! The key layout of cluster pools in etcd and the exact values compared.
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

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use super::etcd::Kv;
use crate::config::pools::Pool;
use crate::range::{Family, from_u128, subnet_bounds, to_u128};

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
pub(super) fn block_index(pool: &Pool, hex: &str) -> Option<u128> {
    let v = u128::from_str_radix(hex, 16).ok()?;
    let (base, last) = subnet_bounds(pool.cidr);
    let family = Family::of(pool.cidr.ip());
    let shift = u32::from(family.bits() - pool.block_size);
    (v >= base && v <= last).then(|| (v - base) >> shift)
}

/// Parses a block value.
pub(super) fn block_owner(kv: &Kv) -> (String, String, String) {
    let v: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("node"), s("uid"), s("network"))
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
}
