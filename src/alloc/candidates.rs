//! host-local's round-robin order over a range set: after the cursor,
//! wrapping around, skipped blocks jumped over in one step.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::Skips;
use crate::range::{Family, RangeSet, from_u128, to_u128};

/// One stretch of the iteration: range `range` from `lo` to `hi` inclusive.
#[derive(Debug, Clone, Copy)]
struct Segment {
    lo: u128,
    hi: u128,
}

/// Candidate addresses of one range set in host-local's order: after the
/// cursor (if it is inside the set) through the end of its range, then the
/// following ranges wrapping around, ending with the cursor itself; without a
/// usable cursor, from the first range's start. Skipped addresses never appear.
#[derive(Debug, Clone)]
pub struct Candidates<'a> {
    family: Family,
    segments: Vec<Segment>,
    seg: usize,
    next: Option<u128>,
    skips: &'a Skips,
}

impl<'a> Candidates<'a> {
    /// Iteration over `set` starting after `cursor`.
    pub fn new(set: &RangeSet, cursor: Option<IpAddr>, skips: &'a Skips) -> Self {
        let ranges = set.ranges();
        let mut segments = Vec::with_capacity(ranges.len() + 1);
        match cursor.and_then(|c| {
            ranges
                .iter()
                .position(|r| r.contains(c))
                .map(|i| (i, to_u128(c)))
        }) {
            Some((k, c)) => {
                let n = ranges.len();
                if let Some(r) = ranges.get(k)
                    && c < r.end_u()
                {
                    segments.push(Segment {
                        lo: c + 1,
                        hi: r.end_u(),
                    });
                }
                for off in 1..n {
                    if let Some(r) = ranges.get((k + off) % n) {
                        segments.push(Segment {
                            lo: r.start_u(),
                            hi: r.end_u(),
                        });
                    }
                }
                if let Some(r) = ranges.get(k) {
                    segments.push(Segment {
                        lo: r.start_u(),
                        hi: c,
                    });
                }
            }
            None => segments.extend(ranges.iter().map(|r| Segment {
                lo: r.start_u(),
                hi: r.end_u(),
            })),
        }
        let next = segments.first().map(|s| s.lo);
        Self {
            family: set.family(),
            segments,
            seg: 0,
            next,
            skips,
        }
    }

    /// The next candidate whose integer is not in `taken` either. Runs of
    /// taken addresses cost one set lookup each; skipped blocks cost one step.
    pub fn next_free(&mut self, taken: &BTreeSet<u128>) -> Option<IpAddr> {
        loop {
            let v = self.advance()?;
            if !taken.contains(&v) {
                return Some(from_u128(self.family, v));
            }
        }
    }

    fn advance(&mut self) -> Option<u128> {
        loop {
            let seg = *self.segments.get(self.seg)?;
            let Some(v) = self.next.filter(|v| *v <= seg.hi) else {
                self.seg += 1;
                self.next = self.segments.get(self.seg).map(|s| s.lo);
                continue;
            };
            if let Some(end) = self.skips.covering(v) {
                // Past the end of the skipped block; u128::MAX ends the segment.
                self.next = end.checked_add(1).filter(|n| *n <= seg.hi);
                if self.next.is_none() {
                    self.seg += 1;
                    self.next = self.segments.get(self.seg).map(|s| s.lo);
                }
                continue;
            }
            self.next = v.checked_add(1);
            if self.next.is_none() {
                // v was the family's last address: this segment is done.
                self.seg += 1;
                self.next = self.segments.get(self.seg).map(|s| s.lo);
            }
            return Some(v);
        }
    }
}

impl Iterator for Candidates<'_> {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        self.advance().map(|v| from_u128(self.family, v))
    }
}

#[cfg(test)]
mod tests;
