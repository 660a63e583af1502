//! Address arithmetic and the validated range types shared by config and alloc.
//!
//! Owns: turning addresses into integers and back, and the rules a range must
//! satisfy (inside its subnet, in order, never the network or broadcast
//! address, a gateway of the right family inside the subnet).
//! Never: files, JSON, or where a range came from.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address (IPv4-mapped IPv6 counts as IPv6 here; callers
    /// canonicalise first where that matters).
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }

    /// "4" or "6", as CNI 0.3.x results spell it.
    pub fn version_str(self) -> &'static str {
        match self {
            Self::V4 => "4",
            Self::V6 => "6",
        }
    }
}

/// The integer value of an address.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of `family` with integer value `v` (truncated to 32 bits for IPv4).
pub fn from_u128(family: Family, v: u128) -> IpAddr {
    match family {
        // Truncation is the point: callers only pass values of the family's width.
        Family::V4 => IpAddr::V4(Ipv4Addr::from((v & 0xffff_ffff) as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4, as host-local does for
/// requested addresses and file names.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The host part mask of a prefix in a family: all ones below the prefix.
fn host_mask(family: Family, prefix: u8) -> u128 {
    let host_bits = u32::from(family.bits().saturating_sub(prefix));
    match 1u128.checked_shl(host_bits) {
        Some(v) => v - 1,
        None => u128::MAX,
    }
}

/// First and last integer of a subnet.
pub fn subnet_bounds(net: IpNetwork) -> (u128, u128) {
    let family = Family::of(net.ip());
    let mask = host_mask(family, net.prefix());
    let base = to_u128(net.ip()) & !mask;
    (base, base | mask)
}

/// Why a range is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// IPv4-mapped IPv6 subnets mix families.
    #[error("subnet {0} is an IPv4-mapped IPv6 network; write it as IPv4")]
    Mapped(IpNetwork),
    /// /31, /32, /127, /128 leave nothing to hand out.
    #[error(
        "subnet {0} is too small to allocate from (the longest usable prefix is /30 for IPv4 and /126 for IPv6)"
    )]
    TooSmall(IpNetwork),
    /// `10.1.2.3/24` instead of `10.1.2.0/24`.
    #[error("subnet {subnet} has host bits set: the network address for /{prefix} is {network}")]
    HostBits {
        /// As written.
        subnet: IpNetwork,
        /// Its prefix length.
        prefix: u8,
        /// What it should have been.
        network: IpAddr,
    },
    /// A bound of another family, or outside the subnet.
    #[error("{field} {ip} is not in subnet {subnet}")]
    Outside {
        /// `rangeStart`, `rangeEnd` or `gateway`.
        field: &'static str,
        /// The offending address.
        ip: IpAddr,
        /// The range's subnet.
        subnet: IpNetwork,
    },
    /// rangeStart after rangeEnd (after defaults are filled in).
    #[error("rangeStart {start} is after rangeEnd {end}")]
    Reversed {
        /// Start.
        start: IpAddr,
        /// End.
        end: IpAddr,
    },
    /// The network address (or IPv6 subnet-router anycast) or the IPv4 broadcast
    /// address inside the allocatable part of a range.
    #[error("{field} {ip} is the {what} address of {subnet} and can never be handed out")]
    Reserved {
        /// `rangeStart`, `rangeEnd` or `gateway`.
        field: &'static str,
        /// The offending address.
        ip: IpAddr,
        /// "network" or "broadcast".
        what: &'static str,
        /// The range's subnet.
        subnet: IpNetwork,
    },
    /// The only address between start and end is the gateway.
    #[error("range {0} has no address to hand out besides its gateway")]
    NothingToAllocate(String),
    /// A subnet that shares addresses with a block that is never a pod's
    /// unicast address (unspecified, loopback, multicast, limited broadcast,
    /// IPv4-mapped).
    #[error(
        "{what} overlaps {block}, the {kind} block: pod addresses and gateways must be unicast addresses of their own family"
    )]
    NotUnicast {
        /// `range START-END of subnet SUBNET` or `gateway IP of subnet SUBNET`.
        what: String,
        /// The block it overlaps.
        block: &'static str,
        /// What the block is.
        kind: &'static str,
    },
}

