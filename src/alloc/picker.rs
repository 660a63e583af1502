//! The picker: one address of a range set, over what it needs from the state
//! ([`Addresses`]), with the skip policy: the pod's last address first
//! (sticky), recently released addresses last (reuse delay), skipped blocks
//! never.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::{Candidates, Skips, integers_of};
use crate::range::{RangeSet, to_u128};

/// How many candidates are tried one at a time before one listing tells every
/// taken address at once. After a round-robin cursor the next address is
/// almost always free, so this is the common path.
pub const PROBES: usize = 8;

/// What the picker needs from the state directory.
pub trait Addresses {
    /// Why the state could not answer.
    type Error;

    /// Takes `ip` for the allocation being made: `Ok(false)` when it is
    /// already taken.
    ///
    /// # Errors
    /// When the state cannot say.
    fn try_take(&mut self, ip: IpAddr) -> Result<bool, Self::Error>;

    /// Every taken address, from one listing.
    ///
    /// # Errors
    /// When the state cannot be listed.
    fn taken(&mut self) -> Result<BTreeSet<IpAddr>, Self::Error>;
}

/// Why [`Picker::pick`] returned no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickError<E> {
    /// Every address of the range set is taken or skipped.
    Exhausted {
        /// Taken addresses inside the set's ranges.
        in_use: u128,
    },
    /// The state could not answer.
    Store(E),
}

impl<E> From<E> for PickError<E> {
    fn from(e: E) -> Self {
        Self::Store(e)
    }
}

/// The preferences of one allocation, shared by its range sets.
#[derive(Debug, Clone, Default)]
pub struct Picker {
    /// Released within the reuse delay: tried only when nothing else is free.
    recent: BTreeSet<IpAddr>,
    /// The pod's addresses from last time (sticky), tried first.
    sticky: Vec<IpAddr>,
    /// One listing per allocation at most, shared by the range sets.
    listing: Option<BTreeSet<IpAddr>>,
}

impl Picker {
    /// A picker that avoids `recent` while anything else is free and tries
    /// `sticky` first.
    pub fn new(recent: BTreeSet<IpAddr>, sticky: Vec<IpAddr>) -> Self {
        Self {
            recent,
            sticky,
            listing: None,
        }
    }

    /// Takes one address of `set` through `state`: the pod's sticky address
    /// if it is free, else the first free candidate after `cursor` that was
    /// not released recently, else the first free one.
    ///
    /// # Errors
    /// [`PickError::Exhausted`] when nothing is free, or the state's error.
    pub fn pick<A: Addresses>(
        &mut self,
        state: &mut A,
        set: &RangeSet,
        cursor: Option<IpAddr>,
        skips: &Skips,
    ) -> Result<IpAddr, PickError<A::Error>> {
        if let Some(ip) = self.sticky_in(set, skips)
            && state.try_take(ip)?
        {
            return Ok(ip);
        }
        let recent = integers_of(set.family(), self.recent.iter().copied());

        // Fast path: a few candidates after the cursor, one try each.
        let mut candidates = Candidates::new(set, cursor, skips);
        for _ in 0..PROBES {
            let Some(ip) = candidates.next_free(&recent) else {
                break;
            };
            if state.try_take(ip)? {
                return Ok(ip);
            }
        }
        // Slow path: one listing tells every taken address.
        let listing = match self.listing.take() {
            Some(l) => l,
            None => state.taken()?,
        };
        let mut taken = integers_of(set.family(), listing.iter().copied());
        let in_use = listing
            .iter()
            .filter(|ip| set.range_for(**ip).is_some())
            .count() as u128;
        self.listing = Some(listing);
        let mut avoid: BTreeSet<u128> = taken.union(&recent).copied().collect();
        if let Some(ip) = first_takeable(state, &mut candidates, &mut avoid)? {
            return Ok(ip);
        }
        // Only recently released addresses are left: the delay yields.
        if !recent.is_empty() {
            let mut again = Candidates::new(set, cursor, skips);
            if let Some(ip) = first_takeable(state, &mut again, &mut taken)? {
                return Ok(ip);
            }
        }
        Err(PickError::Exhausted { in_use })
    }

    /// The pod's last address in `set`, unless it is skipped now.
    fn sticky_in(&self, set: &RangeSet, skips: &Skips) -> Option<IpAddr> {
        let ip = self
            .sticky
            .iter()
            .copied()
            .find(|ip| set.range_for(*ip).is_some())?;
        (!skips.contains(to_u128(ip))).then_some(ip)
    }
}

/// The first candidate not in `taken` that `state` lets us take.
fn first_takeable<A: Addresses>(
    state: &mut A,
    candidates: &mut Candidates<'_>,
    taken: &mut BTreeSet<u128>,
) -> Result<Option<IpAddr>, A::Error> {
    while let Some(ip) = candidates.next_free(taken) {
        if state.try_take(ip)? {
            return Ok(Some(ip));
        }
        // Named in a form the listing did not parse to; never try it again.
        taken.insert(to_u128(ip));
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
