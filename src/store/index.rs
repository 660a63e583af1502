//! The attachment index: for each attachment, the addresses it holds and the
//! identity (inode, mtime) of each address file, so DEL and CHECK read one
//! small file instead of every address file.
//!
//! Keys are `<id>:<ifname>`, or `<id>:` for host-local's legacy id-only files.
//! Entries live in [`BUCKETS`] files under `.podlease/index/`, chosen by a hash
//! of the container id (so a DEL that falls back to the legacy key reads the
//! bucket it already has).
//!
//! Why buckets and not a file per attachment: a new file is a new inode, and on
//! ext4 allocating an inode was the most expensive step of an ADD (without a
//! journal, ext4 also steps over every recently freed inode of the group, one
//! by one). A bucket is created once, by its first entry.
//!
//! Why edits in place: so that an ADD or a DEL writes one small record,
//! whatever the size of the bucket. ADD appends its record; DEL overwrites
//! its record with spaces (newlines kept), which readers skip. A bucket whose
//! blank space outgrows its records is rewritten compactly.
//!
//! A write cut short by a crash is repaired by the rebuild that follows every
//! crash (the `clean` marker says "dirty"). A line that does not parse flags
//! the bucket, and the caller rebuilds; nothing here is trusted without the
//! callers' verification against the address files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::error::{StoreError, io_err};
use super::files::{ELOOP, O_NOFOLLOW, create_dir, open_for_rewrite, write_over};
use super::owner::{FileStamp, Owner};
use crate::ids::{Attachment, ContainerId, IfName};

mod bucket;

pub use bucket::IndexEntry;
use bucket::{Edited, Entries, find_record, is_bucket, parse, parse_record, render, render_record};

/// Number of bucket files: each costs an inode, made by its first entry.
/// With 3,000 attachments a bucket holds about 50 entries
/// (3 KiB, one page), searched, not parsed, by ADD and DEL; with 16 buckets
/// the larger buckets made DEL with 3,000 held measurably slower than DEL
/// with none.
pub const BUCKETS: usize = 64;

/// The key of an attachment's entry.
pub fn key(who: &Attachment) -> String {
    format!("{}:{}", who.container_id, who.ifname)
}

/// The key of a container's legacy (id-only) reservations.
pub fn legacy_key(id: &ContainerId) -> String {
    format!("{id}:")
}

/// The key of whatever holds an address, as its file says; `None` for a
/// file that names nobody (empty, unrecognised).
pub fn key_of(owner: &Owner) -> Option<String> {
    match owner {
        Owner::Attachment(who) => Some(key(who)),
        Owner::Legacy(id) => Some(legacy_key(id)),
        Owner::Empty | Owner::Unknown(_) => None,
    }
}

/// The holder an index key names (`id:ifname`, or `id:` for a legacy file).
pub fn owner_of_key(key: &str) -> Owner {
    let (id, ifname) = key.split_once(':').unwrap_or((key, ""));
    match (ContainerId::new(id), ifname) {
        (Ok(id), "") => Owner::Legacy(id),
        (Ok(container_id), ifname) => match IfName::new(ifname) {
            Ok(ifname) => Owner::Attachment(Attachment {
                container_id,
                ifname,
            }),
            Err(_) => Owner::Unknown(key.to_owned()),
        },
        (Err(_), _) => Owner::Unknown(key.to_owned()),
    }
}

/// The pod each address was recorded for, with the identity its file had
/// then (a later entry naming the same address wins, as a rebuild would).
pub fn pods_by_address<'a>(
    entries: impl IntoIterator<Item = &'a IndexEntry>,
) -> BTreeMap<IpAddr, (String, FileStamp)> {
    let mut pods = BTreeMap::new();
    for e in entries {
        if let Some(pod) = &e.pod {
            for (ip, stamp) in &e.ips {
                pods.insert(*ip, (pod.clone(), *stamp));
            }
        }
    }
    pods
}

/// The bucket a key lives in: FNV-1a of the container id (the part before
/// the first ':'), a hash that never changes between versions.
fn bucket_of(key: &str) -> usize {
    let id = key.split(':').next().unwrap_or(key);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % BUCKETS as u64).unwrap_or(0)
}

