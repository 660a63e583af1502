//! The encoding of etcd's v3 JSON gateway: keys and values in base64,
//! int64s as strings, zero values omitted; range and txn requests and
//! their answers.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::PoolError;
use super::super::b64;

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

/// The body of a range request for `key`, or every key under it.
pub(super) fn range_body(key: &str, prefix: bool, keys_only: bool) -> Value {
    let mut body = json!({"key": b64::encode(key.as_bytes())});
    if prefix {
        body["range_end"] = Value::String(b64::encode(&prefix_end(key.as_bytes())));
    }
    if keys_only {
        body["keys_only"] = Value::Bool(true);
    }
    body
}

/// The kvs of a range's answer.
pub(super) fn range_kvs(v: Value) -> Result<Vec<Kv>, PoolError> {
    let r: RangeResponse = serde_json::from_value(v).map_err(|e| protocol("range", &e))?;
    Ok(r.kvs)
}

/// The body of a txn request.
pub(super) fn txn_body(compare: &[Cmp<'_>], success: &[Op<'_>], failure: &[Op<'_>]) -> Value {
    json!({
        "compare": compare.iter().map(Cmp::json).collect::<Vec<_>>(),
        "success": success.iter().map(Op::json).collect::<Vec<_>>(),
        "failure": failure.iter().map(Op::json).collect::<Vec<_>>(),
    })
}

/// A txn's answer.
pub(super) fn txn_response(v: Value) -> Result<TxnResponse, PoolError> {
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

fn protocol(what: &str, e: &serde_json::Error) -> PoolError {
    PoolError::Protocol(format!(
        "etcd's answer to a {what} is not what etcd 3.4+ sends: {e}"
    ))
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
