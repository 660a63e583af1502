//! The network configuration and its `ipam` section: parsing, host-local's
//! defaults, and validation that is stricter than host-local's.
//!
//! Owns: turning stdin JSON (plus `CNI_ARGS`) into a validated [`IpamConfig`].
//! Never: files other than the resolv.conf and subnet file named in the
//! config, the store, or the choice of addresses.

mod json;
pub mod known_keys;
pub mod pools;
pub mod resolv;
pub mod subnet_file;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnetwork::IpNetwork;
use serde_json::Value;

use crate::cni::args::{CniArgs, parse_requested_ip};
use crate::cni::version::SpecVersion;
use crate::journal::JournalOptions;
use crate::range::{
    Family, Range, RangeError, RangeSet, RangeSetError, canonical, subnet_bounds, to_u128,
};
use json::{Field, Obj};
pub use json::{decode as decode_go_json, get as go_get};

/// host-local's default state directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// At most this many range sets: each gives every pod one address, and a
/// config with more is a mistake (or an attack that would make each ADD
/// reserve thousands of addresses).
pub const MAX_RANGE_SETS: usize = 64;
/// At most this many ranges over all range sets (validation compares pairs).
pub const MAX_RANGES: usize = 1024;
/// At most this many entries in `exclude`, `serviceCidrs`, `nodeAddresses`, `routes`.
pub const MAX_LIST: usize = 4096;

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

/// A route, returned as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination, host bits kept as written (host-local does the same).
    pub dst: IpNetwork,
    /// Next hop.
    pub gw: Option<IpAddr>,
    /// CNI 1.1 route attributes, passed through.
    pub mtu: Option<i64>,
    /// TCP advertised MSS.
    pub advmss: Option<i64>,
    /// Route priority.
    pub priority: Option<i64>,
    /// Routing table.
    pub table: Option<i64>,
    /// Route scope.
    pub scope: Option<i64>,
}

/// A specific address a caller asked for, and where it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// The address.
    pub ip: IpAddr,
    /// `CNI_ARGS IP`, `args.cni.ips[0]`, `runtimeConfig.ips[1]`...
    pub source: String,
}

/// The validated `ipam` section plus the runtime's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConfig {
    /// Range sets in host-local's order: `runtimeConfig.ipRanges`, legacy `subnet`, `ranges`.
    pub range_sets: Vec<RangeSet>,
    /// For each range set, the address requested from it, if any.
    pub requested: Vec<Option<Requested>>,
    /// Routes for the result.
    pub routes: Vec<Route>,
    /// Where state lives (`<dataDir>/<network name>/`).
    pub data_dir: PathBuf,
    /// resolv.conf to turn into the result's `dns`.
    pub resolv_conf: Option<PathBuf>,
    /// Release the allocations of earlier boots at the first operation of a new boot.
    pub reclaim_on_reboot: bool,
    /// How much older than the boot a file podlease did not write must be to
    /// be released by that (seconds).
    pub reclaim_clock_slack_secs: u64,
    /// Blocks inside the ranges that are never handed out, with their source field.
    pub exclude: Vec<(IpNetwork, String)>,
    /// A released address is not handed out again for this long while others are free.
    pub reuse_delay_secs: u64,
    /// Give a pod (namespace/name) the addresses it held last time when they are free.
    pub sticky: bool,
    /// Cluster pools (`ipam.pools`): the range sets are then this node's
    /// blocks, filled in by [`crate::pool`] under the lock; empty here.
    pub pools: Option<pools::PoolsConfig>,
    /// The address journal (`ipam.journal`).
    pub journal: JournalOptions,
}

/// The part of the configuration that DEL needs. DEL must release whatever the
/// attachment holds even when the rest of the config has gone bad, so only
/// these fields are read and bad values fall back to defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseConfig {
    /// Where state lives.
    pub data_dir: PathBuf,
    /// As in [`IpamConfig`].
    pub reclaim_on_reboot: bool,
    /// As in [`IpamConfig`]: DEL records releases only when it is set.
    pub reuse_delay_secs: u64,
    /// As in [`IpamConfig`].
    pub reclaim_clock_slack_secs: u64,
    /// How many range sets the config names (`ranges`, plus the legacy
    /// `subnet`), at least 1: host-local's DEL releases once per range set,
    /// which decides whether a container's legacy id-only files go too.
    pub range_sets: usize,
    /// As in [`IpamConfig`]; a bad value means the defaults.
    pub journal: JournalOptions,
}

