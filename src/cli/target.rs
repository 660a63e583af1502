//! What `show` and `release` are asked about, parsed by what it is: an
//! address (a malformed one is a usage error, not a container id), a
//! container id or a unique prefix of one (as `crictl`, `podman` and `docker`
//! print them), or a pod (`--pod NAMESPACE/NAME`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use podlease::admin::{AdminError, AllocationInfo, ShowReport, Target};
use podlease::ids::{ContainerId, IfName, NetworkName};

use super::{Ctx, Failure, network_arg};

/// At most this many candidates are named for an ambiguous prefix.
const MAX_CANDIDATES: usize = 10;

/// The target argument of `show` and `release`, with its flags.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// An IP address, or a container id or a unique prefix of one
    #[arg(value_name = "ADDRESS|CONTAINER", required_unless_present = "pod")]
    pub target: Option<String>,
    /// The addresses of a pod, as NAMESPACE/NAME (recorded when the runtime passes K8S_POD_NAMESPACE and K8S_POD_NAME)
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with_all = ["target", "container"])]
    pub pod: Option<String>,
    /// Only this network
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Only this interface of the container
    #[arg(long, value_name = "IF")]
    pub ifname: Option<String>,
    /// Read the argument as a container id even if it looks like an address
    #[arg(long)]
    pub container: bool,
}

/// A parsed target.
#[derive(Debug, Clone)]
pub enum Query {
    /// An address, or a container id (possibly a prefix) with an interface.
    Target(Target),
    /// `namespace/name`, with an interface.
    Pod(String, Option<IfName>),
}

impl TargetArgs {
    /// The validated network and query.
    pub fn parse(&self) -> Result<(Option<NetworkName>, Query), Failure> {
        let network = network_arg(self.network.as_deref())?;
        let ifname = self
            .ifname
            .as_deref()
            .map(|i| IfName::new(i).map_err(|e| Failure::Usage(format!("invalid --ifname: {e}"))))
            .transpose()?;
        if let Some(pod) = &self.pod {
            return Ok((network, Query::Pod(pod_arg(pod)?, ifname)));
        }
        let s = self.target.as_deref().unwrap_or_default();
        Ok((
            network,
            Query::Target(target_arg(s, ifname, self.container)?),
        ))
    }
}

/// Whether `s` is `NAMESPACE/NAME`, both parts non-empty.
pub fn is_pod(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
}

/// `NAMESPACE/NAME`, both parts non-empty.
fn pod_arg(s: &str) -> Result<String, Failure> {
    if is_pod(s) {
        Ok(s.to_owned())
    } else {
        Err(Failure::Usage(format!(
            "--pod {s:?}: expected NAMESPACE/NAME, as in default/web-0"
        )))
    }
}

