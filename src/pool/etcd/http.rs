//! The transport: one HTTP POST to one endpoint within the invocation's
//! deadline, never through a proxy, and what its answer means for the
//! next step (next endpoint, authenticate again, or give up).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::PoolError;
use super::Client;
use crate::config::pools::EtcdConfig;

/// Longest wait for one TCP connection, so a dead first endpoint leaves
/// time for the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest response read (a range over every block of a large pool).
const MAX_RESPONSE: u64 = 64 << 20;

/// Why one request failed.
pub(super) enum Attempt {
    /// Not reachable, no leader, timed out: try the next endpoint.
    Unreachable(String),
    /// The token expired or is invalid: authenticate again.
    Unauthenticated(String),
    /// A definitive refusal (permission, bad request).
    Refused(u16, String),
}

/// The HTTP agent for `cfg`: no proxy, no redirects, bounded waits, and
/// TLS when an endpoint or a certificate asks for it.
///
/// # Errors
/// [`PoolError::Config`] when the TLS files are unusable or TLS is asked of
/// a build without it.
pub(super) fn agent(cfg: &EtcdConfig) -> Result<ureq::Agent, PoolError> {
    #[cfg_attr(not(feature = "etcd-tls"), allow(unused_mut))]
    let mut builder = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(cfg.timeout))
        .user_agent("podlease");
    let tls_wanted = cfg.endpoints.iter().any(|e| e.starts_with("https://"))
        || cfg.ca_file.is_some()
        || cfg.cert_file.is_some();
    if tls_wanted {
        #[cfg(feature = "etcd-tls")]
        {
            builder = builder.tls_config(super::credentials::tls_config(cfg)?);
        }
        #[cfg(not(feature = "etcd-tls"))]
        {
            return Err(PoolError::Config(
                "ipam.etcd: https endpoints need podlease built with the etcd-tls feature".into(),
            ));
        }
    }
    Ok(builder.build().new_agent())
}

impl Client {
    /// One POST to one endpoint.
    pub(super) fn post_once(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, Attempt> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Attempt::Unreachable("time budget spent".into()));
        }
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        let mut req = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Content-Type", "application/json");
        if let Some(token) = &self.token {
            // etcd wants the bare token, no "Bearer".
            req = req.header("Authorization", token);
        }
        let mut resp = req
            .send(body.to_string())
            .map_err(|e| Attempt::Unreachable(format!("{endpoint}: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| Attempt::Unreachable(format!("{endpoint}: reading the answer: {e}")))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(value);
        }
        Err(failed_attempt(endpoint, status, &value, &bytes))
    }
}

/// What a non-200 answer means.
fn failed_attempt(endpoint: &str, status: u16, value: &Value, bytes: &[u8]) -> Attempt {
    let code = value.get("code").and_then(Value::as_i64).unwrap_or(0);
    let msg = value
        .get("message")
        .or_else(|| value.get("error"))
        .and_then(Value::as_str)
        .map_or_else(
            || String::from_utf8_lossy(bytes).trim().to_owned(),
            str::to_owned,
        );
    match (status, code) {
        (503, _) | (_, 14) => {
            let hint = if msg.contains("connection closed") {
                " (with --client-cert-auth, etcd's server certificate needs the clientAuth extended key usage too)"
            } else {
                ""
            };
            Attempt::Unreachable(format!("{endpoint}: HTTP {status}: {msg}{hint}"))
        }
        (401, _) | (_, 16) => Attempt::Unauthenticated(format!("{endpoint}: {msg}")),
        _ => Attempt::Refused(status, format!("{endpoint}: {msg}")),
    }
}

/// The error for a definitive refusal.
pub(super) fn refused(status: u16, why: &str) -> PoolError {
    if why.contains("user name is empty") {
        PoolError::Config(format!(
            "etcd has authentication enabled: set ipam.etcd.username and ipam.etcd.passwordFile ({why})"
        ))
    } else if status == 403 {
        PoolError::Config(format!(
            "etcd denied access (grant the podlease user read-write on the configured prefix): {why}"
        ))
    } else if status == 404 {
        PoolError::Config(format!(
            "etcd has no v3 JSON gateway at this endpoint (etcd 3.4+ with --enable-grpc-gateway, the default, is needed): {why}"
        ))
    } else {
        PoolError::Protocol(format!("etcd refused the request (HTTP {status}): {why}"))
    }
}
