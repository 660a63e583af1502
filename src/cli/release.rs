//! `podlease release ADDRESS|CONTAINER`.

use std::collections::BTreeSet;

use podlease::admin::{AdminError, AllocationInfo};
use serde::Serialize;

use super::render::{holder, json};
use super::target::{Query, TargetArgs, pod_target, resolve_prefix};
use super::{Ctx, Failure, Io};

/// Release an address, or every address of a container, under the network's lock
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease release 10.22.0.14 --dry-run\n  podlease release 10.22.0.14\n",
    "  podlease release 3f2a9c8b1d4e7 --network cbr0 --ifname eth0\n",
    "  podlease release --pod default/web-0\n\n",
    "An address is released whoever holds it. A container id (or a unique prefix of one) releases\n",
    "every address of the container, or with --ifname those of one interface (and its legacy\n",
    "files, as DEL does); --pod releases those of the one container holding the pod's addresses.\n",
    "A target found in several networks is refused unless --network chooses one. --dry-run prints\n",
    "what would be released and changes nothing.\n\n",
    "Exit status: 0 released (or would be), 1 failure (I/O, lock), 2 usage error or ambiguous\n",
    "target, 3 nothing matched"
))]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print what would be released; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// What `release --dry-run --json` prints.
#[derive(Debug, Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    query: &'a str,
    released: &'a [AllocationInfo],
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let (network, query) = args.target.parse()?;
    let target = match query {
        Query::Pod(pod, ifname) => pod_target(ctx, network.as_ref(), &pod, ifname)?,
        Query::Target(t) => resolve_prefix(ctx, network.as_ref(), t)?,
    };
    if args.dry_run {
        // What release would choose: the same matches, and the same refusal
        // of a target found in several networks.
        let report = ctx.admin.show(&target, network.as_ref())?;
        let networks: BTreeSet<&str> = report.matches.iter().map(|a| a.network.as_str()).collect();
        if networks.len() > 1 {
            let names: Vec<&str> = networks.into_iter().collect();
            return Err(AdminError::Ambiguous(format!(
                "{target} has allocations in several networks ({}): choose one with --network",
                names.join(", ")
            ))
            .into());
        }
        if ctx.json {
            return Ok(json(
                io.out,
                &DryRun {
                    dry_run: true,
                    query: &report.query,
                    released: &report.matches,
                },
            )?);
        }
        for a in &report.matches {
            writeln!(
                io.out,
                "would release {} in network {} ({})",
                a.address,
                a.network,
                holder(a)
            )?;
        }
        writeln!(
            io.out,
            "dry run: would release {} address(es); nothing was changed",
            report.matches.len()
        )?;
        return Ok(());
    }
    let report = ctx.admin.release(&target, network.as_ref())?;
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    for a in &report.released {
        writeln!(
            io.out,
            "released {} in network {} ({})",
            a.address,
            a.network,
            holder(a)
        )?;
    }
    Ok(())
}
