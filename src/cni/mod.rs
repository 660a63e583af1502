//! The CNI protocol: environment rules, versions, results, errors.
//!
//! Owns: turning (environment, stdin) into an operation call and its outcome
//! into stdout bytes and an exit status. Never: the store.

pub mod args;
pub mod debug_log;
pub mod result;
pub mod version;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{IpamConfig, ReleaseConfig, go_get};
use crate::error::Error;
use crate::ids::{Attachment, ContainerId, IfName, NameError, NetworkName};
use crate::ops;
use crate::ops::gc::ValidAttachment;
use crate::store::StoreError;
use crate::store::StoreOptions;
use crate::store::lock::{LockError, TimeoutHook};
use args::CniArgs;
use std::sync::Arc;
use version::SpecVersion;

/// Largest network configuration we read (a config with a `prevResult` is a
/// few KiB; anything near this is not a network config).
pub const MAX_STDIN: usize = 4 << 20;

/// What the process received: the environment (only `CNI_*` and `PODLEASE_*`
/// matter) and stdin.
#[derive(Debug, Clone, Default)]
pub struct RawInvocation {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// Names of variables whose value was not valid UTF-8 (their value in
    /// `env` is lossy); a name or argument must never be guessed.
    pub non_utf8: Vec<String>,
    /// Writes these bytes to stdout and ends the process with status 1. Given
    /// one, a lock wait that times out ends the process through it (see
    /// [`crate::store::lock::TimeoutHook`]); without, `run` returns the error.
    pub exit: Option<fn(&[u8]) -> !>,
}

/// What the process must write to stdout, and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes for stdout.
    pub stdout: Vec<u8>,
    /// Exit status.
    pub status: u8,
    /// Bytes for stderr: warnings for whoever reads the runtime's log (an
    /// unknown key in the config), never part of the protocol.
    pub stderr: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Add,
    Del,
    Check,
    Gc,
    Status,
    Version,
}

impl Command {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ADD" => Self::Add,
            "DEL" => Self::Del,
            "CHECK" => Self::Check,
            "GC" => Self::Gc,
            "STATUS" => Self::Status,
            "VERSION" => Self::Version,
            _ => return None,
        })
    }

    /// Variables the spec requires, in the reference skeleton's order.
    fn required(self) -> &'static [&'static str] {
        match self {
            Self::Add | Self::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            Self::Del => &["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
            Self::Gc | Self::Status => &["CNI_PATH"],
            Self::Version => &[],
        }
    }
}

impl RawInvocation {
    fn var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    fn store_options(
        &self,
        version: SpecVersion,
        reclaim_on_reboot: bool,
        foreign_clock_slack_secs: u64,
        journal: crate::journal::JournalOptions,
        journal_tap: Option<&crate::journal::Tap>,
    ) -> StoreOptions {
        StoreOptions {
            reclaim_on_reboot,
            foreign_clock_slack_secs,
            journal,
            journal_tap: journal_tap.cloned(),
            on_lock_timeout: self.exit.map(|exit| lock_timeout_exit(exit, version)),
            ..StoreOptions::from_env(&self.env)
        }
    }
}

/// A lock timeout ends the process with the same error `run` would return.
fn lock_timeout_exit(exit: fn(&[u8]) -> !, version: SpecVersion) -> TimeoutHook {
    TimeoutHook(Arc::new(move |e: &LockError| {
        let LockError::Timeout { path, secs } = e else {
            return;
        };
        let err = Error::Store(StoreError::Lock(LockError::Timeout {
            path: path.clone(),
            secs: *secs,
        }));
        exit(&result::encode_error(
            version.as_str(),
            err.code().as_u32(),
            &err.to_string(),
            err.details().as_deref(),
        ))
    }))
}

fn name_err(var: &str, e: &NameError) -> Error {
    Error::Environment(format!("invalid {var}: {e}"))
}

/// Runs one CNI invocation. Pure with respect to the process: everything
/// comes in through `raw` and goes out through the [`Outcome`].
pub fn run(raw: &RawInvocation) -> Outcome {
    let started = std::time::Instant::now();
    let log = debug_log::settings(&raw.stdin);
    let outcome = run_logged(raw, log.as_ref().map(|l| &l.tap));
    if let Some(log) = &log {
        debug_log::write(log, raw, &outcome, started.elapsed());
    }
    outcome
}

