//! The network configuration on stdin, as far as every command reads it:
//! decoded as Go's decoder reads it (case folding, the last of equal keys),
//! its `cniVersion` and its `name`. Each command's `ipam` section is read
//! later, by [`super::request`].

use serde_json::{Map, Value};

use super::MAX_STDIN;
use super::error::{InvocationError, PluginError};
use crate::config::SpecVersion;
use crate::config::{ConfigError, go_get};
use crate::ids::NetworkName;

/// stdin, decoded, with the fields every command needs.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The whole document.
    pub root: Value,
    /// `cniVersion` (absent or empty: 0.1.0).
    pub version: SpecVersion,
    /// `name`, usable as a directory name.
    pub name: NetworkName,
}

impl NetworkConfig {
    /// Decodes stdin and reads `cniVersion` and `name`.
    ///
    /// # Errors
    /// Too large, not a JSON object, a version we do not speak, or a bad name.
    pub fn decode(stdin: &[u8]) -> Result<Self, PluginError> {
        if stdin.len() > MAX_STDIN {
            return Err(InvocationError::StdinTooLarge {
                len: stdin.len(),
                max: MAX_STDIN,
            }
            .into());
        }
        let root: Value = crate::config::decode_go_json(stdin).map_err(InvocationError::NotJson)?;
        let Value::Object(top) = &root else {
            return Err(InvocationError::NotAnObject.into());
        };
        let version = spec_version(top)?;
        let name = network_name(top)?;
        Ok(Self {
            root,
            version,
            name,
        })
    }

    /// The top-level object (checked by [`Self::decode`]).
    pub fn top(&self) -> Option<&Map<String, Value>> {
        self.root.as_object()
    }

    /// Keys host-local accepts but we do not know: a typo must not pass unseen.
    pub fn unknown_key_warnings(&self) -> impl Iterator<Item = String> + '_ {
        crate::config::known_keys::warnings(&self.root)
            .into_iter()
            .map(|w| format!("network {}: {w}", self.name))
    }
}

fn spec_version(top: &Map<String, Value>) -> Result<SpecVersion, InvocationError> {
    let version = match go_get(top, "cniVersion") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(InvocationError::VersionNotString {
                found: other.to_string(),
            });
        }
    };
    SpecVersion::parse(version).ok_or_else(|| InvocationError::IncompatibleVersion {
        found: version.to_owned(),
        supported: SpecVersion::supported_list(),
    })
}

fn network_name(top: &Map<String, Value>) -> Result<NetworkName, PluginError> {
    match go_get(top, "name") {
        // The name becomes a directory name: at most 255 bytes.
        Some(Value::String(s)) if s.len() > 255 => Err(ConfigError::Invalid {
            field: "name".into(),
            reason: format!(
                "{} bytes long; it names a directory under dataDir, so at most 255",
                s.len()
            ),
        }
        .into()),
        Some(Value::String(s)) if !s.is_empty() => {
            NetworkName::new(s).map_err(|e| InvocationError::NetworkName(e).into())
        }
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ConfigError::Missing {
            field: "name".into(),
        }
        .into()),
        Some(other) => Err(ConfigError::Type {
            field: "name".into(),
            expected: "a string",
            found: other.to_string(),
        }
        .into()),
    }
}
