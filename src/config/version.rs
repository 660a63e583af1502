//! CNI specification versions: which exist, which we speak, which commands
//! each has. A config's `cniVersion` decides what it may ask for and how
//! results are laid out (that part is the CNI face's, `plugin::version`).

use std::fmt;

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

    /// CHECK exists from 0.4.0.
    pub fn has_check(self) -> bool {
        self >= Self::V0_4_0
    }

    /// GC and STATUS exist from 1.1.0.
    pub fn has_gc_and_status(self) -> bool {
        self >= Self::V1_1_0
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
}
