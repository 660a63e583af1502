//! Where the operator's state is: the data directory a command should read
//! (from the configs it was given when no `--data-dir` says), and whether a
//! directory is one at all, so a mistyped path is an error that says what
//! was looked for and where, not an empty report.
//!
//! Owns: the CNI config files' plugins of ours ([`ipam_plugins`]), shared by
//! the data directory search and `podlease validate`. Never: a network's
//! lock or state (only directory listings and file names are read).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::admin::AdminError;
use crate::config::ReleaseConfig;
use crate::ids::NetworkName;
use crate::store::layout::parse_ip_name;

/// The ipam types whose state podlease reads.
pub const IPAM_TYPES: [&str; 2] = ["podlease", "host-local"];

/// File extensions libcni loads from a config directory.
pub const CONF_EXTENSIONS: [&str; 3] = ["conf", "conflist", "json"];

/// Largest config file read.
const MAX_CONF: u64 = 1 << 20;

/// One plugin of ours in a config file, as libcni hands it to the plugin.
#[derive(Debug, Clone)]
pub struct IpamPlugin {
    /// Its index in `plugins` (0 for a `.conf`).
    pub index: usize,
    /// The network name (the list's, for a conflist).
    pub name: String,
    /// The config's `cniVersion`.
    pub version: String,
    /// The plugin's config with `name` and `cniVersion` set, as the plugin's stdin.
    pub conf: Value,
}

/// The plugins of a config file's text whose ipam type is ours.
///
/// # Errors
/// A message (without the file name) when the text is not a JSON object or
/// its `plugins` is not a list.
pub fn ipam_plugins(text: &str) -> Result<Vec<IpamPlugin>, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(top) = &root else {
        return Err("not a JSON object".into());
    };
    let version = top
        .get("cniVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = top.get("name").and_then(Value::as_str).unwrap_or_default();
    // A conflist has `plugins`; a .conf is one plugin.
    let plugins: Vec<&Value> = match top.get("plugins") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(_) => return Err("plugins is not a list".into()),
        None => vec![&root],
    };
    let mut out = Vec::new();
    for (index, plugin) in plugins.into_iter().enumerate() {
        let Value::Object(obj) = plugin else { continue };
        let ours = obj
            .get("ipam")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| IPAM_TYPES.contains(&t));
        if !ours {
            continue;
        }
        let mut conf = obj.clone();
        conf.insert("name".into(), Value::String(name.to_owned()));
        conf.insert("cniVersion".into(), Value::String(version.to_owned()));
        out.push(IpamPlugin {
            index,
            name: name.to_owned(),
            version: version.to_owned(),
            conf: Value::Object(conf),
        });
    }
    Ok(out)
}

/// Reads a config file (at most 1 MiB).
///
/// # Errors
/// The file's I/O error.
pub fn read_conf(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    fs::File::open(path)?
        .take(MAX_CONF)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// The config files of a directory that libcni would load, in name order.
pub fn conf_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| CONF_EXTENSIONS.contains(&x))
        })
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// The distinct data directories the plugins of ours in `files` keep their
/// state in (unreadable or broken files are skipped: whoever reads them
/// next reports them).
fn data_dirs_of(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for file in files {
        let Ok(text) = read_conf(file) else { continue };
        let Ok(plugins) = ipam_plugins(&text) else {
            continue;
        };
        for p in plugins {
            if let Ok(r) = ReleaseConfig::parse(&p.conf) {
                out.insert(r.data_dir);
            }
        }
    }
    out
}

/// The data directory named by the configs when no `--data-dir` is given:
/// that of the explicit `files` (they must agree), else that of every
/// network in `conf_dir` when they all share one. `None`: no config says
/// (or the directory's networks disagree, and each is reported as skipped).
///
/// # Errors
/// [`AdminError::Invalid`] when explicit files name several data directories.
pub fn data_dir_from_configs(
    conf_dir: Option<&Path>,
    files: &[PathBuf],
) -> Result<Option<PathBuf>, AdminError> {
    let list = |dirs: &BTreeSet<PathBuf>| {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !files.is_empty() {
        let dirs = data_dirs_of(files);
        if dirs.len() > 1 {
            return Err(AdminError::Invalid(format!(
                "the --config files keep their state in several data directories ({}): choose one with --data-dir",
                list(&dirs)
            )));
        }
        return Ok(dirs.into_iter().next());
    }
    let Some(dir) = conf_dir else { return Ok(None) };
    let Ok(paths) = conf_files(dir) else {
        return Ok(None);
    };
    let dirs = data_dirs_of(&paths);
    Ok(if dirs.len() == 1 {
        dirs.into_iter().next()
    } else {
        None
    })
}

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
    fn plugins_of_ours() {
        let list = r#"{"cniVersion":"1.0.0","name":"n","plugins":[
            {"type":"bridge","ipam":{"type":"podlease","ranges":[]}},
            {"type":"portmap"},
            {"type":"macvlan","ipam":{"type":"dhcp"}},
            {"type":"ptp","ipam":{"type":"host-local"}}]}"#;
        let p = ipam_plugins(list).unwrap();
        assert_eq!(p.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(p[0].conf["name"], "n");
        assert_eq!(p[0].conf["cniVersion"], "1.0.0");
        let conf =
            r#"{"cniVersion":"0.4.0","name":"m","type":"bridge","ipam":{"type":"host-local"}}"#;
        assert_eq!(ipam_plugins(conf).unwrap().len(), 1);
        assert!(ipam_plugins("[]").is_err());
        assert!(ipam_plugins("{").is_err());
        assert!(ipam_plugins(r#"{"plugins":{}}"#).is_err());
    }

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
