//! `ipam.pools`, `ipam.nodeName` and `ipam.etcd`: cluster pools (see
//! `crate::pool` and docs/cluster-pools.md): their types and defaults, and
//! their parsing, with the same JSON rules as the rest of the ipam section.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnetwork::IpNetwork;

use super::ConfigError;
use super::json::{Field, Obj};
use crate::range::{Family, canonical, is_link_local, subnet_bounds, to_u128};

/// Default key prefix in etcd.
pub const DEFAULT_PREFIX: &str = "/podlease";
/// Default time a block must stay empty before `podlease pool gc` releases it.
pub const DEFAULT_RELEASE_AFTER_SECS: u64 = 600;

/// One pool: a range set made of the blocks this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The pool.
    pub cidr: IpNetwork,
    /// Prefix length of its blocks.
    pub block_size: u8,
    /// Blocks `podlease pool gc` keeps even when empty.
    pub min_blocks: u64,
    /// At most this many blocks per node and network (`None`: no cap).
    pub max_blocks: Option<u64>,
    /// How long a block must be seen empty before it is released.
    pub release_after_secs: u64,
    /// A link-local gateway for every block (`pools[].gateway`); `None`:
    /// each block's first host address.
    pub gateway: Option<IpAddr>,
}

impl Pool {
    /// How many blocks the pool has.
    pub fn block_count(&self) -> u128 {
        1u128 << (self.block_size - self.cidr.prefix())
    }
}

/// Where etcd is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Client URLs, tried in order.
    pub endpoints: Vec<String>,
    /// Key prefix, without a trailing '/'.
    pub prefix: String,
    /// CA bundle for https endpoints.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub key_file: Option<PathBuf>,
    /// etcd user.
    pub username: Option<String>,
    /// File holding the user's password.
    pub password_file: Option<PathBuf>,
    /// Budget for one invocation's whole etcd conversation.
    pub timeout: Duration,
}

/// `ipam.pools` and its companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolsConfig {
    /// One range set each, in order.
    pub pools: Vec<Pool>,
    /// This node's name in etcd.
    pub node_name: String,
    /// etcd.
    pub etcd: EtcdConfig,
    /// The data directory (holds the node's uid).
    pub data_dir: PathBuf,
    /// This node's addresses (`ipam.nodeAddresses`), registered for routes.
    pub node_addresses: Vec<IpAddr>,
}

/// At most this many pools (each is a range set).
const MAX_POOLS: usize = 8;
/// The longest etcd timeout accepted (a runtime waits on ADD).
const MAX_TIMEOUT_SECS: u64 = 60;
/// The default etcd timeout.
const DEFAULT_TIMEOUT_SECS: u64 = 3;

