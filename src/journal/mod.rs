//! The address journal: one append-only record per allocation and release of
//! a network's addresses, whoever made it, so an operator can answer "who had
//! this address, when, and why did it change?" (`podlease history`).
//!
//! Not to be confused with `ops::preferences`, the reuse-delay and sticky hints:
//! those are rewritten and forgotten; the journal is only ever appended to.
//!
//! Format (docs/journal.md): one JSON object per line in
//! `<dataDir>/<network>/.podlease/journal`, rotated to `journal.1` (newest)
//! ... `journal.<maxFiles-1>` (oldest) when the next line would take the file
//! past `maxBytes`. Each operation's records go out in one `O_APPEND` write
//! of whole lines, under the network's lock (so writers never interleave and
//! rotation never races a writer). Readers take no lock: they tolerate a
//! torn last line and retry when a rotation happened while they read.
//!
//! Owns: the record format, appending, rotation, reading back, and the
//! account of who held an address when ([`tenures`]). Never: the store's
//! truth (the journal is an account of changes, not a source of state), and
//! never fails an operation: a write that fails is dropped and remembered for
//! the debug log.
//!
//! Files by concern: `options` (settings and limits), `record` (the line
//! format) and `time` (its RFC 3339 times), `append` (the writer),
//! `rotation` (file names and rotation), `read` (reading back) and `tenure`
//! (who held an address when).

mod append;
mod options;
mod read;
mod record;
mod rotation;
mod tenure;
mod time;

pub use append::{Journal, Tap, TapContents};
pub use options::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, FILE_NAME, JournalOptions, MAX_MAX_FILES, MIN_MAX_BYTES,
};
pub use read::{Contents, FileHealth, read};
pub use record::{Event, Reason, Record};
pub use rotation::rotated;
pub use tenure::{Tenure, tenures};
pub use time::{format_time_ms, now_ms, parse_time};

#[cfg(test)]
mod tests;
