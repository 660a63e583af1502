//! The picker against an in-memory state, as host-local's allocator_test.go
//! tests its allocator against an in-memory store.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;
use crate::alloc::test_support::{gateways, ip, set};
use crate::range::{Range, RangeSet};

fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

/// The state in memory: what is taken, what a listing would not show (a file
/// named in a form the listing does not parse), and what was asked.
#[derive(Default)]
struct Memory {
    taken: BTreeSet<IpAddr>,
    unlisted: BTreeSet<IpAddr>,
    tries: usize,
    listings: usize,
    broken: bool,
}

impl Memory {
    fn with(taken: &[&str]) -> Self {
        Self {
            taken: ips(taken),
            ..Self::default()
        }
    }
}

impl Addresses for Memory {
    type Error = &'static str;

    fn try_take(&mut self, ip: IpAddr) -> Result<bool, Self::Error> {
        if self.broken {
            return Err("broken");
        }
        self.tries += 1;
        Ok(self.taken.insert(ip))
    }

    fn taken(&mut self) -> Result<BTreeSet<IpAddr>, Self::Error> {
        self.listings += 1;
        Ok(self.taken.difference(&self.unlisted).copied().collect())
    }
}

/// `n` picks in a row, each moving the cursor as ADD does.
fn picks(s: &RangeSet, state: &mut Memory, cursor: Option<&str>, n: usize) -> Vec<String> {
    let skips = gateways(s);
    let mut picker = Picker::default();
    let mut cursor = cursor.map(ip);
    let mut out = Vec::new();
    for _ in 0..n {
        match picker.pick(state, s, cursor, &skips) {
            Ok(got) => {
                cursor = Some(got);
                out.push(got.to_string());
            }
            Err(PickError::Exhausted { in_use }) => out.push(format!("full ({in_use} in use)")),
            Err(PickError::Store(e)) => out.push(e.to_owned()),
        }
    }
    out
}

