//! The [`Component`] trait: one kind of live storage that can be captured and put back.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, Dir, Owner};
use crate::manifest::{ComponentRecord, FileEntry, Kind};
use crate::stamp::Stamp;
use crate::store::SnapshotStore;
use crate::switch::Replacement;
use crate::Problem;

use crate::facts::Facts;

/// What a component says about where its store stood when it was captured (SQLite's page
/// count, each Chroma collection's queue position): shown by `list` and `validate`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Standing {
    /// The same, as JSON for `--json` (an object of the component's choosing).
    pub json: serde_json::Value,
    /// Short phrases for one human line ("sqlite 42 pages").
    pub text: Vec<String>,
}

/// A measured proof from a component's check, beyond what it found wrong: how well a store's
/// index answers queries, what a canary query returned. Shown by `validate --deep`, `restore`
/// and `drill`, and kept in the drill log. A proof that misses its threshold is also reported
/// as a [`Problem`] by the component: problems alone decide the outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The component's id (filled in by core).
    pub component: String,
    /// Which check (`hnsw_recall`, `canary`), stable for scripts.
    pub check: String,
    /// What it is about (a collection, a query).
    pub subject: String,
    /// Whether it reached its threshold.
    pub passed: bool,
    /// The measures, as JSON (an object of the check's choosing, documented with it).
    pub value: serde_json::Value,
    /// The same in one line, for people.
    pub text: String,
}

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
///   was or wholly as the snapshot says at every instant: new content is built in the private
///   folder of a [`Replacement`] beside the target, given the owner and mode of what it
///   replaces (or the recorded ones), fsynced, and switched in by one rename or exchange.
///   It creates nothing beside the target but that folder and [`side_files`](Component::side_files).
/// - Live stores are read only through core's helpers ([`Staging::copy_in`],
///   [`Staging::copy_in_beneath`], [`walk`]), which never follow a symlink and read only
///   regular files.
/// - Nothing here prints. Warnings go into the returned [`Facts::warnings`].
/// - `Sync`: core captures the components of one snapshot at the same time, each in a thread
///   of its own.
pub trait Component: Sync {
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
    /// is refused. A folder store lists the files inside it (not the folder: no process
    /// holds a folder open the way a service holds its files).
    fn held_files(&self, target: &Path) -> Vec<PathBuf>;

    /// Names beside (or inside) the store at `target` that the component, or the engine it
    /// drives, may create while capturing or restoring it: SQLite's `-wal`, `-shm` and
    /// `-journal`, Chroma's ingestion lock. Core's own temporary folder and lock are not
    /// listed here. The hostile-user tests plant a symlink at each of these.
    fn side_files(&self, target: &Path) -> Vec<PathBuf>;

    /// Where the store stood when captured, from the recorded facts of a capture that is not
    /// raw (core says "raw" for those itself); `None` when there is nothing worth showing.
    fn standing(&self, facts: &Facts) -> Option<Standing> {
        let _ = facts;
        None
    }

    /// Before a live restore over `target` (an existing store): how the snapshot's schema
    /// differs from the live store's in ways the service's code may not expect, one sentence
    /// each (an older schema than the live one, another migration level). The restore is
    /// refused when there are any, unless the operator allows a schema change. Read only; the
    /// default compares nothing.
    ///
    /// # Errors
    /// Only when the live store cannot be read.
    fn schema_differences(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<String>> {
        let _ = (snap, target);
        Ok(Vec::new())
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
    dir: Dir,
    id: &'static str,
    kind: Kind,
    /// Whether what is staged is the snapshot itself (a plain folder), so must be made
    /// durable; a store that stores it elsewhere (a repository) makes its own copy durable.
    pub(crate) durable: bool,
    pub(crate) hashed: BTreeMap<String, FileEntry>,
    pub(crate) owners: BTreeMap<String, Owner>,
    pub(crate) folder_owners: BTreeMap<String, Owner>,
}

fn check_rel(id: &str, rel: &str) -> Result<String> {
    let entry_path = format!("{id}/{rel}");
    if rel.contains('\\')
        || rel.contains('\0')
        || rel
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(Error::BadPath {
            path: PathBuf::from(&entry_path),
            problem: "is not a plain relative path".into(),
        });
    }
    Ok(entry_path)
}

fn split_rel(rel: &str) -> (Option<&str>, &str) {
    match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    }
}

impl<'a> Staging<'a> {
    pub(crate) fn new(
        root: &'a Path,
        dir: Dir,
        id: &'static str,
        kind: Kind,
        durable: bool,
    ) -> Self {
        Staging {
            root,
            dir,
            id,
            kind,
            durable,
            hashed: BTreeMap::new(),
            owners: BTreeMap::new(),
            folder_owners: BTreeMap::new(),
        }
    }

