//! Create: every source checked before anything is written, each component captured into
//! a snapshot being built, every file sealed (private, hashed once, fsynced), the manifest
//! written, and the snapshot committed in one step.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use super::{live_size, Access, Orchestrator, Source};
use crate::component::{Component, Staging};
use crate::error::{Error, IoContext, Result};
use crate::facts::Facts;
use crate::fsio::{self, Dir};
use crate::journal::Journal;
use crate::manifest::{
    ComponentRecord, FileEntry, FolderEntry, Kind, Manifest, RecordedPath, MANIFEST_NAME,
    PENDING_SHA256, PLAIN_FORMAT_VERSION,
};
use crate::progress;
use crate::stamp::rfc3339;

/// The components of a snapshot to take, each with its live path and whether it exists.
pub(super) type CapturePlan<'a> = Vec<(&'a dyn Component, PathBuf, bool)>;

impl<'a> Orchestrator<'a> {
    /// Take a snapshot of `sources`, in order. The snapshot becomes visible only once complete.
    ///
    /// # Errors
    /// Whatever stopped it; nothing is left behind that `list` would show.
    pub fn create(&self, sources: &[Source], kind: Kind) -> Result<Manifest> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let _lock = self.lock_state("create", Access::Write)?;
        Journal::refuse_if_unfinished(&self.state)?;
        let plan = self.capture_plan(sources, kind)?;
        let paths: Vec<PathBuf> = plan.iter().map(|(_, p, _)| p.clone()).collect();
        let _locks = self.lock_live(&paths, "create")?;
        self.capture(&plan, kind)
    }

    /// Resolve and check every source before anything is written (or locked): a symlink,
    /// FIFO, device or socket at a live path is refused, and so is a backup dir inside a live
    /// store.
    pub(super) fn capture_plan(&self, sources: &[Source], kind: Kind) -> Result<CapturePlan<'a>> {
        let mut plan = Vec::new();
        for s in sources {
            let comp = self.component(&s.id)?;
            let path = std::path::absolute(&s.path).ctx("resolve", &s.path)?;
            fsio::plain_kind(&path)?;
            let present = comp.exists(&path)?;
            if fsio::kind_of(&path)? == Some(FileType::Directory)
                && [self.store.location(), self.state.as_path()]
                    .iter()
                    .any(|b| fsio::is_within(b, &path))
            {
                return Err(Error::WrongPlace {
                    path: self.store.location().to_path_buf(),
                    problem: format!(
                        "the backup dir is inside the live {} store {}: snapshots would \
                         capture themselves; keep backups outside the live stores",
                        s.id,
                        path.display()
                    ),
                });
            }
            if !present && kind == Kind::Regular && !comp.optional() {
                return Err(Error::BadPath {
                    path,
                    problem: format!("does not exist, so there is no {} to back up", s.id),
                });
            }
            // `restore --to` and the drill put every store in one folder under its own name:
            // two stores of one name could not both be restored there.
            if let Some((other, _, _)) =
                plan.iter()
                    .find(|(_, p, _): &&(&dyn Component, PathBuf, bool)| {
                        p.file_name() == path.file_name()
                    })
            {
                return Err(Error::WrongPlace {
                    path,
                    problem: format!(
                        "has the same name as the {} store; `restore --to` and `drill` restore \
                         every store into one folder by name, so rename one of them",
                        other.id()
                    ),
                });
            }
            plan.push((comp, path, present));
        }
        Ok(plan)
    }

    /// Take the snapshot `plan` describes; the caller holds the live stores' locks.
    pub(super) fn capture(&self, plan: &CapturePlan<'a>, kind: Kind) -> Result<Manifest> {
        let total = plan
            .iter()
            .filter(|(_, _, present)| *present)
            .map(|(_, p, _)| live_size(p))
            .sum();
        let _phase = progress::phase(
            match kind {
                Kind::Regular => "create",
                Kind::PreRestore => "safety snapshot",
            },
            total,
        );
        let pending = self.store.begin(&self.state)?;
        let durable = self.store.keeps_staged_files();
        let hashed_later = self.store.hashes_on_commit();
        let result = (|| {
            let root = Dir::open(&pending.dir)?;
            let mut manifest = Manifest {
                format_version: PLAIN_FORMAT_VERSION,
                stamp: pending.stamp.to_string(),
                created_at: rfc3339(pending.started),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                kind,
                sources: BTreeMap::new(),
                components: Vec::new(),
            };
            // Each present component captures in a thread of its own: they read different
            // stores, so their points in time come closer together and the cores share the
            // work (SQLite's backup and integrity check of one store while Chroma's folder is
            // copied and checked). Records keep the plan's order.
            let root = &root;
            let captured: Vec<Option<Result<Captured>>> = super::in_threads(
                plan,
                |(comp, _, _)| format!("capture-{}", comp.id()),
                |(comp, path, present)| {
                    present.then(|| {
                        capture_one(root, &pending.dir, *comp, path, kind, durable, hashed_later)
                    })
                },
                |(comp, _, _)| {
                    Some(Err(Error::component(
                        comp.id(),
                        std::io::Error::other("its capture thread stopped"),
                    )))
                },
            );
            crate::interrupt::check()?;
            for ((comp, path, present), done) in plan.iter().zip(captured) {
                manifest
                    .sources
                    .insert(comp.id().to_owned(), RecordedPath::from_path(path));
                let mut record = ComponentRecord {
                    id: comp.id().to_owned(),
                    present: *present,
                    files: Vec::new(),
                    facts: Facts::default(),
                    folders: Vec::new(),
                    parent: Dir::open(fsio::parent_of(path))
                        .and_then(|d| d.owner())
                        .ok(),
                };
                if let Some(done) = done {
                    let (facts, files, folders) = done?;
                    record.facts = facts;
                    record.files = files;
                    record.folders = folders;
                }
                manifest.components.push(record);
            }
            let mpath = root.join(MANIFEST_NAME);
            let bytes = manifest.to_json();
            // What every reader will check, checked before the snapshot exists: a snapshot
            // whose manifest would not read back is never committed.
            if let Err(problem) = Manifest::parse(&bytes) {
                return Err(Error::Manifest {
                    path: mpath,
                    problem: format!("would not read back, so no snapshot was made: {problem}"),
                });
            }
            let mut f = root.create_file(OsStr::new(MANIFEST_NAME), fsio::FILE_MODE)?;
            f.write_all(&bytes).ctx("write", &mpath)?;
            if durable {
                f.sync_all().ctx("fsync", &mpath)?;
                root.sync()?;
            }
            Ok(manifest)
        })();
        match result {
            Ok(m) => {
                let stamp = self.store.commit(pending)?;
                // The manifest as stored (a repository adds each file's chunk list); the
                // snapshot exists either way, and `validate` reads it back in full.
                Ok(self.store.read_manifest(&stamp).unwrap_or(m))
            }
            Err(e) => {
                self.store.abort(pending);
                Err(e)
            }
        }
    }
}

