//! A small synchronous client for etcd's v3 JSON gateway (`POST /v3/...`),
//! enough for cluster pools: range and txn, with optional
//! username/password (token) and TLS.
//!
//! Every wait is bounded by one deadline for the whole invocation; proxy
//! variables in the environment are never read (a CNI plugin inherits the
//! runtime's environment). Endpoints are tried in order; an endpoint that
//! cannot be reached or has no leader makes the next one be tried.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::PoolError;
use super::b64;
use crate::config::pools::EtcdConfig;

/// Longest wait for one TCP connection, so a dead first endpoint leaves
/// time for the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest response read (a range over every block of a large pool).
const MAX_RESPONSE: u64 = 64 << 20;

/// One key-value pair of a response.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Kv {
    /// Key, decoded.
    #[serde(deserialize_with = "de_b64")]
    pub key: Vec<u8>,
    /// Value, decoded.
    #[serde(deserialize_with = "de_b64")]
    pub value: Vec<u8>,
    /// Revision that created the key (the claim token).
    #[serde(deserialize_with = "de_i64")]
    pub create_revision: i64,
    /// Revision of the last change.
    #[serde(deserialize_with = "de_i64")]
    pub mod_revision: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Header {
    #[serde(deserialize_with = "de_i64")]
    revision: i64,
}

/// A range's answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RangeResponse {
    header: Header,
    /// Keys in key order.
    pub kvs: Vec<Kv>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponseOp {
    response_range: Option<RangeResponse>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawTxn {
    header: Header,
    succeeded: bool,
    responses: Vec<ResponseOp>,
}

/// A txn's answer: which branch ran, at which revision, and the ranges of
/// that branch (one entry per op; `None` for puts and deletes).
#[derive(Debug, Default)]
pub struct TxnResponse {
    /// The compares held.
    pub succeeded: bool,
    /// The store's revision after the txn (the revision of its writes).
    pub revision: i64,
    /// Range results, in op order.
    pub ranges: Vec<Option<RangeResponse>>,
}

impl TxnResponse {
    /// The first kv of the `i`th op's range, if any.
    pub fn kv(&self, i: usize) -> Option<&Kv> {
        self.ranges.get(i)?.as_ref()?.kvs.first()
    }

    /// All kvs of the `i`th op's range.
    pub fn kvs(&self, i: usize) -> &[Kv] {
        self.ranges
            .get(i)
            .and_then(Option::as_ref)
            .map_or(&[], |r| r.kvs.as_slice())
    }
}

fn de_b64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    b64::decode(&s).ok_or_else(|| serde::de::Error::custom("not base64"))
}

fn de_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an int64")),
        _ => Err(serde::de::Error::custom("not an int64")),
    }
}

/// The end of the range of keys starting with `prefix` (etcd's `getPrefix`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// One op of a txn.
pub enum Op<'a> {
    /// Put `value` at `key`.
    Put(&'a str, &'a [u8]),
    /// Read one key.
    Get(&'a str),
    /// Read every key under a prefix.
    GetPrefix(&'a str),
    /// Delete one key.
    Delete(&'a str),
}

impl Op<'_> {
    fn json(&self) -> Value {
        match self {
            Self::Put(k, v) => {
                json!({"request_put": {"key": b64::encode(k.as_bytes()), "value": b64::encode(v)}})
            }
            Self::Get(k) => json!({"request_range": {"key": b64::encode(k.as_bytes())}}),
            Self::GetPrefix(k) => json!({"request_range": {
                "key": b64::encode(k.as_bytes()),
                "range_end": b64::encode(&prefix_end(k.as_bytes())),
            }}),
            Self::Delete(k) => json!({"request_delete_range": {"key": b64::encode(k.as_bytes())}}),
        }
    }
}

/// One compare of a txn.
pub enum Cmp<'a> {
    /// The key does not exist (its create revision is 0).
    Absent(&'a str),
    /// The key exists with exactly this value.
    Value(&'a str, &'a [u8]),
    /// The key was created at this revision.
    Created(&'a str, i64),
}

impl Cmp<'_> {
    fn json(&self) -> Value {
        match self {
            Self::Absent(k) => json!({"target": "CREATE", "result": "EQUAL",
                "key": b64::encode(k.as_bytes()), "create_revision": "0"}),
            Self::Value(k, v) => json!({"target": "VALUE", "result": "EQUAL",
                "key": b64::encode(k.as_bytes()), "value": b64::encode(v)}),
            Self::Created(k, rev) => json!({"target": "CREATE", "result": "EQUAL",
                "key": b64::encode(k.as_bytes()), "create_revision": rev.to_string()}),
        }
    }
}

/// Why one request failed.
enum Attempt {
    /// Not reachable, no leader, timed out: try the next endpoint.
    Unreachable(String),
    /// The token expired or is invalid: authenticate again.
    Unauthenticated(String),
    /// A definitive refusal (permission, bad request).
    Refused(u16, String),
}

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

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>, PoolError> {
    std::fs::read(path).map_err(|e| {
        PoolError::Config(format!(
            "ipam.etcd.{what}: cannot read {}: {e}",
            path.display()
        ))
    })
}

#[cfg(feature = "etcd-tls")]
fn tls_config(cfg: &EtcdConfig) -> Result<ureq::tls::TlsConfig, PoolError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let certs = |what: &str, path: &Path| -> Result<Vec<Certificate<'static>>, PoolError> {
        let pem = read_file(what, path)?;
        let mut out = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => out.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(PoolError::Config(format!(
                        "ipam.etcd.{what}: {}: not PEM: {e}",
                        path.display()
                    )));
                }
            }
        }
        if out.is_empty() {
            return Err(PoolError::Config(format!(
                "ipam.etcd.{what}: {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(out)
    };
    let mut builder = TlsConfig::builder();
    if let Some(ca) = &cfg.ca_file {
        builder = builder.root_certs(RootCerts::new_with_certs(&certs("caFile", ca)?));
    }
    match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs("certFile", cert)?;
            let pem = read_file("keyFile", key)?;
            let key = PrivateKey::from_pem(&pem).map_err(|e| {
                PoolError::Config(format!(
                    "ipam.etcd.keyFile: {}: no usable PEM private key: {e}",
                    key.display()
                ))
            })?;
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(PoolError::Config(
                "ipam.etcd: certFile and keyFile go together: set both or neither".into(),
            ));
        }
    }
    Ok(builder.build())
}

