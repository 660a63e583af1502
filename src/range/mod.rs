//! Address arithmetic and the validated range types shared by config and alloc.
//!
//! Owns: turning addresses into integers and back (`addr.rs`), and the rules
//! a range must satisfy (`rules.rs`: inside its subnet, in order, never the
//! network or broadcast address, a gateway of the right family inside the
//! subnet). Never: files, JSON, or where a range came from.

mod addr;
mod rules;

use std::fmt;
use std::net::IpAddr;

use ipnetwork::IpNetwork;

pub use addr::{Family, canonical, from_u128, is_link_local, subnet_bounds, to_u128};
pub use rules::RangeError;

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
mod tests;
