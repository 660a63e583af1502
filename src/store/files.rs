//! File helpers under the lock: the two small-file readers, in-place
//! rewrites, and directories that are never followed through a symlink
//! (one planted, or a restore's). Nothing here knows what a file means.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{StoreError, io_err};

/// `O_NOFOLLOW`: an open of a name that is a symlink fails. Its value
/// differs between architectures (0o400000 on x86, 0o100000 on arm64).
pub(super) const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;

/// `ELOOP`: the name opened with `O_NOFOLLOW` is a symlink.
pub(super) const ELOOP: i32 = libc::ELOOP;

/// `O_NONBLOCK`: opening a FIFO does not wait for a writer.
pub(super) const O_NONBLOCK: i32 = libc::O_NONBLOCK;

/// Opens a file to read it, without blocking: a FIFO (planted, or a
/// restore's) named like one of our files would otherwise wait for a writer
/// forever, with the lock held. It reads as empty.
pub(super) fn open_to_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

/// Reads an open small file whole, up to `limit` bytes, with as few system
/// calls as possible: files on the hot path (index entries, address files,
/// markers, cursors) are far below 4 KiB, and a short read of a regular
/// file means end of file.
pub(super) fn read_to_limit(file: &mut File, limit: u64) -> io::Result<Vec<u8>> {
    // Address files and hints are tens of bytes: a small first buffer spares
    // musl's allocator a page-sized group (an mmap, a fault, a munmap).
    let mut buf = vec![0u8; 512];
    let mut len = 0;
    loop {
        let n = file.read(buf.get_mut(len..).unwrap_or_default())?;
        len += n;
        if n == 0 || len < buf.len() || len as u64 >= limit {
            break;
        }
        buf.resize(
            (buf.len() * 2)
                .min(usize::try_from(limit).unwrap_or(usize::MAX))
                .max(len + 1),
            0,
        );
    }
    buf.truncate(len.min(usize::try_from(limit).unwrap_or(usize::MAX)));
    Ok(buf)
}

/// Reads one of our small text files (a hint, the marker, the boot record);
/// `None` when it is absent, or holds garbage (not UTF-8), which is the
/// same as no hint.
pub(super) fn read_optional(path: &Path, limit: u64) -> Result<Option<String>, StoreError> {
    let bytes = match open_to_read(path).and_then(|mut f| read_to_limit(&mut f, limit)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    Ok(String::from_utf8(bytes).ok())
}

/// Overwrites a file in place: write from offset 0, then cut it to length.
/// No scratch file and no rename: on ext4, a rename over an existing file
/// or a truncation to zero forces the data out to disk (`auto_da_alloc`),
/// which cost more than the rest of an ADD. Safe for every file written
/// while the `clean` marker says "dirty": a write cut short by a crash is
/// followed by an index rebuild; and for host-local's cursor, which
/// host-local treats as absent when it does not parse.
pub(super) fn write_in_place(file: &File, content: &[u8], path: &Path) -> Result<(), StoreError> {
    write_over(file, content, None, path)
}

/// [`write_in_place`] for a file whose current length is known: when the new
/// content is not shorter, no truncation (one system call) is needed.
pub(super) fn write_over(
    file: &File,
    content: &[u8],
    known_len: Option<u64>,
    path: &Path,
) -> Result<(), StoreError> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(content, 0)
        .map_err(io_err("write", path))?;
    let len = content.len() as u64;
    if known_len.is_none_or(|k| k > len) {
        file.set_len(len).map_err(io_err("write", path))?;
    }
    Ok(())
}

/// Opens one of our files (or host-local's cursor) for an in-place rewrite,
/// creating it. Never through a symlink: one found in its place (planted,
/// or a restore's) is removed and a regular file made.
pub(super) fn open_for_rewrite(path: &Path) -> Result<File, StoreError> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(path)
    };
    match open() {
        Err(e) if e.raw_os_error() == Some(ELOOP) => {
            remove_if_exists(path)?;
            open()
        }
        other => other,
    }
    .map_err(io_err("open", path))
}

pub(super) fn remove_if_exists(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

/// Makes one of our directories. A symlink found in its place (planted, or a
/// restore's) is replaced by a directory: what we list in it and delete
/// (sticky records) must never be files elsewhere.
pub(super) fn create_dir(path: &Path) -> Result<(), StoreError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_real_dir(path) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            remove_if_exists(path)?;
            fs::create_dir(path).map_err(io_err("create directory", path))
        }
        Err(e) => Err(io_err("create directory", path)(e)),
    }
}

/// Whether `path` is a directory itself, not a symlink to one.
pub(super) fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}
