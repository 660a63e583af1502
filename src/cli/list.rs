//! `podlease list [NETWORK]`.

use super::render::{Align, Table, container_cell, ifname_cell, json, or_dash, state_cell};
use super::target::short_id;
use super::{Ctx, Failure, Io, network_arg};
use podlease::admin::OwnerKind;

/// List the allocated addresses of every network, or of one
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Example:\n  podlease list cbr0 --data-dir /var/lib/cni/networks\n\n",
    "Legacy files (container id only, host-local before 2018) show \"(legacy: any)\" as the interface;\n",
    "files with no or unrecognised content are shown as such. Container ids are cut to 13\n",
    "characters, as crictl prints them (show and release accept that prefix); --no-trunc prints them\n",
    "whole, as --json does.\n",
    "\n",
    "STATE: held; blocked (the file names no attachment, e.g. an operator's touch: the address\n",
    "stays out of use until `podlease release` or GC removes it); to-release (killed-add or\n",
    "reboot-reclaim): what the next CNI operation's recovery will release. list never changes\n",
    "anything, and works on a read-only mount.\n\n",
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error, 3 the network has no state"
))]
pub struct Args {
    /// Only this network
    pub network: Option<String>,
    /// Print whole container ids
    #[arg(long)]
    pub no_trunc: bool,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let report = ctx.admin.list(network.as_ref())?;
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    if report.allocations.is_empty() {
        writeln!(io.out, "no allocations in {}", report.data_dir.display())?;
        return Ok(());
    }
    let mut t = Table::new(&[
        ("NETWORK", Align::Left),
        ("ADDRESS", Align::Left),
        ("CONTAINER", Align::Left),
        ("IFNAME", Align::Left),
        ("POD", Align::Left),
        ("ALLOCATED", Align::Left),
        ("STATE", Align::Left),
    ]);
    for a in &report.allocations {
        t.row(vec![
            a.network.clone(),
            a.address.to_string(),
            match a.kind {
                OwnerKind::Attachment | OwnerKind::Legacy if !args.no_trunc => {
                    short_id(&container_cell(a))
                }
                _ => container_cell(a),
            },
            ifname_cell(a),
            or_dash(a.pod.as_deref()),
            a.allocated_at.clone(),
            state_cell(a),
        ]);
    }
    Ok(t.write(io.out)?)
}
