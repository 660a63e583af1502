//! The operator commands' error: each variant is one exit status of the
//! command line.

use std::io;
use std::path::PathBuf;

use crate::config::discovery::DiscoveryError;
use crate::ops::error::Error;
use crate::store::StoreError;

/// Why an operator command failed. The command line maps each variant to an
/// exit status.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing matched: unknown address, container or network.
    #[error("{0}")]
    NotFound(String),
    /// The target matches in several networks; `--network` must choose.
    #[error("{0}")]
    Ambiguous(String),
    /// Bad input (a keep list, an explicit config file); nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// An operation failed part-way; the message says what was done.
    #[error("{0}")]
    Failed(String),
    /// The state directory failed (I/O, lock timeout).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An operation failed.
    #[error(transparent)]
    Op(#[from] Error),
    /// A file outside the state (a config, the data directory itself).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl From<DiscoveryError> for AdminError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::Io { op, path, source } => Self::Io { op, path, source },
            DiscoveryError::Invalid(m) => Self::Invalid(m),
        }
    }
}
