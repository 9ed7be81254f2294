//! Where snapshot bytes are kept. Components only ever see local folders; this module is the
//! one seam where that changes. Today: [`FolderStore`], a plain folder per snapshot under
//! `<backup-dir>/snapshots/<stamp>/`. A deduplicating repository or object storage would be
//! another [`SnapshotStore`] with no component changing.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, IoContext, Result};
use crate::fsio;
use crate::manifest::MANIFEST_NAME;
use crate::stamp::{self, Stamp};

/// A snapshot being built: a local staging folder and the stamp it will get.
#[derive(Debug)]
pub struct Pending {
    /// The stamp reserved for it.
    pub stamp: Stamp,
    /// The start time.
    pub started: SystemTime,
    /// Local folder to write into.
    pub dir: PathBuf,
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Finalized snapshots, oldest first.
    pub snapshots: Vec<Stamp>,
    /// Temporary folders left by an interrupted run; never valid snapshots.
    pub leftovers: Vec<PathBuf>,
}

/// Storage for finalized snapshots.
pub trait SnapshotStore {
    /// Where it is, for messages.
    fn location(&self) -> &Path;
    /// Reserve a new, unique stamp and a staging folder to build the snapshot in.
    ///
    /// # Errors
    /// [`Error::Io`] when the store cannot be written.
    fn begin(&self) -> Result<Pending>;
    /// Make a fully written staging folder (manifest included) visible under its stamp,
    /// durably and atomically.
    ///
    /// # Errors
    /// [`Error::Io`]; the snapshot is then not visible.
    fn commit(&self, pending: Pending) -> Result<Stamp>;
    /// Throw a staging folder away.
    fn abort(&self, pending: Pending);
    /// Finalized snapshots and leftovers.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`], [`Error::Io`].
    fn list(&self) -> Result<Listing>;
    /// A local folder holding the finalized snapshot `stamp`, for reading.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`].
    fn open(&self, stamp: &Stamp) -> Result<PathBuf>;
    /// Remove leftovers of interrupted runs; returns what was removed.
    ///
    /// # Errors
    /// [`Error::Io`].
    fn remove_leftovers(&self) -> Result<Vec<PathBuf>>;
}

/// Snapshots as plain folders: `<root>/snapshots/<stamp>/`.
#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
}

const SNAPSHOTS: &str = "snapshots";
const TMP_SUFFIX: &str = ".tmp";

impl FolderStore {
    /// A store rooted at `root` (the backup dir). Nothing is created until a snapshot is.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderStore { root: root.into() }
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.root.join(SNAPSHOTS)
    }

    fn temp_dir_for(&self, stamp: &Stamp) -> PathBuf {
        self.snapshots_dir()
            .join(format!(".{}{}", stamp.as_str(), TMP_SUFFIX))
    }

    fn require_root(&self) -> Result<()> {
        match fsio::kind_of(&self.root)? {
            None => Err(Error::MissingBackupDir {
                path: self.root.clone(),
            }),
            Some(t) if t.is_dir() => Ok(()),
            Some(_) => Err(Error::BadPath {
                path: self.root.clone(),
                problem: "is not a folder, so it cannot be a backup dir".into(),
            }),
        }
    }

    /// Create the backup dir (0700) and its `snapshots/` folder when missing.
    fn ensure_dirs(&self) -> Result<()> {
        if fsio::kind_of(&self.root)?.is_none() {
            fsio::create_private_dir_all(&self.root)?;
            fsio::fsync_dir(fsio::parent_of(&self.root))?;
        }
        self.require_root()?;
        let snaps = self.snapshots_dir();
        if fsio::kind_of(&snaps)?.is_none() {
            fsio::create_private_dir(&snaps)?;
            fsio::fsync_dir(&self.root)?;
        }
        Ok(())
    }
}

impl SnapshotStore for FolderStore {
    fn location(&self) -> &Path {
        &self.root
    }

    fn begin(&self) -> Result<Pending> {
        self.ensure_dirs()?;
        loop {
            let now = SystemTime::now();
            let stamp = Stamp::at(now);
            let final_dir = self.snapshots_dir().join(stamp.as_str());
            let tmp = self.temp_dir_for(&stamp);
            // Two snapshots in one second never collide: the second waits for the next second.
            if fsio::kind_of(&final_dir)?.is_none() {
                match fs::DirBuilder::new().mode(fsio::DIR_MODE).create(&tmp) {
                    Ok(()) => {
                        return Ok(Pending {
                            stamp,
                            started: now,
                            dir: tmp,
                        })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("create folder", &tmp, e)),
                }
            }
            std::thread::sleep(stamp::until_next_second(SystemTime::now()));
        }
    }

    fn commit(&self, pending: Pending) -> Result<Stamp> {
        let final_dir = self.snapshots_dir().join(pending.stamp.as_str());
        fsio::fsync_dir(&pending.dir)?;
        crate::failpoint("create.before-commit");
        if fsio::kind_of(&final_dir)?.is_some() {
            return Err(Error::BadPath {
                path: final_dir,
                problem: "already exists; a snapshot is never overwritten".into(),
            });
        }
        fs::rename(&pending.dir, &final_dir).ctx("rename into place", &final_dir)?;
        fsio::fsync_dir(&self.snapshots_dir())?;
        crate::failpoint("create.committed");
        Ok(pending.stamp)
    }

    fn abort(&self, pending: Pending) {
        let _ = fs::remove_dir_all(&pending.dir);
        let _ = fsio::fsync_dir(&self.snapshots_dir());
    }

    fn list(&self) -> Result<Listing> {
        self.require_root()?;
        let mut out = Listing::default();
        let dir = self.snapshots_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("read folder", &dir, e)),
        };
        for entry in entries {
            let entry = entry.ctx("read folder", &dir)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if name.starts_with('.') && name.ends_with(TMP_SUFFIX) {
                out.leftovers.push(entry.path());
            } else if let (Ok(stamp), true) = (Stamp::parse(name), is_dir) {
                if entry.path().join(MANIFEST_NAME).exists() {
                    out.snapshots.push(stamp);
                } else {
                    out.leftovers.push(entry.path());
                }
            }
        }
        for entry in fs::read_dir(&self.root).ctx("read folder", &self.root)? {
            let entry = entry.ctx("read folder", &self.root)?;
            let name = entry.file_name();
            if name
                .to_string_lossy()
                .starts_with(crate::DRILL_SCRATCH_PREFIX)
            {
                out.leftovers.push(entry.path());
            }
        }
        out.snapshots.sort();
        out.leftovers.sort();
        Ok(out)
    }

    fn open(&self, stamp: &Stamp) -> Result<PathBuf> {
        self.require_root()?;
        let dir = self.snapshots_dir().join(stamp.as_str());
        match fsio::kind_of(&dir)? {
            Some(t) if t.is_dir() => Ok(dir),
            _ => Err(Error::UnknownSnapshot {
                stamp: stamp.to_string(),
                dir: self.snapshots_dir(),
            }),
        }
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let listing = self.list()?;
        for p in &listing.leftovers {
            fs::remove_dir_all(p).ctx("remove", p)?;
            fsio::fsync_dir(fsio::parent_of(p))?;
        }
        Ok(listing.leftovers)
    }
}
