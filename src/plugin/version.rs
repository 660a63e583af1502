//! What a CNI version means to the protocol: which commands a config of that
//! version may ask for, how its results are laid out, and the VERSION
//! answer. The version type itself is the config's ([`SpecVersion`]).

use super::error::InvocationError;
use super::invocation::Command;
use crate::config::version::SpecVersion;

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

/// The result layout of `version`.
pub fn result_style(version: SpecVersion) -> ResultStyle {
    use SpecVersion as V;
    match version {
        V::V0_1_0 | V::V0_2_0 => ResultStyle::Legacy,
        V::V0_3_0 | V::V0_3_1 | V::V0_4_0 => ResultStyle::Versioned,
        V::V1_0_0 | V::V1_1_0 => ResultStyle::Current,
    }
}

/// Whether a config of `version` may ask for `command`: CHECK exists from
/// 0.4.0, GC and STATUS from 1.1.0.
///
/// # Errors
/// [`InvocationError::CommandNotAllowed`] naming the first version with it.
pub fn allows(version: SpecVersion, command: Command) -> Result<(), InvocationError> {
    let (name, needs) = match command {
        Command::Check if !version.has_check() => ("CHECK", SpecVersion::V0_4_0),
        Command::Gc if !version.has_gc_and_status() => ("GC", SpecVersion::V1_1_0),
        Command::Status if !version.has_gc_and_status() => ("STATUS", SpecVersion::V1_1_0),
        _ => return Ok(()),
    };
    Err(InvocationError::CommandNotAllowed {
        command: name,
        version: version.as_str(),
        needs: needs.as_str(),
    })
}

/// The VERSION command's answer.
pub fn version_info() -> String {
    let list: Vec<&str> = SpecVersion::ALL.iter().map(|v| v.as_str()).collect();
    serde_json::json!({ "cniVersion": SpecVersion::NEWEST.as_str(), "supportedVersions": list })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_json() {
        assert_eq!(
            version_info(),
            r#"{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"#
        );
    }

    #[test]
    fn commands_by_version() {
        assert!(allows(SpecVersion::V0_3_1, Command::Check).is_err());
        assert!(allows(SpecVersion::V0_4_0, Command::Check).is_ok());
        assert!(allows(SpecVersion::V1_0_0, Command::Gc).is_err());
        assert!(allows(SpecVersion::V1_0_0, Command::Status).is_err());
        assert!(allows(SpecVersion::V1_1_0, Command::Status).is_ok());
        assert!(allows(SpecVersion::V0_1_0, Command::Add).is_ok());
    }
}
