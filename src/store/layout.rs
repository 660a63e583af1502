//! Every path the plugin reads or writes under `<dataDir>/<network>/`.
//!
//! host-local's files: `lock`, `last_reserved_ip.<set>`, and one file per
//! address named by the address. Ours live under `.podlease/`, whose names
//! never parse as an address, so host-local's recursive directory walk cannot
//! mistake them for reservations.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::ids::NetworkName;

/// The paths of one network's state.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<dataDir>/<network>`.
    pub dir: PathBuf,
    /// `<dir>/.podlease`.
    pub meta: PathBuf,
}

impl Layout {
    /// The layout of `network` under `data_dir`. The name is validated, so the
    /// join cannot leave `data_dir`.
    pub fn new(data_dir: &Path, network: &NetworkName) -> Self {
        let dir = data_dir.join(network.as_str());
        let meta = dir.join(".podlease");
        Self { dir, meta }
    }

    /// host-local's lock file.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// The reservation file of an address, named as Go's `net.IP.String()` does.
    pub fn ip_file(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    /// host-local's round-robin cursor of range set `set`.
    pub fn cursor(&self, set: usize) -> PathBuf {
        self.dir.join(format!("last_reserved_ip.{set}"))
    }

    /// The attachment index's bucket files (see `store::index`).
    pub fn index_dir(&self) -> PathBuf {
        self.meta.join("index")
    }

    /// Scratch files; only the lock holder writes here, so anything found
    /// on entry is a leftover of a killed process.
    pub fn tmp_dir(&self) -> PathBuf {
        self.meta.join("tmp")
    }

    /// Present only when the last operation finished cleanly; holds the
    /// directory stamp the index is valid for.
    pub fn clean_marker(&self) -> PathBuf {
        self.meta.join("clean")
    }

    /// The boot id of the boot our last operation ran in.
    pub fn boot_record(&self) -> PathBuf {
        self.meta.join("boot")
    }

    /// Recently released addresses, for the reuse delay.
    pub fn released_log(&self) -> PathBuf {
        self.meta.join("released")
    }

    /// The inode pool of earlier podlease builds, which the next rebuild
    /// removes (see `recovery`); never read.
    pub fn legacy_spare_dir(&self) -> PathBuf {
        self.meta.join("spare")
    }

    /// The address journal (rotated files beside it: `journal.1`, ...).
    pub fn journal(&self) -> PathBuf {
        self.meta.join(crate::journal::FILE_NAME)
    }

    /// Last address of each pod, for sticky addresses.
    pub fn sticky_dir(&self) -> PathBuf {
        self.meta.join("sticky")
    }

    /// The scratch file a reservation's content is written to before it is
    /// linked to address names.
    ///
    /// It sits in `.podlease/` itself, not in `tmp/`: its inode lives on as
    /// the address files, and ext4 allocates a new file's inode near its
    /// directory; a subdirectory of its own gets an inode group that fills
    /// with them, and creation there measured several times slower.
    pub fn tmp_owner(&self) -> PathBuf {
        self.meta.join("owner")
    }

    /// Scratch file for atomic replacement of any of our files. One name
    /// serves all: only the lock holder writes, one file at a time, and a
    /// fixed short name cannot overflow a file name.
    pub fn tmp_replace(&self) -> PathBuf {
        self.tmp_dir().join("replace")
    }
}

/// Parses a directory entry name as a reservation's address.
pub fn parse_ip_name(name: &str) -> Option<IpAddr> {
    // Quick reject: every address name starts with a hex digit or ':'.
    let first = name.as_bytes().first()?;
    if !(first.is_ascii_hexdigit() || *first == b':') {
        return None;
    }
    name.parse::<IpAddr>().ok().map(crate::range::canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_names_never_parse_as_addresses() {
        for name in [
            "lock",
            "last_reserved_ip.0",
            ".podlease",
            "a:eth0",
            "fe80:1",
            "1:eth0",
            "abc:",
            "clean",
            "boot",
            "owner",
        ] {
            assert!(parse_ip_name(name).is_none(), "{name}");
        }
        assert_eq!(parse_ip_name("10.1.2.2"), Some("10.1.2.2".parse().unwrap()));
        assert_eq!(
            parse_ip_name("2001:db8::2"),
            Some("2001:db8::2".parse().unwrap())
        );
    }
}
