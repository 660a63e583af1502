//! THE table from failure to CNI code: every error that reaches the runtime
//! gets its code here, whichever module it comes from.

use super::error::{InvocationError, PluginError};
use crate::config::{ConfigError, SubnetFileProblem};
use crate::ops::error::Error as OpError;
use crate::pool::PoolError;
use crate::store::StoreError;
use crate::store::lock::LockError;

/// CNI error codes: the spec's well-known ones and ours (>= 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    /// 1: incompatible CNI version, or a command the config's version lacks.
    IncompatibleVersion = 1,
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

impl PluginError {
    /// The CNI code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invocation(e) => invocation(e),
            Self::Operation(e) => operation(e),
        }
    }
}

/// Environment, stdin and version failures.
pub fn invocation(e: &InvocationError) -> ErrorCode {
    use InvocationError as E;
    match e {
        E::IncompatibleVersion { .. } | E::CommandNotAllowed { .. } => {
            ErrorCode::IncompatibleVersion
        }
        E::UnknownCommand { .. }
        | E::NotUtf8 { .. }
        | E::Missing { .. }
        | E::InvalidName { .. }
        | E::NoAttachment
        | E::Args(_) => ErrorCode::InvalidEnvironment,
        E::StdinTooLarge { .. } | E::NotJson(_) | E::NotAnObject | E::VersionNotString { .. } => {
            ErrorCode::Decode
        }
        E::NetworkName(_) => ErrorCode::InvalidConfig,
    }
}

/// An operation's failures.
pub fn operation(e: &OpError) -> ErrorCode {
    match e {
        OpError::Config(e) => config(e),
        OpError::Store(e) => store(e),
        OpError::ResolvConf { .. } => ErrorCode::Io,
        OpError::UnknownAttachment { .. } => ErrorCode::UnknownContainer,
        OpError::Exhausted { .. } => ErrorCode::PoolExhausted,
        OpError::AddressInUse { .. } => ErrorCode::AddressInUse,
        OpError::RepeatedAddDiffers { .. }
        | OpError::LegacyReservation { .. }
        | OpError::CheckMismatch { .. } => ErrorCode::AttachmentMismatch,
        OpError::StateUnusable { .. }
        | OpError::RangeSetFull { .. }
        | OpError::NodeRangeMissing { .. } => ErrorCode::NotAvailable,
        OpError::Internal(_) => ErrorCode::Internal,
        OpError::RolledBack { cause, .. } => operation(cause),
        OpError::Pool(e) => pool(e),
        OpError::Several(all) => all.first().map_or(ErrorCode::Io, operation),
    }
}

/// A config is invalid (7), except a node range file not written yet (try
/// again) or unreadable (I/O).
pub fn config(e: &ConfigError) -> ErrorCode {
    match e {
        ConfigError::SubnetFile {
            kind: SubnetFileProblem::Missing,
            ..
        } => ErrorCode::TryAgainLater,
        ConfigError::SubnetFile {
            kind: SubnetFileProblem::Unreadable,
            ..
        } => ErrorCode::Io,
        _ => ErrorCode::InvalidConfig,
    }
}

/// The state directory: I/O, except a lock held too long (try again).
pub fn store(e: &StoreError) -> ErrorCode {
    match e {
        StoreError::Lock(e) => lock(e),
        StoreError::Io { .. } => ErrorCode::Io,
    }
}

/// The network's lock.
pub fn lock(e: &LockError) -> ErrorCode {
    match e {
        LockError::Timeout { .. } => ErrorCode::TryAgainLater,
        LockError::Io { .. } => ErrorCode::Io,
    }
}

/// Cluster pools: etcd unreachable is worth retrying.
pub fn pool(e: &PoolError) -> ErrorCode {
    match e {
        PoolError::Unavailable(_) => ErrorCode::TryAgainLater,
        PoolError::Exhausted(_) => ErrorCode::PoolExhausted,
        PoolError::Conflict(_) | PoolError::Config(_) => ErrorCode::InvalidConfig,
        PoolError::NoBlock { .. } => ErrorCode::AttachmentMismatch,
        // STATUS reports a pool it cannot grow as "not available" (50).
        PoolError::Status(_) => ErrorCode::NotAvailable,
        PoolError::Store(e) => store(e),
        PoolError::Io(_) | PoolError::Protocol(_) => ErrorCode::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pools' codes are decided here (pool's own `PoolError::code`
    /// goes after the merge).
    #[test]
    fn pool_codes() {
        let codes = [
            (PoolError::Unavailable(String::new()), 11),
            (PoolError::Exhausted(String::new()), 100),
            (PoolError::Conflict(String::new()), 7),
            (PoolError::Config(String::new()), 7),
            (PoolError::Io(String::new()), 5),
            (PoolError::Protocol(String::new()), 5),
        ];
        for (e, code) in codes {
            assert_eq!(pool(&e).as_u32(), code, "{e:?}");
            assert_eq!(operation(&OpError::Pool(e)).as_u32(), code);
        }
    }

    #[test]
    fn lock_timeout_is_try_again() {
        let e = StoreError::Lock(LockError::Timeout {
            path: "/x/lock".into(),
            secs: 1,
        });
        assert_eq!(store(&e), ErrorCode::TryAgainLater);
        assert_eq!(operation(&OpError::Store(e)).as_u32(), 11);
    }
}
