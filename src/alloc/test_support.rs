//! What the allocator's unit tests build their cases from.

use std::net::IpAddr;

use super::Skips;
use crate::range::{Range, RangeSet, to_u128};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A range set of `subnets`, each with host-local's defaults.
pub fn set(subnets: &[&str]) -> RangeSet {
    RangeSet::new(
        subnets
            .iter()
            .map(|s| Range::new(s.parse().unwrap(), None, None, None).unwrap())
            .collect(),
    )
    .unwrap()
}

/// The skips of `set` when nothing is excluded: its gateways.
pub fn gateways(set: &RangeSet) -> Skips {
    Skips::new(
        set.ranges()
            .iter()
            .map(|r| (to_u128(r.gateway), to_u128(r.gateway)))
            .collect(),
    )
}
