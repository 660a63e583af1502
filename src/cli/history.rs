//! `podlease history ADDRESS | --container ID | --pod NS/NAME`: who held an
//! address, when, and why it changed, from the address journal.

use podlease::admin::AdminError;
use podlease::admin::{HistoryTarget, TimeWindow, history};
use podlease::journal::{Tenure, format_time_ms, parse_time};

use super::render::json;
use super::target::is_pod;
use super::{Ctx, Failure, Io, network_arg};

/// Show who held an address, a container's or a pod's addresses, over time
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("what").required(true).args(["address", "container", "pod"])),
    after_help = concat!(
    "Examples:\n",
    "  podlease history 10.22.0.14 --at 2026-05-01T12:34:56Z\n",
    "  podlease history 10.22.0.14 --since 2026-05-01 --until 2026-05-02\n",
    "  podlease history --container 3f2a9c\n",
    "  podlease history --pod default/web-1 --json\n\n",
    "Answers from each network's address journal (<dataDir>/<network>/.podlease/journal and its\n",
    "rotated files), newest first, one \"held by\" line per holder. TIME is RFC 3339\n",
    "(2026-05-01T12:34:56Z, +02:00 offsets, a space for T), a date (midnight UTC), or @<unix seconds>.\n",
    "When the journal does not reach back to the time asked, a note says so. Reads files only:\n",
    "no lock, works on a read-only mount.\n\n",
    "Exit status: 0 found, 1 failure, 2 usage error (or an ambiguous container prefix), 3 nothing recorded"
))]
pub struct Args {
    /// An IP address
    #[arg(value_name = "ADDRESS")]
    pub address: Option<String>,
    /// A container id, or a prefix of one that names a single container in the journal
    #[arg(long, value_name = "ID")]
    pub container: Option<String>,
    /// A pod, as NAMESPACE/NAME
    #[arg(long, value_name = "NS/NAME")]
    pub pod: Option<String>,
    /// Only the holder at this time
    #[arg(long, value_name = "TIME", conflicts_with_all = ["since", "until"])]
    pub at: Option<String>,
    /// Only holders at some time at or after this
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only holders at some time at or before this
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this network
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
}

fn time_arg(flag: &str, v: Option<&str>) -> Result<Option<i64>, Failure> {
    v.map(|s| {
        parse_time(s).ok_or_else(|| {
            Failure::Usage(format!(
                "--{flag} {s:?} is not a time: use RFC 3339 (2026-05-01T12:34:56Z), a date (2026-05-01) or @<unix seconds>"
            ))
        })
    })
    .transpose()
}

fn target(args: &Args) -> Result<HistoryTarget, Failure> {
    if let Some(a) = &args.address {
        let ip: std::net::IpAddr = a.parse().map_err(|_| {
            Failure::Usage(format!(
                "{a:?} is not an IP address (use --container or --pod for those)"
            ))
        })?;
        return Ok(HistoryTarget::Address(podlease::range::canonical(ip)));
    }
    if let Some(id) = &args.container {
        if id.is_empty() {
            return Err(Failure::Usage("--container needs an id".into()));
        }
        return Ok(HistoryTarget::Container(id.clone()));
    }
    match args.pod.as_deref() {
        Some(p) if is_pod(p) => Ok(HistoryTarget::Pod(p.to_owned())),
        Some(p) => Err(Failure::Usage(format!(
            "--pod {p:?}: give NAMESPACE/NAME, e.g. default/web-1"
        ))),
        None => Err(Failure::Usage(
            "give an address, --container ID or --pod NS/NAME".into(),
        )),
    }
}

pub fn run(ctx: &Ctx, args: &Args, io: &mut Io<'_>) -> Result<(), Failure> {
    let network = network_arg(args.network.as_deref())?;
    let target = target(args)?;
    let window = TimeWindow {
        at: time_arg("at", args.at.as_deref())?,
        since: time_arg("since", args.since.as_deref())?,
        until: time_arg("until", args.until.as_deref())?,
    };
    let report = history(&ctx.admin, &target, &window, network.as_ref())?;
    let notes: Vec<&String> = report.networks.iter().flat_map(|n| &n.notes).collect();
    if report.count() == 0 {
        for n in &notes {
            writeln!(io.err, "podlease: note: {n}")?;
        }
        let when = match (window.at, window.since, window.until) {
            (Some(at), _, _) => format!(" at {}", format_time_ms(at)),
            (None, None, None) => String::new(),
            (None, s, u) => format!(
                " between {} and {}",
                s.map_or_else(|| "the start".into(), format_time_ms),
                u.map_or_else(|| "now".into(), format_time_ms)
            ),
        };
        return Err(AdminError::NotFound(format!(
            "no holder of {}{when} in the journal",
            report
                .container_id
                .as_ref()
                .map_or_else(|| report.query.clone(), |id| format!("container {id}"))
        ))
        .into());
    }
    if ctx.json {
        return Ok(json(io.out, &report)?);
    }
    let several = report
        .networks
        .iter()
        .filter(|n| !n.tenures.is_empty())
        .count()
        > 1;
    for n in &report.networks {
        if n.tenures.is_empty() {
            continue;
        }
        if several {
            writeln!(io.out, "network {}:", n.network)?;
        }
        let begins = n.journal_begins.as_deref().unwrap_or("-");
        for t in &n.tenures {
            writeln!(io.out, "{}", line(t, begins))?;
        }
    }
    for n in notes {
        writeln!(io.out, "note: {n}")?;
    }
    Ok(())
}

/// `10.22.0.14 held by pod default/web-1 (container c1, eth0) from T1 (add) to T2 (del)`.
pub fn line(t: &Tenure, journal_begins: &str) -> String {
    let container = t.container_id.as_deref().map(|id| match &t.ifname {
        Some(i) => format!("container {id}, {i}"),
        None => format!("container {id}"),
    });
    let holder = match (&t.pod, container) {
        (Some(p), Some(c)) => format!("pod {p} ({c})"),
        (Some(p), None) => format!("pod {p}"),
        (None, Some(c)) => c,
        (None, None) => "an unknown holder".into(),
    };
    let reason = |r: Option<podlease::journal::Reason>| r.map_or("?", |r| r.as_str());
    let from = match t.from {
        Some(f) => format!("{} ({})", format_time_ms(f), reason(t.from_reason)),
        None => format!("an unrecorded time (the journal begins at {journal_begins})"),
    };
    let to = match (t.to, t.end_unknown) {
        (Some(e), _) => {
            let note = t
                .note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            format!("{} ({}{note})", format_time_ms(e), reason(t.to_reason))
        }
        (None, true) => "an unrecorded time (its release is missing from the journal)".into(),
        (None, false) => "now (still held)".into(),
    };
    format!("{} held by {holder} from {from} to {to}", t.address)
}
