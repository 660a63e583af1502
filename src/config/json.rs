//! Reading the network configuration the way host-local's Go decoder
//! (`encoding/json` into host-local's structs) does, at every level:
//!
//! - a key matches a field when the two are equal under Go's case folding
//!   (`bytes.EqualFold`: ASCII letters in any case, and the two non-ASCII
//!   letters that fold to ASCII ones, U+017F `ſ` for `s` and U+212A KELVIN
//!   SIGN for `k`);
//! - keys of one object that fold to the same name are one field, decoded
//!   in document order into the same place ([`decode`] keeps the value Go
//!   leaves there): a later string or number replaces, a later object is
//!   decoded into the earlier one (fields it does not name stay, as in the
//!   struct the first one filled), a later array element by element; a
//!   later `null` resets the field, except one Go decodes into a string,
//!   number, boolean or struct, which ignores it (see
//!   [`NULL_KEEPS_EARLIER`]);
//! - `null` means absent; unknown keys are ignored.
//!
//! Every error names the JSON path of the field.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::ConfigError;

/// Fields (folded) whose Go type is a string, number, boolean or struct, so
/// that a later `null` for them leaves an earlier value in place. Every
/// other field (pointers, slices, maps, IPs, podlease's lists) is reset by a
/// later `null`, which podlease reads as absent. A new string, number or
/// boolean key goes here.
const NULL_KEEPS_EARLIER: &[&str] = &[
    // host-local's structs
    "name",
    "cniversion",
    "type",
    "datadir",
    "resolvconf",
    "runtimeconfig",
    "mtu",
    "advmss",
    "priority",
    // podlease's own scalar keys, by the same rule
    "subnetfile",
    "reusedelayseconds",
    "sticky",
    "reclaimonreboot",
    "reclaimclockslackseconds",
];

/// Fields (folded) Go decodes with the CNI library's `IPNet`, whose decoder
/// fails on `null`.
const CIDR_FIELDS: &[&str] = &["subnet", "dst"];

