//! Reservation (ADD): the owner's content is written once to
//! `.podlease/owner` and hard-linked to each address name; `link` fails if
//! the name exists, and a reader sees either no file or a complete one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;

use super::error::{StoreError, io_err};
use super::files::remove_if_exists;
use super::index::{self, IndexEntry};
use super::network::LockedNetwork;
use super::owner::{FileStamp, Owner, OwnerFile};
use crate::ids::Attachment;
use crate::journal::{Event, Reason, Record};

impl LockedNetwork {
    /// Writes the owner content once, ready to be linked to addresses.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure (nothing is reserved then).
    pub fn prepare_owner(&mut self, who: &Attachment) -> Result<OwnerFile, StoreError> {
        let was_clean = self.clean_on_disk;
        self.begin_change()?;
        let tmp = self.layout.tmp_owner();
        // After an operation that did not finish, a leftover may still be
        // linked to an address: unlink it rather than truncate it, which would
        // empty that address file. (A clean marker proves there is none: every
        // ADD removes its scratch file before it commits.)
        if !was_clean {
            remove_if_exists(&tmp)?;
        }
        let content = format!("{}\r\n{}", who.container_id, who.ifname);
        // 0644 like host-local's files (less the umask): non-root readers of
        // the state directory depend on it.
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
        };
        let mut f = match create() {
            // Not ours to explain (an operator's copy?): unlink, never truncate.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                remove_if_exists(&tmp)?;
                create()
            }
            other => other,
        }
        .map_err(io_err("create", &tmp))?;
        f.write_all(content.as_bytes())
            .map_err(io_err("write", &tmp))?;
        let meta = f.metadata().map_err(io_err("stat", &tmp))?;
        Ok(OwnerFile {
            who: who.clone(),
            stamp: FileStamp::of(&meta),
            linked: Vec::new(),
        })
    }

    /// Tries to reserve `ip` for the owner: `Ok(false)` if it is taken.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure other than "exists".
    pub fn try_reserve(&mut self, owner: &mut OwnerFile, ip: IpAddr) -> Result<bool, StoreError> {
        let target = self.layout.ip_file(ip);
        match fs::hard_link(self.layout.tmp_owner(), &target) {
            Ok(()) => {
                owner.linked.push(ip);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // The scratch file vanished (an operator's `rm -r .podlease`).
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.layout.dir.is_dir() => {
                Err(io_err("link", &self.layout.tmp_owner())(e))
            }
            Err(e) => Err(io_err("create reservation", &target)(e)),
        }
    }

    /// Undoes the links made through `owner` (ADD failed part-way). Only what
    /// this ADD created is removed, never an earlier reservation.
    ///
    /// # Errors
    /// [`StoreError`] listing the first address that could not be removed.
    pub fn abandon(&mut self, owner: OwnerFile) -> Result<(), StoreError> {
        let mut first_err = None;
        for ip in &owner.linked {
            if let Err(e) = self.remove_if_owned(
                *ip,
                &Owner::Attachment(owner.who.clone()),
                Some(owner.stamp),
            ) {
                first_err.get_or_insert(e);
            }
        }
        remove_if_exists(&self.layout.tmp_owner())?;
        first_err.map_or(Ok(()), Err)
    }

    /// Records the reservation in the index and drops the scratch file.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure.
    pub fn finish(
        &mut self,
        owner: &OwnerFile,
        pod: Option<String>,
        completes: bool,
    ) -> Result<(), StoreError> {
        let mut ips: Vec<_> = owner.linked.iter().map(|ip| (*ip, owner.stamp)).collect();
        // An ADD that completes what the attachment already held keeps the
        // record of those files beside the new ones.
        if completes && let Some(old) = self.index.get(&index::key(&owner.who))? {
            ips.extend(
                old.ips
                    .into_iter()
                    .filter(|(ip, _)| !owner.linked.contains(ip)),
            );
        }
        ips.sort_by_key(|(ip, _)| *ip);
        self.index_put(&index::key(&owner.who), Some(IndexEntry { ips, pod }))?;
        remove_if_exists(&self.layout.tmp_owner())?;
        Ok(())
    }

    /// Removes `ip`'s file if it still belongs to `owner` (and, when given, is
    /// the very file with `stamp`). Returns whether it was removed.
    fn remove_if_owned(
        &mut self,
        ip: IpAddr,
        owner: &Owner,
        stamp: Option<FileStamp>,
    ) -> Result<bool, StoreError> {
        match self.owner_of(ip)? {
            Some((o, st)) if o == *owner && stamp.is_none_or(|s| s == st) => {
                self.begin_change()?;
                remove_if_exists(&self.layout.ip_file(ip))
            }
            _ => Ok(false),
        }
    }

    /// Records in the journal that `who` was given `ips` (ADD). Never fails:
    /// the record is written when the operation ends.
    pub fn journal_allocated(&mut self, who: &Attachment, ips: &[IpAddr], pod: Option<&str>) {
        for ip in ips {
            let r = Record::now(Event::Allocate, *ip, Reason::Add)
                .by(who.container_id.as_str(), Some(who.ifname.as_str()))
                .pod(pod);
            self.journal.push(r);
        }
    }
}
