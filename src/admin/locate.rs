//! Whether the data directory a command is about to read is one at all, so
//! a mistyped path is an error that says what was looked for and where,
//! not an empty report. (Which data directory the configs name is
//! [`crate::config::discovery::data_dir_from_configs`]'s.)
//!
//! Never: a network's lock or state: what a directory holds is asked of
//! the store ([`crate::store::view`]).

use std::fs;
use std::path::{Path, PathBuf};

use super::AdminError;
use crate::store::view;

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
    subdirs.into_iter().find(|p| view::holds_networks(p))
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
    if let Some(sign) = view::state_sign(data_dir) {
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
        Ok(_) if view::holds_networks(data_dir) => Ok(()),
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
