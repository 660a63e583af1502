//! The ipam options that shape the address space, through the binary:
//! exclude, reuseDelaySeconds, sticky, subnetFile, serviceCidrs and
//! nodeAddresses.

mod common;

use common::{Call, conf, podlease};
use serde_json::{Value, json};

fn net(dir: &std::path::Path, ipam: Value) -> Value {
    conf("1.1.0", "shaped", "podlease", ipam, dir)
}

fn add(c: &Value, id: &str) -> common::Reply {
    Call::new("ADD", c).id(id).run(&podlease())
}

fn add_pod(c: &Value, id: &str, pod: &str) -> common::Reply {
    Call::new("ADD", c)
        .id(id)
        .args(&format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=apps;K8S_POD_NAME={pod}"
        ))
        .run(&podlease())
}

fn del(c: &Value, id: &str) {
    Call::new("DEL", c).id(id).run(&podlease()).success_empty();
}

#[test]
fn excluded_addresses_and_blocks_are_never_handed_out() {
    let d = tempfile::tempdir().unwrap();
    let c = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.20.0.0/28"}]], "exclude": ["10.20.0.2", "10.20.0.4/30", "10.99.0.0/16"]}),
    );
    let mut got = Vec::new();
    for i in 0..20 {
        let r = add(&c, &format!("c{i}"));
        if !r.ok() {
            let msg = r.error(100);
            assert!(
                msg.contains("range set 0 (10.20.0.1-10.20.0.14)")
                    && msg.contains("all 8 allocatable"),
                "{msg}"
            );
            break;
        }
        got.extend(r.addresses());
    }
    // .1 gateway, .2 and .4-.7 excluded: 14 - 1 - 5 = 8 addresses.
    assert_eq!(
        got,
        [
            "10.20.0.3",
            "10.20.0.8",
            "10.20.0.9",
            "10.20.0.10",
            "10.20.0.11",
            "10.20.0.12",
            "10.20.0.13",
            "10.20.0.14"
        ]
    );

    let mut req = c.clone();
    req["runtimeConfig"] = json!({"ips": ["10.20.0.5"]});
    let msg = add(&req, "r").error(7);
    assert!(
        msg.contains("runtimeConfig.ips[0]")
            && msg.contains("10.20.0.5")
            && msg.contains("ipam.exclude[1]"),
        "{msg}"
    );

    let mut bad = c.clone();
    bad["ipam"]["exclude"] = json!(["10.20.0.300"]);
    let msg = add(&bad, "b").error(7);
    assert!(
        msg.contains("ipam.exclude[0]") && msg.contains("10.20.0.300"),
        "{msg}"
    );

    // STATUS sees the pool as full once the 8 are held.
    Call::new("STATUS", &c).run(&podlease()).error(50);
}

#[test]
fn reuse_delay_prefers_other_addresses_then_yields() {
    let d = tempfile::tempdir().unwrap();
    // .2 .. .6 allocatable.
    let c = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.21.0.0/29"}]], "reuseDelaySeconds": 3600}),
    );
    assert_eq!(add(&c, "a").addresses(), ["10.21.0.2"]);
    assert_eq!(add(&c, "b").addresses(), ["10.21.0.3"]);
    del(&c, "a");
    // Fill the rest: round robin goes on to .4 .5 .6, then wraps; .2 was released
    // just now, so with .2 the only free address the delay yields.
    for (id, want) in [
        ("c", "10.21.0.4"),
        ("d", "10.21.0.5"),
        ("e", "10.21.0.6"),
        ("f", "10.21.0.2"),
    ] {
        assert_eq!(add(&c, id).addresses(), [want], "{id}");
    }
    // Only recently released addresses free (.3 and .4): the delay yields to
    // round-robin order rather than fail.
    del(&c, "c");
    del(&c, "b");
    assert_eq!(add(&c, "g").addresses(), ["10.21.0.3"]);
}

#[test]
fn reuse_delay_skips_recent_while_others_are_free() {
    let d = tempfile::tempdir().unwrap();
    let c = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.22.0.0/29"}]], "reuseDelaySeconds": 3600}),
    );
    let without = net(
        tempfile::tempdir().unwrap().path(),
        json!({"ranges": [[{"subnet": "10.22.0.0/29"}]]}),
    );
    // Same history on both: a b c d e take .2-.6, then a is released, then
    // the cursor is moved back before .2 so round robin would reuse .2 at once.
    for cfg in [&c, &without] {
        for id in ["a", "b", "c", "d"] {
            add(cfg, id).success();
        }
        del(cfg, "a");
        del(cfg, "c");
        let dir = std::path::PathBuf::from(cfg["ipam"]["dataDir"].as_str().unwrap()).join("shaped");
        std::fs::write(dir.join("last_reserved_ip.0"), "10.22.0.6").unwrap();
    }
    // Without the delay: .2 (a's) comes first after wrapping. With it: .6 is free and not recent.
    assert_eq!(add(&without, "x").addresses(), ["10.22.0.2"]);
    assert_eq!(add(&c, "x").addresses(), ["10.22.0.6"]);
}

