//! The operator's view of the state: list, show, usage, release and gc over
//! every network under a data directory, each returning a report that the
//! command line renders as a table or as JSON.
//!
//! Owns: finding networks under the data directory, finding the CNI configs
//! that give their ranges (`/etc/cni/net.d`), and the usage arithmetic
//! ([`range_set_usage`]). Every read or change of a network's state holds its
//! lock, one network at a time (two locks are never held together).
//! Never: argument parsing, output formatting, the process environment.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::gc::{KeepRule, ValidAttachment};
use super::skips_for;
use crate::alloc::Skips;
use crate::cni::args::CniArgs;
use crate::cni::version::SpecVersion;
use crate::config::{IpamConfig, ReleaseConfig};
use crate::error::Error;
use crate::ids::{Attachment, ContainerId, IfName, NameError, NetworkName};
use crate::range::{Family, RangeSet, to_u128};
use crate::store::layout::parse_ip_name;
use crate::store::{Allocation, LockedNetwork, Owner, StoreError, StoreOptions, inspect};

/// Why an operator command failed. The command line maps each variant to an
/// exit status.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing matched: unknown address, container or network.
    #[error("{0}")]
    NotFound(String),
    /// The target matches in several networks; `--network` must choose.
    #[error("{0}")]
    Ambiguous(String),
    /// Bad input (a keep list, an explicit config file); nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// An operation failed part-way; the message says what was done.
    #[error("{0}")]
    Failed(String),
    /// The state directory failed (I/O, lock timeout).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An operation failed.
    #[error(transparent)]
    Op(#[from] Error),
    /// A file outside the state (a config, the data directory itself).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------
// Time

/// Seconds since the epoch as RFC 3339 in UTC: `2024-05-01T12:34:56Z`.
pub fn rfc3339_utc(secs: i64) -> String {
    // Clamp to years 0..=9999 so the arithmetic cannot overflow on a hostile mtime.
    let secs = secs.clamp(-62_167_219_200, 253_402_300_799);
    let (y, m, d) = crate::journal::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

// ---------------------------------------------------------------------------
// Configs

/// A network's configuration found in a CNI config file.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The file it came from.
    pub source: PathBuf,
    /// What DEL and GC read (data directory, reclaim on reboot, ...).
    pub release: ReleaseConfig,
    /// The validated ipam section; `None` when it does not parse (a warning says why).
    pub ipam: Option<IpamConfig>,
}

/// The configs of the networks under one data directory.
#[derive(Debug, Clone, Default)]
pub struct Configs {
    by_name: BTreeMap<NetworkName, NetworkConfig>,
    /// Files skipped and configs that did not parse.
    pub warnings: Vec<String>,
}

/// The ipam types whose state we read.
const IPAM_TYPES: [&str; 2] = ["podlease", "host-local"];

/// Largest config file read.
const MAX_CONF: u64 = 1 << 20;

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Configs {
    /// Reads `files` (explicit, each must be readable and hold at least one
    /// podlease or host-local network) and, when given, every `*.conf`,
    /// `*.conflist` and `*.json` of `conf_dir` in name order (failures there
    /// are warnings). The first config of a network name wins, explicit files
    /// first, as libcni picks the first file. Networks keeping their state in
    /// another data directory are skipped with a warning.
    ///
    /// # Errors
    /// [`AdminError::Io`] for an unreadable explicit file, [`AdminError::Invalid`]
    /// for one that is not JSON or has no podlease/host-local network.
    pub fn discover(
        conf_dir: Option<&Path>,
        files: &[PathBuf],
        data_dir: &Path,
    ) -> Result<Self, AdminError> {
        let mut out = Self::default();
        for file in files {
            let text = read_conf(file).map_err(|source| AdminError::Io {
                op: "read",
                path: file.clone(),
                source,
            })?;
            let found = out
                .add_file(file, &text, data_dir)
                .map_err(AdminError::Invalid)?;
            if found == 0 {
                return Err(AdminError::Invalid(format!(
                    "{}: no plugin with ipam type \"podlease\" or \"host-local\"",
                    file.display()
                )));
            }
        }
        let Some(dir) = conf_dir else { return Ok(out) };
        let paths = match super::locate::conf_files(dir) {
            Ok(p) => p,
            Err(e) => {
                out.warnings.push(format!(
                    "cannot list config directory {}: {e}",
                    dir.display()
                ));
                return Ok(out);
            }
        };
        for path in paths {
            match read_conf(&path) {
                Ok(text) => {
                    if let Err(msg) = out.add_file(&path, &text, data_dir) {
                        out.warnings.push(format!("skipping {msg}"));
                    }
                }
                Err(e) => out
                    .warnings
                    .push(format!("skipping {}: {e}", path.display())),
            }
        }
        Ok(out)
    }

    /// Adds the networks of one file; returns how many ipam plugins of ours it has.
    fn add_file(&mut self, path: &Path, text: &str, data_dir: &Path) -> Result<usize, String> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let Value::Object(top) = &root else {
            return Err(format!("{}: not a JSON object", path.display()));
        };
        let version = top
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = top.get("name").and_then(Value::as_str).unwrap_or_default();
        // A conflist has `plugins`; a .conf is one plugin.
        let plugins: Vec<&Value> = match top.get("plugins") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(_) => return Err(format!("{}: plugins is not a list", path.display())),
            None => vec![&root],
        };
        let mut found = 0;
        for plugin in plugins {
            let Some(Value::Object(obj)) = Some(plugin) else {
                continue;
            };
            let ipam_type = obj
                .get("ipam")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str);
            if !ipam_type.is_some_and(|t| IPAM_TYPES.contains(&t)) {
                continue;
            }
            found += 1;
            let mut conf = obj.clone();
            conf.insert("name".into(), Value::String(name.to_owned()));
            conf.insert("cniVersion".into(), Value::String(version.to_owned()));
            let conf = Value::Object(conf);
            let network = match NetworkName::new(name) {
                Ok(n) => n,
                Err(e) => {
                    self.warnings
                        .push(format!("{}: network name {e}", path.display()));
                    continue;
                }
            };
            if self.by_name.contains_key(&network) {
                self.warnings.push(format!(
                    "{}: network {network} is already configured by an earlier file; ignored",
                    path.display()
                ));
                continue;
            }
            let release = match ReleaseConfig::parse(&conf) {
                Ok(r) => r,
                Err(e) => {
                    self.warnings
                        .push(format!("{}: network {network}: {e}", path.display()));
                    continue;
                }
            };
            if !same_dir(&release.data_dir, data_dir) {
                self.warnings.push(format!(
                    "{}: network {network} keeps its state in {}, not {}; ignored (use --data-dir)",
                    path.display(),
                    release.data_dir.display(),
                    data_dir.display()
                ));
                continue;
            }
            let spec = SpecVersion::parse(version).unwrap_or(SpecVersion::NEWEST);
            let ipam = match IpamConfig::parse(&conf, spec, &CniArgs::default()) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.warnings.push(format!(
                        "{}: network {network}: ranges unknown: {e}",
                        path.display()
                    ));
                    None
                }
            };
            self.by_name.insert(
                network,
                NetworkConfig {
                    source: path.to_path_buf(),
                    release,
                    ipam,
                },
            );
        }
        Ok(found)
    }

    /// The config of `network`, if one was found.
    pub fn get(&self, network: &NetworkName) -> Option<&NetworkConfig> {
        self.by_name.get(network)
    }

    /// Every configured network.
    pub fn names(&self) -> impl Iterator<Item = &NetworkName> {
        self.by_name.keys()
    }
}

