//! `podlease show ADDRESS|CONTAINER` and `podlease show --pod NAMESPACE/NAME`.

use std::io::Write;

use podlease::admin::{AllocationInfo, OwnerKind};

use super::render::{json, or_dash};
use super::target::{Query, TargetArgs, pod_report, resolve_prefix};
use super::{Ctx, Failure, Io};

/// Show who holds an address, or every address of a container
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease show 10.22.0.14\n  podlease show 3f2a9c8b1d4e7 --network cbr0 --ifname eth0\n",
    "  podlease show --pod default/web-0\n\n",
    "An argument that looks like an IP address is an address (a malformed one is a usage error);\n",
    "use --container for a container id that looks like one. A container id may be given as a\n",
    "unique prefix, as crictl, podman and docker print it.\n\n",
    "Exit status: 0 success, 1 failure (I/O, lock), 2 usage error, 3 nothing matched"
))]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let (network, query) = args.target.parse()?;
    let report = match query {
        Query::Pod(pod, ifname) => pod_report(ctx, network.as_ref(), &pod, ifname.as_ref())?,
        Query::Target(target) => {
            let target = resolve_prefix(ctx, network.as_ref(), target)?;
            ctx.admin.show(&target, network.as_ref())?
        }
    };
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    for (i, a) in report.matches.iter().enumerate() {
        if i > 0 {
            writeln!(io.out)?;
        }
        write_details(io.out, a)?;
    }
    Ok(())
}

fn write_details(w: &mut dyn Write, a: &AllocationInfo) -> std::io::Result<()> {
    let owner = match a.kind {
        OwnerKind::Attachment => "attachment (container id and interface)",
        OwnerKind::Legacy => {
            "legacy (container id only: held for every interface of the container)"
        }
        OwnerKind::Empty => "empty file (blocked: kept out of use until released on request)",
        OwnerKind::Unknown => "unknown (unrecognised or unreadable content; blocked)",
    };
    let range_set = a.range_set.map_or_else(
        || "- (no config, or outside every configured range)".to_owned(),
        |i| i.to_string(),
    );
    let mut lines = vec![
        ("network", a.network.clone()),
        ("address", a.address.to_string()),
        ("owner", owner.to_owned()),
        ("container id", or_dash(a.container_id.as_deref())),
        ("ifname", or_dash(a.ifname.as_deref())),
    ];
    if let Some(content) = &a.content {
        lines.push(("content", format!("{content:?}")));
    }
    lines.extend([
        ("pod", or_dash(a.pod.as_deref())),
        ("allocated at", a.allocated_at.clone()),
        ("range set", range_set),
        ("file", a.file.display().to_string()),
        ("state", super::render::state_cell(a)),
    ]);
    if let Some(why) = &a.pending_reason {
        lines.push(("recovery", why.clone()));
    }
    for (k, v) in lines {
        writeln!(w, "{:<14}{v}", format!("{k}:"))?;
    }
    Ok(())
}
