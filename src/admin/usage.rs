//! `podlease usage` (and the data of `podlease metrics`): the size, used
//! and free addresses of each network's range sets.
//!
//! Owns: the usage arithmetic ([`range_set_usage`]), the one place usage is
//! computed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::{Admin, AdminError, OwnerKind};
use crate::alloc::Skips;
use crate::alloc::{integers_of, skips_for};
use crate::ids::NetworkName;
use crate::range::{Family, RangeSet};
use crate::store::Allocation;

/// A range, as configured and as validated.
#[derive(Debug, Clone, Serialize)]
pub struct RangeInfo {
    /// The subnet.
    pub subnet: String,
    /// First allocatable address.
    pub start: IpAddr,
    /// Last allocatable address.
    pub end: IpAddr,
    /// The gateway.
    pub gateway: IpAddr,
}

/// Usage of one range set.
#[derive(Debug, Clone, Serialize)]
pub struct RangeSetUsage {
    /// Index in the config (`last_reserved_ip.<index>`).
    pub index: usize,
    /// Its ranges.
    pub ranges: Vec<RangeInfo>,
    /// Allocatable addresses: the ranges' sizes minus the addresses never
    /// handed out (gateways).
    pub size: u128,
    /// Allocated addresses inside the ranges.
    pub used: u128,
    /// Allocatable addresses not allocated.
    pub free: u128,
    /// `(size - free) / size`, in percent.
    pub percent_used: f64,
}

/// Allocations by owner kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct KindCounts {
    /// `id\r\nifname` files.
    pub attachment: usize,
    /// Bare container id files.
    pub legacy: usize,
    /// Zero-length files.
    pub empty: usize,
    /// Unrecognised content.
    pub unknown: usize,
}

impl KindCounts {
    /// The count of one kind.
    pub fn get(&self, kind: OwnerKind) -> usize {
        match kind {
            OwnerKind::Attachment => self.attachment,
            OwnerKind::Legacy => self.legacy,
            OwnerKind::Empty => self.empty,
            OwnerKind::Unknown => self.unknown,
        }
    }

    fn add(&mut self, kind: OwnerKind) {
        let slot = match kind {
            OwnerKind::Attachment => &mut self.attachment,
            OwnerKind::Legacy => &mut self.legacy,
            OwnerKind::Empty => &mut self.empty,
            OwnerKind::Unknown => &mut self.unknown,
        };
        *slot += 1;
    }
}

/// Usage of one network.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkUsage {
    /// The network.
    pub network: String,
    /// The config file its ranges come from; `None` when none was found.
    pub config: Option<PathBuf>,
    /// Every allocated address.
    pub allocated: usize,
    /// Allocated addresses outside every configured range set (0 without config).
    pub outside_ranges: usize,
    /// Allocations by owner kind.
    pub by_kind: KindCounts,
    /// Per range set; empty when the ranges are unknown.
    pub range_sets: Vec<RangeSetUsage>,
}

/// `podlease usage` (and the data of `podlease metrics`).
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Per network, by name.
    pub networks: Vec<NetworkUsage>,
    /// Config problems met on the way.
    pub warnings: Vec<String>,
}

/// The usage of one range set given the addresses never handed out (`skips`)
/// and the allocated addresses of the set's family. The one place usage is
/// computed: exclusions plug in through `skips`.
pub fn range_set_usage(
    index: usize,
    set: &RangeSet,
    skips: &Skips,
    taken: &BTreeSet<u128>,
) -> RangeSetUsage {
    let mut size = 0u128;
    let mut used = 0u128;
    let mut used_allocatable = 0u128;
    for r in set.ranges() {
        let (lo, hi) = (r.start_u(), r.end_u());
        size = size.saturating_add(r.len().saturating_sub(skips.count_within(lo, hi)));
        for v in taken.range(lo..=hi) {
            used = used.saturating_add(1);
            if !skips.contains(*v) {
                used_allocatable = used_allocatable.saturating_add(1);
            }
        }
    }
    let free = size.saturating_sub(used_allocatable);
    let percent_used = if size == 0 {
        0.0
    } else {
        (size - free) as f64 / size as f64 * 100.0
    };
    let ranges = set
        .ranges()
        .iter()
        .map(|r| RangeInfo {
            subnet: r.subnet.to_string(),
            start: r.start,
            end: r.end,
            gateway: r.gateway,
        })
        .collect();
    RangeSetUsage {
        index,
        ranges,
        size,
        used,
        free,
        percent_used,
    }
}