#[test]
fn round_robin_from_the_cursor_and_wrapping() {
    let s = set(&["10.0.0.0/29"]);
    assert_eq!(
        picks(&s, &mut Memory::default(), None, 3),
        ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    );
    assert_eq!(
        picks(&s, &mut Memory::default(), Some("10.0.0.5"), 3),
        ["10.0.0.6", "10.0.0.2", "10.0.0.3"]
    );
    // A cursor outside the set (the config changed) starts from the beginning.
    assert_eq!(
        picks(&s, &mut Memory::default(), Some("10.9.0.5"), 1),
        ["10.0.0.2"]
    );
    // Taken addresses are stepped over; the cursor's own address comes last.
    assert_eq!(
        picks(
            &s,
            &mut Memory::with(&["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]),
            Some("10.0.0.3"),
            2
        ),
        ["10.0.0.3", "full (5 in use)"]
    );
}

#[test]
fn exhaustion_counts_what_is_in_use() {
    let s = set(&["10.0.0.0/30"]);
    let mut state = Memory::with(&["10.0.0.2", "10.9.9.9"]);
    assert_eq!(picks(&s, &mut state, None, 1), ["full (1 in use)"]);
    let s = set(&["10.0.0.0/29"]);
    assert_eq!(
        picks(&s, &mut Memory::default(), None, 6),
        [
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.4",
            "10.0.0.5",
            "10.0.0.6",
            "full (5 in use)"
        ]
    );
}

#[test]
fn exclusions_are_never_handed_out() {
    let s = set(&["10.0.0.0/28"]);
    let skips = Skips::new(vec![
        (to_u128(ip("10.0.0.1")), to_u128(ip("10.0.0.1"))),
        (to_u128(ip("10.0.0.3")), to_u128(ip("10.0.0.12"))),
    ]);
    let mut state = Memory::default();
    let mut picker = Picker::default();
    let mut got = Vec::new();
    while let Ok(one) = picker.pick(&mut state, &s, got.last().copied(), &skips) {
        got.push(one);
    }
    assert_eq!(
        got,
        [ip("10.0.0.2"), ip("10.0.0.13"), ip("10.0.0.14")],
        "the gateway and 10.0.0.3-10.0.0.12 are skipped"
    );
}

#[test]
fn several_ranges_in_a_set() {
    let s = set(&["10.0.0.0/30", "10.0.1.0/30", "10.0.2.0/30"]);
    assert_eq!(
        picks(&s, &mut Memory::default(), Some("10.0.0.2"), 4),
        ["10.0.1.2", "10.0.2.2", "10.0.0.2", "full (3 in use)"]
    );
    assert_eq!(
        picks(&s, &mut Memory::with(&["10.0.0.2"]), Some("10.0.2.2"), 1),
        ["10.0.1.2"]
    );
}

#[test]
fn ipv6() {
    let s = set(&["2001:db8:1::/126"]);
    assert_eq!(
        picks(&s, &mut Memory::default(), None, 3),
        ["2001:db8:1::2", "2001:db8:1::3", "full (2 in use)"]
    );
    // Taken IPv4 addresses do not count against an IPv6 set.
    let s = set(&["2001:db8:1::/64"]);
    assert_eq!(
        picks(
            &s,
            &mut Memory::with(&["10.0.0.2", "2001:db8:1::2"]),
            Some("2001:db8:1::ffff:ffff:ffff:fffe"),
            2
        ),
        ["2001:db8:1:0:ffff:ffff:ffff:ffff", "2001:db8:1::3"]
    );
}

#[test]
fn reuse_delay_yields_only_when_nothing_else_is_free() {
    let s = set(&["10.0.0.0/29"]);
    let skips = gateways(&s);
    let mut state = Memory::with(&["10.0.0.2"]);
    let mut picker = Picker::new(ips(&["10.0.0.3", "10.0.0.4"]), Vec::new());
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Ok(ip("10.0.0.5"))
    );
    assert_eq!(
        picker.pick(&mut state, &s, Some(ip("10.0.0.5")), &skips),
        Ok(ip("10.0.0.6"))
    );
    // Only the recently released are left: the delay yields, in order.
    assert_eq!(
        picker.pick(&mut state, &s, Some(ip("10.0.0.6")), &skips),
        Ok(ip("10.0.0.3"))
    );
    assert_eq!(
        picker.pick(&mut state, &s, Some(ip("10.0.0.3")), &skips),
        Ok(ip("10.0.0.4"))
    );
    assert_eq!(
        picker.pick(&mut state, &s, Some(ip("10.0.0.4")), &skips),
        Err(PickError::Exhausted { in_use: 3 }),
        "the count is the one listing of this allocation, made before the last picks"
    );
}

#[test]
fn sticky_first_when_free() {
    let s = set(&["10.0.0.0/29"]);
    let skips = gateways(&s);
    let sticky = vec![ip("2001:db8::5"), ip("10.0.0.5")];
    let mut state = Memory::default();
    let mut picker = Picker::new(BTreeSet::new(), sticky.clone());
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Ok(ip("10.0.0.5"))
    );
    // Taken by someone else: the usual order.
    let mut state = Memory::with(&["10.0.0.5"]);
    let mut picker = Picker::new(BTreeSet::new(), sticky.clone());
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Ok(ip("10.0.0.2"))
    );
    // Excluded since: never handed out, and not even tried.
    let excluded = Skips::new(vec![(to_u128(ip("10.0.0.5")), to_u128(ip("10.0.0.5")))]);
    let mut state = Memory::default();
    let mut picker = Picker::new(BTreeSet::new(), sticky);
    assert_eq!(
        picker.pick(&mut state, &s, Some(ip("10.0.0.4")), &excluded),
        Ok(ip("10.0.0.6"))
    );
    assert_eq!(state.tries, 1);
    // Sticky beats the reuse delay: the pod gets its own address back.
    let mut state = Memory::default();
    let mut picker = Picker::new(ips(&["10.0.0.5"]), vec![ip("10.0.0.5")]);
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Ok(ip("10.0.0.5"))
    );
}

