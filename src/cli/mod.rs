//! The operator's face of the binary (no `CNI_COMMAND` in the environment):
//! `podlease list | show | usage | release | gc | metrics | history | verify`.
//!
//! Owns: argument parsing (clap), exit statuses, rendering reports as
//! tables, JSON or Prometheus text. Never: the store (everything goes through
//! [`podlease::ops::admin`]), `std::env` (the environment comes from `main`).

mod gc;
mod history;
mod list;
mod metrics;
mod release;
mod render;
mod show;
mod usage;
mod verify;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use podlease::cni::version::SpecVersion;
use podlease::config::DEFAULT_DATA_DIR;
use podlease::ids::{ContainerId, IfName, NetworkName};
use podlease::ops::admin::{Admin, AdminError, Configs, Target};
use podlease::store::StoreOptions;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the operation failed (I/O, lock).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: usage error (clap's, and ours: bad names, ambiguous targets).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: nothing matched.
pub const EXIT_NOT_FOUND: u8 = 3;

/// The CNI config directory libcni users read by default.
const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";

const MAIN_AFTER: &str = "\
Examples:
  podlease list
  podlease usage --conf-dir /etc/cni/net.d
  podlease release 10.22.0.14 --network cbr0
  crictl pods -q | sed 's/$/ eth0/' | podlease gc --keep - --network cbr0 --dry-run
  podlease metrics --output /var/lib/node_exporter/textfile/podlease.prom
  podlease history 10.22.0.14 --at 2026-05-01T12:34:56Z
  podlease verify

Environment:
  PODLEASE_DATA_DIR         default for --data-dir
  PODLEASE_LOCK_TIMEOUT_MS  default for --lock-timeout, in milliseconds

Exit status:
  0  success
  1  the operation failed (I/O error, lock timeout); what was done is printed
  2  usage error: bad arguments, invalid names or input, ambiguous target (add --network)
  3  nothing matched: unknown address, container or network
Errors go to stderr as \"podlease: <message>\"; when the status is not 0, stdout is empty
(except verify, whose report says what is wrong).";

/// What the reference plugins print when run by hand.
fn about() -> String {
    let versions: Vec<&str> = SpecVersion::ALL.iter().map(|v| v.as_str()).collect();
    format!(
        "CNI podlease plugin v{}\nCNI protocol versions supported: {}\n",
        env!("CARGO_PKG_VERSION"),
        versions.join(", ")
    )
}

/// podlease: inspect and repair the address allocations of podlease and host-local.
#[derive(Debug, Parser)]
#[command(name = "podlease", version, propagate_version = true, after_help = MAIN_AFTER)]
struct Cli {
    /// State directory (host-local's dataDir) [default: $PODLEASE_DATA_DIR, else /var/lib/cni/networks]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON on stdout (list, show, usage, release, gc, history, verify)
    #[arg(long, global = true)]
    json: bool,
    /// CNI config directory searched for the networks' ranges [default: /etc/cni/net.d, unless --config is given]
    #[arg(long, global = true, value_name = "DIR")]
    conf_dir: Option<PathBuf>,
    /// A CNI config file (.conf or .conflist) giving a network's ranges; repeatable
    #[arg(long, global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Seconds to wait for a network's lock [default: 60]
    #[arg(long, global = true, value_name = "SECONDS")]
    lock_timeout: Option<u64>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    List(list::Args),
    Show(show::Args),
    Usage(usage::Args),
    Release(release::Args),
    Gc(gc::Args),
    Metrics(metrics::Args),
    History(history::Args),
    Verify(verify::Args),
}

/// The process's streams, passed down so nothing prints directly.
pub struct Io<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Standard input (`gc --keep -`).
    pub stdin: &'a mut dyn Read,
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// From the library.
    Admin(AdminError),
    /// Bad arguments that clap cannot see.
    Usage(String),
    /// An input file could not be read.
    Input(String),
    /// Writing the output failed.
    Output(io::Error),
}

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        Self::Admin(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Output(e)
    }
}

impl Failure {
    fn status(&self) -> u8 {
        match self {
            Self::Admin(AdminError::NotFound(_)) => EXIT_NOT_FOUND,
            Self::Admin(AdminError::Ambiguous(_) | AdminError::Invalid(_)) | Self::Usage(_) => {
                EXIT_USAGE
            }
            Self::Admin(_) | Self::Input(_) | Self::Output(_) => EXIT_FAILED,
        }
    }

    fn message(&self) -> Option<String> {
        match self {
            Self::Admin(e) => Some(e.to_string()),
            Self::Usage(m) | Self::Input(m) => Some(m.clone()),
            // `podlease list | head`: the reader left, nobody is listening.
            Self::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => None,
            Self::Output(e) => Some(format!("cannot write output: {e}")),
        }
    }
}

/// What every command gets: the parsed global options.
pub struct Ctx {
    /// Machine output.
    pub json: bool,
    /// The library handle.
    pub admin: Admin,
}

