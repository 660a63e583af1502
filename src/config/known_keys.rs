//! The keys podlease reads at each level of the `ipam` section, and the
//! unknown ones a config holds, each with the nearest known key.
//!
//! Unknown keys stay accepted (host-local ignores them, and a config written
//! for it must keep working), but a typo such as `"rangeStrat"` or
//! `"excludes"` silently turns a setting off, so every CNI call and
//! `podlease validate` name them. Keys match case-insensitively, as Go's
//! decoder matches them. Only `ipam` and what it holds are checked: the rest
//! of a plugin's config belongs to the main plugin (bridge, flannel...).
//!
//! The one list of known keys: the decoder should read its field names from
//! here, so a key cannot be read without being known.

use serde_json::{Map, Value};

/// Keys of `ipam`.
pub const IPAM: &[&str] = &[
    "type",
    "name",
    "subnet",
    "rangeStart",
    "rangeEnd",
    "gateway",
    "ranges",
    "routes",
    "dataDir",
    "resolvConf",
    "subnetFile",
    "exclude",
    "serviceCidrs",
    "nodeAddresses",
    "reclaimOnReboot",
    "reclaimClockSlackSeconds",
    "reuseDelaySeconds",
    "sticky",
    "journal",
    "logFile",
    "logLevel",
    "pools",
    "nodeName",
    "etcd",
];

/// Keys of a cluster pool (`ipam.pools[i]`).
pub const POOL: &[&str] = &[
    "cidr",
    "blockSize",
    "gateway",
    "maxBlocks",
    "minBlocks",
    "releaseAfterSeconds",
];

/// Keys of the etcd settings of cluster pools (`ipam.etcd`).
pub const ETCD: &[&str] = &[
    "endpoints",
    "prefix",
    "caFile",
    "certFile",
    "keyFile",
    "username",
    "passwordFile",
    "timeoutSeconds",
];

/// Keys of the address journal's settings (`ipam.journal`, when an object).
pub const JOURNAL: &[&str] = &["enabled", "maxFiles", "maxBytes"];

/// Keys of a range (`ipam.ranges[i][j]`, `runtimeConfig.ipRanges[i][j]`).
pub const RANGE: &[&str] = &["subnet", "rangeStart", "rangeEnd", "gateway"];

/// Keys of a route (`ipam.routes[i]`).
pub const ROUTE: &[&str] = &["dst", "gw", "mtu", "advmss", "priority", "table", "scope"];

/// At most this many unknown keys are reported (a config is not a list of typos).
pub const MAX_REPORTED: usize = 16;

/// A key podlease does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// JSON path of the key (`ipam.ranges[0][0].rangeStrat`).
    pub path: String,
    /// The key as written.
    pub key: String,
    /// The nearest known key at that level, when one is near enough.
    pub suggestion: Option<&'static str>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: unknown key, ignored", self.path)?;
        if let Some(s) = self.suggestion {
            write!(f, " (did you mean \"{s}\"?)")?;
        }
        Ok(())
    }
}

