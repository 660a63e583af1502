//! Generates podlease's man pages and shell completions from its clap
//! definition (`src/cli`), at package-build time, so the shipped binary
//! carries neither the generators nor their output.
//!
//! ```sh
//! cargo run --locked --example gen-docs -- OUT_DIR
//! ```
//!
//! writes `OUT_DIR/man/podlease.1` (and `podlease-SUBCOMMAND.1` for each
//! subcommand), `OUT_DIR/completions/podlease.bash`, `_podlease` (zsh) and
//! `podlease.fish`. packaging/build-deb runs it; nothing else does.
#![forbid(unsafe_code)]
#![allow(clippy::print_stderr)] // a build tool reports on stderr

// The binary's own CLI module, compiled here a second time: the man page
// describes exactly the options the binary parses.
#[path = "../src/cli/mod.rs"]
#[allow(dead_code, unused_imports)]
mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap_complete::Shell;

/// The plugin side of the binary, which clap does not see.
const DESCRIPTION: &str = "\
podlease is a CNI IPAM plugin, a drop-in replacement for host-local. A container \
runtime runs it with CNI_COMMAND (ADD, DEL, CHECK, VERSION, GC, STATUS) and the \
other CNI_* variables set and the network config on stdin, and reads a CNI result \
or error on stdout; its state is host-local's, one file per address in \
/var/lib/cni/networks/NETWORK (the config's ipam.dataDir). Run without CNI_COMMAND, \
it is the operator command line described here: it inspects and repairs those \
allocations, under the same per-network lock as the plugin.";

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-docs OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-docs: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn generate(out: &std::path::Path) -> std::io::Result<()> {
    let cmd = cli::command()
        .about("a CNI IPAM plugin (host-local compatible) and its operator command line")
        .long_about(DESCRIPTION);
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    clap_mangen::generate_to(cmd.clone(), &man)?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "podlease", &completions)?;
    }
    Ok(())
}