/// What one component's capture gives the manifest: facts, files and folders.
type Captured = (Facts, Vec<FileEntry>, Vec<FolderEntry>);

/// Capture component `comp` from its live path `path` into its folder of the snapshot being
/// built (`root`, at `dir`), and seal it.
fn capture_one(
    root: &Dir,
    dir: &Path,
    comp: &dyn Component,
    path: &Path,
    kind: Kind,
    durable: bool,
    hashed_later: bool,
) -> Result<Captured> {
    crate::interrupt::check()?;
    let own = root.create_dir(OsStr::new(comp.id()), fsio::DIR_MODE)?;
    let mut staging = Staging::new(dir, own, comp.id(), kind, durable);
    let facts = comp.snapshot(path, &mut staging)?;
    let files = seal_component(root, comp.id(), &staging, hashed_later)?;
    let folders = staging
        .folder_owners
        .iter()
        .map(|(p, o)| FolderEntry {
            path: p.clone(),
            owner: *o,
        })
        .collect();
    crate::failpoint(&format!("create.after-{}", comp.id()));
    Ok((facts, files, folders))
}

/// After a component's snapshot: walk its folder (never following a link), make everything
/// private, hash (once) and fsync every file, record each file's live owner, fsync every
/// folder, and return the sorted file list. With `hashed_later` (a store that hashes every
/// file as it stores it), a file not hashed while it was copied in is left to the store.
fn seal_component(
    root: &Dir,
    id: &str,
    staging: &Staging<'_>,
    hashed_later: bool,
) -> Result<Vec<FileEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![id.to_owned()];
    let mut folders = Vec::new();
    while let Some(rel) = stack.pop() {
        let d = root.open_beneath(Path::new(&rel))?;
        d.set_mode(fsio::DIR_MODE)?;
        for (name, t) in d.entries()? {
            let Some(n) = name.to_str() else {
                return Err(Error::BadPath {
                    path: d.join(&name),
                    problem: "has a name that is not UTF-8".into(),
                });
            };
            let r = format!("{rel}/{n}");
            match t {
                FileType::Directory => stack.push(r),
                FileType::RegularFile => {
                    let mut f = d.open_file(&name)?;
                    let path = d.join(&name);
                    rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(fsio::FILE_MODE))
                        .map_err(|e| Error::io("set permissions of", &path, e.into()))?;
                    let mut entry = match staging.hashed.get(&r) {
                        Some(h) => h.clone(),
                        None if hashed_later => FileEntry {
                            path: r.clone(),
                            size: f.metadata().ctx("inspect", &path)?.len(),
                            sha256: PENDING_SHA256.to_owned(),
                            owner: None,
                            chunks: None,
                        },
                        None => {
                            if staging.durable {
                                f.sync_all().ctx("fsync", &path)?;
                            }
                            let d = fsio::hash_open(&mut f, &path)?;
                            FileEntry {
                                path: r.clone(),
                                size: d.size,
                                sha256: d.sha256,
                                owner: None,
                                chunks: None,
                            }
                        }
                    };
                    entry.owner = staging.owners.get(&r).copied();
                    out.push(entry);
                }
                _ => {
                    return Err(Error::BadPath {
                        path: d.join(&name),
                        problem: "is a symlink or special file; a snapshot holds only files \
                                  and folders"
                            .into(),
                    })
                }
            }
        }
        folders.push(rel);
    }
    // Deepest first, so each folder's own entry is durable after its content.
    for rel in folders.iter().rev().filter(|_| staging.durable) {
        root.open_beneath(Path::new(rel))?.sync()?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
