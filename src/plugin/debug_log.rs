//! The optional per-call debug log: `ipam.logFile` (off by default) and
//! `ipam.logLevel` (`error`: failed calls only; `info`, the default: every
//! call; `debug`: every call with its `CNI_ARGS` and network config). One
//! JSON line per invocation, appended with one `O_APPEND` write: command,
//! network, attachment, addresses, result code, duration, and the changes
//! the call made, automatic ones (reboot reclaim, crash recovery) included.
//!
//! Never on stdout, and never fails or changes the call: the settings are
//! read leniently apart from the real config parsing, and a file that cannot
//! be written is skipped.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{Outcome, RawInvocation};
use crate::config::{LogLevel as Level, LogOptions};
use crate::journal::{Record, Tap, TapContents, format_time_ms, now_ms};

/// The debug log's settings for one call, if it is on.
#[derive(Debug, Clone)]
pub struct Settings {
    options: LogOptions,
    /// Collects the journal records the call made.
    pub tap: Tap,
}

/// The settings in `stdin`'s `ipam` section, if `logFile` is set. Costs a
/// substring search when it is not.
pub fn settings(stdin: &[u8]) -> Option<Settings> {
    Some(Settings {
        options: LogOptions::read(stdin)?,
        tap: Tap::default(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    time: String,
    command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifname: Option<&'a str>,
    code: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<&'a str>,
    duration_ms: f64,
    /// The journal records the call made: allocations, releases, and what
    /// recovery or reboot reclaim released on the way.
    changes: &'a [Record],
    #[serde(skip_serializing_if = "Option::is_none")]
    journal_error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cni_args: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Value>,
}

/// Appends the call's line, if the level asks for it. Every failure is
/// swallowed: the log must never change the call.
pub fn write(settings: &Settings, raw: &RawInvocation, outcome: &Outcome, took: Duration) {
    let opts = &settings.options;
    let result: Option<Value> = serde_json::from_slice(&outcome.stdout).ok();
    let code = result_code(outcome, result.as_ref());
    if code == 0 && opts.level == Level::Error {
        return;
    }
    let TapContents { records, failure } = settings.tap.take();
    let root: Option<Value> = serde_json::from_slice(&raw.stdin).ok();
    let var = |k: &str| raw.env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let debug = opts.level == Level::Debug;
    let line = Line {
        time: format_time_ms(now_ms()),
        command: var("CNI_COMMAND").unwrap_or_default(),
        network: root
            .as_ref()
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str),
        container_id: var("CNI_CONTAINERID"),
        ifname: var("CNI_IFNAME"),
        code,
        error: (code != 0)
            .then(|| result.as_ref()?.get("msg")?.as_str())
            .flatten(),
        addresses: addresses(result.as_ref()),
        duration_ms: took.as_secs_f64() * 1000.0,
        changes: &records,
        journal_error: failure.as_deref(),
        warning: opts.warning.as_deref(),
        cni_args: debug.then(|| var("CNI_ARGS")).flatten(),
        config: debug.then(|| root.clone()).flatten(),
    };
    append(&opts.path, &line);
}

/// 0 on success, else the error object's `code` (the exit status if none).
fn result_code(outcome: &Outcome, result: Option<&Value>) -> u64 {
    if outcome.status == 0 {
        return 0;
    }
    result
        .and_then(|r| r.get("code"))
        .and_then(Value::as_u64)
        .unwrap_or(u64::from(outcome.status))
}

/// The addresses of an ADD's result (none for the others).
fn addresses(result: Option<&Value>) -> Vec<&str> {
    result
        .and_then(|r| r.get("ips"))
        .and_then(Value::as_array)
        .map(|ips| {
            ips.iter()
                .filter_map(|ip| ip.get("address").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// One `O_APPEND` write of the line; a file that cannot be written is skipped.
fn append(path: &Path, line: &Line<'_>) {
    let Ok(mut text) = serde_json::to_vec(line) else {
        return;
    };
    text.push(b'\n');
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut f) = file {
        let _ = f.write_all(&text);
    }
}
