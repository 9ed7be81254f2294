//! The exclusive-ingestion lock: an advisory `flock` on a lock file that the service takes
//! (exclusively) around every write to the Chroma store, and that a snapshot takes while it
//! copies. Released when dropped, and by the kernel when the holder dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backup_core::{Error, Result};

use crate::ChromaError;

/// A held lock.
pub struct Exclusive {
    _file: File,
    _path: PathBuf,
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
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Exclusive {
                        _file: file,
                        _path: path.to_path_buf(),
                    })
                }
                Err(TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(ChromaError::LockBusy {
                        path: path.to_path_buf(),
                        seconds: wait.as_secs(),
                    }
                    .into())
                }
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
    }
}