fn read_conf(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    fs::File::open(path)?
        .take(MAX_CONF)
        .read_to_string(&mut s)?;
    Ok(s)
}

// ---------------------------------------------------------------------------
// Reports

/// What holds an address, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// `id\r\nifname`.
    Attachment,
    /// A bare container id (host-local before 2018): any interface.
    Legacy,
    /// A zero-length file (a write that never finished).
    Empty,
    /// Unrecognised content.
    Unknown,
}

impl OwnerKind {
    /// Every kind, in display order.
    pub const ALL: [Self; 4] = [Self::Attachment, Self::Legacy, Self::Empty, Self::Unknown];

    /// The kind of an owner.
    pub fn of(owner: &Owner) -> Self {
        match owner {
            Owner::Attachment(_) => Self::Attachment,
            Owner::Legacy(_) => Self::Legacy,
            Owner::Empty => Self::Empty,
            Owner::Unknown(_) => Self::Unknown,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Legacy => "legacy",
            Self::Empty => "empty",
            Self::Unknown => "unknown",
        }
    }
}

/// One allocated address.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationInfo {
    /// The network.
    pub network: String,
    /// The address.
    pub address: IpAddr,
    /// What kind of owner the file names.
    pub kind: OwnerKind,
    /// The container id (attachment and legacy files).
    pub container_id: Option<String>,
    /// The interface (attachment files only).
    pub ifname: Option<String>,
    /// The file's content when it is not recognised.
    pub content: Option<String>,
    /// `namespace/name` when the runtime passed the pod.
    pub pod: Option<String>,
    /// The file's mtime, RFC 3339 UTC.
    pub allocated_at: String,
    /// The file's mtime, seconds since the epoch.
    pub allocated_at_unix: i64,
    /// The range set holding the address, when the network's config is known.
    pub range_set: Option<usize>,
    /// The reservation file.
    pub file: PathBuf,
    /// The file names no attachment (empty, unrecognised, unreadable): the
    /// address is kept out of use until `release` or GC removes it.
    pub blocked: bool,
    /// What the next operation's recovery would do with it (inspection
    /// only): `killed-add` or `reboot-reclaim` when it would be released.
    pub pending_release: Option<&'static str>,
    /// Why, in words.
    pub pending_reason: Option<String>,
}