fn parse_ip(field: &Field<'_>) -> Result<IpAddr, ConfigError> {
    let s = field.as_str()?;
    s.parse::<IpAddr>()
        .map(canonical)
        .map_err(|_| ConfigError::Parse {
            field: field.path.clone(),
            value: s.to_owned(),
            what: "an IP address",
        })
}

fn parse_cidr(field: &Field<'_>) -> Result<IpNetwork, ConfigError> {
    let s = field.as_str()?;
    let bad = || ConfigError::Parse {
        field: field.path.clone(),
        value: s.to_owned(),
        what: "a CIDR (address/prefix)",
    };
    // Exactly what host-local's Go accepts: no dotted masks, no `+`, no zones.
    crate::gonet::parse_cidr(s).ok_or_else(bad)
}

fn opt_ip(obj: &Obj<'_>, key: &str) -> Result<Option<IpAddr>, ConfigError> {
    match obj.get(key) {
        Some(f) if f.value.as_str() == Some("") => Ok(None),
        Some(f) => parse_ip(&f).map(Some),
        None => Ok(None),
    }
}

/// `"subnet": null` or `"dst": null`: host-local's decoder reads it as the
/// CIDR `""` and fails (`invalid CIDR address: `), so podlease refuses it too.
fn null_cidr(obj: &Obj<'_>, key: &str) -> Result<(), ConfigError> {
    if obj.is_null(key) {
        return Err(ConfigError::Parse {
            field: if obj.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", obj.path)
            },
            value: "null".into(),
            what: "a CIDR (address/prefix); null is not absent here, as in host-local",
        });
    }
    Ok(())
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

fn parse_range_sets(
    field: &Field<'_>,
    out: &mut Vec<RangeSet>,
    origins: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let sets = bounded(field.items()?, &field.path, MAX_RANGE_SETS)?;
    for set_field in sets {
        origins.push(set_field.path.clone());
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
        out.push(set);
    }
    Ok(())
}

/// Refuses a list longer than `max` before anything quadratic looks at it.
fn bounded<'a>(
    items: Vec<Field<'a>>,
    path: &str,
    max: usize,
) -> Result<Vec<Field<'a>>, ConfigError> {
    if items.len() > max {
        return Err(ConfigError::TooMany {
            field: path.to_owned(),
            count: items.len(),
            max,
        });
    }
    Ok(items)
}

fn parse_routes(ipam: &Obj<'_>) -> Result<Vec<Route>, ConfigError> {
    let Some(field) = ipam.get("routes") else {
        return Ok(Vec::new());
    };
    let mut routes = Vec::new();
    for item in bounded(field.items()?, &field.path, MAX_LIST)? {
        let obj = Obj::of(item.value, &item.path)?;
        null_cidr(&obj, "dst")?;
        let dst = match obj.get("dst") {
            Some(f) => parse_cidr(&f)?,
            None => {
                return Err(ConfigError::Missing {
                    field: format!("{}.dst", item.path),
                });
            }
        };
        let gw = opt_ip(&obj, "gw")?;
        if let Some(gw) = gw
            && Family::of(gw) != Family::of(dst.ip())
        {
            return Err(ConfigError::Invalid {
                field: format!("{}.gw", item.path),
                reason: format!("gateway {gw} is not of the same address family as dst {dst}"),
            });
        }
        routes.push(Route {
            dst,
            gw,
            mtu: obj.i64("mtu")?,
            advmss: obj.i64("advmss")?,
            priority: obj.i64("priority")?,
            table: obj.i64("table")?,
            scope: obj.i64("scope")?,
        });
    }
    Ok(routes)
}

