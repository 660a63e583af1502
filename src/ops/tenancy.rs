//! Moved to [`crate::admin`] (`history`, `verify`, `metrics`).

// shim: old path, removed after the merge
pub use crate::admin::{
    HistoryReport, HistoryTarget, JournalCounts, NetworkHistory, NetworkVerify, TimeWindow,
    VerifyReport, history, journal_counts, resolve_container, verify,
};
