//! `podlease validate FILE...`.

use std::path::{Path, PathBuf};

use podlease::admin::validate;

use super::render::json;
use super::{Failure, Io};

/// Check CNI config files as ADD would read them, before rolling them out
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  podlease validate /etc/cni/net.d/10-podlease.conflist\n",
    "  podlease validate --strict new.conflist --conf-dir /etc/cni/net.d\n\n",
    "Each plugin whose ipam type is podlease or host-local is checked as ADD reads it (cniVersion,\n",
    "name, ranges, routes, exclusions, subnetFile...). Warnings name what ADD accepts but is probably\n",
    "a mistake: unknown keys (ignored, as host-local ignores them) with the nearest known key, an\n",
    "exclusion outside every range, and ranges that another network also hands out, among the files\n",
    "given and the other configs of --conf-dir (default /etc/cni/net.d). Nothing is changed.\n",
    "The findings are printed on stdout whatever the status.\n\n",
    "Exit status: 0 no errors (warnings allowed unless --strict), 1 errors found (or warnings, with\n",
    "--strict), 2 usage error"
))]
pub struct Args {
    /// The .conf or .conflist files to check
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Fail on warnings too
    #[arg(long)]
    pub strict: bool,
}

pub fn run(as_json: bool, conf_dir: &Path, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let report = validate(&args.files, Some(conf_dir));
    if as_json {
        json(io.out, &report)?;
    } else {
        for f in &report.files {
            let file = f.file.display();
            for e in &f.errors {
                writeln!(io.out, "{file}: error: {e}")?;
            }
            for n in &f.networks {
                let at = format!("{file}: network {:?} (plugin {})", n.network, n.plugin);
                for e in &n.errors {
                    writeln!(io.out, "{at}: error: {e}")?;
                }
                for w in &n.warnings {
                    writeln!(io.out, "{at}: warning: {w}")?;
                }
                if n.errors.is_empty() && n.range_sets.is_empty() {
                    writeln!(io.out, "{at}: ok (ranges not checked)")?;
                } else if n.errors.is_empty() && n.warnings.is_empty() {
                    writeln!(io.out, "{at}: ok: range sets {}", n.range_sets.join("; "))?;
                } else if n.errors.is_empty() {
                    writeln!(
                        io.out,
                        "{at}: ok, with {} warning(s): range sets {}",
                        n.warnings.len(),
                        n.range_sets.join("; ")
                    )?;
                }
            }
        }
    }
    let failed = report.errors > 0 || (args.strict && report.warnings > 0);
    if failed {
        return Err(Failure::Input(format!(
            "{} error(s), {} warning(s) in {} file(s)",
            report.errors,
            report.warnings,
            report.files.len()
        )));
    }
    Ok(())
}
