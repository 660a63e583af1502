//! Who holds what: the attachment lookups of ADD, DEL and CHECK through
//! the index, verified against the address files, and the listing.

use std::net::IpAddr;

use super::error::StoreError;
use super::index;
use super::network::LockedNetwork;
use super::owner::{Allocation, Owner, read_owner};
use crate::ids::{Attachment, ContainerId};

impl LockedNetwork {
    /// The addresses `who` holds, verified against the address files: exact
    /// matches first; legacy id-only files only when there is no exact match,
    /// as host-local's DEL and CHECK do.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find(&mut self, who: &Attachment) -> Result<Vec<IpAddr>, StoreError> {
        let exact = self.find_exact(who)?;
        if !exact.is_empty() {
            return Ok(exact);
        }
        self.find_legacy(&who.container_id)
    }

    /// Addresses whose file names exactly `who` (`id\r\nifname`).
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find_exact(&mut self, who: &Attachment) -> Result<Vec<IpAddr>, StoreError> {
        let want = Owner::Attachment(who.clone());
        self.lookup(&index::key(who), &want)
    }

    /// Addresses held by legacy (id-only) files of container `id`.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn find_legacy(&mut self, id: &ContainerId) -> Result<Vec<IpAddr>, StoreError> {
        if self.legacy_absent {
            return Ok(Vec::new());
        }
        let want = Owner::Legacy(id.clone());
        self.lookup(&index::legacy_key(id), &want)
    }

    /// Looks `want` up through its index entry. An entry that names a file
    /// that is gone or now says something else proves the index stale (the
    /// directory was changed in a way its mtime did not show, e.g. a file
    /// rewritten in place), and so does a bucket that does not parse: the
    /// index is rebuilt and the lookup done again.
    fn lookup(&mut self, key: &str, want: &Owner) -> Result<Vec<IpAddr>, StoreError> {
        for attempt in 0..2 {
            let entry = self.index.get(key)?;
            let mut found = Vec::new();
            let mut stale = entry.is_none() && self.index.saw_corrupt();
            for (ip, _) in entry.map(|e| e.ips).unwrap_or_default() {
                match read_owner(&self.layout.ip_file(ip))? {
                    Some(owner) if owner == *want => found.push(ip),
                    _ => stale = true,
                }
            }
            if !stale || attempt == 1 {
                return Ok(found);
            }
            self.rebuild_index()?;
        }
        Ok(Vec::new())
    }

    /// The pod recorded for `who`, if any.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn pod_of(&mut self, who: &Attachment) -> Result<Option<String>, StoreError> {
        Ok(self.index.get(&index::key(who))?.and_then(|e| e.pod))
    }

    /// Every allocation with the pod recorded for it.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn list(&self) -> Result<Vec<Allocation>, StoreError> {
        let mut all = self.scan()?;
        let (index, _) = self.index.read_all()?;
        let pods = index::pods_by_address(index.values());
        for a in &mut all {
            a.pod = pods.get(&a.ip).map(|(pod, _)| pod.clone());
        }
        Ok(all)
    }
}
