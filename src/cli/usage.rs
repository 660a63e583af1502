//! `podlease usage [NETWORK]`.

use podlease::admin::{NetworkUsage, OwnerKind, RangeSetUsage};

use super::render::{Align, Table, json, percent};
use super::{Ctx, Failure, Io, network_arg};

/// Show the size, used and free addresses of each network and range set
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease usage\n  podlease usage cbr0 --config /etc/cni/net.d/10-cbr0.conflist\n\n",
    "Ranges come from the CNI configs in --conf-dir (*.conf, *.conflist, *.json) whose ipam type is\n",
    "podlease or host-local, or from --config. SIZE counts allocatable addresses: the ranges minus\n",
    "the gateways inside them. Networks with state but no config show USED only.\n\n",
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error,\n",
    "3 the network has neither state nor config"
))]
pub struct Args {
    /// Only this network
    pub network: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let report = ctx.admin.usage(network.as_ref())?;
    for w in &report.warnings {
        writeln!(io.err, "podlease: warning: {w}")?;
    }
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    if report.networks.is_empty() {
        writeln!(io.out, "no networks in {}", report.data_dir.display())?;
        return Ok(());
    }
    let mut t = Table::new(&[
        ("NETWORK", Align::Left),
        ("SET", Align::Right),
        ("RANGES", Align::Left),
        ("SIZE", Align::Right),
        ("USED", Align::Right),
        ("FREE", Align::Right),
        ("USED%", Align::Right),
    ]);
    let mut notes = Vec::new();
    for n in &report.networks {
        network_rows(&mut t, n);
        notes.extend(kind_notes(n));
    }
    t.write(io.out)?;
    for note in notes {
        writeln!(io.out, "{note}")?;
    }
    Ok(())
}

/// The rows of one network: a row per range set, and one for what is
/// outside them (or for everything, when the ranges are unknown).
fn network_rows(t: &mut Table, n: &NetworkUsage) {
    for s in &n.range_sets {
        t.row(set_row(&n.network, s));
    }
    let (why, count) = if n.config.is_none() || n.range_sets.is_empty() {
        let why = if n.config.is_some() {
            "(ranges not parsed)"
        } else {
            "(no config found)"
        };
        (why, n.allocated)
    } else if n.outside_ranges > 0 {
        ("(outside configured ranges)", n.outside_ranges)
    } else {
        return;
    };
    let dash = || "-".to_owned();
    t.row(vec![
        n.network.clone(),
        dash(),
        why.into(),
        dash(),
        count.to_string(),
        dash(),
        dash(),
    ]);
}

fn set_row(network: &str, s: &RangeSetUsage) -> Vec<String> {
    let ranges: Vec<String> = s
        .ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end))
        .collect();
    vec![
        network.to_owned(),
        s.index.to_string(),
        ranges.join(","),
        s.size.to_string(),
        s.used.to_string(),
        s.free.to_string(),
        percent(s.percent_used, s.used),
    ]
}

/// Notes about allocations not held by an attachment.
fn kind_notes(n: &NetworkUsage) -> Vec<String> {
    [OwnerKind::Legacy, OwnerKind::Empty, OwnerKind::Unknown]
        .into_iter()
        .filter_map(|k| {
            let c = n.by_kind.get(k);
            let what = match k {
                OwnerKind::Legacy => "legacy (container id only)",
                OwnerKind::Empty => "empty",
                _ => "unrecognised",
            };
            (c > 0).then(|| {
                format!(
                    "note: network {} has {c} {what} allocation file(s); see podlease list {}",
                    n.network, n.network
                )
            })
        })
        .collect()
}
