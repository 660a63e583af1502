//! Choosing addresses, pure (no I/O): host-local's round-robin order over a
//! range set with every address that must never be handed out skipped in
//! O(1) per skipped block ([`Candidates`], [`Skips`]); the picker that adds
//! the sticky and reuse-delay preferences over a small trait of what it needs
//! from the state ([`Picker`], [`Addresses`]); and the matching of held
//! addresses to range sets ([`place_held`], [`entries_matching`]).
//!
//! Owns: iteration order and the skip policy. Never: files, JSON,
//! configuration parsing.

mod candidates;
mod picker;
mod placement;
mod skips;
#[cfg(test)]
mod test_support;

pub use candidates::Candidates;
pub use picker::{Addresses, PickError, Picker};
pub use placement::{IpEntry, entries_for, entries_matching, is_complete, place_held};
pub use skips::{Skips, integers_of, skips_for};