#[test]
fn one_listing_per_allocation() {
    let s = set(&["10.0.0.0/24"]);
    let skips = gateways(&s);
    let first20: Vec<String> = (2..22).map(|i| format!("10.0.0.{i}")).collect();
    let first20: Vec<&str> = first20.iter().map(String::as_str).collect();
    let mut state = Memory::with(&first20);
    let mut picker = Picker::default();
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Ok(ip("10.0.0.22"))
    );
    assert_eq!((state.tries, state.listings), (PROBES + 1, 1));
    // A second set of the same allocation reuses the listing.
    let v6 = set(&["2001:db8::/120"]);
    let taken6: Vec<String> = (2..22).map(|i| format!("2001:db8::{i:x}")).collect();
    state.taken.extend(taken6.iter().map(|s| ip(s)));
    let got = picker.pick(&mut state, &v6, None, &gateways(&v6));
    assert_eq!(state.listings, 1, "no second listing");
    // The listing predates the IPv6 addresses, so the picker tried them one
    // by one and still found the first free one.
    assert_eq!(got, Ok(ip("2001:db8::16")));
}

#[test]
fn an_address_the_listing_missed_is_tried_once() {
    let s = set(&["10.0.0.0/28"]);
    let skips = gateways(&s);
    let all: Vec<String> = (2..15).map(|i| format!("10.0.0.{i}")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut state = Memory::with(&all);
    state.unlisted = ips(&["10.0.0.12"]);
    let mut picker = Picker::default();
    assert_eq!(
        picker.pick(&mut state, &s, None, &skips),
        Err(PickError::Exhausted { in_use: 12 })
    );
    assert_eq!(state.tries, PROBES + 1);
}

#[test]
fn state_errors_are_passed_on() {
    let s = set(&["10.0.0.0/29"]);
    let mut state = Memory {
        broken: true,
        ..Memory::default()
    };
    assert_eq!(picks(&s, &mut state, None, 1), ["broken"]);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever is taken, recently released, sticky or excluded, the
        /// picker never returns a taken, skipped or out-of-range address, and
        /// returns one whenever one is free.
        #[test]
        fn never_a_taken_address_always_a_free_one(
            prefix in 26u8..=30,
            two_ranges in any::<bool>(),
            taken in proptest::collection::vec(0u32..160, 0..120),
            recent in proptest::collection::vec(0u32..160, 0..20),
            sticky in proptest::option::of(0u32..160),
            excluded in proptest::option::of((0u32..160, 0u32..16)),
            cursor in proptest::option::of(0u32..160),
            unlisted in proptest::collection::vec(0u32..160, 0..4),
        ) {
            let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
            let v4 = |o: u32| IpAddr::V4((base + o).into());
            let net = |o: u32| ipnetwork::IpNetwork::new(v4(o), prefix).unwrap();
            let mut ranges = vec![Range::new(net(0), None, None, None).unwrap()];
            if two_ranges {
                ranges.push(Range::new(net(128), None, None, None).unwrap());
            }
            let s = RangeSet::new(ranges).unwrap();
            let mut intervals: Vec<(u128, u128)> = s
                .ranges()
                .iter()
                .map(|r| (to_u128(r.gateway), to_u128(r.gateway)))
                .collect();
            if let Some((lo, n)) = excluded {
                intervals.push((to_u128(v4(lo)), to_u128(v4(lo + n))));
            }
            let skips = Skips::new(intervals);
            let before: BTreeSet<IpAddr> = taken.iter().map(|o| v4(*o)).collect();
            let mut state = Memory {
                taken: before.clone(),
                unlisted: unlisted.iter().map(|o| v4(*o)).collect(),
                ..Memory::default()
            };
            let mut picker = Picker::new(
                recent.iter().map(|o| v4(*o)).collect(),
                sticky.map(v4).into_iter().collect(),
            );
            let free = s
                .ranges()
                .iter()
                .flat_map(|r| r.start_u()..=r.end_u())
                .any(|v| !skips.contains(v) && !before.iter().any(|t| to_u128(*t) == v));
            match picker.pick(&mut state, &s, cursor.map(v4), &skips) {
                Ok(got) => {
                    prop_assert!(!before.contains(&got), "{got} was taken");
                    prop_assert!(s.range_for(got).is_some(), "{got} outside {s}");
                    prop_assert!(!skips.contains(to_u128(got)), "{got} is skipped");
                    prop_assert!(state.taken.contains(&got));
                }
                Err(PickError::Exhausted { .. }) => prop_assert!(!free, "a free address was missed"),
                Err(PickError::Store(e)) => prop_assert!(false, "{e}"),
            }
        }
    }
}
