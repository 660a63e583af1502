//! Rejected (and accepted) network configurations, black-box: every rejected
//! config gives exit status 1, the right CNI code, a message that names the
//! field and the offending value, and leaves the state directory unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Call, conf, host_local_files, podlease};
use serde_json::{Value, json};

const NET: &str = "mynet";

/// One rejected configuration.
struct Case {
    /// What it is about.
    what: &'static str,
    /// cniVersion.
    version: &'static str,
    /// Keys merged into the ipam object (which already has type and dataDir);
    /// a null value removes the key.
    ipam: Value,
    /// Keys merged into the top level; a null value removes the key.
    top: Value,
    /// CNI_ARGS.
    args: &'static str,
    /// Expected CNI code.
    code: u64,
    /// Substrings the message must contain: the field path and the value.
    needles: &'static [&'static str],
}

fn merge(target: &mut Value, extra: &Value) {
    if let (Some(m), Value::Object(e)) = (target.as_object_mut(), extra) {
        for (k, v) in e {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

fn build(version: &str, dir: &Path, ipam: &Value, top: &Value) -> Value {
    let mut c = conf(version, NET, "podlease", json!({}), dir);
    merge(&mut c["ipam"], ipam);
    merge(&mut c, top);
    c
}

use common::tree;

fn one(range: Value) -> Value {
    json!({ "ranges": [[range]] })
}

fn v4(subnet: &str) -> Value {
    one(json!({ "subnet": subnet }))
}

fn cases() -> Vec<Case> {
    let c = |what: &'static str, ipam: Value, code: u64, needles: &'static [&'static str]| Case {
        what,
        version: "1.1.0",
        ipam,
        top: json!({}),
        args: "",
        code,
        needles,
    };
    let n24 = |extra: Value| {
        let mut r = json!({ "subnet": "192.0.2.0/24" });
        merge(&mut r, &extra);
        one(r)
    };
    let n64 = |extra: Value| {
        let mut r = json!({ "subnet": "2001:db8:1::/64" });
        merge(&mut r, &extra);
        one(r)
    };
    const S: &str = "ipam.ranges[0][0].subnet";
    const R: &str = "ipam.ranges[0][0]";
    vec![
        // Unparseable CIDRs.
        c(
            "prefix too long to parse",
            v4("10.1.2.0/33"),
            7,
            &[S, "10.1.2.0/33"],
        ),
        c("not a CIDR", v4("foo"), 7, &[S, "foo"]),
        c("empty subnet", v4(""), 7, &[S, r#""""#]),
        c("bare address", v4("10.1.2.0"), 7, &[S, "10.1.2.0"]),
        c("negative prefix", v4("10.1.2.0/-1"), 7, &[S, "10.1.2.0/-1"]),
        c(
            "legacy subnet",
            json!({ "subnet": "10.1.2.0/33" }),
            7,
            &["ipam.subnet", "10.1.2.0/33"],
        ),
        c(
            "legacy subnet empty",
            json!({ "subnet": "" }),
            7,
            &["ipam.subnet", r#""""#],
        ),
        // Host bits set (R3-R6).
        c(
            "R3 host bits",
            v4("192.0.2.12/24"),
            7,
            &[R, "192.0.2.12/24", "192.0.2.0"],
        ),
        c(
            "R4 host bits v6",
            v4("2001:DB8:1::24:19ff:fee1:c44a/64"),
            7,
            &[R, "2001:db8:1:0:24:19ff:fee1:c44a/64", "is 2001:db8:1::"],
        ),
        c(
            "R5 host bits /63",
            v4("2001:DB8:24:19ff::/63"),
            7,
            &[R, "2001:db8:24:19ff::/63", "2001:db8:24:19fe::"],
        ),
        c(
            "R6 host bits /23",
            v4("192.168.127.0/23"),
            7,
            &[R, "192.168.127.0/23", "192.168.126.0"],
        ),
        c(
            "legacy host bits",
            json!({ "subnet": "10.1.2.3/24" }),
            7,
            &["ipam", "10.1.2.3/24", "10.1.2.0"],
        ),
        // Too small (R8).
        c("/31", v4("192.0.2.0/31"), 7, &[R, "192.0.2.0/31"]),
        c("/32", v4("192.0.2.0/32"), 7, &[R, "192.0.2.0/32"]),
        c("/127", v4("2001:db8::/127"), 7, &[R, "2001:db8::/127"]),
        c("/128", v4("2001:db8::/128"), 7, &[R, "2001:db8::/128"]),
        // IPv4-mapped IPv6 subnet.
        c(
            "mapped subnet",
            v4("::ffff:10.0.0.0/120"),
            7,
            &[R, "::ffff:10.0.0.0/120"],
        ),
        // rangeStart / rangeEnd outside the subnet or of the other family (R9).
        c(
            "rangeStart outside",
            n24(json!({ "rangeStart": "192.0.3.0" })),
            7,
            &[R, "rangeStart", "192.0.3.0", "192.0.2.0/24"],
        ),
        c(
            "rangeStart other family",
            n24(json!({ "rangeStart": "2001:db8::5" })),
            7,
            &[R, "rangeStart", "2001:db8::5"],
        ),
        c(
            "rangeEnd outside",
            n24(json!({ "rangeEnd": "192.0.4.0" })),
            7,
            &[R, "rangeEnd", "192.0.4.0", "192.0.2.0/24"],
        ),
        c(
            "rangeEnd other family",
            n24(json!({ "rangeEnd": "2001:db8::5" })),
            7,
            &[R, "rangeEnd", "2001:db8::5"],
        ),
        c(
            "v6 rangeStart outside",
            n64(json!({ "rangeStart": "2001:db8:2::5" })),
            7,
            &[R, "rangeStart", "2001:db8:2::5"],
        ),
        c(
            "v6 rangeEnd v4",
            n64(json!({ "rangeEnd": "10.0.0.5" })),
            7,
            &[R, "rangeEnd", "10.0.0.5"],
        ),
        c(
            "rangeStart not an IP",
            n24(json!({ "rangeStart": "foo" })),
            7,
            &["ipam.ranges[0][0].rangeStart", "foo"],
        ),
        c(
            "rangeEnd not a string",
            n24(json!({ "rangeEnd": 7 })),
            7,
            &["ipam.ranges[0][0].rangeEnd", "7"],
        ),
        // Reversed: explicit, and through defaults.
        c(
            "reversed explicit",
            n24(json!({ "rangeStart": "192.0.2.50", "rangeEnd": "192.0.2.40" })),
            7,
            &[R, "192.0.2.50", "192.0.2.40"],
        ),
        c(
            "reversed v6",
            n64(json!({ "rangeStart": "2001:db8:1::50", "rangeEnd": "2001:db8:1::40" })),
            7,
            &[R, "2001:db8:1::50", "2001:db8:1::40"],
        ),
        c(
            "reversed via default end (broadcast start)",
            n24(json!({ "rangeStart": "192.0.2.255" })),
            7,
            &[R, "rangeStart", "192.0.2.255"],
        ),
        c(
            "reversed via default start",
            n24(json!({ "rangeEnd": "192.0.2.0" })),
            7,
            &[R, "rangeEnd", "192.0.2.0"],
        ),
        c(
            "only the gateway left",
            json!({ "subnet": "10.0.0.0/30", "rangeEnd": "10.0.0.1" }),
            7,
            &["ipam", "10.0.0.1"],
        ),
        // Network / broadcast addresses.
        c(
            "rangeStart network",
            n24(json!({ "rangeStart": "192.0.2.0" })),
            7,
            &[R, "rangeStart", "192.0.2.0"],
        ),
        c(
            "rangeEnd broadcast",
            n24(json!({ "rangeEnd": "192.0.2.255" })),
            7,
            &[R, "rangeEnd", "192.0.2.255"],
        ),
        c(
            "gateway network",
            n24(json!({ "gateway": "192.0.2.0" })),
            7,
            &[R, "gateway", "192.0.2.0"],
        ),
        c(
            "gateway broadcast",
            n24(json!({ "gateway": "192.0.2.255" })),
            7,
            &[R, "gateway", "192.0.2.255"],
        ),
        c(
            "v6 rangeStart subnet-router anycast",
            n64(json!({ "rangeStart": "2001:db8:1::" })),
            7,
            &[R, "rangeStart", "2001:db8:1::"],
        ),
        c(
            "v6 gateway subnet-router anycast",
            n64(json!({ "gateway": "2001:db8:1::" })),
            7,
            &[R, "gateway", "2001:db8:1::"],
        ),
        // Gateway outside the subnet or of the wrong family.
        c(
            "gateway outside",
            n24(json!({ "gateway": "10.0.0.1" })),
            7,
            &[R, "gateway", "10.0.0.1"],
        ),
        c(
            "gateway v6 on v4",
            n24(json!({ "gateway": "2001:db8::1" })),
            7,
            &[R, "gateway", "2001:db8::1"],
        ),
        c(
            "gateway v4 on v6",
            n64(json!({ "gateway": "10.0.0.1" })),
            7,
            &[R, "gateway", "10.0.0.1"],
        ),
        c(
            "legacy gateway outside",
            json!({ "subnet": "10.1.2.0/24", "gateway": "10.1.3.1" }),
            7,
            &["ipam", "gateway", "10.1.3.1"],
        ),
        c(
            "gateway not an IP",
            n24(json!({ "gateway": "gw" })),
            7,
            &["ipam.ranges[0][0].gateway", "gw"],
        ),
        // Overlaps inside a set (C9, S2) and mixed families (C10).
        c(
            "C9 overlap in set",
            json!({ "ranges": [[{ "subnet": "10.1.0.0/22" }, { "subnet": "10.1.2.0/24" }]] }),
            7,
            &[
                "ipam.ranges[0]",
                "10.1.0.1-10.1.3.254",
                "10.1.2.1-10.1.2.254",
            ],
        ),
        c(
            "S2 overlap in set",
            json!({ "ranges": [[{ "subnet": "192.168.0.0/20" }, { "subnet": "192.168.2.0/24" }]] }),
            7,
            &[
                "ipam.ranges[0]",
                "192.168.0.1-192.168.15.254",
                "192.168.2.1-192.168.2.254",
            ],
        ),
        c(
            "overlap by start/end in one subnet",
            json!({ "ranges": [[{ "subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.127" }, { "subnet": "10.0.0.0/24", "rangeStart": "10.0.0.127" }]] }),
            7,
            &[
                "ipam.ranges[0]",
                "10.0.0.1-10.0.0.127",
                "10.0.0.127-10.0.0.254",
            ],
        ),
        c(
            "C10 mixed families",
            json!({ "ranges": [[{ "subnet": "10.1.0.0/22" }, { "subnet": "2001:db8:5::/64" }]] }),
            7,
            &["ipam.ranges[0]", "10.1.0.1-10.1.3.254", "2001:db8:5::1"],
        ),
        // Overlapping range sets (C8, S3, R13).
        c(
            "C8 sets overlap",
            json!({ "ranges": [
                [{ "subnet": "10.1.2.0/24" }, { "subnet": "10.2.2.0/24" }],
                [{ "subnet": "10.1.4.0/24" }, { "subnet": "10.1.6.0/24" }, { "subnet": "10.1.8.0/24" }, { "subnet": "10.1.2.0/24" }]
            ] }),
            7,
            &["range set 0", "range set 1", "10.1.2.1-10.1.2.254"],
        ),
        c(
            "S3 sets overlap",
            json!({ "ranges": [[{ "subnet": "192.168.0.0/20" }], [{ "subnet": "192.168.2.0/24" }]] }),
            7,
            &[
                "range set 0",
                "range set 1",
                "192.168.0.1-192.168.15.254",
                "192.168.2.1-192.168.2.254",
            ],
        ),
        c(
            "R13 identical sets",
            json!({ "ranges": [[{ "subnet": "10.0.0.0/24" }], [{ "subnet": "10.0.0.0/24" }]] }),
            7,
            &["range set 0", "range set 1", "10.0.0.1-10.0.0.254"],
        ),
        c(
            "legacy subnet overlaps ranges",
            json!({ "subnet": "10.1.2.0/24", "ranges": [[{ "subnet": "10.1.0.0/16" }]] }),
            7,
            &["10.1.2.1-10.1.2.254", "10.1.0.1-10.1.255.254"],
        ),
        // Empty and missing.
        c(
            "empty range set",
            json!({ "ranges": [[]] }),
            7,
            &["ipam.ranges[0]", "empty"],
        ),
        c(
            "empty second range set",
            json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], []] }),
            7,
            &["ipam.ranges[1]", "empty"],
        ),
        c("no ranges", json!({}), 7, &["ipam.ranges", "ipam.subnet"]),
        c("empty ranges", json!({ "ranges": [] }), 7, &["ipam.ranges"]),
        c(
            "legacy fields without subnet",
            json!({ "rangeStart": "10.1.2.5", "gateway": "10.1.2.1" }),
            7,
            &["ipam.ranges"],
        ),
        c(
            "missing subnet",
            one(json!({ "rangeStart": "10.1.2.5" })),
            7,
            &[S],
        ),
        c(
            "null subnet",
            one(json!({ "subnet": Value::Null })),
            7,
            &[S],
        ),
        // Wrong JSON types.
        c(
            "ranges not an array",
            json!({ "ranges": "x" }),
            7,
            &["ipam.ranges", r#""x""#],
        ),
        c(
            "ranges not nested",
            json!({ "ranges": [{ "subnet": "10.1.2.0/24" }] }),
            7,
            &["ipam.ranges[0]", "10.1.2.0/24"],
        ),
        c(
            "range not an object",
            json!({ "ranges": [["10.1.2.0/24"]] }),
            7,
            &[R, "10.1.2.0/24"],
        ),
        c("subnet a number", one(json!({ "subnet": 5 })), 7, &[S, "5"]),
        c(
            "subnet an array",
            one(json!({ "subnet": ["10.1.2.0/24"] })),
            7,
            &[S, "10.1.2.0/24"],
        ),
        c(
            "dataDir a number",
            json!({ "subnet": "10.1.2.0/24", "dataDir": 5 }),
            7,
            &["ipam.dataDir", "5"],
        ),
        c(
            "resolvConf a number",
            json!({ "subnet": "10.1.2.0/24", "resolvConf": 5 }),
            7,
            &["ipam.resolvConf", "5"],
        ),
        // Routes.
        c(
            "route bad dst",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "foo" }] }),
            7,
            &["ipam.routes[0].dst", "foo"],
        ),
        c(
            "route dst /33",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "10.0.0.0/33" }] }),
            7,
            &["ipam.routes[1].dst", "10.0.0.0/33"],
        ),
        c(
            "route without dst",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "gw": "10.1.2.1" }] }),
            7,
            &["ipam.routes[0].dst"],
        ),
        c(
            "route gw of other family",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "10.0.0.0/8", "gw": "2001:db8::1" }] }),
            7,
            &["ipam.routes[1].gw", "2001:db8::1"],
        ),
        c(
            "v6 route with v4 gw",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "::/0", "gw": "10.1.2.1" }] }),
            7,
            &["ipam.routes[0].gw", "10.1.2.1"],
        ),
        c(
            "route gw not an IP",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "0.0.0.0/0", "gw": "router" }] }),
            7,
            &["ipam.routes[0].gw", "router"],
        ),
        c(
            "routes not an array",
            json!({ "subnet": "10.1.2.0/24", "routes": "x" }),
            7,
            &["ipam.routes", r#""x""#],
        ),
        c(
            "route not an object",
            json!({ "subnet": "10.1.2.0/24", "routes": ["0.0.0.0/0"] }),
            7,
            &["ipam.routes[0]", "0.0.0.0/0"],
        ),
        c(
            "route mtu a string",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "0.0.0.0/0", "mtu": "big" }] }),
            7,
            &["ipam.routes[0].mtu", "big"],
        ),
        // Missing or malformed ipam.
        Case {
            top: json!({ "ipam": Value::Null }),
            ..c("missing ipam", json!({}), 7, &["ipam"])
        },
        Case {
            top: json!({ "ipam": "x" }),
            ..c("ipam a string", json!({}), 7, &["ipam", r#""x""#])
        },
        Case {
            top: json!({ "ipam": [] }),
            ..c("ipam an array", json!({}), 7, &["ipam", "[]"])
        },
        // runtimeConfig and args.
        Case {
            top: json!({ "runtimeConfig": { "ipRanges": [[{ "subnet": "foo" }]] } }),
            ..c(
                "runtime ipRanges bad subnet",
                v4("10.1.2.0/24"),
                7,
                &["runtimeConfig.ipRanges[0][0].subnet", "foo"],
            )
        },
        Case {
            top: json!({ "runtimeConfig": { "ipRanges": "x" } }),
            ..c(
                "runtime ipRanges not an array",
                v4("10.1.2.0/24"),
                7,
                &["runtimeConfig.ipRanges", r#""x""#],
            )
        },
        Case {
            top: json!({ "runtimeConfig": { "ipRanges": [[{ "subnet": "10.1.0.0/16" }]] } }),
            ..c(
                "runtime ipRanges overlap config",
                v4("10.1.2.0/24"),
                7,
                &["range set 0", "range set 1", "10.1.0.1-10.1.255.254"],
            )
        },
        Case {
            top: json!({ "runtimeConfig": "x" }),
            ..c(
                "runtimeConfig not an object",
                v4("10.1.2.0/24"),
                7,
                &["runtimeConfig", r#""x""#],
            )
        },
        Case {
            top: json!({ "runtimeConfig": { "ips": "10.1.2.5" } }),
            ..c(
                "runtime ips not an array",
                v4("10.1.2.0/24"),
                7,
                &["runtimeConfig.ips", "10.1.2.5"],
            )
        },
        Case {
            top: json!({ "runtimeConfig": { "ips": [5] } }),
            ..c(
                "runtime ip a number",
                v4("10.1.2.0/24"),
                7,
                &["runtimeConfig.ips[0]", "5"],
            )
        },
        Case {
            top: json!({ "args": { "cni": { "ips": ["10.1.2.5/40"] } } }),
            ..c(
                "args ip bad prefix",
                v4("10.1.2.0/24"),
                7,
                &["args.cni.ips[0]", "10.1.2.5/40"],
            )
        },
        Case {
            top: json!({ "args": { "cni": { "ips": "x" } } }),
            ..c(
                "args ips not an array",
                v4("10.1.2.0/24"),
                7,
                &["args.cni.ips", r#""x""#],
            )
        },
        Case {
            top: json!({ "args": "x" }),
            ..c(
                "args not an object",
                v4("10.1.2.0/24"),
                7,
                &["args", r#""x""#],
            )
        },
        // C11: more than one range set per family before 0.3.0 (C12, dual stack, is accepted below).
        Case {
            version: "0.1.0",
            ..c(
                "C11 0.1.0",
                json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "11.1.2.0/24" }]] }),
                7,
                &["0.1.0"],
            )
        },
        Case {
            version: "0.2.0",
            ..c(
                "C11 0.2.0",
                json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "11.1.2.0/24" }]] }),
                7,
                &["0.2.0"],
            )
        },
        Case {
            version: "0.2.0",
            ..c(
                "C11 0.2.0 v6",
                json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/64" }], [{ "subnet": "2001:db8:2::/64" }]] }),
                7,
                &["0.2.0"],
            )
        },
        Case {
            version: "",
            ..c(
                "C11 empty version",
                json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "11.1.2.0/24" }]] }),
                7,
                &["0.1.0"],
            )
        },
        // Bad CNI_ARGS: code 4.
        Case {
            args: "ip=1.2.3.4",
            ..c(
                "lower-case ip",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "ip=1.2.3.4"],
            )
        },
        Case {
            args: "IP=foo",
            ..c(
                "IP not an address",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "foo"],
            )
        },
        Case {
            args: "IP=10.1.2.5;",
            ..c("trailing ;", v4("10.1.2.0/24"), 4, &["CNI_ARGS"])
        },
        Case {
            args: "IP",
            ..c("pair without =", v4("10.1.2.0/24"), 4, &["CNI_ARGS", "IP"])
        },
        Case {
            args: "a=b=c",
            ..c(
                "pair with two =",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "a=b=c"],
            )
        },
        Case {
            args: "IP=10.1.2.5/99",
            ..c(
                "IP with bad prefix",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "10.1.2.5/99"],
            )
        },
        Case {
            args: "FOO=bar;IgnoreUnknown=0",
            ..c(
                "IgnoreUnknown=0",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "FOO=bar"],
            )
        },
        Case {
            args: "K8S_POD_NAME=p;Foo=1",
            ..c("unknown key", v4("10.1.2.0/24"), 4, &["CNI_ARGS", "Foo=1"])
        },
        // CNI_ARGS as the CNI library reads it (issue 12 §6, §7).
        Case {
            args: "IgnoreUnknown=yes;Foo=1",
            ..c(
                "IgnoreUnknown not a library boolean",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "IgnoreUnknown", "yes"],
            )
        },
        Case {
            args: "IgnoreUnknown=1;Foo=1;IgnoreUnknown=false",
            ..c(
                "the last IgnoreUnknown decides",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "Foo=1"],
            )
        },
        Case {
            args: "IP=10.1.2.5/+24",
            ..c(
                "IP with a signed prefix",
                v4("10.1.2.0/24"),
                4,
                &["CNI_ARGS", "10.1.2.5/+24"],
            )
        },
        // Addresses that are never a pod's (issue 11 §8, issue 12 §1).
        c(
            "unspecified block",
            v4("0.0.0.0/8"),
            7,
            &[R, "0.0.0.0/8", "unspecified"],
        ),
        c(
            "loopback block",
            v4("127.0.0.0/8"),
            7,
            &[R, "127.0.0.0/8", "loopback"],
        ),
        c(
            "multicast block",
            v4("224.0.0.0/24"),
            7,
            &[R, "224.0.0.0/4", "multicast"],
        ),
        c("v6 everything", v4("::/0"), 7, &[R, "::1/128", "loopback"]),
        c(
            "v6 multicast",
            v4("ff02::/112"),
            7,
            &[R, "ff00::/8", "multicast"],
        ),
        c(
            "into the IPv4-mapped block",
            one(json!({ "subnet": "::fffe:0:0/95", "rangeStart": "::fffe:ffff:ffff" })),
            7,
            &[R, "::ffff:0:0/96", "IPv4-mapped"],
        ),
        c(
            "gateway multicast",
            one(json!({ "subnet": "10.1.2.0/24", "gateway": "224.0.0.1" })),
            7,
            &[R, "gateway", "224.0.0.1"],
        ),
        c(
            "link-local gateway of the other family",
            one(json!({ "subnet": "10.1.2.0/24", "gateway": "fe80::1" })),
            7,
            &[R, "gateway", "fe80::1"],
        ),
        // A cluster pool's gateway is link-local, of the pool's family.
        c(
            "pool gateway not link-local",
            json!({ "nodeName": "a", "etcd": { "endpoints": ["http://127.0.0.1:1"] },
                    "pools": [{ "cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "10.244.0.1" }] }),
            7,
            &["ipam.pools[0].gateway", "10.244.0.1", "link-local"],
        ),
        c(
            "pool gateway of the other family",
            json!({ "nodeName": "a", "etcd": { "endpoints": ["http://127.0.0.1:1"] },
                    "pools": [{ "cidr": "fd00:10:244::/56", "blockSize": 120, "gateway": "169.254.1.1" }] }),
            7,
            &["ipam.pools[0].gateway", "169.254.1.1", "link-local"],
        ),
        c(
            "pool gateway not an address",
            json!({ "nodeName": "a", "etcd": { "endpoints": ["http://127.0.0.1:1"] },
                    "pools": [{ "cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "gw" }] }),
            7,
            &["ipam.pools[0].gateway", "gw"],
        ),
        // CIDRs as Go's net.ParseCIDR reads them (issue 12 §7).
        c(
            "dotted netmask",
            v4("10.10.0.0/255.255.0.0"),
            7,
            &[R, "10.10.0.0/255.255.0.0"],
        ),
        c(
            "signed prefix",
            v4("10.10.0.0/+16"),
            7,
            &[R, "10.10.0.0/+16"],
        ),
        c(
            "leading zero in IPv4",
            v4("010.10.0.0/16"),
            7,
            &[R, "010.10.0.0/16"],
        ),
        c("zone", v4("fe80::%eth0/64"), 7, &[R, "fe80::%eth0/64"]),
        c(
            "route dst with a dotted netmask",
            json!({ "subnet": "10.1.2.0/24", "routes": [{ "dst": "10.10.0.0/255.255.0.0" }] }),
            7,
            &["ipam.routes[0].dst", "10.10.0.0/255.255.0.0"],
        ),
    ]
}

#[test]
fn rejected_configs() {
    let bin = podlease();
    let good_ipam = v4("10.1.2.0/24");
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        // Some state to protect: an allocation by another container.
        let good = build("1.1.0", dir.path(), &good_ipam, &json!({}));
        Call::new("ADD", &good).id("holder").run(&bin).success();
        let before = tree(dir.path());
        let bad = build(case.version, dir.path(), &case.ipam, &case.top);

        let mut commands = vec!["ADD"];
        if case.version >= "0.4.0" {
            commands.push("CHECK");
        }
        if case.version >= "1.1.0" && case.args.is_empty() {
            commands.push("STATUS");
        }
        for cmd in commands {
            let r = Call::new(cmd, &bad).args(case.args).run(&bin);
            let ok = r.status == Some(1)
                && r.json().get("code").and_then(Value::as_u64) == Some(case.code)
                && r.json()["msg"]
                    .as_str()
                    .is_some_and(|m| case.needles.iter().all(|n| m.contains(n)));
            if !ok {
                failures.push(format!(
                    "{} [{cmd}]: expected code {} naming {:?}, got {:?}",
                    case.what, case.code, case.needles, r
                ));
            }
            if tree(dir.path()) != before {
                failures.push(format!(
                    "{} [{cmd}]: the state directory changed",
                    case.what
                ));
            }
        }
        // DEL with the same broken config still works (and releases nothing of others).
        let data_dir_ok = bad["ipam"].get("dataDir").and_then(Value::as_str)
            == Some(&dir.path().display().to_string());
        if data_dir_ok {
            let r = Call::new("DEL", &bad).args(case.args).run(&bin);
            if !(r.ok() && r.stdout.is_empty()) {
                failures.push(format!(
                    "{} [DEL]: expected silent success, got {r:?}",
                    case.what
                ));
            }
            if host_local_files(&dir.path().join(NET))
                .get("10.1.2.2")
                .map(Vec::as_slice)
                != Some(b"holder\r\neth0")
            {
                failures.push(format!(
                    "{} [DEL]: released another container's address",
                    case.what
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn error_object_shape() {
    let dir = tempfile::tempdir().unwrap();
    let bad = build("0.4.0", dir.path(), &v4("10.1.2.0/33"), &json!({}));
    let r = Call::new("ADD", &bad).run(&podlease());
    assert_eq!(r.status, Some(1));
    let v = r.json();
    assert_eq!(v["code"], 7);
    assert_eq!(
        v["cniVersion"], "0.4.0",
        "errors carry the config's version"
    );
    assert!(v["msg"].is_string());
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys.is_subset(&BTreeSet::from(["cniVersion", "code", "msg", "details"])),
        "{v}"
    );
    assert!(r.stderr.is_empty(), "{r:?}");
}

// ---------------------------------------------------------------- accepted

fn add_ok(c: &Value, args: &str) -> Value {
    Call::new("ADD", c).args(args).run(&podlease()).success()
}

#[test]
fn dual_stack_with_old_versions_is_accepted() {
    // C12.
    for version in ["", "0.1.0", "0.2.0"] {
        let dir = tempfile::tempdir().unwrap();
        let c = build(
            version,
            dir.path(),
            &json!({ "ranges": [[{ "subnet": "10.1.2.0/24" }], [{ "subnet": "2001:db8:1::/48" }]] }),
            &json!({}),
        );
        let v = add_ok(&c, "");
        assert_eq!(v["ip4"]["ip"], "10.1.2.2/24", "{v}");
        assert_eq!(v["ip6"]["ip"], "2001:db8:1::2/48", "{v}");
    }
}

#[test]
fn cni_args_accepted() {
    for (args, want) in [
        ("ip=1.2.3.4;IgnoreUnknown=1", "10.1.2.2"),
        ("IgnoreUnknown=true;ip=1.2.3.4", "10.1.2.2"),
        ("IgnoreUnknown=True;FOO=bar", "10.1.2.2"),
        ("IP=", "10.1.2.2"),
        ("", "10.1.2.2"),
        (
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
            "10.1.2.2",
        ),
        ("K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0", "10.1.2.2"),
        ("IP=10.1.2.77", "10.1.2.77"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let c = build("1.0.0", dir.path(), &v4("10.1.2.0/24"), &json!({}));
        let v = add_ok(&c, args);
        assert_eq!(v["ips"][0]["address"], format!("{want}/24"), "{args}");
    }
}

#[test]
fn keys_match_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 192.0.2.53\n").unwrap();
    let c = json!({
        "cniVersion": "1.0.0",
        "name": NET,
        "type": "bridge",
        "IPAM": {
            "Type": "podlease",
            "DATADIR": dir.path(),
            "Subnet": "10.1.2.0/24",
            "RangeStart": "10.1.2.10",
            "RANGEEND": "10.1.2.20",
            "Gateway": "10.1.2.1",
            "Routes": [{ "DST": "0.0.0.0/0", "Gw": "10.1.2.1" }],
            "ResolvConf": resolv
        }
    });
    let v = add_ok(&c, "");
    assert_eq!(
        v["ips"],
        json!([{ "address": "10.1.2.10/24", "gateway": "10.1.2.1" }])
    );
    assert_eq!(
        v["routes"],
        json!([{ "dst": "0.0.0.0/0", "gw": "10.1.2.1" }])
    );
    assert_eq!(v["dns"]["nameservers"], json!(["192.0.2.53"]));
    assert!(
        dir.path().join(NET).join("10.1.2.10").is_file(),
        "DATADIR honoured"
    );

    // Nested range objects and the runtime's keys too.
    let dir = tempfile::tempdir().unwrap();
    let c = json!({
        "cniVersion": "1.0.0",
        "name": NET,
        "ipam": {
            "dataDir": dir.path(),
            "RANGES": [[{ "SUBNET": "10.1.2.0/24", "rangestart": "10.1.2.30", "RangeEnd": "10.1.2.40" }]]
        },
        "RuntimeConfig": { "IPs": ["10.1.2.35"] }
    });
    assert_eq!(add_ok(&c, "")["ips"][0]["address"], "10.1.2.35/24");
    let c = json!({
        "cniVersion": "1.0.0",
        "name": NET,
        "ipam": { "dataDir": dir.path(), "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "10.1.2.30", "rangeEnd": "10.1.2.40" }]] },
        "Args": { "CNI": { "IPS": ["10.1.2.36"] } }
    });
    assert_eq!(
        Call::new("ADD", &c).id("other").run(&podlease()).success()["ips"][0]["address"],
        "10.1.2.36/24"
    );
}

#[test]
fn empty_strings_mean_absent_and_unknown_keys_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let c = build(
        "1.0.0",
        dir.path(),
        &json!({
            "ranges": [[{ "subnet": "10.1.2.0/24", "rangeStart": "", "rangeEnd": "", "gateway": "", "comment": "x" }]],
            "resolvConf": "",
            "unknownKey": { "deep": [1, 2, 3] },
            "name": "ignored"
        }),
        &json!({ "somethingElse": true, "prevResult": Value::Null }),
    );
    let v = add_ok(&c, "");
    assert_eq!(
        v["ips"],
        json!([{ "address": "10.1.2.2/24", "gateway": "10.1.2.1" }])
    );
}

#[test]
fn legal_edge_ranges_are_accepted() {
    // Things podlease's stricter rules must not reject.
    let cases: &[(Value, &str, &str)] = &[
        // R10: gateway outside start..end but in the subnet.
        (
            json!({ "subnet": "192.0.2.0/24", "rangeStart": "192.0.2.40", "rangeEnd": "192.0.2.50", "gateway": "192.0.2.254" }),
            "192.0.2.40/24",
            "192.0.2.254",
        ),
        // /30 has exactly one address.
        (
            json!({ "subnet": "10.0.0.0/30" }),
            "10.0.0.2/30",
            "10.0.0.1",
        ),
        // /126 likewise.
        (
            json!({ "subnet": "2001:db8::/126" }),
            "2001:db8::2/126",
            "2001:db8::1",
        ),
        // The gateway elsewhere makes .1 allocatable.
        (
            json!({ "subnet": "10.0.0.0/24", "gateway": "10.0.0.254" }),
            "10.0.0.1/24",
            "10.0.0.254",
        ),
        // IPv6 has no broadcast: the last address is a fine rangeStart.
        (
            json!({ "subnet": "2001:db8:1::/64", "rangeStart": "2001:db8:1::ffff:ffff:ffff:ffff" }),
            "2001:db8:1:0:ffff:ffff:ffff:ffff/64",
            "2001:db8:1::1",
        ),
        // Upper-case IPv6 is the same address.
        (
            json!({ "subnet": "2001:DB8:1::/64", "rangeStart": "2001:DB8:1::A" }),
            "2001:db8:1::a/64",
            "2001:db8:1::1",
        ),
        // A single-address range next to a gateway elsewhere.
        (
            json!({ "subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.9" }),
            "10.0.0.9/24",
            "10.0.0.1",
        ),
    ];
    for (ipam, addr, gw) in cases {
        let dir = tempfile::tempdir().unwrap();
        let c = build("1.0.0", dir.path(), ipam, &json!({}));
        let v = add_ok(&c, "");
        assert_eq!(
            v["ips"],
            json!([{ "address": addr, "gateway": gw }]),
            "{ipam}"
        );
    }
}

#[test]
fn overlapping_range_sets_name_their_json_paths() {
    // With a legacy subnet (or runtimeConfig.ipRanges) before `ranges`, the
    // merged index is not the index in ipam.ranges; the message must say
    // which fields collide.
    let dir = tempfile::tempdir().unwrap();
    let c = build(
        "1.1.0",
        dir.path(),
        &json!({ "subnet": "10.1.2.0/24", "ranges": [[{ "subnet": "10.9.0.0/24" }], [{ "subnet": "10.1.0.0/16" }]] }),
        &json!({}),
    );
    let msg = Call::new("ADD", &c).run(&podlease()).error(7);
    assert!(
        msg.contains("ipam.subnet") || msg.contains("ipam:"),
        "{msg}"
    );
    assert!(msg.contains("ipam.ranges[1]"), "{msg}");
}
