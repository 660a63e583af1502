//! What the allocator remembers beyond host-local's state: recently released
//! addresses (the reuse delay) and each pod's last addresses (sticky
//! addresses). Both are hints under `.podlease/`; losing them only loses the
//! preference, never an allocation.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ids::ContainerId;
use crate::store::{LockedNetwork, StoreError};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether a release at `t` is still within `delay` seconds of `now`. A time
/// in the future (the clock went back) counts as recent for at most `delay`.
fn is_recent(t: i64, now: i64, delay: u64) -> bool {
    let delay = i64::try_from(delay).unwrap_or(i64::MAX);
    now.saturating_sub(t) < delay && t.saturating_sub(now) < delay
}

/// Addresses released less than `delay` seconds ago.
pub(crate) fn recently_released(net: &LockedNetwork, delay: u64) -> BTreeSet<IpAddr> {
    if delay == 0 {
        return BTreeSet::new();
    }
    let now = now_secs();
    net.released_log()
        .into_iter()
        .filter(|(_, t)| is_recent(*t, now, delay))
        .map(|(ip, _)| ip)
        .collect()
}

/// Records releases (DEL), dropping entries older than the delay.
///
/// # Errors
/// [`StoreError`] when the log cannot be written.
pub(crate) fn note_released(
    net: &mut LockedNetwork,
    ips: &[IpAddr],
    delay: u64,
) -> Result<(), StoreError> {
    if delay == 0 || ips.is_empty() {
        return Ok(());
    }
    let now = now_secs();
    let mut log: Vec<(IpAddr, i64)> = net
        .released_log()
        .into_iter()
        .filter(|(ip, t)| is_recent(*t, now, delay) && !ips.contains(ip))
        .collect();
    log.extend(ips.iter().map(|ip| (*ip, now)));
    net.write_released_log(&log)
}

/// Forgets releases of addresses that are allocated again.
///
/// # Errors
/// [`StoreError`] when the log cannot be written.
pub(crate) fn forget_released(
    net: &mut LockedNetwork,
    ips: &[IpAddr],
    delay: u64,
) -> Result<(), StoreError> {
    if delay == 0 {
        return Ok(());
    }
    let log = net.released_log();
    if !log.iter().any(|(ip, _)| ips.contains(ip)) {
        return Ok(());
    }
    let kept: Vec<(IpAddr, i64)> = log
        .into_iter()
        .filter(|(ip, _)| !ips.contains(ip))
        .collect();
    net.write_released_log(&kept)
}

/// The file name of a pod's sticky record, when its namespace and name are
/// safe as a file name. Kubernetes names never contain `_`, so it separates.
fn sticky_name(pod: &str) -> Option<String> {
    let (ns, name) = pod.split_once('/')?;
    let ok = |s: &str| ContainerId::new(s).is_ok() && !s.contains('_');
    (ok(ns) && ok(name) && ns.len() + name.len() < 250).then(|| format!("{ns}_{name}"))
}

/// The addresses the pod held last time.
pub(crate) fn sticky_addresses(net: &LockedNetwork, pod: &str) -> Vec<IpAddr> {
    let Some(name) = sticky_name(pod) else {
        return Vec::new();
    };
    let path = net.layout().sticky_dir().join(name);
    match net.read_hint(&path) {
        Ok(Some(text)) => text.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        _ => Vec::new(),
    }
}

/// Remembers the pod's addresses for its next ADD.
///
/// # Errors
/// [`StoreError`] when the record cannot be written.
pub(crate) fn remember_sticky(
    net: &mut LockedNetwork,
    pod: &str,
    ips: &[IpAddr],
) -> Result<(), StoreError> {
    let Some(name) = sticky_name(pod) else {
        return Ok(());
    };
    let dir = net.layout().sticky_dir();
    let path = dir.join(&name);
    if std::fs::symlink_metadata(&path).is_err() {
        // A new pod name (Deployments and Jobs generate them): the oldest
        // records make room, so their number stays bounded.
        net.bound_hints(&dir, MAX_STICKY, &name)?;
    }
    let text: String = ips.iter().map(|ip| format!("{ip}\n")).collect();
    net.write_hint(&path, &text)
}

/// Most sticky records kept per network: pods with generated names would
/// otherwise add one each, forever. The least recently written go first.
const MAX_STICKY: usize = 1024;

/// How long the sticky record of a pod that no longer runs is kept.
const STICKY_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Drops sticky records of pods not in `live` that are older than
/// [`STICKY_RETENTION`], so pods with generated names do not accumulate.
///
/// # Errors
/// [`StoreError`] on I/O failure.
pub(crate) fn prune_sticky(
    net: &mut LockedNetwork,
    live: &BTreeSet<String>,
) -> Result<usize, StoreError> {
    let live_names: BTreeSet<String> = live.iter().filter_map(|p| sticky_name(p)).collect();
    let cutoff = SystemTime::now()
        .checked_sub(STICKY_RETENTION)
        .unwrap_or(UNIX_EPOCH);
    let dir = net.layout().sticky_dir();
    net.prune_hints(&dir, |name| live_names.contains(name), cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency() {
        assert!(is_recent(100, 110, 30));
        assert!(!is_recent(100, 130, 30));
        assert!(is_recent(120, 110, 30)); // clock went back a little
        assert!(!is_recent(1000, 110, 30)); // absurd future: forget it
        assert!(!is_recent(100, 100, 0));
    }

    #[test]
    fn sticky_names() {
        assert_eq!(
            sticky_name("default/web-0").as_deref(),
            Some("default_web-0")
        );
        assert_eq!(sticky_name("a_b/web"), None);
        assert_eq!(sticky_name("../x/y"), None);
        assert_eq!(sticky_name("noslash"), None);
    }
}
