//! Names the git commit the binary is built from, for `podlease --version`.
//!
//! `PODLEASE_GIT_COMMIT` (set for the compilation of every target) is, in
//! order: the `PODLEASE_BUILD_COMMIT` build environment variable (for builds
//! from a source tarball that know their commit), `git rev-parse HEAD` with
//! `-dirty` when tracked files differ from it, or `unknown` when there is no
//! git or no repository (a source tarball, a vendored copy): the build never
//! fails for want of git.
#![forbid(unsafe_code)]
// A build script talks to cargo on stdout and reads its own environment.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=PODLEASE_BUILD_COMMIT");
    let commit = std::env::var("PODLEASE_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_owned())
        .or_else(from_git)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=PODLEASE_GIT_COMMIT={commit}");
}

/// The commit of the repository the package is in, if it is in one.
fn from_git() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            // `git status` must not refresh the index it is watched through.
            .env("GIT_OPTIONAL_LOCKS", "0")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    // Only the repository that holds this package: not a parent directory's
    // (a tarball unpacked inside someone's home repository).
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Run again when HEAD moves (a commit, a checkout), the index changes, or
    // a source the binary is built from changes (it may become dirty).
    for p in ["src", "build.rs", "Cargo.toml", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={p}");
    }
    for (arg, file) in [
        ("--git-path", "HEAD"),
        ("--git-path", "index"),
        ("--git-path", "logs/HEAD"),
    ] {
        if let Some(p) = git(&["rev-parse", arg, file]) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo::rerun-if-changed={}", p.display());
            }
        }
    }
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