fn invalid(field: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A node name: it appears in etcd keys.
fn valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        && s.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn opt_path(obj: &Obj<'_>, key: &str) -> Result<Option<PathBuf>, ConfigError> {
    Ok(obj.nonempty_str(key)?.map(|(s, _)| PathBuf::from(s)))
}

fn parse_pool(item: &Field<'_>) -> Result<Pool, ConfigError> {
    let obj = Obj::of(item.value, &item.path)?;
    let cidr = pool_cidr(&obj, &item.path)?;
    let block_size = block_size(&obj, &item.path, cidr)?;
    let max_blocks = obj.u64("maxBlocks")?;
    if max_blocks == Some(0) {
        return Err(invalid(
            &format!("{}.maxBlocks", item.path),
            "0 would never let the node allocate; leave it out for no cap",
        ));
    }
    let gateway = pool_gateway(&obj, cidr)?;
    Ok(Pool {
        cidr,
        gateway,
        block_size,
        min_blocks: obj.u64("minBlocks")?.unwrap_or(1),
        max_blocks,
        release_after_secs: obj
            .u64("releaseAfterSeconds")?
            .unwrap_or(DEFAULT_RELEASE_AFTER_SECS),
    })
}

/// `pools[].cidr`: a network address with its prefix, IPv4 written as IPv4.
fn pool_cidr(obj: &Obj<'_>, path: &str) -> Result<IpNetwork, ConfigError> {
    let Some((cidr_s, cidr_path)) = obj.nonempty_str("cidr")? else {
        return Err(ConfigError::Missing {
            field: format!("{path}.cidr"),
        });
    };
    let cidr: IpNetwork = cidr_s
        .parse()
        .ok()
        .filter(|_| cidr_s.contains('/'))
        .ok_or_else(|| ConfigError::Parse {
            field: cidr_path.clone(),
            value: cidr_s.to_owned(),
            what: "a CIDR (address/prefix)",
        })?;
    if canonical(cidr.ip()) != cidr.ip() {
        return Err(invalid(
            &cidr_path,
            "an IPv4-mapped IPv6 pool: write it as IPv4",
        ));
    }
    let (base, _) = subnet_bounds(cidr);
    if to_u128(cidr.ip()) != base {
        return Err(invalid(
            &cidr_path,
            format!("{cidr} has host bits set: write the network address"),
        ));
    }
    Ok(cidr)
}

/// `pools[].blockSize`: a prefix length within the pool whose blocks hold
/// addresses besides their gateway, at most 2^64 of them.
fn block_size(obj: &Obj<'_>, path: &str, cidr: IpNetwork) -> Result<u8, ConfigError> {
    let field = format!("{path}.blockSize");
    let Some(size) = obj.u64("blockSize")? else {
        return Err(ConfigError::Missing { field });
    };
    let longest = Family::of(cidr.ip()).bits() - 2;
    let block_size = u8::try_from(size)
        .ok()
        .filter(|s| *s >= cidr.prefix() && *s <= longest)
        .ok_or_else(|| {
            invalid(
                &field,
                format!(
                    "{size} is not a prefix length between the pool's /{} and /{longest} (a block must hold addresses besides its gateway)",
                    cidr.prefix()
                ),
            )
        })?;
    if u32::from(block_size - cidr.prefix()) > 64 {
        return Err(invalid(
            &field,
            format!(
                "/{block_size} blocks of a /{} are more than 2^64 blocks; use larger blocks",
                cidr.prefix()
            ),
        ));
    }
    Ok(block_size)
}

/// `pools[].gateway`: a link-local address of the pool's family, or `None`
/// (each block's first host address).
fn pool_gateway(obj: &Obj<'_>, cidr: IpNetwork) -> Result<Option<IpAddr>, ConfigError> {
    let family = Family::of(cidr.ip());
    match obj.get("gateway") {
        Some(f) if f.value.as_str() != Some("") => {
            let ip = super::parse_ip(&f)?;
            if Family::of(ip) != family || !is_link_local(ip) {
                return Err(invalid(
                    &f.path,
                    format!(
                        "{ip} is not a link-local address of pool {cidr}'s family ({}): a pool's gateway is on-link for every block, or leave it out for each block's first host address",
                        if family == Family::V4 {
                            "169.254.0.0/16"
                        } else {
                            "fe80::/10"
                        }
                    ),
                ));
            }
            Ok(Some(ip))
        }
        _ => Ok(None),
    }
}

fn parse_etcd(ipam: &Obj<'_>) -> Result<EtcdConfig, ConfigError> {
    let Some(field) = ipam.get("etcd") else {
        return Err(ConfigError::Missing {
            field: "ipam.etcd".into(),
        });
    };
    let obj = Obj::of(field.value, "ipam.etcd")?;
    let mut endpoints = Vec::new();
    if let Some(list) = obj.get("endpoints") {
        for item in list.items()? {
            let s = item.as_str()?.trim_end_matches('/');
            let rest = s
                .strip_prefix("http://")
                .or_else(|| s.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains('/')) {
                return Err(ConfigError::Parse {
                    field: item.path.clone(),
                    value: s.to_owned(),
                    what: "an etcd client URL (http://host:port or https://host:port)",
                });
            }
            endpoints.push(s.to_owned());
        }
    }
    if endpoints.is_empty() {
        return Err(ConfigError::Missing {
            field: "ipam.etcd.endpoints".into(),
        });
    }
    let prefix = match obj.str("prefix")? {
        Some((p, path)) => {
            let p = p.trim_end_matches('/');
            if !p.starts_with('/') {
                return Err(invalid(&path, format!("{p:?} must start with '/'")));
            }
            p.to_owned()
        }
        None => DEFAULT_PREFIX.to_owned(),
    };
    let timeout = obj.u64("timeoutSeconds")?.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
        return Err(invalid(
            "ipam.etcd.timeoutSeconds",
            format!("{timeout} is not between 1 and {MAX_TIMEOUT_SECS}"),
        ));
    }
    Ok(EtcdConfig {
        endpoints,
        prefix,
        ca_file: opt_path(&obj, "caFile")?,
        cert_file: opt_path(&obj, "certFile")?,
        key_file: opt_path(&obj, "keyFile")?,
        username: obj.nonempty_str("username")?.map(|(s, _)| s.to_owned()),
        password_file: opt_path(&obj, "passwordFile")?,
        timeout: Duration::from_secs(timeout),
    })
}