/// Runs the operator command line.
pub fn main(args: Vec<OsString>, env: &BTreeMap<String, String>) -> ExitCode {
    let mut err = io::stderr().lock();
    if args.is_empty() {
        let _ = err.write_all(about().as_bytes());
        return ExitCode::SUCCESS;
    }
    let mut out = io::stdout().lock();
    let mut stdin = io::stdin().lock();
    let status = run(
        args,
        env,
        &mut Io {
            out: &mut out,
            err: &mut err,
            stdin: &mut stdin,
        },
    );
    let _ = out.flush();
    ExitCode::from(status)
}

/// Parses `args` (without the program name) and runs the command; returns the exit status.
pub fn run(args: Vec<OsString>, env: &BTreeMap<String, String>, io: &mut Io<'_>) -> u8 {
    let argv = std::iter::once(OsString::from("podlease")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                let text = text.strip_prefix("error: ").unwrap_or(&text);
                let _ = write!(io.err, "podlease: {text}");
            } else {
                let _ = io.out.write_all(text.as_bytes());
            }
            return u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE);
        }
    };
    match dispatch(cli, env, io) {
        Ok(()) => EXIT_OK,
        Err(f) => {
            if let Some(msg) = f.message() {
                let _ = writeln!(io.err, "podlease: {msg}");
            }
            f.status()
        }
    }
}

fn dispatch(cli: Cli, env: &BTreeMap<String, String>, io: &mut Io<'_>) -> Result<(), Failure> {
    if cli.json && matches!(cli.command, Cmd::Metrics(_)) {
        return Err(Failure::Usage(
            "--json does not apply to metrics: its output is Prometheus text".into(),
        ));
    }
    let data_dir = cli
        .data_dir
        .or_else(|| {
            env.get("PODLEASE_DATA_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let conf_dir = match (cli.conf_dir, cli.config.is_empty()) {
        (Some(d), _) => Some(d),
        (None, true) => Some(PathBuf::from(DEFAULT_CONF_DIR)),
        (None, false) => None,
    };
    let configs = Configs::discover(conf_dir.as_deref(), &cli.config, &data_dir)?;
    let admin = Admin::new(data_dir, store_options(cli.lock_timeout, env), configs);
    let ctx = Ctx {
        json: cli.json,
        admin,
    };
    match cli.command {
        Cmd::List(a) => list::run(&ctx, &a, io),
        Cmd::Show(a) => show::run(&ctx, &a, io),
        Cmd::Usage(a) => usage::run(&ctx, &a, io),
        Cmd::Release(a) => release::run(&ctx, &a, io),
        Cmd::Gc(a) => gc::run(&ctx, &a, io),
        Cmd::Metrics(a) => metrics::run(&ctx, &a, io),
        Cmd::History(a) => history::run(&ctx, &a, io),
        Cmd::Verify(a) => verify::run(&ctx, &a, io),
    }
}

/// The store options the CNI face would use in this environment, so the
/// operator and the plugin agree on the boot (a disagreement would reclaim).
fn store_options(lock_timeout: Option<u64>, env: &BTreeMap<String, String>) -> StoreOptions {
    let mut opts = StoreOptions::from_env(env);
    if let Some(s) = lock_timeout {
        opts.lock_timeout = Duration::from_secs(s);
    }
    opts
}

/// A network name from the command line, validated before it becomes a path.
fn network_arg(s: Option<&str>) -> Result<Option<NetworkName>, Failure> {
    s.map(|s| NetworkName::new(s).map_err(|e| Failure::Usage(format!("invalid network name: {e}"))))
        .transpose()
}

/// The `ADDRESS|CONTAINER` argument of `show` and `release`, with its flags.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// An IP address, or a container id
    #[arg(value_name = "ADDRESS|CONTAINER")]
    pub target: String,
    /// Only this network
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Only this interface of the container
    #[arg(long, value_name = "IF")]
    pub ifname: Option<String>,
    /// Read the argument as a container id even if it looks like an address
    #[arg(long)]
    pub container: bool,
}

impl TargetArgs {
    /// The validated network and target.
    fn parse(&self) -> Result<(Option<NetworkName>, Target), Failure> {
        Ok((
            network_arg(self.network.as_deref())?,
            target_arg(&self.target, self.ifname.as_deref(), self.container)?,
        ))
    }
}

/// `ADDRESS|CONTAINER` (with `--ifname` and `--container`) as a target.
fn target_arg(s: &str, ifname: Option<&str>, force_container: bool) -> Result<Target, Failure> {
    if !force_container && let Ok(ip) = s.parse::<std::net::IpAddr>() {
        if ifname.is_some() {
            return Err(Failure::Usage(format!(
                "--ifname applies to a container id, not to the address {ip} (use --container if {s:?} is a container id)"
            )));
        }
        return Ok(Target::Address(podlease::range::canonical(ip)));
    }
    let id = ContainerId::new(s).map_err(|e| {
        Failure::Usage(format!(
            "{s:?} is neither an address nor a container id: {e}"
        ))
    })?;
    let ifname = ifname
        .map(|i| IfName::new(i).map_err(|e| Failure::Usage(format!("invalid --ifname: {e}"))))
        .transpose()?;
    Ok(Target::Container(id, ifname))
}
