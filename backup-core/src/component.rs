//! The [`Component`] trait: one kind of live storage that can be captured and put back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsio;
use crate::manifest::{ComponentRecord, FileEntry, Kind};
use crate::Problem;

/// A component's own facts, recorded in the manifest next to its files.
pub type Facts = serde_json::Map<String, serde_json::Value>;

/// One kind of live storage (a SQLite database, a registry file, a Chroma folder).
///
/// # Contract
/// - `id` is stable forever: it names the component's folder inside a snapshot and its record
///   in the manifest, and restore finds the component by it.
/// - [`snapshot`](Component::snapshot) writes only inside [`Staging::dir`]. Core hashes every
///   file found there afterwards (or while copying, for [`Staging::copy_in`]) and records it;
///   the component computes no checksum. When `snapshot` returns, the folder holds exactly the
///   files that belong in the snapshot (no `-journal`, `-wal` or scratch files) and none of
///   them is changed again. Symlinks and special files are not allowed.
/// - [`validate`](Component::validate) and [`verify`](Component::verify) never write: not in the
///   snapshot (which is read-only once finalized, so no sidecar files either) and not at the
///   target. `validate` runs after core's checks of sizes, SHA-256 and unlisted files, even
///   when those failed: it must cope with missing, truncated or altered files (report them as
///   problems, never panic, never load anything whose header it has not checked).
/// - [`restore`](Component::restore) reads only through [`SnapshotFiles`] (whose copies are
///   checked against the manifest as they stream) and must leave `target` either wholly as it
///   was or wholly as the snapshot says at every instant: new content is prepared under a
///   temporary name beside the target, fsynced, and switched in by rename.
/// - Nothing here prints. Warnings go into the returned facts under `"warnings"`.
pub trait Component {
    /// The stable id (`sqlite`, `registry`, ...), lower-case.
    fn id(&self) -> &'static str;

    /// Whether `live` holds something to capture.
    ///
    /// # Errors
    /// [`Error::BadPath`] when `live` exists but cannot be this component's store (a folder
    /// where a file is expected, ...); [`Error::Io`] when it cannot be inspected.
    fn exists(&self, live: &Path) -> Result<bool>;

    /// Whether a regular snapshot may record this component as absent when `live` does not
    /// exist (true for optional stores such as the registry).
    fn optional(&self) -> bool {
        false
    }

    /// Capture `live` into `out` and return the facts to record.
    ///
    /// # Errors
    /// Any failure to read the live store or to write the staging folder; the orchestrator
    /// then discards the whole snapshot.
    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts>;

    /// Check the component's own invariants of a captured snapshot (beyond checksums).
    ///
    /// # Errors
    /// Only when the check itself could not run; findings are returned as [`Problem`]s.
    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>>;

    /// Put the snapshot's content at `target` and return facts about what was done.
    ///
    /// # Errors
    /// An error means `target` was not switched and is as it was: everything that can fail
    /// happens before the switch (one rename or exchange), and a failure after it (a folder
    /// fsync, removing the old copy) is a warning in the facts. The one exception is
    /// [`Error::SwitchIncomplete`], for a switch that could not be made atomic and failed
    /// half-way.
    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts>;

    /// The files a running service would hold open in the store at `target`: if another
    /// process has one of them open, the service is not stopped and a restore over `target`
    /// is refused.
    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        vec![target.to_path_buf()]
    }

    /// Check that `target` now holds what the snapshot holds, and is healthy.
    ///
    /// # Errors
    /// Only when the check itself could not run; findings are returned as [`Problem`]s.
    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>>;
}

/// The folder a component writes its part of a snapshot into.
pub struct Staging<'a> {
    root: &'a Path,
    id: &'static str,
    kind: Kind,
    pub(crate) hashed: BTreeMap<String, FileEntry>,
}

impl<'a> Staging<'a> {
    pub(crate) fn new(root: &'a Path, id: &'static str, kind: Kind) -> Self {
        Staging {
            root,
            id,
            kind,
            hashed: BTreeMap::new(),
        }
    }

    /// The component's folder inside the snapshot being built (exists, mode 0700).
    pub fn dir(&self) -> PathBuf {
        self.root.join(self.id)
    }

