//! What is never handed out: gateways and `exclude` blocks, as merged integer
//! intervals a walk jumps over in one step.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::IpamConfig;
use crate::range::{Family, subnet_bounds, to_u128};

/// Inclusive integer intervals that are never handed out (gateways, excluded
/// blocks), kept sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skips {
    intervals: Vec<(u128, u128)>,
}

impl Skips {
    /// Builds from unsorted, possibly overlapping intervals.
    pub fn new(mut intervals: Vec<(u128, u128)>) -> Self {
        intervals.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(intervals.len());
        for (lo, hi) in intervals {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Self { intervals: merged }
    }

    /// The end of the skipped interval holding `v`, if any.
    pub(super) fn covering(&self, v: u128) -> Option<u128> {
        let i = self.intervals.partition_point(|(lo, _)| *lo <= v);
        let (lo, hi) = *self.intervals.get(i.checked_sub(1)?)?;
        (lo <= v && v <= hi).then_some(hi)
    }

    /// Whether `v` is skipped.
    pub fn contains(&self, v: u128) -> bool {
        self.covering(v).is_some()
    }

    /// How many addresses of `lo..=hi` are skipped (saturating).
    pub fn count_within(&self, lo: u128, hi: u128) -> u128 {
        self.intervals
            .iter()
            .filter(|(a, b)| *a <= hi && *b >= lo)
            .fold(0u128, |acc, (a, b)| {
                acc.saturating_add((*b).min(hi) - (*a).max(lo))
                    .saturating_add(1)
            })
    }
}

/// Addresses that are never handed out in `family`: every configured gateway
/// (host-local skips only the gateway of the range being walked) and every
/// `exclude` block.
pub fn skips_for(cfg: &IpamConfig, family: Family) -> Skips {
    let gateways = cfg
        .range_sets
        .iter()
        .flat_map(|s| s.ranges())
        .filter(|r| r.family() == family)
        .map(|r| to_u128(r.gateway))
        .map(|v| (v, v));
    let excluded = cfg
        .exclude
        .iter()
        .filter(|(net, _)| Family::of(net.ip()) == family)
        .map(|(net, _)| subnet_bounds(*net));
    Skips::new(gateways.chain(excluded).collect())
}

/// The integers of the addresses of `family` among `ips`: the form a walk
/// over a range set compares against (taken, recently released).
pub fn integers_of(family: Family, ips: impl IntoIterator<Item = IpAddr>) -> BTreeSet<u128> {
    ips.into_iter()
        .filter(|ip| Family::of(*ip) == family)
        .map(to_u128)
        .collect()
}
