//! CNI specification versions: which exist, which we speak, what each allows.

use std::fmt;

use super::error::InvocationError;
use super::invocation::Command;

/// A CNI specification version this plugin supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecVersion {
    /// 0.1.0 (also what an absent or empty `cniVersion` means).
    V0_1_0,
    /// 0.2.0.
    V0_2_0,
    /// 0.3.0.
    V0_3_0,
    /// 0.3.1.
    V0_3_1,
    /// 0.4.0: adds CHECK.
    V0_4_0,
    /// 1.0.0.
    V1_0_0,
    /// 1.1.0: adds GC and STATUS.
    V1_1_0,
}

/// How a result is laid out for a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultStyle {
    /// 0.1.0 / 0.2.0: `ip4` / `ip6` objects.
    Legacy,
    /// 0.3.x / 0.4.0: `ips` with a `version` per entry.
    Versioned,
    /// 1.x: `ips` without `version`.
    Current,
}

impl SpecVersion {
    /// Every supported version, oldest first.
    pub const ALL: [Self; 7] = [
        Self::V0_1_0,
        Self::V0_2_0,
        Self::V0_3_0,
        Self::V0_3_1,
        Self::V0_4_0,
        Self::V1_0_0,
        Self::V1_1_0,
    ];

    /// The newest supported version.
    pub const NEWEST: Self = Self::V1_1_0;

    /// Parses a `cniVersion`; empty means 0.1.0, as in the reference skeleton.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "" | "0.1.0" => Self::V0_1_0,
            "0.2.0" => Self::V0_2_0,
            "0.3.0" => Self::V0_3_0,
            "0.3.1" => Self::V0_3_1,
            "0.4.0" => Self::V0_4_0,
            "1.0.0" => Self::V1_0_0,
            "1.1.0" => Self::V1_1_0,
            _ => return None,
        })
    }

    /// The version as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1_0 => "0.1.0",
            Self::V0_2_0 => "0.2.0",
            Self::V0_3_0 => "0.3.0",
            Self::V0_3_1 => "0.3.1",
            Self::V0_4_0 => "0.4.0",
            Self::V1_0_0 => "1.0.0",
            Self::V1_1_0 => "1.1.0",
        }
    }

    /// The result layout of this version.
    pub fn result_style(self) -> ResultStyle {
        match self {
            Self::V0_1_0 | Self::V0_2_0 => ResultStyle::Legacy,
            Self::V0_3_0 | Self::V0_3_1 | Self::V0_4_0 => ResultStyle::Versioned,
            Self::V1_0_0 | Self::V1_1_0 => ResultStyle::Current,
        }
    }

    /// CHECK exists from 0.4.0.
    pub fn has_check(self) -> bool {
        self >= Self::V0_4_0
    }

    /// GC and STATUS exist from 1.1.0.
    pub fn has_gc_and_status(self) -> bool {
        self >= Self::V1_1_0
    }

    /// Whether a config of this version may ask for `command`: CHECK exists
    /// from 0.4.0, GC and STATUS from 1.1.0.
    ///
    /// # Errors
    /// [`InvocationError::CommandNotAllowed`] naming the first version with it.
    pub fn allows(self, command: Command) -> Result<(), InvocationError> {
        let (name, needs) = match command {
            Command::Check if !self.has_check() => ("CHECK", Self::V0_4_0),
            Command::Gc if !self.has_gc_and_status() => ("GC", Self::V1_1_0),
            Command::Status if !self.has_gc_and_status() => ("STATUS", Self::V1_1_0),
            _ => return Ok(()),
        };
        Err(InvocationError::CommandNotAllowed {
            command: name,
            version: self.as_str(),
            needs: needs.as_str(),
        })
    }

    /// The VERSION command's answer.
    pub fn version_info() -> String {
        let list: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        serde_json::json!({ "cniVersion": Self::NEWEST.as_str(), "supportedVersions": list })
            .to_string()
    }

    /// `"0.1.0" "0.2.0" ...` as the reference plugins list them in errors.
    pub fn supported_list() -> String {
        let list: Vec<String> = Self::ALL
            .iter()
            .map(|v| format!("{:?}", v.as_str()))
            .collect();
        format!("[{}]", list.join(" "))
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        for v in SpecVersion::ALL {
            assert_eq!(SpecVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(SpecVersion::parse(""), Some(SpecVersion::V0_1_0));
        assert_eq!(SpecVersion::parse("1.2.0"), None);
        assert_eq!(SpecVersion::parse("1.0"), None);
        assert!(!SpecVersion::V0_3_1.has_check() && SpecVersion::V0_4_0.has_check());
        assert!(
            !SpecVersion::V1_0_0.has_gc_and_status() && SpecVersion::V1_1_0.has_gc_and_status()
        );
    }

    #[test]
    fn version_json() {
        assert_eq!(
            SpecVersion::version_info(),
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
    }
}