fn requested_list(field: Option<Field<'_>>, out: &mut Vec<Requested>) -> Result<(), ConfigError> {
    let Some(field) = field else { return Ok(()) };
    for item in field.items()? {
        let s = item.as_str()?;
        let ip = parse_requested_ip(s).ok_or_else(|| ConfigError::Parse {
            field: item.path.clone(),
            value: s.to_owned(),
            what: "an IP address (optionally with /prefix)",
        })?;
        out.push(Requested {
            ip,
            source: item.path,
        });
    }
    Ok(())
}

/// A list of addresses or CIDRs (a bare address is a single-address block).
fn cidr_list(ipam: &Obj<'_>, key: &str) -> Result<Vec<(IpNetwork, String)>, ConfigError> {
    let Some(field) = ipam.get(key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in bounded(field.items()?, &field.path, MAX_LIST)? {
        let s = item.as_str()?;
        let net = if s.contains('/') {
            crate::gonet::parse_cidr(s)
        } else {
            crate::gonet::parse_ip(s).map(|ip| IpNetwork::from(canonical(ip)))
        };
        let net = net.ok_or_else(|| ConfigError::Parse {
            field: item.path.clone(),
            value: s.to_owned(),
            what: "an address or CIDR",
        })?;
        out.push((net, item.path));
    }
    Ok(out)
}

/// Rejects a range that shares an address with one of `others`, unless the
/// shared addresses are all gateways or excluded.
fn check_collisions(
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

fn data_dir(ipam: Option<&Obj<'_>>) -> Result<PathBuf, ConfigError> {
    match ipam.map(|o| o.str("dataDir")).transpose()?.flatten() {
        Some((s, _)) if !s.is_empty() => Ok(PathBuf::from(s)),
        _ => Ok(PathBuf::from(DEFAULT_DATA_DIR)),
    }
}

/// Gives each requested address to the first range set that contains it, in
/// request order (host-local walks a Go map, so its choice is random).
fn assign_requests(
    sets: &[RangeSet],
    requests: Vec<Requested>,
) -> Result<Vec<Option<Requested>>, ConfigError> {
    let mut per_set: Vec<Option<Requested>> = vec![None; sets.len()];
    let all_ranges = || {
        sets.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    for req in requests {
        let Some((idx, set)) = sets
            .iter()
            .enumerate()
            .find(|(_, s)| s.range_for(req.ip).is_some())
        else {
            return Err(ConfigError::RequestedOutside {
                field: req.source,
                ip: req.ip,
                ranges: all_ranges(),
            });
        };
        if sets
            .iter()
            .flat_map(RangeSet::ranges)
            .any(|r| r.gateway == req.ip)
        {
            return Err(ConfigError::RequestedGateway {
                field: req.source,
                ip: req.ip,
            });
        }
        match per_set.get_mut(idx) {
            Some(Some(first)) if first.ip == req.ip => {} // the same address asked twice
            Some(Some(first)) => {
                return Err(ConfigError::RequestedTwice {
                    field: req.source,
                    ip: req.ip,
                    other: first.ip,
                    set: idx,
                    ranges: set.to_string(),
                });
            }
            Some(slot) => *slot = Some(req),
            None => {}
        }
    }
    Ok(per_set)
}

/// `ipam.journal`: `true`/`false`, or `{"enabled", "maxFiles", "maxBytes"}`.
fn journal_options(ipam: &Obj<'_>) -> Result<JournalOptions, ConfigError> {
    let mut opts = JournalOptions::default();
    let Some(field) = ipam.get("journal") else {
        return Ok(opts);
    };
    if let Some(on) = field.value.as_bool() {
        opts.enabled = on;
        return Ok(opts);
    }
    let obj = Obj::of(field.value, &field.path)?;
    opts.enabled = obj.bool("enabled")?.unwrap_or(true);
    if let Some(n) = obj.u64("maxFiles")? {
        opts.max_files = u32::try_from(n)
            .ok()
            .filter(|n| (1..=crate::journal::MAX_MAX_FILES).contains(n))
            .ok_or_else(|| ConfigError::Invalid {
                field: format!("{}.maxFiles", field.path),
                reason: format!(
                    "{n} files: must be between 1 and {}",
                    crate::journal::MAX_MAX_FILES
                ),
            })?;
    }
    if let Some(n) = obj.u64("maxBytes")? {
        if n < crate::journal::MIN_MAX_BYTES {
            return Err(ConfigError::Invalid {
                field: format!("{}.maxBytes", field.path),
                reason: format!(
                    "{n} bytes: must be at least {} so a file holds a few records",
                    crate::journal::MIN_MAX_BYTES
                ),
            });
        }
        opts.max_bytes = n;
    }
    Ok(opts)
}

impl IpamConfig {
    /// Parses and validates the whole config for ADD, CHECK, GC and STATUS.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field that is wrong.
    pub fn parse(root: &Value, version: SpecVersion, args: &CniArgs) -> Result<Self, ConfigError> {
        let root = Obj::of(root, "")?;
        let Some(ipam_field) = root.get("ipam") else {
            return Err(ConfigError::Missing {
                field: "ipam".into(),
            });
        };
        let ipam = Obj::of(ipam_field.value, "ipam")?;

        let mut range_sets = Vec::new();
        // Where each range set was configured, for error messages.
        let mut origins: Vec<String> = Vec::new();
        let runtime = root
            .get("runtimeConfig")
            .map(|f| Obj::of(f.value, "runtimeConfig"))
            .transpose()?;
        if let Some(f) = runtime.as_ref().and_then(|r| r.get("ipRanges")) {
            parse_range_sets(&f, &mut range_sets, &mut origins)?;
        }
        if let Some((path, field)) = ipam.nonempty_str("subnetFile")? {
            let sets = subnet_file::read(std::path::Path::new(path)).map_err(|e| {
                let kind = match e {
                    subnet_file::SubnetFileError::Missing { .. } => SubnetFileProblem::Missing,
                    subnet_file::SubnetFileError::Io { .. } => SubnetFileProblem::Unreadable,
                    subnet_file::SubnetFileError::Malformed { .. } => SubnetFileProblem::Malformed,
                };
                ConfigError::SubnetFile {
                    kind,
                    message: e.to_string(),
                }
            })?;
            origins.extend(sets.iter().map(|_| field.clone()));
            range_sets.extend(sets);
        }
        if ipam.get("subnet").is_none() && !ipam.is_null("subnet") {
            // Without a subnet the legacy fields are unused, but Go's decoder
            // still reads them: a bad one fails host-local, and podlease.
            for key in ["rangeStart", "rangeEnd", "gateway"] {
                opt_ip(&ipam, key)?;
            }
        } else {
            let legacy = parse_range(&ipam)?;
            let set = RangeSet::new(vec![legacy]).map_err(|reason| ConfigError::RangeSet {
                field: "ipam".into(),
                reason,
            })?;
            range_sets.push(set);
            origins.push("ipam.subnet".into());
        }
        if let Some(f) = ipam.get("ranges") {
            parse_range_sets(&f, &mut range_sets, &mut origins)?;
        }
        let pools = pools::parse(
            &ipam,
            &origins.iter().map(String::as_str).collect::<Vec<_>>(),
            &data_dir(Some(&ipam))?,
            &cidr_list(&ipam, "nodeAddresses")?,
            &cidr_list(&ipam, "serviceCidrs")?,
            &cidr_list(&ipam, "exclude")?,
        )?;
        if range_sets.is_empty() && pools.is_none() {
            return Err(ConfigError::NoRanges);
        }
        if range_sets.len() > MAX_RANGE_SETS {
            return Err(ConfigError::TooMany {
                field: "range sets".into(),
                count: range_sets.len(),
                max: MAX_RANGE_SETS,
            });
        }
        let ranges: usize = range_sets.iter().map(|s| s.ranges().len()).sum();
        if ranges > MAX_RANGES {
            return Err(ConfigError::TooMany {
                field: "ranges over all range sets".into(),
                count: ranges,
                max: MAX_RANGES,
            });
        }
        for (i, a) in range_sets.iter().enumerate() {
            for (j, b) in range_sets.iter().enumerate().skip(i + 1) {
                let origin = |k: usize| origins.get(k).cloned().unwrap_or_default();
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
            }
        }

        let mut requests: Vec<Requested> = args
            .ips
            .iter()
            .map(|&ip| Requested {
                ip,
                source: "CNI_ARGS IP".into(),
            })
            .collect();
        let args_obj = root
            .get("args")
            .map(|f| Obj::of(f.value, "args"))
            .transpose()?;
        let cni_args = args_obj
            .and_then(|a| a.get("cni"))
            .map(|f| (f.value, f.path));
        if let Some((value, path)) = &cni_args {
            requested_list(Obj::of(value, path)?.get("ips"), &mut requests)?;
        }
        if let Some(rt) = &runtime {
            requested_list(rt.get("ips"), &mut requests)?;
        }
        let exclude = cidr_list(&ipam, "exclude")?;
        check_collisions(&range_sets, &cidr_list(&ipam, "serviceCidrs")?, &[])?;
        check_collisions(&range_sets, &cidr_list(&ipam, "nodeAddresses")?, &exclude)?;
        if let (Some(_), Some(req)) = (&pools, requests.first()) {
            return Err(ConfigError::Invalid {
                field: req.source.clone(),
                reason: format!(
                    "requests address {}, but ipam.pools hands out addresses only from this node's blocks: specific addresses are not supported with pools",
                    req.ip
                ),
            });
        }
        let requested = assign_requests(&range_sets, requests)?;
        if let Some((req, (net, field))) = requested.iter().flatten().find_map(|r| {
            exclude
                .iter()
                .find(|(n, _)| n.contains(r.ip))
                .map(|e| (r, e))
        }) {
            return Err(ConfigError::RequestedExcluded {
                field: req.source.clone(),
                ip: req.ip,
                exclude: format!("{field} ({net})"),
            });
        }

        let resolv_conf = ipam
            .nonempty_str("resolvConf")?
            .map(|(s, _)| PathBuf::from(s));
        Ok(Self {
            routes: parse_routes(&ipam)?,
            data_dir: data_dir(Some(&ipam))?,
            resolv_conf,
            reclaim_on_reboot: ipam.bool("reclaimOnReboot")?.unwrap_or(true),
            reuse_delay_secs: ipam.u64("reuseDelaySeconds")?.unwrap_or(0),
            reclaim_clock_slack_secs: ipam
                .u64("reclaimClockSlackSeconds")?
                .unwrap_or(crate::store::disk::DEFAULT_FOREIGN_CLOCK_SLACK_SECS),
            sticky: ipam.bool("sticky")?.unwrap_or(false),
            pools,
            journal: journal_options(&ipam)?,
            exclude,
            range_sets,
            requested,
        })
    }
}

impl ReleaseConfig {
    /// Reads what DEL needs, tolerating everything else being wrong.
    ///
    /// # Errors
    /// Only when `ipam.dataDir` is present and not a string: guessing another
    /// directory could release the wrong network's state.
    pub fn parse(root: &Value) -> Result<Self, ConfigError> {
        let ipam = root
            .as_object()
            .and_then(|m| go_get(m, "ipam"))
            .and_then(|v| Obj::of(v, "ipam").ok());
        Ok(Self {
            data_dir: data_dir(ipam.as_ref())?,
            reclaim_on_reboot: ipam
                .as_ref()
                .and_then(|o| o.bool("reclaimOnReboot").ok().flatten())
                .unwrap_or(true),
            reuse_delay_secs: ipam
                .as_ref()
                .and_then(|o| o.u64("reuseDelaySeconds").ok().flatten())
                .unwrap_or(0),
            reclaim_clock_slack_secs: ipam
                .as_ref()
                .and_then(|o| o.u64("reclaimClockSlackSeconds").ok().flatten())
                .unwrap_or(crate::store::disk::DEFAULT_FOREIGN_CLOCK_SLACK_SECS),
            range_sets: ipam.as_ref().map_or(1, |o| {
                let ranges = o
                    .get("ranges")
                    .and_then(|f| f.items().ok())
                    .map_or(0, |v| v.len());
                let subnet = usize::from(o.get("subnet").is_some());
                (ranges + subnet).max(1)
            }),
            journal: ipam
                .as_ref()
                .and_then(|o| journal_options(o).ok())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests;
