//! Matching held addresses to range sets, for a repeated ADD and for CHECK.

use super::*;
use crate::alloc::test_support::{self, ip};

fn set(subnet: &str) -> RangeSet {
    test_support::set(&[subnet])
}

/// A dual-stack config: set 0 IPv4, set 1 IPv6.
fn dual() -> Vec<RangeSet> {
    vec![set("10.1.0.0/24"), set("2001:db8::/64")]
}

fn asked(s: &str) -> Option<Requested> {
    Some(Requested {
        ip: ip(s),
        source: "CNI_ARGS IP".to_owned(),
    })
}

#[test]
fn each_address_finds_its_set() {
    let sets = dual();
    assert_eq!(range_set_of(&sets, ip("2001:db8::7")), Ok(1));
    assert_eq!(range_set_of(&sets, ip("::ffff:10.1.0.7")), Ok(0));
    assert_eq!(
        range_set_of(&sets, ip("10.2.0.7")),
        Err("holds 10.2.0.7, which is outside every configured range".to_owned())
    );
}

#[test]
fn a_repeated_add_keeps_what_fits() {
    let sets = dual();
    let none = [None, None];
    assert_eq!(
        place_held(&sets, &none, &[ip("2001:db8::7"), ip("10.1.0.7")]),
        Ok(vec![(0, ip("10.1.0.7")), (1, ip("2001:db8::7"))])
    );
    // Part of the sets: the ADD fills in the rest.
    assert_eq!(
        place_held(&sets, &none, &[ip("2001:db8::7")]),
        Ok(vec![(1, ip("2001:db8::7"))])
    );
    assert_eq!(
        place_held(&sets, &none, &[ip("10.1.0.7"), ip("10.1.0.8")]),
        Err("holds 10.1.0.7 and 10.1.0.8, both in range set 0".to_owned())
    );
    assert_eq!(
        place_held(&sets, &[asked("10.1.0.9"), None], &[ip("10.1.0.7")]),
        Err("holds 10.1.0.7 in range set 0 but CNI_ARGS IP requests 10.1.0.9".to_owned())
    );
    // A requested set that holds nothing yet is the ADD's to fill.
    assert_eq!(
        place_held(&sets, &[asked("10.1.0.9"), None], &[ip("2001:db8::7")]),
        Ok(vec![(1, ip("2001:db8::7"))])
    );
}

#[test]
fn check_matches_in_set_order() {
    let sets = dual();
    let got = entries_matching(&sets, &[None, None], &[ip("2001:db8::7"), ip("10.1.0.7")]).unwrap();
    let text: Vec<(String, String)> = got
        .iter()
        .map(|e| (e.address.to_string(), e.gateway.to_string()))
        .collect();
    assert_eq!(
        text,
        [
            ("10.1.0.7/24".to_owned(), "10.1.0.1".to_owned()),
            ("2001:db8::7/64".to_owned(), "2001:db8::1".to_owned())
        ]
    );
    // A set added since (dual-stack turned on) is no mismatch.
    assert_eq!(
        entries_matching(&sets, &[None, None], &[ip("10.1.0.7")]).map(|e| e.len()),
        Ok(1)
    );
    // A requested set must hold exactly the requested address.
    assert_eq!(
        entries_matching(&sets, &[asked("10.1.0.9"), None], &[ip("2001:db8::7")]),
        Err("holds nothing in range set 0 but CNI_ARGS IP requests 10.1.0.9".to_owned())
    );
    assert_eq!(
        entries_matching(
            &sets,
            &[asked("10.1.0.9"), None],
            &[ip("10.1.0.9"), ip("10.1.0.8")]
        ),
        Err("holds 10.1.0.9, 10.1.0.8 in range set 0 but CNI_ARGS IP requests 10.1.0.9".to_owned())
    );
}

#[test]
fn complete_means_one_per_set_each_inside() {
    let sets = dual();
    let both = entries_for(&sets, &[(0, ip("10.1.0.7")), (1, ip("2001:db8::7"))]);
    assert!(is_complete(&sets, &both));
    assert!(!is_complete(&sets, &both[..1]));
    // An address placed in the wrong set makes no entry, so no success.
    let wrong = entries_for(&sets, &[(0, ip("10.1.0.7")), (0, ip("2001:db8::7"))]);
    assert_eq!(wrong.len(), 1);
    assert!(!is_complete(&sets, &wrong));
}
