//! `podlease metrics`: Prometheus text exposition format, for node_exporter's
//! textfile collector or any scraper of files.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use podlease::admin::{JournalCounts, journal_counts};
use podlease::admin::{OwnerKind, UsageReport};
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

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// The exposition text of a usage report.
pub fn render(report: &UsageReport) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "podlease_addresses_allocated",
        "Allocated addresses by network and range set (range_set=\"none\": outside every configured range set, or no config found).",
    );
    for n in &report.networks {
        let net = label(&n.network);
        for s in &n.range_sets {
            let _ = writeln!(
                out,
                "podlease_addresses_allocated{{network=\"{net}\",range_set=\"{}\"}} {}",
                s.index, s.used
            );
        }
        let none = if n.range_sets.is_empty() {
            n.allocated
        } else {
            n.outside_ranges
        };
        let _ = writeln!(
            out,
            "podlease_addresses_allocated{{network=\"{net}\",range_set=\"none\"}} {none}"
        );
    }
    family(
        &mut out,
        "podlease_addresses_capacity",
        "Allocatable addresses of a range set: its ranges minus the gateways inside them.",
    );
    for n in &report.networks {
        for s in &n.range_sets {
            let _ = writeln!(
                out,
                "podlease_addresses_capacity{{network=\"{}\",range_set=\"{}\"}} {}",
                label(&n.network),
                s.index,
                s.size
            );
        }
    }
    family(
        &mut out,
        "podlease_addresses_free",
        "Allocatable addresses of a range set that are not allocated.",
    );
    for n in &report.networks {
        for s in &n.range_sets {
            let _ = writeln!(
                out,
                "podlease_addresses_free{{network=\"{}\",range_set=\"{}\"}} {}",
                label(&n.network),
                s.index,
                s.free
            );
        }
    }
    family(
        &mut out,
        "podlease_allocations_by_owner_kind",
        "Allocations by what their file names: attachment (id and ifname), legacy (id only), empty, unknown.",
    );
    for n in &report.networks {
        for k in OwnerKind::ALL {
            let _ = writeln!(
                out,
                "podlease_allocations_by_owner_kind{{network=\"{}\",kind=\"{}\"}} {}",
                label(&n.network),
                k.as_str(),
                n.by_kind.get(k)
            );
        }
    }
    family(
        &mut out,
        "podlease_network_config_found",
        "Whether a CNI config with the network's ranges was found (1) or not (0).",
    );
    for n in &report.networks {
        let found = u8::from(!n.range_sets.is_empty());
        let _ = writeln!(
            out,
            "podlease_network_config_found{{network=\"{}\"}} {found}",
            label(&n.network)
        );
    }
    out
}

/// The journal's gauges.
pub fn render_journal(counts: &[JournalCounts]) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "podlease_journal_allocations",
        "Allocation records the address journal holds (add: ADD; external: found by an index rebuild); drops when old files rotate away.",
    );
    for c in counts {
        for r in [Reason::Add, Reason::External] {
            let _ = writeln!(
                out,
                "podlease_journal_allocations{{network=\"{}\",reason=\"{}\"}} {}",
                label(&c.network),
                r.as_str(),
                c.allocations.get(&r).copied().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "podlease_journal_releases",
        "Release records the address journal holds, by reason: del, gc, reclaim (earlier boot), recovery (killed ADD), operator (podlease release), external; drops when old files rotate away.",
    );
    for c in counts {
        for r in Reason::ALL.into_iter().filter(|r| *r != Reason::Add) {
            let _ = writeln!(
                out,
                "podlease_journal_releases{{network=\"{}\",reason=\"{}\"}} {}",
                label(&c.network),
                r.as_str(),
                c.releases.get(&r).copied().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "podlease_journal_last_automatic_release_seconds",
        "Unix time of the newest automatic release (reclaim or recovery) in the journal; 0 if none.",
    );
    for c in counts {
        let _ = writeln!(
            out,
            "podlease_journal_last_automatic_release_seconds{{network=\"{}\"}} {}",
            label(&c.network),
            seconds(c.last_automatic_release)
        );
    }
    family(
        &mut out,
        "podlease_journal_begins_seconds",
        "Unix time of the oldest record the journal keeps; 0 if it is empty.",
    );
    for c in counts {
        let _ = writeln!(
            out,
            "podlease_journal_begins_seconds{{network=\"{}\"}} {}",
            label(&c.network),
            seconds(c.begins)
        );
    }
    out
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
