//! resolv.conf → the result's `dns`, parsed exactly as host-local's `dns.go`.

use std::path::Path;

/// DNS settings for the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dns {
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// The last `domain` line.
    pub domain: Option<String>,
    /// All `search` tokens, in order.
    pub search: Vec<String>,
    /// All `options` tokens, in order.
    pub options: Vec<String>,
}

impl Dns {
    /// Whether nothing is set (1.x results then omit `dns`).
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }

    /// Parses resolv.conf text: trimmed lines, `#`/`;` comments, lines of fewer
    /// than two fields skipped, unknown keywords ignored.
    pub fn parse(text: &str) -> Self {
        let mut dns = Self::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(key), Some(first)) = (fields.next(), fields.next()) else {
                continue;
            };
            let rest = std::iter::once(first).chain(fields).map(str::to_owned);
            match key {
                "nameserver" => dns.nameservers.push(first.to_owned()),
                "domain" => dns.domain = Some(first.to_owned()),
                "search" => dns.search.extend(rest),
                "options" => dns.options.extend(rest),
                _ => {}
            }
        }
        dns
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    /// The I/O error of reading `path`.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        // A resolv.conf is small; refuse to read something that is not.
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(1 << 20)
            .read_to_end(&mut bytes)?;
        Ok(Self::parse(&go_lossy(&bytes)))
    }
}

/// The bytes as text the way host-local's output has them: Go's strings hold
/// any bytes (a Latin-1 comment is no error), and its JSON encoder writes each
/// byte that is not part of valid UTF-8 as U+FFFD. An invalid byte is never
/// white space to Go's `strings.Fields`, nor to Rust's `split_whitespace`.
fn go_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_local_cases() {
        let d = Dns::parse(" nameserver 192.0.2.0\n nameserver 192.0.2.1\n");
        assert_eq!(d.nameservers, ["192.0.2.0", "192.0.2.1"]);
        assert!(d.domain.is_none() && d.search.is_empty() && d.options.is_empty());
        let d = Dns::parse("nameserver 192.0.2.0\n;nameserver 192.0.2.1\n");
        assert_eq!(d.nameservers, ["192.0.2.0"]);
        let d = Dns::parse(
            "nameserver 192.0.2.0\nnameserver 192.0.2.2\ndomain example.com\n;nameserver comment\n#nameserver comment\nsearch example.net example.org\nsearch example.gov\noptions one two three\noptions four\n",
        );
        assert_eq!(d.nameservers, ["192.0.2.0", "192.0.2.2"]);
        assert_eq!(d.domain.as_deref(), Some("example.com"));
        assert_eq!(d.search, ["example.net", "example.org", "example.gov"]);
        assert_eq!(d.options, ["one", "two", "three", "four"]);
        assert!(Dns::parse("nameserver\n\n").is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        // A Latin-1 comment, and a truncated sequence in a search domain:
        // one U+FFFD per byte, as Go's JSON encoder writes them.
        let text = go_lossy(b"# r\xe9solveur\nnameserver 192.0.2.1\nsearch a\xe2\x82b c\n");
        let d = Dns::parse(&text);
        assert_eq!(d.nameservers, ["192.0.2.1"]);
        assert_eq!(d.search, ["a\u{fffd}\u{fffd}b", "c"]);
    }
}
