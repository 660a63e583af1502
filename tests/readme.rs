//! README.md, checked against the code, black-box (issue 17: no copied output
//! that the code does not produce, every command shown works).
//!
//! - Every ```console block must be preceded by `<!-- readme-test: NAME -->`.
//!   For each NAME this file builds the state the README's text describes,
//!   as a runtime would (CNI ADDs through the built binary), runs each
//!   `$ podlease ...` line and compares what a terminal would show (stdout,
//!   then stderr) with the lines under it. Only RFC 3339 timestamps are
//!   normalised. On a mismatch the test prints the block as the code
//!   produces it, ready to paste.
//! - Every `podlease SUBCOMMAND` named in a code block or an inline code span
//!   is a real subcommand (`podlease SUBCOMMAND --help` exits 0), and every
//!   `--flag` shown with it is in that help.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Call, Reply, podlease};
use serde_json::{Value, json};

const MARKER: &str = "<!-- readme-test: ";

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fenced code block: its info string, the line of its opening fence
/// (1-based), its lines, and the name of the `readme-test` marker above it.
#[derive(Debug)]
struct Block {
    lang: String,
    line: usize,
    lines: Vec<String>,
    test: Option<String>,
}

/// The README split into fenced code blocks and the paragraphs of text
/// outside them (first line number, text).
fn parse(md: &str) -> (Vec<Block>, Vec<(usize, String)>) {
    let mut blocks = Vec::new();
    let mut paragraphs = Vec::new();
    let mut open: Option<Block> = None;
    let mut para: Option<(usize, String)> = None;
    let mut last_nonblank = "";
    for (i, line) in md.lines().enumerate() {
        let n = i + 1;
        if let Some(b) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                blocks.push(open.take().unwrap());
                last_nonblank = line;
            } else {
                b.lines.push(line.to_owned());
            }
            continue;
        }
        if let Some(info) = line.trim_start().strip_prefix("```") {
            paragraphs.extend(para.take());
            let test = last_nonblank
                .trim()
                .strip_prefix(MARKER)
                .and_then(|r| r.strip_suffix("-->"))
                .map(|name| name.trim().to_owned());
            open = Some(Block {
                lang: info.trim().to_owned(),
                line: n,
                lines: Vec::new(),
                test,
            });
            last_nonblank = line;
            continue;
        }
        if line.trim().is_empty() {
            paragraphs.extend(para.take());
        } else {
            let p = para.get_or_insert_with(|| (n, String::new()));
            p.1.push_str(line);
            p.1.push('\n');
            last_nonblank = line;
        }
    }
    assert!(open.is_none(), "README.md: a code block is never closed");
    paragraphs.extend(para);
    (blocks, paragraphs)
}

/// Inline code spans of a paragraph (CommonMark: a run of n backticks up to
/// the next run of exactly n), with their line numbers; line breaks inside a
/// span become spaces.
fn inline_code(first_line: usize, text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let run_at = |i: usize| b[i..].iter().take_while(|&&c| c == b'`').count();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let n = run_at(i);
        let start = i + n;
        let mut j = start;
        let mut close = None;
        while j < b.len() {
            if b[j] == b'`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        let Some(end) = close else {
            i = start;
            continue;
        };
        let line = first_line + text[..start].matches('\n').count();
        out.push((line, text[start..end].replace('\n', " ").trim().to_owned()));
        i = end + n;
    }
    out
}

/// A simple shell-word split: whitespace separates, single and double
/// quotes group, backslash escapes outside single quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.get_or_insert_with(String::new).push(c),
            (_, '\\') => {
                if let Some(e) = chars.next() {
                    cur.get_or_insert_with(String::new).push(e);
                }
            }
            (Some(_), c) => cur.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(cur.take()),
            (None, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unterminated quote in {line:?}");
    words.extend(cur);
    words
}