/// Whether `key` names one of `known` (case-insensitively, as Go matches).
pub fn is_known(known: &[&str], key: &str) -> bool {
    known.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// Optimal string alignment distance (edits, with adjacent transpositions
/// counting as one), case-insensitive, on characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Three rows: two back (for transpositions), one back, current.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + cost;
            let mut d = del.min(ins).min(sub);
            if i > 0
                && j > 0
                && a.get(i - 1) == Some(cb)
                && b.get(j - 1) == Some(ca)
                && let Some(t) = prev2.get(j - 1)
            {
                d = d.min(t + 1);
            }
            if let Some(c) = cur.get_mut(j + 1) {
                *c = d;
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// The known key nearest to `key`, if it is near enough to be a typo: at
/// most a third of the key's length in edits (at least one), or a known key
/// that `key` starts or ends with (`"excludes"`, `"ipamRanges"`).
pub fn nearest(known: &[&'static str], key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    let allowed = (key.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (distance(k, key), *k))
        .filter(|(d, k)| {
            let kl = k.to_ascii_lowercase();
            *d <= allowed || (kl.len() >= 4 && (lower.starts_with(&kl) || lower.ends_with(&kl)))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The value of `key` in `map`: an exact match, else a case-insensitive one.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn check_object(
    map: &Map<String, Value>,
    path: &str,
    known: &[&'static str],
    out: &mut Vec<UnknownKey>,
) {
    for key in map.keys() {
        if !is_known(known, key) {
            out.push(UnknownKey {
                path: format!("{path}.{key}"),
                key: key.clone(),
                suggestion: nearest(known, key),
            });
        }
    }
}

/// Range sets: a list of lists of range objects (anything else is the
/// decoder's error to report, not ours).
fn check_range_sets(value: &Value, path: &str, out: &mut Vec<UnknownKey>) {
    let Value::Array(sets) = value else { return };
    for (i, set) in sets.iter().enumerate() {
        let Value::Array(ranges) = set else { continue };
        for (j, range) in ranges.iter().enumerate() {
            if let Value::Object(m) = range {
                check_object(m, &format!("{path}[{i}][{j}]"), RANGE, out);
            }
        }
    }
}

/// Every key podlease does not read in `ipam` (and its ranges and routes)
/// and in `runtimeConfig.ipRanges`, in document order; at most
/// [`MAX_REPORTED`] plus the count of the others.
pub fn unknown_keys(root: &Value) -> (Vec<UnknownKey>, usize) {
    let mut out = Vec::new();
    let Value::Object(top) = root else {
        return (out, 0);
    };
    if let Some(Value::Object(ipam)) = get(top, "ipam") {
        check_object(ipam, "ipam", IPAM, &mut out);
        if let Some(ranges) = get(ipam, "ranges") {
            check_range_sets(ranges, "ipam.ranges", &mut out);
        }
        if let Some(Value::Object(j)) = get(ipam, "journal") {
            check_object(j, "ipam.journal", JOURNAL, &mut out);
        }
        if let Some(Value::Array(pools)) = get(ipam, "pools") {
            for (i, p) in pools.iter().enumerate() {
                if let Value::Object(m) = p {
                    check_object(m, &format!("ipam.pools[{i}]"), POOL, &mut out);
                }
            }
        }
        if let Some(Value::Object(e)) = get(ipam, "etcd") {
            check_object(e, "ipam.etcd", ETCD, &mut out);
        }
        if let Some(Value::Array(routes)) = get(ipam, "routes") {
            for (i, r) in routes.iter().enumerate() {
                if let Value::Object(m) = r {
                    check_object(m, &format!("ipam.routes[{i}]"), ROUTE, &mut out);
                }
            }
        }
    }
    if let Some(Value::Object(rt)) = get(top, "runtimeConfig")
        && let Some(ranges) = get(rt, "ipRanges")
    {
        check_range_sets(ranges, "runtimeConfig.ipRanges", &mut out);
    }
    let more = out.len().saturating_sub(MAX_REPORTED);
    out.truncate(MAX_REPORTED);
    (out, more)
}

/// One line per unknown key, as warnings for stderr.
pub fn warnings(root: &Value) -> Vec<String> {
    let (keys, more) = unknown_keys(root);
    let mut lines: Vec<String> = keys.iter().map(ToString::to_string).collect();
    if more > 0 {
        lines.push(format!("... and {more} more unknown key(s)"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn distances() {
        assert_eq!(distance("rangeStart", "rangeStrat"), 1);
        assert_eq!(distance("exclude", "excludes"), 1);
        assert_eq!(distance("dataDir", "DATADIR"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(nearest(IPAM, "rangeStrat"), Some("rangeStart"));
        assert_eq!(nearest(IPAM, "excludes"), Some("exclude"));
        assert_eq!(nearest(IPAM, "datadir_"), Some("dataDir"));
        assert_eq!(nearest(IPAM, "reclaimOnReboots"), Some("reclaimOnReboot"));
        assert_eq!(nearest(IPAM, "serviceCIDR"), Some("serviceCidrs"));
        assert_eq!(nearest(ROUTE, "gateway"), None);
        assert_eq!(nearest(IPAM, "completelyUnrelated"), None);
    }

    #[test]
    fn finds_unknown_keys_at_every_level() {
        let conf = json!({
            "name": "n", "bridge": "cni0", "isGateway": true,
            "ipam": {
                "type": "podlease", "DataDir": "/x", "excludes": ["10.0.0.5"],
                "ranges": [[{ "subnet": "10.0.0.0/24", "rangeStrat": "10.0.0.10" }]],
                "routes": [{ "dst": "0.0.0.0/0", "via": "10.0.0.1" }]
            },
            "runtimeConfig": { "portMappings": [], "ipRanges": [[{ "subnet": "10.1.0.0/24", "gw": "x" }]] }
        });
        let (keys, more) = unknown_keys(&conf);
        assert_eq!(more, 0);
        let paths: Vec<&str> = keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "ipam.excludes",
                "ipam.ranges[0][0].rangeStrat",
                "ipam.routes[0].via",
                "runtimeConfig.ipRanges[0][0].gw"
            ]
        );
        assert_eq!(
            keys[1].to_string(),
            "ipam.ranges[0][0].rangeStrat: unknown key, ignored (did you mean \"rangeStart\"?)"
        );
        assert_eq!(
            keys[2].to_string(),
            "ipam.routes[0].via: unknown key, ignored"
        );
    }

    /// Every key the decoder reads is known here, so a new field cannot be
    /// warned about as a typo: each string literal passed as the last
    /// argument of a call in the decoder (`ipam.bool("sticky")`,
    /// `opt_ip(obj, "rangeStart")`) is a known key or one of the
    /// levels' names.
    #[test]
    fn the_decoder_reads_only_known_keys() {
        const LEVELS: &[&str] = &["ipam", "runtimeConfig", "ipRanges", "args", "cni", "ips"];
        let src = [include_str!("mod.rs"), include_str!("pools.rs")].concat();
        let mut read = Vec::new();
        for (i, _) in src.match_indices("\")") {
            let before = src.get(..i).unwrap_or_default();
            let Some(open) = before.rfind('"') else {
                continue;
            };
            let key = &before[open + 1..];
            let lead = before[..open].trim_end();
            if !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric())
                && (lead.ends_with('(') || lead.ends_with(','))
            {
                read.push(key);
            }
        }
        assert!(read.len() > 20, "the scan found too few keys: {read:?}");
        for key in read {
            assert!(
                [IPAM, RANGE, ROUTE, JOURNAL, POOL, ETCD, LEVELS]
                    .iter()
                    .any(|l| is_known(l, key)),
                "the decoder reads {key:?}: add it to config::known_keys"
            );
        }
    }

    #[test]
    fn pool_keys_are_known() {
        let conf = json!({
            "ipam": {
                "type": "podlease", "nodeName": "a",
                "pools": [{ "cidr": "10.244.0.0/16", "blockSize": 26, "gateway": "169.254.1.1",
                            "maxBlocks": 3, "minBlocks": 1, "releaseAfterSeconds": 5, "gatway": "x" }],
                "etcd": { "endpoints": ["http://127.0.0.1:2379"], "prefix": "/p", "timeoutSeconds": 3, "endpoint": "x" }
            }
        });
        let (keys, _) = unknown_keys(&conf);
        let found: Vec<(&str, Option<&str>)> = keys
            .iter()
            .map(|k| (k.path.as_str(), k.suggestion))
            .collect();
        assert_eq!(
            found,
            [
                ("ipam.pools[0].gatway", Some("gateway")),
                ("ipam.etcd.endpoint", Some("endpoints"))
            ]
        );
    }

    #[test]
    fn bounded_and_tolerant() {
        let mut ipam = serde_json::Map::new();
        for i in 0..100 {
            ipam.insert(format!("k{i}"), json!(1));
        }
        let (keys, more) = unknown_keys(&json!({ "ipam": ipam }));
        assert_eq!((keys.len(), more), (MAX_REPORTED, 100 - MAX_REPORTED));
        assert_eq!(warnings(&json!({ "ipam": ipam })).len(), MAX_REPORTED + 1);
        for odd in [
            json!(null),
            json!([]),
            json!({ "ipam": 3 }),
            json!({ "ipam": { "ranges": 5, "routes": {} } }),
        ] {
            assert!(unknown_keys(&odd).0.is_empty(), "{odd}");
        }
    }
}
