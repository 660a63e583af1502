//! Unit tests of the pool functions that never touch etcd: CHECK's and
//! STATUS's views of the node's blocks, and their errors' codes.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::config::SpecVersion;
use crate::plugin::error_code::{ErrorCode, pool as code_of};
use crate::store::layout::Layout;

fn config(data_dir: &Path, max_blocks: Option<u64>) -> IpamConfig {
    let mut pool = json!({"cidr": "10.244.0.0/16", "blockSize": 26});
    if let Some(m) = max_blocks {
        pool["maxBlocks"] = json!(m);
    }
    let root = json!({
        "cniVersion": "1.1.0",
        "name": "pods",
        "ipam": {
            "type": "podlease",
            "dataDir": data_dir,
            "pools": [pool],
            "nodeName": "node-a",
            "etcd": {"endpoints": ["http://127.0.0.1:9"]},
        },
    });
    IpamConfig::parse(&root, SpecVersion::V1_1_0, &[]).unwrap()
}

fn pods() -> NetworkName {
    NetworkName::new("pods").unwrap()
}

fn hold(data_dir: &Path, block: &str, state: BlockState) {
    let blocks = LocalBlocks {
        blocks: vec![LocalBlock {
            pool: "10.244.0.0/16".parse().unwrap(),
            cidr: block.parse().unwrap(),
            claim_rev: 7,
            state,
            empty_since: None,
            claimed_at: 0,
        }],
    };
    blocks.write(&Layout::new(data_dir, &pods()).meta).unwrap();
}

#[test]
fn check_without_a_block_is_an_attachment_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None);
    let e = for_check(&cfg, &pods()).unwrap_err();
    assert!(matches!(e, PoolError::NoBlock { index: 0, .. }), "{e:?}");
    assert_eq!(code_of(&e), ErrorCode::AttachmentMismatch);
    assert_eq!(
        e.to_string(),
        "this node holds no block of pool 0 (10.244.0.0/16) for network pods"
    );
}

#[test]
fn check_sees_every_held_block_releasing_too() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None);
    hold(dir.path(), "10.244.1.0/26", BlockState::Releasing);
    let c = for_check(&cfg, &pods()).unwrap().unwrap();
    let set = c.range_sets.first().unwrap();
    assert!(set.range_for("10.244.1.5".parse().unwrap()).is_some());
    assert!(set.range_for("10.244.2.5".parse().unwrap()).is_none());
}

#[test]
fn status_with_a_damaged_record_is_not_available() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Some(1));
    let meta = Layout::new(dir.path(), &pods()).meta;
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(local::path(&meta), "{").unwrap();
    let e = for_status(&cfg, &pods()).unwrap_err();
    assert!(matches!(e, PoolError::Status(_)), "{e:?}");
    assert_eq!(code_of(&e), ErrorCode::NotAvailable);
    assert!(e.to_string().contains("is damaged"), "{e}");
}

#[test]
fn status_checks_only_pools_that_cannot_grow() {
    let dir = tempfile::tempdir().unwrap();
    hold(dir.path(), "10.244.1.0/26", BlockState::Active);
    let may_grow = for_status(&config(dir.path(), None), &pods()).unwrap();
    assert!(may_grow.unwrap().range_sets.is_empty());
    let capped = for_status(&config(dir.path(), Some(1)), &pods()).unwrap();
    let capped = capped.unwrap();
    assert_eq!(capped.range_sets.len(), 1);
    assert!(
        capped.range_sets[0]
            .range_for("10.244.1.5".parse().unwrap())
            .is_some()
    );
}

#[test]
fn configs_without_pools_cost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), None);
    cfg.pools = None;
    assert!(for_check(&cfg, &pods()).unwrap().is_none());
    assert!(for_status(&cfg, &pods()).unwrap().is_none());
}
