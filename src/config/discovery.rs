//! Finding the CNI config files of the networks whose state the operator
//! commands read: the files libcni would load from a config directory, the
//! plugins in them whose ipam type is ours, and the data directory they
//! name. Shared by the operator commands and `podlease validate`.
//!
//! Owns: reading config files (at most 1 MiB each) and picking our plugins
//! out of them, as libcni hands them to a plugin. Never: the state
//! directory, a network's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{IpamConfig, ReleaseConfig};
// `IpamConfig::parse` takes the spec version and CNI_ARGS (empty here): the
// one place the operator commands name them.
use super::SpecVersion;
use crate::ids::NetworkName;

/// The ipam types whose state podlease reads.
pub const IPAM_TYPES: [&str; 2] = ["podlease", "host-local"];

/// File extensions libcni loads from a config directory.
pub const CONF_EXTENSIONS: [&str; 3] = ["conf", "conflist", "json"];

/// Largest config file read.
const MAX_CONF: u64 = 1 << 20;

/// Why the configs given explicitly cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A file given explicitly cannot be read.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file given explicitly is not usable (not JSON, no plugin of ours),
    /// or the files disagree.
    #[error("{0}")]
    Invalid(String),
}

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

/// Parses a plugin's ipam section as ADD would, without CNI_ARGS; a
/// `cniVersion` that is not supported is read as the newest.
///
/// # Errors
/// The [`super::ConfigError`] ADD would report.
pub fn parse_ipam(plugin: &IpamPlugin) -> Result<IpamConfig, super::ConfigError> {
    let spec = SpecVersion::parse(&plugin.version).unwrap_or(SpecVersion::NEWEST);
    IpamConfig::parse(&plugin.conf, spec, &[])
}

/// Parses a plugin's ipam section exactly as ADD would, without CNI_ARGS;
/// `None` when its `cniVersion` is not one ADD accepts.
pub fn parse_ipam_as_add(plugin: &IpamPlugin) -> Option<Result<IpamConfig, super::ConfigError>> {
    let spec = SpecVersion::parse(&plugin.version)?;
    Some(IpamConfig::parse(&plugin.conf, spec, &[]))
}

/// The `cniVersion`s ADD accepts, for a message.
pub fn supported_versions() -> String {
    SpecVersion::supported_list()
}

