//! The restore journal: written (fsynced, atomically) before a restore touches a live file,
//! updated after each component's switch, removed when the restore has verified. A journal
//! that is still there means a restore did not finish: every command that writes refuses
//! until `restore --resume` or `restore --rollback` finishes it.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio::{self, Dir};

/// Name of the journal inside the backup dir.
pub const JOURNAL_NAME: &str = "restore-journal.json";
const JOURNAL_VERSION: u32 = 1;

/// What the unfinished operation was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Restoring a snapshot.
    Restore,
    /// Returning to the pre-restore snapshot.
    Rollback,
}

/// One component's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Component id.
    pub id: String,
    /// The live path it restores (any bytes: see `RecordedPath`).
    #[serde(with = "crate::manifest::path_serde")]
    pub target: PathBuf,
    /// True once the new state was switched in.
    pub switched: bool,
}

/// The journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format of this file.
    pub format_version: u32,
    /// Restore or rollback.
    pub phase: Phase,
    /// The snapshot this operation puts in place.
    pub stamp: String,
    /// The safety snapshot of the state before the first restore (None: taken without one).
    pub pre_restore_snapshot: Option<String>,
    /// When it started (RFC 3339 UTC).
    pub started_at: String,
    /// The process that wrote it last.
    pub pid: u32,
    /// The components, in order.
    pub steps: Vec<Step>,
}

impl Journal {
    /// Where the journal of backup dir `dir` lives.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(JOURNAL_NAME)
    }

    /// A new journal.
    pub fn new(phase: Phase, stamp: &str, pre: Option<String>, steps: Vec<Step>) -> Journal {
        Journal {
            format_version: JOURNAL_VERSION,
            phase,
            stamp: stamp.to_owned(),
            pre_restore_snapshot: pre,
            started_at: crate::rfc3339(std::time::SystemTime::now()),
            pid: std::process::id(),
            steps,
        }
    }

    /// The unfinished journal of `dir`, if any.
    ///
    /// # Errors
    /// [`Error::Manifest`] when it exists but cannot be read (it still blocks writes).
    pub fn read(dir: &Path) -> Result<Option<Journal>> {
        let path = Self::path(dir);
        let mut bytes = Vec::new();
        match fsio::open_regular(&path) {
            Ok(f) => f
                .take(crate::manifest::MAX_MANIFEST_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("read", &path, e))?,
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Manifest {
                path,
                problem: format!(
                    "is an unreadable restore journal ({e}); a restore did not finish: check the \
                 live store by hand, then remove this file"
                ),
            })
    }

    /// Fail with [`Error::UnfinishedRestore`] when `dir` has a journal.
    ///
    /// # Errors
    /// As said.
    pub fn refuse_if_unfinished(dir: &Path) -> Result<()> {
        match Self::read(dir)? {
            None => Ok(()),
            Some(j) => Err(Error::UnfinishedRestore {
                path: Self::path(dir),
                stamp: j.stamp,
            }),
        }
    }

    /// Write it durably (temporary name, fsync, rename, folder fsync).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        self.pid = std::process::id();
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        Dir::open(dir)?.write_atomic(OsStr::new(JOURNAL_NAME), &bytes)?;
        crate::interrupt::set_journaled(true);
        Ok(())
    }

    /// Remove it durably: the operation is finished.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn remove(dir: &Path) -> Result<()> {
        let d = Dir::open(dir)?;
        d.remove_file(OsStr::new(JOURNAL_NAME))?;
        d.sync()?;
        crate::interrupt::set_journaled(false);
        Ok(())
    }
}
