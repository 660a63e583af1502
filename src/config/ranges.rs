//! Range sets: where they come from, in host-local's order
//! (`runtimeConfig.ipRanges`, the node's `subnetFile`, the legacy
//! `ipam.subnet`, `ipam.ranges`), and the rules between them (limits, no
//! overlap, one address per family before 0.3.0, no collision with Service
//! CIDRs or node addresses).

use std::path::Path;

use ipnetwork::IpNetwork;

use super::fields::{bounded, null_cidr, opt_ip, parse_cidr};
use super::json::{Field, Obj};
use super::subnet_file::{self, SubnetFileError};
use super::types::{MAX_RANGE_SETS, MAX_RANGES};
use super::version::SpecVersion;
use super::{ConfigError, SubnetFileProblem};
use crate::range::{Family, Range, RangeSet, subnet_bounds, to_u128};

/// The configured range sets, each with the field it was configured in (for
/// error messages).
#[derive(Debug, Default)]
pub(super) struct Sources {
    /// Range sets in host-local's order.
    pub sets: Vec<RangeSet>,
    /// Where each was configured.
    pub origins: Vec<String>,
}

impl Sources {
    /// Reads every source of range sets, in host-local's order.
    pub(super) fn read(ipam: &Obj<'_>, runtime: Option<&Obj<'_>>) -> Result<Self, ConfigError> {
        let mut out = Self::default();
        if let Some(f) = runtime.and_then(|r| r.get("ipRanges")) {
            out.parse_range_sets(&f)?;
        }
        if let Some((path, field)) = ipam.nonempty_str("subnetFile")? {
            let sets = read_subnet_file(path)?;
            out.origins.extend(sets.iter().map(|_| field.clone()));
            out.sets.extend(sets);
        }
        out.legacy_subnet(ipam)?;
        if let Some(f) = ipam.get("ranges") {
            out.parse_range_sets(&f)?;
        }
        Ok(out)
    }

    /// `ipam.subnet` with `rangeStart`, `rangeEnd`, `gateway` beside it.
    fn legacy_subnet(&mut self, ipam: &Obj<'_>) -> Result<(), ConfigError> {
        if ipam.get("subnet").is_none() && !ipam.is_null("subnet") {
            // Without a subnet the legacy fields are unused, but Go's decoder
            // still reads them: a bad one fails host-local, and podlease.
            for key in ["rangeStart", "rangeEnd", "gateway"] {
                opt_ip(ipam, key)?;
            }
            return Ok(());
        }
        let legacy = parse_range(ipam)?;
        let set = RangeSet::new(vec![legacy]).map_err(|reason| ConfigError::RangeSet {
            field: "ipam".into(),
            reason,
        })?;
        self.sets.push(set);
        self.origins.push("ipam.subnet".into());
        Ok(())
    }

    fn parse_range_sets(&mut self, field: &Field<'_>) -> Result<(), ConfigError> {
        let sets = bounded(field.items()?, &field.path, MAX_RANGE_SETS)?;
        for set_field in sets {
            self.origins.push(set_field.path.clone());
            let mut ranges = Vec::new();
            for range_field in bounded(set_field.items()?, &set_field.path, MAX_RANGES)? {
                ranges.push(parse_range(&Obj::of(
                    range_field.value,
                    &range_field.path,
                )?)?);
            }
            let set = RangeSet::new(ranges).map_err(|reason| ConfigError::RangeSet {
                field: set_field.path.clone(),
                reason,
            })?;
            self.sets.push(set);
        }
        Ok(())
    }

