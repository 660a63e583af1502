//! Release (DEL, an operator's release, GC): every address file removed on
//! request, each recorded in the journal.

use std::net::IpAddr;

use super::error::StoreError;
use super::files::remove_if_exists;
use super::index;
use super::network::LockedNetwork;
use super::owner::Owner;
use crate::ids::Attachment;
use crate::journal::Reason;

impl LockedNetwork {
    /// Releases everything `who` holds (DEL), as host-local's DEL does with
    /// `range_sets` range sets in its config: it releases once per range
    /// set, each time the files naming `who` exactly, or if there are none,
    /// the container's legacy id-only files. So the legacy files go when
    /// nothing exact is held, or when there are two range sets or more (the
    /// second pass finds the exact files gone). Returns the released addresses.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure; what was released before it stays released.
    pub fn release(
        &mut self,
        who: &Attachment,
        range_sets: usize,
    ) -> Result<Vec<IpAddr>, StoreError> {
        let released = self.release_indexed(who, range_sets)?;
        if released.is_empty() && self.ensure_complete()? {
            // Nothing found, and the index was not proven complete (a stamp
            // that could not be settled): the scan just made settles it.
            return self.release_indexed(who, range_sets);
        }
        Ok(released)
    }

    fn release_indexed(
        &mut self,
        who: &Attachment,
        range_sets: usize,
    ) -> Result<Vec<IpAddr>, StoreError> {
        let exact = self.find_exact(who)?;
        let legacy_too = exact.is_empty() || range_sets >= 2;
        let mut released = self.retire(&exact, &index::key(who))?;
        if legacy_too {
            let legacy = self.find_legacy(&who.container_id)?;
            released.extend(self.retire(&legacy, &index::legacy_key(&who.container_id))?);
        }
        Ok(released)
    }

    /// Releases `ips`, just verified to be held under index `key`, and
    /// drops the key's entry.
    fn retire(&mut self, ips: &[IpAddr], key: &str) -> Result<Vec<IpAddr>, StoreError> {
        // Verified just now, under the lock: nobody else can change them.
        let mut released = Vec::new();
        let pod = self.index.get(key)?.and_then(|e| e.pod);
        let owner = index::owner_of_key(key);
        for ip in ips {
            self.begin_change()?;
            if remove_if_exists(&self.layout.ip_file(*ip))? {
                self.journal_released(*ip, &owner, pod.as_deref(), Reason::Del, None);
                released.push(*ip);
            }
        }
        if self.index.get(key)?.is_some() {
            self.begin_change()?;
            self.index_put(key, None)?;
        }
        Ok(released)
    }

    /// Releases one address whatever holds it (operator release, GC), for
    /// `reason`. Returns the owner it had, `None` if it was free.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn release_ip(&mut self, ip: IpAddr, reason: Reason) -> Result<Option<Owner>, StoreError> {
        let Some((owner, _)) = self.owner_of(ip)? else {
            return Ok(None);
        };
        self.begin_change()?;
        remove_if_exists(&self.layout.ip_file(ip))?;
        let pod = match &owner {
            Owner::Attachment(who) => self.index.get(&index::key(who))?.and_then(|e| e.pod),
            _ => None,
        };
        self.journal_released(ip, &owner, pod.as_deref(), reason, None);
        if let Some(key) = index::key_of(&owner)
            && let Some(mut e) = self.index.get(&key)?
        {
            e.ips.retain(|(i, _)| *i != ip);
            let keep = (!e.ips.is_empty()).then_some(e);
            self.index_put(&key, keep)?;
        }
        Ok(Some(owner))
    }
}
