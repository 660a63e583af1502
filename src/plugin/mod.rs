//! The CNI face of podlease (`plugin`, formerly `cni`): turns one invocation
//! (environment, stdin) into one typed request, runs it, and turns its
//! outcome into stdout bytes and an exit status. Never: the store.
//!
//! The steps of [`run`], one file each:
//! 1. [`invocation`]: `CNI_COMMAND`, the variables the command requires and
//!    the attachment (`CNI_CONTAINERID`, `CNI_IFNAME`).
//! 2. [`network`]: stdin decoded as Go decodes it, its `cniVersion` and
//!    `name`; [`version`] says which commands that version allows.
//! 3. [`request`]: the typed request of the command with its config section
//!    (`Request::Add{..}`, `Del`, `Check`, `Gc`, `Status`, `Version`).
//! 4. [`store_options`]: the store's options, built once from the request's
//!    policy, the environment and the debug log's tap.
//! 5. [`request::Request::execute`] calls [`crate::ops`]; [`result`] encodes
//!    the result or the error (codes: [`error_code`]).
//!
//! The optional per-call [`debug_log`] watches from outside.

pub mod args;
pub mod debug_log;
pub mod error;
pub mod error_code;
pub mod invocation;
pub mod network;
pub mod request;
pub mod result;
pub mod store_options;
pub mod version;

use std::collections::BTreeMap;

use crate::config::SpecVersion;
use crate::journal::Tap;
use error::PluginError;
use invocation::{Command, Invocation};
use network::NetworkConfig;
use request::Request;

/// Largest network configuration we read (a config with a `prevResult` is a
/// few KiB; anything near this is not a network config).
pub const MAX_STDIN: usize = 4 << 20;

/// What the process received: the environment (only `CNI_*` and `PODLEASE_*`
/// matter) and stdin.
#[derive(Debug, Clone, Default)]
pub struct RawInvocation {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Standard input.
    pub stdin: Vec<u8>,
    /// Names of variables whose value was not valid UTF-8 (their value in
    /// `env` is lossy); a name or argument must never be guessed.
    pub non_utf8: Vec<String>,
    /// Writes these bytes to stdout and ends the process with status 1. Given
    /// one, a lock wait that times out ends the process through it (see
    /// [`crate::store::lock::TimeoutHook`]); without, `run` returns the error.
    pub exit: Option<fn(&[u8]) -> !>,
}

impl RawInvocation {
    fn var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }
}

/// What the process must write to stdout, and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes for stdout.
    pub stdout: Vec<u8>,
    /// Exit status.
    pub status: u8,
    /// Bytes for stderr: warnings for whoever reads the runtime's log (an
    /// unknown key in the config), never part of the protocol.
    pub stderr: Vec<u8>,
}

/// What an answer needs besides the result: the version errors are written
/// in (the config's, once known) and warnings for stderr.
struct Reply {
    version: SpecVersion,
    warnings: Vec<String>,
}

/// Runs one CNI invocation. Pure with respect to the process: everything
/// comes in through `raw` and goes out through the [`Outcome`].
pub fn run(raw: &RawInvocation) -> Outcome {
    let started = std::time::Instant::now();
    let log = debug_log::settings(&raw.stdin);
    let outcome = run_logged(raw, log.as_ref().map(|l| &l.tap));
    if let Some(log) = &log {
        debug_log::write(log, raw, &outcome, started.elapsed());
    }
    outcome
}

fn run_logged(raw: &RawInvocation, tap: Option<&Tap>) -> Outcome {
    let mut reply = Reply {
        version: SpecVersion::NEWEST,
        warnings: Vec::new(),
    };
    let (stdout, status) = match dispatch(raw, &mut reply, tap) {
        Ok(stdout) => (stdout, 0),
        Err(e) => (result::encode_failure(reply.version, &e), 1),
    };
    let stderr = reply
        .warnings
        .iter()
        .map(|w| format!("podlease: warning: {w}\n"))
        .collect::<String>()
        .into_bytes();
    Outcome {
        stdout,
        status,
        stderr,
    }
}

/// The steps of one invocation, in the order the reference plugins check.
fn dispatch(
    raw: &RawInvocation,
    reply: &mut Reply,
    tap: Option<&Tap>,
) -> Result<Vec<u8>, PluginError> {
    let command = Command::from_env(raw)?;
    let request = match command {
        Command::Version => Request::Version,
        _ => read_request(raw, command, reply)?,
    };
    let opts = store_options::build(raw, reply.version, &request.policy(), tap);
    request.execute(&opts)
}

/// Environment, then stdin, then the version's commands, then the command's
/// own config.
fn read_request(
    raw: &RawInvocation,
    command: Command,
    reply: &mut Reply,
) -> Result<Request, PluginError> {
    let invocation = Invocation::from_env(raw, command)?;
    let network = NetworkConfig::decode(&raw.stdin)?;
    reply.version = network.version;
    reply.warnings.extend(network.unknown_key_warnings());
    version::allows(network.version, command)?;
    Request::read(invocation, &network)
}
