//! The one lock: an exclusive `flock` on `<dataDir>/<network>/lock`, the same
//! file host-local locks, so both plugins can run on one node during a
//! migration. Held by a guard; dropping the guard (or the process dying)
//! releases it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use fs2::FileExt;

/// Proof that the network's lock is held. Dropping it closes the lock
/// file's only descriptor, which releases the `flock` (an explicit unlock
/// before the close was one more system call for nothing).
#[derive(Debug)]
pub struct NetworkLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Opening or locking failed.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another process held the lock for longer than the timeout.
    #[error("timed out after {secs}s waiting for the lock {path}: another process holds it")]
    Timeout {
        /// The lock file.
        path: String,
        /// How long we waited.
        secs: u64,
    },
}

const WAITING: u8 = 0;
const ACQUIRED: u8 = 1;
const TIMED_OUT: u8 = 2;

/// Ends the process when the lock could not be taken in time. Given one,
/// [`NetworkLock::acquire`] waits on the calling thread itself and leaves the
/// timeout to a watchdog thread, which calls this: woken by the kernel
/// straight from `flock`, a waiter takes the lock in one scheduling step
/// instead of two (a helper thread's wake-up, then the caller's). With 16
/// ADDs racing for one lock on 2 CPUs that cut their wall time by a quarter.
#[derive(Clone)]
pub struct TimeoutHook(pub Arc<dyn Fn(&LockError) + Send + Sync>);

impl std::fmt::Debug for TimeoutHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimeoutHook")
    }
}

impl NetworkLock {
    /// Opens (creating if needed) and locks `path`, waiting at most `timeout`.
    ///
    /// The uncontended case is one non-blocking `flock`. Under contention the
    /// wait is a blocking `flock`, woken by the kernel (no polling delay):
    /// on this thread, with `on_timeout` ending the process from a watchdog
    /// if it lasts too long; without one, on a helper thread, while this one
    /// gives up after `timeout`.
    ///
    /// # Errors
    /// [`LockError`] when the file cannot be opened or locked, or on timeout.
    pub fn acquire(
        path: &Path,
        timeout: Duration,
        on_timeout: Option<&TimeoutHook>,
    ) -> Result<Self, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error(path))?;
        if try_lock(&file, Mode::Exclusive).map_err(io_error(path))? {
            return Ok(Self { _file: file });
        }
        match on_timeout {
            Some(hook) => wait_here(file, path, timeout, hook),
            None => wait_on_helper(file, path, timeout, Mode::Exclusive),
        }
    }

    /// A reader's lock: a shared `flock` on an existing lock file opened
    /// read-only, so inspection works on a read-only mount and as a user who
    /// may only read. Waits at most `timeout` for a writer to finish.
    ///
    /// # Errors
    /// [`LockError::Io`] when the file cannot be opened (absent, not
    /// readable: the caller may read without it), [`LockError::Timeout`].
    pub fn acquire_shared(path: &Path, timeout: Duration) -> Result<Self, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .open(path)
            .map_err(io_error(path))?;
        if try_lock(&file, Mode::Shared).map_err(io_error(path))? {
            return Ok(Self { _file: file });
        }
        wait_on_helper(file, path, timeout, Mode::Shared)
    }
}

/// Which `flock`.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Exclusive,
    Shared,
}

