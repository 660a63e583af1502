//! Where "which boot is this" comes from: the kernel's boot id, the boot
//! time (`btime` in `/proc/stat`), and the birth time of `/run`, a tmpfs
//! mounted at boot. The paths are fixed in the binary: nothing in the
//! environment can change the boot identity (a stray variable would mean a
//! mass release). Tests simulate a reboot by bind-mounting files over these
//! paths in a private mount namespace.

use std::path::PathBuf;

/// Paths of the boot signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSource {
    /// Default `/proc/sys/kernel/random/boot_id`.
    pub boot_id_path: PathBuf,
    /// Default `/proc/stat`.
    pub proc_stat_path: PathBuf,
    /// Default `/run`: a tmpfs made at boot, whose birth time is a boot
    /// time in the same clock as the files' mtimes.
    pub run_path: PathBuf,
}

impl Default for BootSource {
    fn default() -> Self {
        Self {
            boot_id_path: PathBuf::from("/proc/sys/kernel/random/boot_id"),
            proc_stat_path: PathBuf::from("/proc/stat"),
            run_path: PathBuf::from("/run"),
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

    /// The boot time in seconds since the epoch, as the kernel derives it
    /// now (the current clock minus the uptime: a clock step moves it).
    pub fn boot_time(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.proc_stat_path).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The birth time of `/run` in seconds since the epoch: stamped once, by
    /// the clock of early boot, so a later step of the clock does not move
    /// it. `None` when the file system does not record birth times (or
    /// reports the epoch).
    pub fn run_birth(&self) -> Option<i64> {
        // statx itself: Rust's std reports no birth time when linked
        // against musl, which is how podlease ships.
        use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
        let st = statx(CWD, &self.run_path, AtFlags::empty(), StatxFlags::BTIME).ok()?;
        if st.stx_mask & StatxFlags::BTIME.bits() == 0 {
            return None;
        }
        Some(st.stx_btime.tv_sec).filter(|s| *s > 0)
    }

    /// The instant before which a file we did not write is proven to be of
    /// an earlier boot: the earlier of the boot time minus `slack` and the
    /// birth time of `/run`. `None` (nothing is proven old) when either
    /// is unknown.
    ///
    /// The boot time moves with every clock step, `/run`'s birth time does
    /// not; taking the earlier one protects this boot's files from a clock
    /// stepped forward after boot (`/run` stays early) and from one stepped
    /// back (the boot time moves back with it).
    pub fn foreign_reference(&self, slack_secs: u64) -> Option<i64> {
        let slack = i64::try_from(slack_secs).unwrap_or(i64::MAX);
        let btime = self.boot_time()?.saturating_sub(slack);
        Some(btime.min(self.run_birth()?))
    }
}
