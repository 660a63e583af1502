//! `podlease validate`: checks CNI config files before they are rolled out,
//! the way ADD would read them, plus what ADD accepts but is probably a
//! mistake: unknown keys (a typo silently turns a setting off), exclusions
//! outside every range, and ranges that another network on the node also
//! hands out.
//!
//! Owns: the checks and their report. Never: the state directory.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::discovery::{
    IPAM_TYPES, IpamPlugin, conf_files, ipam_plugins, parse_ipam_as_add, read_conf, same_path,
    supported_versions,
};
use crate::config::{ConfigError, IpamConfig, SubnetFileProblem, known_keys};
use crate::ids::NetworkName;
use crate::range::{Family, RangeSet, subnet_bounds};

/// One network (a plugin of ours) in a file.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkReport {
    /// The network name.
    pub network: String,
    /// The plugin's index in `plugins` (0 for a `.conf`).
    pub plugin: usize,
    /// Its range sets, as `start-end` ranges; empty when they did not parse.
    pub range_sets: Vec<String>,
    /// What ADD would refuse.
    pub errors: Vec<String>,
    /// What ADD accepts but is probably a mistake.
    pub warnings: Vec<String>,
    #[serde(skip)]
    sets: Vec<RangeSet>,
}

/// One file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Problems of the file as a whole (unreadable, not JSON, no plugin of ours).
    pub errors: Vec<String>,
    /// Its networks.
    pub networks: Vec<NetworkReport>,
}

/// `podlease validate`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    /// Per file, in the order given.
    pub files: Vec<FileReport>,
    /// Errors over every file.
    pub errors: usize,
    /// Warnings over every file.
    pub warnings: usize,
}

/// Checks one plugin's config as ADD reads its stdin.
fn check_network(plugin: &IpamPlugin) -> NetworkReport {
    let (index, name, conf) = (plugin.index, plugin.name.as_str(), &plugin.conf);
    let mut r = NetworkReport {
        network: name.to_owned(),
        plugin: index,
        range_sets: Vec::new(),
        errors: Vec::new(),
        warnings: known_keys::warnings(conf),
        sets: Vec::new(),
    };
    if conf
        .get("type")
        .and_then(serde_json::Value::as_str)
        .is_none_or(str::is_empty)
    {
        r.errors.push(format!(
            "plugins[{index}].type is required (libcni runs the plugin it names)"
        ));
    }
    let Some(parsed) = parse_ipam_as_add(plugin) else {
        r.errors.push(format!(
            "cniVersion {:?} is not supported (supported: {})",
            plugin.version,
            supported_versions()
        ));
        return r;
    };
    r.errors.extend(name_error(name));
    match parsed {
        Ok(cfg) => {
            r.warnings.extend(useless_exclusions(&cfg));
            r.range_sets = cfg.range_sets.iter().map(ToString::to_string).collect();
            r.sets = cfg.range_sets;
        }
        Err(ConfigError::SubnetFile {
            kind: SubnetFileProblem::Missing,
            message,
        }) => r.warnings.push(format!(
            "ranges not checked: {message} (ADD fails until the node agent writes it)"
        )),
        Err(e) => r.errors.push(e.to_string()),
    }
    r
}

/// What is wrong with a network name, if anything.
fn name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("name is required".into())
    } else if name.len() > 255 {
        Some(format!(
            "name is {} bytes long; it names a directory under dataDir, so at most 255",
            name.len()
        ))
    } else {
        NetworkName::new(name).err().map(|e| format!("name {e}"))
    }
}

/// A warning for each exclusion outside every range of `cfg`.
fn useless_exclusions(cfg: &IpamConfig) -> Vec<String> {
    let mut out = Vec::new();
    for (net, field) in &cfg.exclude {
        let (lo, hi) = subnet_bounds(*net);
        let family = Family::of(net.ip());
        let inside = cfg
            .range_sets
            .iter()
            .flat_map(RangeSet::ranges)
            .any(|range| range.family() == family && lo <= range.end_u() && range.start_u() <= hi);
        if !inside {
            out.push(format!(
                "{field}: {net} is outside every range, so it excludes nothing"
            ));
        }
    }
    out
}

/// Checks the text of one file.
pub fn check_text(file: &Path, text: &str) -> FileReport {
    let mut report = FileReport {
        file: file.to_path_buf(),
        errors: Vec::new(),
        networks: Vec::new(),
    };
    match ipam_plugins(text) {
        Err(e) => report.errors.push(e),
        Ok(plugins) if plugins.is_empty() => report.errors.push(format!(
            "no plugin with ipam type {}",
            IPAM_TYPES.map(|t| format!("{t:?}")).join(" or ")
        )),
        Ok(plugins) => {
            for p in plugins {
                report.networks.push(check_network(&p));
            }
        }
    }
    report
}

/// A network configured on the node: its name, the file, its range sets.
type NodeNetwork = (String, PathBuf, Vec<RangeSet>);

