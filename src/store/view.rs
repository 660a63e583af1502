//! Read-only views of a data directory for the operator commands: which
//! networks have state, what shows a directory is one network's state, and
//! the network's address journal. Nothing here takes a lock or writes, so
//! it works on a read-only mount; a concurrent operation can only make an
//! answer stale.
//!
//! Built on the store's public items only ([`Layout`], [`parse_ip_name`]),
//! so the operator commands never name a file of the state themselves.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::layout::{Layout, parse_ip_name};
use crate::ids::NetworkName;
use crate::journal::{self, Contents};

/// Entries looked at per directory when guessing what a directory is.
const SCAN_LIMIT: usize = 10_000;

/// Whether `network` has a state directory under `data_dir`.
pub fn has_state(data_dir: &Path, network: &NetworkName) -> bool {
    Layout::new(data_dir, network).dir.is_dir()
}

/// The networks with state under `data_dir`, by name: directories with a
/// valid network name holding a `lock` file or an address file. A missing
/// data directory has none.
///
/// # Errors
/// The I/O error listing `data_dir`.
pub fn networks(data_dir: &Path) -> io::Result<Vec<NetworkName>> {
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| NetworkName::new(n).ok())
        else {
            continue;
        };
        let layout = Layout::new(data_dir, &name);
        if !layout.dir.is_dir() {
            continue;
        }
        if layout.lock().is_file() || has_address_file(&layout.dir) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

fn has_address_file(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.file_name().to_str().and_then(parse_ip_name).is_some()))
    })
}

/// What in `dir` shows it is one network's state directory, in words (`a
/// lock file`, `the address file 10.1.2.3`...), if anything.
pub fn state_sign(dir: &Path) -> Option<String> {
    if dir.join("lock").is_file() {
        return Some("a lock file".into());
    }
    if dir.join(".podlease").is_dir() {
        return Some("podlease's .podlease directory".into());
    }
    let entries = fs::read_dir(dir).ok()?;
    for e in entries.filter_map(Result::ok).take(SCAN_LIMIT) {
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
pub fn holds_networks(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).take(SCAN_LIMIT).any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| NetworkName::new(n).is_ok())
                && e.path().is_dir()
                && state_sign(&e.path()).is_some()
        })
    })
}

/// What a network's journal file is, without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalFile {
    /// Absent, or its metadata cannot be read.
    Missing,
    /// Something other than a regular file: nothing can be recorded.
    NotRegular,
    /// A regular file without write permission.
    ReadOnly,
    /// A regular file that can be written.
    Writable,
}

/// The network's current journal file and what it is.
pub fn journal_file(data_dir: &Path, network: &NetworkName) -> (PathBuf, JournalFile) {
    let path = Layout::new(data_dir, network).journal();
    let kind = match fs::symlink_metadata(&path) {
        Ok(m) if !m.is_file() => JournalFile::NotRegular,
        Ok(m) if m.permissions().readonly() => JournalFile::ReadOnly,
        Ok(_) => JournalFile::Writable,
        Err(_) => JournalFile::Missing,
    };
    (path, kind)
}

/// The network's journal (current and rotated files), read without the lock.
///
/// # Errors
/// The journal's I/O error.
pub fn read_journal(data_dir: &Path, network: &NetworkName) -> io::Result<Contents> {
    journal::read(&Layout::new(data_dir, network).journal())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_directories_with_a_lock_or_an_address() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path();
        assert!(networks(&data.join("missing")).unwrap().is_empty());
        for (name, file) in [
            ("locked", Some("lock")),
            ("held", Some("10.0.0.2")),
            ("cursor", Some("last_reserved_ip.0")),
            ("empty", None),
        ] {
            fs::create_dir(data.join(name)).unwrap();
            if let Some(f) = file {
                fs::write(data.join(name).join(f), "").unwrap();
            }
        }
        fs::write(data.join("plain-file"), "").unwrap();
        let names: Vec<String> = networks(data)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["held", "locked"]);
        // A range cursor alone is a sign of state for the data directory check.
        assert_eq!(
            state_sign(&data.join("cursor")).as_deref(),
            Some("the range cursor last_reserved_ip.0")
        );
        assert!(state_sign(&data.join("empty")).is_none());
        assert!(holds_networks(data));
        let net = NetworkName::new("held").unwrap();
        assert!(has_state(data, &net));
        assert_eq!(journal_file(data, &net).1, JournalFile::Missing);
        assert!(read_journal(data, &net).unwrap().records.is_empty());
    }
}