/// One character under Go's key folding (see the module doc).
fn fold_char(c: char) -> char {
    match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

/// Whether two keys are equal under Go's key folding.
pub(crate) fn fold_eq(a: &str, b: &str) -> bool {
    a.len() <= b.len() * 3
        && b.len() <= a.len() * 3
        && a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// A key folded to a canonical form (for grouping).
fn fold(key: &str) -> String {
    key.chars().map(fold_char).collect()
}

/// A JSON document as written: objects keep every key, in order, duplicates
/// included (what Go's decoder walks).
enum Raw {
    Scalar(Value),
    Null,
    Array(Vec<Raw>),
    Object(Vec<(String, Raw)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Number::from_f64(v).map_or(Raw::Null, |n| Raw::Scalar(Value::Number(n))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Scalar(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Raw::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            out.push((key, map.next_value()?));
        }
        Ok(Raw::Object(out))
    }
}

/// Decodes `raw` into `target` as Go decodes a value into a field that
/// holds what earlier keys left (`None`: nothing yet). `folded` is the
/// field's folded key (empty for an array element).
///
/// - an object is decoded into the object already there (a struct keeps
///   the fields the new object does not name), its keys in document order,
///   each key equal under folding to an earlier one going to the same field;
/// - an array is decoded element by element into the array already there,
///   then cut to its own length;
/// - `null` resets, except a field in [`NULL_KEEPS_EARLIER`], which keeps
///   an earlier value; a `null` in a field of [`CIDR_FIELDS`] stays whatever
///   follows (Go has already failed on it);
/// - anything else replaces.
fn apply(target: &mut Option<Value>, raw: Raw, folded: &str) {
    if CIDR_FIELDS.contains(&folded) && matches!(target, Some(Value::Null)) {
        return;
    }
    match raw {
        Raw::Null => {
            let keep = NULL_KEEPS_EARLIER.contains(&folded)
                && target.as_ref().is_some_and(|v| !v.is_null());
            if !keep {
                *target = Some(Value::Null);
            }
        }
        Raw::Scalar(v) => *target = Some(v),
        Raw::Array(items) => {
            let mut out = match target.take() {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            let len = items.len();
            for (i, item) in items.into_iter().enumerate() {
                let mut slot = out.get_mut(i).map(std::mem::take);
                apply(&mut slot, item, "");
                let v = slot.unwrap_or(Value::Null);
                match out.get_mut(i) {
                    Some(place) => *place = v,
                    None => out.push(v),
                }
            }
            out.truncate(len);
            *target = Some(Value::Array(out));
        }
        Raw::Object(pairs) => {
            let mut out = match target.take() {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            // Folded key -> the key the field is stored under. (A BTreeMap:
            // no hasher seed to draw from the OS on every call.)
            let mut by_fold: std::collections::BTreeMap<String, String> =
                out.keys().map(|k| (fold(k), k.clone())).collect();
            for (key, value) in pairs {
                let f = fold(&key);
                let stored = by_fold.get(&f).cloned().unwrap_or(key);
                let mut slot = out.remove(&stored);
                apply(&mut slot, value, &f);
                if let Some(v) = slot {
                    out.insert(stored.clone(), v);
                }
                by_fold.insert(f, stored);
            }
            *target = Some(Value::Object(out));
        }
    }
}

/// Decodes a network configuration as Go's decoder reads it into
/// host-local's structs (see the module doc): every object holds one entry
/// per field, with the value Go would have left there, so that looking a
/// field up with [`get`] finds what host-local decoded.
///
/// # Errors
/// The JSON syntax error.
pub fn decode(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let raw: Raw = serde_json::from_slice(bytes)?;
    let mut out = None;
    apply(&mut out, raw, "");
    Ok(out.unwrap_or(Value::Null))
}

/// The value of field `key` in `map` under Go's key folding (`null` included).
pub fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
        .or_else(|| map.iter().find(|(k, _)| fold_eq(k, key)).map(|(_, v)| v))
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let cut = (0..=77).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}...", s.get(..cut).unwrap_or_default())
    } else {
        s
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object and where it sits in the document.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: &'a str,
}

/// One value and its path.
pub(crate) struct Field<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Obj<'a> {
    /// The object at `value`, or a type error for `path`.
    pub fn of(value: &'a Value, path: &'a str) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(wrong_type(path, "an object", other)),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key` under Go's key folding, `None` if absent or null.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let value = get(self.map, key)?;
        if value.is_null() {
            return None;
        }
        Some(Field {
            value,
            path: self.child_path(key),
        })
    }

    /// Whether the field is there and `null`. (Go decodes `null` into a CIDR
    /// field such as `subnet` or `dst` as the empty string, which is no CIDR.)
    pub fn is_null(&self, key: &str) -> bool {
        get(self.map, key).is_some_and(Value::is_null)
    }

    /// A string field; `None` if absent, null.
    pub fn str(&self, key: &str) -> Result<Option<(&'a str, String)>, ConfigError> {
        self.get(key)
            .map(|f| f.as_str().map(|s| (s, f.path)))
            .transpose()
    }

    /// A string field where `""` also means absent (Go's nil IP quirk).
    pub fn nonempty_str(&self, key: &str) -> Result<Option<(&'a str, String)>, ConfigError> {
        Ok(self.str(key)?.filter(|(s, _)| !s.is_empty()))
    }

    /// A boolean field.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.get(key)
            .map(|f| {
                f.value
                    .as_bool()
                    .ok_or_else(|| wrong_type(&f.path, "a boolean", f.value))
            })
            .transpose()
    }

    /// A non-negative integer field.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        self.get(key)
            .map(|f| {
                f.value
                    .as_u64()
                    .ok_or_else(|| wrong_type(&f.path, "a non-negative integer", f.value))
            })
            .transpose()
    }

    /// An integer field.
    pub fn i64(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        self.get(key)
            .map(|f| {
                f.value
                    .as_i64()
                    .ok_or_else(|| wrong_type(&f.path, "an integer", f.value))
            })
            .transpose()
    }
}

impl<'a> Field<'a> {
    /// The value as a string.
    pub fn as_str(&self) -> Result<&'a str, ConfigError> {
        self.value
            .as_str()
            .ok_or_else(|| wrong_type(&self.path, "a string", self.value))
    }

    /// The value as an array of fields with indexed paths.
    pub fn items(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        match self.value {
            Value::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, value)| Field {
                    value,
                    path: format!("{}[{i}]", self.path),
                })
                .collect()),
            other => Err(wrong_type(&self.path, "an array", other)),
        }
    }
}

pub(crate) fn wrong_type(path: &str, expected: &'static str, found: &Value) -> ConfigError {
    ConfigError::Type {
        field: path.to_owned(),
        expected,
        found: format!("{} {}", type_name(found), show(found)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Go's rule for one JSON key against a field name (ASCII), written
    /// position by position (`encoding/json` of Go 1.19, `equalFoldRight`).
    fn go_matches(key: &str, field: &str) -> bool {
        key.chars().count() == field.len()
            && key.chars().zip(field.chars()).all(|(c, f)| {
                c.eq_ignore_ascii_case(&f)
                    || (c == '\u{17f}' && f.eq_ignore_ascii_case(&'s'))
                    || (c == '\u{212a}' && f.eq_ignore_ascii_case(&'k'))
            })
    }

    /// What Go leaves in `field` after decoding `pairs` in order.
    fn go_model<'a>(pairs: &'a [(String, Value)], field: &str) -> Option<&'a Value> {
        let scalar = NULL_KEEPS_EARLIER.contains(&field.to_ascii_lowercase().as_str());
        let mut state: Option<&Value> = None;
        let cidr = CIDR_FIELDS.contains(&field.to_ascii_lowercase().as_str());
        for (k, v) in pairs {
            if !go_matches(k, field) {
                continue;
            }
            if v.is_null() && scalar && state.is_some_and(|s| !s.is_null()) {
                continue;
            }
            if cidr && state.is_some_and(Value::is_null) {
                continue; // Go has failed on the null already
            }
            state = Some(v);
        }
        state
    }

    const FIELDS: &[&str] = &[
        "name",
        "cniVersion",
        "subnet",
        "rangeStart",
        "ipam",
        "sticky",
        "dst",
    ];

    /// A spelling of `field`: each letter kept, upper- or lower-cased, or
    /// replaced by a look-alike that Go does (ſ, K) or does not (ı, İ, ß) fold.
    fn spelling(field: &str, picks: &[u8]) -> String {
        field
            .chars()
            .zip(picks.iter().cycle())
            .map(|(c, p)| match (p % 7, c.to_ascii_lowercase()) {
                (0, _) => c.to_ascii_uppercase(),
                (1, _) => c.to_ascii_lowercase(),
                (2, 's') => '\u{17f}',
                (2, 'k') => '\u{212a}',
                (3, 'i') => '\u{131}',
                (3, 's') => '\u{df}',
                (4, 'i') => '\u{130}',
                _ => c,
            })
            .collect()
    }

    #[test]
    fn later_objects_and_arrays_merge_into_earlier_ones() {
        // As host-local 1.1.1 reads them (tests/compat_host_local.rs has the
        // same documents against the binary).
        let v = decode(br#"{"ipam":{"subnet":"a","type":"t"},"IPAM":{"dataDir":"d","Type":"u"}}"#)
            .unwrap();
        let ipam = get(v.as_object().unwrap(), "ipam")
            .unwrap()
            .as_object()
            .unwrap();
        assert_eq!(get(ipam, "subnet"), Some(&Value::from("a")));
        assert_eq!(get(ipam, "dataDir"), Some(&Value::from("d")));
        assert_eq!(get(ipam, "type"), Some(&Value::from("u")));
        let v = decode(
            br#"{"ranges":[[{"subnet":"a","rangeStart":"s"},{"subnet":"b"}]],"RANGES":[[{"subnet":"c"}]]}"#,
        )
        .unwrap();
        assert_eq!(
            get(v.as_object().unwrap(), "ranges"),
            Some(&serde_json::json!([[{"subnet":"c","rangeStart":"s"}]]))
        );
        let v = decode(br#"{"ips":["a","b"],"IPS":["c"],"x":{"y":1},"X":"s"}"#).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(get(m, "ips"), Some(&serde_json::json!(["c"])));
        assert_eq!(get(m, "x"), Some(&Value::from("s")));
        let v = decode(
            br#"{"runtimeConfig":{"ips":["a"]},"RuntimeConfig":null,"args":{"a":1},"ARGS":null}"#,
        )
        .unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(
            get(m, "runtimeConfig"),
            Some(&serde_json::json!({"ips":["a"]}))
        );
        assert_eq!(get(m, "args"), Some(&Value::Null));
    }

    #[test]
    fn last_of_equal_keys_wins() {
        let v = decode(br#"{"subnet":"a","Subnet":"b","SUBNET":"c","other":1}"#).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(get(m, "subnet"), Some(&Value::from("c")));
        assert_eq!(m.len(), 2);
        let v = decode(br#"{"name":"a","Name":null,"ranges":[1],"RANGES":null}"#).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(get(m, "name"), Some(&Value::from("a")));
        assert_eq!(get(m, "ranges"), Some(&Value::Null));
        let v = decode("{\"ſubnet\":\"x\",\"\u{212a}ey\":1,\"ıpam\":2}".as_bytes()).unwrap();
        let m = v.as_object().unwrap();
        assert_eq!(get(m, "subnet"), Some(&Value::from("x")));
        assert_eq!(get(m, "key"), Some(&Value::from(1)));
        assert_eq!(get(m, "ipam"), None);
        // Nested objects, inside arrays too.
        let v = decode(br#"{"a":[{"x":1,"X":2}],"b":{"y":{"Y":3,"y":4}}}"#).unwrap();
        // (A merged field keeps the spelling of its first key.)
        assert_eq!(v, serde_json::json!({"a":[{"x":2}],"b":{"y":{"Y":4}}}));
    }

    proptest! {
        #[test]
        fn decode_then_get_is_what_go_decodes(
            entries in proptest::collection::vec(
                (0..FIELDS.len(), proptest::collection::vec(any::<u8>(), 1..12), 0u8..4),
                0..12,
            )
        ) {
            let pairs: Vec<(String, Value)> = entries
                .iter()
                .enumerate()
                .map(|(i, (f, picks, kind))| {
                    let key = spelling(FIELDS[*f], picks);
                    let value = match kind {
                        0 => Value::Null,
                        1 => Value::from(i),
                        2 => Value::from(format!("v{i}")),
                        _ => serde_json::json!({ "inner": i, "INNER": i + 100 }),
                    };
                    (key, value)
                })
                .collect();
            let text = format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let decoded = decode(text.as_bytes()).unwrap();
            let map = decoded.as_object().unwrap();
            // An object is compared by what Go reads in it: field "inner",
            // written sorted ("INNER" before "inner"), so the last is "inner".
            let read = |v: &Value| match v {
                Value::Object(o) => serde_json::json!({ "inner": get(o, "inner") }),
                other => other.clone(),
            };
            for field in FIELDS {
                let want = go_model(&pairs, field).map(|v| match v {
                    Value::Object(_) => serde_json::json!({ "inner": v["inner"] }),
                    other => other.clone(),
                });
                prop_assert_eq!(get(map, field).map(read), want, "{} in {}", field, text);
            }
        }
    }
}
