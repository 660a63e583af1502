//! Moved to [`crate::admin`] (`validate`).

// shim: old path, removed after the merge
pub use crate::admin::{FileReport, NetworkReport, ValidateReport, check_text, validate};
