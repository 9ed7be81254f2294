//! The exclusive-ingestion lock: an advisory `flock` on a lock file that the service takes
//! (exclusively) around every write to the Chroma store, and that a snapshot takes while it
//! copies. Released when dropped, and by the kernel when the holder dies. Unlike atocore-backup's
//! own operation locks, nothing is written into this file: it belongs to the service too.
//! When the snapshot has to create it, it is created as a new file (never through a symlink)
//! and given the store's owner, so the service can take it too.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use backup_core::lock::{open_lock_file, wait_exclusive};
use backup_core::{fsio, Dir, Owner, Result};

use crate::ChromaError;

/// A held lock.
pub struct Exclusive {
    _file: File,
}

impl Exclusive {
    /// Take the lock at `path` (created if needed, owned like the store at `store`), waiting
    /// up to `wait`.
    pub fn acquire(path: &Path, store: &Path, wait: Duration) -> Result<Exclusive> {
        let owner = Dir::open_nofollow(store)
            .and_then(|d| d.owner())
            .ok()
            .map(|o| Owner { mode: 0o644, ..o });
        let dir = Dir::open(fsio::parent_of(path))?;
        let (file, _) = open_lock_file(&dir, fsio::last_name(path)?, owner.as_ref())?;
        if wait_exclusive(&file, path, wait)? {
            Ok(Exclusive { _file: file })
        } else {
            Err(ChromaError::LockBusy {
                path: path.to_path_buf(),
                seconds: wait.as_secs(),
            }
            .into())
        }
    }
}
