//! `podlease release ADDRESS|CONTAINER`.

use super::render::{holder, json};
use super::{Ctx, Failure, Io};

/// Release an address, or every address of a container, under the network's lock
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease release 10.22.0.14\n  podlease release 3f2a9c... --network cbr0 --ifname eth0\n\n",
    "An address is released whoever holds it. A container id releases every address of the\n",
    "container, or with --ifname those of one interface (and its legacy files, as DEL does).\n",
    "A target found in several networks is refused unless --network chooses one.\n\n",
    "Exit status: 0 released, 1 failure (I/O, lock), 2 usage error or ambiguous target,\n",
    "3 nothing matched"
))]
pub struct Args {
    #[command(flatten)]
    pub target: super::TargetArgs,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let (network, target) = args.target.parse()?;
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
