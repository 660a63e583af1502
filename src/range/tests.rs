//! Unit tests of range validation and range sets.

use super::*;

fn net(s: &str) -> IpNetwork {
    s.parse().unwrap()
}
fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn defaults_v4() {
    let r = Range::new(net("192.0.2.0/24"), None, None, None).unwrap();
    assert_eq!(
        (r.start, r.end, r.gateway),
        (ip("192.0.2.1"), ip("192.0.2.254"), ip("192.0.2.1"))
    );
    let r = Range::new(net("192.0.2.0/25"), None, None, None).unwrap();
    assert_eq!(r.end, ip("192.0.2.126"));
    let r = Range::new(net("10.0.0.0/30"), None, None, None).unwrap();
    assert_eq!((r.start, r.end), (ip("10.0.0.1"), ip("10.0.0.2")));
}

#[test]
fn defaults_v6() {
    let r = Range::new(net("2001:db8:1::/64"), None, None, None).unwrap();
    assert_eq!(r.start, ip("2001:db8:1::1"));
    assert_eq!(r.end, ip("2001:db8:1::ffff:ffff:ffff:ffff"));
    assert_eq!(r.gateway, ip("2001:db8:1::1"));
}

#[test]
fn extremes() {
    let r = Range::new(net("240.0.0.0/4"), None, None, None).unwrap();
    assert_eq!(r.end, ip("255.255.255.254"));
    let r = Range::new(net("fe00::/8"), None, None, None).unwrap();
    assert_eq!(r.end, ip("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_eq!(r.len(), (1u128 << 120) - 1);
    // The whole space holds loopback, multicast... (see not_unicast).
    for whole in ["0.0.0.0/0", "::/0"] {
        assert!(matches!(
            Range::new(net(whole), None, None, None),
            Err(RangeError::NotUnicast { .. })
        ));
    }
    for small in ["10.0.0.0/31", "10.0.0.0/32", "::/127", "::/128"] {
        assert!(matches!(
            Range::new(net(small), None, None, None),
            Err(RangeError::TooSmall(_))
        ));
    }
    assert!(matches!(
        Range::new(net("::ffff:10.0.0.0/120"), None, None, None),
        Err(RangeError::Mapped(_))
    ));
}

#[test]
fn host_bits() {
    let e = Range::new(net("192.0.2.12/24"), None, None, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "subnet 192.0.2.12/24 has host bits set: the network address for /24 is 192.0.2.0"
    );
    let e = Range::new(net("2001:DB8:24:19ff::/63"), None, None, None).unwrap_err();
    assert!(e.to_string().ends_with("is 2001:db8:24:19fe::"), "{e}");
}

#[test]
#[allow(clippy::type_complexity)] // a table of cases reads best inline
fn strict_bounds() {
    let n = net("192.0.2.0/24");
    let cases: &[(Option<&str>, Option<&str>, Option<&str>, &str)] = &[
        (
            Some("192.0.3.0"),
            None,
            None,
            "rangeStart 192.0.3.0 is not in subnet 192.0.2.0/24",
        ),
        (
            None,
            Some("192.0.4.0"),
            None,
            "rangeEnd 192.0.4.0 is not in subnet 192.0.2.0/24",
        ),
        (
            Some("192.0.2.50"),
            Some("192.0.2.40"),
            None,
            "rangeStart 192.0.2.50 is after rangeEnd 192.0.2.40",
        ),
        (
            Some("192.0.2.255"),
            None,
            None,
            "rangeStart 192.0.2.255 is the broadcast address of 192.0.2.0/24 and can never be handed out",
        ),
        (
            Some("192.0.2.0"),
            None,
            None,
            "rangeStart 192.0.2.0 is the network address of 192.0.2.0/24 and can never be handed out",
        ),
        (
            None,
            None,
            Some("10.0.0.1"),
            "gateway 10.0.0.1 is not in subnet 192.0.2.0/24",
        ),
        (
            None,
            None,
            Some("2001:db8::1"),
            "gateway 2001:db8::1 is not in subnet 192.0.2.0/24",
        ),
        (
            None,
            None,
            Some("192.0.2.255"),
            "gateway 192.0.2.255 is the broadcast address of 192.0.2.0/24 and can never be handed out",
        ),
        (
            Some("192.0.2.254"),
            None,
            None,
            "rangeStart 192.0.2.254 is after rangeEnd 192.0.2.253",
        ),
    ];
    // The last case: start .254 with default end .254 is fine; use an end of .253.
    for (start, end, gw, want) in cases {
        let end = if *want == cases[8].3 {
            Some("192.0.2.253")
        } else {
            *end
        };
        let e = Range::new(n, start.map(ip), end.map(ip), gw.map(ip)).unwrap_err();
        assert_eq!(e.to_string(), *want);
    }
    let r = Range::new(
        n,
        Some(ip("192.0.2.40")),
        Some(ip("192.0.2.50")),
        Some(ip("192.0.2.254")),
    )
    .unwrap();
    assert!(r.contains(ip("192.0.2.40")) && r.contains(ip("192.0.2.50")));
    assert!(
        !r.contains(ip("192.0.2.39"))
            && !r.contains(ip("192.0.2.51"))
            && !r.contains(ip("192.0.3.0"))
    );
    assert!(r.contains(ip("::ffff:192.0.2.45")));
    let e = Range::new(
        net("10.0.0.0/30"),
        Some(ip("10.0.0.1")),
        Some(ip("10.0.0.1")),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, RangeError::NothingToAllocate(_)));
}

#[test]
fn pod_addresses_are_unicast() {
    for (subnet, block) in [
        ("0.0.0.0/8", "0.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/8"),
        ("127.0.0.0/8", "127.0.0.0/8"),
        ("127.1.2.0/24", "127.0.0.0/8"),
        ("224.0.0.0/24", "224.0.0.0/4"),
        ("239.255.255.0/24", "224.0.0.0/4"),
        ("::/0", "::1/128"),
        ("::/64", "::1/128"),
        ("ff02::/112", "ff00::/8"),
        ("::fffe:0:0/95", "::ffff:0:0/96"),
        ("::fff0:0:0/92", "::ffff:0:0/96"),
    ] {
        match Range::new(net(subnet), None, None, None) {
            Err(RangeError::NotUnicast { block: b, .. }) => assert_eq!(b, block, "{subnet}"),
            other => panic!("{subnet}: {other:?}"),
        }
    }
    // The case: a start just before the IPv4-mapped block.
    assert!(matches!(
        Range::new(
            net("::fffe:0:0/95"),
            Some(ip("::fffe:ffff:ffff")),
            None,
            None
        ),
        Err(RangeError::NotUnicast { .. })
    ));
    // Below the block is fine.
    Range::new(
        net("::fffe:0:0/95"),
        None,
        Some(ip("::fffe:ffff:ffff")),
        None,
    )
    .unwrap();
    // A subnet holding 255.255.255.255 as its broadcast (never handed out).
    Range::new(net("240.0.0.0/4"), None, None, None).unwrap();
    Range::new(net("255.255.255.0/24"), None, None, None).unwrap();
    Range::new(net("169.254.0.0/16"), None, None, None).unwrap();
    Range::new(net("fe80::/64"), None, None, None).unwrap();
    // A gateway in such a block.
    assert!(matches!(
        Range::new(net("10.0.0.0/24"), None, None, Some(ip("127.0.0.1"))),
        Err(RangeError::Outside { .. })
    ));
}

#[test]
fn link_local_gateway_outside_the_subnet() {
    let r = Range::new(net("10.1.0.0/24"), None, None, Some(ip("169.254.1.1"))).unwrap();
    assert_eq!(r.gateway, ip("169.254.1.1"));
    assert_eq!(r.start, ip("10.1.0.1"));
    let r = Range::new(net("fd00::/64"), None, None, Some(ip("fe80::1"))).unwrap();
    assert_eq!(r.gateway, ip("fe80::1"));
    for (subnet, gw) in [
        ("10.1.0.0/24", "10.2.0.1"),
        ("10.1.0.0/24", "fe80::1"),
        ("fd00::/64", "169.254.1.1"),
        ("fd00::/64", "fd01::1"),
        ("10.1.0.0/24", "224.0.0.1"),
    ] {
        assert!(
            matches!(
                Range::new(net(subnet), None, None, Some(ip(gw))),
                Err(RangeError::Outside { .. })
            ),
            "{subnet} gw {gw}"
        );
    }
}

#[test]
fn sets() {
    let r = |s: &str| Range::new(net(s), None, None, None).unwrap();
    assert_eq!(RangeSet::new(vec![]), Err(RangeSetError::Empty));
    assert!(matches!(
        RangeSet::new(vec![r("10.1.0.0/22"), r("10.1.2.0/24")]),
        Err(RangeSetError::Overlap(..))
    ));
    assert!(matches!(
        RangeSet::new(vec![r("10.1.0.0/22"), r("2001:db8:5::/64")]),
        Err(RangeSetError::MixedFamilies(..))
    ));
    let s = RangeSet::new(vec![r("192.168.0.0/24"), r("172.16.1.0/24")]).unwrap();
    assert_eq!(
        s.to_string(),
        "192.168.0.1-192.168.0.254,172.16.1.1-172.16.1.254"
    );
    assert_eq!(s.ranges().iter().map(Range::len).sum::<u128>(), 508);
    assert!(s.range_for(ip("192.168.99.99")).is_none());
    // Overlap is about start..end, not subnets.
    let a = Range::new(net("10.0.0.0/24"), None, Some(ip("10.0.0.127")), None).unwrap();
    let b = Range::new(net("10.0.0.0/24"), Some(ip("10.0.0.128")), None, None).unwrap();
    let c = Range::new(net("10.0.0.0/24"), Some(ip("10.0.0.127")), None, None).unwrap();
    assert!(!a.overlaps(&b) && a.overlaps(&c) && c.overlaps(&a));
    assert!(!r("10.0.0.0/24").overlaps(&r("a00::/24")));
}
