//! The error of an operation (ADD, DEL, CHECK, GC, STATUS, and the operator
//! commands built on them): the per-module errors it meets on the way, and
//! what the operation itself finds wrong. Which CNI code each one gets is
//! decided in one place, the CNI face's code table (`plugin::error_code`).

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::pool::PoolError;
use crate::store::StoreError;

/// Everything that can go wrong in an operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
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
    /// A repeated ADD asks for other addresses than the attachment holds.
    #[error(
        "container {container_id} interface {ifname} already {why}; a repeated ADD must match the first one (DEL it first to change it)"
    )]
    RepeatedAddDiffers {
        /// Container id.
        container_id: String,
        /// Interface.
        ifname: String,
        /// What it holds that the ADD does not ask for (`alloc::placement`).
        why: String,
    },
    /// An ADD for a container that holds an address through a legacy,
    /// id-only file (host-local before 2018), which names no interface.
    #[error(
        "container {container_id} holds {ip} through a legacy id-only reservation, which cannot tell its interfaces apart; DEL the container (or `podlease release {ip}`) first"
    )]
    LegacyReservation {
        /// Container id.
        container_id: String,
        /// The address the legacy file holds.
        ip: IpAddr,
    },
    /// CHECK: what the attachment holds does not match the config or the
    /// previous result.
    #[error("container {container_id} interface {ifname} {why}")]
    CheckMismatch {
        /// Container id.
        container_id: String,
        /// Interface.
        ifname: String,
        /// The mismatch (`alloc::placement`, or an address `prevResult`
        /// does not list).
        why: String,
    },
    /// STATUS: the state directory cannot be used.
    #[error("state directory unusable: {reason}")]
    StateUnusable {
        /// The store's error, as its message.
        reason: String,
    },
    /// STATUS: a range set has no free address.
    #[error("range set {set} ({ranges}) of network {network} has no free address")]
    RangeSetFull {
        /// Range set index.
        set: usize,
        /// Its ranges.
        ranges: String,
        /// Network.
        network: String,
    },
    /// STATUS: the node's range (`subnetFile`) is not there yet.
    #[error("{message}")]
    NodeRangeMissing {
        /// The subnet file's problem, as config words it.
        message: String,
    },
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
    Pool(#[from] PoolError),
    /// Several independent failures (GC keeps going past each).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}
