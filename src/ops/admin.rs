//! Moved to [`crate::admin`] (config discovery to [`crate::config::discovery`]).

// shim: old path, removed after the merge
pub use crate::admin::*;
// shim: old path, removed after the merge
pub use crate::config::discovery::{Configs, NetworkConfig};
