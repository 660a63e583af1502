//! What `show` and `release` look for: an address, or a container's
//! attachments, and which allocations that names.

use std::net::IpAddr;

use crate::ids::{Attachment, ContainerId, IfName};
use crate::store::{Allocation, Owner};

/// An address or a container, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One address.
    Address(IpAddr),
    /// Every attachment of a container (or one, with an interface).
    Container(ContainerId, Option<IfName>),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(ip) => write!(f, "address {ip}"),
            Self::Container(id, None) => write!(f, "container {id}"),
            Self::Container(id, Some(ifname)) => write!(f, "container {id} interface {ifname}"),
        }
    }
}

/// The allocations of `all` that `target` names. A container with an
/// interface matches as DEL does: its exact files, or its legacy id-only
/// files when it has none.
pub(super) fn select<'a>(all: &'a [Allocation], target: &Target) -> Vec<&'a Allocation> {
    match target {
        Target::Address(ip) => all.iter().filter(|a| a.ip == *ip).collect(),
        Target::Container(id, None) => all
            .iter()
            .filter(|a| match &a.owner {
                Owner::Attachment(who) => who.container_id == *id,
                Owner::Legacy(l) => l == id,
                Owner::Empty | Owner::Unknown(_) => false,
            })
            .collect(),
        Target::Container(id, Some(ifname)) => {
            let who = Owner::Attachment(Attachment {
                container_id: id.clone(),
                ifname: ifname.clone(),
            });
            let exact: Vec<&Allocation> = all.iter().filter(|a| a.owner == who).collect();
            if exact.is_empty() {
                let legacy = Owner::Legacy(id.clone());
                all.iter().filter(|a| a.owner == legacy).collect()
            } else {
                exact
            }
        }
    }
}
