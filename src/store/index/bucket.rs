//! The text of one bucket file: a header line, then one record per
//! attachment (`key`, `ip` and `pod` lines). Records are found by a search,
//! not a parse of the whole bucket; a removed record is blanked in place
//! with spaces, which readers skip (see `index` for why).

use crate::bytesearch;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::store::owner::FileStamp;

pub(super) const HEADER: &str = "podlease-index 1";

/// The addresses of one attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// Each address with the identity its file had when recorded.
    pub ips: Vec<(IpAddr, FileStamp)>,
    /// The pod, when the runtime passed it.
    pub pod: Option<String>,
}

pub(super) type Entries = BTreeMap<String, IndexEntry>;

/// Appends one entry's record: its `key` line, then its `ip` and `pod` lines.
pub(super) fn render_record(key: &str, e: &IndexEntry, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "key {key}");
    for (ip, st) in &e.ips {
        let _ = writeln!(out, "ip {ip} {} {} {}", st.ino, st.mtime, st.mtime_nsec);
    }
    // Kubernetes names are short (namespace 63, pod 253 bytes): anything
    // longer, or spanning lines, is not a pod name and is not kept.
    if let Some(pod) = e
        .pod
        .as_deref()
        .filter(|p| p.len() <= 320 && !p.contains(['\n', '\r']))
    {
        let _ = writeln!(out, "pod {pod}");
    }
}

pub(super) fn render(entries: &Entries) -> String {
    let mut text = format!("{HEADER}\n");
    for (key, e) in entries {
        render_record(key, e, &mut text);
    }
    text
}

/// Whether a line is filler left by a removed record.
pub(super) fn is_blank(line: &str) -> bool {
    line.bytes().all(|b| b == b' ')
}

/// Bytes in blank lines. Our own lines start with a letter, so a blank line
/// is a newline followed by a space.
pub(super) fn blank_bytes(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut blank = 0;
    let mut at = 0;
    while let Some(i) = bytes
        .get(at..)
        .and_then(|rest| bytesearch::byte(b'\n', rest))
    {
        let line = bytes.get(at + i + 1..).unwrap_or_default();
        let len = bytesearch::byte(b'\n', line).unwrap_or(line.len());
        if line.first() == Some(&b' ') {
            blank += len;
        }
        at += i + 1 + len;
    }
    blank
}

/// Whether `text` looks like a bucket we wrote: empty (created ahead of its
/// first entry), or our header line first.
pub(super) fn is_bucket(text: &str) -> bool {
    text.is_empty()
        || text
            .strip_prefix(HEADER)
            .is_some_and(|r| r.starts_with('\n'))
}

/// Parses the lines of one record after its `key` line.
pub(super) fn parse_record(lines: &str) -> Option<IndexEntry> {
    let mut e = IndexEntry::default();
    for line in lines.lines() {
        if let Some(rest) = line.strip_prefix("ip ") {
            let mut f = rest.split(' ');
            let ip = f.next()?.parse().ok()?;
            let stamp = FileStamp {
                ino: f.next()?.parse().ok()?,
                mtime: f.next()?.parse().ok()?,
                mtime_nsec: f.next()?.parse().ok()?,
            };
            if f.next().is_some() {
                return None;
            }
            e.ips.push((ip, stamp));
        } else if let Some(pod) = line.strip_prefix("pod ") {
            e.pod = Some(pod.to_owned());
        } else {
            return None;
        }
    }
    Some(e)
}

/// The byte range of `key`'s record in a bucket's text: its `key` line and
/// the `ip` and `pod` lines after it.
pub(super) fn find_record(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    // SIMD search: std's `str::find` was a tenth of a DEL's time in a
    // bucket of 190 entries.
    let needle = format!("\nkey {key}\n");
    let start = bytesearch::find(text.as_bytes(), needle.as_bytes())? + 1;
    let mut end = start + "key ".len() + key.len() + 1;
    while let Some(rest) = text.get(end..) {
        if !(rest.starts_with("ip ") || rest.starts_with("pod ")) {
            break;
        }
        end += bytesearch::byte(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
    }
    Some(start..end)
}

/// Parses a whole bucket; `None` if it is not one we wrote, a line does not
/// parse, or a key repeats.
pub(super) fn parse(bytes: &[u8]) -> Option<Entries> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !is_bucket(text) {
        return None;
    }
    let mut out = Entries::new();
    let mut current: Option<(&str, String)> = None;
    let finish = |current: Option<(&str, String)>, out: &mut Entries| -> Option<()> {
        if let Some((key, lines)) = current {
            let entry = parse_record(&lines)?;
            if out.insert(key.to_owned(), entry).is_some() {
                return None;
            }
        }
        Some(())
    };
    for line in text.lines().skip(1) {
        if let Some(key) = line.strip_prefix("key ") {
            finish(current.take(), &mut out)?;
            current = Some((key, String::new()));
        } else if is_blank(line) {
            finish(current.take(), &mut out)?;
        } else {
            let (_, lines) = current.as_mut()?;
            lines.push_str(line);
            lines.push('\n');
        }
    }
    finish(current, &mut out)?;
    Some(out)
}

/// A bucket's text after one record's edit, and the writes that make it so.
#[derive(Debug)]
pub(super) struct Edited {
    pub text: String,
    /// (offset, bytes) to write in place; `None` for a whole rewrite.
    pub writes: Option<Vec<(usize, String)>>,
}

