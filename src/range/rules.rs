//! The rules a range must satisfy, with host-local's defaults filled in:
//! inside its subnet, in order, never the network or broadcast address, only
//! unicast addresses of its family, a gateway of the right family.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::{Family, Range, canonical, from_u128, is_link_local, subnet_bounds, to_u128};

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

/// A subnet that passed [`Subnet::check`]: its integers and the rules for an
/// address inside it.
struct Subnet {
    net: IpNetwork,
    family: Family,
    /// The network address.
    first: u128,
    /// The last address (IPv4: broadcast).
    last: u128,
    /// IPv4's broadcast address.
    broadcast: Option<u128>,
}

impl Subnet {
    /// Not IPv4-mapped, not too small, no host bits set.
    fn check(net: IpNetwork) -> Result<Self, RangeError> {
        if let IpNetwork::V6(v6) = net
            && v6.ip().to_ipv4_mapped().is_some()
        {
            return Err(RangeError::Mapped(net));
        }
        let family = Family::of(net.ip());
        if net.prefix() > family.bits() - 2 {
            return Err(RangeError::TooSmall(net));
        }
        let (first, last) = subnet_bounds(net);
        if to_u128(net.ip()) != first {
            return Err(RangeError::HostBits {
                subnet: net,
                prefix: net.prefix(),
                network: from_u128(family, first),
            });
        }
        let broadcast = (family == Family::V4).then_some(last);
        Ok(Self {
            net,
            family,
            first,
            last,
            broadcast,
        })
    }

    /// `field`'s address as an integer: of the family, inside the subnet, and
    /// neither its network nor its broadcast address.
    fn inside(&self, field: &'static str, ip: IpAddr) -> Result<u128, RangeError> {
        let ip = canonical(ip);
        let v = to_u128(ip);
        let subnet = self.net;
        if Family::of(ip) != self.family || v < self.first || v > self.last {
            return Err(RangeError::Outside { field, ip, subnet });
        }
        let what = if v == self.first {
            "network"
        } else if Some(v) == self.broadcast {
            "broadcast"
        } else {
            return Ok(v);
        };
        Err(RangeError::Reserved {
            field,
            ip,
            what,
            subnet,
        })
    }

    /// The gateway: as configured (inside, or the ptp / routed-pod pattern's
    /// on-link link-local address outside, which no pod holds: host-local
    /// accepts any gateway), else the network address + 1.
    fn gateway(&self, gateway: Option<IpAddr>) -> Result<u128, RangeError> {
        match gateway.map(canonical) {
            Some(ip)
                if Family::of(ip) == self.family
                    && is_link_local(ip)
                    && !(self.first..=self.last).contains(&to_u128(ip)) =>
            {
                Ok(to_u128(ip))
            }
            Some(ip) => self.inside("gateway", ip),
            None => Ok(self.first + 1),
        }
    }
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
        let s = Subnet::check(subnet)?;
        let start_v = match start {
            Some(ip) => s.inside("rangeStart", ip)?,
            None => s.first + 1,
        };
        let end_v = match end {
            Some(ip) => s.inside("rangeEnd", ip)?,
            None => s.broadcast.map_or(s.last, |b| b - 1),
        };
        let gateway_v = s.gateway(gateway)?;
        let range = Self {
            subnet,
            start: from_u128(s.family, start_v),
            end: from_u128(s.family, end_v),
            gateway: from_u128(s.family, gateway_v),
        };
        if start_v > end_v {
            return Err(RangeError::Reversed {
                start: range.start,
                end: range.end,
            });
        }
        range.check_unicast()?;
        if start_v == end_v && start_v == gateway_v {
            return Err(RangeError::NothingToAllocate(range.to_string()));
        }
        Ok(range)
    }

    /// What is handed out (start..=end) and the gateway must be unicast
    /// addresses of the family. (A subnet may contain such a block, e.g.
    /// 240.0.0.0/4 and 255.255.255.255, its broadcast, never handed out.)
    fn check_unicast(&self) -> Result<(), RangeError> {
        let gateway = to_u128(self.gateway);
        for (field, lo, hi) in [
            ("range", self.start_u(), self.end_u()),
            ("gateway", gateway, gateway),
        ] {
            if let Some((block, kind)) = not_unicast(self.family(), lo, hi) {
                let what_is = if field == "range" {
                    self.to_string()
                } else {
                    self.gateway.to_string()
                };
                return Err(RangeError::NotUnicast {
                    what: format!("{field} {what_is} of subnet {}", self.subnet),
                    block,
                    kind,
                });
            }
        }
        Ok(())
    }
}
