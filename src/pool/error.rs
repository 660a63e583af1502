//! What can go wrong with a pool. The crate's error wraps it
//! (`Error::Pool`); no pool function returns the crate's error.

use ipnetwork::IpNetwork;

use crate::ids::NetworkName;
use crate::store::StoreError;

/// What can go wrong with a pool; `plugin/error_code.rs` gives each its CNI
/// code.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// etcd cannot be reached or gave no answer in time (code 11).
    #[error("{0}")]
    Unavailable(String),
    /// No free block, or the node's cap is reached (the exhaustion code).
    #[error("{0}")]
    Exhausted(String),
    /// Node identity or pool geometry disagree with etcd (code 7).
    #[error("{0}")]
    Conflict(String),
    /// A configured file is unusable, or etcd refused the credentials (code 7).
    #[error("{0}")]
    Config(String),
    /// Local state I/O (code 5).
    #[error("{0}")]
    Io(String),
    /// etcd answered something unexpected (code 5).
    #[error("{0}")]
    Protocol(String),
    /// CHECK: this node holds no block of pool `index`, so nothing can have
    /// been allocated from it (code 102).
    #[error(
        "this node holds no block of pool {index} ({}) for network {network}",
        .pool.map(|p| p.to_string()).unwrap_or_default()
    )]
    NoBlock {
        /// The pool's position in `ipam.pools`.
        index: usize,
        /// The pool.
        pool: Option<IpNetwork>,
        /// The network.
        network: NetworkName,
    },
    /// STATUS: this node's block record cannot be read, so ADD cannot be
    /// promised (code 50).
    #[error("{0}")]
    Status(Box<PoolError>),
    /// The network's state directory (`podlease pool gc`).
    #[error(transparent)]
    Store(#[from] StoreError),
}
