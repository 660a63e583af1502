//! Unit tests of the pool section's parsing (in their own file: the
//! known-keys test scans `pools.rs` for the keys the decoder reads).

use serde_json::{Value, json};

use super::*;

/// The ipam section around `extra`, with one pool and an endpoint.
fn ipam(extra: Value) -> Value {
    let mut ipam = json!({
        "type": "podlease",
        "dataDir": "/var/lib/podlease-test",
        "pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}],
        "nodeName": "node-a",
        "etcd": {"endpoints": ["http://127.0.0.1:2379"]},
    });
    if let (Some(m), Value::Object(e)) = (ipam.as_object_mut(), extra) {
        m.extend(e);
    }
    ipam
}

fn net(s: &str, field: &str) -> (IpNetwork, String) {
    (s.parse().unwrap(), field.to_owned())
}

/// Parses with a node address 10.1.0.5/32 and a Service range
/// 10.96.0.0/12 beside the pools, and `exclude`.
fn parse_with(
    ipam: &Value,
    others: &[&str],
    exclude: &[(IpNetwork, String)],
) -> Result<PoolsConfig, ConfigError> {
    let obj = Obj::of(ipam, "ipam")?;
    let node = [net("10.1.0.5/32", "ipam.nodeAddresses[0]")];
    let service = [net("10.96.0.0/12", "ipam.serviceCidrs[0]")];
    let data_dir = Path::new("/var/lib/podlease-test");
    Ok(super::parse(&obj, others, data_dir, &node, &service, exclude)?.unwrap())
}

fn parse(ipam: Value) -> Result<PoolsConfig, ConfigError> {
    parse_with(&ipam, &[], &[])
}

/// The field an error names and its whole message.
fn refused(ipam: Value) -> (String, String) {
    let Err(e) = parse(ipam.clone()) else {
        panic!("accepted {ipam}")
    };
    let field = match &e {
        ConfigError::Missing { field }
        | ConfigError::Parse { field, .. }
        | ConfigError::Invalid { field, .. }
        | ConfigError::TooMany { field, .. } => field.clone(),
        other => panic!("unexpected {other:?}"),
    };
    (field, e.to_string())
}

