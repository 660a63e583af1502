//! Rebuilding the index from the address files, and the index writes that
//! a damaged bucket turns into a rebuild.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::error::StoreError;
use super::index::{self, Index, IndexEntry};
use super::network::LockedNetwork;
use super::owner::Owner;
use crate::journal::{Event, Reason, Record};

impl LockedNetwork {
    /// Rewrites the index from the address files. Files that name no
    /// attachment (empty, unrecognised, unreadable) are left alone: they stay
    /// taken until an operator or GC releases them.
    pub(super) fn rebuild_index(&mut self) -> Result<(), StoreError> {
        // Read once: the old entries keep their pods, and the plan is made
        // against what is on disk now.
        let current = self.index.snapshot()?;
        let mut legacy_seen = false;
        let mut wanted: BTreeMap<String, IndexEntry> = BTreeMap::new();
        for a in self.scan()? {
            let key = match &a.owner {
                Owner::Attachment(who) => index::key(who),
                Owner::Legacy(id) => {
                    legacy_seen = true;
                    index::legacy_key(id)
                }
                Owner::Empty | Owner::Unknown(_) => continue,
            };
            let e = wanted.entry(key).or_default();
            e.ips.push((a.ip, a.stamp));
        }
        if current.whole() {
            self.journal_external(&current, &wanted);
        }
        for (key, e) in &mut wanted {
            e.ips.sort_by_key(|(ip, _)| *ip);
            e.pod = current.get(key).and_then(|o| o.pod.clone());
        }
        let plan = Index::plan(&current, &wanted);
        if plan.changes_index() {
            self.begin_change()?;
        }
        if let Err(e) = self.index.write(plan) {
            self.index_failed = true;
            return Err(e);
        }
        self.index_failed = false;
        self.legacy_absent = !legacy_seen;
        // Under the lock, from a scan made now: nothing is missing.
        self.complete = true;
        Ok(())
    }

    /// Records what a rebuild found changed by someone else since our index
    /// was written: addresses that appeared (host-local's ADD) or went
    /// (host-local's DEL, an `rm`). Our own releases in this operation are
    /// not counted again.
    fn journal_external(&mut self, old: &index::Snapshot, wanted: &BTreeMap<String, IndexEntry>) {
        let holders = |entries: &mut dyn Iterator<Item = (&String, &IndexEntry)>| {
            let mut by_ip: BTreeMap<IpAddr, (String, Option<String>)> = BTreeMap::new();
            for (key, e) in entries {
                for (ip, _) in &e.ips {
                    by_ip.insert(*ip, (key.clone(), e.pod.clone()));
                }
            }
            by_ip
        };
        let before = holders(&mut old.entries());
        let after = holders(&mut wanted.iter());
        let split = |key: &str| -> (String, Option<String>) {
            match key.split_once(':') {
                Some((id, "")) => (id.to_owned(), None),
                Some((id, ifname)) => (id.to_owned(), Some(ifname.to_owned())),
                None => (key.to_owned(), None),
            }
        };
        for (ip, (key, pod)) in &before {
            if after.get(ip).is_none_or(|(k, _)| k != key) && !self.released_here.contains(ip) {
                let (id, ifname) = split(key);
                let r = Record::now(Event::Release, *ip, Reason::External)
                    .by(&id, ifname.as_deref())
                    .pod(pod.as_deref())
                    .note("gone when the index was rebuilt (host-local, or a change by hand)");
                self.journal.push(r);
            }
        }
        for (ip, (key, _)) in &after {
            if before.get(ip).is_none_or(|(k, _)| k != key) {
                let (id, ifname) = split(key);
                let r = Record::now(Event::Allocate, *ip, Reason::External)
                    .by(&id, ifname.as_deref())
                    .note("found when the index was rebuilt (host-local, or a change by hand)");
                self.journal.push(r);
            }
        }
    }

    /// Records an index entry; a bucket found damaged on the way is rebuilt
    /// from the address files before the operation commits, so a clean
    /// marker never vouches for it.
    pub(super) fn index_put(
        &mut self,
        key: &str,
        entry: Option<IndexEntry>,
    ) -> Result<(), StoreError> {
        if let Err(e) = self.index.put(key, entry) {
            // Perhaps written in part: only a rebuild can vouch for it again.
            self.index_failed = true;
            return Err(e);
        }
        if self.index.saw_corrupt() {
            self.rebuild_index()?;
        }
        Ok(())
    }

    /// Makes sure the index lists every address file: rebuilds it (one
    /// scan) unless that is already proven (see the settled directory stamp, `DirStamp`). Operations
    /// call this before reporting that an attachment holds nothing, where a
    /// wrong answer would hurt (CHECK, DEL). Returns whether it rebuilt, so
    /// the caller knows to look again.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn ensure_complete(&mut self) -> Result<bool, StoreError> {
        if self.complete {
            return Ok(false);
        }
        self.rebuild_index()?;
        // Commit tries again to settle the stamp, so the next operation
        // need not scan.
        self.needs_commit = true;
        Ok(true)
    }
}
