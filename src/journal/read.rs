//! Reading back: a network's journal and its rotated files, oldest record
//! first, without any lock. Readers tolerate a torn last line and open the
//! files again when a rotation happened while they opened them.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{MAX_LINE, Record};
use super::rotation::existing_rotated;

/// One journal file as read.
#[derive(Debug, Clone, Serialize)]
pub struct FileHealth {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records read.
    pub records: usize,
    /// Lines that did not parse (1-based line numbers, at most 20).
    pub bad_lines: Vec<usize>,
    /// Whether the file ends in the middle of a line (a write in progress,
    /// or one cut short by a full disk or a crash).
    pub torn_end: bool,
}

/// A network's journal as read, oldest record first.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// Every record, in the order written.
    pub records: Vec<Record>,
    /// The files, newest first.
    pub files: Vec<FileHealth>,
}

impl Contents {
    /// Time of the oldest record still kept.
    pub fn start(&self) -> Option<i64> {
        self.records.first().map(|r| r.time)
    }
}

fn inode_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

/// A journal file's path and the file, opened (`None`: not there).
type Opened = (PathBuf, Option<File>);

/// The journal's files, oldest first (highest number first, the current
/// file last), each opened (`None`: not there), or `None` when a rotation
/// moved a file while they were opened.
///
/// # Errors
/// When a file exists but is not a regular file or cannot be opened.
fn open_all(current: &Path) -> io::Result<Option<Vec<Opened>>> {
    let mut names: Vec<(u32, PathBuf)> = existing_rotated(current);
    names.push((0, current.to_path_buf()));
    names.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let before: Vec<Option<u64>> = names.iter().map(|(_, p)| inode_of(p)).collect();
    let mut opened = Vec::with_capacity(names.len());
    for (_, path) in &names {
        // Never open anything else: a FIFO would block the reader.
        if let Ok(m) = fs::symlink_metadata(path)
            && !m.file_type().is_file()
        {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        match File::open(path) {
            Ok(f) => opened.push(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => opened.push(None),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }
    let after: Vec<Option<u64>> = names.iter().map(|(_, p)| inode_of(p)).collect();
    let opened_inodes: Vec<Option<u64>> = opened
        .iter()
        .map(|f| f.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.ino()))
        .collect();
    if before != after || after != opened_inodes {
        return Ok(None);
    }
    Ok(Some(
        names.into_iter().map(|(_, p)| p).zip(opened).collect(),
    ))
}

/// Reads a network's journal (`current` and its rotated files) without any
/// lock. A missing journal reads as empty. If a rotation happens while the
/// files are opened, they are opened again.
///
/// # Errors
/// When a file exists but cannot be opened or read.
pub fn read(current: &Path) -> io::Result<Contents> {
    for _ in 0..5 {
        let Some(files) = open_all(current)? else {
            continue;
        };
        let mut out = Contents::default();
        for (path, file) in files {
            let Some(mut file) = file else { continue };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            out.files.push(parse_file(&path, &bytes, &mut out.records));
        }
        out.files.reverse();
        return Ok(out);
    }
    Err(io::Error::other(format!(
        "{} kept rotating while it was read; try again",
        current.display()
    )))
}

fn parse_file(path: &Path, bytes: &[u8], records: &mut Vec<Record>) -> FileHealth {
    let mut health = FileHealth {
        path: path.to_path_buf(),
        bytes: bytes.len() as u64,
        records: 0,
        bad_lines: Vec::new(),
        torn_end: !bytes.is_empty() && !bytes.ends_with(b"\n"),
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or a line still being written.
    lines.pop();
    for (i, line) in lines.iter().enumerate() {
        let parsed = (line.len() <= MAX_LINE)
            .then(|| serde_json::from_slice::<Record>(line).ok())
            .flatten();
        match parsed {
            Some(r) => {
                records.push(r);
                health.records += 1;
            }
            None if health.bad_lines.len() < 20 => health.bad_lines.push(i + 1),
            None => {}
        }
    }
    health
}
