//! `podlease metrics`: Prometheus text exposition format, for node_exporter's
//! textfile collector or any scraper of files.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use podlease::admin::{JournalCounts, journal_counts};
use podlease::admin::{OwnerKind, RangeSetUsage, UsageReport};
use podlease::journal::Reason;

use super::{Ctx, Failure, Io};

/// Print allocation gauges in the Prometheus text format
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Example:\n  podlease metrics --output /var/lib/node_exporter/textfile/podlease.prom\n\n",
    "Gauges: podlease_addresses_allocated, podlease_addresses_capacity, podlease_addresses_free\n",
    "{network, range_set} (range_set=\"none\": outside every configured range set or no config),\n",
    "podlease_allocations_by_owner_kind{network, kind}, podlease_network_config_found{network}.\n",
    "From the address journal (the records it still keeps, so they drop when old files rotate\n",
    "away): podlease_journal_allocations and\n",
    "podlease_journal_releases{network, reason}, podlease_journal_last_automatic_release_seconds\n",
    "and podlease_journal_begins_seconds{network}.\n",
    "With --output the file is replaced atomically (temporary file, then rename); on failure the\n",
    "old file is left as it was.\n\n",
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error"
))]
pub struct Args {
    /// Write to this file atomically instead of stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let report = ctx.admin.usage(None)?;
    for w in &report.warnings {
        writeln!(io.err, "podlease: warning: {w}")?;
    }
    let mut text = render(&report);
    text.push_str(&render_journal(&journal_counts(&ctx.admin)?));
    match &args.output {
        None => Ok(io.out.write_all(text.as_bytes())?),
        Some(path) => write_atomically(path, &text)
            .map_err(|e| Failure::Input(format!("cannot write {}: {e}", path.display()))),
    }
}

/// A label value, escaped as the format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One gauge: its HELP and TYPE lines, then a sample per (labels, value).
fn gauge<L: Display, V: Display>(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// The labels of a network's sample.
fn net(network: &str) -> String {
    format!("network=\"{}\"", label(network))
}

/// The labels of a network's sample with one more label.
fn net_and(network: &str, key: &str, value: impl Display) -> String {
    format!("{},{key}=\"{value}\"", net(network))
}

/// The exposition text of a usage report.
pub fn render(report: &UsageReport) -> String {
    let mut out = String::new();
    let nets = &report.networks;
    let per_set = |value: fn(&RangeSetUsage) -> u128| {
        nets.iter().flat_map(move |n| {
            n.range_sets
                .iter()
                .map(move |s| (net_and(&n.network, "range_set", s.index), value(s)))
        })
    };
    let allocated = nets.iter().flat_map(|n| {
        let none = if n.range_sets.is_empty() {
            n.allocated
        } else {
            n.outside_ranges
        };
        n.range_sets
            .iter()
            .map(|s| (net_and(&n.network, "range_set", s.index), s.used))
            .chain([(net_and(&n.network, "range_set", "none"), none as u128)])
    });
    gauge(
        &mut out,
        "podlease_addresses_allocated",
        "Allocated addresses by network and range set (range_set=\"none\": outside every configured range set, or no config found).",
        allocated,
    );
    gauge(
        &mut out,
        "podlease_addresses_capacity",
        "Allocatable addresses of a range set: its ranges minus the gateways inside them.",
        per_set(|s| s.size),
    );
    gauge(
        &mut out,
        "podlease_addresses_free",
        "Allocatable addresses of a range set that are not allocated.",
        per_set(|s| s.free),
    );
    gauge(
        &mut out,
        "podlease_allocations_by_owner_kind",
        "Allocations by what their file names: attachment (id and ifname), legacy (id only), empty, unknown.",
        nets.iter().flat_map(|n| {
            OwnerKind::ALL
                .into_iter()
                .map(|k| (net_and(&n.network, "kind", k.as_str()), n.by_kind.get(k)))
        }),
    );
    gauge(
        &mut out,
        "podlease_network_config_found",
        "Whether a CNI config with the network's ranges was found (1) or not (0).",
        nets.iter()
            .map(|n| (net(&n.network), u8::from(!n.range_sets.is_empty()))),
    );
    out
}

/// The journal's gauges.
pub fn render_journal(counts: &[JournalCounts]) -> String {
    let mut out = String::new();
    let releases: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| *r != Reason::Add)
        .collect();
    gauge(
        &mut out,
        "podlease_journal_allocations",
        "Allocation records the address journal holds (add: ADD; external: found by an index rebuild); drops when old files rotate away.",
        by_reason(counts, |c| &c.allocations, &[Reason::Add, Reason::External]),
    );
    gauge(
        &mut out,
        "podlease_journal_releases",
        "Release records the address journal holds, by reason: del, gc, reclaim (earlier boot), recovery (killed ADD), operator (podlease release), external; drops when old files rotate away.",
        by_reason(counts, |c| &c.releases, &releases),
    );
    gauge(
        &mut out,
        "podlease_journal_last_automatic_release_seconds",
        "Unix time of the newest automatic release (reclaim or recovery) in the journal; 0 if none.",
        counts
            .iter()
            .map(|c| (net(&c.network), seconds(c.last_automatic_release))),
    );
    gauge(
        &mut out,
        "podlease_journal_begins_seconds",
        "Unix time of the oldest record the journal keeps; 0 if it is empty.",
        counts.iter().map(|c| (net(&c.network), seconds(c.begins))),
    );
    out
}

