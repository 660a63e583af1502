//! The store's options for one invocation, built once: the request's policy
//! (from its config), the environment's tuning (`PODLEASE_LOCK_TIMEOUT_MS`),
//! the debug log's tap, and the hook that ends the process on a lock timeout.

use std::sync::Arc;

use super::RawInvocation;
use crate::config::SpecVersion;
use crate::config::{IpamConfig, ReleaseConfig};
use crate::journal::{JournalOptions, Tap};
use crate::store::StoreOptions;
use crate::store::lock::{LockError, TimeoutHook};

/// What the store's options take from the config; the same fields in
/// [`IpamConfig`] and [`ReleaseConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePolicy {
    /// `reclaimOnReboot`.
    pub reclaim_on_reboot: bool,
    /// `reclaimClockSlackSeconds`.
    pub reclaim_clock_slack_secs: u64,
    /// `journal`.
    pub journal: JournalOptions,
}

/// The config's defaults (VERSION reads no config).
impl Default for StorePolicy {
    fn default() -> Self {
        Self {
            reclaim_on_reboot: true,
            reclaim_clock_slack_secs: crate::config::DEFAULT_RECLAIM_CLOCK_SLACK_SECS,
            journal: JournalOptions::default(),
        }
    }
}

impl StorePolicy {
    /// The policy of a full config.
    pub fn of_ipam(cfg: &IpamConfig) -> Self {
        Self {
            reclaim_on_reboot: cfg.reclaim_on_reboot,
            reclaim_clock_slack_secs: cfg.reclaim_clock_slack_secs,
            journal: cfg.journal,
        }
    }

    /// The policy of DEL's and GC's tolerant config.
    pub fn of_release(cfg: &ReleaseConfig) -> Self {
        Self {
            reclaim_on_reboot: cfg.reclaim_on_reboot,
            reclaim_clock_slack_secs: cfg.reclaim_clock_slack_secs,
            journal: cfg.journal,
        }
    }
}

/// The options of one invocation. `version` is the one a lock-timeout error
/// is written in.
pub fn build(
    raw: &RawInvocation,
    version: SpecVersion,
    policy: &StorePolicy,
    tap: Option<&Tap>,
) -> StoreOptions {
    StoreOptions {
        reclaim_on_reboot: policy.reclaim_on_reboot,
        foreign_clock_slack_secs: policy.reclaim_clock_slack_secs,
        journal: policy.journal,
        journal_tap: tap.cloned(),
        on_lock_timeout: raw.exit.map(|exit| lock_timeout_exit(exit, version)),
        ..StoreOptions::from_env(&raw.env)
    }
}

/// A lock timeout ends the process with the same error `run` would return:
/// the store's error, its code from the one table.
fn lock_timeout_exit(exit: fn(&[u8]) -> !, version: SpecVersion) -> TimeoutHook {
    TimeoutHook(Arc::new(move |e: &LockError| {
        if matches!(e, LockError::Timeout { .. }) {
            exit(&super::result::encode_error(
                version.as_str(),
                super::error_code::lock(e).as_u32(),
                &e.to_string(),
                None,
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// config's default of `reclaimClockSlackSeconds` is the store's own
    /// default (the store does not read config; it gets the value here).
    #[test]
    fn slack_defaults_agree() {
        assert_eq!(
            crate::config::DEFAULT_RECLAIM_CLOCK_SLACK_SECS,
            StoreOptions::default().foreign_clock_slack_secs
        );
        let (policy, store) = (StorePolicy::default(), StoreOptions::default());
        assert_eq!(policy.reclaim_on_reboot, store.reclaim_on_reboot);
        assert_eq!(policy.journal, store.journal);
    }
}
