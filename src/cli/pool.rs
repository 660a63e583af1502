//! `podlease pool show|nodes|release-node|gc|routes`: cluster pools in etcd.

use podlease::admin::AdminError;
use podlease::config::pools::PoolsConfig;
use podlease::ids::NetworkName;
use podlease::pool::{PoolError, admin};

use super::render::{Align, Table, json};
use super::{Ctx, Failure, Io, network_arg};

/// Cluster pools: blocks leased from etcd (see docs/cluster-pools.md)
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease pool show --config /etc/cni/net.d/10-pods.conflist\n",
    "  podlease pool routes | while read -r r; do ip route replace $r; done\n",
    "  podlease pool release-node node-7 --force\n\n",
    "The etcd settings come from the network's config (--config, or --conf-dir);\n",
    "--network picks one when several networks use pools.\n\n",
    "Exit status: 0 success, 1 failure (etcd, I/O), 2 usage error"
))]
pub struct Args {
    /// The network whose pool config to use
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Every block of the pools: owner, network, claim revision; used/free for this host's
    Show,
    /// Registered nodes: uid, addresses, blocks held
    Nodes,
    /// Fence a dead node (delete its identity) and release all its blocks
    ReleaseNode {
        /// The node's name
        node: String,
        /// Required: the node must be gone for good (its containers would
        /// keep addresses another node may then receive)
        #[arg(long)]
        force: bool,
    },
    /// Release this node's blocks that stayed empty for releaseAfterSeconds (keeps minBlocks)
    Gc,
    /// `ip route` arguments for other nodes' blocks via their registered addresses
    Routes,
}

fn failed(e: &PoolError) -> Failure {
    Failure::Admin(AdminError::Failed(e.to_string()))
}

/// The pool config of the chosen network.
fn pick(ctx: &Ctx, network: Option<&NetworkName>) -> Result<(NetworkName, PoolsConfig), Failure> {
    let mut found: Vec<(NetworkName, PoolsConfig)> = ctx
        .admin
        .configs
        .names()
        .filter(|n| network.is_none_or(|want| want == *n))
        .filter_map(|n| {
            let pools = ctx.admin.configs.get(n)?.ipam.as_ref()?.pools.clone()?;
            Some((n.clone(), pools))
        })
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failure::Usage(
            "no network with ipam.pools found: pass its config with --config FILE (or --conf-dir)"
                .into(),
        )),
        _ => Err(Failure::Usage(format!(
            "several networks use pools ({}): pick one with --network",
            found
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let (network, cfg) = pick(ctx, network.as_ref())?;
    match &args.command {
        Sub::Show => show(ctx, &cfg, &network, io),
        Sub::Nodes => nodes(ctx, &cfg, io),
        Sub::ReleaseNode { node, force } => release_node(ctx, &cfg, node, *force, io),
        Sub::Gc => gc(ctx, &cfg, &network, io),
        Sub::Routes => routes(ctx, &cfg, io),
    }
}

fn show(
    ctx: &Ctx,
    cfg: &PoolsConfig,
    network: &NetworkName,
    io: &mut Io<'_>,
) -> Result<(), Failure> {
    let blocks = admin::show(cfg, Some(network)).map_err(|e| failed(&e))?;
    if ctx.json {
        return Ok(json(io.out, &blocks)?);
    }
    let mut t = Table::new(&[
        ("POOL", Align::Left),
        ("BLOCK", Align::Left),
        ("NODE", Align::Left),
        ("NETWORK", Align::Left),
        ("CLAIM-REV", Align::Right),
        ("USED", Align::Right),
        ("FREE", Align::Right),
        ("STATE", Align::Left),
    ]);
    let dash = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for b in blocks {
        t.row(vec![
            b.pool,
            b.cidr,
            b.node,
            b.network,
            b.claim_rev.to_string(),
            dash(b.used),
            dash(b.free),
            b.state.unwrap_or_else(|| "-".into()),
        ]);
    }
    Ok(t.write(io.out)?)
}

fn nodes(ctx: &Ctx, cfg: &PoolsConfig, io: &mut Io<'_>) -> Result<(), Failure> {
    let nodes = admin::nodes(cfg).map_err(|e| failed(&e))?;
    if ctx.json {
        return Ok(json(io.out, &nodes)?);
    }
    let mut t = Table::new(&[
        ("NODE", Align::Left),
        ("UID", Align::Left),
        ("BLOCKS", Align::Right),
        ("ADDRESSES", Align::Left),
    ]);
    for n in nodes {
        t.row(vec![
            n.node,
            n.uid.unwrap_or_else(|| "- (fenced)".into()),
            n.blocks.to_string(),
            n.addresses.join(","),
        ]);
    }
    Ok(t.write(io.out)?)
}

fn release_node(
    ctx: &Ctx,
    cfg: &PoolsConfig,
    node: &str,
    force: bool,
    io: &mut Io<'_>,
) -> Result<(), Failure> {
    if !force {
        return Err(Failure::Usage(format!(
            "release-node hands {node}'s blocks to other nodes: its containers must be gone for good. Add --force if they are"
        )));
    }
    let released = admin::release_node(cfg, node).map_err(|e| failed(&e))?;
    if ctx.json {
        return Ok(json(io.out, &released)?);
    }
    writeln!(
        io.out,
        "node {node} fenced; released {} block(s){}{}",
        released.len(),
        if released.is_empty() { "" } else { ": " },
        released.join(", ")
    )?;
    Ok(())
}

fn gc(ctx: &Ctx, cfg: &PoolsConfig, network: &NetworkName, io: &mut Io<'_>) -> Result<(), Failure> {
    let actions = admin::gc(cfg, network, &ctx.admin.opts).map_err(|e| failed(&e))?;
    if ctx.json {
        return Ok(json(io.out, &actions)?);
    }
    for a in actions {
        writeln!(io.out, "{}  {}", a.cidr, a.action)?;
    }
    Ok(())
}

fn routes(ctx: &Ctx, cfg: &PoolsConfig, io: &mut Io<'_>) -> Result<(), Failure> {
    let routes = admin::routes(cfg).map_err(|e| failed(&e))?;
    if ctx.json {
        return Ok(json(io.out, &routes)?);
    }
    for r in routes {
        writeln!(io.out, "{r}")?;
    }
    Ok(())
}