/// Blocks no pod range may touch, per family: (first, last, text, what).
/// Link-local (169.254.0.0/16, fe80::/10) and 240.0.0.0/4 stay allowed.
/// IPv4-mapped IPv6 addresses are IPv4 addresses to every reader of the
/// state (host-local and podlease name their files in IPv4), so a range
/// there would hand out an address the result cannot carry.
const NOT_UNICAST_V4: &[(u32, u32, &str, &str)] = &[
    (
        0x0000_0000,
        0x00ff_ffff,
        "0.0.0.0/8",
        "unspecified (\"this network\")",
    ),
    (0x7f00_0000, 0x7fff_ffff, "127.0.0.0/8", "loopback"),
    (0xe000_0000, 0xefff_ffff, "224.0.0.0/4", "multicast"),
    (
        0xffff_ffff,
        0xffff_ffff,
        "255.255.255.255/32",
        "limited broadcast",
    ),
];
const NOT_UNICAST_V6: &[(u128, u128, &str, &str)] = &[
    (0, 0, "::/128", "unspecified"),
    (1, 1, "::1/128", "loopback"),
    (
        0xffff_0000_0000,
        0xffff_ffff_ffff,
        "::ffff:0:0/96",
        "IPv4-mapped",
    ),
    (0xff00_u128 << 112, u128::MAX, "ff00::/8", "multicast"),
];

/// The first block of [`NOT_UNICAST_V4`]/[`NOT_UNICAST_V6`] that `lo..=hi`
/// overlaps: (block, what).
fn not_unicast(family: Family, lo: u128, hi: u128) -> Option<(&'static str, &'static str)> {
    match family {
        Family::V4 => NOT_UNICAST_V4
            .iter()
            .find(|(a, b, ..)| u128::from(*a) <= hi && lo <= u128::from(*b))
            .map(|(_, _, block, what)| (*block, *what)),
        Family::V6 => NOT_UNICAST_V6
            .iter()
            .find(|(a, b, ..)| *a <= hi && lo <= *b)
            .map(|(_, _, block, what)| (*block, *what)),
    }
}

/// Whether `ip` is link-local (169.254.0.0/16 or fe80::/10).
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// One validated range: `start..=end` inside `subnet`, with its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet (network address, prefix): the mask of results.
    pub subnet: IpNetwork,
    /// First allocatable address (inclusive).
    pub start: IpAddr,
    /// Last allocatable address (inclusive).
    pub end: IpAddr,
    /// The gateway returned with addresses of this range, never handed out.
    pub gateway: IpAddr,
}

impl Range {
    /// Fills in host-local's defaults and validates, more strictly than host-local.
    ///
    /// Defaults: start = network + 1, end = broadcast - 1 (IPv4) or the last
    /// address (IPv6), gateway = network + 1.
    ///
    /// # Errors
    /// [`RangeError`] naming the field and value that is wrong.
    pub fn new(
        subnet: IpNetwork,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
        gateway: Option<IpAddr>,
    ) -> Result<Self, RangeError> {
        if let IpNetwork::V6(v6) = subnet
            && v6.ip().to_ipv4_mapped().is_some()
        {
            return Err(RangeError::Mapped(subnet));
        }
        let family = Family::of(subnet.ip());
        if subnet.prefix() > family.bits() - 2 {
            return Err(RangeError::TooSmall(subnet));
        }
        let (net, last) = subnet_bounds(subnet);
        if to_u128(subnet.ip()) != net {
            return Err(RangeError::HostBits {
                subnet,
                prefix: subnet.prefix(),
                network: from_u128(family, net),
            });
        }
        let broadcast = (family == Family::V4).then_some(last);
        let check = |field: &'static str, ip: IpAddr| -> Result<u128, RangeError> {
            let ip = canonical(ip);
            let v = to_u128(ip);
            if Family::of(ip) != family || v < net || v > last {
                return Err(RangeError::Outside { field, ip, subnet });
            }
            let what = if v == net {
                Some("network")
            } else if Some(v) == broadcast {
                Some("broadcast")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(RangeError::Reserved {
                    field,
                    ip,
                    what,
                    subnet,
                });
            }
            Ok(v)
        };
        let start_v = match start {
            Some(ip) => check("rangeStart", ip)?,
            None => net + 1,
        };
        let end_v = match end {
            Some(ip) => check("rangeEnd", ip)?,
            None => broadcast.map_or(last, |b| b - 1),
        };
        let gateway_v = match gateway.map(canonical) {
            // The ptp / routed-pod pattern: an on-link gateway such as
            // 169.254.1.1 that no pod holds (host-local accepts any gateway).
            Some(ip)
                if Family::of(ip) == family
                    && is_link_local(ip)
                    && !(net..=last).contains(&to_u128(ip)) =>
            {
                to_u128(ip)
            }
            Some(ip) => check("gateway", ip)?,
            None => net + 1,
        };
        let range = Self {
            subnet,
            start: from_u128(family, start_v),
            end: from_u128(family, end_v),
            gateway: from_u128(family, gateway_v),
        };
        if start_v > end_v {
            return Err(RangeError::Reversed {
                start: range.start,
                end: range.end,
            });
        }
        // What is handed out (start..=end) and the gateway must be unicast
        // addresses of the family. (A subnet may contain such a block, e.g.
        // 240.0.0.0/4 and 255.255.255.255, its broadcast, never handed out.)
        for (field, lo, hi) in [("range", start_v, end_v), ("gateway", gateway_v, gateway_v)] {
            if let Some((block, kind)) = not_unicast(family, lo, hi) {
                let what_is = if field == "range" {
                    range.to_string()
                } else {
                    range.gateway.to_string()
                };
                return Err(RangeError::NotUnicast {
                    what: format!("{field} {what_is} of subnet {subnet}"),
                    block,
                    kind,
                });
            }
        }
        if start_v == end_v && start_v == gateway_v {
            return Err(RangeError::NothingToAllocate(range.to_string()));
        }
        Ok(range)
    }

    /// The family of every address in the range.
    pub fn family(&self) -> Family {
        Family::of(self.subnet.ip())
    }

    /// First allocatable integer.
    pub fn start_u(&self) -> u128 {
        to_u128(self.start)
    }

    /// Last allocatable integer.
    pub fn end_u(&self) -> u128 {
        to_u128(self.end)
    }

    /// Whether `ip` lies in `start..=end` (same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        Family::of(ip) == self.family() && (self.start_u()..=self.end_u()).contains(&to_u128(ip))
    }

    /// Whether two ranges share an address.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.family() == other.family()
            && self.start_u() <= other.end_u()
            && other.start_u() <= self.end_u()
    }

    /// Number of addresses in `start..=end`, saturating at `u128::MAX`.
    pub fn len(&self) -> u128 {
        (self.end_u() - self.start_u()).saturating_add(1)
    }

    /// Always false: a validated range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The address with the range's prefix, as results carry it.
    pub fn with_prefix(&self, ip: IpAddr) -> IpNetwork {
        // The prefix is valid for the family by construction, so this cannot fail;
        // fall back to a host prefix rather than panic.
        IpNetwork::new(ip, self.subnet.prefix()).unwrap_or_else(|_| IpNetwork::from(ip))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A non-empty list of ranges of one family, none overlapping: one address per
/// ADD comes from each range set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range>,
}

