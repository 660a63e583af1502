//! Text forms read exactly as the Go code of host-local reads them, so a
//! configuration or `CNI_ARGS` value that podlease accepts also works when the
//! node goes back to host-local, and the other way round.
//!
//! Owns: Go's `net.ParseCIDR` and `net.ParseIP` (Go 1.17 and later: no
//! leading zeros in IPv4 fields, no zones), and the CNI library's boolean
//! for `CNI_ARGS` (`types.UnmarshallableBool`).
//! Never: what the values mean (ranges, requests).

use std::net::IpAddr;

use ipnetwork::IpNetwork;

/// Go's `net.ParseIP`: dotted-quad IPv4 (each field 0 to 255, no leading
/// zero), or IPv6 with at most four hex digits per group, one `::`, an
/// optional dotted-quad tail, and no zone. Rust's parser follows the same
/// grammar (it also refuses leading zeros in IPv4 fields and zones); the
/// property tests in this module hold it to a model of Go's rules, and
/// `tests/compat_host_local.rs` to host-local 1.1.1 itself. One deliberate
/// difference: Go 1.19 (host-local 1.1.1) also reads a group of five or more
/// hex digits whose value fits 16 bits (`01234::`); current Go does not, nor
/// does podlease.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// Go's `net.ParseCIDR`: `<address>/<decimal prefix>`. The prefix is ASCII
/// digits only (leading zeros are fine, `+`, `-`, spaces and dotted masks are
/// not) and at most 32 for an IPv4 address, 128 for IPv6 (an IPv4-mapped
/// address counts as IPv6, as in Go). The address is kept as written: host
/// bits are the caller's business (host-local's `types.ParseCIDR` keeps them).
pub fn parse_cidr(s: &str) -> Option<IpNetwork> {
    let (addr, mask) = s.split_once('/')?;
    let ip = parse_ip(addr)?;
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    // Go's dtoi: at least one digit, all digits, value below 2^24.
    if mask.is_empty() || !mask.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u32 = 0;
    for b in mask.bytes() {
        n = n * 10 + u32::from(b - b'0');
        if n > bits {
            return None;
        }
    }
    IpNetwork::new(ip, u8::try_from(n).ok()?).ok()
}