    /// The component's folder inside the snapshot being built (exists, mode 0700). Inside the
    /// backup dir, which only the tool's user can write: an engine that writes by name (the
    /// SQLite backup API) may write here.
    pub fn dir(&self) -> PathBuf {
        self.root.join(self.id)
    }

    /// Why this snapshot is taken: a pre-restore snapshot must capture the live state as it is,
    /// even when it is damaged.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The folder for `rel`'s parent, created (0700) as needed.
    fn parent_dir(&self, rel: &str) -> Result<(Dir, String)> {
        let (parent, name) = split_rel(rel);
        let mut d = self.dir.try_clone()?;
        if let Some(parent) = parent {
            for part in parent.split('/') {
                d = d.ensure_dir(OsStr::new(part), fsio::DIR_MODE)?;
            }
        }
        Ok((d, name.to_owned()))
    }

    fn copy_from(&mut self, mut src: File, src_path: &Path, rel: &str) -> Result<FileEntry> {
        let entry_path = check_rel(self.id, rel)?;
        let owner = rustix::fs::fstat(&src)
            .map(|st| Owner::of(&st))
            .map_err(|e| Error::io("inspect", src_path, e.into()))?;
        let (dir, name) = self.parent_dir(rel)?;
        let mut out = dir.create_file(OsStr::new(&name), fsio::FILE_MODE)?;
        let dst = dir.join(&name);
        let d = match fsio::copy_open_sync(&mut src, src_path, &mut out, &dst, self.durable) {
            Ok(d) => d,
            Err(e) => {
                // A partial copy (a full disk, a read error) must not stay behind.
                drop(out);
                let _ = dir.remove_file(OsStr::new(&name));
                return Err(e);
            }
        };
        let entry = FileEntry {
            path: entry_path.clone(),
            size: d.size,
            sha256: d.sha256,
            owner: Some(owner),
            chunks: None,
        };
        self.hashed.insert(entry_path.clone(), entry.clone());
        self.owners.insert(entry_path, owner);
        Ok(entry)
    }

    /// Copy the live file `src` to `<dir>/<rel>` while hashing it, in one pass, and record its
    /// owner, group and mode (`rel` is `/`-separated and relative; missing folders are
    /// created). The folder holding `src` is opened as the operator named it; `src` itself
    /// is never followed and must be a regular file.
    ///
    /// # Errors
    /// [`Error::BadPath`] for an unsafe `rel`; [`Error::Symlink`], [`Error::NotRegular`];
    /// [`Error::Io`] for the copy.
    pub fn copy_in(&mut self, src: &Path, rel: &str) -> Result<FileEntry> {
        check_rel(self.id, rel)?;
        let f = fsio::open_regular(src)?;
        self.copy_from(f, src, rel)
    }

    /// Copy the regular file at `src_rel` below the live folder `base` (no name on the way
    /// followed) to `<dir>/<rel>`, as [`Staging::copy_in`].
    ///
    /// # Errors
    /// As [`Staging::copy_in`].
    pub fn copy_in_beneath(&mut self, base: &Dir, src_rel: &str, rel: &str) -> Result<FileEntry> {
        check_rel(self.id, rel)?;
        let f = base.open_file_beneath(Path::new(src_rel))?;
        self.copy_from(f, &base.join(src_rel), rel)
    }

    /// Record that the snapshot file `rel` (written by the component itself, e.g. through an
    /// engine's backup API) stands for the live file `live`: its owner, group and mode.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::NotRegular`] when `live` is not a regular file.
    pub fn record_owner_of(&mut self, rel: &str, live: &Path) -> Result<()> {
        let entry_path = check_rel(self.id, rel)?;
        let f = fsio::open_regular(live)?;
        let st = rustix::fs::fstat(&f).map_err(|e| Error::io("inspect", live, e.into()))?;
        self.owners.insert(entry_path, Owner::of(&st));
        Ok(())
    }

    /// Record the owner, group and mode of the live file the snapshot file `rel` stands for.
    ///
    /// # Errors
    /// [`Error::BadPath`] for an unsafe `rel`.
    pub fn record_owner(&mut self, rel: &str, owner: Owner) -> Result<()> {
        let entry_path = check_rel(self.id, rel)?;
        self.owners.insert(entry_path, owner);
        Ok(())
    }

