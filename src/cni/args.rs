//! `CNI_ARGS`: `K=V;K=V` pairs.
//!
//! Keys are case sensitive. Unknown keys are an error unless `IgnoreUnknown`
//! is `1` or `true`, as in the reference skeleton; the Kubernetes keys are
//! known to us because we record the pod's namespace and name.

use std::net::IpAddr;

use crate::range::canonical;

/// What we understand of `CNI_ARGS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `IP=a[,b]`: requested addresses (prefixes are accepted and ignored).
    pub ips: Vec<IpAddr>,
    /// `K8S_POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// `K8S_POD_NAME`.
    pub pod_name: Option<String>,
    /// `K8S_POD_UID`.
    pub pod_uid: Option<String>,
}

/// Why `CNI_ARGS` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// Not `K=V`.
    #[error("CNI_ARGS: invalid pair {0:?}: expected KEY=VALUE")]
    InvalidPair(String),
    /// A key we do not know, without `IgnoreUnknown=1`.
    #[error("CNI_ARGS: unknown keys {0:?} (add IgnoreUnknown=1 to ignore them)")]
    Unknown(Vec<String>),
    /// `IP=` with something that is not an address.
    #[error("CNI_ARGS: IP={0:?} is not an IP address")]
    BadIp(String),
}

/// Parses an address with an optional `/prefix`, which is discarded as host-local does.
pub fn parse_requested_ip(s: &str) -> Option<IpAddr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip = addr.parse::<IpAddr>().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    if prefix.is_some_and(|p| p > bits) {
        return None;
    }
    Some(canonical(ip))
}

impl CniArgs {
    /// Parses the variable's value.
    ///
    /// # Errors
    /// [`ArgsError`] for malformed pairs, unknown keys, or a bad `IP=`.
    pub fn parse(raw: &str) -> Result<Self, ArgsError> {
        let mut args = Self::default();
        if raw.is_empty() {
            return Ok(args);
        }
        let mut pairs = Vec::new();
        for pair in raw.split(';') {
            let mut parts = pair.split('=');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(v), None) => pairs.push((k, v)),
                _ => return Err(ArgsError::InvalidPair(pair.to_owned())),
            }
        }
        let ignore_unknown = pairs
            .iter()
            .any(|(k, v)| *k == "IgnoreUnknown" && (*v == "1" || v.eq_ignore_ascii_case("true")));
        let mut unknown = Vec::new();
        for (k, v) in pairs {
            match k {
                "IgnoreUnknown" | "K8S_POD_INFRA_CONTAINER_ID" => {}
                "IP" => {
                    for one in v.split(',').filter(|s| !s.is_empty()) {
                        let ip = parse_requested_ip(one)
                            .ok_or_else(|| ArgsError::BadIp(one.to_owned()))?;
                        args.ips.push(ip);
                    }
                }
                "K8S_POD_NAMESPACE" => {
                    args.pod_namespace = Some(v.to_owned()).filter(|s| !s.is_empty())
                }
                "K8S_POD_NAME" => args.pod_name = Some(v.to_owned()).filter(|s| !s.is_empty()),
                "K8S_POD_UID" => args.pod_uid = Some(v.to_owned()).filter(|s| !s.is_empty()),
                other => unknown.push(format!("{other}={v}")),
            }
        }
        if !unknown.is_empty() && !ignore_unknown {
            return Err(ArgsError::Unknown(unknown));
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let a = CniArgs::parse(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;FOO=bar;IP=10.1.2.11/24",
        )
        .unwrap();
        assert_eq!(a.ips, vec!["10.1.2.11".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.pod_namespace.as_deref(), Some("ns"));
        assert_eq!(a.pod_name.as_deref(), Some("web-0"));
        assert_eq!(CniArgs::parse("").unwrap(), CniArgs::default());
        assert!(CniArgs::parse("IP=").unwrap().ips.is_empty());
        assert_eq!(
            CniArgs::parse("IP=10.0.0.1,2001:db8::1").unwrap().ips.len(),
            2
        );
        assert_eq!(
            CniArgs::parse("IP=::ffff:10.0.0.1").unwrap().ips,
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            CniArgs::parse("ip=1.2.3.4"),
            Err(ArgsError::Unknown(vec!["ip=1.2.3.4".into()]))
        );
        assert!(CniArgs::parse("ip=1.2.3.4;IgnoreUnknown=true").is_ok());
        assert_eq!(
            CniArgs::parse("IP=1.2.3.4;"),
            Err(ArgsError::InvalidPair(String::new()))
        );
        assert_eq!(
            CniArgs::parse("a=b=c"),
            Err(ArgsError::InvalidPair("a=b=c".into()))
        );
        assert_eq!(
            CniArgs::parse("IP=foo"),
            Err(ArgsError::BadIp("foo".into()))
        );
        assert_eq!(
            CniArgs::parse("IP=10.0.0.1/99"),
            Err(ArgsError::BadIp("10.0.0.1/99".into()))
        );
    }
}
