//! The operator's face of the binary (no `CNI_COMMAND` in the environment).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use podlease::cni::version::SpecVersion;

/// What the reference plugins print when run by hand.
fn about() -> String {
    let versions: Vec<&str> = SpecVersion::ALL.iter().map(|v| v.as_str()).collect();
    format!(
        "CNI podlease plugin v{}\nCNI protocol versions supported: {}\n",
        env!("CARGO_PKG_VERSION"),
        versions.join(", ")
    )
}

/// Runs the operator command line.
pub fn main(args: Vec<OsString>, _env: &BTreeMap<String, String>) -> ExitCode {
    let mut err = std::io::stderr().lock();
    if args.is_empty() {
        let _ = err.write_all(about().as_bytes());
        return ExitCode::SUCCESS;
    }
    let _ = err.write_all(b"podlease: operator commands are not available in this build; run it as a CNI plugin with CNI_COMMAND set\n");
    ExitCode::from(2)
}
