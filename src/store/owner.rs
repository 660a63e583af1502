//! Owner files: who holds an address, as its file says, and how the
//! address files are read. An address is taken iff `<dir>/<ip>` exists; its
//! content is `<containerID>\r\n<ifname>` (or a bare id, written by old
//! host-local). Every reader parses the same way, so a file has one owner
//! whichever path reads it.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::{StoreError, cause, io_err};
use super::files::{open_to_read, read_to_limit};
use super::layout::parse_ip_name;
use crate::ids::{Attachment, ContainerId, IfName};

/// Who holds an address, as its file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `id\r\nifname`.
    Attachment(Attachment),
    /// A bare id (host-local before 2018): held for every ifname of the id.
    Legacy(ContainerId),
    /// A zero-length file: a write that never finished (crash, power loss).
    Empty,
    /// Anything else, shown as found.
    Unknown(String),
}

impl Owner {
    fn parse(content: &str) -> Self {
        let content = content.trim();
        if content.is_empty() {
            return Self::Empty;
        }
        if let Some((id, ifname)) = content.split_once("\r\n") {
            if let (Ok(container_id), Ok(ifname)) =
                (ContainerId::new(id.trim()), IfName::new(ifname))
            {
                return Self::Attachment(Attachment {
                    container_id,
                    ifname,
                });
            }
        } else if let Ok(id) = ContainerId::new(content) {
            return Self::Legacy(id);
        }
        Self::Unknown(content.chars().take(200).collect())
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Attachment(a) => write!(f, "{a}"),
            Self::Legacy(id) => write!(f, "{id} (legacy, any interface)"),
            Self::Empty => f.write_str("(empty file)"),
            Self::Unknown(s) => write!(f, "(unrecognised content {s:?})"),
        }
    }
}

/// Identity of an address file: a file recreated under the same name differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Inode number.
    pub ino: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: i64,
}

impl FileStamp {
    pub(super) fn of(m: &fs::Metadata) -> Self {
        Self {
            ino: m.ino(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// One reservation as found on disk.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// The address.
    pub ip: IpAddr,
    /// Its holder.
    pub owner: Owner,
    /// The file's identity (its mtime is the allocation time).
    pub stamp: FileStamp,
    /// The pod, when the runtime passed `K8S_POD_NAMESPACE`/`K8S_POD_NAME`.
    pub pod: Option<String>,
}

/// A reservation's owner file, written once and linked to each address.
#[derive(Debug)]
pub struct OwnerFile {
    pub(super) who: Attachment,
    pub(super) stamp: FileStamp,
    /// The addresses linked so far, which a failed ADD undoes.
    pub(super) linked: Vec<IpAddr>,
}

/// Largest address file we read: `CNI_CONTAINERID` can be as long as an
/// environment variable (128 KiB), and host-local stores it whole.
const MAX_OWNER_FILE: u64 = 256 * 1024;

/// The owner an address file names. Every reader parses the same way (invalid
/// UTF-8 lossily), so a file has one owner whichever path reads it.
fn parse_owner(bytes: &[u8]) -> Owner {
    Owner::parse(&String::from_utf8_lossy(bytes))
}

/// Opens an address file: its owner and metadata, `None` if it is gone. An
/// entry that is not a regular file is never read; its owner says so.
pub(super) fn read_address_file(path: &Path) -> Result<Option<(Owner, fs::Metadata)>, StoreError> {
    let mut file = match open_to_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let meta = file.metadata().map_err(io_err("stat", path))?;
    if !meta.is_file() {
        return Ok(Some((Owner::Unknown("(not a regular file)".into()), meta)));
    }
    let bytes = read_to_limit(&mut file, MAX_OWNER_FILE).map_err(io_err("read", path))?;
    Ok(Some((parse_owner(&bytes), meta)))
}

/// An address file's owner without its metadata (one open, one read: the
/// lookups of ADD, DEL and CHECK); `None` if the address is free.
pub(super) fn read_owner(path: &Path) -> Result<Option<Owner>, StoreError> {
    let read = open_to_read(path).and_then(|mut f| read_to_limit(&mut f, MAX_OWNER_FILE));
    match read {
        Ok(bytes) => Ok(Some(parse_owner(&bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// Every address file of `dir` with its owner, by address. A file that
/// cannot be read is listed with an owner saying why (it stays taken: what
/// cannot be read cannot be proven free); only a directory that cannot be
/// listed is an error.
pub(super) fn scan_dir(dir: &Path) -> Result<Vec<Allocation>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let Some(ip) = entry.file_name().to_str().and_then(parse_ip_name) else {
            continue;
        };
        // Only regular files are reservations: a symlink named like an
        // address is never followed (its name still counts as taken).
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let (owner, meta) = match read_address_file(&entry.path()) {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(e) => match entry.metadata() {
                Ok(meta) => (Owner::Unknown(format!("(unreadable: {})", cause(&e))), meta),
                Err(_) => continue,
            },
        };
        if !meta.is_file() {
            continue;
        }
        out.push(Allocation {
            ip,
            owner,
            stamp: FileStamp::of(&meta),
            pod: None,
        });
    }
    out.sort_by_key(|a| (crate::range::Family::of(a.ip), crate::range::to_u128(a.ip)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(id: &str, ifname: &str) -> Attachment {
        Attachment {
            container_id: ContainerId::new(id).unwrap(),
            ifname: IfName::new(ifname).unwrap(),
        }
    }

    #[test]
    fn owner_parsing() {
        let att = |id, ifname| Owner::Attachment(who(id, ifname));
        assert_eq!(Owner::parse("abc\r\neth0"), att("abc", "eth0"));
        assert_eq!(
            Owner::parse("  abc\r\neth0\n"),
            att("abc", "eth0"),
            "host-local trims the whole content"
        );
        assert_eq!(Owner::parse("abc\r\nné1"), att("abc", "né1"));
        assert_eq!(
            Owner::parse("abc"),
            Owner::Legacy(ContainerId::new("abc").unwrap())
        );
        assert_eq!(
            Owner::parse("abc\n"),
            Owner::Legacy(ContainerId::new("abc").unwrap())
        );
        assert_eq!(
            Owner::parse("abc\r\n"),
            Owner::Legacy(ContainerId::new("abc").unwrap()),
            "trimmed first, as host-local does"
        );
        assert_eq!(Owner::parse(""), Owner::Empty);
        assert_eq!(Owner::parse(" \r\n\t"), Owner::Empty);
        for garbage in [
            "abc\neth0",
            "\r\neth0 x",
            "x\r\n\r\neth0",
            "a/b\r\neth0",
            "abc\r\neth0\r\nx",
            "abc\r\neth 0",
            "-x",
            "a b",
            "abc\r\n1234567890123456",
        ] {
            assert!(
                matches!(Owner::parse(garbage), Owner::Unknown(_)),
                "{garbage:?}: {:?}",
                Owner::parse(garbage)
            );
        }
        let long = "x".repeat(1000);
        let Owner::Unknown(shown) = Owner::parse(&format!("{long} {long}")) else {
            panic!("not unknown")
        };
        assert!(shown.chars().count() <= 200, "shown content is bounded");
    }
}
