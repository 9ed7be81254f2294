//! Runs the registered components in order against a manifest: create, validate, restore,
//! drill. Everything components share lives here: hashing of every file, staging and atomic
//! finalize, the validation gate, the pre-restore safety snapshot, dispatch by component id.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::FileType;
use serde::Serialize;

use crate::component::{Component, SnapshotFiles, Staging};
use crate::error::{Error, IoContext, Result};
use crate::facts::Facts;
use crate::fsio::{self, Dir};
use crate::journal::{Journal, Phase, Step};
use crate::lock::{self, OperationLocks};
use crate::manifest::{
    ComponentRecord, FileEntry, FolderEntry, Kind, Manifest, RecordedPath, FORMAT_VERSION,
    MANIFEST_NAME,
};
use crate::progress::{self, Progress};
use crate::stamp::{rfc3339, Stamp};
use crate::store::{Scratch, SnapshotStore};
use crate::switch;
use crate::Problem;

/// Prefix of the scratch folders a drill makes inside the backup dir.
pub const DRILL_SCRATCH_PREFIX: &str = ".drill-scratch-";
/// Name of the drill log inside the backup dir.
pub const DRILL_LOG: &str = "drills.jsonl";
/// Version of the drill log's line format (independent of the manifest's).
pub const DRILL_LOG_VERSION: u32 = 1;

/// A finalized snapshot's stamp and its manifest (or why it could not be read).
pub type Listed = (Stamp, Result<Manifest>);

/// A live store to capture: which component, and where it lives.
#[derive(Debug, Clone)]
pub struct Source {
    /// Component id.
    pub id: String,
    /// Live path.
    pub path: PathBuf,
}

/// The outcome of a validation.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// The snapshot.
    pub stamp: String,
    /// The manifest, when it could be read.
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    /// Everything found wrong; empty means valid.
    pub problems: Vec<Problem>,
}

impl Validation {
    /// True when nothing was found wrong.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Where a restore writes.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Over the live store: these paths by component id; components not named here go back
    /// to the path recorded in the manifest.
    Live(BTreeMap<String, PathBuf>),
    /// Into a folder, each component under the file name of its recorded source; nothing
    /// there may exist yet.
    Into(PathBuf),
}

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Where to write.
    pub targets: Targets,
    /// The operator confirmed the service is stopped (required for [`Targets::Live`]).
    pub confirm_service_stopped: bool,
    /// Take the pre-restore safety snapshot of the live state first (live restores only).
    pub pre_restore_snapshot: bool,
    /// Component ids to leave alone even when the snapshot holds them.
    pub skip: BTreeSet<String>,
    /// Live stores (as configured now) that a [`Targets::Into`] folder must not be inside;
    /// the backup dir and the stores the manifest records are always protected.
    pub protected: Vec<PathBuf>,
}

/// What happened to one component during a restore.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentOutcome {
    /// Component id.
    pub id: String,
    /// Where it was restored (or would have been).
    #[serde(with = "crate::manifest::path_serde")]
    pub target: PathBuf,
    /// True when the target came from the manifest because none was given.
    pub target_from_manifest: bool,
    /// False when the snapshot did not hold this component, so the target was left alone.
    pub restored: bool,
    /// The component's report of what it did.
    pub facts: Facts,
    /// What verification found wrong at the target afterwards.
    pub problems: Vec<Problem>,
}

/// The outcome of a restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The restored snapshot.
    pub stamp: String,
    /// The safety snapshot of the previous live state, if one was taken.
    pub pre_restore_snapshot: Option<String>,
    /// Per component, in manifest order.
    pub components: Vec<ComponentOutcome>,
    /// The check for other processes holding the live store open (live restores only).
    pub open_file_check: Option<crate::procs::Scan>,
}

impl RestoreReport {
    /// True when every restored component verified clean.
    pub fn verified(&self) -> bool {
        self.components.iter().all(|c| c.problems.is_empty())
    }

    /// The outcome for component `id`.
    pub fn component(&self, id: &str) -> Option<&ComponentOutcome> {
        self.components.iter().find(|c| c.id == id)
    }
}

/// The outcome of a drill, also appended as one line to `drills.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Version of this record's format.
    pub format_version: u32,
    /// The drilled snapshot.
    pub stamp: String,
    /// When the drill started (RFC 3339 UTC).
    pub started_at: String,
    /// True when the snapshot validated, restored and verified.
    pub ok: bool,
    /// Milliseconds spent validating.
    pub validate_ms: u64,
    /// Milliseconds spent restoring and verifying in the scratch folder.
    pub restore_ms: u64,
    /// Components restored in the scratch folder.
    pub components: Vec<String>,
    /// Everything that went wrong.
    pub problems: Vec<Problem>,
}

/// The components of a snapshot to take, each with its live path and whether it exists.
type CapturePlan<'a> = Vec<(&'a dyn Component, PathBuf, bool)>;

/// One component of a restore, resolved before anything is written.
struct Planned<'m, 'a> {
    comp: &'a dyn Component,
    record: &'m ComponentRecord,
    target: PathBuf,
    from_manifest: bool,
    exists: bool,
    /// Device and inode of the folder holding the target, when the run first opened it.
    parent_id: Option<(u64, u64)>,
}

