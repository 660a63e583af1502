//! The environment's part of an invocation: `CNI_COMMAND`, the variables the
//! command requires, and the attachment (`CNI_CONTAINERID`, `CNI_IFNAME`).
//! Names and arguments are never guessed: a required variable that is empty
//! or not UTF-8 is an error.

use super::RawInvocation;
use super::error::InvocationError;
use crate::ids::{Attachment, ContainerId, IfName};

/// The command a runtime asked for (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `ADD`.
    Add,
    /// `DEL`.
    Del,
    /// `CHECK`.
    Check,
    /// `GC`.
    Gc,
    /// `STATUS`.
    Status,
    /// `VERSION`.
    Version,
}

impl Command {
    /// Parses `CNI_COMMAND`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ADD" => Self::Add,
            "DEL" => Self::Del,
            "CHECK" => Self::Check,
            "GC" => Self::Gc,
            "STATUS" => Self::Status,
            "VERSION" => Self::Version,
            _ => return None,
        })
    }

    /// The command of the invocation.
    ///
    /// # Errors
    /// An unknown or absent `CNI_COMMAND`.
    pub fn from_env(raw: &RawInvocation) -> Result<Self, InvocationError> {
        let command = raw.var("CNI_COMMAND").unwrap_or_default();
        Self::parse(command).ok_or_else(|| InvocationError::UnknownCommand {
            found: command.to_owned(),
        })
    }

    /// Variables the spec requires, in the reference skeleton's order.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::Add | Self::Check => &["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
            Self::Del => &["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
            Self::Gc | Self::Status => &["CNI_PATH"],
            Self::Version => &[],
        }
    }

    /// ADD, DEL and CHECK act for one attachment.
    pub fn has_attachment(self) -> bool {
        matches!(self, Self::Add | Self::Del | Self::Check)
    }
}

/// A command with its environment checked.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The command.
    pub command: Command,
    /// The attachment, for ADD, DEL and CHECK.
    pub attachment: Option<Attachment>,
    /// `CNI_ARGS` as given (empty when absent); read by the commands that use it.
    pub cni_args: String,
}

impl Invocation {
    /// Checks the variables `command` needs and reads the attachment.
    ///
    /// # Errors
    /// A variable that is not UTF-8, a required one missing, or a container
    /// id or interface name that cannot be used.
    pub fn from_env(raw: &RawInvocation, command: Command) -> Result<Self, InvocationError> {
        refuse_non_utf8(raw)?;
        refuse_missing(raw, command)?;
        let attachment = if command.has_attachment() {
            Some(attachment(raw)?)
        } else {
            None
        };
        Ok(Self {
            command,
            attachment,
            cni_args: raw.var("CNI_ARGS").unwrap_or_default().to_owned(),
        })
    }
}

/// Names, arguments and our own overrides (paths) are never guessed.
fn refuse_non_utf8(raw: &RawInvocation) -> Result<(), InvocationError> {
    if let Some(key) = raw.non_utf8.iter().find(|k| {
        ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_ARGS"].contains(&k.as_str())
            || k.starts_with("PODLEASE_")
    }) {
        return Err(InvocationError::NotUtf8 { var: key.clone() });
    }
    Ok(())
}

fn refuse_missing(raw: &RawInvocation, command: Command) -> Result<(), InvocationError> {
    let missing: Vec<&'static str> = command
        .required()
        .iter()
        .copied()
        .filter(|k| raw.var(k).is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        return Err(InvocationError::Missing { vars: missing });
    }
    Ok(())
}

fn attachment(raw: &RawInvocation) -> Result<Attachment, InvocationError> {
    let name_err = |var, source| InvocationError::InvalidName { var, source };
    let id = raw.var("CNI_CONTAINERID").unwrap_or_default();
    let ifname = raw.var("CNI_IFNAME").unwrap_or_default();
    Ok(Attachment {
        container_id: ContainerId::new(id).map_err(|e| name_err("CNI_CONTAINERID", e))?,
        ifname: IfName::new(ifname).map_err(|e| name_err("CNI_IFNAME", e))?,
    })
}
