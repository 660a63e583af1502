//! The network configuration and its `ipam` section: parsing, host-local's
//! defaults, and validation that is stricter than host-local's.
//!
//! Owns: turning stdin JSON (plus `CNI_ARGS`' addresses) into a validated
//! [`IpamConfig`], or DEL's tolerant [`ReleaseConfig`]. Never: files other
//! than the resolv.conf and subnet file named in the config, the store, or
//! the choice of addresses.
//!
//! One file per concern: [`types`] (the validated shapes, limits), [`error`],
//! `json` (Go's decoding rules, typed field access), `fields` (addresses,
//! CIDRs, bounded lists), `ranges` (range sets and their rules),
//! [`requested`] (specific addresses), `routes`, `policy` (data directory,
//! reclaim, reuse delay, sticky, journal, debug log), [`version`], [`subnet_file`],
//! [`resolv`], [`known_keys`], `pools` (cluster pools).

pub mod discovery;
pub mod error;
mod fields;
mod json;
pub mod known_keys;
mod policy;
pub mod pools;
mod ranges;
pub mod requested;
pub mod resolv;
mod routes;
pub mod subnet_file;
pub mod types;
pub mod version;

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

pub use error::{ConfigError, SubnetFileProblem};
use fields::cidr_list;
// `pools` reads addresses as the other sections do.
use fields::parse_ip;
use json::Obj;
pub use json::{decode as decode_go_json, get as go_get};
use policy::Policy;
pub use policy::{DEFAULT_RECLAIM_CLOCK_SLACK_SECS, LogLevel, LogOptions};
use ranges::Sources;
pub use types::{
    DEFAULT_DATA_DIR, IpamConfig, MAX_LIST, MAX_RANGE_SETS, MAX_RANGES, ReleaseConfig, Requested,
    Route,
};
pub use version::SpecVersion;

impl IpamConfig {
    /// Parses and validates the whole config for ADD, CHECK, GC and STATUS;
    /// `args_ips` are the addresses `CNI_ARGS` requests (`IP=`). Fields are
    /// read in host-local's order, so the first error is the one it reports.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first field that is wrong.
    pub fn parse(
        root: &Value,
        version: SpecVersion,
        args_ips: &[IpAddr],
    ) -> Result<Self, ConfigError> {
        let root = Obj::of(root, "")?;
        let Some(ipam_field) = root.get("ipam") else {
            return Err(ConfigError::Missing {
                field: "ipam".into(),
            });
        };
        let ipam = Obj::of(ipam_field.value, "ipam")?;
        let runtime = root
            .get("runtimeConfig")
            .map(|f| Obj::of(f.value, "runtimeConfig"))
            .transpose()?;
        let sources = Sources::read(&ipam, runtime.as_ref())?;
        let pools = pools::parse(
            &ipam,
            &sources
                .origins
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &policy::data_dir(Some(&ipam))?,
            &cidr_list(&ipam, "nodeAddresses")?,
            &cidr_list(&ipam, "serviceCidrs")?,
            &cidr_list(&ipam, "exclude")?,
        )?;
        sources.validate(pools.is_some(), version)?;
        let requests = requested::collect(args_ips, &root, runtime.as_ref())?;
        let exclude = cidr_list(&ipam, "exclude")?;
        let range_sets = sources.sets;
        ranges::check_collisions(&range_sets, &cidr_list(&ipam, "serviceCidrs")?, &[])?;
        ranges::check_collisions(&range_sets, &cidr_list(&ipam, "nodeAddresses")?, &exclude)?;
        let requested = requested::assign(&range_sets, requests, pools.is_some(), &exclude)?;
        let resolv_conf = ipam
            .nonempty_str("resolvConf")?
            .map(|(s, _)| PathBuf::from(s));
        let routes = routes::parse(&ipam)?;
        let policy = Policy::parse(&ipam)?;
        Ok(Self {
            range_sets,
            requested,
            routes,
            data_dir: policy.data_dir,
            resolv_conf,
            reclaim_on_reboot: policy.reclaim_on_reboot,
            reclaim_clock_slack_secs: policy.reclaim_clock_slack_secs,
            exclude,
            reuse_delay_secs: policy.reuse_delay_secs,
            sticky: policy.sticky,
            pools,
            journal: policy.journal,
        })
    }
}

impl ReleaseConfig {
    /// Reads what DEL needs, tolerating everything else being wrong.
    ///
    /// # Errors
    /// Only when `ipam.dataDir` is present and not a string: guessing another
    /// directory could release the wrong network's state.
    pub fn parse(root: &Value) -> Result<Self, ConfigError> {
        let ipam = root
            .as_object()
            .and_then(|m| go_get(m, "ipam"))
            .and_then(|v| Obj::of(v, "ipam").ok());
        let policy = Policy::lenient(ipam.as_ref())?;
        Ok(Self {
            data_dir: policy.data_dir,
            reclaim_on_reboot: policy.reclaim_on_reboot,
            reuse_delay_secs: policy.reuse_delay_secs,
            reclaim_clock_slack_secs: policy.reclaim_clock_slack_secs,
            range_sets: ipam.as_ref().map_or(1, ranges::count_for_release),
            journal: policy.journal,
        })
    }
}

#[cfg(test)]
mod tests;
