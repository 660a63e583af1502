//! `podlease gc --keep FILE|-`.

use std::io::Read;
use std::path::PathBuf;

use podlease::ops::admin::parse_keep;

use super::render::{holder, json};
use super::{Ctx, Failure, Io, network_arg};

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
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error or invalid keep list,\n",
    "3 the network has no state"
))]
pub struct Args {
    /// The attachments to keep: a file, or - for stdin
    #[arg(long, value_name = "FILE|-")]
    pub keep: PathBuf,
    /// Only this network (default: every network under the data directory)
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
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
    let report = ctx.admin.gc(&keep, network.as_ref(), args.dry_run)?;
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