/// The CNI library's `UnmarshallableBool`, which `IgnoreUnknown` in
/// `CNI_ARGS` is: `1`, `true`, `0`, `false`, in any letter case; anything
/// else (`yes`, `t`, an empty value) is an error.
pub fn parse_args_bool(s: &str) -> Option<bool> {
    if s == "1" || s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s == "0" || s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cidr_like_go() {
        for ok in [
            "10.1.2.0/24",
            "10.1.2.3/24",
            "0.0.0.0/0",
            "10.0.0.0/024",
            "10.0.0.0/0000000000032",
            "2001:db8::/64",
            "2001:DB8:0:0:0:0:0:0/64",
            "::ffff:10.0.0.0/120",
            "::1.2.3.4/128",
            "1:2:3:4:5:6:7::/112",
        ] {
            assert!(parse_cidr(ok).is_some(), "{ok} should parse");
        }
        for bad in [
            "10.1.2.0/255.255.255.0",
            "10.1.2.0/+24",
            "10.1.2.0/-1",
            "10.1.2.0/ 24",
            "10.1.2.0/24 ",
            " 10.1.2.0/24",
            "10.1.2.0/",
            "/24",
            "10.1.2.0",
            "10.1.2.0/33",
            "10.1.2.0/24/1",
            "010.1.2.0/24",
            "10.01.2.0/24",
            "fe80::1%eth0/64",
            "2001:db8::/129",
            "2001:db8:00000::/64", // Go 1.19 reads it; current Go and podlease do not
            "1:2:3:4:5:6:7:8::/64",
            "1::2:3:4:5:6:7:8/64",
            "::010.1.2.3/128",
            "",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad} should be refused");
        }
        assert_eq!(
            parse_cidr("10.1.2.3/024").map(|n| (n.ip().to_string(), n.prefix())),
            Some(("10.1.2.3".to_owned(), 24))
        );
    }

    #[test]
    fn args_bool_like_the_cni_library() {
        for (s, v) in [
            ("1", true),
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("tRuE", true),
            ("0", false),
            ("false", false),
            ("FALSE", false),
        ] {
            assert_eq!(parse_args_bool(s), Some(v), "{s}");
        }
        for s in ["", "yes", "no", "t", "f", "T", "on", "2", " 1", "01"] {
            assert_eq!(parse_args_bool(s), None, "{s}");
        }
    }

    /// A model of Go's IPv4 field rule: decimal, 1 to 3 digits, no leading
    /// zero unless the field is "0", at most 255.
    fn go_v4_field(f: &str) -> bool {
        !f.is_empty()
            && f.len() <= 3
            && f.bytes().all(|b| b.is_ascii_digit())
            && !(f.len() > 1 && f.starts_with('0'))
            && f.parse::<u16>().is_ok_and(|v| v <= 255)
    }

    fn go_v4(s: &str) -> bool {
        let fields: Vec<&str> = s.split('.').collect();
        fields.len() == 4 && fields.iter().all(|f| go_v4_field(f))
    }

    fn go_mask(m: &str, bits: u32) -> bool {
        !m.is_empty()
            && m.bytes().all(|b| b.is_ascii_digit())
            && m.trim_start_matches('0').len() <= 3
            && m.trim_start_matches('0').parse::<u32>().unwrap_or(0) <= bits
    }

    proptest! {
        /// IPv4 CIDRs built from arbitrary fields and masks (with leading
        /// zeros, signs, dotted masks) are accepted exactly when Go's rules
        /// accept them.
        #[test]
        fn v4_cidr_matches_model(
            fields in proptest::collection::vec("[0-9]{1,4}|0[0-9]{1,2}|\\+1", 3..=5),
            mask in "[0-9]{1,4}|0{1,6}[0-9]{1,2}|\\+[0-9]{1,2}|255\\.255\\.[0-9]{1,3}\\.0| [0-9]{1,2}|",
        ) {
            let addr = fields.join(".");
            let s = format!("{addr}/{mask}");
            let expect = go_v4(&addr) && go_mask(&mask, 32);
            prop_assert_eq!(parse_cidr(&s).is_some(), expect, "{}", s);
            if expect {
                let n = parse_cidr(&s).unwrap();
                prop_assert_eq!(n.ip().to_string(), addr);
                prop_assert_eq!(u32::from(n.prefix()), mask.parse::<u32>().unwrap());
            }
        }

        /// Every IPv6 address, in full, compressed and upper-case forms, with
        /// any prefix up to 128 (and with leading zeros), parses to itself;
        /// 129 and above, a zone, or five hex digits in a group do not.
        #[test]
        fn v6_cidr_matches_model(v in any::<u128>(), prefix in 0u32..=200, zeros in 0usize..3, zone in any::<bool>()) {
            let a = std::net::Ipv6Addr::from(v);
            let segs = a.segments();
            let full = segs.iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":");
            let mask = format!("{}{prefix}", "0".repeat(zeros));
            for form in [a.to_string(), full.clone(), full.to_uppercase()] {
                let addr = if zone { format!("{form}%eth0") } else { form };
                let s = format!("{addr}/{mask}");
                let got = parse_cidr(&s);
                prop_assert_eq!(got.is_some(), prefix <= 128 && !zone, "{}", s);
                if let Some(n) = got {
                    prop_assert_eq!(n.ip(), IpAddr::V6(a));
                    prop_assert_eq!(u32::from(n.prefix()), prefix);
                }
            }
            let five = format!("0{:04x}:{}", segs[0], segs[1..].iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"));
            prop_assert!(parse_cidr(&format!("{five}/64")).is_none(), "{}", five);
        }
    }
}
