//! `podlease release`: an operator's release of an address or of a
//! container's addresses, under the network's lock.

use serde::Serialize;

use super::{Admin, AdminError, AllocationInfo, Target, listed, target};
use crate::ids::NetworkName;
use crate::journal::Reason;

/// `podlease release`.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// What was asked for.
    pub query: String,
    /// What was released, as it was just before.
    pub released: Vec<AllocationInfo>,
}

impl Admin {
    /// Releases what `target` names, under the lock. Without `only`, the
    /// target must match in exactly one network.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when nothing matches, [`AdminError::Ambiguous`]
    /// when several networks match; store failures (what was released before
    /// a failure stays released, and the message lists it).
    pub fn release(
        &self,
        target: &Target,
        only: Option<&NetworkName>,
    ) -> Result<ReleaseReport, AdminError> {
        let network = self.holder_network(target, only)?;
        let mut net = self.open(&network)?;
        let cfg = self.configs.get(&network);
        let all = net.list()?;
        let chosen: Vec<AllocationInfo> = target::select(&all, target)
            .into_iter()
            .map(|a| AllocationInfo::new(&network, a, &self.data_dir, cfg))
            .collect();
        if chosen.is_empty() {
            return Err(self.not_found(target, Some(&network)));
        }
        let mut released = Vec::new();
        for info in chosen {
            match net.release_ip(info.address, Reason::Operator) {
                Ok(Some(_)) => released.push(info),
                Ok(None) => {}
                Err(e) => {
                    let done: Vec<String> =
                        released.iter().map(|i| i.address.to_string()).collect();
                    return Err(AdminError::Failed(format!(
                        "{e} (released before the failure: {}); run the command again",
                        listed(&done, "nothing")
                    )));
                }
            }
        }
        net.commit()?;
        Ok(ReleaseReport {
            query: target.to_string(),
            released,
        })
    }

    /// The one network whose allocations `target` names: `only` when it
    /// has state, else the only network where the target matches (read
    /// without the lock; the release checks again under it).
    fn holder_network(
        &self,
        target: &Target,
        only: Option<&NetworkName>,
    ) -> Result<NetworkName, AdminError> {
        match only {
            Some(n) if self.has_state(n) => return Ok(n.clone()),
            Some(_) => return Err(self.not_found(target, only)),
            None => {}
        }
        let mut holders = Vec::new();
        for network in self.networks()? {
            if !self.find_in(&network, target)?.is_empty() {
                holders.push(network);
            }
        }
        match holders.as_slice() {
            [] => Err(self.not_found(target, only)),
            [one] => Ok(one.clone()),
            many => {
                let names: Vec<&str> = many.iter().map(NetworkName::as_str).collect();
                Err(AdminError::Ambiguous(format!(
                    "{target} has allocations in several networks ({}): choose one with --network",
                    names.join(", ")
                )))
            }
        }
    }
}