/// Parses the pool section if `ipam.pools` is present. `others` are the
/// range sources present beside it (refused), `node_addresses` and
/// `service_cidrs` must not overlap a pool unless excluded.
///
/// # Errors
/// [`ConfigError`] naming the field.
pub(super) fn parse(
    ipam: &Obj<'_>,
    others: &[&str],
    data_dir: &Path,
    node_addresses: &[(IpNetwork, String)],
    service_cidrs: &[(IpNetwork, String)],
    exclude: &[(IpNetwork, String)],
) -> Result<Option<PoolsConfig>, ConfigError> {
    let Some(field) = ipam.get("pools") else {
        return Ok(None);
    };
    if let Some(other) = others.first() {
        return Err(invalid(
            "ipam.pools",
            format!(
                "cannot be combined with {other}: a network takes its ranges either from cluster pools or from its config, not both"
            ),
        ));
    }
    let reserved = Reserved {
        others: node_addresses.iter().chain(service_cidrs).collect(),
        exclude,
    };
    Ok(Some(PoolsConfig {
        pools: parse_pools(&field, &reserved)?,
        node_name: node_name(ipam)?,
        etcd: parse_etcd(ipam)?,
        data_dir: data_dir.to_path_buf(),
        node_addresses: node_addresses
            .iter()
            .map(|(n, _)| n.ip())
            .collect::<Vec<IpAddr>>(),
    }))
}

/// The node and Service networks no pool may overlap, unless excluded.
struct Reserved<'a> {
    others: Vec<&'a (IpNetwork, String)>,
    exclude: &'a [(IpNetwork, String)],
}

impl Reserved<'_> {
    /// Refuses a pool that overlaps a node or Service network not wholly
    /// inside an excluded range.
    fn check(&self, pool: &Pool, path: &str) -> Result<(), ConfigError> {
        for (other, other_field) in self.others.iter().copied() {
            let covered = self.exclude.iter().any(|(e, _)| {
                let (el, eh) = subnet_bounds(*e);
                let (ol, oh) = subnet_bounds(*other);
                Family::of(e.ip()) == Family::of(other.ip()) && el <= ol && oh <= eh
            });
            if overlaps(pool.cidr, *other) && !covered {
                return Err(ConfigError::Invalid {
                    field: path.to_owned(),
                    reason: format!(
                        "pool {} collides with {other_field} {other}: pod, Service and node addresses must never overlap (or exclude it)",
                        pool.cidr
                    ),
                });
            }
        }
        Ok(())
    }
}

/// `ipam.pools`: one to `MAX_POOLS` pools that do not overlap each other
/// or a reserved network.
fn parse_pools(field: &Field<'_>, reserved: &Reserved<'_>) -> Result<Vec<Pool>, ConfigError> {
    let items = field.items()?;
    if items.is_empty() {
        return Err(invalid("ipam.pools", "is empty: list at least one pool"));
    }
    if items.len() > MAX_POOLS {
        return Err(ConfigError::TooMany {
            field: "ipam.pools".into(),
            count: items.len(),
            max: MAX_POOLS,
        });
    }
    let mut pools: Vec<Pool> = Vec::new();
    for item in &items {
        let pool = parse_pool(item)?;
        if let Some(prev) = pools.iter().find(|p| overlaps(p.cidr, pool.cidr)) {
            return Err(invalid(
                &item.path,
                format!("pool {} overlaps pool {}", pool.cidr, prev.cidr),
            ));
        }
        reserved.check(&pool, &item.path)?;
        pools.push(pool);
    }
    Ok(pools)
}

/// `ipam.nodeName`, or the host name when it is usable as one.
fn node_name(ipam: &Obj<'_>) -> Result<String, ConfigError> {
    match ipam.str("nodeName")? {
        Some((s, path)) => {
            if !valid_node_name(s) {
                return Err(invalid(
                    &path,
                    format!(
                        "{s:?} is not a node name: letters, digits, '.', '-', '_', starting with a letter or digit"
                    ),
                ));
            }
            Ok(s.to_owned())
        }
        None => host_name().filter(|h| valid_node_name(h)).ok_or_else(|| {
            invalid(
                "ipam.nodeName",
                "is not set and the host name is not usable as one: set ipam.nodeName",
            )
        }),
    }
}

fn overlaps(a: IpNetwork, b: IpNetwork) -> bool {
    if Family::of(a.ip()) != Family::of(b.ip()) {
        return false;
    }
    let (al, ah) = subnet_bounds(a);
    let (bl, bh) = subnet_bounds(b);
    al <= bh && bl <= ah
}

#[cfg(test)]
mod tests;
