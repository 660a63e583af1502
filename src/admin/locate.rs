//! Whether the data directory a command is about to read is one at all, so
//! a mistyped path is an error that says what was looked for and where,
//! not an empty report. (Which data directory the configs name is
//! [`crate::config::discovery::data_dir_from_configs`]'s.)
//!
//! Never: a network's lock or state (only directory listings and file
//! names are read).

use std::fs;
use std::path::{Path, PathBuf};

use super::AdminError;
use crate::ids::NetworkName;
use crate::store::layout::parse_ip_name;

/// What in `dir` shows it is one network's state directory, if anything.
fn network_state_sign(dir: &Path) -> Option<String> {
    if dir.join("lock").is_file() {
        return Some("a lock file".into());
    }
    if dir.join(".podlease").is_dir() {
        return Some("podlease's .podlease directory".into());
    }
    let entries = fs::read_dir(dir).ok()?;
    for e in entries.filter_map(Result::ok).take(10_000) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("last_reserved_ip.") {
            return Some(format!("the range cursor {name}"));
        }
        if parse_ip_name(name).is_some() && e.path().is_file() {
            return Some(format!("the address file {name}"));
        }
    }
    None
}

/// Whether `dir` holds at least one network's state directory.
fn holds_networks(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).take(10_000).any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| NetworkName::new(n).is_ok())
                && e.path().is_dir()
                && network_state_sign(&e.path()).is_some()
        })
    })
}

/// A directory next to or under `dir` that holds networks, for a hint.
fn data_dir_nearby(dir: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(dir).ok()?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .take(1000)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs.into_iter().find(|p| holds_networks(p))
}

/// Refuses a data directory that cannot be the one meant: one network's
/// state directory (`<dataDir>/<network>`, a common slip), a directory that
/// does not exist, or one without any network's state, unless a config
/// found for this command names it as its `dataDir` (a node where no pod
/// has been given an address yet). Reads directory listings only.
///
/// # Errors
/// [`AdminError::NotFound`] saying what was looked for, where, and what
/// was probably meant.
pub fn check_data_dir(data_dir: &Path, configured: bool) -> Result<(), AdminError> {
    let shown = data_dir.display();
    if let Some(sign) = network_state_sign(data_dir) {
        let network = data_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = data_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        return Err(AdminError::NotFound(format!(
            "{shown} is the state directory of network {network} (it holds {sign}), not a data directory: did you mean --data-dir {}?",
            parent.display()
        )));
    }
    if configured {
        return Ok(());
    }
    let note = "and no CNI config found names it as its dataDir";
    match fs::metadata(data_dir) {
        Err(_) => {
            let hint = data_dir
                .parent()
                .and_then(|p| p.is_dir().then(|| data_dir_nearby(p)).flatten())
                .map(|d| format!(": did you mean --data-dir {}?", d.display()))
                .unwrap_or_else(|| {
                    " (check --data-dir or PODLEASE_DATA_DIR, or give the network's config with --config)".into()
                });
            Err(AdminError::NotFound(format!(
                "data directory {shown} does not exist, {note}{hint}"
            )))
        }
        Ok(m) if !m.is_dir() => Err(AdminError::NotFound(format!(
            "data directory {shown} is not a directory"
        ))),
        Ok(_) if holds_networks(data_dir) => Ok(()),
        Ok(_) => {
            let hint = data_dir_nearby(data_dir)
                .map(|d| format!(": did you mean --data-dir {}?", d.display()))
                .unwrap_or_else(|| {
                    " (check --data-dir, or give the network's config with --config)".into()
                });
            Err(AdminError::NotFound(format!(
                "no network has state in {shown}, {note}{hint}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("networks");
        let net = data.join("cbr0");
        // Missing, not configured: refused with a hint once a sibling holds networks.
        let e = check_data_dir(&data, false).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(check_data_dir(&data, true).is_ok());
        fs::create_dir_all(&net).unwrap();
        let e = check_data_dir(&data, false).unwrap_err().to_string();
        assert!(e.contains("no network has state"), "{e}");
        fs::write(net.join("10.0.0.2"), "id\r\neth0").unwrap();
        assert!(check_data_dir(&data, false).is_ok());
        let e = check_data_dir(&net, true).unwrap_err().to_string();
        assert!(
            e.contains("state directory of network cbr0")
                && e.contains(&format!("--data-dir {}?", data.display())),
            "{e}"
        );
        let e = check_data_dir(&tmp.path().join("networkz"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("--data-dir {}?", data.display())),
            "{e}"
        );
        let e = check_data_dir(tmp.path(), false).unwrap_err().to_string();
        assert!(
            e.contains(&format!("--data-dir {}?", data.display())),
            "{e}"
        );
    }
}
