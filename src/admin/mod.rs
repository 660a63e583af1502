//! The operator commands (`podlease list`, `show`, `usage`, `release`, `gc`,
//! `metrics`, `history`, `verify` over the networks under a data directory;
//! `validate` over config files), one file per command, each returning a
//! report that the command line renders as a table or as JSON.
//!
//! Owns: [`Admin`], the operator's handle on a data directory (which
//! networks have state, which config each has, the store options for each);
//! the reports. Every read or change of a network's state goes through the
//! store: changes hold its lock, one network at a time (two locks are never
//! held together); reads change nothing. Never: argument parsing, output
//! formatting, the process environment, finding the CNI configs
//! ([`crate::config::discovery`]).

mod error;
mod gc;
mod history;
mod keep;
mod list;
mod locate;
mod metrics;
mod release;
mod report;
mod show;
mod target;
mod usage;
mod validate;
mod verify;

use std::path::PathBuf;

pub use error::AdminError;
pub use gc::{GcNetwork, GcReport};
pub use history::{
    HistoryReport, HistoryTarget, NetworkHistory, TimeWindow, history, resolve_container,
};
pub use keep::parse_keep;
pub use list::ListReport;
pub use locate::check_data_dir;
pub use metrics::{JournalCounts, journal_counts};
pub use release::ReleaseReport;
pub use report::{AllocationInfo, OwnerKind, rfc3339_utc};
pub use show::ShowReport;
pub use target::Target;
pub use usage::{KindCounts, NetworkUsage, RangeInfo, RangeSetUsage, UsageReport, range_set_usage};
pub use validate::{FileReport, NetworkReport, ValidateReport, check_text, validate};
pub use verify::{NetworkVerify, VerifyReport, verify};

use crate::config::discovery::Configs;
use crate::ids::NetworkName;
use crate::store::view;
use crate::store::{Allocation, Inspection, LockedNetwork, ReleaseReason, StoreOptions, inspect};

/// The operator's handle on one data directory.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Where state lives.
    pub data_dir: PathBuf,
    /// Lock timeout and boot source (`reclaim_on_reboot` is taken from each
    /// network's config when found, else off: see `opts_for`).
    pub opts: StoreOptions,
    /// The networks' configs.
    pub configs: Configs,
}

impl Admin {
    /// An admin handle over `data_dir`.
    pub fn new(data_dir: PathBuf, opts: StoreOptions, configs: Configs) -> Self {
        Self {
            data_dir,
            opts,
            configs,
        }
    }

    fn has_state(&self, network: &NetworkName) -> bool {
        view::has_state(&self.data_dir, network)
    }

    /// The networks with state under the data directory: directories with a
    /// valid network name holding a `lock` file or an address file. A missing
    /// data directory has none.
    ///
    /// # Errors
    /// [`AdminError::Io`] when the data directory cannot be listed.
    pub fn networks(&self) -> Result<Vec<NetworkName>, AdminError> {
        view::networks(&self.data_dir).map_err(|source| AdminError::Io {
            op: "list",
            path: self.data_dir.clone(),
            source,
        })
    }

    /// The networks with state, for a message: `a, b`, or `none`.
    fn networks_there(&self) -> String {
        let there: Vec<String> = self
            .networks()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        listed(&there, "none")
    }

    /// The networks a command covers: `only`, or every network with state.
    fn scope(&self, only: Option<&NetworkName>) -> Result<Vec<NetworkName>, AdminError> {
        match only {
            Some(n) if self.has_state(n) => Ok(vec![n.clone()]),
            Some(n) => Err(AdminError::NotFound(format!(
                "network {n} has no state in {} (networks there: {})",
                self.data_dir.display(),
                self.networks_there()
            ))),
            None => self.networks(),
        }
    }

    /// The networks `history` and `verify` cover: `only`, or every network
    /// with state.
    fn state_scope(&self, only: Option<&NetworkName>) -> Result<Vec<NetworkName>, AdminError> {
        match only {
            Some(n) if self.has_state(n) => Ok(vec![n.clone()]),
            Some(n) => Err(self.no_state(n)),
            None => self.networks(),
        }
    }