/// Restore options that put back exactly `steps`' components at their targets: every other
/// component of the snapshot is skipped.
fn journal_options(steps: &[Step], manifest: &Manifest) -> RestoreOptions {
    RestoreOptions {
        targets: Targets::Live(
            steps
                .iter()
                .map(|s| (s.id.clone(), s.target.clone()))
                .collect(),
        ),
        confirm_service_stopped: true,
        pre_restore_snapshot: false,
        protected: Vec::new(),
        skip: manifest
            .components
            .iter()
            .filter(|c| !steps.iter().any(|s| s.id == c.id))
            .map(|c| c.id.clone())
            .collect(),
    }
}

/// A live target that is a mount point cannot be replaced by a rename (the kernel refuses
/// with "busy"): refuse before anything is switched, rather than half-way through a restore.
fn refuse_mount_point(target: &Path) -> Result<()> {
    let (Some(t), Some(p)) = (
        fsio::stat_at(target)?,
        fsio::stat_at(fsio::parent_of(target))?,
    ) else {
        return Ok(());
    };
    if t.st_dev != p.st_dev {
        return Err(Error::WrongPlace {
            path: target.to_path_buf(),
            problem: "is a mount point: a restore replaces a store by renaming it, which cannot \
                      be done to a mount point; mount the volume one folder higher and keep the \
                      store in a folder on it"
                .into(),
        });
    }
    Ok(())
}

/// Refuse while other processes hold a live target open (the service is running); return
/// the scan, which says how many processes could not be inspected.
fn refuse_if_in_use(plan: &[Planned<'_, '_>]) -> Result<crate::procs::Scan> {
    let files: Vec<PathBuf> = plan
        .iter()
        .filter(|p| p.record.present)
        .flat_map(|p| p.comp.held_files(&p.target))
        .collect();
    let scan = crate::procs::scan(&files);
    if scan.holders.is_empty() {
        return Ok(scan);
    }
    Err(Error::StoreInUse {
        holders: scan
            .holders
            .iter()
            .map(|h| {
                format!(
                    "pid {} ({}) has {} open",
                    h.pid,
                    h.command,
                    h.path.display()
                )
            })
            .collect(),
    })
}

/// The engine. `known` is every component this build knows; the binary builds that list in
/// one function, so adding a component is one line there.
pub struct Orchestrator<'a> {
    store: &'a dyn SnapshotStore,
    known: &'a [Box<dyn Component>],
    lock_timeout: Duration,
    progress: Option<Arc<dyn Progress>>,
    /// The local state folder: journal, locks, drill log, scratch space.
    state: PathBuf,
}

impl<'a> Orchestrator<'a> {
    /// An orchestrator over `store` knowing the components in `known`.
    pub fn new(store: &'a dyn SnapshotStore, known: &'a [Box<dyn Component>]) -> Self {
        Orchestrator {
            store,
            known,
            lock_timeout: Duration::from_secs(60),
            progress: None,
            state: store
                .default_state_dir()
                .unwrap_or(store.location())
                .to_path_buf(),
        }
    }

    /// Keep the journal, locks, drill log and scratch space in the local folder `state`
    /// (by default the store's own state folder: the backup dir for a folder store).
    pub fn with_state_dir(mut self, state: impl Into<PathBuf>) -> Self {
        self.state = state.into();
        self
    }