#[test]
fn sticky_pod_gets_its_address_back() {
    let d = tempfile::tempdir().unwrap();
    let c = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.23.0.0/24"}], [{"subnet": "fd00:23::/64"}]], "sticky": true, "reuseDelaySeconds": 3600}),
    );
    let first = add_pod(&c, "web-0-run1", "web-0").addresses();
    add_pod(&c, "web-1-run1", "web-1").success();
    Call::new("DEL", &c)
        .id("web-0-run1")
        .run(&podlease())
        .success_empty();
    add_pod(&c, "other", "other").success();
    // A new container of the same pod: the same addresses, in spite of round robin and the reuse delay.
    assert_eq!(add_pod(&c, "web-0-run2", "web-0").addresses(), first);
    // Without sticky, the same sequence gives a new address.
    let d2 = tempfile::tempdir().unwrap();
    let plain = net(
        d2.path(),
        json!({"ranges": [[{"subnet": "10.23.0.0/24"}], [{"subnet": "fd00:23::/64"}]]}),
    );
    let first = add_pod(&plain, "web-0-run1", "web-0").addresses();
    Call::new("DEL", &plain)
        .id("web-0-run1")
        .run(&podlease())
        .success_empty();
    assert_ne!(add_pod(&plain, "web-0-run2", "web-0").addresses(), first);
    // The sticky address held by someone else: a fresh one, no error.
    let d3 = tempfile::tempdir().unwrap();
    let c3 = net(
        d3.path(),
        json!({"ranges": [[{"subnet": "10.24.0.0/24"}]], "sticky": true}),
    );
    let a = add_pod(&c3, "s1", "db-0").addresses();
    Call::new("DEL", &c3)
        .id("s1")
        .run(&podlease())
        .success_empty();
    let mut req = c3.clone();
    req["runtimeConfig"] = json!({"ips": [a[0].clone()]});
    add(&req, "thief").success();
    let again = add_pod(&c3, "s2", "db-0").addresses();
    assert_ne!(again, a);
}

#[test]
fn subnet_file_flannel_plain_missing_malformed() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("subnet.env");
    let c = net(
        d.path(),
        json!({"subnetFile": file, "routes": [{"dst": "0.0.0.0/0"}]}),
    );
    // Missing: try again later (11), and STATUS says not available (50).
    let msg = add(&c, "a").error(11);
    assert!(
        msg.contains(file.to_str().unwrap()) && msg.contains("does not exist"),
        "{msg}"
    );
    let msg = Call::new("STATUS", &c).run(&podlease()).error(50);
    assert!(msg.contains("does not exist"), "{msg}");
    // DEL needs no ranges.
    Call::new("DEL", &c)
        .id("a")
        .run(&podlease())
        .success_empty();

    std::fs::write(&file, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_SUBNET=fd00:244:7::1/64\nFLANNEL_MTU=1450\n").unwrap();
    let r = add(&c, "a").success();
    assert_eq!(r["ips"][0]["address"], "10.244.7.2/24");
    assert_eq!(r["ips"][0]["gateway"], "10.244.7.1");
    assert_eq!(r["ips"][1]["address"], "fd00:244:7::2/64");
    Call::new("STATUS", &c).run(&podlease()).success_empty();

    std::fs::write(&file, "# plain\n10.30.0.0/24\n").unwrap();
    assert_eq!(add(&c, "b").addresses(), ["10.30.0.2"]);

    std::fs::write(&file, "10.30.0.0/33\n").unwrap();
    let msg = add(&c, "c").error(7);
    assert!(
        msg.contains("line 1") && msg.contains("10.30.0.0/33"),
        "{msg}"
    );
}

#[test]
fn service_cidrs_and_node_addresses_guard_rails() {
    let d = tempfile::tempdir().unwrap();
    let collide = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.96.4.0/24"}]], "serviceCidrs": ["10.96.0.0/12"]}),
    );
    let msg = add(&collide, "a").error(7);
    assert!(
        msg.contains("10.96.4.1-10.96.4.254")
            && msg.contains("ipam.serviceCidrs[0]")
            && msg.contains("10.96.0.0/12"),
        "{msg}"
    );

    let fine = net(
        d.path(),
        json!({"ranges": [[{"subnet": "10.244.0.0/24"}]], "serviceCidrs": ["10.96.0.0/12", "fd00:96::/108"]}),
    );
    add(&fine, "a").success();

    let node = net(
        d.path(),
        json!({"ranges": [[{"subnet": "192.168.50.0/24"}]], "nodeAddresses": ["192.168.50.10"]}),
    );
    let msg = add(&node, "b").error(7);
    assert!(
        msg.contains("ipam.nodeAddresses[0]") && msg.contains("192.168.50.10"),
        "{msg}"
    );
    let mut excluded = node.clone();
    excluded["ipam"]["exclude"] = json!(["192.168.50.10"]);
    add(&excluded, "b").success();
    // The node's bridge address as the range's gateway is fine.
    let gw = net(
        d.path(),
        json!({"ranges": [[{"subnet": "192.168.60.0/24", "gateway": "192.168.60.1"}]], "nodeAddresses": ["192.168.60.1"]}),
    );
    add(&gw, "c").success();
}

#[test]
fn gc_prunes_old_sticky_records_of_pods_that_are_gone() {
    let d = tempfile::tempdir().unwrap();
    let c = conf(
        "1.1.0",
        "shaped",
        "podlease",
        json!({"ranges": [[{"subnet": "10.25.0.0/24"}]], "sticky": true}),
        d.path(),
    );
    add_pod(&c, "live", "web-0").success();
    add_pod(&c, "gone", "job-x").success();
    add_pod(&c, "recent", "job-y").success();
    let sticky = d.path().join("shaped/.podlease/sticky");
    let week_and_a_day = std::time::Duration::from_secs(8 * 24 * 3600);
    for name in ["apps_web-0", "apps_job-x"] {
        let f = std::fs::File::options()
            .write(true)
            .open(sticky.join(name))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() - week_and_a_day)
            .unwrap();
    }
    let mut gc = c.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "live", "ifname": "eth0"}]);
    Call::new("GC", &gc).run(&podlease()).success_empty();
    let mut left: Vec<String> = std::fs::read_dir(&sticky)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    // web-0 still runs; job-y's record is recent; job-x is gone and old.
    assert_eq!(left, ["apps_job-y", "apps_web-0"]);
}
