//! Unit tests of `IpamConfig::parse` and `ReleaseConfig::parse`: range-set
//! order, defaults, requested addresses, error variants, and a property test
//! that no JSON value makes parsing panic.

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use ipnetwork::IpNetwork;

use crate::range::{RangeError, RangeSetError};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}

/// A network config around `ipam`, with extra top-level keys.
fn root(ipam: Value, top: Value) -> Value {
    let mut r = json!({ "cniVersion": "1.0.0", "name": "mynet", "ipam": ipam });
    if let (Some(m), Value::Object(e)) = (r.as_object_mut(), top) {
        m.extend(e);
    }
    r
}

fn parse(ipam: Value) -> Result<IpamConfig, ConfigError> {
    IpamConfig::parse(&root(ipam, json!({})), SpecVersion::V1_0_0, &[])
}

fn parse_full(
    ipam: Value,
    top: Value,
    version: SpecVersion,
    args: &str,
) -> Result<IpamConfig, ConfigError> {
    IpamConfig::parse(&root(ipam, top), version, &args_ips(args))
}

/// The addresses of a `CNI_ARGS` value that is empty or one `IP=a[,b]`.
fn args_ips(args: &str) -> Vec<IpAddr> {
    args.strip_prefix("IP=")
        .map(|v| {
            v.split(',')
                .map(|s| requested::parse_requested_ip(s).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// (subnet, start, end, gateway) of every range of every set, as text.
fn shape(cfg: &IpamConfig) -> Vec<Vec<(String, String, String, String)>> {
    cfg.range_sets
        .iter()
        .map(|s| {
            s.ranges()
                .iter()
                .map(|r| {
                    (
                        r.subnet.to_string(),
                        r.start.to_string(),
                        r.end.to_string(),
                        r.gateway.to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

fn t(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

fn requested(cfg: &IpamConfig) -> Vec<Option<(String, String)>> {
    cfg.requested
        .iter()
        .map(|r| r.as_ref().map(|r| (r.ip.to_string(), r.source.clone())))
        .collect()
}

// ---------------------------------------------------------------- range sets

#[test]
fn order_is_runtime_then_legacy_then_ranges() {
    // host-local C3.
    let cfg = parse_full(
        json!({
            "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20", "gateway": "10.1.2.30",
            "ranges": [[{ "subnet": "11.1.2.0/24", "rangeStart": "11.1.2.9", "rangeEnd": "11.1.2.20", "gateway": "11.1.2.30" }]]
        }),
        json!({ "runtimeConfig": { "ipRanges": [[{ "subnet": "12.1.3.0/24" }]] } }),
        SpecVersion::V0_3_1,
        "",
    )
    .unwrap();
    assert_eq!(
        shape(&cfg),
        [
            vec![t("12.1.3.0/24", "12.1.3.1", "12.1.3.254", "12.1.3.1")],
            vec![t("10.1.2.0/24", "10.1.2.9", "10.1.2.20", "10.1.2.30")],
            vec![t("11.1.2.0/24", "11.1.2.9", "11.1.2.20", "11.1.2.30")],
        ]
    );
    assert_eq!(cfg.requested, vec![None, None, None]);
}

#[test]
fn legacy_fields_without_subnet_are_ignored() {
    let cfg = parse(json!({ "rangeStart": "10.9.9.9", "gateway": "10.9.9.1", "ranges": [[{ "subnet": "10.1.2.0/24" }]] })).unwrap();
    assert_eq!(
        shape(&cfg),
        [vec![t("10.1.2.0/24", "10.1.2.1", "10.1.2.254", "10.1.2.1")]]
    );
    // Ignored, but read: host-local's decoder fails on an address that is none.
    let e =
        parse(json!({ "gateway": "junk", "ranges": [[{ "subnet": "10.1.2.0/24" }]] })).unwrap_err();
    assert!(
        matches!(&e, ConfigError::Parse { field, .. } if field == "ipam.gateway"),
        "{e:?}"
    );
}

#[test]
fn defaults() {
    let cfg = parse(json!({ "ranges": [
        [{ "subnet": "192.0.2.0/24" }, { "subnet": "192.0.3.0/25" }, { "subnet": "10.0.0.0/30" }],
        [{ "subnet": "2001:db8:1::/64" }],
        [{ "subnet": "2001:db8:2::/126" }]
    ] }))
    .unwrap();
    assert_eq!(
        shape(&cfg),
        [
            vec![
                t("192.0.2.0/24", "192.0.2.1", "192.0.2.254", "192.0.2.1"),
                t("192.0.3.0/25", "192.0.3.1", "192.0.3.126", "192.0.3.1"),
                t("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1"),
            ],
            vec![t(
                "2001:db8:1::/64",
                "2001:db8:1::1",
                "2001:db8:1:0:ffff:ffff:ffff:ffff",
                "2001:db8:1::1"
            )],
            vec![t(
                "2001:db8:2::/126",
                "2001:db8:2::1",
                "2001:db8:2::3",
                "2001:db8:2::1"
            )],
        ]
    );
    assert_eq!(cfg.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(cfg.resolv_conf, None);
    assert!(cfg.routes.is_empty());
    assert!(cfg.reclaim_on_reboot);
}

#[test]
fn explicit_values_and_empty_strings() {
    let cfg = parse(json!({
        "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.40", "rangeEnd": "10.1.2.50", "gateway": "10.1.2.254" }],
                   [{ "subnet": "10.1.3.0/24", "rangeStart": "", "rangeEnd": "", "gateway": "" }]],
        "dataDir": "/run/x",
        "resolvConf": "/etc/r.conf",
        "reclaimOnReboot": false
    }))
    .unwrap();
    assert_eq!(
        shape(&cfg),
        [
            vec![t("10.1.2.0/24", "10.1.2.40", "10.1.2.50", "10.1.2.254")],
            vec![t("10.1.3.0/24", "10.1.3.1", "10.1.3.254", "10.1.3.1")],
        ]
    );
    assert_eq!(cfg.data_dir, PathBuf::from("/run/x"));
    assert_eq!(cfg.resolv_conf, Some(PathBuf::from("/etc/r.conf")));
    assert!(!cfg.reclaim_on_reboot);
    // "" means absent for dataDir and resolvConf too.
    let cfg = parse(json!({ "subnet": "10.1.2.0/24", "dataDir": "", "resolvConf": "" })).unwrap();
    assert_eq!(cfg.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(cfg.resolv_conf, None);
}

#[test]
fn keys_are_case_insensitive_and_exact_wins() {
    let cfg = parse_full(
        json!({ "Subnet": "10.1.2.0/24", "RANGESTART": "10.1.2.5", "DataDir": "/d", "ROUTES": [{ "DST": "0.0.0.0/0", "GW": "10.1.2.1" }] }),
        json!({}),
        SpecVersion::V1_1_0,
        "",
    )
    .unwrap();
    assert_eq!(
        shape(&cfg),
        [vec![t("10.1.2.0/24", "10.1.2.5", "10.1.2.254", "10.1.2.1")]]
    );
    assert_eq!(cfg.data_dir, PathBuf::from("/d"));
    assert_eq!(cfg.routes.len(), 1);
    let both = parse(json!({ "subnet": "10.1.2.0/24", "SUBNET": "garbage" })).unwrap();
    assert_eq!(shape(&both)[0][0].0, "10.1.2.0/24");
    // The root's keys too.
    let r = json!({ "cniVersion": "1.0.0", "name": "n", "IPAM": { "subnet": "10.1.2.0/24" } });
    assert!(IpamConfig::parse(&r, SpecVersion::V1_0_0, &[]).is_ok());
}

#[test]
fn routes() {
    let cfg = parse(json!({
        "subnet": "10.1.2.0/24",
        "routes": [
            { "dst": "0.0.0.0/0" },
            { "dst": "10.6.7.8/16", "gw": "10.1.2.1", "mtu": 1400, "advmss": 1360, "priority": 5, "table": 100, "scope": 253 },
            { "dst": "::/0", "gw": "2001:db8::1" },
            { "dst": "::/0", "gw": "" }
        ]
    }))
    .unwrap();
    let r = &cfg.routes;
    assert_eq!(r.len(), 4);
    assert_eq!(
        (r[0].dst, r[0].gw, r[0].mtu),
        (net("0.0.0.0/0"), None, None)
    );
    assert_eq!(
        r[1].dst.to_string(),
        "10.6.7.8/16",
        "host bits of dst are kept"
    );
    assert_eq!(r[1].gw, Some(ip("10.1.2.1")));
    assert_eq!(
        (r[1].mtu, r[1].advmss, r[1].priority, r[1].table, r[1].scope),
        (Some(1400), Some(1360), Some(5), Some(100), Some(253))
    );
    assert_eq!(r[2].gw, Some(ip("2001:db8::1")));
    assert_eq!(r[3].gw, None);
}

// ---------------------------------------------------------------- requested addresses

#[test]
fn requested_addresses_go_to_their_range_set() {
    let cfg = parse_full(
        json!({ "ranges": [
            [{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20" }],
            [{ "subnet": "11.1.2.0/24" }, { "subnet": "172.16.0.0/24" }],
            [{ "subnet": "2001:db8:1::/64" }],
            [{ "subnet": "12.0.0.0/24" }]
        ] }),
        json!({ "args": { "cni": { "ips": ["2001:db8:1::11/64"] } }, "runtimeConfig": { "ips": ["172.16.0.5/24"] } }),
        SpecVersion::V1_0_0,
        "IP=::ffff:10.1.2.10/24",
    )
    .unwrap();
    assert_eq!(
        requested(&cfg),
        [
            Some(("10.1.2.10".into(), "CNI_ARGS IP".into())),
            Some(("172.16.0.5".into(), "runtimeConfig.ips[0]".into())),
            Some(("2001:db8:1::11".into(), "args.cni.ips[0]".into())),
            None,
        ]
    );
}

#[test]
fn the_same_address_twice_is_one_request() {
    let cfg = parse_full(
        json!({ "subnet": "10.1.2.0/24" }),
        json!({ "args": { "cni": { "ips": ["10.1.2.7"] } }, "runtimeConfig": { "ips": ["10.1.2.7/24"] } }),
        SpecVersion::V1_0_0,
        "IP=10.1.2.7",
    )
    .unwrap();
    assert_eq!(
        requested(&cfg),
        [Some(("10.1.2.7".into(), "CNI_ARGS IP".into()))]
    );
}

#[test]
fn requested_address_errors() {
    let ranges = json!({ "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.20" }]] });
    let e = parse_full(
        ranges.clone(),
        json!({ "runtimeConfig": { "ips": ["10.1.2.21"] } }),
        SpecVersion::V1_0_0,
        "",
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::RequestedOutside { field, ip: a, .. } if field == "runtimeConfig.ips[0]" && *a == ip("10.1.2.21")),
        "{e:?}"
    );
    assert!(e.to_string().contains("10.1.2.9-10.1.2.20"), "{e}");
    let e = parse_full(
        ranges.clone(),
        json!({ "args": { "cni": { "ips": ["10.1.2.11"] } } }),
        SpecVersion::V1_0_0,
        "IP=10.1.2.10",
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::RequestedTwice { field, ip: a, other, set: 0, .. }
            if field == "args.cni.ips[0]" && *a == ip("10.1.2.11") && *other == ip("10.1.2.10")),
        "{e:?}"
    );
    let gw = json!({ "ranges": [[{ "subnet": "10.1.2.0/24", "gateway": "10.1.2.9" }]] });
    let e = parse_full(gw, json!({}), SpecVersion::V1_0_0, "IP=10.1.2.9").unwrap_err();
    assert!(
        matches!(&e, ConfigError::RequestedGateway { field, ip: a } if field == "CNI_ARGS IP" && *a == ip("10.1.2.9")),
        "{e:?}"
    );
    for bad in [
        json!("10.1.2.10"),
        json!([5]),
        json!(["nonsense"]),
        json!([""]),
        json!(["10.1.2.10/33"]),
    ] {
        let e = parse_full(
            ranges.clone(),
            json!({ "runtimeConfig": { "ips": bad } }),
            SpecVersion::V1_0_0,
            "",
        )
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::Type { field, .. } | ConfigError::Parse { field, .. } if field.starts_with("runtimeConfig.ips")),
            "{e:?}"
        );
    }
}

// ---------------------------------------------------------------- errors

/// Whether an error is the expected one.
type Expect = Box<dyn Fn(&ConfigError) -> bool>;

#[test]
fn error_variants_name_their_field() {
    let cases: Vec<(Value, Value, Expect)> = vec![
        (
            json!(null),
            json!({ "ipam": null }),
            Box::new(|e| matches!(e, ConfigError::Missing { field } if field == "ipam")),
        ),
        (
            json!("x"),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "ipam")),
        ),
        (
            json!({}),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::NoRanges)),
        ),
        (
            json!({ "ranges": [] }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::NoRanges)),
        ),
        (
            json!({ "ranges": "x" }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.ranges")),
        ),
        (
            json!({ "ranges": [{}] }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.ranges[0]")),
        ),
        (
            json!({ "ranges": [[]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::RangeSet { field, reason: RangeSetError::Empty } if field == "ipam.ranges[0]"),
            ),
        ),
        (
            json!({ "ranges": [[{}]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Missing { field } if field == "ipam.ranges[0][0].subnet"),
            ),
        ),
        (
            json!({ "ranges": [[{ "subnet": 5 }]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.ranges[0][0].subnet"),
            ),
        ),
        (
            json!({ "ranges": [[{ "subnet": "foo" }]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Parse { field, value, .. } if field == "ipam.ranges[0][0].subnet" && value == "foo"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0" }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Parse { field, .. } if field == "ipam.subnet")),
        ),
        (
            json!({ "subnet": "" }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Parse { field, .. } if field == "ipam.subnet")),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.12/24" }]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Range { field, reason: RangeError::HostBits { network, .. } } if field == "ipam.ranges[0][0]" && *network == ip("192.0.2.0")),
            ),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.0/31" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::Range {
                        reason: RangeError::TooSmall(_),
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "::ffff:10.0.0.0/120" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::Range {
                        reason: RangeError::Mapped(_),
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.0/24", "rangeStart": "192.0.2.255" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::Range {
                        reason: RangeError::Reserved {
                            field: "rangeStart",
                            ..
                        },
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.0/24", "rangeStart": "192.0.2.50", "rangeEnd": "192.0.2.40" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::Range {
                        reason: RangeError::Reversed { .. },
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.0/24", "gateway": "2001:db8::1" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::Range {
                        reason: RangeError::Outside {
                            field: "gateway",
                            ..
                        },
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.0.2.0/24", "rangeEnd": "x" }]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Parse { field, .. } if field == "ipam.ranges[0][0].rangeEnd"),
            ),
        ),
        (
            json!({ "ranges": [[{ "subnet": "10.1.0.0/22" }, { "subnet": "10.1.2.0/24" }]] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::RangeSet { field, reason: RangeSetError::Overlap(..) } if field == "ipam.ranges[0]"),
            ),
        ),
        (
            json!({ "ranges": [[{ "subnet": "10.1.0.0/22" }, { "subnet": "2001:db8:5::/64" }]] }),
            json!({}),
            Box::new(|e| {
                matches!(
                    e,
                    ConfigError::RangeSet {
                        reason: RangeSetError::MixedFamilies(..),
                        ..
                    }
                )
            }),
        ),
        (
            json!({ "ranges": [[{ "subnet": "192.168.0.0/20" }], [{ "subnet": "192.168.2.0/24" }]] }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::SetsOverlap { a: 0, b: 1, .. })),
        ),
        (
            json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }]] }),
            json!({ "runtimeConfig": { "ipRanges": [[{ "subnet": "10.1.0.0/16" }]] } }),
            Box::new(|e| matches!(e, ConfigError::SetsOverlap { a: 0, b: 1, .. })),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "0.0.0.0/0", "gw": "2001:db8::1" }] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Invalid { field, .. } if field == "ipam.routes[0].gw"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "routes": [{}] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Missing { field } if field == "ipam.routes[0].dst"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "10.0.0.0/8", "mtu": 1.5 }] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.routes[0].mtu"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "dataDir": 5 }),
            json!({}),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.dataDir")),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "resolvConf": [] }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.resolvConf"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0/24", "reclaimOnReboot": "yes" }),
            json!({}),
            Box::new(
                |e| matches!(e, ConfigError::Type { field, .. } if field == "ipam.reclaimOnReboot"),
            ),
        ),
        (
            json!({ "subnet": "10.1.2.0/24" }),
            json!({ "runtimeConfig": 5 }),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "runtimeConfig")),
        ),
        (
            json!({ "subnet": "10.1.2.0/24" }),
            json!({ "args": { "cni": [] } }),
            Box::new(|e| matches!(e, ConfigError::Type { field, .. } if field == "args.cni")),
        ),
    ];
    for (i, (ipam, top, check)) in cases.iter().enumerate() {
        let mut r = root(ipam.clone(), json!({}));
        if let (Some(m), Value::Object(e)) = (r.as_object_mut(), top) {
            for (k, v) in e {
                if v.is_null() {
                    m.remove(k);
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        let e = IpamConfig::parse(&r, SpecVersion::V1_1_0, &[]).unwrap_err();
        assert!(check(&e), "case {i} ({ipam} {top}): unexpected {e:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn one_address_per_family_before_0_3_0() {
    let two_v4 =
        json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "11.1.2.0/24" }]] });
    for version in [SpecVersion::V0_1_0, SpecVersion::V0_2_0] {
        let e = parse_full(two_v4.clone(), json!({}), version, "").unwrap_err();
        assert!(
            matches!(&e, ConfigError::TooManyPerFamily { version: v, a_field, b_field, family: "4" }
                if *v == version && a_field == "ipam.ranges[0]" && b_field == "ipam.ranges[1]"),
            "{e:?}"
        );
        // Dual stack is fine (C12).
        let dual =
            json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/48" }]] });
        assert!(parse_full(dual, json!({}), version, "").is_ok());
    }
    assert!(parse_full(two_v4, json!({}), SpecVersion::V0_3_0, "").is_ok());
}

