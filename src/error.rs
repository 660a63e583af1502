//! The crate's error and the one table that maps failures to CNI codes.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::{ConfigError, SubnetFileProblem};
use crate::ids::NameError;
use crate::plugin::args::ArgsError;
use crate::store::StoreError;
use crate::store::lock::LockError;

/// CNI error codes: the spec's well-known ones and ours (>= 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    /// 1: incompatible CNI version, or a command the config's version lacks.
    IncompatibleVersion = 1,
    /// 2: unsupported field in the network configuration.
    UnsupportedField = 2,
    /// 3: container unknown or does not exist (CHECK of an unknown attachment).
    UnknownContainer = 3,
    /// 4: invalid environment variables (`CNI_*`, `CNI_ARGS`).
    InvalidEnvironment = 4,
    /// 5: I/O failure (state directory, resolv.conf).
    Io = 5,
    /// 6: failed to decode content (stdin is not a JSON object).
    Decode = 6,
    /// 7: invalid network configuration.
    InvalidConfig = 7,
    /// 11: try again later (the lock is held too long by another process, or
    /// the node agent has not written `subnetFile` yet).
    TryAgainLater = 11,
    /// 50: the plugin cannot serve ADD now (STATUS).
    NotAvailable = 50,
    /// 100: a range set has no free address.
    PoolExhausted = 100,
    /// 101: a requested address is held by another attachment.
    AddressInUse = 101,
    /// 102: the attachment holds addresses that do not match the
    /// configuration or the `prevResult` (repeated ADD, CHECK).
    AttachmentMismatch = 102,
    /// 110: a bug in podlease (a panic caught at the boundary).
    Internal = 110,
}

impl ErrorCode {
    /// The number on the wire.
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// Everything that can go wrong, each with its code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// A `CNI_*` variable is missing or malformed.
    #[error("{0}")]
    Environment(String),
    /// `CNI_ARGS` is malformed.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// stdin is not a JSON object.
    #[error("cannot decode the network configuration on stdin: {0}")]
    Decode(String),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The network name cannot be used.
    #[error("invalid network name: {0}")]
    NetworkName(NameError),
    /// State directory failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// resolvConf cannot be read.
    #[error("ipam.resolvConf: cannot read {path}: {source}")]
    ResolvConf {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// CHECK (or an operator command) for an attachment that holds nothing.
    #[error(
        "no address is allocated to container {container_id} interface {ifname} in network {network}"
    )]
    UnknownAttachment {
        /// Network.
        network: String,
        /// Container id.
        container_id: String,
        /// Interface.
        ifname: String,
    },
    /// A range set is full.
    #[error(
        "no free address in range set {set} ({ranges}) of network {network}: all {in_use} allocatable addresses are in use"
    )]
    Exhausted {
        /// Network.
        network: String,
        /// Range set index.
        set: usize,
        /// Its ranges.
        ranges: String,
        /// How many addresses are held there.
        in_use: u128,
    },
    /// A requested address is taken by someone else.
    #[error("{field}: requested address {ip} is already allocated to {holder}")]
    AddressInUse {
        /// Where it was requested.
        field: String,
        /// The address.
        ip: IpAddr,
        /// Who holds it.
        holder: String,
    },
    /// The attachment's addresses do not match what is expected.
    #[error("{0}")]
    AttachmentMismatch(String),
    /// STATUS: ADD cannot be served.
    #[error("{0}")]
    NotAvailable(String),
    /// ADD failed and undoing its partial work failed too.
    #[error("{cause}; undoing the partial allocation also failed: {rollback}")]
    RolledBack {
        /// The first failure.
        cause: Box<Error>,
        /// The rollback failure.
        rollback: StoreError,
    },
    /// A result that breaks podlease's own promise (a bug): never reported
    /// as a success.
    #[error("internal error: {0}; please report this bug")]
    Internal(String),
    /// Cluster pools: etcd, block claims, node identity.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
    /// Several independent failures (GC keeps going past each).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}

impl Error {
    /// The single table from failure to CNI code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::IncompatibleVersion { .. } | Self::CommandNotAllowed { .. } => {
                ErrorCode::IncompatibleVersion
            }
            Self::Environment(_) | Self::Args(_) => ErrorCode::InvalidEnvironment,
            Self::Decode(_) => ErrorCode::Decode,
            Self::Config(ConfigError::SubnetFile {
                kind: SubnetFileProblem::Missing,
                ..
            }) => ErrorCode::TryAgainLater,
            Self::Config(ConfigError::SubnetFile {
                kind: SubnetFileProblem::Unreadable,
                ..
            }) => ErrorCode::Io,
            Self::Config(_) | Self::NetworkName(_) => ErrorCode::InvalidConfig,
            Self::Store(StoreError::Lock(LockError::Timeout { .. })) => ErrorCode::TryAgainLater,
            Self::Store(_) | Self::ResolvConf { .. } => ErrorCode::Io,
            Self::UnknownAttachment { .. } => ErrorCode::UnknownContainer,
            Self::Exhausted { .. } => ErrorCode::PoolExhausted,
            Self::AddressInUse { .. } => ErrorCode::AddressInUse,
            Self::AttachmentMismatch(_) => ErrorCode::AttachmentMismatch,
            Self::NotAvailable(_) => ErrorCode::NotAvailable,
            Self::Internal(_) => ErrorCode::Internal,
            Self::RolledBack { cause, .. } => cause.code(),
            Self::Pool(e) => e.code(),
            Self::Several(all) => all.first().map_or(ErrorCode::Io, Self::code),
        }
    }

    /// Extra detail for the error object's `details`.
    pub fn details(&self) -> Option<String> {
        match self {
            Self::IncompatibleVersion { found, supported } => {
                Some(format!("config is {found:?}, plugin supports {supported}"))
            }
            _ => None,
        }
    }
}
