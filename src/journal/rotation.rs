//! Rotation: `journal` becomes `journal.1` (newest) ... `journal.<maxFiles-1>`
//! (oldest) when the next append would take it past `maxBytes`; the names of
//! the rotated files, for the writer and the reader.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The path of rotated file `n` (1 = newest) beside `current`.
pub fn rotated(current: &Path, n: u32) -> PathBuf {
    let mut name = current.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// `journal.<n>` becomes `journal.<n+1>`, the oldest kept is overwritten,
/// and the current file becomes `journal.1`; `max_files` counts the current
/// file too.
pub(super) fn rotate(current: &Path, max_files: u32) -> io::Result<()> {
    let keep = max_files.max(1);
    // Files beyond the limit (the limit was lowered) go.
    for (n, path) in existing_rotated(current) {
        if n >= keep {
            let _ = fs::remove_file(path);
        }
    }
    if keep == 1 {
        return fs::remove_file(current);
    }
    for n in (1..keep - 1).rev() {
        match fs::rename(rotated(current, n), rotated(current, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::rename(current, rotated(current, 1))
}

/// The rotated files beside `current` that exist: (n, path), any order.
pub(super) fn existing_rotated(current: &Path) -> Vec<(u32, PathBuf)> {
    let (Some(dir), Some(base)) = (current.parent(), current.file_name()) else {
        return Vec::new();
    };
    let base = base.to_string_lossy();
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    list.flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name
                .to_str()?
                .strip_prefix(base.as_ref())?
                .strip_prefix('.')?
                .parse::<u32>()
                .ok()?;
            (n > 0).then(|| (n, e.path()))
        })
        .collect()
}
