//! What can go wrong in one invocation: the invocation itself (environment,
//! stdin, version) or the operation it asked for. Codes: [`super::error_code`].

use crate::config::ConfigError;
use crate::ids::NameError;
use crate::ops::error::Error as OpError;
use crate::pool::PoolError;

use super::args::ArgsError;

/// The environment, stdin or version of an invocation cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// `CNI_COMMAND` is not a command.
    #[error("unknown CNI_COMMAND: {found:?} (expected ADD, DEL, CHECK, GC, STATUS or VERSION)")]
    UnknownCommand {
        /// Its value.
        found: String,
    },
    /// A name, argument or override whose value is not UTF-8.
    #[error("{var} is not valid UTF-8")]
    NotUtf8 {
        /// The variable.
        var: String,
    },
    /// Variables the command requires are absent or empty.
    #[error("required env variables [{}] missing", .vars.join(","))]
    Missing {
        /// Their names, in the reference skeleton's order.
        vars: Vec<&'static str>,
    },
    /// `CNI_CONTAINERID` or `CNI_IFNAME` cannot be used.
    #[error("invalid {var}: {source}")]
    InvalidName {
        /// The variable.
        var: &'static str,
        /// Why.
        #[source]
        source: NameError,
    },
    /// ADD, DEL or CHECK reached without its attachment (a bug).
    #[error("internal: command without attachment")]
    NoAttachment,
    /// `CNI_ARGS` is malformed.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// stdin is larger than a network config may be.
    #[error(
        "cannot decode the network configuration on stdin: stdin is {len} bytes, more than the {max} a network config may have"
    )]
    StdinTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// stdin is not JSON.
    #[error("cannot decode the network configuration on stdin: {0}")]
    NotJson(#[source] serde_json::Error),
    /// stdin is JSON but not an object.
    #[error(
        "cannot decode the network configuration on stdin: the network configuration must be a JSON object"
    )]
    NotAnObject,
    /// `cniVersion` is not a string.
    #[error(
        "cannot decode the network configuration on stdin: cniVersion must be a string, found {found}"
    )]
    VersionNotString {
        /// What it was, as JSON.
        found: String,
    },
    /// The config's `cniVersion` is not one we speak.
    #[error("incompatible CNI versions: config is {found:?}, plugin supports {supported}")]
    IncompatibleVersion {
        /// What the config said.
        found: String,
        /// What we support.
        supported: String,
    },
    /// CHECK before 0.4.0, GC/STATUS before 1.1.0.
    #[error(
        "config version {version} does not allow {command} (it needs cniVersion {needs} or later)"
    )]
    CommandNotAllowed {
        /// The command.
        command: &'static str,
        /// The config's version.
        version: &'static str,
        /// The first version with the command.
        needs: &'static str,
    },
    /// The network name cannot be used.
    #[error("invalid network name: {0}")]
    NetworkName(NameError),
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Before the operation: environment, stdin, version.
    #[error(transparent)]
    Invocation(#[from] InvocationError),
    /// The operation, or the config it reads.
    #[error(transparent)]
    Operation(#[from] OpError),
}

impl From<ConfigError> for PluginError {
    fn from(e: ConfigError) -> Self {
        Self::Operation(e.into())
    }
}

impl From<PoolError> for PluginError {
    fn from(e: PoolError) -> Self {
        Self::Operation(e.into())
    }
}

impl From<ArgsError> for PluginError {
    fn from(e: ArgsError) -> Self {
        Self::Invocation(e.into())
    }
}

impl PluginError {
    /// Extra detail for the error object's `details`.
    pub fn details(&self) -> Option<String> {
        match self {
            Self::Invocation(InvocationError::IncompatibleVersion { found, supported }) => {
                Some(format!("config is {found:?}, plugin supports {supported}"))
            }
            _ => None,
        }
    }
}