impl Mode {
    /// Blocks until the lock is taken.
    #[allow(clippy::disallowed_methods)] // this is the one place that locks
    fn lock(self, file: &File) -> io::Result<()> {
        match self {
            Self::Exclusive => FileExt::lock_exclusive(file),
            Self::Shared => FileExt::lock_shared(file),
        }
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn timed_out(path: &Path, timeout: Duration) -> LockError {
    LockError::Timeout {
        path: path.display().to_string(),
        secs: timeout.as_secs(),
    }
}

/// One non-blocking `flock`: whether it took the lock.
#[allow(clippy::disallowed_methods)] // this is the one place that locks
fn try_lock(file: &File, mode: Mode) -> io::Result<bool> {
    let tried = match mode {
        Mode::Exclusive => FileExt::try_lock_exclusive(file),
        Mode::Shared => FileExt::try_lock_shared(file),
    };
    match tried {
        Ok(()) => Ok(true),
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock
                || e.raw_os_error() == fs2::lock_contended_error().raw_os_error() =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Waits for the exclusive lock on this thread, a watchdog calling `hook`
/// at the timeout (see [`TimeoutHook`]).
fn wait_here(
    file: File,
    path: &Path,
    timeout: Duration,
    hook: &TimeoutHook,
) -> Result<NetworkLock, LockError> {
    // Exactly one of the two wins: the lock (this thread goes on) or
    // the timeout (the watchdog ends the process, and this thread,
    // should it get the lock meanwhile, never touches state).
    let outcome = Arc::new(AtomicU8::new(WAITING));
    let (done, watch) = mpsc::channel::<()>();
    let (hook, err, seen) = (hook.clone(), timed_out(path, timeout), Arc::clone(&outcome));
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(timeout)
                && seen
                    .compare_exchange(WAITING, TIMED_OUT, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                (hook.0)(&err);
            }
        })
        .map_err(io_error(path))?;
    Mode::Exclusive.lock(&file).map_err(io_error(path))?;
    if outcome
        .compare_exchange(WAITING, ACQUIRED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // The watchdog is ending the process with the timeout error.
        loop {
            std::thread::park();
        }
    }
    let _ = done.send(());
    Ok(NetworkLock { _file: file })
}

/// Waits for the lock on a helper thread, giving up after `timeout`.
fn wait_on_helper(
    file: File,
    path: &Path,
    timeout: Duration,
    mode: Mode,
) -> Result<NetworkLock, LockError> {
    let waiter = file.try_clone().map_err(io_error(path))?;
    let (tx, rx) = mpsc::channel();
    // A small stack: the thread only blocks in one system call, and a
    // default 2 MiB mapping costs more to set up than the wait itself.
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let locked = mode.lock(&waiter);
            // Closed before the caller hears of it: the caller's descriptor
            // is then the lock's only one, and dropping it releases the lock.
            drop(waiter);
            // The send fails only if we already gave up; the process is then exiting.
            let _ = tx.send(locked);
        })
        .map_err(io_error(path))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(NetworkLock { _file: file }),
        Ok(Err(e)) => Err(io_error(path)(e)),
        Err(_) => Err(timed_out(path, timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = NetworkLock::acquire(&path, Duration::from_secs(1), None).unwrap();
        let err = NetworkLock::acquire(&path, Duration::from_millis(100), None).unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
        drop(held);
        let again = NetworkLock::acquire(&path, Duration::from_millis(100), None);
        assert!(again.is_ok());
    }

    /// Dropping a lock that was won by waiting releases it at once: the
    /// helper thread's duplicate of the descriptor is closed before the
    /// caller hears of the lock, so no other descriptor keeps it.
    #[test]
    fn a_lock_won_by_waiting_is_released_by_its_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        for _ in 0..100 {
            let held = NetworkLock::acquire(&path, Duration::from_secs(5), None).unwrap();
            let p2 = path.clone();
            let waiter = std::thread::spawn(move || {
                NetworkLock::acquire(&p2, Duration::from_secs(5), None).unwrap()
            });
            std::thread::sleep(Duration::from_millis(2));
            drop(held);
            drop(waiter.join().unwrap());
            let probe = File::open(&path).unwrap();
            assert!(try_lock(&probe, Mode::Exclusive).unwrap(), "still locked");
        }
    }

    #[test]
    fn waits_for_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = NetworkLock::acquire(&path, Duration::from_secs(1), None).unwrap();
        let p2 = path.clone();
        let t = std::thread::spawn(move || {
            NetworkLock::acquire(&p2, Duration::from_secs(10), None).is_ok()
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        assert!(t.join().unwrap());
    }
}
