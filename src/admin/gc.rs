//! `podlease gc --keep`: releases what a keep list (and a minimum age) does
//! not keep, by the same rule as CNI GC ([`crate::ops::gc`]), listing and
//! releasing under one lock per network.

use serde::Serialize;

use super::{Admin, AdminError, AllocationInfo, listed};
use crate::ids::NetworkName;
use crate::ops::error::Error;
use crate::ops::gc::{KeepRule, collect, partition};
use crate::store::Allocation;

/// One network of `podlease gc`.
#[derive(Debug, Clone, Serialize)]
pub struct GcNetwork {
    /// The network.
    pub network: String,
    /// Released (or, in a dry run, to be released).
    pub released: Vec<AllocationInfo>,
    /// Addresses kept.
    pub kept: usize,
}

/// `podlease gc`.
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Per network.
    pub networks: Vec<GcNetwork>,
}

impl Admin {
    /// Releases every allocation of `only` (or of every network) that
    /// `rule` does not keep, listing and releasing under one lock per
    /// network. With `dry_run`, reports what would be released and changes
    /// nothing (nor runs recovery).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for a network without state; store failures.
    pub fn gc(
        &self,
        rule: &KeepRule,
        only: Option<&NetworkName>,
        dry_run: bool,
    ) -> Result<GcReport, AdminError> {
        let mut networks: Vec<GcNetwork> = Vec::new();
        for network in self.scope(only)? {
            match self.gc_network(&network, rule, dry_run) {
                Ok(n) => networks.push(n),
                Err(e) if dry_run => return Err(e),
                Err(e) => {
                    let done: Vec<String> = networks
                        .iter()
                        .filter(|n| !n.released.is_empty())
                        .map(|n| format!("{} in {}", n.released.len(), n.network))
                        .collect();
                    return Err(AdminError::Failed(format!(
                        "gc of network {network} failed: {e}; some of its addresses may have \
                         been released; released in earlier networks: {}",
                        listed(&done, "none")
                    )));
                }
            }
        }
        Ok(GcReport { dry_run, networks })
    }

    /// GC of one network.
    fn gc_network(
        &self,
        network: &NetworkName,
        rule: &KeepRule,
        dry_run: bool,
    ) -> Result<GcNetwork, AdminError> {
        let report = |released: &[Allocation], kept: usize| GcNetwork {
            network: network.to_string(),
            released: released
                .iter()
                .map(|a| AllocationInfo::new(network, a, &self.data_dir, self.configs.get(network)))
                .collect(),
            kept,
        };
        if dry_run {
            let found = self.inspect_existing(network)?;
            let (kept, doomed) = partition(rule, found.allocations);
            return Ok(report(&doomed, kept.len()));
        }
        let mut net = self.open(network)?;
        let done = collect(&mut net, rule)?;
        net.commit()?;
        if !done.failures.is_empty() {
            return Err(Error::Several(done.failures).into());
        }
        Ok(report(&done.released, done.kept))
    }
}
