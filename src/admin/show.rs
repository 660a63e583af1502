//! `podlease show`: the allocations of an address or a container, read
//! without change.

use serde::Serialize;

use super::{Admin, AdminError, AllocationInfo, Target};
use crate::ids::NetworkName;

/// `podlease show`.
#[derive(Debug, Clone, Serialize)]
pub struct ShowReport {
    /// What was asked for.
    pub query: String,
    /// What matched.
    pub matches: Vec<AllocationInfo>,
}

impl Admin {
    /// The allocations `target` names in one network, read without change.
    pub(super) fn find_in(
        &self,
        network: &NetworkName,
        target: &Target,
    ) -> Result<Vec<AllocationInfo>, AdminError> {
        self.read_selected(network, Some(target))
    }

    /// The allocations `target` names, in `only` or in every network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when nothing matches; store failures.
    pub fn show(
        &self,
        target: &Target,
        only: Option<&NetworkName>,
    ) -> Result<ShowReport, AdminError> {
        let mut matches = Vec::new();
        let networks = match self.scope(only) {
            Err(AdminError::NotFound(_)) => return Err(self.not_found(target, only)),
            other => other?,
        };
        for network in networks {
            matches.extend(self.find_in(&network, target)?);
        }
        if matches.is_empty() {
            return Err(self.not_found(target, only));
        }
        Ok(ShowReport {
            query: target.to_string(),
            matches,
        })
    }
}
