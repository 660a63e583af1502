//! The store's error, and the helper that attaches what was being done,
//! and to which path, to an I/O failure. The bottom of the store: every
//! other file uses it, it uses none of them but the lock's error.

use std::io;
use std::path::{Path, PathBuf};

use super::lock::LockError;

/// An I/O failure, with what was being done and to which path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What we tried ("create directory", "read", "link"...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
}

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The operating system's words for a store error.
pub(super) fn cause(e: &StoreError) -> String {
    match e {
        StoreError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}
