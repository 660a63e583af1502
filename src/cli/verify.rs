//! `podlease verify [NETWORK]`: a read-only consistency check.

use podlease::admin::AdminError;
use podlease::admin::verify;

use super::render::json;
use super::{Ctx, Failure, Io, network_arg};

/// Check a network's state without changing it: index, address files, recovery, journal
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Example:\n  podlease verify cbr0\n\n",
    "One line per finding: \"problem:\" lines make verify fail; \"notice:\" lines say what the\n",
    "next operation's recovery will do (undo a killed ADD, reboot reclaim, index rebuild).\n",
    "Reads files only, without the lock: works on a read-only mount and changes nothing; a\n",
    "concurrent operation can make a finding stale, so run it again before acting on one.\n\n",
    "Exit status: 0 no problem, 1 problems found (the report is on stdout) or a failure,\n",
    "2 usage error, 3 the network has no state"
))]
pub struct Args {
    /// Only this network
    pub network: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let report = verify(&ctx.admin, network.as_ref())?;
    if ctx.json {
        json(io.out, &report)?;
    } else {
        for n in &report.networks {
            for f in &n.findings {
                let kind = if f.problem { "problem" } else { "notice" };
                writeln!(io.out, "{}: {kind}: {}: {}", n.network, f.check, f.message)?;
            }
        }
        let addresses: usize = report.networks.iter().map(|n| n.addresses).sum();
        let records: usize = report.networks.iter().map(|n| n.journal_records).sum();
        writeln!(
            io.out,
            "{} problem(s) in {} network(s) ({addresses} address file(s), {records} journal record(s))",
            report.problems,
            report.networks.len()
        )?;
    }
    if report.problems > 0 {
        return Err(
            AdminError::Failed(format!("verify found {} problem(s)", report.problems)).into(),
        );
    }
    Ok(())
}
