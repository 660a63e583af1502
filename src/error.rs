//! Old home of the crate's error and its code table, now split: the error of
//! an operation is [`crate::ops::error::Error`], the CNI codes are decided in
//! [`crate::plugin::error_code`].

// shim: old path, removed after the merge
pub use crate::ops::error::Error;
// shim: old path, removed after the merge
pub use crate::plugin::error_code::ErrorCode;
