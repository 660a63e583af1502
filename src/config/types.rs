//! The validated configuration: what ADD, CHECK, GC and STATUS read
//! ([`IpamConfig`]), what DEL and GC read ([`ReleaseConfig`]), and the
//! limits and defaults that shape them.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnetwork::IpNetwork;

use crate::journal::JournalOptions;
use crate::range::RangeSet;

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
    pub pools: Option<super::pools::PoolsConfig>,
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
