//! Our hints and host-local's cursor: the round-robin cursor, the release
//! log of the reuse delay, sticky records and their bounds. A hint is never
//! the truth: garbage in one reads as no hint.

use std::fs::{self, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::{StoreError, io_err};
use super::files::{
    O_NOFOLLOW, create_dir, is_real_dir, open_for_rewrite, read_optional, read_to_limit,
    remove_if_exists, write_in_place, write_over,
};
use super::network::LockedNetwork;

impl LockedNetwork {
    /// host-local's round-robin cursor for a range set; `None` when absent or
    /// unreadable (host-local ignores those too). Trailing white space is
    /// tolerated, which host-local does not do.
    pub fn cursor(&mut self, set: usize) -> Option<IpAddr> {
        let path = self.layout.cursor(set);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
            .ok()?;
        let text = String::from_utf8(read_to_limit(&mut file, 128).ok()?).ok()?;
        // Kept open: the ADD that reads a cursor usually moves it.
        self.cursor_files.push((set, file, text.len() as u64));
        text.trim().parse().ok().map(crate::range::canonical)
    }

    /// Moves a range set's cursor, overwriting it in place.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn set_cursor(&mut self, set: usize, ip: IpAddr) -> Result<(), StoreError> {
        self.begin_change()?;
        let path = self.layout.cursor(set);
        let content = ip.to_string();
        match self.cursor_files.iter_mut().find(|(s, _, _)| *s == set) {
            Some((_, file, len)) => {
                write_over(file, content.as_bytes(), Some(*len), &path)?;
                *len = content.len() as u64;
                Ok(())
            }
            None => write_in_place(&open_for_rewrite(&path)?, content.as_bytes(), &path),
        }
    }

    /// Reads our own log of recent releases: (address, unix seconds).
    pub fn released_log(&self) -> Vec<(IpAddr, i64)> {
        let Ok(Some(text)) = read_optional(&self.layout.released_log(), 4 << 20) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| {
                let (ip, t) = l.split_once(' ')?;
                Some((ip.parse().ok()?, t.parse().ok()?))
            })
            .collect()
    }

    /// Replaces the release log.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn write_released_log(&mut self, entries: &[(IpAddr, i64)]) -> Result<(), StoreError> {
        let text: String = entries
            .iter()
            .map(|(ip, t)| format!("{ip} {t}\n"))
            .collect();
        self.rewrite(&self.layout.released_log(), &text)
    }

    /// Reads a small hint file of ours under `.podlease/`.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than absence.
    pub fn read_hint(&self, path: &Path) -> Result<Option<String>, StoreError> {
        read_optional(path, 4096)
    }

    /// Writes a small hint file of ours under `.podlease/`, creating its directory.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn write_hint(&mut self, path: &Path, content: &str) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        self.rewrite(path, content)
    }

    /// Makes room for one more file in one of our hint directories: when it
    /// holds `max` files or more, removes the least recently written ones
    /// (never `keep`) until one more fits. Returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than the directory being absent.
    pub fn bound_hints(&mut self, dir: &Path, max: usize, keep: &str) -> Result<usize, StoreError> {
        // Never through a symlink: its target's files are not hints of ours.
        if !is_real_dir(dir) {
            return Ok(0);
        }
        let names: Vec<fs::DirEntry> = match fs::read_dir(dir) {
            Ok(l) => l.filter_map(Result::ok).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        if names.len() < max {
            return Ok(0);
        }
        let mut aged: Vec<(std::time::SystemTime, PathBuf)> = names
            .into_iter()
            .filter(|e| e.file_name().to_str() != Some(keep))
            .map(|e| {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (t, e.path())
            })
            .collect();
        aged.sort();
        let excess = (aged.len() + 1).saturating_sub(max);
        let mut removed = 0;
        for (_, path) in aged.into_iter().take(excess) {
            if remove_if_exists(&path)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes files in one of our hint directories (e.g. `.podlease/sticky`)
    /// that `keep` rejects and that were last written before `cutoff`.
    /// Returns how many were removed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than the directory being absent.
    pub fn prune_hints(
        &mut self,
        dir: &Path,
        keep: impl Fn(&str) -> bool,
        cutoff: std::time::SystemTime,
    ) -> Result<usize, StoreError> {
        // Never through a symlink: its target's files are not hints of ours.
        if !is_real_dir(dir) {
            return Ok(0);
        }
        let list = match fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        let mut removed = 0;
        for entry in list {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| t < cutoff);
            if old && !keep(&name) && remove_if_exists(&entry.path())? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
