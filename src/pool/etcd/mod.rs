//! A small synchronous client for etcd's v3 JSON gateway (`POST /v3/...`),
//! enough for cluster pools: range and txn, with optional
//! username/password (token) and TLS.
//!
//! Every wait is bounded by one deadline for the whole invocation; proxy
//! variables in the environment are never read (a CNI plugin inherits the
//! runtime's environment). Endpoints are tried in order; an endpoint that
//! cannot be reached or has no leader makes the next one be tried.
//!
//! Files: `gateway` (the JSON encoding of requests and answers), `http`
//! (one POST to one endpoint, and what its failure means), `credentials`
//! (TLS files and the password); the client here walks the endpoints and
//! authenticates.

mod credentials;
mod gateway;
mod http;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::PoolError;
use crate::config::pools::EtcdConfig;
pub use gateway::{Cmp, Kv, Op, RangeResponse, TxnResponse, prefix_end};
use http::{Attempt, refused};

/// A client for one invocation.
pub struct Client {
    agent: ureq::Agent,
    endpoints: Vec<String>,
    /// The endpoint that answered last.
    current: usize,
    deadline: Instant,
    timeout: Duration,
    credentials: Option<(String, String)>,
    token: Option<String>,
}

impl Client {
    /// A client for `cfg`; reads the certificate and password files.
    ///
    /// # Errors
    /// [`PoolError::Config`] when a file cannot be read or TLS is asked of a
    /// build without it.
    pub fn new(cfg: &EtcdConfig) -> Result<Self, PoolError> {
        let agent = http::agent(cfg)?;
        let credentials = credentials::password(cfg)?;
        Ok(Self {
            agent,
            endpoints: cfg.endpoints.clone(),
            current: 0,
            deadline: Instant::now() + cfg.timeout,
            timeout: cfg.timeout,
            credentials,
            token: None,
        })
    }

    fn unavailable(&self, cause: &str) -> PoolError {
        PoolError::Unavailable(format!(
            "etcd ({}) is unreachable or did not answer within {}s: {cause}",
            self.endpoints.join(", "),
            self.timeout.as_secs_f64()
        ))
    }

    /// POSTs to the endpoints in turn until one answers definitively.
    fn post(&mut self, path: &str, body: &Value) -> Result<Value, PoolError> {
        if self.credentials.is_some() && self.token.is_none() {
            self.authenticate()?;
        }
        let mut reauthenticated = false;
        let mut last = String::new();
        let n = self.endpoints.len();
        let mut tried = 0;
        while tried < n {
            let idx = (self.current + tried) % n;
            let endpoint = self.endpoints.get(idx).cloned().unwrap_or_default();
            match self.post_once(&endpoint, path, body) {
                Ok(v) => {
                    self.current = idx;
                    return Ok(v);
                }
                Err(Attempt::Unreachable(why)) => {
                    last = why;
                    tried += 1;
                }
                Err(Attempt::Unauthenticated(why)) if !reauthenticated => {
                    reauthenticated = true;
                    last = why;
                    self.token = None;
                    self.authenticate()?;
                }
                Err(Attempt::Unauthenticated(why)) => {
                    return Err(PoolError::Config(format!(
                        "etcd refused the credentials of ipam.etcd.username: {why}"
                    )));
                }
                Err(Attempt::Refused(status, why)) => return Err(refused(status, &why)),
            }
        }
        Err(self.unavailable(&last))
    }

    fn authenticate(&mut self) -> Result<(), PoolError> {
        let Some((name, password)) = self.credentials.clone() else {
            return Ok(());
        };
        let body = json!({"name": name, "password": password});
        let n = self.endpoints.len();
        let mut last = String::new();
        for tried in 0..n {
            let idx = (self.current + tried) % n;
            let endpoint = self.endpoints.get(idx).cloned().unwrap_or_default();
            match self.post_once(&endpoint, "/v3/auth/authenticate", &body) {
                Ok(v) => {
                    let token = v.get("token").and_then(Value::as_str).unwrap_or_default();
                    if token.is_empty() {
                        return Err(PoolError::Config(format!(
                            "etcd at {endpoint} gave no token for user {name:?}: is auth enabled (etcdctl auth enable)?"
                        )));
                    }
                    self.token = Some(token.to_owned());
                    self.current = idx;
                    return Ok(());
                }
                Err(Attempt::Unreachable(why)) => last = why,
                Err(Attempt::Unauthenticated(why) | Attempt::Refused(_, why)) => {
                    return Err(PoolError::Config(format!(
                        "etcd refused user {name:?} (ipam.etcd.username/passwordFile): {why}"
                    )));
                }
            }
        }
        Err(self.unavailable(&last))
    }

    /// Reads `key`, or every key under it with `prefix`.
    ///
    /// # Errors
    /// [`PoolError`] when no endpoint answers or etcd refuses.
    pub fn range(
        &mut self,
        key: &str,
        prefix: bool,
        keys_only: bool,
    ) -> Result<Vec<Kv>, PoolError> {
        let v = self.post("/v3/kv/range", &gateway::range_body(key, prefix, keys_only))?;
        gateway::range_kvs(v)
    }

    /// Runs one transaction.
    ///
    /// # Errors
    /// [`PoolError`] when no endpoint answers or etcd refuses; after a
    /// timeout the outcome is unknown.
    pub fn txn(
        &mut self,
        compare: &[Cmp<'_>],
        success: &[Op<'_>],
        failure: &[Op<'_>],
    ) -> Result<TxnResponse, PoolError> {
        let v = self.post("/v3/kv/txn", &gateway::txn_body(compare, success, failure))?;
        gateway::txn_response(v)
    }
}