impl AllocationInfo {
    fn new(
        network: &NetworkName,
        a: &Allocation,
        data_dir: &Path,
        cfg: Option<&NetworkConfig>,
    ) -> Self {
        let (container_id, ifname, content) = match &a.owner {
            Owner::Attachment(who) => (
                Some(who.container_id.to_string()),
                Some(who.ifname.to_string()),
                None,
            ),
            Owner::Legacy(id) => (Some(id.to_string()), None, None),
            Owner::Empty => (None, None, None),
            Owner::Unknown(s) => (None, None, Some(s.clone())),
        };
        let range_set = cfg.and_then(|c| c.ipam.as_ref()).and_then(|i| {
            i.range_sets
                .iter()
                .position(|s| s.range_for(a.ip).is_some())
        });
        Self {
            network: network.to_string(),
            address: a.ip,
            kind: OwnerKind::of(&a.owner),
            container_id,
            ifname,
            content,
            pod: a.pod.clone(),
            allocated_at: rfc3339_utc(a.stamp.mtime),
            allocated_at_unix: a.stamp.mtime,
            range_set,
            file: data_dir.join(network.as_str()).join(a.ip.to_string()),
            blocked: matches!(a.owner, Owner::Empty | Owner::Unknown(_)),
            pending_release: None,
            pending_reason: None,
        }
    }
}

/// `podlease list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Every allocation, by network then address.
    pub allocations: Vec<AllocationInfo>,
}

/// `podlease show`.
#[derive(Debug, Clone, Serialize)]
pub struct ShowReport {
    /// What was asked for.
    pub query: String,
    /// What matched.
    pub matches: Vec<AllocationInfo>,
}

/// `podlease release`.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// What was asked for.
    pub query: String,
    /// What was released, as it was just before.
    pub released: Vec<AllocationInfo>,
}

/// One network of `podlease gc`.
#[derive(Debug, Clone, Serialize)]
pub struct GcNetwork {
    /// The network.
    pub network: String,
    /// Released (or, in a dry run, to be released).
    pub released: Vec<AllocationInfo>,
    /// Addresses kept.
    pub kept: usize,
}

/// `podlease gc`.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Per network.
    pub networks: Vec<GcNetwork>,
}

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

// ---------------------------------------------------------------------------
// What to look for

/// An address or a container, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One address.
    Address(IpAddr),
    /// Every attachment of a container (or one, with an interface).
    Container(ContainerId, Option<IfName>),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(ip) => write!(f, "address {ip}"),
            Self::Container(id, None) => write!(f, "container {id}"),
            Self::Container(id, Some(ifname)) => write!(f, "container {id} interface {ifname}"),
        }
    }
}

