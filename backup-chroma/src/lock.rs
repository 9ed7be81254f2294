//! The exclusive-ingestion lock: an advisory `flock` on a lock file that the service takes
//! (exclusively) around every write to the Chroma store, and that a snapshot takes while it
//! copies. Released when dropped, and by the kernel when the holder dies. Unlike atocore-backup's
//! own operation locks, nothing is written into this file: it belongs to the service too.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use backup_core::{lock::wait_exclusive, Error, Result};

use crate::ChromaError;

/// A held lock.
pub struct Exclusive {
    _file: File,
}

impl Exclusive {
    /// Take the lock at `path` (creating the file, mode 0600, if needed), waiting up to `wait`.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Exclusive> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io("open the ingestion lock", path, e))?;
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
