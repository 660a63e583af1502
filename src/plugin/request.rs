//! One typed request per command: the attachment, the network and the part
//! of the config each command reads, and the call into [`crate::ops`].
//!
//! Each command reads its config its own way: DEL and GC only what releasing
//! needs ([`ReleaseConfig`]: DEL must release even when the config or
//! `CNI_ARGS` went bad since ADD); ADD and CHECK the whole `ipam` section with
//! `CNI_ARGS`; STATUS the whole section, a missing node range being "not
//! available" rather than a bad config.

use serde_json::Value;

use super::args::CniArgs;
use super::error::{InvocationError, PluginError};
use super::invocation::{Command, Invocation};
use super::network::NetworkConfig;
use super::result;
use super::store_options::StorePolicy;
use crate::config::SpecVersion;
use crate::config::{ConfigError, IpamConfig, ReleaseConfig, go_get};
use crate::ids::{Attachment, NetworkName};
use crate::ops;
use crate::ops::error::Error as OpError;
use crate::ops::gc::ValidAttachment;
use crate::store::StoreOptions;

/// What the runtime asked for, ready to run.
#[derive(Debug, Clone)]
pub enum Request {
    /// ADD: allocate for `who`.
    Add {
        /// The network.
        network: NetworkName,
        /// The attachment.
        who: Attachment,
        /// The config with `CNI_ARGS`' requests.
        cfg: IpamConfig,
        /// `namespace/name` from `CNI_ARGS`, recorded with the allocation.
        pod: Option<String>,
        /// The version the result is written in.
        version: SpecVersion,
    },
    /// DEL: release what `who` holds.
    Del {
        /// The network.
        network: NetworkName,
        /// The attachment.
        who: Attachment,
        /// What releasing needs.
        cfg: ReleaseConfig,
    },
    /// CHECK: `who` holds what the config and `prevResult` say.
    Check {
        /// The network.
        network: NetworkName,
        /// The attachment.
        who: Attachment,
        /// The config, with the node's pool blocks as range sets.
        cfg: IpamConfig,
        /// The `prevResult` to compare with.
        prev_result: Option<Value>,
    },
    /// GC: release what no valid attachment holds.
    Gc {
        /// The network.
        network: NetworkName,
        /// `cni.dev/valid-attachments`.
        keep: Vec<ValidAttachment>,
        /// What releasing needs.
        cfg: ReleaseConfig,
    },
    /// STATUS: whether ADD can be served.
    Status {
        /// The network.
        network: NetworkName,
        /// The config, with the node's full pools as range sets.
        cfg: IpamConfig,
    },
    /// VERSION: the versions we speak.
    Version,
}

impl Request {
    /// Reads the request of `invocation` from the network config.
    ///
    /// # Errors
    /// The command's config section or `CNI_ARGS` is invalid, or a pool's
    /// local state cannot be read.
    pub fn read(invocation: Invocation, net: &NetworkConfig) -> Result<Self, PluginError> {
        let network = net.name.clone();
        match (invocation.command, invocation.attachment) {
            (Command::Add, Some(who)) => read_add(network, who, net, &invocation.cni_args),
            (Command::Del, Some(who)) => Ok(Self::Del {
                network,
                who,
                cfg: ReleaseConfig::parse(&net.root)?,
            }),
            (Command::Check, Some(who)) => read_check(network, who, net, &invocation.cni_args),
            (Command::Gc, _) => read_gc(network, &net.root),
            (Command::Status, _) => read_status(network, net),
            (Command::Version, _) => Ok(Self::Version),
            (Command::Add | Command::Del | Command::Check, None) => {
                Err(InvocationError::NoAttachment.into())
            }
        }
    }

    /// What the store's options take from the config.
    pub fn policy(&self) -> StorePolicy {
        match self {
            Self::Add { cfg, .. } | Self::Check { cfg, .. } | Self::Status { cfg, .. } => {
                StorePolicy::of_ipam(cfg)
            }
            Self::Del { cfg, .. } | Self::Gc { cfg, .. } => StorePolicy::of_release(cfg),
            Self::Version => StorePolicy::default(),
        }
    }