/// Checks `files`, and compares their ranges with each other's and with
/// those of the other networks configured in `conf_dir` (the node's).
pub fn validate(files: &[PathBuf], conf_dir: Option<&Path>) -> ValidateReport {
    let mut reports: Vec<FileReport> = files
        .iter()
        .map(|f| match read_conf(f) {
            Ok(text) => check_text(f, &text),
            Err(e) => FileReport {
                file: f.clone(),
                errors: vec![format!("cannot read: {e}")],
                networks: Vec::new(),
            },
        })
        .collect();
    // The node's networks: the files checked, then the config directory's others.
    let mut node: Vec<NodeNetwork> = reports
        .iter()
        .flat_map(|f| {
            f.networks
                .iter()
                .map(|n| (n.network.clone(), f.file.clone(), n.sets.clone()))
        })
        .collect();
    if let Some(dir) = conf_dir {
        node.extend(other_networks(dir, files));
    }
    for f in &mut reports {
        for n in &mut f.networks {
            n.warnings.extend(node_warnings(n, &f.file, &node));
        }
    }
    let errors = reports
        .iter()
        .map(|f| f.errors.len() + f.networks.iter().map(|n| n.errors.len()).sum::<usize>())
        .sum();
    let warnings = reports
        .iter()
        .flat_map(|f| &f.networks)
        .map(|n| n.warnings.len())
        .sum();
    ValidateReport {
        files: reports,
        errors,
        warnings,
    }
}

/// The networks of `dir`'s config files other than `checked` whose ranges
/// parse (the others are not this command's to report).
fn other_networks(dir: &Path, checked: &[PathBuf]) -> Vec<NodeNetwork> {
    let mut out = Vec::new();
    let Ok(paths) = conf_files(dir) else {
        return out;
    };
    for path in paths {
        if checked.iter().any(|f| same_path(f, &path)) {
            continue;
        }
        let Ok(text) = read_conf(&path) else { continue };
        let Ok(plugins) = ipam_plugins(&text) else {
            continue;
        };
        for p in plugins {
            if let Some(Ok(cfg)) = parse_ipam_as_add(&p) {
                out.push((p.name, path.clone(), cfg.range_sets));
            }
        }
    }
    out
}

/// What the node's other configs say about network `n` of `file`: the
/// same network in another file, ranges another network also hands out.
fn node_warnings(n: &NetworkReport, file: &Path, node: &[NodeNetwork]) -> Vec<String> {
    let mut out = Vec::new();
    // libcni loads a network from the first file (by name) that names it.
    for (other, other_file, _) in node {
        if *other == n.network && !same_path(other_file, file) {
            out.push(format!(
                "network {other} is also configured in {}: a runtime uses only the file that sorts first",
                other_file.display()
            ));
        }
    }
    for (i, set) in n.sets.iter().enumerate() {
        for (other, other_file, sets) in node {
            if *other == n.network {
                continue;
            }
            // A network configured twice counts once: by its first file.
            let first = node.iter().find(|(name, _, _)| name == other);
            if first.is_some_and(|(_, first, _)| first != other_file) {
                continue;
            }
            if let Some(o) = sets.iter().find(|o| o.overlaps(set)) {
                out.push(format!(
                    "range set {i} ({set}) overlaps network {other}'s range set ({o}) in {}: both networks would hand out the same addresses on this node",
                    other_file.display()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> FileReport {
        check_text(Path::new("x.conflist"), text)
    }

    #[test]
    fn typos_and_errors() {
        let r = check(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"podlease",
            "ranges":[[{"subnet":"10.0.0.0/24","rangeStrat":"10.0.0.10"}]],"excludes":["10.0.0.5"],
            "exclude":["10.9.0.0/24"]}}]}"#,
        );
        let n = &r.networks[0];
        assert!(n.errors.is_empty(), "{n:?}");
        assert_eq!(n.warnings.len(), 3, "{n:?}");
        assert!(n.warnings[0].contains("did you mean \"exclude\""), "{n:?}");
        assert!(
            n.warnings[1].contains("did you mean \"rangeStart\""),
            "{n:?}"
        );
        assert!(
            n.warnings[2].contains("ipam.exclude[0]: 10.9.0.0/24 is outside every range"),
            "{n:?}"
        );

        let r = check(
            r#"{"cniVersion":"9.9.9","name":"n","type":"bridge","ipam":{"type":"host-local","subnet":"10.0.0.0/24"}}"#,
        );
        assert!(r.networks[0].errors[0].contains("not supported"), "{r:?}");
        let r = check(
            r#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"podlease","subnet":"10.0.0.1/24"}}"#,
        );
        assert_eq!(r.networks[0].errors.len(), 1, "{r:?}");
        let r = check(
            r#"{"cniVersion":"1.0.0","name":"a/b","type":"bridge","ipam":{"type":"podlease","subnet":"10.0.0.0/24"}}"#,
        );
        assert!(r.networks[0].errors[0].starts_with("name"), "{r:?}");
        let r =
            check(r#"{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"dhcp"}}"#);
        assert!(r.errors[0].contains("no plugin with ipam type"), "{r:?}");
        assert!(check("{").errors[0].starts_with("not JSON"));
    }
}