#[test]
fn defaults_fill_what_is_left_out() {
    let p = parse(ipam(json!({}))).unwrap();
    assert_eq!(p.node_name, "node-a");
    assert_eq!(p.etcd.prefix, DEFAULT_PREFIX);
    assert_eq!(p.etcd.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    assert_eq!(p.etcd.endpoints, ["http://127.0.0.1:2379"]);
    let [pool] = p.pools.as_slice() else {
        panic!("{p:?}")
    };
    assert_eq!(pool.block_count(), 1024);
    assert_eq!(
        (pool.min_blocks, pool.max_blocks, pool.gateway),
        (1, None, None)
    );
    assert_eq!(pool.release_after_secs, DEFAULT_RELEASE_AFTER_SECS);
}

#[test]
fn every_field_is_read() {
    let p = parse(ipam(json!({
        "pools": [
            {"cidr": "10.244.0.0/16", "blockSize": 24, "minBlocks": 2, "maxBlocks": 4,
             "releaseAfterSeconds": 60, "gateway": "169.254.1.1"},
            {"cidr": "fd00:10:244::/56", "blockSize": 120},
        ],
        "etcd": {"endpoints": ["https://a:2379/", "http://b:2379"], "prefix": "/x/",
                 "caFile": "/ca", "certFile": "/c", "keyFile": "/k",
                 "username": "u", "passwordFile": "/p", "timeoutSeconds": 5},
    })))
    .unwrap();
    let [v4, v6] = p.pools.as_slice() else {
        panic!("{p:?}")
    };
    assert_eq!(
        (v4.block_size, v4.min_blocks, v4.max_blocks),
        (24, 2, Some(4))
    );
    assert_eq!(v4.release_after_secs, 60);
    assert_eq!(v4.gateway, Some("169.254.1.1".parse().unwrap()));
    assert_eq!(v6.block_size, 120);
    let e = &p.etcd;
    assert_eq!(e.endpoints, ["https://a:2379", "http://b:2379"]);
    assert_eq!(e.prefix, "/x");
    assert_eq!(e.ca_file.as_deref(), Some(Path::new("/ca")));
    assert_eq!(e.cert_file.as_deref(), Some(Path::new("/c")));
    assert_eq!(e.key_file.as_deref(), Some(Path::new("/k")));
    assert_eq!(e.username.as_deref(), Some("u"));
    assert_eq!(e.password_file.as_deref(), Some(Path::new("/p")));
    assert_eq!(e.timeout, Duration::from_secs(5));
}

#[test]
fn each_mistake_names_its_field() {
    let pool = |p: Value| ipam(json!({ "pools": [p] }));
    let etcd = |e: Value| ipam(json!({ "etcd": e }));
    let cases = [
        (
            pool(json!({"blockSize": 26})),
            "ipam.pools[0].cidr",
            "required",
        ),
        (
            pool(json!({"cidr": "10.244.0.0", "blockSize": 26})),
            "ipam.pools[0].cidr",
            "a CIDR",
        ),
        (
            pool(json!({"cidr": "::ffff:10.244.0.0/112", "blockSize": 120})),
            "ipam.pools[0].cidr",
            "IPv4-mapped",
        ),
        (
            pool(json!({"cidr": "10.244.0.1/16", "blockSize": 26})),
            "ipam.pools[0].cidr",
            "host bits",
        ),
        (
            pool(json!({"cidr": "10.244.0.0/16"})),
            "ipam.pools[0].blockSize",
            "required",
        ),
        (
            pool(json!({"cidr": "10.244.0.0/16", "blockSize": 15})),
            "ipam.pools[0].blockSize",
            "between the pool's /16 and /30",
        ),
        (
            pool(json!({"cidr": "10.244.0.0/16", "blockSize": 31})),
            "ipam.pools[0].blockSize",
            "between",
        ),
        (
            pool(json!({"cidr": "fd00::/8", "blockSize": 120})),
            "ipam.pools[0].blockSize",
            "2^64",
        ),
        (
            pool(json!({"cidr": "10.244.0.0/16", "blockSize": 26, "maxBlocks": 0})),
            "ipam.pools[0].maxBlocks",
            "never",
        ),
        (
            pool(json!({"cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "10.244.0.1"})),
            "ipam.pools[0].gateway",
            "link-local",
        ),
        (ipam(json!({"pools": []})), "ipam.pools", "is empty"),
        (
            ipam(
                json!({"pools": [{"cidr": "10.244.0.0/16", "blockSize": 26}, {"cidr": "10.244.8.0/24", "blockSize": 26}]}),
            ),
            "ipam.pools[1]",
            "overlaps pool 10.244.0.0/16",
        ),
        (
            ipam(json!({"pools": [{"cidr": "10.1.0.0/16", "blockSize": 24}]})),
            "ipam.pools[0]",
            "collides with ipam.nodeAddresses[0] 10.1.0.5/32",
        ),
        (
            ipam(json!({"pools": [{"cidr": "10.100.0.0/16", "blockSize": 24}]})),
            "ipam.pools[0]",
            "collides with ipam.serviceCidrs[0] 10.96.0.0/12",
        ),
        (
            ipam(json!({"nodeName": "-x"})),
            "ipam.nodeName",
            "is not a node name",
        ),
        (etcd(json!({})), "ipam.etcd.endpoints", "required"),
        (
            etcd(json!({"endpoints": ["127.0.0.1:2379"]})),
            "ipam.etcd.endpoints[0]",
            "etcd client URL",
        ),
        (
            etcd(json!({"endpoints": ["http://a:1/v3"]})),
            "ipam.etcd.endpoints[0]",
            "etcd client URL",
        ),
        (
            etcd(json!({"endpoints": ["http://a:1"], "prefix": "x"})),
            "ipam.etcd.prefix",
            "must start with '/'",
        ),
        (
            etcd(json!({"endpoints": ["http://a:1"], "timeoutSeconds": 0})),
            "ipam.etcd.timeoutSeconds",
            "between 1 and 60",
        ),
        (
            etcd(json!({"endpoints": ["http://a:1"], "timeoutSeconds": 61})),
            "ipam.etcd.timeoutSeconds",
            "between 1 and 60",
        ),
    ];
    for (ipam, field, says) in cases {
        let (f, msg) = refused(ipam.clone());
        assert_eq!(f, field, "{ipam}: {msg}");
        assert!(msg.contains(says), "{ipam}: {msg}");
    }
    let e = parse_with(&ipam(json!({})), &["ipam.subnet"], &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot be combined with ipam.subnet"),
        "{e}"
    );
    let mut no_etcd = ipam(json!({}));
    no_etcd.as_object_mut().unwrap().remove("etcd");
    assert_eq!(refused(no_etcd).0, "ipam.etcd");
    let many: Vec<Value> = (0..9)
        .map(|i| json!({"cidr": format!("10.{i}.0.0/16"), "blockSize": 24}))
        .collect();
    assert!(matches!(
        parse(ipam(json!({ "pools": many }))),
        Err(ConfigError::TooMany {
            count: 9,
            max: 8,
            ..
        })
    ));
}

#[test]
fn excluded_node_addresses_may_lie_in_a_pool() {
    let pool = ipam(json!({"pools": [{"cidr": "10.1.0.0/16", "blockSize": 24}]}));
    let p = parse_with(&pool, &[], &[net("10.1.0.0/24", "ipam.exclude[0]")]).unwrap();
    assert_eq!(p.node_addresses, ["10.1.0.5".parse::<IpAddr>().unwrap()]);
    assert_eq!(p.data_dir, Path::new("/var/lib/podlease-test"));
    // An exclusion that does not cover the whole node network does not do.
    let e = parse_with(&pool, &[], &[net("10.1.0.0/30", "ipam.exclude[0]")]);
    assert!(e.is_err());
}
