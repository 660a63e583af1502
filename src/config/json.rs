//! Reading a `serde_json::Value` the way host-local's Go decoder does: object
//! keys match case-insensitively (an exact match wins), `null` means absent,
//! unknown keys are ignored. Every error names the JSON path of the field.

use serde_json::{Map, Value};

use super::ConfigError;

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

    /// The field `key` (exact match first, then case-insensitive), `None` if absent or null.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let value = self.map.get(key).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })?;
        if value.is_null() {
            return None;
        }
        Some(Field {
            value,
            path: self.child_path(key),
        })
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
