//! `podlease gc --keep FILE|-`.

use std::io::Read;
use std::path::PathBuf;

use std::time::Duration;

use podlease::admin::parse_keep;
use podlease::ops::gc::KeepRule;

use super::render::{holder, json};
use super::{Ctx, Failure, Io, network_arg};

/// Default of `--min-age`: longer than any pipeline from taking the keep
/// list to running gc, short enough to collect leaks promptly.
const DEFAULT_MIN_AGE: Duration = Duration::from_secs(300);

/// `--min-age`: seconds, or a number with `s`, `m`, `h` or `d`.
fn parse_age(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age such as 300, 300s, 5m, 1h or 1d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Largest keep list read.
const MAX_KEEP: u64 = 64 << 20;

/// Release every allocation whose attachment is not in a keep list
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease gc --keep attachments.txt --network cbr0 --dry-run\n",
    "  crictl pods -q | sed 's/$/ eth0/' | podlease gc --keep - --network cbr0\n\n",
    "The keep list is either text, one \"containerID ifname\" per line ('#' starts a comment), or\n",
    "JSON: a list of {\"containerID\": ..., \"ifname\": ...} as in CNI's cni.dev/valid-attachments\n",
    "(an object holding that key is accepted too). Legacy files (container id only) are kept when\n",
    "their container has any kept attachment. Files with no or unrecognised content are released.\n",
    "An empty keep list would release everything: it is refused without --allow-empty.\n\n",
    "The keep list is a snapshot: a pod created after it was taken is not in it. So an allocation\n",
    "younger than --min-age (default 5m) is always kept; listing and releasing then happen under\n",
    "one lock per network. A keep list names the interfaces of one network (eth0 of the pods'\n",
    "network, net1 of a Multus attachment...), so --network or, explicitly, --all-networks is required.\n\n",
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error or invalid keep list,\n",
    "3 the network has no state"
))]
pub struct Args {
    /// The attachments to keep: a file, or - for stdin
    #[arg(long, value_name = "FILE|-")]
    pub keep: PathBuf,
    /// The network whose allocations the keep list covers
    #[arg(long, value_name = "NETWORK", required_unless_present = "all_networks")]
    pub network: Option<String>,
    /// Apply the keep list to every network under the data directory
    #[arg(long, conflicts_with = "network")]
    pub all_networks: bool,
    /// Keep every allocation younger than this: 300, 300s, 5m, 1h, 0 [default: 5m]
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub min_age: Option<Duration>,
    /// Print what would be released; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Accept an empty keep list (releases every allocation)
    #[arg(long)]
    pub allow_empty: bool,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let mut text = String::new();
    let read = if args.keep.as_os_str() == "-" {
        io.stdin.take(MAX_KEEP).read_to_string(&mut text)
    } else {
        std::fs::File::open(&args.keep).and_then(|f| f.take(MAX_KEEP).read_to_string(&mut text))
    };
    read.map_err(|e| {
        Failure::Input(format!(
            "cannot read the keep list {}: {e}",
            args.keep.display()
        ))
    })?;
    let keep = parse_keep(&text)?;
    if keep.is_empty() && !args.allow_empty && !args.dry_run {
        return Err(Failure::Usage(
            "the keep list is empty, which would release every allocation; pass --allow-empty if that is intended".into(),
        ));
    }
    let rule = KeepRule::new(&keep, Some(args.min_age.unwrap_or(DEFAULT_MIN_AGE)));
    let report = ctx.admin.gc(&rule, network.as_ref(), args.dry_run)?;
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    let verb = if report.dry_run {
        "would release"
    } else {
        "released"
    };
    let (mut released, mut kept) = (0, 0);
    for n in &report.networks {
        for a in &n.released {
            writeln!(
                io.out,
                "{verb} {} in network {} ({})",
                a.address,
                a.network,
                holder(a)
            )?;
        }
        released += n.released.len();
        kept += n.kept;
    }
    writeln!(
        io.out,
        "{}{verb} {released} address(es), kept {kept}, in {} network(s)",
        if report.dry_run { "dry run: " } else { "" },
        report.networks.len()
    )?;
    Ok(())
}
