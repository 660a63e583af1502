use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;
use crate::alloc::test_support::{gateways, ip, set};
use crate::range::{Range, RangeSet};

fn first(set: &RangeSet, taken: &[&str], cursor: Option<&str>) -> Option<IpAddr> {
    let skips = gateways(set);
    let taken: BTreeSet<u128> = taken.iter().map(|s| to_u128(ip(s))).collect();
    Candidates::new(set, cursor.map(ip), &skips).next_free(&taken)
}

#[test]
fn order_from_start_middle_end() {
    let s = set(&["192.168.1.0/29"]);
    let skips = gateways(&s);
    let all: Vec<String> = Candidates::new(&s, None, &skips)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        all,
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
    let from_end: Vec<String> = Candidates::new(&s, Some(ip("192.168.1.6")), &skips)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        from_end,
        [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6"
        ]
    );
    let mid: Vec<String> = Candidates::new(&s, Some(ip("192.168.1.3")), &skips)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        mid,
        [
            "192.168.1.4",
            "192.168.1.5",
            "192.168.1.6",
            "192.168.1.2",
            "192.168.1.3"
        ]
    );
}

/// host-local's allocator_test.go round-robin table (A4).
#[test]
#[allow(clippy::type_complexity)] // a table of cases reads best inline
fn host_local_round_robin_table() {
    let cases: &[(&[&str], &[&str], Option<&str>, &str)] = &[
        (&["10.0.0.0/29"], &[], None, "10.0.0.2"),
        (&["2001:db8:1::/64"], &[], None, "2001:db8:1::2"),
        (&["10.0.0.0/30"], &[], None, "10.0.0.2"),
        (&["10.0.0.0/29"], &["10.0.0.2"], None, "10.0.0.3"),
        (&["10.0.0.0/29"], &[], Some("10.0.0.5"), "10.0.0.6"),
        (
            &["10.0.0.0/29"],
            &["10.0.0.4", "10.0.0.5"],
            Some("10.0.0.3"),
            "10.0.0.6",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.6"],
            Some("10.0.0.5"),
            "10.0.0.2",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.2"],
            Some("10.0.0.128"),
            "10.0.0.3",
        ),
        (
            &["10.0.0.0/29"],
            &["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            Some("10.0.0.3"),
            "10.0.0.3",
        ),
        (&["10.0.0.0/30", "10.0.1.0/30"], &[], None, "10.0.0.2"),
        (
            &["10.0.0.0/30", "10.0.1.0/30"],
            &[],
            Some("10.0.0.2"),
            "10.0.1.2",
        ),
        (
            &["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"],
            &[],
            Some("10.0.2.2"),
            "10.0.0.2",
        ),
    ];
    for (subnets, taken, cursor, want) in cases {
        assert_eq!(
            first(&set(subnets), taken, *cursor),
            Some(ip(want)),
            "{subnets:?} taken {taken:?} cursor {cursor:?}"
        );
    }
}

#[test]
fn exhaustion() {
    assert_eq!(first(&set(&["10.0.0.0/30"]), &["10.0.0.2"], None), None);
    assert_eq!(
        first(
            &set(&["10.0.0.0/29"]),
            &["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"],
            None
        ),
        None
    );
    assert_eq!(
        first(
            &set(&["10.0.0.0/30", "10.0.1.0/30"]),
            &["10.0.0.2", "10.0.1.2"],
            None
        ),
        None
    );
}

#[test]
fn skips_jump_blocks() {
    let s = set(&["10.0.0.0/8"]);
    // Everything but the last address is excluded: one step, not 16 million.
    let skips = Skips::new(vec![(
        to_u128(ip("10.0.0.0")),
        to_u128(ip("10.255.255.253")),
    )]);
    let got: Vec<IpAddr> = Candidates::new(&s, None, &skips).collect();
    assert_eq!(got, [ip("10.255.255.254")]);
    assert_eq!(
        skips.count_within(to_u128(ip("10.0.0.1")), to_u128(ip("10.0.0.10"))),
        10
    );
}

#[test]
fn top_of_ipv6_space_does_not_overflow() {
    // Multicast, so validation refuses it: built by hand, with the defaults
    // Range::new would give, to reach the arithmetic at the top.
    let r = Range {
        subnet: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"
            .parse()
            .unwrap(),
        start: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff01"),
        end: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        gateway: ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff01"),
    };
    let s = RangeSet::new(vec![r]).unwrap();
    let skips = gateways(&s);
    let n = Candidates::new(
        &s,
        Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")),
        &skips,
    )
    .count();
    assert_eq!(n, 255 - 1); // 255 addresses after the network address, minus the gateway
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every candidate is in the set, none is a gateway, none repeats, and
        /// a full walk yields exactly the set minus its gateways.
        #[test]
        fn walk_is_a_permutation(prefix in 24u8..=30, base in 0u32..1000, cursor_off in proptest::option::of(0u32..300)) {
            let net = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + (base << 8);
            let subnet = ipnetwork::IpNetwork::new(IpAddr::V4(net.into()), prefix).unwrap();
            let s = RangeSet::new(vec![Range::new(subnet, None, None, None).unwrap()]).unwrap();
            let skips = gateways(&s);
            let cursor = cursor_off.map(|o| IpAddr::V4((net + o).into()));
            let got: Vec<IpAddr> = Candidates::new(&s, cursor, &skips).collect();
            let uniq: BTreeSet<IpAddr> = got.iter().copied().collect();
            prop_assert_eq!(uniq.len(), got.len());
            prop_assert_eq!(got.len() as u128, s.ranges()[0].len() - 1);
            for g in &got {
                prop_assert!(s.range_for(*g).is_some());
                prop_assert!(*g != s.ranges()[0].gateway);
            }
        }
    }
}
