//! Policy options of the `ipam` section: where state lives (`dataDir`),
//! reclaim after a reboot (`reclaimOnReboot`, `reclaimClockSlackSeconds`),
//! the reuse delay (`reuseDelaySeconds`), sticky addresses (`sticky`) and the
//! journal (`journal`), and the debug log (`logFile`, `logLevel`). Read strictly for ADD and the others, leniently for
//! DEL and GC (a bad value means the default there).

use std::path::PathBuf;

use serde_json::Value;

use super::ConfigError;
use super::json::Obj;
use super::types::DEFAULT_DATA_DIR;
use crate::journal::JournalOptions;

/// Default of `reclaimClockSlackSeconds`: one hour. The store receives the
/// configured value through its options.
pub const DEFAULT_RECLAIM_CLOCK_SLACK_SECS: u64 = 3600;

/// How much the debug log (`ipam.logFile`) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Failed calls only.
    Error,
    /// Every call.
    Info,
    /// Every call, with its arguments and config.
    Debug,
}

/// `ipam.logFile` and `ipam.logLevel`. Read apart from the real parsing and
/// leniently: the debug log never fails or changes a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The file lines are appended to.
    pub path: PathBuf,
    /// How much is logged.
    pub level: LogLevel,
    /// A `logLevel` that is not one: said in the log itself.
    pub warning: Option<String>,
}

impl LogOptions {
    /// The options in `stdin`'s `ipam` section, if `logFile` is set. Costs a
    /// substring search when it is not.
    pub fn read(stdin: &[u8]) -> Option<Self> {
        // Not memchr::memmem: its CPU detection costs a `cpuid` trap per
        // process in a VM, about 35 µs on every ADD, CHECK and DEL.
        crate::bytesearch::find(stdin, b"logFile")?;
        let root: Value = serde_json::from_slice(stdin).ok()?;
        let ipam = root.get("ipam")?;
        let path = ipam.get("logFile")?.as_str().filter(|s| !s.is_empty())?;
        let (level, warning) = match ipam.get("logLevel").and_then(Value::as_str) {
            None | Some("info") => (LogLevel::Info, None),
            Some("error") => (LogLevel::Error, None),
            Some("debug") => (LogLevel::Debug, None),
            Some(other) => (
                LogLevel::Info,
                Some(format!(
                    "unknown logLevel {other:?} (error, info or debug): using info"
                )),
            ),
        };
        Some(Self {
            path: path.into(),
            level,
            warning,
        })
    }
}

/// The policy options, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Policy {
    pub data_dir: PathBuf,
    pub reclaim_on_reboot: bool,
    pub reuse_delay_secs: u64,
    pub reclaim_clock_slack_secs: u64,
    pub sticky: bool,
    pub journal: JournalOptions,
}

impl Policy {
    /// Every option checked: a bad value is an error.
    pub(super) fn parse(ipam: &Obj<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            data_dir: data_dir(Some(ipam))?,
            reclaim_on_reboot: ipam.bool("reclaimOnReboot")?.unwrap_or(true),
            reuse_delay_secs: ipam.u64("reuseDelaySeconds")?.unwrap_or(0),
            reclaim_clock_slack_secs: ipam
                .u64("reclaimClockSlackSeconds")?
                .unwrap_or(DEFAULT_RECLAIM_CLOCK_SLACK_SECS),
            sticky: ipam.bool("sticky")?.unwrap_or(false),
            journal: journal_options(ipam)?,
        })
    }

    /// What DEL and GC read: a bad value means the default, except
    /// `dataDir`: guessing another directory could release the wrong
    /// network's state.
    pub(super) fn lenient(ipam: Option<&Obj<'_>>) -> Result<Self, ConfigError> {
        let bool_or = |key: &str, default| {
            ipam.and_then(|o| o.bool(key).ok().flatten())
                .unwrap_or(default)
        };
        let u64_or = |key: &str, default| {
            ipam.and_then(|o| o.u64(key).ok().flatten())
                .unwrap_or(default)
        };
        Ok(Self {
            data_dir: data_dir(ipam)?,
            reclaim_on_reboot: bool_or("reclaimOnReboot", true),
            reuse_delay_secs: u64_or("reuseDelaySeconds", 0),
            reclaim_clock_slack_secs: u64_or(
                "reclaimClockSlackSeconds",
                DEFAULT_RECLAIM_CLOCK_SLACK_SECS,
            ),
            sticky: bool_or("sticky", false),
            journal: ipam
                .and_then(|o| journal_options(o).ok())
                .unwrap_or_default(),
        })
    }
}

pub(super) fn data_dir(ipam: Option<&Obj<'_>>) -> Result<PathBuf, ConfigError> {
    match ipam.map(|o| o.str("dataDir")).transpose()?.flatten() {
        Some((s, _)) if !s.is_empty() => Ok(PathBuf::from(s)),
        _ => Ok(PathBuf::from(DEFAULT_DATA_DIR)),
    }
}

/// `ipam.journal`: `true`/`false`, or `{"enabled", "maxFiles", "maxBytes"}`.
fn journal_options(ipam: &Obj<'_>) -> Result<JournalOptions, ConfigError> {
    let mut opts = JournalOptions::default();
    let Some(field) = ipam.get("journal") else {
        return Ok(opts);
    };
    if let Some(on) = field.value.as_bool() {
        opts.enabled = on;
        return Ok(opts);
    }
    let obj = Obj::of(field.value, &field.path)?;
    opts.enabled = obj.bool("enabled")?.unwrap_or(true);
    if let Some(n) = obj.u64("maxFiles")? {
        opts.max_files = u32::try_from(n)
            .ok()
            .filter(|n| (1..=crate::journal::MAX_MAX_FILES).contains(n))
            .ok_or_else(|| ConfigError::Invalid {
                field: format!("{}.maxFiles", field.path),
                reason: format!(
                    "{n} files: must be between 1 and {}",
                    crate::journal::MAX_MAX_FILES
                ),
            })?;
    }
    if let Some(n) = obj.u64("maxBytes")? {
        if n < crate::journal::MIN_MAX_BYTES {
            return Err(ConfigError::Invalid {
                field: format!("{}.maxBytes", field.path),
                reason: format!(
                    "{n} bytes: must be at least {} so a file holds a few records",
                    crate::journal::MIN_MAX_BYTES
                ),
            });
        }
        opts.max_bytes = n;
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_are_read_leniently() {
        let read = |s: &str| LogOptions::read(s.as_bytes());
        assert_eq!(read(r#"{"ipam":{}}"#), None);
        assert_eq!(read(r#"{"ipam":{"logFile":""}}"#), None);
        assert_eq!(read(r#"{"ipam":{"logFile":7}}"#), None);
        assert_eq!(read(r#"not json logFile"#), None);
        let on = read(r#"{"ipam":{"logFile":"/x.log"}}"#).unwrap();
        assert_eq!(
            (on.path, on.level, on.warning),
            ("/x.log".into(), LogLevel::Info, None)
        );
        let debug = read(r#"{"ipam":{"logFile":"/x","logLevel":"debug"}}"#).unwrap();
        assert_eq!(debug.level, LogLevel::Debug);
        let bad = read(r#"{"ipam":{"logFile":"/x","logLevel":"loud"}}"#).unwrap();
        assert_eq!(bad.level, LogLevel::Info);
        assert!(bad.warning.unwrap().contains("loud"));
    }
}
