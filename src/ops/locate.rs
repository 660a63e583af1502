//! Moved to [`crate::config::discovery`] and [`crate::admin::check_data_dir`].

// shim: old path, removed after the merge
pub use crate::admin::check_data_dir;
// shim: old path, removed after the merge
pub use crate::config::discovery::{
    CONF_EXTENSIONS, IPAM_TYPES, IpamPlugin, conf_files, data_dir_from_configs, ipam_plugins,
    read_conf,
};