/// Whether `s` was meant as an address: IPv6 (a container id has no ':')
/// or dotted digits, with or without a /prefix.
fn looks_like_address(s: &str) -> bool {
    let addr = s.split_once('/').map_or(s, |(a, _)| a);
    addr.contains(':')
        || (addr.contains('.') && addr.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// `ADDRESS|CONTAINER` (with `--ifname` and `--container`) as a target.
pub fn target_arg(
    s: &str,
    ifname: Option<IfName>,
    force_container: bool,
) -> Result<Target, Failure> {
    if !force_container {
        if let Ok(ip) = s.parse::<IpAddr>() {
            if ifname.is_some() {
                return Err(Failure::Usage(format!(
                    "--ifname applies to a container id, not to the address {ip} (use --container if {s:?} is a container id)"
                )));
            }
            return Ok(Target::Address(podlease::range::canonical(ip)));
        }
        if looks_like_address(s) {
            let why = match s.split_once('/') {
                Some((a, _)) if a.parse::<IpAddr>().is_ok() => {
                    format!("give the address without a prefix length ({a})")
                }
                _ => "not a valid IPv4 or IPv6 address".to_owned(),
            };
            return Err(Failure::Usage(format!(
                "{s:?} looks like an address but is not one: {why} (use --container if it is a container id)"
            )));
        }
    }
    if !force_container && is_pod(s) {
        return Err(Failure::Usage(format!(
            "{s:?} is not an address or a container id; for a pod, use --pod {s}"
        )));
    }
    let id = ContainerId::new(s).map_err(|e| {
        Failure::Usage(format!(
            "{s:?} is neither an address nor a container id: {e}"
        ))
    })?;
    Ok(Target::Container(id, ifname))
}

/// The container ids of `allocations`.
fn container_ids(allocations: &[AllocationInfo]) -> BTreeSet<&str> {
    allocations
        .iter()
        .filter_map(|a| a.container_id.as_deref())
        .collect()
}

/// A container target whose id is a unique prefix of an allocated
/// container's id becomes that container; an exact id is kept as it is, and
/// so is one that matches nothing (the command then says nothing matched).
///
/// # Errors
/// [`AdminError::Ambiguous`] naming the candidates when several containers match.
pub fn resolve_prefix(
    ctx: &Ctx,
    network: Option<&NetworkName>,
    target: Target,
) -> Result<Target, Failure> {
    let Target::Container(id, ifname) = target else {
        return Ok(target);
    };
    let report = ctx.admin.list(network)?;
    let ids = container_ids(&report.allocations);
    if ids.contains(id.as_str()) {
        return Ok(Target::Container(id, ifname));
    }
    let matches: Vec<&str> = ids
        .into_iter()
        .filter(|c| c.starts_with(id.as_str()))
        .collect();
    match matches.as_slice() {
        [] => Ok(Target::Container(id, ifname)),
        [one] => {
            let full = ContainerId::new(one).map_err(|e| Failure::Usage(e.to_string()))?;
            Ok(Target::Container(full, ifname))
        }
        many => {
            let shown: Vec<&str> = many.iter().copied().take(MAX_CANDIDATES).collect();
            let more = many.len().saturating_sub(MAX_CANDIDATES);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            Err(Failure::Admin(AdminError::Ambiguous(format!(
                "container id prefix {id} matches {} containers: {}{more}; give more of the id",
                many.len(),
                shown.join(", ")
            ))))
        }
    }
}

/// The allocations recorded for `pod` (and `ifname`), in `network` or every network.
///
/// # Errors
/// [`AdminError::NotFound`] when none is.
pub fn pod_report(
    ctx: &Ctx,
    network: Option<&NetworkName>,
    pod: &str,
    ifname: Option<&IfName>,
) -> Result<ShowReport, Failure> {
    let report = ctx.admin.list(network)?;
    let matches: Vec<AllocationInfo> = report
        .allocations
        .into_iter()
        .filter(|a| a.pod.as_deref() == Some(pod))
        .filter(|a| ifname.is_none_or(|i| a.ifname.as_deref() == Some(i.as_str())))
        .collect();
    if matches.is_empty() {
        let place = match network {
            Some(n) => format!("network {n}"),
            None => format!("any network under {}", report.data_dir.display()),
        };
        let on = ifname.map(|i| format!(" on {i}")).unwrap_or_default();
        return Err(Failure::Admin(AdminError::NotFound(format!(
            "no allocation of pod {pod}{on} in {place} (a pod is recorded when the runtime passes K8S_POD_NAMESPACE and K8S_POD_NAME in CNI_ARGS)"
        ))));
    }
    Ok(ShowReport {
        query: format!("pod {pod}"),
        matches,
    })
}

/// The one container holding `pod`'s addresses, as a target.
///
/// # Errors
/// As [`pod_report`]; [`AdminError::Ambiguous`] when several containers do.
pub fn pod_target(
    ctx: &Ctx,
    network: Option<&NetworkName>,
    pod: &str,
    ifname: Option<IfName>,
) -> Result<Target, Failure> {
    let report = pod_report(ctx, network, pod, ifname.as_ref())?;
    let ids = container_ids(&report.matches);
    match ids.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => {
            let id = ContainerId::new(one).map_err(|e| Failure::Usage(e.to_string()))?;
            Ok(Target::Container(id, ifname))
        }
        many => Err(Failure::Admin(AdminError::Ambiguous(format!(
            "pod {pod} has addresses held by {} containers ({}): release one of them by its container id",
            many.len(),
            many.join(", ")
        )))),
    }
}

/// A container id as container tools print it in tables: 13 characters.
pub fn short_id(id: &str) -> String {
    id.chars().take(13).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_addresses() {
        assert!(matches!(
            target_arg("10.1.2.3", None, false),
            Ok(Target::Address(_))
        ));
        assert!(matches!(
            target_arg("::ffff:10.1.2.3", None, false),
            Ok(Target::Address(ip)) if ip.is_ipv4()
        ));
        for bad in [
            "10.199.0.400",
            "10.1.2",
            "1.2.3.4.5",
            "2001:db8::g",
            "10.1.2.3/24",
            "fe80::1%eth0",
        ] {
            assert!(
                matches!(target_arg(bad, None, false), Err(Failure::Usage(_))),
                "{bad}"
            );
        }
        // A container id may be anything the CNI rule allows, with --container.
        assert!(matches!(
            target_arg("10.199.0.400", None, true),
            Ok(Target::Container(..))
        ));
        for id in ["3f2a9c", "abc.def", "10-1-2-3", "v1.2"] {
            assert!(
                matches!(target_arg(id, None, false), Ok(Target::Container(..))),
                "{id}"
            );
        }
    }

    #[test]
    fn pods_and_ids() {
        assert!(pod_arg("default/web-0").is_ok());
        for bad in ["web", "/web", "default/", "a/b/c"] {
            assert!(pod_arg(bad).is_err(), "{bad}");
        }
        assert_eq!(short_id(&"a".repeat(64)), "a".repeat(13));
        assert_eq!(short_id("c1"), "c1");
    }
}
