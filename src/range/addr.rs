//! Address arithmetic: families, addresses as integers and back, subnet
//! bounds.

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

/// Whether `ip` is link-local (169.254.0.0/16 or fe80::/10).
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}
