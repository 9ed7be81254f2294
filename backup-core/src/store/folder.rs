//! [`FolderStore`]: a plain folder per snapshot, `<backup-dir>/snapshots/<stamp>/`, built as
//! `snapshots/.<stamp>.tmp/` and made visible by one rename.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::FileType;

use super::{Listing, Pending, SnapshotStore};
use crate::error::{Error, Problem, Result};
use crate::fsio::{self, Dir};
use crate::interrupt;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::stamp::{self, Stamp};

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

    /// The folder of the finalized snapshot `stamp`.
    fn snapshot_dir(&self, stamp: &Stamp) -> Result<PathBuf> {
        let unknown = || Error::UnknownSnapshot {
            stamp: stamp.to_string(),
            dir: self.snapshots_dir(),
        };
        let snaps = self.snapshots()?.ok_or_else(unknown)?;
        match snaps.stat(OsStr::new(stamp.as_str()))? {
            Some(st) if fsio::file_type(&st) == FileType::Directory => {
                Ok(snaps.join(stamp.as_str()))
            }
            _ => Err(unknown()),
        }
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

    fn default_state_dir(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn begin(&self, _scratch: &Path) -> Result<Pending> {
        let snaps = self.ensure_dirs()?;
        loop {
            let now = SystemTime::now();
            let stamp = Stamp::at(now);
            let tmp = format!(".{}{}", stamp.as_str(), TMP_SUFFIX);
            // Two snapshots in one second never collide: the second waits for the next second.
            if snaps.stat(OsStr::new(stamp.as_str()))?.is_none() {
                match snaps.create_dir(OsStr::new(&tmp), fsio::DIR_MODE) {
                    Ok(_) => return Ok(Pending::new(stamp, now, snaps.join(&tmp))),
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

    fn keeps_staged_files(&self) -> bool {
        true
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
                let is_dir = t == FileType::Directory;
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
                            // Committed by one rename with its manifest: a stamp folder
                            // without one is a snapshot that lost it, not a leftover.
                            out.lost.push(Stamp::parse(n)?);
                            out.unrecognised.push(path);
                        }
                    }
                    _ => out.unrecognised.push(path),
                }
            }
        }
        for (name, t) in root.entries()? {
            if name.to_str().is_some_and(|n| {
                n.starts_with(crate::DRILL_SCRATCH_PREFIX) && !super::scratch_in_use(n)
            }) {
                if t == FileType::Directory {
                    out.leftovers.push(root.join(&name));
                } else {
                    out.unrecognised.push(root.join(&name));
                }
            }
        }
        out.snapshots.sort();
        out.lost.sort();
        out.leftovers.sort();
        out.unrecognised.sort();
        Ok(out)
    }

    fn read_manifest(&self, stamp: &Stamp) -> Result<Manifest> {
        Manifest::read(&self.snapshot_dir(stamp)?.join(MANIFEST_NAME))
    }

    fn open_file(&self, stamp: &Stamp, path: &str) -> Result<Box<dyn Read>> {
        let dir = Dir::open(&self.snapshot_dir(stamp)?)?;
        Ok(Box::new(dir.open_file_beneath(Path::new(path))?))
    }

    fn local_path(&self, stamp: &Stamp, path: &str) -> Option<PathBuf> {
        self.snapshot_dir(stamp).ok().map(|d| d.join(path))
    }

    fn check(&self, stamp: &Stamp, manifest: &Manifest) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let dir = self.snapshot_dir(stamp)?;
        // Top level: only the manifest and the folders of present components.
        let folders: BTreeSet<&str> = manifest
            .components
            .iter()
            .filter(|c| c.present)
            .map(|c| c.id.as_str())
            .collect();
        let root = match Dir::open(&dir).and_then(|d| d.entries().map(|e| (d, e))) {
            Ok((root, entries)) => {
                for (name, t) in entries {
                    let name = name.to_string_lossy().into_owned();
                    let is_dir = t == FileType::Directory;
                    if name != MANIFEST_NAME && !(is_dir && folders.contains(name.as_str())) {
                        problems.push(Problem::new(name, "is not listed in the manifest"));
                    }
                }
                root
            }
            Err(e) => {
                problems.push(Problem::new(".", format!("cannot read the folder: {e}")));
                return Ok(problems);
            }
        };
        for record in manifest.components.iter().filter(|c| c.present) {
            let listed: BTreeSet<&str> = record.files.iter().map(|f| f.path.as_str()).collect();
            find_unlisted(&root, &record.id, &listed, &mut problems);
        }
        Ok(problems)
    }

    fn changeable_by_others(&self, stamp: &Stamp) -> Option<(PathBuf, String)> {
        let snap = self.snapshots_dir().join(stamp.as_str());
        let inside = [self.snapshots_dir(), snap.clone(), snap.join(MANIFEST_NAME)];
        fsio::changeable_by_others(&self.root).or_else(|| {
            inside
                .iter()
                .find_map(|p| fsio::entry_changeable_by_others(p))
        })
    }

    fn places_written(&self) -> Vec<PathBuf> {
        vec![self.snapshots_dir()]
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

/// Report every file under the component folder `id` that the manifest does not list, and
/// every symlink or special file (never followed). Folders are kept as names, not handles.
fn find_unlisted(root: &Dir, id: &str, listed: &BTreeSet<&str>, problems: &mut Vec<Problem>) {
    let mut stack = vec![id.to_owned()];
    while let Some(rel) = stack.pop() {
        let Ok(d) = root.open_beneath(Path::new(&rel)) else {
            problems.push(Problem::new(rel, "cannot be read as a folder"));
            continue;
        };
        let Ok(entries) = d.entries() else {
            continue;
        };
        for (name, t) in entries {
            let r = format!("{rel}/{}", name.to_string_lossy());
            match t {
                FileType::Directory if r.split('/').count() > fsio::MAX_DEPTH => {
                    problems.push(Problem::new(r, "is nested deeper than any snapshot is"));
                }
                FileType::Directory => stack.push(r),
                FileType::RegularFile => {
                    if !listed.contains(r.as_str()) {
                        problems.push(Problem::new(r, "is not listed in the manifest"));
                    }
                }
                _ => problems.push(Problem::new(
                    r,
                    "is a symlink or special file, not listed in the manifest",
                )),
            }
        }
    }
}