    /// Why this snapshot is taken: a pre-restore snapshot must capture the live state as it is,
    /// even when it is damaged.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Copy `src` to `<dir>/<rel>` while hashing it, in one pass (`rel` is `/`-separated and
    /// relative; missing folders are created).
    ///
    /// # Errors
    /// [`Error::BadPath`] for an unsafe `rel`; [`Error::Io`] for the copy.
    pub fn copy_in(&mut self, src: &Path, rel: &str) -> Result<FileEntry> {
        let entry_path = format!("{}/{}", self.id, rel);
        if rel
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(Error::BadPath {
                path: PathBuf::from(&entry_path),
                problem: "is not a plain relative path".into(),
            });
        }
        let dst = self.root.join(&entry_path);
        if let Some(parent) = dst.parent() {
            fsio::create_private_dir_all(parent)?;
        }
        let d = fsio::copy_hashed(src, &dst, false)?;
        let entry = FileEntry {
            path: entry_path.clone(),
            size: d.size,
            sha256: d.sha256,
        };
        self.hashed.insert(entry_path, entry.clone());
        Ok(entry)
    }
}

impl Staging<'_> {
    /// Throw away one file written so far (`rel` as for [`Staging::copy_in`]); a file that
    /// is not there is fine.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn discard(&mut self, rel: &str) -> Result<()> {
        let path = self.dir().join(rel);
        fsio::remove_file_if_exists(&path)?;
        self.hashed.remove(&format!("{}/{}", self.id, rel));
        Ok(())
    }

    /// Throw away everything written so far, to start the capture again (a component that
    /// detected a change in the live store while copying).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn reset(&mut self) -> Result<()> {
        let dir = self.dir();
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        fsio::create_private_dir(&dir)?;
        self.hashed.clear();
        Ok(())
    }
}

/// Read access to one component's part of a finalized snapshot.
pub struct SnapshotFiles<'a> {
    root: &'a Path,
    record: &'a ComponentRecord,
    source: Option<&'a str>,
    damaged: Vec<String>,
}

impl<'a> SnapshotFiles<'a> {
    pub(crate) fn new(
        root: &'a Path,
        record: &'a ComponentRecord,
        source: Option<&'a str>,
    ) -> Self {
        SnapshotFiles {
            root,
            record,
            source,
            damaged: Vec::new(),
        }
    }

    pub(crate) fn with_damaged(mut self, damaged: Vec<String>) -> Self {
        self.damaged = damaged;
        self
    }

    /// Manifest paths of this component's files that failed core's checks (missing, wrong
    /// size or SHA-256), so `validate` can say what the damage means.
    pub fn damaged(&self) -> &[String] {
        &self.damaged
    }

    /// The manifest record: files and facts.
    pub fn record(&self) -> &ComponentRecord {
        self.record
    }

    /// The component's folder inside the snapshot, for reading only.
    pub fn component_dir(&self) -> PathBuf {
        self.root.join(&self.record.id)
    }

    /// The component's facts.
    pub fn facts(&self) -> &Facts {
        &self.record.facts
    }

    /// The live path this was captured from.
    pub fn source(&self) -> Option<&str> {
        self.source
    }

    /// The files of this component.
    pub fn files(&self) -> &[FileEntry] {
        &self.record.files
    }

    /// The entry whose path is `<id>/<rel>`.
    pub fn entry(&self, rel: &str) -> Option<&FileEntry> {
        let want = format!("{}/{}", self.record.id, rel);
        self.record.files.iter().find(|f| f.path == want)
    }

    /// Where an entry's bytes are on local disk, for reading only.
    pub fn local_path(&self, entry: &FileEntry) -> PathBuf {
        self.root.join(&entry.path)
    }

    /// Check that `restored` holds exactly the bytes of `entry` (size and SHA-256, streamed);
    /// the problem names `restored` when it does not.
    pub fn compare_restored(&self, entry: &FileEntry, restored: &Path) -> Option<Problem> {
        let name = restored.to_string_lossy();
        match fsio::hash_file(restored) {
            Ok(d) if d.size == entry.size && d.sha256 == entry.sha256 => None,
            Ok(_) => Some(Problem::new(
                name,
                "differs from the snapshot after restore",
            )),
            Err(e) => Some(Problem::new(name, e.to_string())),
        }
    }

    /// Stream an entry's bytes to `dst` (created or truncated, mode 0600, fsynced), checking
    /// size and SHA-256 against the manifest on the way. On a mismatch `dst` is removed.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] when the bytes are not those recorded; [`Error::Io`].
    pub fn copy_out(&self, entry: &FileEntry, dst: &Path) -> Result<()> {
        let src = self.local_path(entry);
        let d = fsio::copy_hashed(&src, dst, true)?;
        if d.size != entry.size || d.sha256 != entry.sha256 {
            let _ = fsio::remove_file_if_exists(dst);
            return Err(Error::ChecksumMismatch {
                path: src,
                expected: entry.sha256.clone(),
                actual: d.sha256,
            });
        }
        Ok(())
    }
}
