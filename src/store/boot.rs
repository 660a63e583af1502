//! Where "which boot is this" comes from: the kernel's boot id and the boot
//! time (`btime` in `/proc/stat`). Both paths can be pointed elsewhere so
//! tests can simulate a reboot.

use std::path::PathBuf;

/// Paths of the two boot signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSource {
    /// Default `/proc/sys/kernel/random/boot_id`.
    pub boot_id_path: PathBuf,
    /// Default `/proc/stat`.
    pub proc_stat_path: PathBuf,
}

impl Default for BootSource {
    fn default() -> Self {
        Self {
            boot_id_path: PathBuf::from("/proc/sys/kernel/random/boot_id"),
            proc_stat_path: PathBuf::from("/proc/stat"),
        }
    }
}

impl BootSource {
    /// The current boot id, trimmed; `None` when it cannot be read (then no
    /// reclaim happens: without a boot id nothing can be proven old).
    pub fn boot_id(&self) -> Option<String> {
        // One open and one read: this runs on every operation.
        use std::io::Read;
        let mut buf = [0u8; 256];
        let n = std::fs::File::open(&self.boot_id_path)
            .ok()?
            .read(&mut buf)
            .ok()?;
        let id = std::str::from_utf8(buf.get(..n)?).ok()?.trim();
        (!id.is_empty() && id.len() <= 128 && !id.contains(char::is_whitespace))
            .then(|| id.to_owned())
    }

    /// The boot time in seconds since the epoch.
    pub fn boot_time(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.proc_stat_path).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }
}
