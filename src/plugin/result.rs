//! Encoding results and errors for a CNI version, byte-compatible with the
//! reference plugins' output (4-space indent, no trailing newline; 1.x keys
//! sorted, 0.x keys in struct order, `dns` always present before 1.0).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::version::ResultStyle;
use crate::config::Route;
use crate::config::SpecVersion;
use crate::config::resolv::Dns;
use crate::ops::IpamResult;
use crate::range::Family;

/// `json.MarshalIndent(v, "", "    ")` of Go 1.19, which host-local 1.1.1 is
/// built with: 4-space indent, and strings escaped as Go escapes them (`<`,
/// `>`, `&`, U+2028, U+2029 as `\u00XX`/`\u20XX`; control characters other
/// than `\n`, `\r`, `\t` as `\u00XX`; U+FFFD, which podlease puts where Go
/// keeps a byte that is not UTF-8, as `\ufffd`).
struct GoFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}', '\u{fffd}']) {
            let (plain, tail) = rest.split_at(i);
            writer.write_all(plain.as_bytes())?;
            let Some(c) = tail.chars().next() else { break };
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = tail.get(c.len_utf8()..).unwrap_or_default();
        }
        writer.write_all(rest.as_bytes())
    }
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        match escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => self.0.write_char_escape(writer, other),
        }
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        GoFormatter(serde_json::ser::PrettyFormatter::with_indent(b"    ")),
    );
    // Serialising plain data into a Vec cannot fail.
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"{}");
    }
    out
}

#[derive(Serialize)]
struct RouteOut<'a> {
    dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    advmss: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<i64>,
    #[serde(skip)]
    _route: std::marker::PhantomData<&'a ()>,
}

impl RouteOut<'_> {
    fn new(r: &Route, full: bool) -> Self {
        Self {
            dst: r.dst.to_string(),
            gw: r.gw.map(|g| g.to_string()),
            mtu: r.mtu.filter(|_| full),
            advmss: r.advmss.filter(|_| full),
            priority: r.priority.filter(|_| full),
            table: r.table.filter(|_| full),
            scope: r.scope.filter(|_| full),
            _route: std::marker::PhantomData,
        }
    }
}

#[derive(Serialize)]
struct DnsOut<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    nameservers: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    search: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    options: &'a [String],
}

impl<'a> DnsOut<'a> {
    fn new(d: &'a Dns) -> Self {
        Self {
            nameservers: &d.nameservers,
            domain: d.domain.as_deref(),
            search: &d.search,
            options: &d.options,
        }
    }
}

#[derive(Serialize)]
struct IpOut040 {
    version: &'static str,
    address: String,
    gateway: String,
}

#[derive(Serialize)]
struct Result040<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'static str,
    ips: Vec<IpOut040>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteOut<'a>>,
    dns: DnsOut<'a>,
}

#[derive(Serialize)]
struct IpConfig020<'a> {
    ip: String,
    gateway: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteOut<'a>>,
}

#[derive(Serialize)]
struct Result020<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip4: Option<IpConfig020<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip6: Option<IpConfig020<'a>>,
    dns: DnsOut<'a>,
}

fn current(result: &IpamResult, version: SpecVersion) -> Value {
    let mut top = Map::new();
    top.insert("cniVersion".into(), json!(version.as_str()));
    let ips: Vec<Value> = result
        .ips
        .iter()
        .map(|e| json!({ "address": e.address.to_string(), "gateway": e.gateway.to_string() }))
        .collect();
    top.insert("ips".into(), Value::Array(ips));
    if !result.routes.is_empty() {
        let full = version >= SpecVersion::V1_1_0;
        let routes = result
            .routes
            .iter()
            .map(|r| serde_json::to_value(RouteOut::new(r, full)).unwrap_or(Value::Null));
        top.insert("routes".into(), Value::Array(routes.collect()));
    }
    if !result.dns.is_empty() {
        top.insert(
            "dns".into(),
            serde_json::to_value(DnsOut::new(&result.dns)).unwrap_or(Value::Null),
        );
    }
    // serde_json's Map is ordered by key, as the Go library's 1.x output is.
    Value::Object(top)
}

/// The ADD result bytes for `version`.
pub fn encode(result: &IpamResult, version: SpecVersion) -> Vec<u8> {
    match super::version::result_style(version) {
        ResultStyle::Current => pretty(&current(result, version)),
        ResultStyle::Versioned => pretty(&Result040 {
            cni_version: version.as_str(),
            ips: result
                .ips
                .iter()
                .map(|e| IpOut040 {
                    version: Family::of(e.address.ip()).version_str(),
                    address: e.address.to_string(),
                    gateway: e.gateway.to_string(),
                })
                .collect(),
            // mtu, advmss, priority, table and scope are spec 1.1.0 fields;
            // 0.3.x/0.4.0 routes are dst and gw only.
            routes: result
                .routes
                .iter()
                .map(|r| RouteOut::new(r, false))
                .collect(),
            dns: DnsOut::new(&result.dns),
        }),
        ResultStyle::Legacy => {
            let per_family = |family: Family| {
                let entry = result
                    .ips
                    .iter()
                    .find(|e| Family::of(e.address.ip()) == family)?;
                let routes = result
                    .routes
                    .iter()
                    .filter(|r| Family::of(r.dst.ip()) == family)
                    .map(|r| RouteOut::new(r, false))
                    .collect();
                Some(IpConfig020 {
                    ip: entry.address.to_string(),
                    gateway: entry.gateway.to_string(),
                    routes,
                })
            };
            pretty(&Result020 {
                cni_version: version.as_str(),
                ip4: per_family(Family::V4),
                ip6: per_family(Family::V6),
                dns: DnsOut::new(&result.dns),
            })
        }
    }
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    #[serde(rename = "cniVersion")]
    cni_version: &'a str,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
}

/// The error object of a failed invocation, in `version`.
pub fn encode_failure(version: SpecVersion, e: &super::error::PluginError) -> Vec<u8> {
    encode_error(
        version.as_str(),
        e.code().as_u32(),
        &e.to_string(),
        e.details().as_deref(),
    )
}

/// The error object bytes.
pub fn encode_error(version: &str, code: u32, msg: &str, details: Option<&str>) -> Vec<u8> {
    pretty(&ErrorOut {
        cni_version: version,
        code,
        msg,
        details,
    })
}
