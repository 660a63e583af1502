//! The journal's settings and limits (`ipam.journal`).

/// Default number of journal files kept per network (the current one and
/// four rotated ones).
pub const DEFAULT_MAX_FILES: u32 = 5;
/// Default size a journal file may reach before it is rotated: 1 MiB, about
/// 5,000 records.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Smallest `maxBytes` accepted: a file must hold a few records.
pub const MIN_MAX_BYTES: u64 = 4096;
/// Largest `maxFiles` accepted.
pub const MAX_MAX_FILES: u32 = 1000;
/// Name of the current journal file under `.podlease/`.
pub const FILE_NAME: &str = "journal";

/// The journal's settings (`ipam.journal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Whether records are written at all (default on).
    pub enabled: bool,
    /// Files kept, the current one included.
    pub max_files: u32,
    /// Size a file may reach before rotation.
    pub max_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            max_files: DEFAULT_MAX_FILES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}
