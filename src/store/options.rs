//! The store's options: from the config (reclaim on reboot, clock slack,
//! journal) and the environment (the lock timeout).

use std::time::Duration;

use super::boot::BootSource;
use super::lock::TimeoutHook;
use crate::journal::{JournalOptions, Tap};

/// Options of the store that come from the config and the environment.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Release the allocations of earlier boots at the first operation of a
    /// boot. Off, nothing is released, but the boot is still recorded.
    pub reclaim_on_reboot: bool,
    /// How long to wait for another process's lock.
    pub lock_timeout: Duration,
    /// Where the boot id, the boot time and `/run` are.
    pub boot: BootSource,
    /// A file podlease did not write is released after a reboot only if its
    /// mtime is this much older than the boot time (and older than `/run`,
    /// see [`BootSource::foreign_reference`]).
    pub foreign_clock_slack_secs: u64,
    /// Ends the process on a lock timeout instead of returning the error (see
    /// [`TimeoutHook`]); the CNI entry point sets it, library users need not.
    pub on_lock_timeout: Option<TimeoutHook>,
    /// The address journal's settings (`ipam.journal`).
    pub journal: JournalOptions,
    /// Where the journal's records of each operation also go (the CNI
    /// face's debug log); `None` when nobody asked.
    pub journal_tap: Option<Tap>,
}

/// Default for [`StoreOptions::foreign_clock_slack_secs`]: one hour.
pub const DEFAULT_FOREIGN_CLOCK_SLACK_SECS: u64 = 3600;

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            reclaim_on_reboot: true,
            lock_timeout: Duration::from_secs(60),
            boot: BootSource::default(),
            foreign_clock_slack_secs: DEFAULT_FOREIGN_CLOCK_SLACK_SECS,
            on_lock_timeout: None,
            journal: JournalOptions::default(),
            journal_tap: None,
        }
    }
}

impl StoreOptions {
    /// The defaults, with the one override the environment can set:
    /// `PODLEASE_LOCK_TIMEOUT_MS`. Nothing in the environment changes the
    /// boot identity (see [`BootSource`]).
    pub fn from_env(env: &std::collections::BTreeMap<String, String>) -> Self {
        let mut opts = Self::default();
        // An unreadable value keeps the default: a DEL must not fail over a
        // tuning variable (the CLI refuses it instead, see `cli`).
        if let Some(t) = env
            .get("PODLEASE_LOCK_TIMEOUT_MS")
            .and_then(|v| parse_lock_timeout(v).ok())
        {
            opts.lock_timeout = t;
        }
        opts
    }
}

/// A lock timeout as `PODLEASE_LOCK_TIMEOUT_MS` and `--lock-timeout` take
/// it: a whole number of milliseconds (`1500`), or with a unit, `1500ms` or
/// `2s`.
pub fn parse_lock_timeout(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, to_ms) = if let Some(d) = s.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = s.strip_suffix('s') {
        (d, 1000)
    } else {
        (s, 1)
    };
    let ms = digits
        .parse::<u64>()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.checked_mul(to_ms))
        .ok_or_else(|| {
            format!("{s:?} is not a lock timeout: give milliseconds (1500), or a unit (1500ms, 2s)")
        })?;
    Ok(Duration::from_millis(ms))
}