/// The allocations of `all` that `target` names. A container with an
/// interface matches as DEL does: its exact files, or its legacy id-only
/// files when it has none.
fn select<'a>(all: &'a [Allocation], target: &Target) -> Vec<&'a Allocation> {
    match target {
        Target::Address(ip) => all.iter().filter(|a| a.ip == *ip).collect(),
        Target::Container(id, None) => all
            .iter()
            .filter(|a| match &a.owner {
                Owner::Attachment(who) => who.container_id == *id,
                Owner::Legacy(l) => l == id,
                Owner::Empty | Owner::Unknown(_) => false,
            })
            .collect(),
        Target::Container(id, Some(ifname)) => {
            let who = Owner::Attachment(Attachment {
                container_id: id.clone(),
                ifname: ifname.clone(),
            });
            let exact: Vec<&Allocation> = all.iter().filter(|a| a.owner == who).collect();
            if exact.is_empty() {
                let legacy = Owner::Legacy(id.clone());
                all.iter().filter(|a| a.owner == legacy).collect()
            } else {
                exact
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The commands

/// The operator's handle on one data directory.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Where state lives.
    pub data_dir: PathBuf,
    /// Lock timeout and boot source (`reclaim_on_reboot` is taken from each
    /// network's config when found, else this value).
    pub opts: StoreOptions,
    /// The networks' configs.
    pub configs: Configs,
}

impl Admin {
    /// An admin handle over `data_dir`.
    pub fn new(data_dir: PathBuf, opts: StoreOptions, configs: Configs) -> Self {
        Self {
            data_dir,
            opts,
            configs,
        }
    }

    fn has_state(&self, network: &NetworkName) -> bool {
        self.data_dir.join(network.as_str()).is_dir()
    }

    /// The networks with state under the data directory: directories with a
    /// valid network name holding a `lock` file or an address file. A missing
    /// data directory has none.
    ///
    /// # Errors
    /// [`AdminError::Io`] when the data directory cannot be listed.
    pub fn networks(&self) -> Result<Vec<NetworkName>, AdminError> {
        let io = |source| AdminError::Io {
            op: "list",
            path: self.data_dir.clone(),
            source,
        };
        let entries = match fs::read_dir(&self.data_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| NetworkName::new(n).ok())
            else {
                continue;
            };
            if !entry.path().is_dir() {
                continue;
            }
            if entry.path().join("lock").is_file() || dir_has_address(&entry.path()) {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The networks with state, for a message: `a, b`, or `none`.
    fn networks_there(&self) -> String {
        let there: Vec<String> = self
            .networks()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        if there.is_empty() {
            "none".to_owned()
        } else {
            there.join(", ")
        }
    }

    /// The networks a command covers: `only`, or every network with state.
    fn scope(&self, only: Option<&NetworkName>) -> Result<Vec<NetworkName>, AdminError> {
        match only {
            Some(n) if self.has_state(n) => Ok(vec![n.clone()]),
            Some(n) => Err(AdminError::NotFound(format!(
                "network {n} has no state in {} (networks there: {})",
                self.data_dir.display(),
                self.networks_there()
            ))),
            None => self.networks(),
        }
    }

    /// The store options for `network`: reclaim as its config says. A
    /// network whose config was not found (a config directory the command
    /// line does not know, a Multus attachment, a bare `--data-dir`) never
    /// has its earlier boots reclaimed by an operator command: the boot is
    /// recorded, nothing is released, and GC collects what is left.
    fn opts_for(&self, network: &NetworkName) -> StoreOptions {
        let mut opts = self.opts.clone();
        match self.configs.get(network) {
            Some(cfg) => {
                opts.reclaim_on_reboot = cfg.release.reclaim_on_reboot;
                opts.foreign_clock_slack_secs = cfg.release.reclaim_clock_slack_secs;
                opts.journal = cfg.release.journal;
            }
            None => opts.reclaim_on_reboot = false,
        }
        opts
    }

    /// The network's `reclaimOnReboot`, when its config is known.
    fn reclaim_of(&self, network: &NetworkName) -> Option<bool> {
        self.configs
            .get(network)
            .map(|c| c.release.reclaim_on_reboot)
    }

    fn no_state(&self, network: &NetworkName) -> AdminError {
        AdminError::NotFound(format!(
            "network {network} has no state in {}",
            self.data_dir.display()
        ))
    }

    /// Takes the network's lock for a change and runs recovery (as the
    /// network's config says; see [`Self::opts_for`]); never creates a
    /// directory for a network without state.
    fn open(&self, network: &NetworkName) -> Result<LockedNetwork, AdminError> {
        let mut net =
            LockedNetwork::open_existing(&self.data_dir, network, &self.opts_for(network))?
                .ok_or_else(|| self.no_state(network))?;
        net.recover()?;
        Ok(net)
    }

    /// Reads one network's allocations without changing anything, with
    /// what recovery would do to them; `target` selects some.
    fn read_selected(
        &self,
        network: &NetworkName,
        target: Option<&Target>,
    ) -> Result<Vec<AllocationInfo>, AdminError> {
        let found = inspect(
            &self.data_dir,
            network,
            &self.opts_for(network),
            self.reclaim_of(network),
        )?
        .ok_or_else(|| self.no_state(network))?;
        let cfg = self.configs.get(network);
        let conditional = if self.reclaim_of(network).is_none() {
            " (if reclaimOnReboot is on: the network's config was not found)"
        } else {
            ""
        };
        let chosen: Vec<&Allocation> = match target {
            Some(t) => select(&found.allocations, t),
            None => found.allocations.iter().collect(),
        };
        Ok(chosen
            .into_iter()
            .map(|a| {
                let mut info = AllocationInfo::new(network, a, &self.data_dir, cfg);
                if let Some(why) = found.pending.get(&a.ip) {
                    let (kind, cond) = match why {
                        crate::store::ReleaseReason::KilledAdd => ("killed-add", ""),
                        _ => ("reboot-reclaim", conditional),
                    };
                    info.pending_release = Some(kind);
                    info.pending_reason =
                        Some(format!("the next operation releases it: {why}{cond}"));
                }
                info
            })
            .collect())
    }

    fn read(&self, network: &NetworkName) -> Result<Vec<AllocationInfo>, AdminError> {
        self.read_selected(network, None)
    }

    /// Every allocation of `only` or of every network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for a network without state; store failures.
    pub fn list(&self, only: Option<&NetworkName>) -> Result<ListReport, AdminError> {
        let mut allocations = Vec::new();
        for network in self.scope(only)? {
            allocations.extend(self.read(&network)?);
        }
        Ok(ListReport {
            data_dir: self.data_dir.clone(),
            allocations,
        })
    }

    /// The allocations `target` names in one network, read without change.
    fn find_in(
        &self,
        network: &NetworkName,
        target: &Target,
    ) -> Result<Vec<AllocationInfo>, AdminError> {
        self.read_selected(network, Some(target))
    }

    fn not_found(&self, target: &Target, only: Option<&NetworkName>) -> AdminError {
        let place = match only {
            Some(n) => format!("network {n}"),
            None => format!("any network under {}", self.data_dir.display()),
        };
        AdminError::NotFound(format!("no allocation of {target} in {place}"))
    }

    /// The allocations `target` names, in `only` or in every network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when nothing matches; store failures.
    pub fn show(
        &self,
        target: &Target,
        only: Option<&NetworkName>,
    ) -> Result<ShowReport, AdminError> {
        let mut matches = Vec::new();
        let networks = match self.scope(only) {
            Err(AdminError::NotFound(_)) => return Err(self.not_found(target, only)),
            other => other?,
        };
        for network in networks {
            matches.extend(self.find_in(&network, target)?);
        }
        if matches.is_empty() {
            return Err(self.not_found(target, only));
        }
        Ok(ShowReport {
            query: target.to_string(),
            matches,
        })
    }

    /// Releases what `target` names, under the lock. Without `only`, the
    /// target must match in exactly one network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when nothing matches, [`AdminError::Ambiguous`]
    /// when several networks match; store failures (what was released before
    /// a failure stays released, and the message lists it).
    pub fn release(
        &self,
        target: &Target,
        only: Option<&NetworkName>,
    ) -> Result<ReleaseReport, AdminError> {
        let network = match only {
            Some(n) if self.has_state(n) => n.clone(),
            Some(_) => return Err(self.not_found(target, only)),
            None => {
                let mut holders = Vec::new();
                for network in self.networks()? {
                    if !self.find_in(&network, target)?.is_empty() {
                        holders.push(network);
                    }
                }
                match holders.as_slice() {
                    [] => return Err(self.not_found(target, only)),
                    [one] => one.clone(),
                    many => {
                        let names: Vec<&str> = many.iter().map(NetworkName::as_str).collect();
                        return Err(AdminError::Ambiguous(format!(
                            "{target} has allocations in several networks ({}): choose one with --network",
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        let mut net = self.open(&network)?;
        let cfg = self.configs.get(&network);
        let all = net.list()?;
        let chosen: Vec<AllocationInfo> = select(&all, target)
            .into_iter()
            .map(|a| AllocationInfo::new(&network, a, &self.data_dir, cfg))
            .collect();
        if chosen.is_empty() {
            return Err(self.not_found(target, Some(&network)));
        }
        let mut released = Vec::new();
        for info in chosen {
            match net.release_ip(info.address, crate::journal::Reason::Operator) {
                Ok(Some(_)) => released.push(info),
                Ok(None) => {}
                Err(e) => {
                    let done: Vec<String> =
                        released.iter().map(|i| i.address.to_string()).collect();
                    let done = if done.is_empty() {
                        "nothing".to_owned()
                    } else {
                        done.join(", ")
                    };
                    return Err(AdminError::Failed(format!(
                        "{e} (released before the failure: {done}); run the command again"
                    )));
                }
            }
        }
        net.commit()?;
        Ok(ReleaseReport {
            query: target.to_string(),
            released,
        })
    }

    /// Releases every allocation of `only` (or of every network) that
    /// `rule` does not keep, listing and releasing under one lock per
    /// network. With `dry_run`, reports what would be released and changes
    /// nothing (nor runs recovery).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for a network without state; store failures.
    pub fn gc(
        &self,
        rule: &KeepRule,
        only: Option<&NetworkName>,
        dry_run: bool,
    ) -> Result<GcReport, AdminError> {
        let mut networks: Vec<GcNetwork> = Vec::new();
        for network in self.scope(only)? {
            match self.gc_network(&network, rule, dry_run) {
                Ok(n) => networks.push(n),
                Err(e) if dry_run => return Err(e),
                Err(e) => {
                    let done: Vec<String> = networks
                        .iter()
                        .filter(|n| !n.released.is_empty())
                        .map(|n| format!("{} in {}", n.released.len(), n.network))
                        .collect();
                    let done = if done.is_empty() {
                        "none".to_owned()
                    } else {
                        done.join(", ")
                    };
                    return Err(AdminError::Failed(format!(
                        "gc of network {network} failed: {e}; some of its addresses may have \
                         been released; released in earlier networks: {done}"
                    )));
                }
            }
        }
        Ok(GcReport { dry_run, networks })
    }

    /// GC of one network.
    fn gc_network(
        &self,
        network: &NetworkName,
        rule: &KeepRule,
        dry_run: bool,
    ) -> Result<GcNetwork, AdminError> {
        let cfg = self.configs.get(network);
        if dry_run {
            let found = inspect(
                &self.data_dir,
                network,
                &self.opts_for(network),
                self.reclaim_of(network),
            )?
            .ok_or_else(|| self.no_state(network))?;
            let (kept, doomed): (Vec<&Allocation>, Vec<&Allocation>) =
                found.allocations.iter().partition(|a| rule.keeps(a));
            return Ok(GcNetwork {
                network: network.to_string(),
                released: doomed
                    .into_iter()
                    .map(|a| AllocationInfo::new(network, a, &self.data_dir, cfg))
                    .collect(),
                kept: kept.len(),
            });
        }
        let mut net = self.open(network)?;
        let done = super::gc::collect(&mut net, rule)?;
        net.commit()?;
        if !done.failures.is_empty() {
            return Err(Error::Several(done.failures).into());
        }
        Ok(GcNetwork {
            network: network.to_string(),
            released: done
                .released
                .iter()
                .map(|a| AllocationInfo::new(network, a, &self.data_dir, cfg))
                .collect(),
            kept: done.kept,
        })
    }

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
            let allocs = inspect(
                &self.data_dir,
                &network,
                &self.opts_for(&network),
                self.reclaim_of(&network),
            )?
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
            let taken = |family: Family| -> BTreeSet<u128> {
                allocs
                    .iter()
                    .filter(|a| Family::of(a.ip) == family)
                    .map(|a| to_u128(a.ip))
                    .collect()
            };
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

fn dir_has_address(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.file_name().to_str().and_then(parse_ip_name).is_some()))
    })
}

// ---------------------------------------------------------------------------
// Keep lists

/// Parses the attachments to keep for `podlease gc --keep`: either JSON (a
/// list of `{"containerID": ..., "ifname": ...}`, or an object holding one
/// under `cni.dev/valid-attachments`, as in a CNI GC request), or text, one
/// `containerID ifname` per line (blank lines and `#` comments ignored).
/// Every name is validated, so a swapped or mangled line is an error rather
/// than an attachment that silently matches nothing.
///
/// # Errors
/// [`AdminError::Invalid`] naming the line or element.
pub fn parse_keep(text: &str) -> Result<Vec<ValidAttachment>, AdminError> {
    let trimmed = text.trim_start();
    let pairs = if trimmed.starts_with('[') || trimmed.starts_with('{') {
        keep_pairs_json(text)?
    } else {
        keep_pairs_text(text)?
    };
    let mut keep = Vec::with_capacity(pairs.len());
    for (place, id, ifname) in pairs {
        let bad = |what: &str, e: NameError| {
            AdminError::Invalid(format!("keep list: {place}: {what} {e}"))
        };
        ContainerId::new(&id).map_err(|e| bad("container id", e))?;
        IfName::new(&ifname).map_err(|e| bad("ifname", e))?;
        keep.push(ValidAttachment {
            container_id: id,
            ifname,
        });
    }
    Ok(keep)
}

/// (where, container id, ifname) of each element of a JSON keep list.
type KeepPair = (String, String, String);

fn keep_pairs_json(text: &str) -> Result<Vec<KeepPair>, AdminError> {
    let invalid = |m: String| AdminError::Invalid(format!("keep list: {m}"));
    let root: Value = serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let list = match &root {
        Value::Array(items) => items,
        Value::Object(m) => match m.get("cni.dev/valid-attachments") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(invalid(
                    "a JSON object must hold a \"cni.dev/valid-attachments\" list".into(),
                ));
            }
        },
        _ => return Err(invalid("expected a JSON list".into())),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let field = |k: &str| match item.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("element {i}: {k} must be a string"))),
        };
        out.push((
            format!("element {i}"),
            field("containerID")?,
            field("ifname")?,
        ));
    }
    Ok(out)
}

fn keep_pairs_text(text: &str) -> Result<Vec<KeepPair>, AdminError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, ifname] = fields.as_slice() else {
            let n = n + 1;
            return Err(AdminError::Invalid(format!(
                "keep list: line {n}: expected \"containerID ifname\", found {line:?}"
            )));
        };
        out.push((
            format!("line {}", n + 1),
            (*id).to_owned(),
            (*ifname).to_owned(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::Range;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_000_000_000), "2001-09-09T01:46:40Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MIN), "0000-01-01T00:00:00Z");
        // Every day boundary over 400 years round-trips through a naive counter.
        let (mut y, mut m, mut d) = (1970i64, 1i64, 1i64);
        for day in 0..146_097i64 {
            assert_eq!(crate::journal::civil_from_days(day), (y, m, d), "day {day}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][(m - 1) as usize];
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

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

    #[test]
    fn keep_lists() {
        let text = "# kept\nabc eth0\n\n  def   net1  # trailing\n";
        let k = parse_keep(text).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(
            (k[1].container_id.as_str(), k[1].ifname.as_str()),
            ("def", "net1")
        );
        let k = parse_keep(r#"[{"containerID":"abc","ifname":"eth0"}]"#).unwrap();
        assert_eq!(k[0].container_id, "abc");
        let k =
            parse_keep(r#"{"cni.dev/valid-attachments":[{"containerID":"abc","ifname":"eth0"}]}"#)
                .unwrap();
        assert_eq!(k.len(), 1);
        assert!(parse_keep("").unwrap().is_empty());
        assert!(parse_keep("[]").unwrap().is_empty());
        for bad in [
            "abc",
            "abc eth0 x",
            "../x eth0",
            "abc a/b",
            "[{\"containerID\":\"abc\"}]",
            "[1]",
            "{}",
            "[",
            "\"x\"",
        ] {
            assert!(
                matches!(parse_keep(bad), Err(AdminError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