    /// For a folder store: record the owner, group and mode of every folder of the snapshot
    /// as the same folder has it in the live folder `live`, the store's own folder included
    /// (as `<id>`). `under` is where the copy of the folder's layout starts inside the
    /// component's folder: empty, or `raw` for a raw capture.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Symlink`].
    pub fn record_folder_owners(&mut self, live: &Dir, under: &str) -> Result<()> {
        let prefix = if under.is_empty() {
            String::new()
        } else {
            format!("{under}/")
        };
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let staged = format!("{prefix}{rel}");
            let staged = staged.trim_end_matches('/');
            let here = if staged.is_empty() {
                self.dir.try_clone()?
            } else {
                match self.dir.open_beneath(Path::new(staged)) {
                    Ok(d) => d,
                    Err(_) => continue,
                }
            };
            let live_here = if rel.is_empty() {
                live.try_clone()
            } else {
                live.open_beneath(Path::new(&rel))
            };
            if let Ok(d) = live_here {
                let key = if rel.is_empty() {
                    self.id.to_owned()
                } else {
                    format!("{}/{prefix}{rel}", self.id)
                };
                self.folder_owners.insert(key, d.owner()?);
            }
            for (name, t) in here.entries()? {
                if t == rustix::fs::FileType::Directory {
                    if let Some(n) = name.to_str() {
                        stack.push(if rel.is_empty() {
                            n.to_owned()
                        } else {
                            format!("{rel}/{n}")
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Throw away one file written so far (`rel` as for [`Staging::copy_in`]); a file that
    /// is not there is fine.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn discard(&mut self, rel: &str) -> Result<()> {
        let entry_path = check_rel(self.id, rel)?;
        let (parent, name) = split_rel(rel);
        let dir = match parent {
            Some(p) => match self.dir.open_beneath(Path::new(p)) {
                Ok(d) => d,
                Err(_) => return Ok(()),
            },
            None => self.dir.try_clone()?,
        };
        dir.remove_file(OsStr::new(name))?;
        self.hashed.remove(&entry_path);
        self.owners.remove(&entry_path);
        Ok(())
    }

    /// Create the folder `rel` (and those above it) in the snapshot, for a folder store whose
    /// layout includes folders that hold no file: [`SnapshotFiles::build_folder`] puts back
    /// every folder the capture recorded.
    ///
    /// # Errors
    /// [`Error::BadPath`] for an unsafe `rel`; [`Error::Io`].
    pub fn ensure_folder(&mut self, rel: &str) -> Result<()> {
        check_rel(self.id, rel)?;
        let mut d = self.dir.try_clone()?;
        for part in rel.split('/') {
            d = d.ensure_dir(OsStr::new(part), fsio::DIR_MODE)?;
        }
        Ok(())
    }

    /// Remove the folder `rel` if it is empty (after discarding what was in it).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn discard_empty_folder(&mut self, rel: &str) -> Result<()> {
        check_rel(self.id, rel)?;
        if let Ok(d) = self.dir.open_beneath(Path::new(rel)) {
            if d.entries()?.is_empty() {
                let (parent, name) = split_rel(rel);
                let pd = match parent {
                    Some(p) => self.dir.open_beneath(Path::new(p))?,
                    None => self.dir.try_clone()?,
                };
                pd.remove_tree(OsStr::new(name))?;
            }
        }
        Ok(())
    }

    /// Throw away everything written so far, to start the capture again (a component that
    /// detected a change in the live store while copying).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn reset(&mut self) -> Result<()> {
        for (name, _) in self.dir.entries()? {
            self.dir.remove_tree(&name)?;
        }
        self.hashed.clear();
        self.owners.clear();
        self.folder_owners.clear();
        Ok(())
    }
}

/// One regular file found by [`walk`]: its size and modification time (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileState {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// What [`walk`] found in a live folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Walked {
    /// Every regular file, by `/`-separated relative path.
    pub files: BTreeMap<String, FileState>,
    /// Every folder below the top, by relative path.
    pub folders: Vec<String>,
    /// What was not taken: symlinks, special files, names that are not UTF-8.
    pub skipped: Vec<String>,
}

/// Walk the live folder `dir` without following any symlink: regular files and folders are
/// taken, everything else is listed as skipped (never read).
///
/// # Errors
/// [`Error::Io`].
pub fn walk(dir: &Dir) -> Result<Walked> {
    use rustix::fs::FileType;
    let mut out = Walked::default();
    // Relative paths, not open handles: a store with thousands of folders must not run out
    // of file descriptors, and a hostile tree thousands deep must not exhaust anything.
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let d = if rel.is_empty() {
            dir.try_clone()?
        } else {
            match dir.open_beneath(Path::new(&rel)) {
                Ok(d) => d,
                // Vanished or swapped meanwhile: a change check will notice.
                Err(_) => {
                    out.skipped.push(rel);
                    continue;
                }
            }
        };
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        for (name, t) in d.entries()? {
            // Manifest paths are text without backslashes: a name that is not UTF-8 or holds
            // a backslash (a systemd-escaped unit name) cannot be recorded, so it is skipped
            // like a link, and said.
            let Some(n) = name.to_str().filter(|n| !n.contains('\\')) else {
                out.skipped
                    .push(format!("{prefix}{}", name.to_string_lossy()));
                continue;
            };
            let r = format!("{prefix}{n}");
            match t {
                FileType::Directory => {
                    if r.split('/').count() > fsio::MAX_DEPTH {
                        return Err(Error::WrongPlace {
                            path: dir.join(&r),
                            problem: format!(
                                "is nested more than {} folders deep below {}, which no store \
                                 this tool captures is: refused",
                                fsio::MAX_DEPTH,
                                dir.path().display()
                            ),
                        });
                    }
                    out.folders.push(r.clone());
                    stack.push(r);
                }
                FileType::RegularFile => match d.stat(&name)? {
                    Some(st) if fsio::file_type(&st) == FileType::RegularFile => {
                        out.files.insert(
                            r,
                            FileState {
                                size: st.st_size as u64,
                                mtime_ns: i128::from(st.st_mtime) * 1_000_000_000
                                    + i128::from(st.st_mtime_nsec),
                            },
                        );
                    }
                    // Vanished between listing and looking: the change check will notice.
                    None => {}
                    Some(_) => out.skipped.push(r),
                },
                _ => out.skipped.push(r),
            }
        }
    }
    out.folders.sort();
    out.skipped.sort();
    Ok(out)
}

/// What the live folder `target` holds that no capture takes (symlinks, special files,
/// names a manifest cannot hold): a restore replaces the whole folder, so these go with the
/// old one and the restore says so. None when there is no folder.
pub fn skipped_below(target: &Path) -> Vec<String> {
    Dir::open_nofollow(target)
        .and_then(|d| walk(&d))
        .map(|w| w.skipped)
        .unwrap_or_default()
}

/// Every regular file below the live folder `target` (no link followed), for a folder
/// store's [`Component::held_files`]; none when it cannot be read.
pub fn files_below(target: &Path) -> Vec<PathBuf> {
    Dir::open_nofollow(target)
        .and_then(|d| walk(&d))
        .map(|w| w.files.keys().map(|r| target.join(r)).collect())
        .unwrap_or_default()
}

/// Read access to one component's part of a finalized snapshot, wherever the store keeps
/// it: each file as a stream, or (for an engine that needs random access) a local copy made
/// on demand in the state folder and removed after.
pub struct SnapshotFiles<'a> {
    store: &'a dyn SnapshotStore,
    stamp: &'a Stamp,
    scratch: &'a Path,
    record: &'a ComponentRecord,
    source: Option<PathBuf>,
    damaged: Vec<String>,
    trusted_raw: bool,
    kind: Kind,
    target_parent: Option<(u64, u64)>,
    /// A checked local copy of every file of the component, made once (for a store that
    /// keeps no local folder) and shared by everything that asks for local files.
    prepared: Option<LocalCopy>,
    /// Whether the caller asked for the slow, query-level checks.
    deep: bool,
    /// Proofs the component's checks gave.
    evidence: std::sync::Mutex<Vec<Evidence>>,
}