/// One sample per network and reason: the count `map` gives.
fn by_reason(
    counts: &[JournalCounts],
    map: fn(&JournalCounts) -> &BTreeMap<Reason, u64>,
    reasons: &[Reason],
) -> Vec<(String, u64)> {
    counts
        .iter()
        .flat_map(|c| {
            reasons.iter().map(move |r| {
                let n = map(c).get(r).copied().unwrap_or(0);
                (net_and(&c.network, "reason", r.as_str()), n)
            })
        })
        .collect()
}

fn seconds(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "0".into(),
        |ms| format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000)),
    )
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`: a reader sees the old file or the new one, never a part.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    // Not ending in .prom, so the textfile collector never reads a part.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use podlease::admin::{KindCounts, NetworkUsage};

    #[test]
    fn exposition_text() {
        let set = |index: usize, used: u128| RangeSetUsage {
            index,
            ranges: Vec::new(),
            size: 253,
            used,
            free: 253 - used,
            percent_used: 1.0,
        };
        let network = |name: &str, sets: Vec<RangeSetUsage>| NetworkUsage {
            network: name.into(),
            config: None,
            allocated: 4,
            outside_ranges: 2,
            by_kind: KindCounts {
                legacy: 1,
                ..KindCounts::default()
            },
            range_sets: sets,
        };
        let report = UsageReport {
            data_dir: "/x".into(),
            networks: vec![network("a\"b", vec![set(0, 3)]), network("bare", vec![])],
            warnings: vec![],
        };
        let text = render(&report);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                r#"podlease_addresses_allocated{network="a\"b",range_set="0"} 3"#,
                r#"podlease_addresses_allocated{network="a\"b",range_set="none"} 2"#,
                r#"podlease_addresses_allocated{network="bare",range_set="none"} 4"#,
                r#"podlease_addresses_capacity{network="a\"b",range_set="0"} 253"#,
                r#"podlease_addresses_free{network="a\"b",range_set="0"} 250"#,
                r#"podlease_allocations_by_owner_kind{network="a\"b",kind="attachment"} 0"#,
                r#"podlease_allocations_by_owner_kind{network="a\"b",kind="legacy"} 1"#,
                r#"podlease_allocations_by_owner_kind{network="a\"b",kind="empty"} 0"#,
                r#"podlease_allocations_by_owner_kind{network="a\"b",kind="unknown"} 0"#,
                r#"podlease_allocations_by_owner_kind{network="bare",kind="attachment"} 0"#,
                r#"podlease_allocations_by_owner_kind{network="bare",kind="legacy"} 1"#,
                r#"podlease_allocations_by_owner_kind{network="bare",kind="empty"} 0"#,
                r#"podlease_allocations_by_owner_kind{network="bare",kind="unknown"} 0"#,
                r#"podlease_network_config_found{network="a\"b"} 1"#,
                r#"podlease_network_config_found{network="bare"} 0"#,
            ]
        );
        assert_eq!(text.matches("# TYPE ").count(), 5);
        let mut c = JournalCounts {
            network: "n".into(),
            begins: Some(1_234_567),
            ..JournalCounts::default()
        };
        c.releases.insert(Reason::Gc, 2);
        let text = render_journal(&[c]);
        assert!(text.contains("podlease_journal_allocations{network=\"n\",reason=\"add\"} 0\n"));
        assert!(text.contains("podlease_journal_releases{network=\"n\",reason=\"gc\"} 2\n"));
        assert!(text.contains("podlease_journal_begins_seconds{network=\"n\"} 1234.567\n"));
        assert!(
            text.contains("podlease_journal_last_automatic_release_seconds{network=\"n\"} 0\n")
        );
        assert_eq!(text.matches("podlease_journal_releases{").count(), 6);
    }
}