impl Client {
    /// A client for `cfg`; reads the certificate and password files.
    ///
    /// # Errors
    /// [`PoolError::Config`] when a file cannot be read or TLS is asked of a
    /// build without it.
    pub fn new(cfg: &EtcdConfig) -> Result<Self, PoolError> {
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
                builder = builder.tls_config(tls_config(cfg)?);
            }
            #[cfg(not(feature = "etcd-tls"))]
            {
                return Err(PoolError::Config(
                    "ipam.etcd: https endpoints need podlease built with the etcd-tls feature"
                        .into(),
                ));
            }
        }
        let credentials = match (&cfg.username, &cfg.password_file) {
            (Some(user), Some(file)) => {
                let pw = read_file("passwordFile", file)?;
                let pw = String::from_utf8(pw).map_err(|_| {
                    PoolError::Config(format!(
                        "ipam.etcd.passwordFile: {} is not UTF-8",
                        file.display()
                    ))
                })?;
                Some((user.clone(), pw.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (None, None) => None,
            _ => {
                return Err(PoolError::Config(
                    "ipam.etcd: username and passwordFile go together: set both or neither".into(),
                ));
            }
        };
        Ok(Self {
            agent: builder.build().new_agent(),
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

    /// One POST to one endpoint.
    fn post_once(&self, endpoint: &str, path: &str, body: &Value) -> Result<Value, Attempt> {
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
        let code = value.get("code").and_then(Value::as_i64).unwrap_or(0);
        let msg = value
            .get("message")
            .or_else(|| value.get("error"))
            .and_then(Value::as_str)
            .map_or_else(
                || String::from_utf8_lossy(&bytes).trim().to_owned(),
                str::to_owned,
            );
        match (status, code) {
            (503, _) | (_, 14) => {
                let hint = if msg.contains("connection closed") {
                    " (with --client-cert-auth, etcd's server certificate needs the clientAuth extended key usage too)"
                } else {
                    ""
                };
                Err(Attempt::Unreachable(format!(
                    "{endpoint}: HTTP {status}: {msg}{hint}"
                )))
            }
            (401, _) | (_, 16) => Err(Attempt::Unauthenticated(format!("{endpoint}: {msg}"))),
            _ => Err(Attempt::Refused(status, format!("{endpoint}: {msg}"))),
        }
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
        let mut body = json!({"key": b64::encode(key.as_bytes())});
        if prefix {
            body["range_end"] = Value::String(b64::encode(&prefix_end(key.as_bytes())));
        }
        if keys_only {
            body["keys_only"] = Value::Bool(true);
        }
        let v = self.post("/v3/kv/range", &body)?;
        let r: RangeResponse = serde_json::from_value(v).map_err(|e| protocol("range", &e))?;
        let _ = r.header.revision;
        Ok(r.kvs)
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
        let body = json!({
            "compare": compare.iter().map(Cmp::json).collect::<Vec<_>>(),
            "success": success.iter().map(Op::json).collect::<Vec<_>>(),
            "failure": failure.iter().map(Op::json).collect::<Vec<_>>(),
        });
        let v = self.post("/v3/kv/txn", &body)?;
        let raw: RawTxn = serde_json::from_value(v).map_err(|e| protocol("txn", &e))?;
        Ok(TxnResponse {
            succeeded: raw.succeeded,
            revision: raw.header.revision,
            ranges: raw
                .responses
                .into_iter()
                .map(|r| r.response_range)
                .collect(),
        })
    }
}

fn protocol(what: &str, e: &serde_json::Error) -> PoolError {
    PoolError::Protocol(format!(
        "etcd's answer to a {what} is not what etcd 3.4+ sends: {e}"
    ))
}

fn refused(status: u16, why: &str) -> PoolError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_etcds() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn zero_values_omitted_and_int64_strings_parse() {
        let raw: RawTxn = serde_json::from_str(
            r#"{"header":{"revision":"2"},"responses":[{"response_range":{"header":{"revision":"2"},
            "kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"Yg=="}],"count":"1"}}]}"#,
        )
        .unwrap();
        assert!(!raw.succeeded);
        assert_eq!(raw.header.revision, 2);
        let kv = &raw.responses[0].response_range.as_ref().unwrap().kvs[0];
        assert_eq!(
            (kv.key.as_slice(), kv.value.as_slice()),
            (&b"a"[..], &b"b"[..])
        );
        assert_eq!(kv.create_revision, 2);
        let empty: RangeResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert!(empty.kvs.is_empty());
    }
}
