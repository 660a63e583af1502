//! Every example config under examples/conf is usable: each plugin whose
//! ipam type is podlease gets an address through the real binary.

mod common;

use serde_json::Value;

#[test]
fn every_example_conflist_allocates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/conf");
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("conflist") {
            continue;
        }
        let list: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for plugin in list["plugins"].as_array().unwrap() {
            if plugin["ipam"]["type"] != "podlease" {
                continue;
            }
            if plugin["ipam"].get("pools").is_some() {
                continue; // needs etcd: tests/cluster_pools.rs runs it
            }
            let state = tempfile::tempdir().unwrap();
            let mut conf = plugin.clone();
            conf["name"] = list["name"].clone();
            conf["cniVersion"] = list["cniVersion"].clone();
            conf["ipam"]["dataDir"] = Value::from(state.path().to_str().unwrap());
            if conf["ipam"].get("subnetFile").is_some() {
                let f = state.path().join("subnet.env");
                std::fs::write(
                    &f,
                    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n",
                )
                .unwrap();
                conf["ipam"]["subnetFile"] = Value::from(f.to_str().unwrap());
            }
            let reply = common::Call::new("ADD", &conf).run(&common::podlease());
            let result = reply.success();
            let n_sets = conf["ipam"]["ranges"].as_array().map_or(1, Vec::len);
            assert_eq!(
                result["ips"].as_array().unwrap().len(),
                n_sets,
                "{}: {reply:?}",
                path.display()
            );
            common::Call::new("DEL", &conf)
                .run(&common::podlease())
                .success_empty();
            tried += 1;
        }
    }
    assert!(tried >= 5, "expected the example conflists, tried {tried}");
}
