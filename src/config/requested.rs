//! Specific addresses a caller asks for (`CNI_ARGS IP=`, `args.cni.ips`,
//! `runtimeConfig.ips`), read as host-local reads them.

use std::net::IpAddr;

use crate::range::canonical;

/// Parses an address with an optional `/prefix`, which is discarded as
/// host-local does (`ip.IP.UnmarshalText`: with a `/`, the whole text must be
/// a CIDR by Go's `net.ParseCIDR`; without, an address by `net.ParseIP`).
pub fn parse_requested_ip(s: &str) -> Option<IpAddr> {
    let ip = if s.contains('/') {
        crate::gonet::parse_cidr(s)?.ip()
    } else {
        crate::gonet::parse_ip(s)?
    };
    Some(canonical(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_dropped_and_mapped_v4_canonical() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(parse_requested_ip("10.1.2.11/24"), Some(ip("10.1.2.11")));
        assert_eq!(parse_requested_ip("::ffff:10.0.0.1"), Some(ip("10.0.0.1")));
        assert_eq!(parse_requested_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        for bad in [
            "10.0.0.1/99",
            "010.0.0.1",
            "fe80::1%eth0",
            "10.0.0.1/+24",
            "",
        ] {
            assert_eq!(parse_requested_ip(bad), None, "{bad}");
        }
    }
}
