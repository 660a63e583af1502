//! `podlease list`: every allocation, read without change.

use std::path::PathBuf;

use serde::Serialize;

use super::{Admin, AdminError, AllocationInfo};
use crate::ids::NetworkName;

/// `podlease list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Every allocation, by network then address.
    pub allocations: Vec<AllocationInfo>,
}

impl Admin {
    /// Every allocation of `only` or of every network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for a network without state; store failures.
    pub fn list(&self, only: Option<&NetworkName>) -> Result<ListReport, AdminError> {
        let mut allocations = Vec::new();
        for network in self.scope(only)? {
            allocations.extend(self.read_selected(&network, None)?);
        }
        Ok(ListReport {
            data_dir: self.data_dir.clone(),
            allocations,
        })
    }
}
