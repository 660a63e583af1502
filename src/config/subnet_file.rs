//! Node ranges from a file a node agent writes, so one conflist serves every
//! node: flannel's `subnet.env` (`FLANNEL_SUBNET=10.244.3.1/24`, and
//! `FLANNEL_IPV6_SUBNET=`), or a plain file with one CIDR per line.
//!
//! As in flannel's file, an address with host bits set names the gateway
//! (`10.244.3.1/24` is subnet 10.244.3.0/24 with gateway 10.244.3.1); a
//! network address gets host-local's default gateway.

use std::io;
use std::path::Path;

use ipnetwork::IpNetwork;

use crate::range::{Range, RangeError, RangeSet, from_u128, subnet_bounds, to_u128};

/// Why the file gave no ranges.
#[derive(Debug, thiserror::Error)]
pub enum SubnetFileError {
    /// Not there (yet): the node agent has not written it.
    #[error(
        "ipam.subnetFile {path}: the file does not exist yet (is the node agent, e.g. flannel, running?)"
    )]
    Missing {
        /// The path.
        path: String,
    },
    /// Cannot be read.
    #[error("ipam.subnetFile {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Read, but no usable subnet in it.
    #[error("ipam.subnetFile {path}: line {line}: {reason}")]
    Malformed {
        /// The path.
        path: String,
        /// 1-based line number (0: the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

fn range_from(net: IpNetwork) -> Result<Range, RangeError> {
    let (base, _) = subnet_bounds(net);
    let family = crate::range::Family::of(net.ip());
    let subnet = IpNetwork::new(from_u128(family, base), net.prefix()).unwrap_or(net);
    let gateway = (to_u128(net.ip()) != base).then_some(net.ip());
    Range::new(subnet, None, None, gateway)
}

/// Reads the range sets (one per line or per FLANNEL_*SUBNET variable).
///
/// # Errors
/// [`SubnetFileError`] when the file is missing, unreadable or holds no usable subnet.
pub fn read(path: &Path) -> Result<Vec<RangeSet>, SubnetFileError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SubnetFileError::Missing { path: shown });
        }
        Err(source) => {
            return Err(SubnetFileError::Io {
                path: shown,
                source,
            });
        }
    };
    let malformed = |line: usize, reason: String| SubnetFileError::Malformed {
        path: shown.clone(),
        line,
        reason,
    };
    let flannel = text.lines().any(|l| l.trim_start().starts_with("FLANNEL_"));
    let mut sets = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let value = if flannel {
            match line.split_once('=') {
                Some(("FLANNEL_SUBNET" | "FLANNEL_IPV6_SUBNET", v)) => v.trim().trim_matches('"'),
                _ => continue,
            }
        } else {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            line
        };
        if !value.contains('/') {
            return Err(malformed(
                i + 1,
                format!("{value:?} is not a CIDR (address/prefix)"),
            ));
        }
        let net: IpNetwork = value
            .parse()
            .map_err(|_| malformed(i + 1, format!("{value:?} is not a CIDR")))?;
        let range = range_from(net).map_err(|e| malformed(i + 1, e.to_string()))?;
        let set = RangeSet::new(vec![range]).map_err(|e| malformed(i + 1, e.to_string()))?;
        sets.push(set);
    }
    if sets.is_empty() {
        let what = if flannel {
            "no FLANNEL_SUBNET or FLANNEL_IPV6_SUBNET line"
        } else {
            "no CIDR line"
        };
        return Err(malformed(0, what.into()));
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flannel_env() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("subnet.env");
        std::fs::write(
            &p,
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        )
        .unwrap();
        let sets = read(&p).unwrap();
        assert_eq!(sets.len(), 2);
        let r = &sets[0].ranges()[0];
        assert_eq!(r.subnet.to_string(), "10.244.3.0/24");
        assert_eq!(r.gateway.to_string(), "10.244.3.1");
        assert_eq!(r.start.to_string(), "10.244.3.1");
        assert_eq!(sets[1].ranges()[0].subnet.to_string(), "fd00:10:244:3::/64");
    }

    #[test]
    fn plain_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("podcidr");
        std::fs::write(&p, "# node range\n10.1.7.0/24\n").unwrap();
        let sets = read(&p).unwrap();
        assert_eq!(sets[0].ranges()[0].gateway.to_string(), "10.1.7.1");
        assert!(matches!(
            read(&dir.path().join("nope")),
            Err(SubnetFileError::Missing { .. })
        ));
        std::fs::write(&p, "10.1.7.0\n").unwrap();
        assert!(matches!(
            read(&p),
            Err(SubnetFileError::Malformed { line: 1, .. })
        ));
        std::fs::write(&p, "FLANNEL_MTU=1450\n").unwrap();
        assert!(matches!(
            read(&p),
            Err(SubnetFileError::Malformed { line: 0, .. })
        ));
        std::fs::write(&p, "10.1.7.0/31\n").unwrap();
        assert!(matches!(read(&p), Err(SubnetFileError::Malformed { .. })));
    }
}
