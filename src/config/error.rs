//! Why a configuration is not acceptable: one variant per kind of mistake,
//! each naming the field.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::version::SpecVersion;
use crate::range::{RangeError, RangeSetError};

/// Why a configuration is not acceptable. Every variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required field is absent.
    #[error("{field} is required")]
    Missing {
        /// JSON path.
        field: String,
    },
    /// A field of the wrong JSON type.
    #[error("{field} must be {expected}, found {found}")]
    Type {
        /// JSON path.
        field: String,
        /// What was expected.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A string that does not parse as what the field holds.
    #[error("{field}: {value:?} is not {what}")]
    Parse {
        /// JSON path.
        field: String,
        /// The text.
        value: String,
        /// What it should be.
        what: &'static str,
    },
    /// A range that breaks the range rules.
    #[error("{field}: {reason}")]
    Range {
        /// JSON path of the range.
        field: String,
        /// What is wrong.
        reason: RangeError,
    },
    /// A range set that breaks the set rules.
    #[error("{field}: {reason}")]
    RangeSet {
        /// JSON path of the range set.
        field: String,
        /// What is wrong.
        reason: RangeSetError,
    },
    /// No range at all.
    #[error("no IP ranges specified: set ipam.ranges (or the legacy ipam.subnet)")]
    NoRanges,
    /// Two range sets share addresses.
    #[error("range set {a} ({a_field}: {a_ranges}) overlaps range set {b} ({b_field}: {b_ranges})")]
    SetsOverlap {
        /// Index of the first set in the merged list.
        a: usize,
        /// Where it was configured.
        a_field: String,
        /// Its ranges.
        a_ranges: String,
        /// Index of the second set.
        b: usize,
        /// Where it was configured.
        b_field: String,
        /// Its ranges.
        b_ranges: String,
    },
    /// 0.1.0/0.2.0 results hold one address per family.
    #[error(
        "CNI version {version} does not support more than 1 address per family: range sets {a_field} and {b_field} are both IPv{family}"
    )]
    TooManyPerFamily {
        /// The config's version.
        version: SpecVersion,
        /// Where the first set was configured.
        a_field: String,
        /// Where the second set was configured.
        b_field: String,
        /// "4" or "6".
        family: &'static str,
    },
    /// A requested address outside every range set.
    #[error("{field}: requested address {ip} is not in any range ({ranges})")]
    RequestedOutside {
        /// Where the request came from.
        field: String,
        /// The address.
        ip: IpAddr,
        /// All configured ranges.
        ranges: String,
    },
    /// Two requested addresses for one range set.
    #[error(
        "{field}: requested address {ip} is the second one for range set {set} ({ranges}), which already has {other}; a range set gives one address"
    )]
    RequestedTwice {
        /// Where the second request came from.
        field: String,
        /// The second address.
        ip: IpAddr,
        /// The first address.
        other: IpAddr,
        /// The set.
        set: usize,
        /// Its ranges.
        ranges: String,
    },
    /// A requested address that is a gateway.
    #[error("{field}: requested address {ip} is a gateway and is never handed out")]
    RequestedGateway {
        /// Where the request came from.
        field: String,
        /// The address.
        ip: IpAddr,
    },
    /// A requested address inside an excluded block.
    #[error("{field}: requested address {ip} is excluded by {exclude}")]
    RequestedExcluded {
        /// Where the request came from.
        field: String,
        /// The address.
        ip: IpAddr,
        /// The exclusion entry.
        exclude: String,
    },
    /// A pod range that collides with a Service CIDR or a node address.
    #[error(
        "{range_field} range {range} collides with {other_field} {other}: pod, Service and node addresses must never overlap"
    )]
    Collides {
        /// The range set's path.
        range_field: String,
        /// The range (`start-end`).
        range: String,
        /// `ipam.serviceCidrs[i]` or `ipam.nodeAddresses[i]`.
        other_field: String,
        /// Its value.
        other: IpNetwork,
    },
    /// The node range file is missing, unreadable or malformed.
    #[error("{message}")]
    SubnetFile {
        /// Which of the three.
        kind: SubnetFileProblem,
        /// The file's error, naming the path.
        message: String,
    },
    /// More entries than podlease accepts.
    #[error("{field}: {count} entries, more than the {max} podlease accepts")]
    TooMany {
        /// JSON path (or a description of what was counted).
        field: String,
        /// How many were configured.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Anything else, with the field and the reason.
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// What is wrong with `ipam.subnetFile`: a missing file is worth retrying
/// (the node agent writes it at start-up), the others are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubnetFileProblem {
    /// Not written yet.
    Missing,
    /// Cannot be read.
    Unreadable,
    /// No usable subnet in it.
    Malformed,
}
