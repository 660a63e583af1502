//! Validated names that come from outside the process: the network name, the
//! container id and the interface name.
//!
//! Owns: the CNI character rules. These are the only strings allowed to become
//! path components under `dataDir`, so a `../` can never escape it.

use std::fmt;

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty where a value is required.
    #[error("is empty")]
    Empty,
    /// Does not match `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`.
    #[error(
        "{0:?} has invalid characters: it must start with a letter or digit, followed by letters, digits, '_', '.' or '-'"
    )]
    BadCharacters(String),
    /// Interface name longer than 15 bytes (IFNAMSIZ - 1).
    #[error("{0:?} is too long: interface names are at most 15 bytes")]
    TooLong(String),
    /// Interface name `.` or `..`.
    #[error("{0:?} is not a valid interface name")]
    Dots(String),
    /// Interface name with `/`, `:` or white space.
    #[error("{0:?} contains '/', ':' or white space")]
    BadIfnameCharacters(String),
}

fn check_id_chars(s: &str) -> Result<(), NameError> {
    let mut bytes = s.bytes();
    match bytes.next() {
        None => return Err(NameError::Empty),
        Some(b) if b.is_ascii_alphanumeric() => {}
        Some(_) => return Err(NameError::BadCharacters(s.to_owned())),
    }
    if bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
        Ok(())
    } else {
        Err(NameError::BadCharacters(s.to_owned()))
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `s` against the CNI container-id character rule.
            ///
            /// # Errors
            /// [`NameError`] when `s` is empty or has a character outside the rule.
            pub fn new(s: &str) -> Result<Self, NameError> {
                check_id_chars(s)?;
                Ok(Self(s.to_owned()))
            }

            /// The validated name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_newtype!(
    /// A network name (`name` in the config): the directory under `dataDir`.
    NetworkName
);
id_newtype!(
    /// `CNI_CONTAINERID`.
    ContainerId
);

/// `CNI_IFNAME`: the interface name inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// Validates `s` against the kernel's interface-name rules, as CNI does.
    ///
    /// # Errors
    /// [`NameError`] when `s` is empty, too long, `.`/`..`, or has `/`, `:` or white space.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > 15 {
            return Err(NameError::TooLong(s.to_owned()));
        }
        if s == "." || s == ".." {
            return Err(NameError::Dots(s.to_owned()));
        }
        if s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
            return Err(NameError::BadIfnameCharacters(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The validated name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One attachment of a container to a network: what owns an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: ContainerId,
    /// `CNI_IFNAME`.
    pub ifname: IfName,
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.container_id, self.ifname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids() {
        for ok in ["a", "0", "abc-DEF_1.2", "a..b", "1.2.3.4"] {
            assert!(ContainerId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "..", "-a", "_a", "a/b", "../x", "a b", " a", "a\n", "é", "a:b",
        ] {
            assert!(ContainerId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ifnames() {
        for ok in ["eth0", "a", "net1.100", "123456789012345", "e-t_h", "%x"] {
            assert!(IfName::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(IfName::new(""), Err(NameError::Empty));
        assert!(matches!(
            IfName::new("1234567890123456"),
            Err(NameError::TooLong(_))
        ));
        assert!(matches!(IfName::new("."), Err(NameError::Dots(_))));
        assert!(matches!(IfName::new(".."), Err(NameError::Dots(_))));
        for bad in ["a/b", "a:b", "a b", "a\tb", "eth0\n"] {
            assert!(
                matches!(IfName::new(bad), Err(NameError::BadIfnameCharacters(_))),
                "{bad:?}"
            );
        }
    }
}