fn bit(n: usize) -> u64 {
    1u64.checked_shl(u32::try_from(n).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

fn bucket_name(n: usize) -> String {
    format!("bucket-{n:02}")
}

fn read_bucket(path: &Path, file: &mut File) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err("read", path))?;
    Ok(bytes)
}

/// A bucket read by [`Index::get`], kept open for the write that usually
/// follows. Only the record asked for is parsed: an ADD or a DEL costs a
/// search through the bucket, not a parse of every entry in it.
#[derive(Debug)]
struct OpenBucket {
    /// `None` when the bucket file does not exist (yet).
    file: Option<File>,
    /// Its content, as on disk; `None` if it is not a bucket we wrote.
    text: Option<String>,
}

/// The index of one network. Reads and writes happen under the network lock,
/// which the caller holds.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    open: BTreeMap<usize, OpenBucket>,
    corrupt: bool,
    /// Bit `n` set: bucket `n` is known to exist (the clean marker said so,
    /// or this operation wrote it). Such a bucket found missing was removed
    /// behind our back (an operator, a restore) and is damage, not "no
    /// entries": without this, a vanished bucket would hide its attachments.
    present: u64,
}

/// A bucket file as read whole.
#[derive(Debug)]
enum Stored {
    Missing,
    Damaged,
    Entries(Entries),
}

/// Every bucket of an index as read by [`Index::snapshot`], in bucket order.
#[derive(Debug)]
pub struct Snapshot(Vec<Stored>);

impl Snapshot {
    /// The entry under `key`, if its bucket parses and holds one.
    pub fn get(&self, key: &str) -> Option<&IndexEntry> {
        match self.0.get(bucket_of(key))? {
            Stored::Entries(e) => e.get(key),
            Stored::Missing | Stored::Damaged => None,
        }
    }

    /// Whether every bucket parsed.
    pub fn whole(&self) -> bool {
        !self.0.iter().any(|s| matches!(s, Stored::Damaged))
    }

    /// The entries of every bucket that parses, by reference.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &IndexEntry)> {
        self.0
            .iter()
            .flat_map(|s| match s {
                Stored::Entries(e) => Some(e.iter()),
                Stored::Missing | Stored::Damaged => None,
            })
            .flatten()
    }

    /// The entries of every bucket that parses.
    pub fn into_entries(self) -> Entries {
        let mut all = Entries::new();
        for stored in self.0 {
            if let Stored::Entries(e) = stored {
                all.extend(e);
            }
        }
        all
    }
}

/// What a rebuild writes, from [`Index::plan`].
#[derive(Debug, Default)]
pub struct Plan {
    /// Buckets whose content must change: (bucket, new content).
    writes: Vec<(usize, Vec<u8>)>,
    /// The buckets that exist once it is carried out.
    present: u64,
}

impl Plan {
    /// Whether carrying it out changes what the index says.
    pub fn changes_index(&self) -> bool {
        !self.writes.is_empty()
    }
}