impl<'a> SnapshotFiles<'a> {
    pub(crate) fn new(
        store: &'a dyn SnapshotStore,
        stamp: &'a Stamp,
        scratch: &'a Path,
        record: &'a ComponentRecord,
        source: Option<PathBuf>,
        trusted_raw: bool,
        kind: Kind,
    ) -> Self {
        SnapshotFiles {
            store,
            stamp,
            scratch,
            record,
            source,
            damaged: Vec::new(),
            trusted_raw,
            kind,
            target_parent: None,
            prepared: None,
            deep: false,
            evidence: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Ask the component's [`Component::validate`] for its slow, query-level checks too.
    pub(crate) fn with_deep(mut self, deep: bool) -> Self {
        self.deep = deep;
        self
    }

    /// Whether the caller asked for the slow, query-level checks (`validate --deep`). A
    /// component's [`Component::verify`] runs them always: after a restore they are the proof.
    pub fn deep(&self) -> bool {
        self.deep
    }

    /// Record a proof (see [`Evidence`]); `component` is filled in here.
    pub fn attest(&self, mut evidence: Evidence) {
        evidence.component = self.record.id.clone();
        self.evidence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(evidence);
    }

    /// The proofs recorded so far, taken.
    pub(crate) fn take_evidence(&self) -> Vec<Evidence> {
        std::mem::take(
            &mut *self
                .evidence
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Copy every file of the component into one local scratch folder, laid out as in the
    /// snapshot, each checked against the manifest while it streams (size and SHA-256; a
    /// repository also checks every chunk). That is a whole check of the files, and the
    /// component's own checks then read the copy instead of making another: one pass over
    /// the stored data instead of two. True when it made the copy; false for a store that
    /// keeps its own local folder, or when a file failed (the caller then checks file by
    /// file, for messages that say what is wrong).
    pub(crate) fn prepare_local(&mut self) -> bool {
        if self.store.local_path(self.stamp, &self.record.id).is_some() {
            return false;
        }
        self.prepared = self.copy_folder().ok();
        self.prepared.is_some()
    }

    /// Take the copy [`SnapshotFiles::prepare_local`] made, to give it to another
    /// [`SnapshotFiles`] of the same snapshot and component ([`SnapshotFiles::with_prepared`]).
    pub(crate) fn take_prepared(&mut self) -> Option<LocalCopy> {
        self.prepared.take()
    }

    /// Use `copy`, a checked local copy of this component's files made by
    /// [`SnapshotFiles::prepare_local`] for the same snapshot: every copy out reads it
    /// (checking each file against the manifest again) instead of the store.
    pub(crate) fn with_prepared(mut self, copy: Option<LocalCopy>) -> Self {
        self.prepared = copy;
        self
    }

    /// The prepared local copy of `entry`, if there is one.
    fn prepared_path(&self, entry: &FileEntry) -> Option<PathBuf> {
        let p = self.prepared.as_ref()?;
        let rel = entry.path.strip_prefix(&format!("{}/", self.record.id))?;
        check_rel(&self.record.id, rel).ok()?;
        self.record
            .files
            .iter()
            .any(|f| f.path == entry.path)
            .then(|| p.path().join(rel))
            // Not when a restore has moved it into place already.
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
    }

    pub(crate) fn with_target_parent(mut self, id: Option<(u64, u64)>) -> Self {
        self.target_parent = id;
        self
    }

    /// Start putting this component's content at `target`: a [`Replacement`] whose folder is
    /// created, on an empty host, with the recorded owner, and which refuses a folder swapped
    /// for another since the restore first opened it. `label` names the failpoints.
    ///
    /// # Errors
    /// As [`Replacement::begin`].
    pub fn replacement(&self, target: &Path, label: &'static str) -> Result<Replacement> {
        Replacement::begin(target, self.parent_owner(), self.target_parent, label)
    }

    /// Why the snapshot was taken. A component may accept a capture of a store that was
    /// already damaged (a fact that relaxes one of its checks) only in a pre-restore snapshot:
    /// a regular snapshot's word never turns a check off.
    pub fn kind(&self) -> Kind {
        self.kind
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

    /// Whether this is a raw (unverified) capture that core allows: `raw: true` in a
    /// pre-restore snapshot with every file under `<id>/raw/`. Core refuses the snapshot
    /// otherwise, so a component never skips a check on the word of a regular snapshot.
    pub fn is_raw(&self) -> bool {
        self.trusted_raw
    }

    /// The manifest record: files and facts.
    pub fn record(&self) -> &ComponentRecord {
        self.record
    }

    /// The component's files as a local folder laid out as in the snapshot (the store's own
    /// folder when it keeps one, read-only; else a copy, every file checked against the
    /// manifest while it streams, removed when the returned value is dropped).
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] for a damaged file; [`Error::Io`].
    pub fn local_folder(&self) -> Result<LocalCopy> {
        if let Some(p) = self.store.local_path(self.stamp, &self.record.id) {
            return Ok(LocalCopy::in_place(p));
        }
        if let Some(p) = &self.prepared {
            if !p.moved_out.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(LocalCopy::in_place(p.path().to_path_buf()));
            }
        }
        self.copy_folder()
    }

    /// A checked copy of the component's folder in a new scratch folder, knowing what each
    /// checked file is (for a restore to move it into place without reading it again).
    fn copy_folder(&self) -> Result<LocalCopy> {
        let mut copy = LocalCopy::scratch(self.scratch)?;
        let top = copy
            .dir()?
            .create_dir(OsStr::new(&self.record.id), fsio::DIR_MODE)?;
        for entry in &self.record.files {
            let rel = entry
                .path
                .strip_prefix(&format!("{}/", self.record.id))
                .ok_or_else(|| Error::BadPath {
                    path: PathBuf::from(&entry.path),
                    problem: "is outside the component's folder".into(),
                })?;
            check_rel(&self.record.id, rel)?;
            let (parent, name) = split_rel(rel);
            let mut d = top.try_clone()?;
            if let Some(p) = parent {
                for part in p.split('/') {
                    d = d.ensure_dir(OsStr::new(part), fsio::DIR_MODE)?;
                }
            }
            self.copy_checked(entry, &d, OsStr::new(name), None, false)?;
            if let Some(st) = d.stat(OsStr::new(name))? {
                copy.checked
                    .insert(d.join(OsStr::new(name)), Ident::of(&st));
            }
        }
        // Laid out as the store keeps it: folders that hold no file too.
        for f in &self.record.folders {
            let Some(rel) = f.path.strip_prefix(&format!("{}/", self.record.id)) else {
                continue;
            };
            check_rel(&self.record.id, rel)?;
            let mut d = top.try_clone()?;
            for part in rel.split('/') {
                d = d.ensure_dir(OsStr::new(part), fsio::DIR_MODE)?;
            }
        }
        Ok(copy.below(&self.record.id))
    }

    /// One file as a local file, for an engine that needs random access (SQLite): the
    /// store's own file when it keeps one, read-only; else a copy, checked against the
    /// manifest while it streams, removed when the returned value is dropped.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] for a damaged file; [`Error::Io`].
    pub fn local_file(&self, entry: &FileEntry) -> Result<LocalCopy> {
        if let Some(p) = self.store.local_path(self.stamp, &entry.path) {
            return Ok(LocalCopy::in_place(p));
        }
        if let Some(p) = self.prepared_path(entry) {
            return Ok(LocalCopy::in_place(p));
        }
        let copy = LocalCopy::scratch(self.scratch)?;
        let name = entry.path.rsplit('/').next().unwrap_or("file").to_owned();
        self.copy_checked(entry, &copy.dir()?, OsStr::new(&name), None, false)?;
        Ok(copy.below(&name))
    }

    /// The component's facts.
    pub fn facts(&self) -> &Facts {
        &self.record.facts
    }

    /// The live path this was captured from.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
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

    /// The recorded owner of the folder `<id>/<rel>` (`rel` empty: the store's own folder).
    pub fn folder_owner(&self, rel: &str) -> Option<&Owner> {
        let want = if rel.is_empty() {
            self.record.id.clone()
        } else {
            format!("{}/{rel}", self.record.id)
        };
        self.record
            .folders
            .iter()
            .find(|f| f.path == want)
            .map(|f| &f.owner)
    }

    /// The recorded owner of the folder that held the live store.
    pub fn parent_owner(&self) -> Option<&Owner> {
        self.record.parent.as_ref()
    }

    /// Open an entry's bytes as a stream, unchecked (no symlink followed; a regular file
    /// only). [`SnapshotFiles::copy_out`] checks what it copies; a reader of this stream
    /// that trusts what it reads must check it itself.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Symlink`], [`Error::NotRegular`].
    pub fn open(&self, entry: &FileEntry) -> Result<Box<dyn std::io::Read>> {
        self.store.open_file(self.stamp, &entry.path)
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

    /// Stream an entry's bytes into the new file `name` inside `dst` (created, never
    /// followed), checking size and SHA-256 against the manifest on the way, give it `owner`
    /// (or leave it 0600 and the tool's), and fsync it. On a mismatch the file is removed.
    /// Returns a warning when the owner could not be given.
    ///
    /// # Errors
    /// [`Error::ChecksumMismatch`] when the bytes are not those recorded; [`Error::Io`];
    /// [`Error::Interrupted`].
    pub fn copy_out(
        &self,
        entry: &FileEntry,
        dst: &Dir,
        name: &OsStr,
        owner: Option<&Owner>,
    ) -> Result<Option<String>> {
        self.copy_checked(entry, dst, name, owner, true)
    }

    /// [`SnapshotFiles::copy_out`]; `durable` false for a scratch copy, removed after use,
    /// which need not reach the disk.
    fn copy_checked(
        &self,
        entry: &FileEntry,
        dst: &Dir,
        name: &OsStr,
        owner: Option<&Owner>,
        durable: bool,
    ) -> Result<Option<String>> {
        // A prepared copy was checked chunk by chunk and against the manifest when it was
        // made, into a private folder of ours: it is moved into place when it can be (one
        // file system), else copied (and checked again).
        let prepared = self.prepared_path(entry);
        if let (Some(p), Some(copy)) = (&prepared, &self.prepared) {
            if let Some(warning) = move_prepared(copy, p, entry, dst, name, owner, durable)? {
                return Ok(warning);
            }
        }
        let src: Box<dyn std::io::Read> = match prepared {
            Some(p) => Box::new(fsio::open_regular(&p)?),
            None => self.open(entry)?,
        };
        // The conformance suite makes reads fail part-way here, as a damaged disk or a
        // storage backend that drops the connection would.
        #[cfg(feature = "conformance")]
        let src = crate::conformance::FaultyReads(src);
        let mut src = src;
        let src_path = self.store.describe(self.stamp, &entry.path);
        let mut out = dst.create_file(name, fsio::FILE_MODE)?;
        let dst_path = dst.join(name);
        let copied = fsio::copy_open_sync(&mut src, &src_path, &mut out, &dst_path, false);
        let result = copied.and_then(|d| {
            if d.size != entry.size || d.sha256 != entry.sha256 {
                Err(Error::ChecksumMismatch {
                    path: src_path.clone(),
                    expected: entry.sha256.clone(),
                    actual: d.sha256,
                })
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            drop(out);
            let _ = dst.remove_file(name);
            return Err(e);
        }
        let warning = owner.and_then(|o| fsio::apply_owner(&out, o, &dst_path, false));
        // One fsync makes the bytes and the owner durable together.
        if durable {
            out.sync_all()
                .map_err(|e| Error::io("fsync", &dst_path, e))?;
        }
        Ok(warning)
    }

    /// For a folder store, the whole restore of the folder: [`SnapshotFiles::build_folder`]
    /// as `new`, then [`Replacement::switch_folder`] (failpoint `<label>.new-folder-built`
    /// between them).
    ///
    /// # Errors
    /// As those two.
    pub fn replace_folder(&self, r: &mut Replacement, sub: &str) -> Result<()> {
        let built = OsStr::new("new");
        self.build_folder(r, built, sub)?;
        crate::failpoint(&format!("{}.new-folder-built", r.label()));
        r.switch_folder(built)
    }

    /// For a folder store: build the whole folder as the snapshot holds it, as `built` inside
    /// the replacement's private folder, every file checked while it streams, every file and
    /// folder given the owner and mode of its live counterpart (or the recorded ones), all
    /// fsynced. Then [`Replacement::switch_folder`] puts it in place. `sub` is where the
    /// folder's layout starts inside the component's folder: empty, or `raw/` for a raw
    /// capture.
    ///
    /// # Errors
    /// As [`SnapshotFiles::copy_out`].
    pub fn build_folder(&self, r: &mut Replacement, built: &OsStr, sub: &str) -> Result<()> {
        let live = match r.parent().stat(r.name())? {
            Some(st) if fsio::file_type(&st) == rustix::fs::FileType::Directory => {
                r.parent().open_dir(r.name()).ok()
            }
            _ => None,
        };
        let live_owner = |rel: &str, is_dir: bool| owner_in(live.as_ref()?, rel, is_dir);
        let top = r.work().create_dir(built, fsio::DIR_MODE)?;
        let own = live_owner("", true).or_else(|| self.folder_owner("").copied());
        // Folder names, not open handles: a store with thousands of folders must not run out
        // of file descriptors.
        let mut folders: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let prefix = format!("{}/{sub}", self.record.id);
        let rel_of = |path: &str| -> Result<String> {
            let rel = path.strip_prefix(&prefix).ok_or_else(|| Error::BadPath {
                path: PathBuf::from(path),
                problem: "is outside the component's folder".into(),
            })?;
            check_rel(&self.record.id, rel)?;
            Ok(rel.to_owned())
        };
        let mut warnings = Vec::new();
        // The folder `p` below the top, created (with its owner) on first use.
        let mut folder = |p: &str, warnings: &mut Vec<String>| -> Result<Dir> {
            let mut so_far = String::new();
            let mut d = top.try_clone()?;
            for part in p.split('/') {
                if !so_far.is_empty() {
                    so_far.push('/');
                }
                so_far.push_str(part);
                d = if folders.contains(&so_far) {
                    d.open_dir(OsStr::new(part))?
                } else {
                    let nd = d.create_dir(OsStr::new(part), fsio::DIR_MODE)?;
                    if let Some(o) = live_owner(&so_far, true)
                        .or_else(|| self.folder_owner(&format!("{sub}{so_far}")).copied())
                    {
                        warnings.extend(nd.set_owner(&o));
                    }
                    folders.insert(so_far.clone());
                    nd
                };
            }
            Ok(d)
        };
        for entry in &self.record.files {
            let rel = rel_of(&entry.path)?;
            let (parent, name) = split_rel(&rel);
            let dir = match parent {
                None => top.try_clone()?,
                Some(p) => folder(p, &mut warnings)?,
            };
            let owner = live_owner(&rel, false).or(entry.owner);
            warnings.extend(self.copy_out(entry, &dir, OsStr::new(name), owner.as_ref())?);
        }
        // Folders that hold no file are part of the layout too.
        for f in &self.record.folders {
            if f.path == self.record.id || !f.path.starts_with(&prefix) {
                continue;
            }
            let rel = rel_of(&f.path)?;
            folder(&rel, &mut warnings)?;
        }
        for f in folders.iter().rev() {
            top.open_beneath(Path::new(f))?.sync()?;
        }
        if let Some(o) = own {
            warnings.extend(top.set_owner(&o));
        }
        top.sync()?;
        r.work().sync()?;
        for w in summarize(warnings) {
            r.warn(w);
        }
        Ok(())
    }
}

/// Move the prepared copy `from` (a file of `copy`) of `entry` to the new name `name` in
/// `dst`, give it `owner` (or leave it 0600 and the tool's) and fsync it when `durable`.
/// `Ok(None)` when it is not moved: another file system (or one that cannot rename without
/// replacing), or not the very file that was checked (another inode, size, change or
/// modification time than when it was copied and checked): the caller then copies it,
/// checking it against the manifest again.
///
/// # Errors
/// [`Error::Io`]; [`Error::BadPath`] when what the rename moved is not the file checked (it
/// was swapped in between): it is removed again, nothing is switched.
fn move_prepared(
    copy: &LocalCopy,
    from: &Path,
    entry: &FileEntry,
    dst: &Dir,
    name: &OsStr,
    owner: Option<&Owner>,
    durable: bool,
) -> Result<Option<Option<String>>> {
    let parent = Dir::open(fsio::parent_of(from))?;
    let own_name = fsio::last_name(from)?;
    let f = parent.open_file(own_name)?;
    let now = rustix::fs::fstat(&f).map_err(|e| Error::io("inspect", from, e.into()))?;
    let recorded = copy.checked.get(from).copied();
    if recorded != Some(Ident::of(&now)) || Ident::of(&now).size != entry.size {
        return Ok(None);
    }
    match parent.rename_new(own_name, dst, name) {
        Ok(()) => {}
        Err(Error::Io { cause, .. })
            if matches!(
                cause.kind(),
                std::io::ErrorKind::CrossesDevices
                    | std::io::ErrorKind::Unsupported
                    | std::io::ErrorKind::InvalidInput
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    }
    copy.moved_out
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let dst_path = dst.join(name);
    // The name moved is the file checked, not one swapped in since it was opened.
    let moved = dst.stat(name)?;
    if moved.is_none_or(|st| st.st_ino != now.st_ino || st.st_dev != now.st_dev) {
        let _ = dst.remove_file(name);
        return Err(Error::BadPath {
            path: from.to_path_buf(),
            problem: "was replaced while the restore moved it into place; nothing was \
                      switched"
                .into(),
        });
    }
    let warning = owner.and_then(|o| fsio::apply_owner(&f, o, &dst_path, false));
    if durable {
        f.sync_all().ctx("fsync", &dst_path)?;
    }
    crate::progress::advance(entry.size);
    Ok(Some(warning))
}

/// What a checked file of a prepared copy is: device, inode, size, modification and change
/// times. A write, a rename over it or a new link all change one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ident {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i128, i128),
    ctime: (i128, i128),
}

impl Ident {
    fn of(st: &rustix::fs::Stat) -> Ident {
        Ident {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (i128::from(st.st_mtime), i128::from(st.st_mtime_nsec)),
            ctime: (i128::from(st.st_ctime), i128::from(st.st_ctime_nsec)),
        }
    }
}

/// A snapshot's file or folder on local disk: the store's own (left alone) or a copy in a
/// scratch folder of the state folder, removed on drop (and by `cleanup` after a crash).
pub struct LocalCopy {
    path: PathBuf,
    scratch: Option<crate::store::Scratch>,
    /// For a prepared copy: what each checked file is (by its path), and whether a restore
    /// has moved any of them out.
    checked: BTreeMap<PathBuf, Ident>,
    moved_out: std::sync::atomic::AtomicBool,
}

impl LocalCopy {
    /// A file or folder owned elsewhere (the store's own, or part of a prepared copy), left
    /// alone on drop.
    fn in_place(path: PathBuf) -> LocalCopy {
        LocalCopy {
            path,
            scratch: None,
            checked: BTreeMap::new(),
            moved_out: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn scratch(state: &Path) -> Result<LocalCopy> {
        // A state folder that cannot be written (a backup dir on read-only media, read by
        // `validate` or `restore --to`): the copy goes to a new private folder (0700, made
        // with O_EXCL semantics, never through a link) in the system's temporary folder.
        let s = match crate::store::Scratch::new(state) {
            Err(Error::Io { cause, .. })
                if matches!(
                    cause.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                crate::store::Scratch::new(&std::env::temp_dir())?
            }
            other => other?,
        };
        Ok(LocalCopy {
            path: s.path().to_path_buf(),
            scratch: Some(s),
            checked: BTreeMap::new(),
            moved_out: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn dir(&self) -> Result<Dir> {
        Dir::open(&self.path)
    }

    fn below(mut self, name: &str) -> LocalCopy {
        self.path = self.path.join(name);
        self
    }

    /// Where it is, for reading only.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is a copy (false: the store's own file).
    pub fn is_copy(&self) -> bool {
        self.scratch.is_some()
    }
}

/// The owner, group and mode of the folder (`is_dir`) or regular file `rel` inside the live
/// folder `live` (`rel` empty: `live` itself), if it is there and of that kind.
fn owner_in(live: &Dir, rel: &str, is_dir: bool) -> Option<Owner> {
    let (d, name) = match (rel.is_empty(), split_rel(rel)) {
        (true, _) => return live.owner().ok(),
        (false, (Some(p), n)) => (live.open_beneath(Path::new(p)).ok()?, n),
        (false, (None, n)) => (live.try_clone().ok()?, n),
    };
    let st = d.stat(OsStr::new(name)).ok()??;
    let want = if is_dir {
        rustix::fs::FileType::Directory
    } else {
        rustix::fs::FileType::RegularFile
    };
    (fsio::file_type(&st) == want).then(|| Owner::of(&st))
}

/// Owner warnings can be one per file: keep the first and count the rest.
pub fn summarize(warnings: Vec<String>) -> Vec<String> {
    let n = warnings.len();
    let mut out: Vec<String> = warnings.into_iter().take(1).collect();
    if n > 1 {
        out.push(format!("{} more files or folders like that", n - 1));
    }
    out
}