    /// The local state folder.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// Report each phase of every operation, and the bytes it moves, to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// How long create and restore wait for another run's lock on a live store.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    fn lock_live(&self, paths: &[PathBuf], command: &str) -> Result<OperationLocks> {
        OperationLocks::acquire(None, paths, command, self.lock_timeout)
    }

    fn component(&self, id: &str) -> Result<&'a dyn Component> {
        self.known
            .iter()
            .find(|c| c.id() == id)
            .map(|c| c.as_ref())
            .ok_or_else(|| Error::UnknownComponent { id: id.to_owned() })
    }

    /// Take a snapshot of `sources`, in order. The snapshot becomes visible only once complete.
    ///
    /// # Errors
    /// Whatever stopped it; nothing is left behind that `list` would show.
    pub fn create(&self, sources: &[Source], kind: Kind) -> Result<Manifest> {
        let _reporting = progress::report_to(self.progress.as_ref());
        Journal::refuse_if_unfinished(&self.state)?;
        let plan = self.capture_plan(sources, kind)?;
        let paths: Vec<PathBuf> = plan.iter().map(|(_, p, _)| p.clone()).collect();
        let _locks = self.lock_live(&paths, "create")?;
        self.capture(&plan, kind)
    }

    /// Resolve and check every source before anything is written (or locked): a symlink,
    /// FIFO, device or socket at a live path is refused, and so is a backup dir inside a live
    /// store.
    fn capture_plan(&self, sources: &[Source], kind: Kind) -> Result<CapturePlan<'a>> {
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
    fn capture(&self, plan: &CapturePlan<'a>, kind: Kind) -> Result<Manifest> {
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
        let result = (|| {
            let root = Dir::open(&pending.dir)?;
            let mut manifest = Manifest {
                format_version: FORMAT_VERSION,
                stamp: pending.stamp.to_string(),
                created_at: rfc3339(pending.started),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                kind,
                sources: BTreeMap::new(),
                components: Vec::new(),
            };
            for (comp, path, present) in plan {
                crate::interrupt::check()?;
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
                if *present {
                    let dir = root.create_dir(OsStr::new(comp.id()), fsio::DIR_MODE)?;
                    let mut staging = Staging::new(&pending.dir, dir, comp.id(), kind);
                    record.facts = comp.snapshot(path, &mut staging)?;
                    record.files = seal_component(&root, comp.id(), &staging)?;
                    record.folders = staging
                        .folder_owners
                        .iter()
                        .map(|(p, o)| FolderEntry {
                            path: p.clone(),
                            owner: *o,
                        })
                        .collect();
                    crate::failpoint(&format!("create.after-{}", comp.id()));
                }
                manifest.components.push(record);
            }
            let mut f = root.create_file(OsStr::new(MANIFEST_NAME), fsio::FILE_MODE)?;
            let mpath = root.join(MANIFEST_NAME);
            f.write_all(&manifest.to_json()).ctx("write", &mpath)?;
            f.sync_all().ctx("fsync", &mpath)?;
            root.sync()?;
            Ok(manifest)
        })();
        match result {
            Ok(m) => {
                self.store.commit(pending)?;
                Ok(m)
            }
            Err(e) => {
                self.store.abort(pending);
                Err(e)
            }
        }
    }

    /// Check a snapshot: manifest, every file's size and SHA-256, no unlisted or linked files,
    /// then each component's own invariants.
    ///
    /// # Errors
    /// Only when the snapshot cannot be found; findings are in [`Validation::problems`].
    pub fn validate(&self, stamp: &Stamp) -> Result<Validation> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let v = self.validate_stored(stamp)?;
        // A validation cut short by a signal says nothing about the snapshot.
        crate::interrupt::check()?;
        Ok(v)
    }

    /// Validate the stored snapshot `stamp`.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`] when there is none.
    fn validate_stored(&self, stamp: &Stamp) -> Result<Validation> {
        let mut problems = Vec::new();
        let manifest = match self.store.read_manifest(stamp) {
            Ok(m) => m,
            Err(e @ Error::UnknownSnapshot { .. }) => return Err(e),
            Err(e) => {
                let text = e.to_string();
                let prefix = format!(
                    "manifest {}: ",
                    self.store.describe(stamp, MANIFEST_NAME).display()
                );
                let text = text.strip_prefix(&prefix).unwrap_or(&text).to_owned();
                problems.push(Problem::new(MANIFEST_NAME, text));
                return Ok(Validation {
                    stamp: stamp.to_string(),
                    manifest: None,
                    problems,
                });
            }
        };
        let _phase = progress::phase("validate", manifest.total_size());
        if manifest.stamp != stamp.as_str() {
            problems.push(Problem::new(
                MANIFEST_NAME,
                format!("names stamp {} but sits in folder {stamp}", manifest.stamp),
            ));
        }
        match self.store.check(stamp, &manifest) {
            Ok(p) => problems.extend(p),
            Err(e) => problems.push(Problem::new(".", format!("cannot be checked: {e}"))),
        }
        for record in &manifest.components {
            let comp = match self.component(&record.id) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(Problem::new(record.id.clone(), e.to_string()));
                    None
                }
            };
            let before = problems.len();
            for f in &record.files {
                check_file(self.store, stamp, f, &mut problems);
            }
            let damaged: Vec<String> = problems[before..].iter().map(|p| p.path.clone()).collect();
            check_capture_quality(&manifest, record, &mut problems);
            // The component's own checks run even when a checksum failed: they name what the
            // damage means (which collection, which invariant), and must cope with it.
            if let (Some(comp), true) = (comp, record.present) {
                let snap = self
                    .snap_files(stamp, &manifest, record)
                    .with_damaged(damaged);
                match comp.validate(&snap) {
                    Ok(p) => problems.extend(p),
                    Err(e) => problems.push(Problem::new(
                        record.id.clone(),
                        format!("could not be checked: {e}"),
                    )),
                }
            }
        }
        Ok(Validation {
            stamp: stamp.to_string(),
            manifest: Some(manifest),
            problems,
        })
    }

    /// Read access to `record`'s files in the stored snapshot `stamp`.
    fn snap_files<'m>(
        &'m self,
        stamp: &'m Stamp,
        manifest: &Manifest,
        record: &'m ComponentRecord,
    ) -> SnapshotFiles<'m> {
        SnapshotFiles::new(
            self.store,
            stamp,
            &self.state,
            record,
            manifest
                .sources
                .get(&record.id)
                .and_then(RecordedPath::to_path),
            raw_allowed(manifest, record),
            manifest.kind,
        )
    }

    /// Manifests of every finalized snapshot, newest first; unreadable ones come back as
    /// errors in place so `list` can show them.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`], [`Error::Io`].
    pub fn list(&self) -> Result<(Vec<Listed>, Vec<PathBuf>)> {
        let mut listing = self.store.list()?;
        listing.leftovers.extend(self.state_leftovers());
        listing.leftovers.sort();
        // A stamp folder whose manifest is gone is a snapshot that cannot be read, not
        // nothing: it is listed as such, so `list` says so and `drill` fails on it.
        let mut stamps: Vec<Stamp> = listing.snapshots.into_iter().chain(listing.lost).collect();
        stamps.sort();
        let mut out = Vec::new();
        for stamp in stamps.into_iter().rev() {
            let m = self.store.read_manifest(&stamp);
            out.push((stamp, m));
        }
        Ok((out, listing.leftovers))
    }

    /// Scratch folders in the state folder, when it is not the store's own (whose listing
    /// has them already).
    fn state_leftovers(&self) -> Vec<PathBuf> {
        if self.store.default_state_dir() == Some(self.state.as_path()) {
            return Vec::new();
        }
        let Ok(dir) = Dir::open(&self.state) else {
            return Vec::new();
        };
        dir.entries()
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, t)| {
                *t == FileType::Directory
                    && n.to_str()
                        .is_some_and(|n| n.starts_with(DRILL_SCRATCH_PREFIX))
            })
            .map(|(n, _)| dir.join(&n))
            .collect()
    }

    /// Remove what interrupted runs left where snapshots are kept and in the state folder
    /// (only names this tool makes); returns what was removed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut removed = self.store.remove_leftovers()?;
        for p in self.state_leftovers() {
            let parent = Dir::open(fsio::parent_of(&p))?;
            parent.remove_tree(fsio::last_name(&p)?)?;
            parent.sync()?;
            removed.push(p);
        }
        Ok(removed)
    }

    /// What the backup dir holds that is neither a snapshot nor a leftover of this tool: a
    /// stamp folder without a manifest, a stray file. Reported, never touched.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`], [`Error::Io`].
    pub fn unrecognised(&self) -> Result<Vec<PathBuf>> {
        Ok(self.store.list()?.unrecognised)
    }

    /// Restore snapshot `stamp`: refuse without confirmation (live targets), refuse while an
    /// earlier restore is unfinished, validate and refuse on any problem, refuse while other
    /// processes hold the live store open, take the pre-restore safety snapshot, write the
    /// journal, restore each component in manifest order (journaling each switch), verify,
    /// and remove the journal.
    ///
    /// # Errors
    /// [`Error::NotConfirmed`], [`Error::UnfinishedRestore`], [`Error::InvalidSnapshot`],
    /// [`Error::StoreInUse`], [`Error::TargetExists`] and bad paths before anything is touched;
    /// any failure of a component's restore after (the journal then says what was switched).
    pub fn restore(&self, stamp: &Stamp, opts: &RestoreOptions) -> Result<RestoreReport> {
        let live = matches!(opts.targets, Targets::Live(_));
        if live && !opts.confirm_service_stopped {
            return Err(Error::NotConfirmed);
        }
        if live {
            Journal::refuse_if_unfinished(&self.state)?;
        }
        if let Targets::Into(into) = &opts.targets {
            // Resolved once: the checks and the restore use the same folder, and a name on the
            // way swapped for a link afterwards is refused, not followed.
            let real = fsio::real_path(into);
            self.refuse_own_places(stamp, &real, &opts.protected)?;
            crate::failpoint("restore.places-checked");
            let opts = RestoreOptions {
                targets: Targets::Into(real),
                ..opts.clone()
            };
            return self.restore_with(stamp, &opts, None);
        }
        self.restore_with(stamp, opts, None)
    }

    /// A `--to` folder may not be the backup dir or inside it (the restore would write into
    /// other snapshots), nor inside a live store (configured now, or recorded in the snapshot).
    fn refuse_own_places(&self, stamp: &Stamp, into: &Path, protected: &[PathBuf]) -> Result<()> {
        let backup_dir = self.store.location();
        let inside_ours = [backup_dir, self.state.as_path()]
            .into_iter()
            .any(|d| fsio::is_within(into, d));
        if inside_ours {
            return Err(Error::WrongPlace {
                path: into.to_path_buf(),
                problem: format!(
                    "is inside the backup dir {}: restoring there would write among the \
                     snapshots; choose a folder outside it",
                    backup_dir.display()
                ),
            });
        }
        let recorded: Vec<PathBuf> = self
            .store
            .read_manifest(stamp)
            .map(|m| {
                m.sources
                    .values()
                    .filter_map(RecordedPath::to_path)
                    .collect()
            })
            .unwrap_or_default();
        for live in protected.iter().chain(&recorded) {
            if fsio::is_within(into, live) {
                return Err(Error::WrongPlace {
                    path: into.to_path_buf(),
                    problem: format!(
                        "is inside the live store {}: a restore with --to must write outside \
                         the live stores",
                        live.display()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Finish an unfinished restore by rolling forward to the snapshot its journal names.
    ///
    /// # Errors
    /// [`Error::NoUnfinishedRestore`], [`Error::NotConfirmed`], and those of [`Self::restore`].
    pub fn resume(&self, confirm_service_stopped: bool) -> Result<RestoreReport> {
        let journal = self.unfinished()?;
        if !confirm_service_stopped {
            return Err(Error::NotConfirmed);
        }
        let stamp = Stamp::parse(&journal.stamp)?;
        let manifest = self.store.read_manifest(&stamp)?;
        let opts = journal_options(&journal.steps, &manifest);
        self.restore_with(&stamp, &opts, Some(journal))
    }

    /// Finish an unfinished restore by returning to the pre-restore snapshot its journal names.
    /// Components that did not exist before the restore (absent from that snapshot) are left
    /// as they are now.
    ///
    /// # Errors
    /// [`Error::NoUnfinishedRestore`], [`Error::NotConfirmed`], [`Error::NothingToRollBack`],
    /// and those of [`Self::restore`].
    pub fn rollback(&self, confirm_service_stopped: bool) -> Result<RestoreReport> {
        let journal = self.unfinished()?;
        if !confirm_service_stopped {
            return Err(Error::NotConfirmed);
        }
        let Some(pre) = journal.pre_restore_snapshot.clone() else {
            return Err(Error::NothingToRollBack {
                stamp: journal.stamp,
            });
        };
        let stamp = Stamp::parse(&pre)?;
        let pre_manifest = self.store.read_manifest(&stamp)?;
        let steps: Vec<Step> = journal
            .steps
            .iter()
            .filter(|s| pre_manifest.component(&s.id).is_some_and(|c| c.present))
            .map(|s| Step {
                switched: false,
                ..s.clone()
            })
            .collect();
        let opts = journal_options(&steps, &pre_manifest);
        let rollback = Journal::new(Phase::Rollback, &pre, Some(pre.clone()), steps);
        self.restore_with(&stamp, &opts, Some(rollback))
    }

    /// The unfinished restore's journal.
    ///
    /// # Errors
    /// [`Error::NoUnfinishedRestore`] when there is none.
    pub fn unfinished(&self) -> Result<Journal> {
        Journal::read(&self.state)?.ok_or_else(|| Error::NoUnfinishedRestore {
            dir: self.state.clone(),
        })
    }

    fn restore_with(
        &self,
        stamp: &Stamp,
        opts: &RestoreOptions,
        journal: Option<Journal>,
    ) -> Result<RestoreReport> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let live = matches!(opts.targets, Targets::Live(_));
        if live && fsio::is_root() {
            // A snapshot is trusted to say where and what to write; as root, only if nobody
            // else can have put it there: where it is stored, and the state folder whose
            // journal a resume follows.
            let found = self.store.changeable_by_others(stamp).or_else(|| {
                fsio::changeable_by_others(&self.state)
                    .or_else(|| fsio::entry_changeable_by_others(&Journal::path(&self.state)))
            });
            if let Some((path, why)) = found {
                return Err(Error::WrongPlace {
                    path: self.store.location().to_path_buf(),
                    problem: format!(
                        "is a backup dir that others can change ({} {why}): a snapshot planted \
                         there could make this restore, run as root, write anywhere. Make the \
                         backup dir and the folders above it root's and writable by root only, \
                         or restore as the service's user",
                        path.display()
                    ),
                });
            }
        }
        let validation = self.validate_stored(stamp)?;
        // A validation cut short by a signal says nothing about the snapshot.
        crate::interrupt::check()?;
        let manifest = match (validation.manifest, validation.problems.is_empty()) {
            (Some(m), true) => m,
            (_, _) => {
                return Err(Error::InvalidSnapshot {
                    stamp: stamp.to_string(),
                    problems: validation.problems,
                })
            }
        };
        let mut plan = self.plan(stamp, &manifest, opts)?;
        if let Targets::Into(into) = &opts.targets {
            let (made, _) = fsio::open_or_create_real_dir(into, None)?;
            let id = Some(made.identity()?);
            for p in &mut plan {
                p.parent_id = id;
            }
        }
        let mut open_file_check = None;
        let _locks = if live {
            open_file_check = Some(refuse_if_in_use(&plan)?);
            let targets: Vec<PathBuf> = plan.iter().map(|p| p.target.clone()).collect();
            Some(self.lock_live(&targets, "restore")?)
        } else {
            None
        };
        // Private folders that an earlier run left beside the targets go now, before anything
        // is switched: one that cannot be removed stops the restore here, not half-way.
        for p in plan.iter().filter(|p| p.record.present) {
            if let Ok(parent) = Dir::open_real(fsio::parent_of(&p.target)) {
                parent.remove_own_leftover(&switch::temp_name(fsio::last_name(&p.target)?))?;
            }
        }
        let fresh = journal.is_none();
        let (pre_restore_snapshot, mut journal) = match journal {
            Some(j) => (j.pre_restore_snapshot.clone(), Some(j)),
            None if live => {
                let pre = if opts.pre_restore_snapshot {
                    self.pre_restore_snapshot(&plan)?
                } else {
                    None
                };
                let steps = plan
                    .iter()
                    .filter(|p| p.record.present)
                    .map(|p| Step {
                        id: p.record.id.clone(),
                        target: p.target.clone(),
                        switched: false,
                    })
                    .collect();
                (
                    pre.clone(),
                    Some(Journal::new(Phase::Restore, stamp.as_str(), pre, steps)),
                )
            }
            None => (None, None),
        };
        let journal_dir = self.state.as_path();
        if let Some(j) = journal.as_mut() {
            j.write(journal_dir)?;
            crate::failpoint("restore.journal-written");
        }
        let restored_size: u64 = plan
            .iter()
            .filter(|p| p.record.present)
            .flat_map(|p| &p.record.files)
            .map(|f| f.size)
            .sum();
        let mut outcomes = Vec::new();
        let restoring = progress::phase("restore", restored_size);
        for p in &plan {
            let snap = self
                .snap_files(stamp, &manifest, p.record)
                .with_target_parent(p.parent_id);
            let facts = if p.record.present {
                crate::failpoint(&format!("restore.before-{}", p.record.id));
                match p.comp.restore(&snap, &p.target) {
                    Ok(f) => f,
                    Err(e) => {
                        let untouched = fresh
                            && !matches!(e, Error::SwitchIncomplete { .. })
                            && journal
                                .as_ref()
                                .is_some_and(|j| j.steps.iter().all(|s| !s.switched));
                        if untouched {
                            // This run switched nothing: the live store is as it was.
                            Journal::remove(journal_dir)?;
                            return Err(e);
                        }
                        return Err(match (&journal, e) {
                            (
                                _,
                                e @ (Error::Interrupted { .. } | Error::SwitchIncomplete { .. }),
                            ) => e,
                            (Some(j), e) => Error::Unfinished {
                                switched: j
                                    .steps
                                    .iter()
                                    .filter(|s| s.switched)
                                    .map(|s| s.id.clone())
                                    .collect(),
                                not_switched: j
                                    .steps
                                    .iter()
                                    .filter(|s| !s.switched)
                                    .map(|s| s.id.clone())
                                    .collect(),
                                cause: e.to_string().replace(" (nothing was changed)", ""),
                            },
                            (None, e) => e,
                        });
                    }
                }
            } else {
                Facts::default()
            };
            if let Some(j) = journal.as_mut() {
                if let Some(step) = j.steps.iter_mut().find(|s| s.id == p.record.id) {
                    step.switched = true;
                    j.write(journal_dir)?;
                }
            }
            crate::failpoint(&format!("restore.after-{}", p.record.id));
            outcomes.push(ComponentOutcome {
                id: p.record.id.clone(),
                target: p.target.clone(),
                target_from_manifest: p.from_manifest,
                restored: p.record.present,
                facts,
                problems: Vec::new(),
            });
        }
        drop(restoring);
        // Components verify partly with their engines (SQLite's integrity check), which read
        // outside the counted copy loop: how much is read is not known in advance.
        let _verifying = progress::phase("verify", 0);
        for (p, outcome) in plan.iter().zip(&mut outcomes) {
            if p.record.present {
                let snap = self.snap_files(stamp, &manifest, p.record);
                outcome.problems = p.comp.verify(&snap, &p.target).unwrap_or_else(|e| {
                    vec![Problem::new(
                        p.target.to_string_lossy(),
                        format!("could not be verified: {e}"),
                    )]
                });
            }
        }
        if journal.is_some() {
            crate::failpoint("restore.before-journal-removal");
            Journal::remove(journal_dir)?;
        }
        Ok(RestoreReport {
            stamp: stamp.to_string(),
            pre_restore_snapshot,
            components: outcomes,
            open_file_check,
        })
    }

    /// Resolve and check every target before anything is written.
    fn plan<'m>(
        &self,
        stamp: &Stamp,
        manifest: &'m Manifest,
        opts: &RestoreOptions,
    ) -> Result<Vec<Planned<'m, 'a>>> {
        let live = matches!(opts.targets, Targets::Live(_));
        let mut plan = Vec::new();
        for record in &manifest.components {
            let comp = self.component(&record.id)?;
            if opts.skip.contains(&record.id) {
                continue;
            }
            let recorded = manifest
                .sources
                .get(&record.id)
                .and_then(RecordedPath::to_path);
            let (target, from_manifest) = match (&opts.targets, recorded) {
                (Targets::Live(given), recorded) => match (given.get(&record.id), recorded) {
                    (Some(p), _) => (p.clone(), false),
                    (None, Some(r)) if r.is_absolute() => (r, true),
                    (None, r) => {
                        return Err(Error::BadPath {
                            path: r.unwrap_or_default(),
                            problem: format!(
                            "no live path given for {} and the manifest records no absolute one",
                            record.id
                        ),
                        })
                    }
                },
                (Targets::Into(into), Some(r)) => {
                    let name = match r.file_name() {
                        Some(n) => n.to_owned(),
                        None => {
                            return Err(Error::BadPath {
                                path: r,
                                problem: "recorded source has no file name".into(),
                            })
                        }
                    };
                    (into.join(name), false)
                }
                (Targets::Into(_), None) => {
                    return Err(Error::Manifest {
                        path: self.store.describe(stamp, MANIFEST_NAME),
                        problem: format!("records no source path for {}", record.id),
                    })
                }
            };
            // Resolved once here (the operator's symlinks on the way followed, the last name
            // kept); from now on the run opens it without following anything.
            let target = fsio::real_parent(&target)?;
            if !live && fsio::kind_of(&target)?.is_some() {
                return Err(Error::TargetExists { path: target });
            }
            fsio::plain_kind(&target)?;
            if live {
                refuse_mount_point(&target)?;
            }
            if let Some(other) = plan.iter().find(|p: &&Planned<'_, '_>| p.target == target) {
                return Err(Error::WrongPlace {
                    path: target,
                    problem: format!(
                        "is where both {} and {} would be restored; give them different paths",
                        other.record.id, record.id
                    ),
                });
            }
            // The private folder a restore builds in: refuse now, before any lock or safety
            // snapshot is written, if something that is not ours sits at its name.
            if let Ok(parent) = Dir::open(fsio::parent_of(&target)) {
                parent.check_own_leftover(&switch::temp_name(fsio::last_name(&target)?))?;
            }
            let exists = comp.exists(&target)?;
            if !live && exists {
                return Err(Error::TargetExists { path: target });
            }
            let parent_id = Dir::open_real(fsio::parent_of(&target))
                .and_then(|d| d.identity())
                .ok();
            plan.push(Planned {
                comp,
                record,
                target,
                from_manifest,
                exists,
                parent_id,
            });
        }
        Ok(plan)
    }

    /// The safety snapshot of whichever live components exist (None when none does).
    fn pre_restore_snapshot(&self, plan: &[Planned<'_, '_>]) -> Result<Option<String>> {
        let sources: Vec<Source> = plan
            .iter()
            .filter(|p| p.exists && p.record.present)
            .map(|p| Source {
                id: p.comp.id().to_owned(),
                path: p.target.clone(),
            })
            .collect();
        if sources.is_empty() {
            return Ok(None);
        }
        let plan = self.capture_plan(&sources, Kind::PreRestore)?;
        let m = self.capture(&plan, Kind::PreRestore)?;
        crate::failpoint("restore.pre-snapshot-taken");
        Ok(Some(m.stamp))
    }

    /// The snapshot `drill` takes when none is named: the newest regular one, where a
    /// snapshot whose manifest cannot be read counts (its kind is unknown, so it cannot be
    /// ruled out: drilling it fails and says why, rather than silently drilling an older one).
    ///
    /// # Errors
    /// [`Error::NoSnapshots`] when there is none.
    pub fn newest_to_drill(&self) -> Result<Stamp> {
        let (snaps, _) = self.list()?;
        snaps
            .into_iter()
            .find(|(_, m)| m.as_ref().map_or(true, |m| m.kind == Kind::Regular))
            .map(|(s, _)| s)
            .ok_or_else(|| Error::NoSnapshots {
                what: "regular",
                dir: self.store.location().join("snapshots"),
            })
    }

    /// The non-destructive drill: validate `stamp`, restore it into a scratch folder inside
    /// `scratch_parent`, verify every component there, remove the scratch folder, and append
    /// the outcome to `<scratch_parent>/drills.jsonl`.
    ///
    /// # Errors
    /// Only when the drill could not run (unknown stamp, unwritable folder); a snapshot that
    /// fails is a report with `ok: false`.
    pub fn drill(&self, stamp: &Stamp, scratch_parent: &Path) -> Result<DrillReport> {
        let _reporting = progress::report_to(self.progress.as_ref());
        Journal::refuse_if_unfinished(&self.state)?;
        let started_at = rfc3339(SystemTime::now());
        let t0 = Instant::now();
        let validation = self.validate(stamp)?;
        let validate_ms = t0.elapsed().as_millis() as u64;
        let mut report = DrillReport {
            format_version: DRILL_LOG_VERSION,
            stamp: stamp.to_string(),
            started_at,
            ok: false,
            validate_ms,
            restore_ms: 0,
            components: Vec::new(),
            problems: validation.problems,
        };
        let parent = Dir::open(scratch_parent)?;
        if report.problems.is_empty() {
            let scratch = Scratch::new(scratch_parent)?;
            let t1 = Instant::now();
            let opts = RestoreOptions {
                targets: Targets::Into(fsio::real_path(scratch.path()).join("restored")),
                confirm_service_stopped: false,
                pre_restore_snapshot: false,
                skip: BTreeSet::new(),
                protected: Vec::new(),
            };
            match self.restore_with(stamp, &opts, None) {
                Ok(r) => {
                    for c in r.components {
                        if c.restored {
                            report.components.push(c.id);
                        }
                        report.problems.extend(c.problems);
                    }
                }
                Err(e @ Error::Interrupted { .. }) => return Err(e),
                Err(e) => report
                    .problems
                    .push(Problem::new(stamp.as_str(), e.to_string())),
            }
            report.restore_ms = t1.elapsed().as_millis() as u64;
            scratch.remove()?;
            report.ok = report.problems.is_empty();
        }
        append_line(&parent, &serde_json::to_vec(&report).unwrap_or_default())?;
        Ok(report)
    }

    /// Every name a run may write at, beside, or inside the live stores `targets` (the
    /// targets themselves included), and in the backup dir, in one list: the hostile-user
    /// tests plant a symlink at each one.
    ///
    /// # Errors
    /// [`Error::UnknownComponent`].
    pub fn places_written(&self, targets: &[Source]) -> Result<Vec<PathBuf>> {
        let dir = self.state.as_path();
        let mut out = vec![
            dir.join(lock::BACKUP_DIR_LOCK),
            Journal::path(dir),
            dir.join(fsio::write_temp_name(OsStr::new(crate::JOURNAL_NAME))),
            dir.join(DRILL_LOG),
        ];
        out.extend(self.store.places_written());
        for s in targets {
            let comp = self.component(&s.id)?;
            out.push(s.path.clone());
            out.push(lock::live_lock_path(&s.path));
            out.push(fsio::parent_of(&s.path).join(switch::temp_name(fsio::last_name(&s.path)?)));
            out.extend(comp.side_files(&s.path));
        }
        Ok(out)
    }

    /// This tool's temporary names beside each of the live paths `targets`
    /// (`.<name>.atocore-*.tmp`): left by an interrupted restore, listed by `status`, removed
    /// by `cleanup` (and by the next restore of that path).
    pub fn temps_beside(&self, targets: &[PathBuf]) -> Vec<PathBuf> {
        let mut out = BTreeSet::new();
        for t in targets {
            let (Ok(name), Ok(dir)) = (fsio::last_name(t), Dir::open(fsio::parent_of(t))) else {
                continue;
            };
            for (entry, _) in dir.entries().unwrap_or_default() {
                if switch::is_own_temp(&entry, name) {
                    out.insert(dir.join(&entry));
                }
            }
        }
        out.into_iter().collect()
    }

    /// Every live path this backup dir knows of: `configured` ones, those of the unfinished
    /// restore's journal, and those every readable manifest records.
    pub fn known_live_paths(&self, configured: &[PathBuf]) -> Vec<PathBuf> {
        let mut out: BTreeSet<PathBuf> = configured
            .iter()
            .filter_map(|p| std::path::absolute(p).ok())
            .collect();
        if let Ok(j) = self.unfinished() {
            out.extend(j.steps.into_iter().map(|s| s.target));
        }
        if let Ok((snaps, _)) = self.list() {
            for (_, m) in snaps {
                if let Ok(m) = m {
                    out.extend(m.sources.values().filter_map(RecordedPath::to_path));
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Append one line to the drill log (never through a symlink or a hard link) and fsync it.
fn append_line(dir: &Dir, line: &[u8]) -> Result<()> {
    let mut f = dir.open_append(OsStr::new(DRILL_LOG))?;
    let path = dir.join(DRILL_LOG);
    let mut buf = line.to_vec();
    buf.push(b'\n');
    f.write_all(&buf).ctx("append to", &path)?;
    f.sync_all().ctx("fsync", &path)
}

/// Whether `record` is a raw (unverified) capture that may skip its component's checks: it
/// says so, it is in a pre-restore snapshot, and every file is under `<id>/raw/`.
fn raw_allowed(manifest: &Manifest, record: &ComponentRecord) -> bool {
    let prefix = format!("{}/raw/", record.id);
    record.facts.raw
        && manifest.kind == Kind::PreRestore
        && record.files.iter().all(|f| f.path.starts_with(&prefix))
}

/// What a snapshot says about its own capture quality is checked, not trusted: a fact that
/// relaxes a check (`raw: true`, `verified: false`) is honoured only in a pre-restore
/// snapshot and only for files in the component's raw area, and the raw area holds files only
/// in a raw capture.
fn check_capture_quality(
    manifest: &Manifest,
    record: &ComponentRecord,
    problems: &mut Vec<Problem>,
) {
    let allowed = raw_allowed(manifest, record);
    let claims_raw = record.facts.raw;
    if record.facts.claims_unchecked() && !allowed {
        problems.push(Problem::new(
            record.id.clone(),
            format!(
                "the manifest marks this capture raw or unverified, which only a pre-restore \
                 snapshot may do, and only for files under {}/raw/: this {} snapshot is not \
                 trusted",
                record.id,
                manifest.kind.as_str()
            ),
        ));
    }
    if !claims_raw {
        let prefix = format!("{}/raw/", record.id);
        for f in record.files.iter().filter(|f| f.path.starts_with(&prefix)) {
            problems.push(Problem::new(
                f.path.clone(),
                "is in the raw area of a capture that does not say it is raw",
            ));
        }
    }
}

/// Check one listed file: no symlink on the way, a regular file, right size and SHA-256.
fn check_file(
    store: &dyn SnapshotStore,
    stamp: &Stamp,
    f: &FileEntry,
    problems: &mut Vec<Problem>,
) {
    let opened = store.open_file(stamp, &f.path);
    let mut file = match opened {
        Ok(file) => file,
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
            problems.push(Problem::new(f.path.clone(), "is missing"));
            return;
        }
        Err(Error::Symlink { .. }) => {
            problems.push(Problem::new(
                f.path.clone(),
                "leads through a symlink, which a snapshot never holds",
            ));
            return;
        }
        Err(Error::NotRegular { what, .. }) => {
            problems.push(Problem::new(
                f.path.clone(),
                format!("is not a regular file (it leads to {what})"),
            ));
            return;
        }
        Err(e) => {
            problems.push(Problem::new(f.path.clone(), format!("cannot be read: {e}")));
            return;
        }
    };
    match fsio::hash_reader(&mut file, &store.describe(stamp, &f.path)) {
        Err(e) => problems.push(Problem::new(f.path.clone(), format!("cannot be read: {e}"))),
        Ok(d) if d.size != f.size => problems.push(Problem::new(
            f.path.clone(),
            format!("has {} bytes, the manifest says {}", d.size, f.size),
        )),
        Ok(d) if d.sha256 != f.sha256 => problems.push(Problem::new(
            f.path.clone(),
            format!(
                "checksum mismatch: sha256 is {}, the manifest says {}",
                d.sha256, f.sha256
            ),
        )),
        Ok(_) => {}
    }
}

/// After a component's snapshot: walk its folder (never following a link), make everything
/// private, hash (once) and fsync every file, record each file's live owner, fsync every
/// folder, and return the sorted file list.
fn seal_component(root: &Dir, id: &str, staging: &Staging<'_>) -> Result<Vec<FileEntry>> {
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
                        None => {
                            f.sync_all().ctx("fsync", &path)?;
                            let d = fsio::hash_open(&mut f, &path)?;
                            FileEntry {
                                path: r.clone(),
                                size: d.size,
                                sha256: d.sha256,
                                owner: None,
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
    for rel in folders.iter().rev() {
        root.open_beneath(Path::new(rel))?.sync()?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Bytes a capture of the live store at `path` is expected to read: a file's size, or the
/// sum of a folder's regular files (0 when it cannot be looked at: the capture will say why).
fn live_size(path: &Path) -> u64 {
    match fsio::kind_of(path) {
        Ok(Some(FileType::Directory)) => Dir::open(path)
            .and_then(|d| crate::walk(&d))
            .map(|w| w.files.values().map(|f| f.size).sum())
            .unwrap_or(0),
        _ => fsio::stat_at(path)
            .ok()
            .flatten()
            .map_or(0, |st| st.st_size as u64),
    }
}