// ---------------------------------------------------------------- ReleaseConfig

#[test]
fn release_config_tolerates_everything_but_a_bad_data_dir() {
    let ok = |r: Value| ReleaseConfig::parse(&r).unwrap();
    let d = ok(
        json!({ "name": "n", "ipam": { "dataDir": "/run/cni", "ranges": "x", "subnet": "junk", "routes": 5 } }),
    );
    assert_eq!(d.data_dir, PathBuf::from("/run/cni"));
    assert!(d.reclaim_on_reboot);
    assert_eq!(
        ok(json!({ "name": "n" })).data_dir,
        PathBuf::from(DEFAULT_DATA_DIR)
    );
    assert_eq!(
        ok(json!({ "ipam": "x" })).data_dir,
        PathBuf::from(DEFAULT_DATA_DIR)
    );
    assert_eq!(
        ok(json!({ "ipam": { "dataDir": "" } })).data_dir,
        PathBuf::from(DEFAULT_DATA_DIR)
    );
    assert_eq!(
        ok(json!({ "IPAM": { "DataDir": "/x" } })).data_dir,
        PathBuf::from("/x")
    );
    assert_eq!(ok(json!([1, 2])).data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(!ok(json!({ "ipam": { "reclaimOnReboot": false } })).reclaim_on_reboot);
    assert!(ok(json!({ "ipam": { "reclaimOnReboot": "no" } })).reclaim_on_reboot);
    // A dataDir of the wrong type could name another directory: refuse.
    let e = ReleaseConfig::parse(&json!({ "ipam": { "dataDir": 5 } })).unwrap_err();
    assert!(
        matches!(e, ConfigError::Type { ref field, .. } if field == "ipam.dataDir"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------- no panics

const KEYS: &[&str] = &[
    "ranges",
    "subnet",
    "rangeStart",
    "rangeEnd",
    "gateway",
    "routes",
    "dst",
    "gw",
    "mtu",
    "advmss",
    "priority",
    "table",
    "scope",
    "dataDir",
    "resolvConf",
    "reclaimOnReboot",
    "ips",
    "ipRanges",
    "cni",
    "Subnet",
    "RANGES",
    "x",
    "",
];

const STRINGS: &[&str] = &[
    "",
    "0.0.0.0/0",
    "::/0",
    "0.0.0.0/32",
    "255.255.255.255/30",
    "255.255.255.252/30",
    "255.255.255.255",
    "0.0.0.0",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126",
    "::",
    "::1",
    "::ffff:1.2.3.4",
    "::ffff:0.0.0.0/96",
    "::ffff:10.0.0.0/120",
    "10.1.2.0/24",
    "10.1.2.3/24",
    "10.1.2.255",
    "10.1.2.1",
    "10.1.2.0/33",
    "2001:db8::/64",
    "2001:db8::1",
    "2001:db8::/129",
    "fe80::1%eth0",
    "1.2.3.4/-1",
    "1.2.3.4/",
    "/24",
    "a/b/c",
    "é",
    "10.1.2.5/24/1",
    "x",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// An address of either family as text, biased towards the edges.
fn any_ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|v| std::net::Ipv4Addr::from(v).to_string()),
        prop::sample::select(vec![
            0u32,
            1,
            2,
            u32::MAX,
            u32::MAX - 1,
            0x0a01_0200,
            0x0a01_02ff
        ])
        .prop_map(|v| std::net::Ipv4Addr::from(v).to_string()),
        any::<u128>().prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
        prop::sample::select(vec![
            0u128,
            1,
            u128::MAX,
            u128::MAX - 1,
            0xffff_ffff,
            0x1_0000_0000,
            0xffff_0000_0000
        ])
        .prop_map(|v| std::net::Ipv6Addr::from(v).to_string()),
    ]
}

/// A structurally valid range object with arbitrary numbers in it.
fn range_obj() -> impl Strategy<Value = Value> {
    (
        any_ip(),
        0u8..=130,
        prop::option::of(any_ip()),
        prop::option::of(any_ip()),
        prop::option::of(any_ip()),
    )
        .prop_map(|(ip, prefix, start, end, gw)| {
            let mut r = json!({ "subnet": format!("{ip}/{prefix}") });
            if let Some(s) = start {
                r["rangeStart"] = json!(s);
            }
            if let Some(e) = end {
                r["rangeEnd"] = json!(e);
            }
            if let Some(g) = gw {
                r["gateway"] = json!(g);
            }
            r
        })
}

fn versions() -> impl Strategy<Value = SpecVersion> {
    prop::sample::select(SpecVersion::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_ipam_never_panics(ipam in json_value(), top in json_value(), version in versions()) {
        let mut r = json!({ "cniVersion": "1.0.0", "name": "n", "ipam": ipam });
        if let (Some(m), Value::Object(extra)) = (r.as_object_mut(), top) {
            for (k, v) in extra {
                if k != "ipam" {
                    m.insert(k, v);
                }
            }
        }
        let _ = IpamConfig::parse(&r, version, &[]);
        let _ = ReleaseConfig::parse(&r);
    }

    #[test]
    fn arbitrary_root_never_panics(root in json_value(), version in versions()) {
        let _ = IpamConfig::parse(&root, version, &[]);
        let _ = ReleaseConfig::parse(&root);
    }

    #[test]
    fn arbitrary_ranges_never_panic(
        sets in prop::collection::vec(prop::collection::vec(range_obj(), 0..4), 0..4),
        requests in prop::collection::vec(any_ip(), 0..4),
        version in versions(),
    ) {
        let ips: Vec<Value> = requests.iter().map(|s| json!(s)).collect();
        let r = root(json!({ "ranges": sets }), json!({ "runtimeConfig": { "ips": ips } }));
        let args: Vec<IpAddr> = requests.first().and_then(|s| requested::parse_requested_ip(s)).into_iter().collect();
        if let Ok(cfg) = IpamConfig::parse(&r, version, &args) {
            // What parses is consistent: one slot per set, each request inside its set.
            prop_assert_eq!(cfg.requested.len(), cfg.range_sets.len());
            for (set, req) in cfg.range_sets.iter().zip(&cfg.requested) {
                prop_assert!(!set.ranges().is_empty());
                for range in set.ranges() {
                    prop_assert!(range.start_u() <= range.end_u());
                    prop_assert!(range.subnet.contains(range.start) && range.subnet.contains(range.end));
                    prop_assert!(range.subnet.contains(range.gateway));
                }
                if let Some(req) = req {
                    prop_assert!(set.range_for(req.ip).is_some());
                }
            }
        }
    }
}

/// Lists are bounded before anything quadratic runs: a 4 MiB config could
/// otherwise hold ~100k ranges and make one ADD reserve thousands of addresses.
#[test]
fn oversized_lists_are_refused() {
    let many_sets: Vec<Value> = (0..65)
        .map(|i| json!([{ "subnet": format!("10.{i}.0.0/24") }]))
        .collect();
    let e = parse(json!({ "ranges": many_sets })).unwrap_err();
    assert!(
        matches!(&e, ConfigError::TooMany { field, count: 65, max: MAX_RANGE_SETS } if field == "ipam.ranges"),
        "{e:?}"
    );
    let big_set: Vec<Value> = (0..1025)
        .map(|i| json!({ "subnet": format!("10.{}.{}.0/24", i / 256, i % 256) }))
        .collect();
    let e = parse(json!({ "ranges": [big_set] })).unwrap_err();
    assert!(
        matches!(&e, ConfigError::TooMany { field, count: 1025, .. } if field == "ipam.ranges[0]"),
        "{e:?}"
    );
    // 64 sets of 17 ranges: each set is fine, the total (1088) is not.
    let total: Vec<Value> = (0..64)
        .map(|s| {
            Value::Array(
                (0..17)
                    .map(|r| json!({ "subnet": format!("10.{s}.{r}.0/24") }))
                    .collect(),
            )
        })
        .collect();
    let e = parse(json!({ "ranges": total })).unwrap_err();
    assert!(
        matches!(
            &e,
            ConfigError::TooMany {
                count: 1088,
                max: MAX_RANGES,
                ..
            }
        ),
        "{e:?}"
    );
    let excludes: Vec<String> = (0..=MAX_LIST)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    let e = parse(json!({ "subnet": "10.0.0.0/8", "exclude": excludes })).unwrap_err();
    assert!(
        matches!(&e, ConfigError::TooMany { field, .. } if field == "ipam.exclude"),
        "{e:?}"
    );
    // At the limits, fine.
    let sets: Vec<Value> = (0..64)
        .map(|i| json!([{ "subnet": format!("10.{i}.0.0/24") }]))
        .collect();
    assert_eq!(
        parse(json!({ "ranges": sets })).unwrap().range_sets.len(),
        64
    );
}

/// Go's key rules through the whole parse: the last of keys equal under
/// folding wins, at every level; `ſ` folds to `s`; a later `null` resets an
/// IP field and leaves a string field.
#[test]
fn keys_as_go_decodes_them() {
    let cfg = |text: &str| {
        IpamConfig::parse(
            &decode_go_json(text.as_bytes()).unwrap(),
            SpecVersion::V1_0_0,
            &[],
        )
    };
    let c = cfg(
        r#"{"IPAM":{"Subnet":"10.2.0.0/24","subnet":"10.1.0.0/24","DataDir":"/a","DATADIR":"/b"}}"#,
    )
    .unwrap();
    assert_eq!(shape(&c)[0][0].0, "10.1.0.0/24");
    assert_eq!(c.data_dir, std::path::PathBuf::from("/b"));
    let c = cfg(r#"{"ipam":{"ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.1.0.7","RANGESTART":"10.1.0.8"}]],"ROUTES":[{"dst":"10.9.0.0/16","DST":"10.8.0.0/16"}]}}"#)
        .unwrap();
    assert_eq!(shape(&c)[0][0].1, "10.1.0.8");
    assert_eq!(c.routes[0].dst, net("10.8.0.0/16"));
    let c = cfg("{\"ipam\":{\"\u{17f}ubnet\":\"10.3.0.0/24\"}}").unwrap();
    assert_eq!(shape(&c)[0][0].0, "10.3.0.0/24");
    let c = cfg(r#"{"ipam":{"subnet":"10.1.0.0/24","gateway":"10.1.0.9","Gateway":null,"dataDir":"/a","DataDir":null}}"#)
        .unwrap();
    assert_eq!(shape(&c)[0][0].3, "10.1.0.1");
    assert_eq!(c.data_dir, std::path::PathBuf::from("/a"));
    assert!(matches!(
        cfg(r#"{"ipam":{"subnet":"10.1.0.0/24"},"Ipam":null}"#),
        Err(ConfigError::Missing { .. })
    ));
    // The dotless i folds to nothing.
    assert!(matches!(
        cfg("{\"\u{131}pam\":{\"subnet\":\"10.1.0.0/24\"}}"),
        Err(ConfigError::Missing { .. })
    ));
}

#[test]
fn pool_gateway_is_link_local_of_the_pools_family() {
    let pools = |pool: Value| {
        parse(
            json!({ "nodeName": "a", "etcd": { "endpoints": ["http://127.0.0.1:2379"] },
                      "pools": [pool] }),
        )
    };
    let gateway = |pool: Value| pools(pool).map(|c| c.pools.map(|p| p.pools[0].gateway));
    assert_eq!(
        gateway(json!({ "cidr": "10.244.0.0/16", "blockSize": 26 })),
        Ok(Some(None))
    );
    assert_eq!(
        gateway(json!({ "cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "" })),
        Ok(Some(None))
    );
    assert_eq!(
        gateway(json!({ "cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "169.254.1.1" })),
        Ok(Some(Some(ip("169.254.1.1"))))
    );
    assert_eq!(
        gateway(json!({ "cidr": "fd00:10:244::/56", "blockSize": 120, "gateway": "fe80::1" })),
        Ok(Some(Some(ip("fe80::1"))))
    );
    for (cidr, size, gw) in [
        ("10.244.0.0/16", 26, "10.244.0.1"),
        ("10.244.0.0/16", 26, "fe80::1"),
        ("fd00:10:244::/56", 120, "169.254.1.1"),
        ("fd00:10:244::/56", 120, "fd00:10:244::1"),
    ] {
        let e = pools(json!({ "cidr": cidr, "blockSize": size, "gateway": gw })).unwrap_err();
        assert!(
            matches!(&e, ConfigError::Invalid { field, reason }
                if field == "ipam.pools[0].gateway" && reason.contains(gw) && reason.contains("link-local")),
            "{cidr} {gw}: {e:?}"
        );
    }
}
