//! Appending: the records of one operation go out in one `O_APPEND` write of
//! whole lines, under the network's lock, rotating first when they would
//! take the file past `maxBytes`. Nothing here ever fails an operation.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::options::JournalOptions;
use super::record::Record;
use super::rotation::rotate;

/// Where a caller collects the records an operation made (and why a journal
/// write failed), for the per-call debug log: shared with the store through
/// `StoreOptions`, filled when the network is unlocked.
#[derive(Debug, Clone, Default)]
pub struct Tap(std::sync::Arc<std::sync::Mutex<TapContents>>);

/// What a [`Tap`] collected.
#[derive(Debug, Clone, Default)]
pub struct TapContents {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Why writing the journal failed, if it did.
    pub failure: Option<String>,
}

impl Tap {
    /// What was collected so far.
    pub fn take(&self) -> TapContents {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    fn add(&self, journal: &Journal) {
        if let Ok(mut c) = self.0.lock() {
            c.records.extend_from_slice(&journal.written);
            if let Some(f) = &journal.failure {
                c.failure = Some(f.clone());
            }
        }
    }
}

/// The writer of one network's journal. Records are collected during an
/// operation and written by [`Self::flush`] in one `write`; nothing here
/// ever returns an error to the operation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    opts: JournalOptions,
    pending: Vec<Record>,
    /// Every record this process has handed to the journal, for the debug log.
    written: Vec<Record>,
    /// Why writing failed, if it did.
    failure: Option<String>,
    /// Where the records also go (the debug log), if anywhere.
    tap: Option<Tap>,
}

impl Journal {
    /// The journal at `path` (`.podlease/journal`).
    pub fn new(path: PathBuf, opts: JournalOptions) -> Self {
        Self {
            path,
            opts,
            pending: Vec::new(),
            written: Vec::new(),
            failure: None,
            tap: None,
        }
    }

    /// Also hands every record to `tap` (when the journal is off, too).
    #[must_use]
    pub fn with_tap(mut self, tap: Option<Tap>) -> Self {
        self.tap = tap;
        self
    }

    /// Queues a record for the next [`Self::flush`].
    pub fn push(&mut self, record: Record) {
        if self.opts.enabled {
            self.pending.push(record);
        } else if self.tap.is_some() {
            self.written.push(record);
        }
    }

    /// Why the last write failed, if one did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Writes the queued records as one append, rotating first if they would
    /// take the file past `maxBytes`. A failure (full disk, read-only or
    /// unwritable directory) drops them and is remembered, never returned.
    pub fn flush(&mut self) {
        self.write_pending();
        if let Some(tap) = &self.tap {
            tap.add(self);
            self.written.clear();
        }
    }

    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut text = Vec::with_capacity(self.pending.len() * 200);
        for r in &self.pending {
            if serde_json::to_writer(&mut text, r).is_ok() {
                text.push(b'\n');
            }
        }
        self.written.append(&mut self.pending);
        if let Err(e) = self.append(&text) {
            self.failure = Some(format!("cannot write {}: {e}", self.path.display()));
        }
    }

    /// Opens the journal for appending: only ever a regular file. A symlink
    /// is refused by `O_NOFOLLOW`; a FIFO without a reader by `O_NONBLOCK`
    /// (`ENXIO`: a blocking open would hold the operation, and the lock,
    /// until someone reads it); anything else by its type, from the `fstat`
    /// the size check needs anyway.
    fn open(&self) -> io::Result<(File, u64)> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&self.path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENXIO) => io::Error::other("not a regular file"),
                _ => e,
            })?;
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok((file, meta.len()))
    }

    fn append(&self, text: &[u8]) -> io::Result<()> {
        let (mut file, mut size) = self.open()?;
        if size > 0 && size + text.len() as u64 > self.opts.max_bytes {
            rotate(&self.path, self.opts.max_files)?;
            (file, size) = self.open()?;
        }
        // One write of whole lines: a reader sees all of them or a torn last
        // line (only a full disk or a crash cuts it), never another
        // writer's bytes in between (every writer holds the network's lock).
        let n = match file.write(text) {
            Ok(n) => n,
            Err(e) => {
                let _ = file.set_len(size);
                return Err(e);
            }
        };
        if n < text.len() {
            // A full disk took part of it: cut it off, so the next record
            // starts on a line of its own.
            let _ = file.set_len(size);
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write ({n} of {} bytes)", text.len()),
            ));
        }
        Ok(())
    }
}
