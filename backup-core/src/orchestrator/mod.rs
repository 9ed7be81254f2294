//! Runs the registered components in order against a manifest: create, validate, restore,
//! drill. Everything components share lives here: hashing of every file, staging and atomic
//! finalize, the validation gate, the pre-restore safety snapshot, dispatch by component id.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::FileType;
use serde::Serialize;

mod create;
mod drill;
mod repo;
mod restore;

pub use repo::{CheckLogLine, Imported, Migration};
pub use restore::Confirmation;
mod validate;

use crate::component::{Component, Evidence};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::fsio::{self, Dir};
use crate::journal::Journal;
use crate::lock::{self, OperationLocks};
use crate::manifest::{Manifest, RecordedPath};
use crate::progress::Progress;
use crate::stamp::Stamp;
use crate::store::SnapshotStore;
use crate::switch;
use crate::Problem;

/// Prefix of the scratch folders a drill makes inside the backup dir.
pub const DRILL_SCRATCH_PREFIX: &str = ".drill-scratch-";
/// Name of the drill log inside the backup dir.
pub const DRILL_LOG: &str = "drills.jsonl";
/// Version of the drill log's line format (independent of the manifest's).
pub const DRILL_LOG_VERSION: u32 = 1;
/// Name of the check log inside the state folder.
pub const CHECK_LOG: &str = "checks.jsonl";
/// Version of the check log's line format.
pub const CHECK_LOG_VERSION: u32 = 1;

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
    /// The proofs the components' checks gave (query recall with `deep`).
    pub evidence: Vec<Evidence>,
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
    /// Restore over live stores even when a snapshot's schema differs from theirs
    /// ([`Component::schema_differences`]): the differences become notes.
    pub allow_schema_change: bool,
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
    /// The proofs verification gave (query recall, canary values).
    pub evidence: Vec<Evidence>,
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
    /// What the operator should know about how the restore ran (a read-only backup dir
    /// read without its lock).
    pub notes: Vec<String>,
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
    /// The proofs verification in the scratch folder gave (query recall per collection,
    /// canary values), each with whether it passed.
    pub evidence: Vec<Evidence>,
}

/// What `cleanup` did.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// What was removed.
    pub removed: Vec<PathBuf>,
    /// Leftovers beside the live stores that were kept, and why.
    pub kept: Vec<(PathBuf, String)>,
    /// True when a leftover could not be removed (a restore of that store refuses to start
    /// until it is gone).
    pub failed: bool,
}

/// What an operation does with the state folder, for its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// It writes there (journal, snapshots, scratch, drill log).
    Write,
    /// It only reads the store (`restore --to`).
    Read,
}

