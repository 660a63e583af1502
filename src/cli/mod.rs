//! The operator's face of the binary (no `CNI_COMMAND` in the environment):
//! `podlease list | show | usage | release | gc | metrics | validate | install-cni |
//! history | verify`.
//!
//! Owns: argument parsing (clap), exit statuses, rendering reports as
//! tables, JSON or Prometheus text. Never: the store (everything goes through
//! [`podlease::admin`]), `std::env` (the environment comes from `main`).

mod gc;
mod history;
mod install;
mod list;
mod metrics;
mod pool;
mod release;
mod render;
mod show;
mod target;
mod usage;
mod validate;
mod verify;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use podlease::admin::{Admin, AdminError, check_data_dir};
use podlease::config::DEFAULT_DATA_DIR;
use podlease::config::SpecVersion;
use podlease::config::discovery::{Configs, DiscoveryError, data_dir_from_configs};
use podlease::ids::NetworkName;
use podlease::store::StoreOptions;
use podlease::store::parse_lock_timeout;

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
  podlease validate /etc/cni/net.d/10-podlease.conflist
  podlease history 10.22.0.14 --at 2026-05-01T12:34:56Z
  podlease verify

Environment:
  PODLEASE_DATA_DIR         default for --data-dir (without either, the dataDir of the configs)
  PODLEASE_LOCK_TIMEOUT_MS  default for --lock-timeout (same forms: 1500, 1500ms, 2s)

Exit status:
  0  success
  1  the operation failed (I/O error, lock timeout); what was done is printed
  2  usage error: bad arguments, invalid names or input, ambiguous target (add --network)
  3  nothing matched: unknown address, container, pod or network, or a data directory
     that does not exist or holds no network (the message says what was probably meant)
Errors go to stderr as \"podlease: <message>\"; when the status is not 0, stdout is empty
(except verify, whose report says what is wrong).";

/// `--version`: the package version and the git commit it was built from
/// (`unknown` outside a git checkout, see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PODLEASE_GIT_COMMIT"),
    ")"
);

/// What the reference plugins print when run by hand, and how to get help.
fn about() -> String {
    let versions: Vec<&str> = SpecVersion::ALL.iter().map(|v| v.as_str()).collect();
    format!(
        "CNI podlease plugin v{}\nCNI protocol versions supported: {}\n\
         A container runtime runs this plugin with CNI_COMMAND set; \
         for the operator commands, run: podlease --help\n",
        env!("CARGO_PKG_VERSION"),
        versions.join(", ")
    )
}

