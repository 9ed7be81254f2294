//! One operation at a time: advisory `flock` locks on a backup dir and on each live store,
//! held by create, restore, drill and cleanup. The holder writes who it is (pid, command,
//! since) into the lock file, so a waiting run can say who holds it. The kernel drops a
//! `flock` when its holder dies: a crashed run never wedges the next one.

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, Dir, Owner};

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

/// Wait up to `timeout` for an exclusive `flock` on `file`. Returns false on timeout. A
/// timeout of any size is fine: it saturates.
///
/// # Errors
/// [`Error::Io`] for anything but "held by someone else"; [`Error::Interrupted`].
pub fn wait_exclusive(file: &File, path: &Path, timeout: Duration) -> Result<bool> {
    let start = Instant::now();
    loop {
        crate::interrupt::check()?;
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
    /// Take the lock at `path` for `command`, waiting up to `timeout`. The lock file is
    /// created if missing (never through a symlink, and given `owner_like`'s owner so a lock
    /// beside a live store belongs to the store's user), and must be a regular file with one
    /// link: the holder's name is written into it.
    ///
    /// # Errors
    /// [`Error::LockHeld`] naming the holder; [`Error::Symlink`], [`Error::NotRegular`],
    /// [`Error::WrongPlace`], [`Error::Io`].
    pub fn acquire(
        path: &Path,
        owner_like: Option<&Owner>,
        command: &str,
        timeout: Duration,
    ) -> Result<OpLock> {
        let dir = Dir::open(fsio::parent_of(path))?;
        let name = fsio::last_name(path)?;
        let (mut file, _created) = open_lock_file(&dir, name, owner_like)?;
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
                    .map(|h| fsio::display_clean(&h.to_string()))
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

/// Open (creating if missing) the lock file `name` in `dir` (see [`Dir::open_lock`]); a lock
/// this call creates gets, when this process may, `owner_like`'s owner and group (mode
/// 0600): a lock beside a live store belongs to the store's user, not to root. An existing
/// lock file is left as it is.
///
/// # Errors
/// As [`Dir::open_lock`].
pub fn open_lock_file(dir: &Dir, name: &OsStr, owner_like: Option<&Owner>) -> Result<(File, bool)> {
    let (file, created) = dir.open_lock(name)?;
    if let (Some(o), true) = (owner_like, created) {
        let lock_owner = Owner {
            mode: fsio::FILE_MODE,
            ..*o
        };
        if fsio::is_root() {
            let _ = fsio::apply_owner(&file, &lock_owner, &dir.join(name), false);
        }
    }
    Ok((file, created))
}

/// Who holds (or last held) the lock at `path`, as written in it.
pub fn holder(path: &Path) -> Option<Holder> {
    let mut s = String::new();
    fsio::open_regular(path)
        .ok()?
        .take(4096)
        .read_to_string(&mut s)
        .ok()?;
    serde_json::from_str(&s).ok()
}

/// Whether someone holds the lock at `path` right now (without waiting).
pub fn is_held(path: &Path) -> bool {
    match fsio::open_regular(path) {
        Ok(f) => match f.try_lock_shared() {
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        },
        Err(_) => false,
    }
}

/// The lock file guarding the live store at `live`: beside it, hidden,
/// `.<name>.atocore-backup.lock` (the name's bytes kept as they are).
pub fn live_lock_path(live: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(live.file_name().unwrap_or_default());
    name.push(".atocore-backup.lock");
    fsio::parent_of(live).join(name)
}

/// Whose a lock beside `live` should be: the store's owner, or its folder's when the store
/// does not exist yet.
fn store_owner(live: &Path) -> Option<Owner> {
    match fsio::stat_at(live).ok().flatten() {
        Some(st) if fsio::file_type(&st) != rustix::fs::FileType::Symlink => Some(Owner::of(&st)),
        _ => Dir::open(fsio::parent_of(live))
            .and_then(|d| d.owner())
            .ok(),
    }
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
            paths.push((dir.join(BACKUP_DIR_LOCK), None));
        }
        let mut live_locks: Vec<(PathBuf, Option<Owner>)> = live
            .iter()
            .filter(|p| fsio::parent_of(p).is_dir())
            .map(|p| (live_lock_path(p), store_owner(p)))
            .collect();
        live_locks.sort_by(|a, b| a.0.cmp(&b.0));
        live_locks.dedup_by(|a, b| a.0 == b.0);
        paths.extend(live_locks);
        // A timeout too large to add to now means no deadline at all.
        let deadline = Instant::now().checked_add(timeout);
        let mut held = Vec::new();
        for (p, owner) in paths {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => timeout,
            };
            held.push(OpLock::acquire(&p, owner.as_ref(), command, left)?);
        }
        Ok(OperationLocks { held })
    }

    /// The lock files held.
    pub fn paths(&self) -> Vec<&Path> {
        self.held.iter().map(OpLock::path).collect()
    }
}
