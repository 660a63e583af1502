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
        let mut text = String::new();
        std::fs::File::open(path)?
            .take(1 << 20)
            .read_to_string(&mut text)?;
        Ok(Self::parse(&text))
    }
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
}