/// The command line's definition, for the man pages and shell completions
/// generated at build time (examples/gen-docs.rs); not used by the binary.
#[allow(dead_code)]
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// podlease: inspect and repair the address allocations of podlease and host-local.
#[derive(Debug, Parser)]
#[command(name = "podlease", version = VERSION, propagate_version = true, after_help = MAIN_AFTER)]
struct Cli {
    /// State directory (host-local's dataDir) [default: $PODLEASE_DATA_DIR, else the dataDir of the --config files or of every network in --conf-dir, else /var/lib/cni/networks]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print JSON on stdout (list, show, usage, release, gc, validate, history, verify)
    #[arg(long, global = true)]
    json: bool,
    /// CNI config directory searched for the networks' ranges (validate: the node's other networks) [default: /etc/cni/net.d, unless --config is given]
    #[arg(long, global = true, value_name = "DIR")]
    conf_dir: Option<PathBuf>,
    /// A CNI config file (.conf or .conflist) giving a network's ranges; repeatable
    #[arg(long, global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// How long to wait for a network's lock: milliseconds (1500), or with a unit (1500ms, 2s) [default: $PODLEASE_LOCK_TIMEOUT_MS, else 60s]
    #[arg(long, global = true, value_name = "MS", value_parser = parse_lock_timeout)]
    lock_timeout: Option<Duration>,
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
    InstallCni(install::Args),
    Validate(validate::Args),
    Pool(pool::Args),
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

impl From<DiscoveryError> for Failure {
    fn from(e: DiscoveryError) -> Self {
        Self::Admin(e.into())
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
    // Runs in a node installer image: no state, no configs to look for.
    if let Cmd::InstallCni(a) = &cli.command {
        return install::run(a, io);
    }
    if cli.json && matches!(cli.command, Cmd::Metrics(_)) {
        return Err(Failure::Usage(
            "--json does not apply to metrics: its output is Prometheus text".into(),
        ));
    }
    if let Cmd::Validate(a) = &cli.command {
        let conf_dir = cli
            .conf_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF_DIR));
        return validate::run(cli.json, &conf_dir, a, io);
    }
    let explicit_data_dir = cli.data_dir.or_else(|| {
        env.get("PODLEASE_DATA_DIR")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    let conf_dir = match (cli.conf_dir, cli.config.is_empty()) {
        (Some(d), _) => Some(d),
        (None, true) => Some(PathBuf::from(DEFAULT_CONF_DIR)),
        (None, false) => None,
    };
    // Without --data-dir, the configs say where their state is.
    let data_dir = match explicit_data_dir {
        Some(d) => d,
        None => data_dir_from_configs(conf_dir.as_deref(), &cli.config)?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
    };
    let configs = Configs::discover(conf_dir.as_deref(), &cli.config, &data_dir)?;
    check_data_dir(&data_dir, configs.names().next().is_some())?;
    let admin = Admin::new(data_dir, store_options(cli.lock_timeout, env)?, configs);
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
        Cmd::InstallCni(_) => Ok(()), // ran above
        // Handled above: it needs no data directory.
        Cmd::Validate(_) => Ok(()),
        Cmd::Pool(a) => pool::run(&ctx, &a, io),
        Cmd::History(a) => history::run(&ctx, &a, io),
        Cmd::Verify(a) => verify::run(&ctx, &a, io),
    }
}

/// The store options the CNI face would use in this environment, so the
/// operator and the plugin agree on the boot (a disagreement would reclaim).
fn store_options(
    lock_timeout: Option<Duration>,
    env: &BTreeMap<String, String>,
) -> Result<StoreOptions, Failure> {
    let mut opts = StoreOptions::from_env(env);
    if let Some(t) = lock_timeout {
        opts.lock_timeout = t;
    } else if let Some(v) = env.get("PODLEASE_LOCK_TIMEOUT_MS") {
        // The plugin ignores a value it cannot read (a DEL must not fail over
        // it); an operator is told.
        opts.lock_timeout = parse_lock_timeout(v)
            .map_err(|e| Failure::Usage(format!("PODLEASE_LOCK_TIMEOUT_MS: {e}")))?;
    }
    Ok(opts)
}

/// A network name from the command line, validated before it becomes a path.
fn network_arg(s: Option<&str>) -> Result<Option<NetworkName>, Failure> {
    s.map(|s| NetworkName::new(s).map_err(|e| Failure::Usage(format!("invalid network name: {e}"))))
        .transpose()
}
#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// `--lock-timeout` as clap parses it.
    fn flag(v: &str) -> Result<Duration, clap::Error> {
        Cli::try_parse_from(["podlease", "--lock-timeout", v, "list"]).map(|c| {
            c.lock_timeout
                .unwrap_or_else(|| unreachable!("the flag was given"))
        })
    }

    #[test]
    fn lock_timeout_flag_and_variable_take_the_same_unit() {
        for v in ["0", "1", "250", "1500", "60000", "1500ms", "2s", "0s"] {
            let from_var = store_options(None, &env(&[("PODLEASE_LOCK_TIMEOUT_MS", v)]))
                .unwrap()
                .lock_timeout;
            let from_flag = store_options(Some(flag(v).unwrap()), &env(&[]))
                .unwrap()
                .lock_timeout;
            assert_eq!(from_var, from_flag, "{v}");
        }
        assert_eq!(flag("250").unwrap(), Duration::from_millis(250));
        assert_eq!(flag("1500ms").unwrap(), Duration::from_millis(1500));
        assert_eq!(flag("2s").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn lock_timeout_flag_wins_over_the_variable() {
        let e = env(&[("PODLEASE_LOCK_TIMEOUT_MS", "5")]);
        let t = store_options(Some(Duration::from_secs(3)), &e).unwrap();
        assert_eq!(t.lock_timeout, Duration::from_secs(3));
        assert_eq!(
            store_options(None, &env(&[])).unwrap().lock_timeout,
            StoreOptions::default().lock_timeout
        );
    }

    #[test]
    fn unreadable_lock_timeouts_are_refused_by_the_cli() {
        for v in [
            "",
            "soon",
            "-1",
            "+5",
            "1.5s",
            "5 s",
            "5m",
            "ms",
            "s",
            "99999999999999999999",
        ] {
            assert!(flag(v).is_err(), "{v:?}");
            let r = store_options(None, &env(&[("PODLEASE_LOCK_TIMEOUT_MS", v)]));
            assert!(
                matches!(&r, Err(Failure::Usage(m)) if m.contains("PODLEASE_LOCK_TIMEOUT_MS")),
                "{v:?}"
            );
        }
    }

    #[test]
    fn version_names_the_commit() {
        let v = command().render_version();
        assert!(
            v.starts_with(&format!("podlease {} (commit ", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        assert!(!env!("PODLEASE_GIT_COMMIT").is_empty());
    }
}