/// Reads a config file (at most 1 MiB).
///
/// # Errors
/// The file's I/O error.
pub fn read_conf(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    fs::File::open(path)?
        .take(MAX_CONF)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// The config files of a directory that libcni would load, in name order.
///
/// # Errors
/// The directory's I/O error.
pub fn conf_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
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

/// Whether two paths name the same file or directory.
pub fn same_path(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
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
/// [`DiscoveryError::Invalid`] when explicit files name several data directories.
pub fn data_dir_from_configs(
    conf_dir: Option<&Path>,
    files: &[PathBuf],
) -> Result<Option<PathBuf>, DiscoveryError> {
    let list = |dirs: &BTreeSet<PathBuf>| {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !files.is_empty() {
        let dirs = data_dirs_of(files);
        if dirs.len() > 1 {
            return Err(DiscoveryError::Invalid(format!(
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

/// A network's configuration found in a CNI config file.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The file it came from.
    pub source: PathBuf,
    /// What DEL and GC read (data directory, reclaim on reboot, ...).
    pub release: ReleaseConfig,
    /// The validated ipam section; `None` when it does not parse (a warning says why).
    pub ipam: Option<IpamConfig>,
}

/// The configs of the networks under one data directory.
#[derive(Debug, Clone, Default)]
pub struct Configs {
    by_name: BTreeMap<NetworkName, NetworkConfig>,
    /// Files skipped and configs that did not parse.
    pub warnings: Vec<String>,
}

impl Configs {
    /// Reads `files` (explicit, each must be readable and hold at least one
    /// podlease or host-local network) and, when given, every `*.conf`,
    /// `*.conflist` and `*.json` of `conf_dir` in name order (failures there
    /// are warnings). The first config of a network name wins, explicit files
    /// first, as libcni picks the first file. Networks keeping their state in
    /// another data directory are skipped with a warning.
    ///
    /// # Errors
    /// [`DiscoveryError::Io`] for an unreadable explicit file,
    /// [`DiscoveryError::Invalid`] for one that is not JSON or has no
    /// podlease/host-local network.
    pub fn discover(
        conf_dir: Option<&Path>,
        files: &[PathBuf],
        data_dir: &Path,
    ) -> Result<Self, DiscoveryError> {
        let mut out = Self::default();
        for file in files {
            let text = read_conf(file).map_err(|source| DiscoveryError::Io {
                op: "read",
                path: file.clone(),
                source,
            })?;
            let found = out
                .add_file(file, &text, data_dir)
                .map_err(DiscoveryError::Invalid)?;
            if found == 0 {
                return Err(DiscoveryError::Invalid(format!(
                    "{}: no plugin with ipam type \"podlease\" or \"host-local\"",
                    file.display()
                )));
            }
        }
        let Some(dir) = conf_dir else { return Ok(out) };
        let paths = match conf_files(dir) {
            Ok(p) => p,
            Err(e) => {
                out.warnings.push(format!(
                    "cannot list config directory {}: {e}",
                    dir.display()
                ));
                return Ok(out);
            }
        };
        for path in paths {
            match read_conf(&path) {
                Ok(text) => {
                    if let Err(msg) = out.add_file(&path, &text, data_dir) {
                        out.warnings.push(format!("skipping {msg}"));
                    }
                }
                Err(e) => out
                    .warnings
                    .push(format!("skipping {}: {e}", path.display())),
            }
        }
        Ok(out)
    }

    /// Adds the networks of one file; returns how many ipam plugins of ours it has.
    fn add_file(&mut self, path: &Path, text: &str, data_dir: &Path) -> Result<usize, String> {
        let plugins = ipam_plugins(text).map_err(|e| format!("{}: {e}", path.display()))?;
        for plugin in &plugins {
            if let Err(warning) = self.add_plugin(path, plugin, data_dir) {
                self.warnings.push(format!("{}: {warning}", path.display()));
            }
        }
        Ok(plugins.len())
    }

    /// Adds the network of one plugin of ours, unless it cannot be used
    /// (the warning says why).
    fn add_plugin(
        &mut self,
        path: &Path,
        plugin: &IpamPlugin,
        data_dir: &Path,
    ) -> Result<(), String> {
        let network = NetworkName::new(&plugin.name).map_err(|e| format!("network name {e}"))?;
        if self.by_name.contains_key(&network) {
            return Err(format!(
                "network {network} is already configured by an earlier file; ignored"
            ));
        }
        let release =
            ReleaseConfig::parse(&plugin.conf).map_err(|e| format!("network {network}: {e}"))?;
        if !same_path(&release.data_dir, data_dir) {
            return Err(format!(
                "network {network} keeps its state in {}, not {}; ignored (use --data-dir)",
                release.data_dir.display(),
                data_dir.display()
            ));
        }
        let ipam = match parse_ipam(plugin) {
            Ok(c) => Some(c),
            Err(e) => {
                self.warnings.push(format!(
                    "{}: network {network}: ranges unknown: {e}",
                    path.display()
                ));
                None
            }
        };
        self.by_name.insert(
            network,
            NetworkConfig {
                source: path.to_path_buf(),
                release,
                ipam,
            },
        );
        Ok(())
    }

    /// The config of `network`, if one was found.
    pub fn get(&self, network: &NetworkName) -> Option<&NetworkConfig> {
        self.by_name.get(network)
    }

    /// Every configured network.
    pub fn names(&self) -> impl Iterator<Item = &NetworkName> {
        self.by_name.keys()
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
    fn first_config_of_a_network_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let conf = |name: &str, subnet: &str| {
            format!(
                r#"{{"cniVersion":"1.0.0","name":"{name}","plugins":[{{"type":"bridge",
                "ipam":{{"type":"podlease","dataDir":"{}","subnet":"{subnet}"}}}}]}}"#,
                data.display()
            )
        };
        fs::write(tmp.path().join("10-a.conflist"), conf("a", "10.1.0.0/24")).unwrap();
        fs::write(tmp.path().join("20-a.conflist"), conf("a", "10.2.0.0/24")).unwrap();
        fs::write(
            tmp.path().join("30-bad.conflist"),
            conf("b/c", "10.3.0.0/24"),
        )
        .unwrap();
        fs::write(tmp.path().join("40-x.conf"), "{").unwrap();
        let c = Configs::discover(Some(tmp.path()), &[], &data).unwrap();
        let names: Vec<&str> = c.names().map(NetworkName::as_str).collect();
        assert_eq!(names, ["a"]);
        let a = c.get(&NetworkName::new("a").unwrap()).unwrap();
        assert!(a.source.ends_with("10-a.conflist"));
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("already configured"),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings[1].contains("network name"), "{:?}", c.warnings);
        assert!(c.warnings[2].starts_with("skipping "), "{:?}", c.warnings);
        assert!(matches!(
            Configs::discover(None, &[tmp.path().join("40-x.conf")], &data),
            Err(DiscoveryError::Invalid(_))
        ));
    }
}