impl Edited {
    /// Replaces `key`'s record in `text` by `record` (empty: removes it).
    pub fn new(mut text: String, key: &str, record: &str) -> Self {
        let mut writes = Vec::new();
        if let Some(range) = find_record(&text, key) {
            // Byte for byte, so every offset after it stays put.
            let blank: String = text
                .get(range.clone())
                .unwrap_or_default()
                .bytes()
                .map(|b| if b == b'\n' { '\n' } else { ' ' })
                .collect();
            text.replace_range(range.clone(), &blank);
            writes.push((range.start, blank));
        }
        if !record.is_empty() {
            if text.is_empty() {
                text = format!("{HEADER}\n");
                writes.push((0, text.clone()));
            }
            writes.push((text.len(), record.to_owned()));
            text.push_str(record);
        }
        Self {
            text,
            writes: Some(writes),
        }
    }

    /// Compacts the bucket once blank filler outweighs the records (and a
    /// page). A bucket with a line that does not parse (only the record
    /// asked for is ever checked) is not compacted, which would drop what
    /// it cannot read; returns `true` then, to flag it for a rebuild.
    pub fn compact_if_sparse(&mut self) -> bool {
        if self.text.len() <= 4096 || 2 * blank_bytes(&self.text) <= self.text.len() {
            return false;
        }
        match parse(self.text.as_bytes()) {
            Some(entries) => {
                self.text = render(&entries);
                self.writes = None;
                false
            }
            None => true,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn st(ino: u64) -> FileStamp {
        FileStamp {
            ino,
            mtime: 1_700_000_000,
            mtime_nsec: 5,
        }
    }

    pub(in crate::store::index) fn sample() -> Entries {
        let mut m = Entries::new();
        m.insert(
            "a:eth0".into(),
            IndexEntry {
                ips: vec![
                    ("10.0.0.2".parse().unwrap(), st(1)),
                    ("fd00::2".parse().unwrap(), st(1)),
                ],
                pod: Some("ns/pod".into()),
            },
        );
        m.insert(
            "b:".into(),
            IndexEntry {
                ips: vec![("10.0.0.3".parse().unwrap(), st(2))],
                pod: None,
            },
        );
        m
    }

    #[test]
    fn bucket_round_trip() {
        for entries in [Entries::new(), sample()] {
            let text = render(&entries);
            assert!(text.starts_with("podlease-index 1\n"));
            assert_eq!(parse(text.as_bytes()), Some(entries));
        }
    }

    #[test]
    fn foreign_or_damaged_buckets_do_not_parse() {
        assert_eq!(parse(b""), Some(Entries::new()));
        for junk in [
            &b"a\r\neth0"[..],
            b"podlease-attachment 1\nip 10.0.0.2 1 2 3\n",
            b"podlease-index 1\nip 10.0.0.2 1 2 3\n",
            b"podlease-index 1\nkey a:eth0\nip 10.0.0.2 1 2 3\nkey a:eth0\n",
            b"podlease-index 1\nbogus\n",
            b"podlease-index 1\nkey a:eth0\nip 10.0.0.2 1 2\n",
            b"podlease-index 1\nkey a:eth0\nip nonsense 1 2 3\n",
            b"podlease-index 1\nkey a:eth0\nip 10.0.0.2 x 2 3\n",
            b"podlease-index 1\nkey a:eth0\nip 10.0.0.2 1 2 3 4\n",
            b"podlease-index 1\nkey a:eth0\n    \nip 10.0.0.2 1 2 3\n",
            b"\xff\xfe",
        ] {
            assert_eq!(parse(junk), None, "{}", String::from_utf8_lossy(junk));
        }
        // A write cut short in the middle of a line.
        let good = render(&sample());
        let cut = good.get(..good.len() - 3).unwrap();
        assert_eq!(parse(cut.as_bytes()), None);
    }

    /// A pod name is whatever `K8S_POD_NAME` says; a newline in it must not
    /// inject index lines (an `ip` line would be read back as an address).
    #[test]
    fn pod_with_newline_is_not_kept() {
        let mut m = Entries::new();
        m.insert(
            "a:eth0".into(),
            IndexEntry {
                ips: vec![("10.0.0.2".parse().unwrap(), st(1))],
                pod: Some("ns/x\nip 10.0.0.9 1 2 3".into()),
            },
        );
        let back = parse(render(&m).as_bytes()).unwrap();
        let e = back.get("a:eth0").unwrap();
        assert_eq!(e.ips.len(), 1);
        assert_eq!(e.pod, None);
    }

    #[test]
    fn records_are_found_without_parsing_the_rest() {
        let mut m = sample();
        m.insert("a:eth01".into(), IndexEntry::default());
        m.insert(
            "a:eth1".into(),
            IndexEntry {
                ips: vec![],
                pod: Some("ns/only-a-pod".into()),
            },
        );
        let text = render(&m);
        for (k, e) in &m {
            let r = find_record(&text, k).unwrap();
            let record = text.get(r).unwrap();
            let lines = record.split_once('\n').unwrap().1;
            assert_eq!(parse_record(lines).as_ref(), Some(e), "{k}: {record:?}");
        }
        assert!(find_record(&text, "a:").is_none());
        assert!(find_record(&text, "a:eth").is_none());
        assert_eq!(parse(text.as_bytes()), Some(m));
    }
}