/// The state folder's lock as an operation holds it.
pub(crate) enum StateLock {
    /// Held until dropped.
    Held(#[allow(dead_code)] OperationLocks),
    /// No state folder yet: nothing to guard (create makes it; the others say it is missing).
    NoFolder,
    /// A read-only state folder cannot hold a lock file, and nothing can change it from here
    /// either: a reading operation goes on without the lock.
    ReadOnly,
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
    /// `validate` runs the components' slow, query-level checks too.
    deep: bool,
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
            deep: false,
        }
    }

    /// Make `validate` run the components' slow, query-level checks too (a restore's and a
    /// drill's verification always runs them).
    pub fn with_deep_validation(mut self, deep: bool) -> Self {
        self.deep = deep;
        self
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

    /// Which other processes hold the live stores at `targets` (by component id) open: what
    /// a live restore's service-stopped gate checks.
    pub fn holders(&self, targets: &BTreeMap<String, PathBuf>) -> crate::procs::Scan {
        let files: Vec<PathBuf> = self
            .known
            .iter()
            .filter_map(|c| targets.get(c.id()).map(|t| c.held_files(t)))
            .flatten()
            .collect();
        crate::procs::scan(&files)
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

    /// Take the state folder's lock for `command`, as every operation that writes there (or
    /// reads a snapshot to restore it) does: a library caller is guarded like the CLI.
    ///
    /// # Errors
    /// [`Error::LockHeld`] after the lock timeout; [`Error::StateReadOnly`] for a writing
    /// operation on a read-only state folder.
    pub(crate) fn lock_state(&self, command: &str, access: Access) -> Result<StateLock> {
        if !self.state.is_dir() {
            return Ok(StateLock::NoFolder);
        }
        match OperationLocks::acquire(Some(&self.state), &[], command, self.lock_timeout) {
            Ok(l) => Ok(StateLock::Held(l)),
            Err(Error::Io { cause, .. })
                if cause.kind() == std::io::ErrorKind::ReadOnlyFilesystem =>
            {
                match access {
                    Access::Read => Ok(StateLock::ReadOnly),
                    Access::Write => Err(Error::StateReadOnly {
                        dir: self.state.clone(),
                        command: command.to_owned(),
                    }),
                }
            }
            Err(e) => Err(e),
        }
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

    /// Manifests of every finalized snapshot, newest first; unreadable ones come back as
    /// errors in place so `list` can show them.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`], [`Error::Io`].
    pub fn list(&self) -> Result<(Vec<Listed>, Vec<PathBuf>)> {
        let mut listing = self.store.list()?;
        listing.leftovers.extend(self.state_leftovers());
        listing.leftovers.sort();
        listing.leftovers.dedup();
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

    /// Scratch folders in the state folder (a store that keeps its state there may list
    /// them too: the caller removes duplicates).
    fn state_leftovers(&self) -> Vec<PathBuf> {
        let Ok(dir) = Dir::open(&self.state) else {
            return Vec::new();
        };
        dir.entries()
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, t)| {
                *t == FileType::Directory
                    && n.to_str().is_some_and(|n| {
                        n.starts_with(DRILL_SCRATCH_PREFIX) && !crate::store::scratch_in_use(n)
                    })
            })
            .map(|(n, _)| dir.join(&n))
            .collect()
    }

    /// Remove the local copies (`.drill-scratch-<pid>-<n>`) that processes no longer
    /// running left in the state folder (never this process's own); a failure is left for
    /// `cleanup` to report.
    pub(super) fn remove_stale_copies(&self) {
        for p in self.state_leftovers() {
            let copy_of_a_run = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(DRILL_SCRATCH_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                // This run's own (a drill's restore target) are not leftovers.
                .is_some_and(|pid| pid != std::process::id());
            if copy_of_a_run {
                let _ = crate::fsio::remove_tree_at(&p);
            }
        }
    }

    /// Remove what interrupted runs left, and only names this tool makes: where snapshots
    /// are kept, in the state folder, and beside the live stores `configured` now or known
    /// from the journal and the manifests (those are kept while a restore is unfinished: its
    /// resume or rollback deals with them).
    ///
    /// # Errors
    /// [`Error::LockHeld`], [`Error::Io`] for what is not beside a live store; one beside a
    /// live store that cannot be removed is reported in [`Cleanup::kept`].
    pub fn cleanup(&self, configured: &[PathBuf]) -> Result<Cleanup> {
        let _lock = self.lock_state("cleanup", Access::Write)?;
        let mut out = Cleanup {
            removed: self.remove_leftovers()?,
            ..Cleanup::default()
        };
        let unfinished = match self.unfinished() {
            Ok(_) => true,
            Err(Error::NoUnfinishedRestore { .. }) => false,
            Err(e) => return Err(e),
        };
        for t in self.temps_beside(&self.known_live_paths(configured)) {
            if unfinished {
                out.kept.push((
                    t,
                    "an unfinished restore may still use it: finish it with `restore --resume` \
                     or `--rollback`"
                        .into(),
                ));
                continue;
            }
            let removed = Dir::open(fsio::parent_of(&t)).and_then(|d| {
                d.remove_own_leftover(fsio::last_name(&t)?)?;
                d.sync()
            });
            match removed {
                Ok(()) => out.removed.push(t),
                Err(e) => {
                    out.failed = true;
                    out.kept.push((t, format!("{e}; remove it by hand")));
                }
            }
        }
        Ok(out)
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut removed = self.store.remove_leftovers()?;
        for p in self.state_leftovers() {
            if removed.contains(&p) {
                continue;
            }
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

/// `work` done on every item at the same time, one scoped thread each named by `name`, all
/// reporting progress to this thread's receiver; in turn, here, for an item whose thread
/// cannot be started. Results come in the items' order; `stopped(item)` stands for the
/// result of an item whose thread panicked.
pub(super) fn in_threads<T: Sync, R: Send>(
    items: &[T],
    name: impl Fn(&T) -> String,
    work: impl Fn(&T) -> R + Sync,
    stopped: impl Fn(&T) -> R,
) -> Vec<R> {
    let sink = crate::progress::current();
    // The conformance suite's injected read failures follow the work into its thread.
    #[cfg(feature = "conformance")]
    let budget = crate::conformance::read_budget();
    let work = &work;
    std::thread::scope(|s| {
        let running: Vec<_> = items
            .iter()
            .map(|item| {
                let sink = sink.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name(name(item))
                        .spawn_scoped(s, move || {
                            let _reporting = crate::progress::report_to(sink.as_ref());
                            #[cfg(feature = "conformance")]
                            crate::conformance::set_read_budget(budget);
                            work(item)
                        });
                match spawned {
                    Ok(h) => Err(h),
                    Err(_) => Ok(work(item)),
                }
            })
            .collect();
        running
            .into_iter()
            .zip(items)
            .map(|(r, item)| match r {
                Ok(done) => done,
                Err(h) => h.join().unwrap_or_else(|_| stopped(item)),
            })
            .collect()
    })
}
