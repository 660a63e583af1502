//! `podlease install-cni`: the node installer image's entrypoint. Copies
//! this very binary into the host's CNI directory, atomically: a runtime
//! that execs the plugin meanwhile finds either the old file or the new
//! one, never a half-written one.
//!
//! The image holds nothing but the static binary (`FROM scratch`, see
//! packaging/Containerfile), so the copy is done here rather than by `cp` and
//! `mv` from a shell the image would have to carry.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Failure, Io};

/// Where the running binary's bytes are read from: the kernel's handle on
/// the executable, valid even if its path has been replaced meanwhile.
const SELF_EXE: &str = "/proc/self/exe";

/// Copy this binary into a host directory (the node installer's entrypoint)
#[derive(clap::Args, Debug)]
#[command(after_help = concat!(
    "Example (the installer image's entrypoint, host /opt/cni/bin mounted on /host/opt/cni/bin):\n",
    "  podlease install-cni --dest /host/opt/cni/bin\n\n",
    "Writes DEST/.NAME.tmp-PID, syncs it, then renames it to DEST/NAME: a runtime calling\n",
    "the plugin meanwhile runs the old binary or the new one, never a partial file.\n",
    "deploy/podlease-install.yaml is a DaemonSet that runs it on every node.\n\n",
    "Exit status: 0 installed, 1 failure (I/O, missing directory), 2 usage error"
))]
pub struct Args {
    /// The host's CNI binary directory, as mounted in the container (e.g. /host/opt/cni/bin)
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// File name to install as
    #[arg(long, value_name = "NAME", default_value = "podlease")]
    pub name: String,
}

pub fn run(args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    if args.name.is_empty()
        || args.name.contains('/')
        || args.name.starts_with('.')
        || args.name.len() > 200
    {
        return Err(Failure::Usage(format!(
            "invalid --name {:?}: a plain file name, not starting with '.'",
            args.name
        )));
    }
    let target = args.dest.join(&args.name);
    let bytes = install(Path::new(SELF_EXE), &args.dest, &args.name)
        .map_err(|e| Failure::Input(format!("cannot install {}: {e}", target.display())))?;
    writeln!(
        io.out,
        "installed {} ({bytes} bytes, podlease {})",
        target.display(),
        super::VERSION
    )?;
    Ok(())
}

/// Copies `source` to `dest/name` through a temporary file in `dest`; returns
/// the number of bytes written. The temporary file is removed on failure.
fn install(source: &Path, dest: &Path, name: &str) -> io::Result<u64> {
    if !dest.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not a directory (mount the host's CNI directory there)",
                dest.display()
            ),
        ));
    }
    let tmp = dest.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = copy_then_rename(source, &tmp, &dest.join(name));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    let bytes = result?;
    // The rename is durable once the directory is.
    File::open(dest)?.sync_all()?;
    Ok(bytes)
}

fn copy_then_rename(source: &Path, tmp: &Path, target: &Path) -> io::Result<u64> {
    let mut from = File::open(source)?;
    // A leftover of an installer killed at this very step (same pid in a
    // container: always 1) is ours to replace.
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(tmp)?;
    let bytes = io::copy(&mut from, &mut to)?;
    // The mode is not left to the umask.
    to.set_permissions(Permissions::from_mode(0o755))?;
    to.sync_all()?;
    drop(to);
    fs::rename(tmp, target)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_a_copy_with_mode_755_and_no_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"new binary").unwrap();
        let dest = dir.path().join("bin");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("podlease"), b"old").unwrap();
        // A leftover temporary file of a killed installer with our pid.
        fs::write(
            dest.join(format!(".podlease.tmp-{}", std::process::id())),
            b"half",
        )
        .unwrap();

        assert_eq!(install(&src, &dest, "podlease").unwrap(), 10);
        assert_eq!(fs::read(dest.join("podlease")).unwrap(), b"new binary");
        let mode = fs::metadata(dest.join("podlease"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
        let names: Vec<_> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["podlease"]);
    }

    #[test]
    fn a_failed_copy_leaves_the_old_binary_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("bin");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("podlease"), b"old").unwrap();
        // The source cannot be read: a directory.
        assert!(install(dir.path(), &dest, "podlease").is_err());
        assert_eq!(fs::read(dest.join("podlease")).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_destination_is_an_error_not_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::write(&src, b"x").unwrap();
        let err = install(&src, &dir.path().join("nope"), "podlease").unwrap_err();
        assert!(err.to_string().contains("mount"), "{err}");
        assert!(!dir.path().join("nope").exists());
    }
}
