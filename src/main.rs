//! The binary: a CNI plugin when `CNI_COMMAND` is set, the operator's
//! command line otherwise. The only place that touches the process's
//! environment, stdin, stdout and exit status.
#![forbid(unsafe_code)]

mod cli;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use podlease::config::SpecVersion;
use podlease::plugin::error_code::ErrorCode;
use podlease::plugin::{self, MAX_STDIN, RawInvocation};

/// dlmalloc instead of musl's allocator, which maps and unmaps a page for
/// nearly every new size class and gives it back at once: about a dozen
/// mmap/munmap pairs per plugin call, 40–50 µs of CPU (bench/README.md,
/// "Allocator"). glibc's allocator has no such cost.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    // Only our variables matter. A value that is not UTF-8 is kept lossily and
    // named in `non_utf8`, so the names that matter are refused with code 4.
    let mut env = BTreeMap::new();
    let mut non_utf8 = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Ok(k) = k.into_string() else { continue };
        if !(k.starts_with("CNI_") || k.starts_with("PODLEASE_")) {
            continue;
        }
        let v = v.into_string().unwrap_or_else(|v| {
            non_utf8.push(k.clone());
            v.to_string_lossy().into_owned()
        });
        env.insert(k, v);
    }
    if !env.contains_key("CNI_COMMAND") {
        return cli::main(std::env::args_os().skip(1).collect(), &env);
    }
    let needs_stdin = env.get("CNI_COMMAND").is_some_and(|c| c != "VERSION");
    let stdin = if needs_stdin {
        read_stdin()
    } else {
        Vec::new()
    };
    let raw = RawInvocation {
        env,
        stdin,
        non_utf8,
        exit: Some(exit_with),
    };
    let outcome =
        std::panic::catch_unwind(|| plugin::run(&raw)).unwrap_or_else(|_| plugin::Outcome {
            stdout: plugin::result::encode_error(
                SpecVersion::NEWEST.as_str(),
                ErrorCode::Internal.as_u32(),
                "internal error in podlease (a bug: please report it with the network config)",
                None,
            ),
            status: 1,
            stderr: Vec::new(),
        });
    // Warnings first: a runtime may stop reading once it has the result.
    let _ = std::io::stderr().lock().write_all(&outcome.stderr);
    // If stdout is gone the runtime has gone too; nothing is left to tell.
    let _ = write_stdout(&outcome.stdout);
    ExitCode::from(outcome.status)
}

/// The config on stdin, up to one byte past the limit (so an oversized
/// config is detected, not truncated), read straight from the descriptor:
/// `std::io::stdin()` would first set up its buffered reader (a lock and an
/// 8 KiB buffer) for a read that needs neither. A read error ends the input
/// there, as a closed pipe would; the config then fails to decode (code 6).
fn read_stdin() -> Vec<u8> {
    let limit = MAX_STDIN + 1;
    let mut buf = vec![0; limit.min(4096)];
    let mut len = 0;
    while len < limit {
        if len == buf.len() {
            buf.resize((len * 2).min(limit), 0);
        }
        let room = buf.get_mut(len..).unwrap_or_default();
        match rustix::io::read(rustix::stdio::stdin(), room) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    buf.truncate(len);
    buf
}

/// Writes `bytes` to stdout unbuffered, in one `write` as a rule, straight
/// to the descriptor: Rust's stdout is line-buffered, and a pretty-printed
/// result went out in two system calls, all lines but the last `}`, then
/// that at the flush (docs/fast-paths.md, "What an ADD costs"). Nothing else
/// writes to stdout: the lock's watchdog (`exit_with`) runs only while this
/// thread waits for the lock, before any result exists.
fn write_stdout(mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(rustix::stdio::stdout(), bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes a CNI result or error and ends the process with status 1, from any
/// thread: a lock wait that timed out (`store::lock::TimeoutHook`).
fn exit_with(stdout: &[u8]) -> ! {
    let _ = write_stdout(stdout);
    #[allow(clippy::exit)] // the one other way out of the process, see above
    std::process::exit(1)
}