/// Replaces every RFC 3339 timestamp (`2026-11-29T20:51:57Z`, fractions and
/// offsets too) with a placeholder of the same width, so tables stay aligned.
fn normalise_times(s: &str) -> String {
    fn digits(b: &[u8], at: usize, n: usize) -> bool {
        b.len() >= at + n && b[at..at + n].iter().all(u8::is_ascii_digit)
    }
    fn timestamp_len(b: &[u8]) -> Option<usize> {
        let shape = digits(b, 0, 4)
            && b.get(4) == Some(&b'-')
            && digits(b, 5, 2)
            && b.get(7) == Some(&b'-')
            && digits(b, 8, 2)
            && matches!(b.get(10), Some(b'T' | b't'))
            && digits(b, 11, 2)
            && b.get(13) == Some(&b':')
            && digits(b, 14, 2)
            && b.get(16) == Some(&b':')
            && digits(b, 17, 2);
        if !shape {
            return None;
        }
        let mut i = 19;
        if b.get(i) == Some(&b'.') && digits(b, i + 1, 1) {
            i += 1;
            while digits(b, i, 1) {
                i += 1;
            }
        }
        match b.get(i) {
            Some(b'Z' | b'z') => Some(i + 1),
            Some(b'+' | b'-')
                if digits(b, i + 1, 2) && b.get(i + 3) == Some(&b':') && digits(b, i + 4, 2) =>
            {
                Some(i + 6)
            }
            _ => None,
        }
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary && let Some(n) = timestamp_len(&b[i..]) {
            out.push_str(&format!("<time>{}", "~".repeat(n)).as_str()[..n]);
            i += n;
            continue;
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// A data directory and a CNI config directory, as on a node.
struct Node {
    tmp: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let node = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(node.conf_dir()).unwrap();
        node
    }
    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("networks")
    }
    fn conf_dir(&self) -> PathBuf {
        self.tmp.path().join("net.d")
    }

    /// Installs `conflist` as `file` in the config directory (its podlease
    /// plugin storing into this data directory); returns the podlease
    /// plugin's config as the runtime hands it over on stdin.
    fn install(&self, file: &str, mut conflist: Value) -> Value {
        let plugins = conflist["plugins"].as_array_mut().unwrap();
        let ipam_plugin = plugins
            .iter_mut()
            .find(|p| p["ipam"]["type"] == "podlease")
            .expect("a plugin with podlease ipam");
        ipam_plugin["ipam"]["dataDir"] = json!(self.data_dir());
        let mut plugin = ipam_plugin.clone();
        std::fs::write(
            self.conf_dir().join(file),
            serde_json::to_vec_pretty(&conflist).unwrap(),
        )
        .unwrap();
        let p = plugin.as_object_mut().unwrap();
        p.insert("cniVersion".into(), conflist["cniVersion"].clone());
        p.insert("name".into(), conflist["name"].clone());
        plugin
    }

    /// `podlease ARGS` as an operator runs it on this node.
    fn cli(&self, args: &[String]) -> Reply {
        let out = Command::new(podlease())
            .env_clear()
            .env("PODLEASE_DATA_DIR", self.data_dir())
            .args(args)
            .arg("--conf-dir")
            .arg(self.conf_dir())
            .stdin(Stdio::null())
            .output()
            .expect("spawn podlease");
        Reply::from(out)
    }
}

/// "On a node with a dual-stack network `podnet` (its config in
/// `/etc/cni/net.d`) and three pods": shop/web-1..3 in containers
/// c0ffee01ab..., c0ffee02ab..., c0ffee03ab... (64-character ids), eth0.
fn podnet_three_pods() -> Node {
    let node = Node::new();
    let plugin = node.install(
        "10-podnet.conflist",
        json!({
            "cniVersion": "1.0.0",
            "name": "podnet",
            "plugins": [
                {
                    "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
                    "ipam": {
                        "type": "podlease",
                        "ranges": [
                            [{ "subnet": "10.244.1.0/24" }],
                            [{ "subnet": "fd00:10:244:1::/64" }]
                        ],
                        "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "::/0" }]
                    }
                },
                { "type": "portmap", "capabilities": { "portMappings": true } }
            ]
        }),
    );
    for n in 1..=3 {
        let id = format!("c0ffee0{n}{}", "ab".repeat(28));
        assert_eq!(id.len(), 64);
        let ips = Call::new("ADD", &plugin)
            .id(&id)
            .ifname("eth0")
            .args(&format!(
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-{n}"
            ))
            .run(&podlease())
            .addresses();
        assert_eq!(ips.len(), 2, "one address per family: {ips:?}");
    }
    node
}

/// The node state each `readme-test` NAME describes.
fn setup(name: &str) -> Node {
    match name {
        "podnet-three-pods" => podnet_three_pods(),
        other => panic!(
            "README.md has a block marked `readme-test: {other}` but tests/readme.rs \
             has no setup for it: add one to `setup`"
        ),
    }
}

/// Runs a console block's commands on `node`; returns the block as the code
/// writes it (real timestamps) and whether it matches the README's, up to
/// timestamps.
fn replay(node: &Node, block: &Block) -> (Vec<String>, bool) {
    let mut actual = Vec::new();
    let mut matches = true;
    let mut i = 0;
    while i < block.lines.len() {
        let line = &block.lines[i];
        let Some(cmd) = line.strip_prefix("$ ") else {
            panic!(
                "README.md:{}: console block `{}` must start with a `$ ` command line, found {line:?}",
                block.line + 1 + i,
                block.test.as_deref().unwrap_or("")
            );
        };
        let words = shell_words(cmd);
        assert_eq!(
            words.first().map(String::as_str),
            Some("podlease"),
            "README.md:{}: only podlease commands can be replayed: {line:?}",
            block.line + 1 + i
        );
        let expected: Vec<&String> = block.lines[i + 1..]
            .iter()
            .take_while(|l| !l.starts_with("$ "))
            .collect();
        i += 1 + expected.len();

        let reply = node.cli(&words[1..]);
        let shown = format!("{}{}", reply.stdout, reply.stderr);
        let mut want = String::new();
        for l in &expected {
            want.push_str(l);
            want.push('\n');
        }
        if normalise_times(&want) != normalise_times(&shown) {
            matches = false;
        }
        actual.push(line.clone());
        actual.extend(shown.lines().map(str::to_owned));
        if reply.status != Some(0) {
            actual.push(format!("[exit status {:?}]", reply.status));
            matches = false;
        }
    }
    (actual, matches)
}

#[test]
fn console_blocks_show_what_the_code_prints() {
    let (blocks, _) = parse(&readme());
    let consoles: Vec<&Block> = blocks.iter().filter(|b| b.lang == "console").collect();
    assert!(
        !consoles.is_empty(),
        "README.md has no console block to check"
    );
    let mut failures = String::new();
    for block in consoles {
        let Some(name) = &block.test else {
            let _ = writeln!(
                failures,
                "README.md:{}: a console block without `{MARKER}NAME -->` above it: \
                 its output is not checked against the code; mark it and add a setup here",
                block.line
            );
            continue;
        };
        let node = setup(name);
        let (actual, ok) = replay(&node, block);
        if !ok {
            let _ = writeln!(
                failures,
                "README.md:{}: block `{name}` does not match the output of the code \
                 (timestamps aside).\n--- README has:\n{}\n--- the code prints:\n{}\n",
                block.line,
                block.lines.join("\n"),
                actual.join("\n")
            );
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

/// A `podlease` command named in the README: where, its subcommand (None for
/// `podlease --help` and the like), and the long flags shown with it.
#[derive(Debug)]
struct Mention {
    line: usize,
    text: String,
    subcommand: Option<String>,
    flags: Vec<String>,
}

fn is_podlease(word: &str) -> bool {
    word == "podlease" || word.ends_with("/podlease")
}

fn is_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The long flags in `words` (`--min-age`, `[--dry-run]`, `--output=FILE`).
fn long_flags(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter_map(|w| {
            let w = w.trim_start_matches(['[', '(']);
            let name: String = w
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .collect()
}

/// The podlease commands in one line of shell: each segment of a pipeline or
/// list whose program (after `sudo`, variable assignments, or a systemd
/// `ExecStart=`) is podlease. `podlease a / b` names a and b.
fn mentions_in(line_no: usize, line: &str) -> Vec<Mention> {
    let line = line.strip_prefix("$ ").unwrap_or(line);
    let line = line.split(" #").next().unwrap_or(line);
    let mut out = Vec::new();
    for segment in line
        .split(" | ")
        .flat_map(|s| s.split("&&"))
        .flat_map(|s| s.split(';'))
    {
        let words: Vec<String> = segment.split_whitespace().map(str::to_owned).collect();
        let mut rest = words.as_slice();
        while let Some(w) = rest.first() {
            let assignment = w.split_once('=').is_some_and(|(_, v)| !is_podlease(v));
            if w == "sudo" || assignment {
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let Some(program) = rest.first() else {
            continue;
        };
        if !is_podlease(program.rsplit('=').next().unwrap_or(program)) {
            continue;
        }
        let args = &rest[1..];
        match args.first() {
            Some(sub) if is_name(sub) => {
                out.push(Mention {
                    line: line_no,
                    text: segment.trim().to_owned(),
                    subcommand: Some(sub.clone()),
                    flags: long_flags(&args[1..]),
                });
                // `podlease list / show / usage`
                let mut tail = &args[1..];
                while let [slash, next, more @ ..] = tail {
                    if slash != "/" || !is_name(next) {
                        break;
                    }
                    out.push(Mention {
                        line: line_no,
                        text: segment.trim().to_owned(),
                        subcommand: Some(next.clone()),
                        flags: Vec::new(),
                    });
                    tail = more;
                }
            }
            Some(flag) if flag.starts_with("--") => out.push(Mention {
                line: line_no,
                text: segment.trim().to_owned(),
                subcommand: None,
                flags: long_flags(args),
            }),
            // A path after it (`install ... podlease /opt/cni/bin/podlease`): not a command.
            _ => {}
        }
    }
    out
}

fn mentions(md: &str) -> Vec<Mention> {
    let (blocks, paragraphs) = parse(md);
    let mut out = Vec::new();
    for b in &blocks {
        for (i, line) in b.lines.iter().enumerate() {
            // In a console block only the command lines are commands.
            if b.lang == "console" && !line.starts_with("$ ") {
                continue;
            }
            out.extend(mentions_in(b.line + 1 + i, line));
        }
    }
    for (first, text) in &paragraphs {
        for (line, code) in inline_code(*first, text) {
            out.extend(mentions_in(line, &code));
        }
    }
    out
}

#[test]
fn every_podlease_command_named_is_real() {
    let found = mentions(&readme());
    let subcommands: Vec<&str> = found
        .iter()
        .filter_map(|m| m.subcommand.as_deref())
        .collect();
    // The parser must see the operator commands the README is known to show.
    for known in [
        "list", "show", "usage", "release", "gc", "metrics", "validate",
    ] {
        assert!(
            subcommands.contains(&known),
            "no `podlease {known}` found in README.md: is the parser broken? found {subcommands:?}"
        );
    }
    let mut help: BTreeMap<Option<String>, Reply> = BTreeMap::new();
    let mut failures = String::new();
    for m in &found {
        let reply = help.entry(m.subcommand.clone()).or_insert_with(|| {
            let mut cmd = Command::new(podlease());
            cmd.env_clear().args(m.subcommand.iter()).arg("--help");
            Reply::from(cmd.stdin(Stdio::null()).output().expect("spawn podlease"))
        });
        let what = m
            .subcommand
            .as_ref()
            .map_or_else(|| "podlease".to_owned(), |s| format!("podlease {s}"));
        if !reply.ok() {
            let _ = writeln!(
                failures,
                "README.md:{}: `{}`: `{what} --help` fails (status {:?}): {}",
                m.line,
                m.text,
                reply.status,
                reply.stderr.lines().next().unwrap_or("").trim()
            );
            continue;
        }
        for flag in &m.flags {
            let listed = reply.stdout.match_indices(flag.as_str()).any(|(at, _)| {
                let next = reply.stdout[at + flag.len()..].chars().next();
                !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !listed {
                let _ = writeln!(
                    failures,
                    "README.md:{}: `{}`: {flag} is not an option of `{what}` (see `{what} --help`)",
                    m.line, m.text
                );
            }
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn the_parsers_read_what_the_readme_writes() {
    assert_eq!(
        shell_words(r#"podlease release --pod 'shop/web 2' "a b" c\ d"#),
        ["podlease", "release", "--pod", "shop/web 2", "a b", "c d"]
    );
    assert_eq!(
        normalise_times("x  2026-11-29T20:51:57Z  held\n2026-11-29T20:51:57.123+01:00\n"),
        "x  <time>~~~~~~~~~~~~~~  held\n<time>~~~~~~~~~~~~~~~~~~~~~~~\n"
    );
    assert_eq!(
        normalise_times("id2026-11-29T20:51:57Z"),
        "id2026-11-29T20:51:57Z"
    );
    let md = "text `podlease list / show`, and `sudo podlease\nrelease --dry-run x`\n\n\
              <!-- readme-test: t -->\n```console\n$ podlease usage\nout\n```\n\
              ```ini\nExecStart=/opt/cni/bin/podlease metrics --output f\n```\n\
              `sudo install -m 0755 target/release/podlease /opt/cni/bin/podlease` \
              `\"type\": \"podlease\"` `podlease --version`\n";
    let (blocks, _) = parse(md);
    assert_eq!(blocks[0].test.as_deref(), Some("t"));
    assert_eq!(blocks[1].test, None);
    let got: Vec<(usize, Option<String>, Vec<String>)> = mentions(md)
        .into_iter()
        .map(|m| (m.line, m.subcommand, m.flags))
        .collect();
    let want = |line: usize, sub: Option<&str>, flags: &[&str]| {
        (
            line,
            sub.map(str::to_owned),
            flags.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        got,
        [
            want(6, Some("usage"), &[]),
            want(10, Some("metrics"), &["--output"]),
            want(1, Some("list"), &[]),
            want(1, Some("show"), &[]),
            want(1, Some("release"), &["--dry-run"]),
            want(12, None, &["--version"]),
        ]
    );
}
