//! Where snapshot bytes are kept. Components only ever see local folders; this module is the
//! one seam where that changes. Today: [`FolderStore`], a plain folder per snapshot under
//! `<backup-dir>/snapshots/<stamp>/`. A deduplicating repository or object storage would be
//! another [`SnapshotStore`] with no component changing.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::fsio::{self, Dir};
use crate::interrupt;
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
    _registered: interrupt::Registered,
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Finalized snapshots, oldest first.
    pub snapshots: Vec<Stamp>,
    /// Temporary folders left by an interrupted run (names only this tool makes); never valid
    /// snapshots, removed by `cleanup`.
    pub leftovers: Vec<PathBuf>,
    /// Anything else in the places the tool keeps its snapshots: a stamp folder without a
    /// manifest, a stray file. Reported, never touched.
    pub unrecognised: Vec<PathBuf>,
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
    /// Finalized snapshots, leftovers and anything unrecognised.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`], [`Error::Io`].
    fn list(&self) -> Result<Listing>;
    /// A local folder holding the finalized snapshot `stamp`, for reading.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`].
    fn open(&self, stamp: &Stamp) -> Result<PathBuf>;
    /// Remove leftovers of interrupted runs (only names this tool makes); returns what was
    /// removed.
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

/// The stamp of a staging folder's name `.<stamp>.tmp`.
fn staging_stamp(name: &str) -> Option<Stamp> {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(TMP_SUFFIX))
        .and_then(|n| Stamp::parse(n).ok())
}

impl FolderStore {
    /// A store rooted at `root` (the backup dir). Nothing is created until a snapshot is.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FolderStore { root: root.into() }
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.root.join(SNAPSHOTS)
    }

    fn root_dir(&self) -> Result<Dir> {
        match fsio::kind_of(&self.root)? {
            None => Err(Error::MissingBackupDir {
                path: self.root.clone(),
            }),
            Some(_) => Dir::open(&self.root).map_err(|e| match e {
                Error::NotRegular { .. } => Error::BadPath {
                    path: self.root.clone(),
                    problem: "is not a folder, so it cannot be a backup dir".into(),
                },
                e => e,
            }),
        }
    }

    /// The `snapshots/` folder, if it exists (never through a symlink).
    fn snapshots(&self) -> Result<Option<Dir>> {
        let root = self.root_dir()?;
        match root.stat(OsStr::new(SNAPSHOTS))? {
            None => Ok(None),
            Some(_) => root.open_dir(OsStr::new(SNAPSHOTS)).map(Some),
        }
    }

    /// Create the backup dir (0700) and its `snapshots/` folder when missing.
    fn ensure_dirs(&self) -> Result<Dir> {
        let (root, _) = fsio::open_or_create_dir(&self.root, None)?;
        let snaps = root.ensure_dir(OsStr::new(SNAPSHOTS), fsio::DIR_MODE)?;
        root.sync()?;
        Ok(snaps)
    }
}

impl SnapshotStore for FolderStore {
    fn location(&self) -> &Path {
        &self.root
    }

    fn begin(&self) -> Result<Pending> {
        let snaps = self.ensure_dirs()?;
        loop {
            let now = SystemTime::now();
            let stamp = Stamp::at(now);
            let tmp = format!(".{}{}", stamp.as_str(), TMP_SUFFIX);
            // Two snapshots in one second never collide: the second waits for the next second.
            if snaps.stat(OsStr::new(stamp.as_str()))?.is_none() {
                match snaps.create_dir(OsStr::new(&tmp), fsio::DIR_MODE) {
                    Ok(_) => {
                        let dir = snaps.join(&tmp);
                        return Ok(Pending {
                            _registered: interrupt::register(&dir, interrupt::Scope::Backup),
                            stamp,
                            started: now,
                            dir,
                        });
                    }
                    Err(Error::Io { cause, .. })
                        if cause.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            interrupt::check()?;
            std::thread::sleep(stamp::until_next_second(SystemTime::now()));
        }
    }

    fn commit(&self, pending: Pending) -> Result<Stamp> {
        let snaps = self.ensure_dirs()?;
        let tmp = fsio::last_name(&pending.dir)?.to_owned();
        let name = OsStr::new(pending.stamp.as_str());
        let made_visible = (|| {
            snaps.open_dir(&tmp)?.sync()?;
            crate::failpoint("create.before-commit");
            // The last moment to stop: after the rename the snapshot is complete and stays.
            interrupt::check()?;
            if snaps.stat(name)?.is_some() {
                return Err(Error::BadPath {
                    path: snaps.join(name),
                    problem: "already exists; a snapshot is never overwritten".into(),
                });
            }
            snaps.rename(&tmp, &snaps, name)
        })();
        if let Err(e) = made_visible {
            let _ = snaps.remove_tree(&tmp);
            let _ = snaps.sync();
            return Err(e);
        }
        snaps.sync()?;
        crate::failpoint("create.committed");
        Ok(pending.stamp)
    }

    fn abort(&self, pending: Pending) {
        let _ = fsio::remove_tree_at(&pending.dir);
        if let Ok(Some(snaps)) = self.snapshots() {
            let _ = snaps.sync();
        }
    }

    fn list(&self) -> Result<Listing> {
        let root = self.root_dir()?;
        let mut out = Listing::default();
        if let Some(snaps) = self.snapshots()? {
            for (name, t) in snaps.entries()? {
                let path = snaps.join(&name);
                let text = name.to_str();
                let is_dir = t == rustix::fs::FileType::Directory;
                match text {
                    Some(n) if is_dir && staging_stamp(n).is_some() => out.leftovers.push(path),
                    Some(n) if is_dir && Stamp::parse(n).is_ok() => {
                        let has_manifest = snaps
                            .open_dir(&name)
                            .and_then(|d| d.stat(OsStr::new(MANIFEST_NAME)))
                            .is_ok_and(|m| m.is_some());
                        if has_manifest {
                            out.snapshots.push(Stamp::parse(n)?);
                        } else {
                            out.unrecognised.push(path);
                        }
                    }
                    _ => out.unrecognised.push(path),
                }
            }
        }
        for (name, t) in root.entries()? {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with(crate::DRILL_SCRATCH_PREFIX))
            {
                if t == rustix::fs::FileType::Directory {
                    out.leftovers.push(root.join(&name));
                } else {
                    out.unrecognised.push(root.join(&name));
                }
            }
        }
        out.snapshots.sort();
        out.leftovers.sort();
        out.unrecognised.sort();
        Ok(out)
    }

    fn open(&self, stamp: &Stamp) -> Result<PathBuf> {
        let unknown = || Error::UnknownSnapshot {
            stamp: stamp.to_string(),
            dir: self.snapshots_dir(),
        };
        let snaps = self.snapshots()?.ok_or_else(unknown)?;
        match snaps.stat(OsStr::new(stamp.as_str()))? {
            Some(st) if fsio::file_type(&st) == rustix::fs::FileType::Directory => {
                Ok(snaps.join(stamp.as_str()))
            }
            _ => Err(unknown()),
        }
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let listing = self.list()?;
        for p in &listing.leftovers {
            let parent = Dir::open(fsio::parent_of(p))?;
            parent.remove_tree(fsio::last_name(p)?)?;
            parent.sync()?;
        }
        Ok(listing.leftovers)
    }
}
