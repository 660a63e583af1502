//! The node's own record of the blocks it holds, per network:
//! `<dataDir>/<network>/.podlease/pool-blocks.json`, replaced atomically
//! (scratch file, fsync, rename, fsync of the directory) and written only
//! under the network's lock. And the node's identity, `<dataDir>/.podlease-node`.
//!
//! A block is written here only after etcd committed it to this node (I1), so
//! a crash can leave etcd ahead of this file, never behind: the next claim
//! finds the block in this node's etcd index and adopts it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use super::PoolError;

/// Largest block record read (thousands of blocks).
const MAX_FILE: u64 = 16 << 20;

/// Whether new addresses may come from a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockState {
    /// Allocations come from it.
    Active,
    /// Being given back: no new allocations; etcd's delete may be pending.
    Releasing,
}

/// One block this node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalBlock {
    /// The pool's CIDR.
    #[serde(with = "as_text")]
    pub pool: IpNetwork,
    /// The block.
    #[serde(with = "as_text")]
    pub cidr: IpNetwork,
    /// The block key's create revision in etcd: the claim token.
    pub claim_rev: i64,
    /// Active or releasing.
    pub state: BlockState,
    /// When the block was first seen empty (seconds since the epoch), by
    /// `podlease pool gc`; cleared when it is seen in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_since: Option<u64>,
    /// When it was claimed (seconds since the epoch).
    #[serde(default)]
    pub claimed_at: u64,
}

/// CIDRs as text.
mod as_text {
    use ipnetwork::IpNetwork;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &IpNetwork, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<IpNetwork, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalBlocks {
    /// Every block held, active or releasing.
    pub blocks: Vec<LocalBlock>,
}

/// `<network dir>/.podlease/pool-blocks.json`.
pub fn path(meta: &Path) -> PathBuf {
    meta.join("pool-blocks.json")
}

fn io_err(op: &str, path: &Path, e: &io::Error) -> PoolError {
    PoolError::Io(format!("cannot {op} {}: {e}", path.display()))
}

impl LocalBlocks {
    /// Reads the record; absent means no blocks.
    ///
    /// # Errors
    /// [`PoolError::Io`] when it cannot be read or parsed: never guessed, as
    /// a block forgotten here could be claimed twice by this node.
    pub fn read(meta: &Path) -> Result<Self, PoolError> {
        let p = path(meta);
        // Room for a typical record up front: `take` hides the file's size
        // from `read_to_end`, which would otherwise grow the buffer (and
        // read again) from 32 bytes, five reads for a few hundred bytes.
        let mut text = Vec::with_capacity(8192);
        match File::open(&p) {
            Ok(f) => {
                f.take(MAX_FILE)
                    .read_to_end(&mut text)
                    .map_err(|e| io_err("read", &p, &e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_err("open", &p, &e)),
        }
        serde_json::from_slice(&text).map_err(|e| {
            PoolError::Io(format!(
                "{} is damaged ({e}); `podlease pool show` lists what etcd says this node holds",
                p.display()
            ))
        })
    }

    /// Replaces the record atomically and durably.
    ///
    /// # Errors
    /// [`PoolError::Io`].
    pub fn write(&self, meta: &Path) -> Result<(), PoolError> {
        let p = path(meta);
        let tmp = meta.join("pool-blocks.json.tmp");
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| PoolError::Io(format!("cannot encode the block record: {e}")))?;
        fs::create_dir_all(meta).map_err(|e| io_err("create", meta, &e))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err("create", &tmp, &e))?;
        f.write_all(&text).map_err(|e| io_err("write", &tmp, &e))?;
        f.sync_all().map_err(|e| io_err("sync", &tmp, &e))?;
        drop(f);
        fs::rename(&tmp, &p).map_err(|e| io_err("rename into place", &p, &e))?;
        File::open(meta)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync", meta, &e))
    }

    /// The active blocks of `pool`, in address order.
    pub fn active(&self, pool: IpNetwork) -> Vec<&LocalBlock> {
        let mut out: Vec<&LocalBlock> = self
            .blocks
            .iter()
            .filter(|b| b.pool == pool && b.state == BlockState::Active)
            .collect();
        out.sort_by_key(|b| crate::range::to_u128(b.cidr.ip()));
        out
    }

    /// Whether `cidr` is held (in any state).
    pub fn holds(&self, cidr: IpNetwork) -> bool {
        self.blocks.iter().any(|b| b.cidr == cidr)
    }
}

/// The node's identity file under the data directory.
pub fn uid_path(data_dir: &Path) -> PathBuf {
    data_dir.join(".podlease-node")
}

/// Reads the node's uid, creating it once (128 random bits) if absent.
///
/// # Errors
/// [`PoolError::Io`].
pub fn node_uid(data_dir: &Path) -> Result<String, PoolError> {
    let p = uid_path(data_dir);
    if let Some(uid) = read_uid(&p)? {
        return Ok(uid);
    }
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io_err("read", Path::new("/dev/urandom"), &e))?;
    let uid: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written aside, then linked: a concurrent first use sees one uid.
    fs::create_dir_all(data_dir).map_err(|e| io_err("create", data_dir, &e))?;
    let tmp = data_dir.join(format!(".podlease-node.{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("create", &tmp, &e))?;
    f.write_all(format!("{uid}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("write", &tmp, &e))?;
    drop(f);
    let linked = fs::hard_link(&tmp, &p);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            File::open(data_dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err("sync", data_dir, &e))?;
            Ok(uid)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_uid(&p)?
            .ok_or_else(|| PoolError::Io(format!("{} is empty or damaged", p.display()))),
        Err(e) => Err(io_err("create", &p, &e)),
    }
}

/// Reads the uid file if present.
///
/// # Errors
/// [`PoolError::Io`] when present but unreadable or malformed.
pub fn read_uid(p: &Path) -> Result<Option<String>, PoolError> {
    match fs::read_to_string(p) {
        Ok(s) => {
            let uid = s.trim();
            if uid.len() == 32 && uid.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(Some(uid.to_owned()))
            } else {
                Err(PoolError::Io(format!(
                    "{} does not hold a node uid (32 hex digits); it identifies this node in etcd, restore it or see docs/cluster-pools.md",
                    p.display()
                )))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", p, &e)),
    }
}