    /// The rules between range sets: at least one (unless pools fill them
    /// in), limits, no overlap, one per family before 0.3.0.
    pub(super) fn validate(
        &self,
        has_pools: bool,
        version: SpecVersion,
    ) -> Result<(), ConfigError> {
        let sets = &self.sets;
        if sets.is_empty() && !has_pools {
            return Err(ConfigError::NoRanges);
        }
        if sets.len() > MAX_RANGE_SETS {
            return Err(ConfigError::TooMany {
                field: "range sets".into(),
                count: sets.len(),
                max: MAX_RANGE_SETS,
            });
        }
        let ranges: usize = sets.iter().map(|s| s.ranges().len()).sum();
        if ranges > MAX_RANGES {
            return Err(ConfigError::TooMany {
                field: "ranges over all range sets".into(),
                count: ranges,
                max: MAX_RANGES,
            });
        }
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate().skip(i + 1) {
                self.check_pair(i, a, j, b, version)?;
            }
        }
        Ok(())
    }

    fn check_pair(
        &self,
        i: usize,
        a: &RangeSet,
        j: usize,
        b: &RangeSet,
        version: SpecVersion,
    ) -> Result<(), ConfigError> {
        let origin = |k: usize| self.origins.get(k).cloned().unwrap_or_default();
        if a.overlaps(b) {
            return Err(ConfigError::SetsOverlap {
                a: i,
                a_field: origin(i),
                a_ranges: a.to_string(),
                b: j,
                b_field: origin(j),
                b_ranges: b.to_string(),
            });
        }
        if version < SpecVersion::V0_3_0 && a.family() == b.family() {
            return Err(ConfigError::TooManyPerFamily {
                version,
                a_field: origin(i),
                b_field: origin(j),
                family: a.family().version_str(),
            });
        }
        Ok(())
    }
}

/// How many range sets DEL releases for (`ranges`, plus the legacy `subnet`),
/// at least 1, read leniently: host-local's DEL releases once per range set,
/// which decides whether a container's legacy id-only files go too.
pub(super) fn count_for_release(ipam: &Obj<'_>) -> usize {
    let ranges = ipam
        .get("ranges")
        .and_then(|f| f.items().ok())
        .map_or(0, |v| v.len());
    let subnet = usize::from(ipam.get("subnet").is_some());
    (ranges + subnet).max(1)
}

/// The node's range from `ipam.subnetFile`; a missing file is worth retrying.
fn read_subnet_file(path: &str) -> Result<Vec<RangeSet>, ConfigError> {
    subnet_file::read(Path::new(path)).map_err(|e| {
        let kind = match e {
            SubnetFileError::Missing { .. } => SubnetFileProblem::Missing,
            SubnetFileError::Io { .. } => SubnetFileProblem::Unreadable,
            SubnetFileError::Malformed { .. } => SubnetFileProblem::Malformed,
        };
        ConfigError::SubnetFile {
            kind,
            message: e.to_string(),
        }
    })
}

fn parse_range(obj: &Obj<'_>) -> Result<Range, ConfigError> {
    null_cidr(obj, "subnet")?;
    let subnet = match obj.get("subnet") {
        Some(f) => parse_cidr(&f)?,
        None => {
            return Err(ConfigError::Missing {
                field: format!("{}.subnet", obj.path),
            });
        }
    };
    let start = opt_ip(obj, "rangeStart")?;
    let end = opt_ip(obj, "rangeEnd")?;
    let gateway = opt_ip(obj, "gateway")?;
    Range::new(subnet, start, end, gateway).map_err(|reason| ConfigError::Range {
        field: obj.path.to_owned(),
        reason,
    })
}

/// Rejects a range that shares an address with one of `others`, unless the
/// shared addresses are all gateways or excluded.
pub(super) fn check_collisions(
    sets: &[RangeSet],
    others: &[(IpNetwork, String)],
    exclude: &[(IpNetwork, String)],
) -> Result<(), ConfigError> {
    for (set_idx, set) in sets.iter().enumerate() {
        for range in set.ranges() {
            for (other, field) in others {
                if Family::of(other.ip()) != range.family() {
                    continue;
                }
                let (lo, hi) = subnet_bounds(*other);
                let (a, b) = (lo.max(range.start_u()), hi.min(range.end_u()));
                if a > b {
                    continue;
                }
                // Collides unless every shared address is a gateway or excluded.
                let harmless = a == b && to_u128(range.gateway) == a
                    || exclude.iter().any(|(e, _)| {
                        let (el, eh) = subnet_bounds(*e);
                        Family::of(e.ip()) == range.family() && el <= a && b <= eh
                    });
                if !harmless {
                    return Err(ConfigError::Collides {
                        range_field: format!("range set {set_idx}"),
                        range: range.to_string(),
                        other_field: field.clone(),
                        other: *other,
                    });
                }
            }
        }
    }
    Ok(())
}
