//! Output: aligned plain-text tables, JSON, and the cells shared by commands.

use std::io::{self, Write};

use podlease::admin::{AllocationInfo, OwnerKind};
use serde::Serialize;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header row, then rows, columns separated by two spaces, no
/// trailing white space.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table.
    pub fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        let width = |s: &str| s.chars().count();
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| width(c))
                    .fold(width(h), usize::max)
            })
            .collect();
        let header: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, ((_, align), w)) in self.columns.iter().zip(&widths).enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(width(cell));
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            writeln!(w, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Writes `value` as pretty JSON and a newline.
pub fn json<T: Serialize>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
    writeln!(w)
}

/// The container cell: the id, or what the file holds instead.
pub fn container_cell(a: &AllocationInfo) -> String {
    match a.kind {
        OwnerKind::Attachment | OwnerKind::Legacy => a.container_id.clone().unwrap_or_default(),
        OwnerKind::Empty => "(empty file)".into(),
        OwnerKind::Unknown => {
            let content = a.content.as_deref().unwrap_or_default();
            let short: String = content.chars().take(32).collect();
            let more = if content.chars().count() > 32 {
                "..."
            } else {
                ""
            };
            format!("(unrecognised: {short:?}{more})")
        }
    }
}

/// The interface cell.
pub fn ifname_cell(a: &AllocationInfo) -> String {
    match a.kind {
        OwnerKind::Attachment => a.ifname.clone().unwrap_or_default(),
        OwnerKind::Legacy => "(legacy: any)".into(),
        OwnerKind::Empty | OwnerKind::Unknown => "-".into(),
    }
}

/// The state cell: `held`, `blocked` (a file naming no attachment keeps
/// the address out of use), or what the next operation's recovery does.
pub fn state_cell(a: &AllocationInfo) -> String {
    match (a.pending_release, a.blocked) {
        (Some(kind), _) => format!("to-release ({kind})"),
        (None, true) => "blocked".into(),
        (None, false) => "held".into(),
    }
}

/// `-` for nothing.
pub fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned()
}

/// A one-line description of an allocation's holder.
pub fn holder(a: &AllocationInfo) -> String {
    let mut s = match a.kind {
        OwnerKind::Attachment => format!(
            "container {}, interface {}",
            a.container_id.as_deref().unwrap_or_default(),
            a.ifname.as_deref().unwrap_or_default()
        ),
        OwnerKind::Legacy => {
            format!(
                "container {}, any interface (legacy file)",
                a.container_id.as_deref().unwrap_or_default()
            )
        }
        OwnerKind::Empty => "empty file".into(),
        OwnerKind::Unknown => format!(
            "unrecognised content {:?}",
            a.content.as_deref().unwrap_or_default()
        ),
    };
    if let Some(pod) = &a.pod {
        s.push_str(&format!(", pod {pod}"));
    }
    s
}

/// A percentage for a table: one decimal, `<0.1%` rather than a misleading 0.0%.
pub fn percent(p: f64, used: u128) -> String {
    if used > 0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_alignment() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("LAST", Align::Left),
        ]);
        t.row(vec!["a".into(), "1".into(), "x".into()]);
        t.row(vec!["bbbb".into(), "100".into(), String::new()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME    N  LAST\na       1  x\nbbbb  100\n"
        );
    }

    #[test]
    fn percents() {
        assert_eq!(percent(0.0, 0), "0.0%");
        assert_eq!(percent(0.000_01, 1), "<0.1%");
        assert_eq!(percent(1.185_77, 3), "1.2%");
        assert_eq!(percent(100.0, 3), "100.0%");
    }
}