    /// Runs the request; the bytes for stdout on success.
    ///
    /// # Errors
    /// What the operation returns.
    pub fn execute(self, opts: &StoreOptions) -> Result<Vec<u8>, PluginError> {
        match self {
            Self::Add {
                network,
                who,
                cfg,
                pod,
                version,
            } => {
                let result = ops::add(&network, &who, &cfg, pod, opts)?;
                return Ok(result::encode(&result, version));
            }
            Self::Del { network, who, cfg } => ops::del(&network, &who, &cfg, opts)?,
            Self::Check {
                network,
                who,
                cfg,
                prev_result,
            } => ops::check(&network, &who, &cfg, prev_result.as_ref(), opts)?,
            Self::Gc { network, keep, cfg } => {
                ops::gc(&network, &keep, &cfg, opts)?;
            }
            Self::Status { network, cfg } => ops::status(&network, &cfg, opts)?,
            Self::Version => return Ok(super::version::version_info().into_bytes()),
        }
        Ok(Vec::new())
    }
}

/// `CNI_ARGS` and the config, whose requested addresses include CNI_ARGS'
/// `IP=` (ADD and CHECK read both).
fn parse_with_args(
    net: &NetworkConfig,
    cni_args: &str,
) -> Result<(CniArgs, IpamConfig), PluginError> {
    let args = CniArgs::parse(cni_args)?;
    let cfg = IpamConfig::parse(&net.root, net.version, &args.ips)?;
    Ok((args, cfg))
}

fn read_add(
    network: NetworkName,
    who: Attachment,
    net: &NetworkConfig,
    cni_args: &str,
) -> Result<Request, PluginError> {
    let (args, cfg) = parse_with_args(net, cni_args)?;
    let pod = match (&args.pod_namespace, &args.pod_name) {
        (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
        _ => None,
    };
    Ok(Request::Add {
        network,
        who,
        cfg,
        pod,
        version: net.version,
    })
}

fn read_check(
    network: NetworkName,
    who: Attachment,
    net: &NetworkConfig,
    cni_args: &str,
) -> Result<Request, PluginError> {
    let (_, cfg) = parse_with_args(net, cni_args)?;
    let cfg = crate::pool::for_check(&cfg, &network)?.unwrap_or(cfg);
    let prev_result = net.top().and_then(|t| go_get(t, "prevResult")).cloned();
    Ok(Request::Check {
        network,
        who,
        cfg,
        prev_result,
    })
}

fn read_gc(network: NetworkName, root: &Value) -> Result<Request, PluginError> {
    Ok(Request::Gc {
        network,
        cfg: ReleaseConfig::parse(root)?,
        keep: valid_attachments(root)?,
    })
}

fn read_status(network: NetworkName, net: &NetworkConfig) -> Result<Request, PluginError> {
    // A node range that is not there yet means "not available", not a bad config.
    let cfg = IpamConfig::parse(&net.root, net.version, &[]).map_err(|e| match e {
        ConfigError::SubnetFile { message, .. } => OpError::NodeRangeMissing { message },
        other => OpError::Config(other),
    })?;
    let cfg = crate::pool::for_status(&cfg, &network)?.unwrap_or(cfg);
    Ok(Request::Status { network, cfg })
}

/// `cni.dev/valid-attachments` from a GC request. Absent is an error: GC
/// without it would release every allocation. `null` is an empty list: Go's
/// libcni encodes a node without pods (a nil slice) that way.
fn valid_attachments(root: &Value) -> Result<Vec<ValidAttachment>, ConfigError> {
    const KEY: &str = "cni.dev/valid-attachments";
    let Some(list) = root.as_object().and_then(|m| go_get(m, KEY)) else {
        return Err(ConfigError::Missing { field: KEY.into() });
    };
    if list.is_null() {
        return Ok(Vec::new());
    }
    let Value::Array(items) = list else {
        return Err(ConfigError::Type {
            field: KEY.into(),
            expected: "an array",
            found: list.to_string(),
        });
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |k: &str| match item.as_object().and_then(|m| go_get(m, k)) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(ConfigError::Missing {
                field: format!("{KEY}[{i}].{k}"),
            }),
        };
        out.push(ValidAttachment {
            container_id: field("containerID")?,
            ifname: field("ifname")?,
        });
    }
    Ok(out)
}
