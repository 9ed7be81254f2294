//! One operation at a time: advisory `flock` locks on a backup dir and on each live store,
//! held by create, restore, drill and cleanup. The holder writes who it is (pid, command,
//! since) into the lock file, so a waiting run can say who holds it. The kernel drops a
//! `flock` when its holder dies: a crashed run never wedges the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsio;

/// Name of the lock file inside a backup dir.
pub const BACKUP_DIR_LOCK: &str = ".atocore-backup.lock";

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// The operation (`create`, `restore`, ...).
    pub command: String,
    /// When it took the lock (RFC 3339 UTC).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}) since {}",
            self.pid, self.command, self.since
        )
    }
}

/// Wait up to `timeout` for an exclusive `flock` on `file`. Returns false on timeout.
///
/// # Errors
/// [`Error::Io`] for anything but "held by someone else".
pub fn wait_exclusive(file: &File, path: &Path, timeout: Duration) -> Result<bool> {
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
    }
}

/// A held operation lock; released when dropped.
#[derive(Debug)]
pub struct OpLock {
    _file: File,
    path: PathBuf,
}

impl OpLock {
    /// Take the lock at `path` for `command`, waiting up to `timeout`.
    ///
    /// # Errors
    /// [`Error::LockHeld`] naming the holder; [`Error::Io`].
    pub fn acquire(path: &Path, command: &str, timeout: Duration) -> Result<OpLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(fsio::FILE_MODE)
            .open(path)
            .ctx("open the lock", path)?;
        if !wait_exclusive(&file, path, timeout)? {
            // The holder writes its name just after taking the lock: give it a moment.
            let mut who = holder(path);
            for _ in 0..50 {
                if who.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
                who = holder(path);
            }
            return Err(Error::LockHeld {
                path: path.to_path_buf(),
                holder: who
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "another process".into()),
            });
        }
        let me = Holder {
            pid: std::process::id(),
            command: command.to_owned(),
            since: crate::rfc3339(SystemTime::now()),
        };
        let text = serde_json::to_vec(&me).unwrap_or_default();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&text))
            .and_then(|()| file.sync_all())
            .ctx("write the lock", path)?;
        Ok(OpLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds (or last held) the lock at `path`, as written in it.
pub fn holder(path: &Path) -> Option<Holder> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// Whether someone holds the lock at `path` right now (without waiting).
pub fn is_held(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => match f.try_lock_shared() {
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        },
        Err(_) => false,
    }
}

/// The lock file guarding the live store at `live`: beside it, hidden.
pub fn live_lock_path(live: &Path) -> PathBuf {
    let name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fsio::parent_of(live).join(format!(".{name}.atocore-backup.lock"))
}

/// The locks of one operation: the backup dir's, then each live store's (sorted, so two runs
/// never wait on each other in opposite orders). Live stores whose folder does not exist yet
/// need no lock: there is nothing to protect there.
#[derive(Debug)]
pub struct OperationLocks {
    held: Vec<OpLock>,
}

impl OperationLocks {
    /// Take every lock or none.
    ///
    /// # Errors
    /// [`Error::LockHeld`] naming the first lock that stayed held, and its holder.
    pub fn acquire(
        backup_dir: Option<&Path>,
        live: &[PathBuf],
        command: &str,
        timeout: Duration,
    ) -> Result<OperationLocks> {
        let mut paths = Vec::new();
        if let Some(dir) = backup_dir {
            paths.push(dir.join(BACKUP_DIR_LOCK));
        }
        let mut live_locks: Vec<PathBuf> = live
            .iter()
            .filter(|p| fsio::parent_of(p).is_dir())
            .map(|p| live_lock_path(p))
            .collect();
        live_locks.sort();
        live_locks.dedup();
        paths.extend(live_locks);
        let deadline = Instant::now() + timeout;
        let mut held = Vec::new();
        for p in paths {
            let left = deadline.saturating_duration_since(Instant::now());
            held.push(OpLock::acquire(&p, command, left)?);
        }
        Ok(OperationLocks { held })
    }

    /// The lock files held.
    pub fn paths(&self) -> Vec<&Path> {
        self.held.iter().map(OpLock::path).collect()
    }
}