    /// The store options for `network`: reclaim as its config says. A
    /// network whose config was not found (a config directory the command
    /// line does not know, a Multus attachment, a bare `--data-dir`) never
    /// has its earlier boots reclaimed by an operator command: the boot is
    /// recorded, nothing is released, and GC collects what is left.
    fn opts_for(&self, network: &NetworkName) -> StoreOptions {
        let mut opts = self.opts.clone();
        match self.configs.get(network) {
            Some(cfg) => {
                opts.reclaim_on_reboot = cfg.release.reclaim_on_reboot;
                opts.foreign_clock_slack_secs = cfg.release.reclaim_clock_slack_secs;
                opts.journal = cfg.release.journal;
            }
            None => opts.reclaim_on_reboot = false,
        }
        opts
    }

    /// The network's `reclaimOnReboot`, when its config is known.
    fn reclaim_of(&self, network: &NetworkName) -> Option<bool> {
        self.configs
            .get(network)
            .map(|c| c.release.reclaim_on_reboot)
    }

    fn no_state(&self, network: &NetworkName) -> AdminError {
        AdminError::NotFound(format!(
            "network {network} has no state in {}",
            self.data_dir.display()
        ))
    }

    /// What `network`'s state holds and what recovery would do to it,
    /// changing nothing (`store::inspect`, as the network's config says);
    /// `None` for a network without state.
    fn inspect(&self, network: &NetworkName) -> Result<Option<Inspection>, AdminError> {
        Ok(inspect(
            &self.data_dir,
            network,
            &self.opts_for(network),
            self.reclaim_of(network),
        )?)
    }

    /// Like [`Self::inspect`], for a network that must have state.
    fn inspect_existing(&self, network: &NetworkName) -> Result<Inspection, AdminError> {
        self.inspect(network)?.ok_or_else(|| self.no_state(network))
    }

    /// Takes the network's lock for a change and runs recovery (as the
    /// network's config says; see [`Self::opts_for`]); never creates a
    /// directory for a network without state.
    fn open(&self, network: &NetworkName) -> Result<LockedNetwork, AdminError> {
        let mut net =
            LockedNetwork::open_existing(&self.data_dir, network, &self.opts_for(network))?
                .ok_or_else(|| self.no_state(network))?;
        net.recover()?;
        Ok(net)
    }

    /// Reads one network's allocations without changing anything, with
    /// what recovery would do to them; `target` selects some.
    fn read_selected(
        &self,
        network: &NetworkName,
        target: Option<&Target>,
    ) -> Result<Vec<AllocationInfo>, AdminError> {
        let found = self.inspect_existing(network)?;
        let cfg = self.configs.get(network);
        let conditional = if self.reclaim_of(network).is_none() {
            " (if reclaimOnReboot is on: the network's config was not found)"
        } else {
            ""
        };
        let chosen: Vec<&Allocation> = match target {
            Some(t) => target::select(&found.allocations, t),
            None => found.allocations.iter().collect(),
        };
        Ok(chosen
            .into_iter()
            .map(|a| {
                let mut info = AllocationInfo::new(network, a, &self.data_dir, cfg);
                if let Some(why) = found.pending.get(&a.ip) {
                    let (kind, cond) = match why {
                        ReleaseReason::KilledAdd => ("killed-add", ""),
                        _ => ("reboot-reclaim", conditional),
                    };
                    info.pending_release = Some(kind);
                    info.pending_reason =
                        Some(format!("the next operation releases it: {why}{cond}"));
                }
                info
            })
            .collect())
    }

    fn not_found(&self, target: &Target, only: Option<&NetworkName>) -> AdminError {
        let place = match only {
            Some(n) => format!("network {n}"),
            None => format!("any network under {}", self.data_dir.display()),
        };
        AdminError::NotFound(format!("no allocation of {target} in {place}"))
    }
}

/// `a, b`, or `none` when `items` is empty.
fn listed(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_owned()
    } else {
        items.join(", ")
    }
}