fn run_logged(raw: &RawInvocation, tap: Option<&crate::journal::Tap>) -> Outcome {
    let mut version_for_errors = SpecVersion::NEWEST.as_str().to_owned();
    let mut warnings = Vec::new();
    let (stdout, status) = match dispatch(raw, &mut version_for_errors, &mut warnings, tap) {
        Ok(stdout) => (stdout, 0),
        Err(e) => {
            let msg = e.to_string();
            let details = e.details();
            (
                result::encode_error(
                    &version_for_errors,
                    e.code().as_u32(),
                    &msg,
                    details.as_deref(),
                ),
                1,
            )
        }
    };
    let stderr = warnings
        .iter()
        .map(|w| format!("podlease: warning: {w}\n"))
        .collect::<String>()
        .into_bytes();
    Outcome {
        stdout,
        status,
        stderr,
    }
}

fn dispatch(
    raw: &RawInvocation,
    version_for_errors: &mut String,
    warnings: &mut Vec<String>,
    tap: Option<&crate::journal::Tap>,
) -> Result<Vec<u8>, Error> {
    let command_str = raw.var("CNI_COMMAND").unwrap_or_default();
    let command = Command::parse(command_str).ok_or_else(|| {
        Error::Environment(format!(
            "unknown CNI_COMMAND: {command_str:?} (expected ADD, DEL, CHECK, GC, STATUS or VERSION)"
        ))
    })?;
    if command == Command::Version {
        return Ok(SpecVersion::version_info().into_bytes());
    }
    // Names, arguments and our own overrides (paths) are never guessed.
    if let Some(key) = raw.non_utf8.iter().find(|k| {
        ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"].contains(&k.as_str())
            || k.starts_with("PODLEASE_")
    }) {
        return Err(Error::Environment(format!("{key} is not valid UTF-8")));
    }
    let missing: Vec<&str> = command
        .required()
        .iter()
        .copied()
        .filter(|k| raw.var(k).is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Environment(format!(
            "required env variables [{}] missing",
            missing.join(",")
        )));
    }
    let who = match command {
        Command::Add | Command::Del | Command::Check => {
            let id = raw.var("CNI_CONTAINERID").unwrap_or_default();
            let ifname = raw.var("CNI_IFNAME").unwrap_or_default();
            Some(Attachment {
                container_id: ContainerId::new(id).map_err(|e| name_err("CNI_CONTAINERID", &e))?,
                ifname: IfName::new(ifname).map_err(|e| name_err("CNI_IFNAME", &e))?,
            })
        }
        _ => None,
    };

    if raw.stdin.len() > MAX_STDIN {
        return Err(Error::Decode(format!(
            "stdin is {} bytes, more than the {MAX_STDIN} a network config may have",
            raw.stdin.len()
        )));
    }
    // Keys as Go's decoder reads them (case folding, the last of equal keys).
    let root: Value =
        crate::config::decode_go_json(&raw.stdin).map_err(|e| Error::Decode(e.to_string()))?;
    let Value::Object(top) = &root else {
        return Err(Error::Decode(
            "the network configuration must be a JSON object".into(),
        ));
    };
    let version_str = match go_get(top, "cniVersion") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::Decode(format!(
                "cniVersion must be a string, found {other}"
            )));
        }
    };
    let version = SpecVersion::parse(version_str).ok_or_else(|| Error::IncompatibleVersion {
        found: version_str.to_owned(),
        supported: SpecVersion::supported_list(),
    })?;
    version.as_str().clone_into(version_for_errors);
    let name = match go_get(top, "name") {
        // The name becomes a directory name: at most 255 bytes.
        Some(Value::String(s)) if s.len() > 255 => {
            return Err(Error::Config(crate::config::ConfigError::Invalid {
                field: "name".into(),
                reason: format!(
                    "{} bytes long; it names a directory under dataDir, so at most 255",
                    s.len()
                ),
            }));
        }
        Some(Value::String(s)) if !s.is_empty() => {
            NetworkName::new(s).map_err(Error::NetworkName)?
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Error::Config(crate::config::ConfigError::Missing {
                field: "name".into(),
            }));
        }
        Some(other) => {
            return Err(Error::Config(crate::config::ConfigError::Type {
                field: "name".into(),
                expected: "a string",
                found: other.to_string(),
            }));
        }
    };
    // Accepted as host-local accepts them, but a typo must not pass unseen.
    warnings.extend(
        crate::config::known_keys::warnings(&root)
            .into_iter()
            .map(|w| format!("network {name}: {w}")),
    );
    let not_allowed = |command: &'static str, needs: SpecVersion| Error::CommandNotAllowed {
        command,
        version: version.as_str(),
        needs: needs.as_str(),
    };
    match command {
        Command::Check if !version.has_check() => {
            return Err(not_allowed("CHECK", SpecVersion::V0_4_0));
        }
        Command::Gc if !version.has_gc_and_status() => {
            return Err(not_allowed("GC", SpecVersion::V1_1_0));
        }
        Command::Status if !version.has_gc_and_status() => {
            return Err(not_allowed("STATUS", SpecVersion::V1_1_0));
        }
        _ => {}
    }

    let cni_args = raw.var("CNI_ARGS").unwrap_or_default();
    match (command, who) {
        (Command::Del, Some(who)) => {
            // DEL must release even when the config or CNI_ARGS went bad since ADD.
            let cfg = ReleaseConfig::parse(&root)?;
            ops::del(
                &name,
                &who,
                &cfg,
                &raw.store_options(
                    version,
                    cfg.reclaim_on_reboot,
                    cfg.reclaim_clock_slack_secs,
                    cfg.journal,
                    tap,
                ),
            )?;
            Ok(Vec::new())
        }
        (Command::Add, Some(who)) => {
            let args = CniArgs::parse(cni_args)?;
            let cfg = IpamConfig::parse(&root, version, &args)?;
            let pod = match (&args.pod_namespace, &args.pod_name) {
                (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
                _ => None,
            };
            let result = ops::add(
                &name,
                &who,
                &cfg,
                pod,
                &raw.store_options(
                    version,
                    cfg.reclaim_on_reboot,
                    cfg.reclaim_clock_slack_secs,
                    cfg.journal,
                    tap,
                ),
            )?;
            Ok(result::encode(&result, version))
        }
        (Command::Check, Some(who)) => {
            let args = CniArgs::parse(cni_args)?;
            let cfg = IpamConfig::parse(&root, version, &args)?;
            let pooled = crate::pool::for_check(&cfg, &name)?;
            let cfg = pooled.as_ref().unwrap_or(&cfg);
            ops::check(
                &name,
                &who,
                cfg,
                go_get(top, "prevResult"),
                &raw.store_options(
                    version,
                    cfg.reclaim_on_reboot,
                    cfg.reclaim_clock_slack_secs,
                    cfg.journal,
                    tap,
                ),
            )?;
            Ok(Vec::new())
        }
        (Command::Gc, _) => {
            let cfg = ReleaseConfig::parse(&root)?;
            let keep = valid_attachments(&root)?;
            ops::gc(
                &name,
                &keep,
                &cfg,
                &raw.store_options(
                    version,
                    cfg.reclaim_on_reboot,
                    cfg.reclaim_clock_slack_secs,
                    cfg.journal,
                    tap,
                ),
            )?;
            Ok(Vec::new())
        }
        (Command::Status, _) => {
            // A node range that is not there yet means "not available", not a bad config.
            let cfg =
                IpamConfig::parse(&root, version, &CniArgs::default()).map_err(|e| match e {
                    crate::config::ConfigError::SubnetFile { message, .. } => {
                        Error::NotAvailable(message)
                    }
                    other => Error::Config(other),
                })?;
            let pooled = crate::pool::for_status(&cfg, &name)?;
            let cfg = pooled.as_ref().unwrap_or(&cfg);
            ops::status(
                &name,
                cfg,
                &raw.store_options(
                    version,
                    cfg.reclaim_on_reboot,
                    cfg.reclaim_clock_slack_secs,
                    cfg.journal,
                    tap,
                ),
            )?;
            Ok(Vec::new())
        }
        _ => Err(Error::Environment(
            "internal: command without attachment".into(),
        )),
    }
}

/// `cni.dev/valid-attachments` from a GC request. Absent is an error: GC
/// without it would release every allocation. `null` is an empty list: Go's
/// libcni encodes a node without pods (a nil slice) that way.
fn valid_attachments(root: &Value) -> Result<Vec<ValidAttachment>, Error> {
    use crate::config::ConfigError;
    const KEY: &str = "cni.dev/valid-attachments";
    let Some(list) = root.as_object().and_then(|m| go_get(m, KEY)) else {
        return Err(ConfigError::Missing { field: KEY.into() }.into());
    };
    if list.is_null() {
        return Ok(Vec::new());
    }
    let Value::Array(items) = list else {
        return Err(ConfigError::Type {
            field: KEY.into(),
            expected: "an array",
            found: list.to_string(),
        }
        .into());
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |k: &str| -> Result<String, Error> {
            match item.as_object().and_then(|m| go_get(m, k)) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(ConfigError::Missing {
                    field: format!("{KEY}[{i}].{k}"),
                }
                .into()),
            }
        };
        out.push(ValidAttachment {
            container_id: field("containerID")?,
            ifname: field("ifname")?,
        });
    }
    Ok(out)
}