impl Index {
    /// The index in `dir` (`.podlease/index`).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: BTreeMap::new(),
            corrupt: false,
            present: 0,
        }
    }

    /// Declares the buckets that exist (bit `n` for bucket `n`), as the
    /// clean marker recorded them.
    pub fn expect_buckets(&mut self, present: u64) {
        self.present = present;
    }

    /// The buckets known to exist, for the clean marker.
    pub fn present(&self) -> u64 {
        self.present
    }

    fn path(&self, n: usize) -> PathBuf {
        self.dir.join(bucket_name(n))
    }

    /// Whether a bucket read since the last [`Self::write`] did not parse:
    /// the index must then be rebuilt before an absence is believed.
    pub fn saw_corrupt(&self) -> bool {
        self.corrupt
    }

    fn load(&mut self, n: usize) -> Result<&mut OpenBucket, StoreError> {
        use std::collections::btree_map::Entry;
        let slot = match self.open.entry(n) {
            Entry::Occupied(o) => return Ok(o.into_mut()),
            Entry::Vacant(v) => v,
        };
        let path = self.dir.join(bucket_name(n));
        let bucket = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
        {
            Ok(mut file) => {
                let bytes = read_bucket(&path, &mut file)?;
                let text = String::from_utf8(bytes).ok().filter(|t| is_bucket(t));
                if text.is_none() {
                    self.corrupt = true;
                }
                OpenBucket {
                    file: Some(file),
                    text,
                }
            }
            // A symlink is not a bucket of ours: as if absent (the write
            // that creates the bucket replaces it).
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ELOOP) => {
                if self.present & bit(n) != 0 {
                    self.corrupt = true;
                }
                OpenBucket {
                    file: None,
                    text: Some(String::new()),
                }
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        self.present |= bucket.file.as_ref().map_or(0, |_| bit(n));
        Ok(slot.insert(bucket))
    }

    /// The entry under `key`, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the bucket exists but cannot be read.
    pub fn get(&mut self, key: &str) -> Result<Option<IndexEntry>, StoreError> {
        let bucket = self.load(bucket_of(key))?;
        let Some(text) = bucket.text.as_deref() else {
            return Ok(None);
        };
        let Some(range) = find_record(text, key) else {
            return Ok(None);
        };
        let record = text.get(range).unwrap_or_default();
        let lines = record.split_once('\n').map_or("", |(_, rest)| rest);
        let entry = parse_record(lines);
        if entry.is_none() {
            self.corrupt = true;
        }
        Ok(entry)
    }

    /// Sets (or with `None`, removes) the entry under `key`. The caller has
    /// marked the state dirty.
    ///
    /// A bucket that is not one we wrote is left as it is, flagged: rewriting
    /// it with this one entry would drop the others, which only a rebuild from
    /// the address files can restore. The next lookup that misses rebuilds.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn put(&mut self, key: &str, entry: Option<IndexEntry>) -> Result<(), StoreError> {
        let n = bucket_of(key);
        let mut record = String::new();
        if let Some(e) = entry.filter(|e| !e.ips.is_empty() || e.pod.is_some()) {
            render_record(key, &e, &mut record);
        }
        let bucket = self.load(n)?;
        let Some(text) = bucket.text.take() else {
            self.corrupt = true;
            return Ok(());
        };
        let mut edited = Edited::new(text, key, &record);
        if edited.writes.as_ref().is_some_and(Vec::is_empty) && bucket.file.is_some() {
            bucket.text = Some(edited.text);
            return Ok(());
        }
        // Only an append grows the file, so only an append compacts.
        let damaged = !record.is_empty() && edited.compact_if_sparse();
        let written = self.store(n, edited);
        if damaged {
            self.corrupt = true;
        }
        written
    }

    /// Writes an edited bucket in place, creating its file for its first
    /// entry (or after an operator removed the index, or all of `.podlease/`).
    fn store(&mut self, n: usize, edited: Edited) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        let path = self.path(n);
        let file = match self.open.get_mut(&n).and_then(|b| b.file.take()) {
            Some(f) => f,
            None => {
                if let Some(meta) = self.dir.parent() {
                    create_dir(meta)?;
                }
                create_dir(&self.dir)?;
                let f = open_for_rewrite(&path)?;
                self.present |= bit(n);
                f
            }
        };
        let written = match &edited.writes {
            Some(writes) => writes.iter().try_for_each(|(offset, bytes)| {
                file.write_all_at(bytes.as_bytes(), *offset as u64)
                    .map_err(io_err("write", &path))
            }),
            None => write_over(&file, edited.text.as_bytes(), None, &path),
        };
        if let Some(bucket) = self.open.get_mut(&n) {
            bucket.file = Some(file);
            bucket.text = written.is_ok().then_some(edited.text);
        }
        written
    }

    /// Every entry of every bucket that parses, and whether all did.
    ///
    /// # Errors
    /// [`StoreError`] when a bucket exists but cannot be read.
    pub fn read_all(&self) -> Result<(Entries, bool), StoreError> {
        let snapshot = self.snapshot()?;
        let whole = snapshot.whole();
        Ok((snapshot.into_entries(), whole))
    }

    /// Every bucket as it is on disk, read once: a rebuild takes the old
    /// entries' pods from it and plans its writes against it.
    ///
    /// # Errors
    /// [`StoreError`] when a bucket exists but cannot be read.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        (0..BUCKETS)
            .map(|n| self.read_file(n))
            .collect::<Result<_, _>>()
            .map(Snapshot)
    }

    /// One bucket file, read whole.
    fn read_file(&self, n: usize) -> Result<Stored, StoreError> {
        let path = self.path(n);
        match OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
        {
            Ok(mut f) => {
                let bytes = read_bucket(&path, &mut f)?;
                Ok(parse(&bytes).map_or(Stored::Damaged, Stored::Entries))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ELOOP) => {
                Ok(Stored::Missing)
            }
            Err(e) => Err(io_err("open", &path)(e)),
        }
    }

    /// The bucket writes that turn `current` into an index holding exactly
    /// `wanted`: only buckets whose content differs are written, so after
    /// host-local touched one address a rebuild writes one bucket.
    pub fn plan(current: &Snapshot, wanted: &Entries) -> Plan {
        let mut per_bucket: Vec<Entries> = vec![Entries::new(); BUCKETS];
        for (k, e) in wanted {
            if let Some(b) = per_bucket.get_mut(bucket_of(k)) {
                b.insert(k.clone(), e.clone());
            }
        }
        let mut plan = Plan::default();
        for (n, (entries, stored)) in per_bucket.iter().zip(&current.0).enumerate() {
            match stored {
                Stored::Missing if entries.is_empty() => continue,
                Stored::Entries(current) if current == entries => {}
                _ => plan.writes.push((n, render(entries).into_bytes())),
            }
            plan.present |= bit(n);
        }
        plan
    }

    /// Carries out a [`Self::plan`]. The caller has marked the state dirty if
    /// the plan [changes the index](Plan::changes_index).
    ///
    /// A bucket is only created by its first entry: made ahead of need, 64
    /// empty files took every inode of a small file system, and an ADD that
    /// then needed one failed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn write(&mut self, plan: Plan) -> Result<(), StoreError> {
        self.open.clear();
        self.corrupt = false;
        if let Some(meta) = self.dir.parent() {
            create_dir(meta)?;
        }
        self.present = plan.present;
        create_dir(&self.dir)?;
        for (n, content) in plan.writes {
            let path = self.path(n);
            let file = open_for_rewrite(&path)?;
            write_over(&file, &content, None, &path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::bucket::tests::sample;
    use super::*;

    #[test]
    fn get_and_put_rewrite_one_bucket_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        let mut idx = Index::new(dir.clone());
        idx.write(Index::plan(&idx.snapshot().unwrap(), &Entries::new()))
            .unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "made by first use"
        );
        let all = sample();
        for (k, e) in &all {
            idx.put(k, Some(e.clone())).unwrap();
        }
        // A fresh reader (another process) sees the same.
        let mut other = Index::new(dir.clone());
        for (k, e) in &all {
            assert_eq!(other.get(k).unwrap().as_ref(), Some(e));
        }
        assert_eq!(other.read_all().unwrap(), (all.clone(), true));
        other.put("a:eth0", None).unwrap();
        other.put("b:", None).unwrap();
        assert!(!other.saw_corrupt());
        let (left, whole) = Index::new(dir.clone()).read_all().unwrap();
        assert!(whole);
        assert!(left.is_empty(), "{left:?}");
        // A damaged bucket is flagged, and reads as empty.
        let n = bucket_of("a:eth0");
        std::fs::write(
            dir.join(bucket_name(n)),
            "podlease-index 1\nkey a:eth0\nip 10.0.0.2 1\n",
        )
        .unwrap();
        let mut third = Index::new(dir);
        assert_eq!(third.get("a:eth0").unwrap(), None);
        assert!(third.saw_corrupt());
        assert!(!third.read_all().unwrap().1);
    }

    #[test]
    fn removal_blanks_in_place_and_churn_stays_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        let mut idx = Index::new(dir.clone());
        let all = sample();
        for (k, e) in &all {
            idx.put(k, Some(e.clone())).unwrap();
        }
        let file = dir.join(bucket_name(bucket_of("a:eth0")));
        let before = std::fs::metadata(&file).unwrap().len();
        idx.put("a:eth0", None).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            before,
            "blanked, not cut"
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("a:eth0"), "{text}");
        // Churn: the same bucket keeps taking and losing entries.
        for i in 0..2000 {
            let key = format!("a:eth{}", i % 7);
            idx.put(&key, all.get("a:eth0").cloned()).unwrap();
            idx.put(&key, None).unwrap();
        }
        assert!(std::fs::metadata(&file).unwrap().len() < 3 * 4096);
        let (left, whole) = Index::new(dir).read_all().unwrap();
        assert!(whole);
        assert_eq!(left.keys().collect::<Vec<_>>(), ["b:"]);
        assert_eq!(left.get("b:"), all.get("b:"));
    }

    /// Review finding: compaction or a write into a bucket with a line that
    /// does not parse must not drop the entries it cannot read.
    #[test]
    fn damaged_buckets_are_never_wiped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("index");
        let mut idx = Index::new(dir.clone());
        let e = sample().remove("a:eth0").unwrap();
        idx.put("a:eth0", Some(e.clone())).unwrap();
        let file = dir.join(bucket_name(bucket_of("a:eth0")));
        // A bad line after the live record (an operator's edit, say).
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("bogus line\n");
        std::fs::write(&file, &text).unwrap();
        let mut idx = Index::new(dir.clone());
        // Churn in the same bucket until compaction would run.
        for i in 0..400 {
            let k = format!("a:x{i}");
            idx.put(&k, Some(e.clone())).unwrap();
            idx.put(&k, None).unwrap();
        }
        assert!(idx.saw_corrupt(), "flagged for a rebuild");
        assert_eq!(
            Index::new(dir.clone()).get("a:eth0").unwrap(),
            Some(e.clone())
        );
        // A bucket that is not ours at all is left alone, flagged.
        std::fs::write(&file, "something else\nkey a:eth0\n").unwrap();
        let mut idx = Index::new(dir);
        idx.put("a:eth9", Some(e)).unwrap();
        assert!(idx.saw_corrupt());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "something else\nkey a:eth0\n"
        );
    }

    #[test]
    fn legacy_and_exact_keys_share_a_bucket() {
        for id in ["a", "abc-DEF_1.2", "0123456789abcdef"] {
            let id = ContainerId::new(id).unwrap();
            let who = Attachment {
                container_id: id.clone(),
                ifname: crate::ids::IfName::new("eth0").unwrap(),
            };
            assert_eq!(bucket_of(&key(&who)), bucket_of(&legacy_key(&id)));
            assert!(bucket_of(&key(&who)) < BUCKETS);
        }
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        fn entry() -> impl Strategy<Value = Option<IndexEntry>> {
            let ip = (0u8..=255, any::<bool>()).prop_map(|(b, v6)| -> IpAddr {
                if v6 {
                    format!("fd00::{b:x}").parse().unwrap()
                } else {
                    format!("10.0.0.{b}").parse().unwrap()
                }
            });
            let stamp = (any::<u64>(), any::<i64>(), 0i64..1_000_000_000).prop_map(
                |(ino, mtime, mtime_nsec)| FileStamp {
                    ino,
                    mtime,
                    mtime_nsec,
                },
            );
            proptest::option::of(
                (
                    proptest::collection::vec((ip, stamp), 0..3),
                    proptest::option::of("[a-z]{1,5}/[a-z ]{0,5}"),
                )
                    .prop_map(|(ips, pod)| IndexEntry { ips, pod }),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Any sequence of puts leaves, for every key, what a map would
            /// hold, whether read by the writer or by a fresh reader.
            #[test]
            fn puts_match_a_map(ops in proptest::collection::vec(
                ("[a-c]{1,2}", proptest::option::of("eth[0-9]{1,2}"), entry()), 1..40)) {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("index");
                let mut idx = Index::new(dir.clone());
                let mut want = Entries::new();
                for (id, ifname, e) in ops {
                    let key = format!("{id}:{}", ifname.unwrap_or_default());
                    idx.put(&key, e.clone()).unwrap();
                    match e.filter(|e| !e.ips.is_empty() || e.pod.is_some()) {
                        Some(e) => {
                            want.insert(key.clone(), e);
                        }
                        None => {
                            want.remove(&key);
                        }
                    }
                    prop_assert_eq!(idx.get(&key).unwrap(), want.get(&key).cloned());
                }
                let mut fresh = Index::new(dir);
                for (k, e) in &want {
                    prop_assert_eq!(fresh.get(k).unwrap(), Some(e.clone()));
                }
                prop_assert_eq!(fresh.read_all().unwrap(), (want, true));
                prop_assert!(!fresh.saw_corrupt());
            }
        }
    }
}
