//! `CNI_ARGS`: `K=V;K=V` pairs.
//!
//! As the CNI library's `types.LoadArgs` reads them for host-local: keys are
//! case sensitive; every value is checked; when a key repeats, the last one
//! wins (`IP=a;IP=b` asks for `b`, and a later empty `IP=` cancels the
//! request); `IgnoreUnknown` is `1`, `true`, `0` or `false` in any letter case
//! (anything else is an error) and, when true at the end, unknown keys are
//! ignored, otherwise they are an error. The Kubernetes keys are known to us
//! because we record the pod's namespace and name.

use std::net::IpAddr;

use crate::config::requested::parse_requested_ip;

/// What we understand of `CNI_ARGS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    /// `IP=a[,b]`: requested addresses (prefixes are accepted and ignored).
    pub ips: Vec<IpAddr>,
    /// `K8S_POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// `K8S_POD_NAME`.
    pub pod_name: Option<String>,
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
    /// `IgnoreUnknown=` with something that is not a boolean.
    #[error(
        "CNI_ARGS: IgnoreUnknown={0:?} is not a boolean (1, true, 0 or false, as the CNI library reads it)"
    )]
    BadBool(String),
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
        let mut ignore_unknown = false;
        let mut unknown = Vec::new();
        for (k, v) in pairs {
            match k {
                "IgnoreUnknown" => {
                    ignore_unknown = crate::gonet::parse_args_bool(v)
                        .ok_or_else(|| ArgsError::BadBool(v.to_owned()))?;
                }
                // Known (the runtime sends them), not used.
                "K8S_POD_INFRA_CONTAINER_ID" | "K8S_POD_UID" => {}
                "IP" => {
                    // The last IP= wins, as in host-local (an empty one cancels).
                    args.ips.clear();
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
        for bad in [
            "10.0.0.1/+24",
            "10.0.0.1/255.255.255.0",
            "010.0.0.1",
            "fe80::1%eth0",
        ] {
            assert_eq!(
                CniArgs::parse(&format!("IP={bad}")),
                Err(ArgsError::BadIp(bad.into()))
            );
        }
    }

    #[test]
    fn last_wins_like_load_args() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            CniArgs::parse("IP=10.0.0.5;IP=10.0.0.6").unwrap().ips,
            vec![ip("10.0.0.6")]
        );
        assert!(CniArgs::parse("IP=10.0.0.5;IP=").unwrap().ips.is_empty());
        // Every value is checked, not only the last.
        assert!(CniArgs::parse("IP=bad;IP=10.0.0.6").is_err());
        assert!(CniArgs::parse("IgnoreUnknown=1;X=1;IgnoreUnknown=0").is_err());
        assert!(CniArgs::parse("X=1;IgnoreUnknown=false;IgnoreUnknown=True").is_ok());
        assert!(CniArgs::parse("IgnoreUnknown=tRuE;X=1").is_ok());
        for bad in ["yes", "t", "", "on"] {
            assert_eq!(
                CniArgs::parse(&format!("IgnoreUnknown={bad}")),
                Err(ArgsError::BadBool(bad.into()))
            );
        }
        assert_eq!(
            CniArgs::parse("K8S_POD_NAME=a;K8S_POD_NAME=b")
                .unwrap()
                .pod_name
                .as_deref(),
            Some("b")
        );
    }
}