impl Admin {
    /// Usage of `only` or of every network with state or config.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for a network with neither; store failures.
    pub fn usage(&self, only: Option<&NetworkName>) -> Result<UsageReport, AdminError> {
        let names: Vec<NetworkName> = match only {
            Some(n) if self.has_state(n) || self.configs.get(n).is_some() => vec![n.clone()],
            Some(n) => {
                return Err(AdminError::NotFound(format!(
                    "network {n} has no state in {} and no config was found (networks there: {})",
                    self.data_dir.display(),
                    self.networks_there()
                )));
            }
            None => {
                let mut all: BTreeSet<NetworkName> = self.networks()?.into_iter().collect();
                all.extend(self.configs.names().cloned());
                all.into_iter().collect()
            }
        };
        let mut networks = Vec::new();
        for network in names {
            let allocs = self
                .inspect(&network)?
                .map(|i| i.allocations)
                .unwrap_or_default();
            networks.push(self.network_usage(&network, &allocs));
        }
        Ok(UsageReport {
            data_dir: self.data_dir.clone(),
            networks,
            warnings: self.configs.warnings.clone(),
        })
    }

    fn network_usage(&self, network: &NetworkName, allocs: &[Allocation]) -> NetworkUsage {
        let mut by_kind = KindCounts::default();
        for a in allocs {
            by_kind.add(OwnerKind::of(&a.owner));
        }
        let cfg = self.configs.get(network);
        let ipam = cfg.and_then(|c| c.ipam.as_ref());
        let mut range_sets = Vec::new();
        let mut outside_ranges = 0;
        if let Some(ipam) = ipam {
            let taken = |family| integers_of(family, allocs.iter().map(|a| a.ip));
            let (v4, v6) = (taken(Family::V4), taken(Family::V6));
            for (index, set) in ipam.range_sets.iter().enumerate() {
                let family = set.family();
                let taken = if family == Family::V4 { &v4 } else { &v6 };
                range_sets.push(range_set_usage(index, set, &skips_for(ipam, family), taken));
            }
            outside_ranges = allocs
                .iter()
                .filter(|a| ipam.range_sets.iter().all(|s| s.range_for(a.ip).is_none()))
                .count();
        }
        NetworkUsage {
            network: network.to_string(),
            config: cfg.map(|c| c.source.clone()),
            allocated: allocs.len(),
            outside_ranges,
            by_kind,
            range_sets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::{Range, to_u128};

    fn set(specs: &[(&str, Option<&str>, Option<&str>)]) -> RangeSet {
        RangeSet::new(
            specs
                .iter()
                .map(|(n, s, e)| {
                    Range::new(
                        n.parse().unwrap(),
                        s.map(|x| x.parse().unwrap()),
                        e.map(|x| x.parse().unwrap()),
                        None,
                    )
                    .unwrap()
                })
                .collect(),
        )
        .unwrap()
    }

    fn gateways(s: &RangeSet) -> Skips {
        Skips::new(
            s.ranges()
                .iter()
                .map(|r| (to_u128(r.gateway), to_u128(r.gateway)))
                .collect(),
        )
    }

    #[test]
    fn usage_arithmetic() {
        let s = set(&[("10.1.2.0/24", None, None)]);
        let taken: BTreeSet<u128> = ["10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.3.9"]
            .iter()
            .map(|i| to_u128(i.parse().unwrap()))
            .collect();
        let u = range_set_usage(0, &s, &gateways(&s), &taken);
        assert_eq!((u.size, u.used, u.free), (253, 3, 250));
        assert!((u.percent_used - 300.0 / 253.0).abs() < 1e-9);

        // The gateway outside [start, end] costs nothing; an allocated gateway is used but not free.
        let s = set(&[("10.0.0.0/24", Some("10.0.0.10"), Some("10.0.0.19"))]);
        assert_eq!(
            range_set_usage(0, &s, &gateways(&s), &BTreeSet::new()).size,
            10
        );
        let s = set(&[("10.0.0.0/24", None, None), ("10.0.1.0/24", None, None)]);
        let taken: BTreeSet<u128> = [to_u128("10.0.0.1".parse().unwrap())].into();
        let u = range_set_usage(0, &s, &gateways(&s), &taken);
        assert_eq!((u.size, u.used, u.free), (506, 1, 506));

        // IPv6 /64 and /0: saturating, no overflow.
        let s = set(&[("2001:db8::/64", None, None)]);
        let u = range_set_usage(
            0,
            &s,
            &gateways(&s),
            &[to_u128("2001:db8::5".parse().unwrap())].into(),
        );
        assert_eq!(
            (u.size, u.used, u.free),
            ((1u128 << 64) - 2, 1, (1u128 << 64) - 3)
        );
        // ::/0 is refused by validation (loopback, multicast); built by hand
        // to reach the saturating arithmetic.
        let whole = crate::range::Range {
            subnet: "::/0".parse().unwrap(),
            start: "::1".parse().unwrap(),
            end: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
            gateway: "::1".parse().unwrap(),
        };
        let s = RangeSet::new(vec![whole]).unwrap();
        let u = range_set_usage(0, &s, &gateways(&s), &BTreeSet::new());
        assert_eq!(u.size, u128::MAX - 1);
        assert!(u.percent_used == 0.0);
    }
}
