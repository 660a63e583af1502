//! Spare inodes: the files of released addresses, kept to become the files
//! of the next reservations.
//!
//! Why: on ext4 the costliest step of an ADD is allocating an inode, and a
//! DEL pays again to free one. Without a journal it is worse still: a new
//! inode is searched for from the start of its group, stepping over every
//! inode freed in the last 30 seconds one at a time, so pod churn makes each
//! later ADD slower. A DEL therefore renames the file of the address it
//! releases into `.podlease/spare/<n>` (and blanks it) instead of unlinking
//! it, and the next ADD renames it back as its owner file and rewrites it.
//! Steady churn then allocates and frees no inode at all.
//!
//! Safety: a spare is only ever rewritten after it has been renamed to the
//! owner name, and only if it then has exactly one link, so a file that is
//! still an address somewhere is never touched. The pool's size is kept in
//! the `clean` marker; an operation that finds the marker dirty empties the
//! pool, so a crash costs a few spare inodes, never a wrong file. Spares are
//! blank: host-local's scans, which compare every file under the network's
//! directory with a container id, never match one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::disk::{ELOOP, O_NOFOLLOW, StoreError, io_err};

/// Longest spare content overwritten in place; a longer one (an absurd
/// container id) is truncated instead.
const MAX_BLANK: usize = 4096;

/// Most spares kept per network: enough for a burst of pod deletions to be
/// reused by the creations that follow, few enough to cost nothing.
pub const MAX_SPARES: usize = 64;

/// The spare files of one network, under its lock.
#[derive(Debug)]
pub struct SparePool {
    dir: PathBuf,
    /// Spares `0..count` are believed to exist.
    count: usize,
}

impl SparePool {
    /// The pool in `dir` holding `count` spares, as the clean marker said.
    pub fn new(dir: PathBuf, count: usize) -> Self {
        Self {
            dir,
            count: count.min(MAX_SPARES),
        }
    }

    /// How many spares there are, for the clean marker.
    pub fn count(&self) -> usize {
        self.count
    }

    fn path(&self, n: usize) -> PathBuf {
        self.dir.join(n.to_string())
    }

    /// Forgets and removes every spare (after a crash, when the count is not
    /// known), leaving an empty pool directory.
    ///
    /// # Errors
    /// [`StoreError`] when the directory cannot be made or listed.
    pub fn reset(&mut self) -> Result<(), StoreError> {
        self.count = 0;
        super::disk::create_dir(&self.dir)?;
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let path = entry.map_err(io_err("list", &self.dir))?.path();
            // Best effort: a spare left behind is an inode, not an address.
            let _ = fs::remove_file(path);
        }
        Ok(())
    }

    /// Renames a spare to `owner` and opens it for rewriting, or `None` when
    /// the pool is empty. The caller rewrites its whole content.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than a missing spare.
    pub fn take(&mut self, owner: &Path) -> Result<Option<(File, u64)>, StoreError> {
        while self.count > 0 {
            self.count -= 1;
            let spare = self.path(self.count);
            match fs::rename(&spare, owner) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("reuse", &spare)(e)),
            }
            // Never through a symlink planted in the pool: it would make
            // this ADD write a container id wherever it points.
            let file = match OpenOptions::new()
                .write(true)
                .custom_flags(O_NOFOLLOW)
                .open(owner)
            {
                Ok(f) => f,
                Err(e) if e.raw_os_error() == Some(ELOOP) => {
                    fs::remove_file(owner).map_err(io_err("remove", owner))?;
                    continue;
                }
                Err(e) => return Err(io_err("open", owner)(e)),
            };
            let meta = file.metadata().map_err(io_err("stat", owner))?;
            if meta.is_file() && meta.nlink() == 1 {
                // Address files are 0644 like host-local's; a spare made
                // from an older 0600 file is brought in line.
                if meta.mode() & 0o777 != 0o644 {
                    use std::os::unix::fs::PermissionsExt;
                    file.set_permissions(fs::Permissions::from_mode(0o644))
                        .map_err(io_err("chmod", owner))?;
                }
                return Ok(Some((file, meta.len())));
            }
            // Also linked elsewhere (an operator's hard link): never rewrite it.
            drop(file);
            fs::remove_file(owner).map_err(io_err("remove", owner))?;
        }
        Ok(None)
    }

    /// Releases an address file: keeps its inode as a spare when `reusable`
    /// (its last link) and the pool has room, unlinks it otherwise. Returns
    /// whether the file existed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than the file being gone.
    pub fn retire(&mut self, path: &Path, reusable: bool) -> Result<bool, StoreError> {
        if reusable && self.count < MAX_SPARES {
            let spare = self.path(self.count);
            let mut renamed = fs::rename(path, &spare);
            if renamed
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
                && !self.dir.is_dir()
            {
                // The pool's directory is gone (an operator's clean-up).
                if super::disk::create_dir(&self.dir).is_ok() {
                    renamed = fs::rename(path, &spare);
                }
            }
            // Otherwise the file is gone (unlink says so below), or the pool
            // is broken (a file where its directory should be): unlink.
            if renamed.is_ok() {
                self.count += 1;
                self.blank(&spare);
                return Ok(true);
            }
        }
        super::disk::remove_if_exists(path)
    }

    /// Blanks a new spare: its content named the released owner, which
    /// host-local's scans would still match. Overwritten with spaces (which
    /// host-local trims away) rather than truncated, so the file keeps its
    /// data block for the next owner. A spare that cannot be blanked is dropped.
    fn blank(&mut self, spare: &Path) {
        use std::os::unix::fs::FileExt;
        let blanked = OpenOptions::new()
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(spare)
            .and_then(|f| {
                let meta = f.metadata()?;
                if meta.nlink() != 1 {
                    // Still linked elsewhere (the index had its inode wrong):
                    // never write to it, drop the spare name.
                    return Err(io::Error::other("shared inode"));
                }
                let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
                if len > MAX_BLANK {
                    return f.set_len(0);
                }
                f.write_all_at(&vec![b' '; len], 0)
            });
        if blanked.is_err() {
            self.count -= 1;
            let _ = fs::remove_file(spare);
        }
    }
}