/// Why a list of ranges is not a range set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeSetError {
    /// `[]`.
    #[error("the range set is empty")]
    Empty,
    /// IPv4 and IPv6 ranges in one set.
    #[error("ranges {0} and {1} are of different address families; use one range set per family")]
    MixedFamilies(String, String),
    /// Two ranges share addresses.
    #[error("ranges {0} and {1} overlap")]
    Overlap(String, String),
}

impl RangeSet {
    /// Checks the set rules.
    ///
    /// # Errors
    /// [`RangeSetError`] when empty, mixed, or overlapping.
    pub fn new(ranges: Vec<Range>) -> Result<Self, RangeSetError> {
        let Some(first) = ranges.first() else {
            return Err(RangeSetError::Empty);
        };
        for r in &ranges {
            if r.family() != first.family() {
                return Err(RangeSetError::MixedFamilies(
                    first.to_string(),
                    r.to_string(),
                ));
            }
        }
        for (i, a) in ranges.iter().enumerate() {
            for b in ranges.iter().skip(i + 1) {
                if a.overlaps(b) {
                    return Err(RangeSetError::Overlap(a.to_string(), b.to_string()));
                }
            }
        }
        Ok(Self { ranges })
    }

    /// The ranges, in configured order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// The family of the set.
    pub fn family(&self) -> Family {
        self.ranges.first().map_or(Family::V4, Range::family)
    }

    /// The range that holds `ip`, if any.
    pub fn range_for(&self, ip: IpAddr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.contains(ip))
    }

    /// Whether any range of `self` overlaps any range of `other`.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.ranges
            .iter()
            .any(|a| other.ranges.iter().any(|b| a.overlaps(b)))
    }

    /// Total number of addresses, saturating.
    pub fn len(&self) -> u128 {
        self.ranges
            .iter()
            .fold(0u128, |acc, r| acc.saturating_add(r.len()))
    }

    /// Always false: a validated set holds at least one range.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(s.len(), 508);
        assert!(s.range_for(ip("192.168.99.99")).is_none());
        // Overlap is about start..end, not subnets.
        let a = Range::new(net("10.0.0.0/24"), None, Some(ip("10.0.0.127")), None).unwrap();
        let b = Range::new(net("10.0.0.0/24"), Some(ip("10.0.0.128")), None, None).unwrap();
        let c = Range::new(net("10.0.0.0/24"), Some(ip("10.0.0.127")), None, None).unwrap();
        assert!(!a.overlaps(&b) && a.overlaps(&c) && c.overlaps(&a));
        assert!(!r("10.0.0.0/24").overlaps(&r("a00::/24")));
    }
}
