//! Restore: over the live stores (behind the confirmation, the open-file gate and the
//! journal), into a folder (`--to`, the drill), and the two ways to finish an interrupted
//! restore (resume, rollback). One function per phase; [`Orchestrator::run`] puts them in
//! order.

use std::path::{Path, PathBuf};

use super::{
    Access, ComponentOutcome, Orchestrator, RestoreOptions, RestoreReport, Source, StateLock,
    Targets,
};
use crate::component::{Component, Evidence};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::fsio::{self, Dir};
use crate::journal::{Journal, Phase, Step};
use crate::lock::OperationLocks;
use crate::manifest::{ComponentRecord, Kind, Manifest, RecordedPath, MANIFEST_NAME};
use crate::progress;
use crate::stamp::Stamp;
use crate::switch;
use crate::Problem;

/// How a restore starts.
pub(super) enum Mode {
    /// A new restore: over live stores it takes a safety snapshot and writes its own journal.
    Fresh,
    /// Rolling forward with an unfinished restore's journal.
    Resume(Journal),
    /// Going back to the pre-restore snapshot, with a journal of its own.
    Rollback(Journal),
}

impl Mode {
    fn journal(self) -> Option<Journal> {
        match self {
            Mode::Fresh => None,
            Mode::Resume(j) | Mode::Rollback(j) => Some(j),
        }
    }
}

/// Whether this run began the restore, or goes on with one an earlier run began.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Fresh,
    Continued,
}

/// The operator's word that the service is stopped, which a restore over the live stores
/// requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `--confirm-service-stopped` was given.
    ServiceStopped,
    /// It was not.
    Missing,
}

impl Confirmation {
    /// From a command-line flag.
    pub fn given(flag: bool) -> Confirmation {
        if flag {
            Confirmation::ServiceStopped
        } else {
            Confirmation::Missing
        }
    }
}

/// One component of a restore, resolved before anything is written.
pub(super) struct Planned<'m, 'a> {
    pub(super) comp: &'a dyn Component,
    pub(super) record: &'m ComponentRecord,
    pub(super) target: PathBuf,
    pub(super) from_manifest: bool,
    pub(super) exists: bool,
    /// Device and inode of the folder holding the target, when the run first opened it.
    pub(super) parent_id: Option<(u64, u64)>,
}

/// The newest modification time (seconds since the epoch) of `path`, or of anything below it
/// when it is a folder (symlinks are not followed).
fn newest_change(path: &Path) -> Option<i64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let mut newest = std::os::unix::fs::MetadataExt::mtime(&meta);
    if meta.is_dir() {
        for f in crate::component::files_below(path) {
            if let Ok(m) = std::fs::symlink_metadata(&f) {
                newest = newest.max(std::os::unix::fs::MetadataExt::mtime(&m));
            }
        }
    }
    Some(newest)
}

/// Where a restore goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Over {
    /// The live stores: confirmation, open-file gate, locks, safety snapshot, journal.
    Live,
    /// A folder of new names (`--to`, the drill).
    Folder,
}

impl Over {
    fn of(opts: &RestoreOptions) -> Over {
        match opts.targets {
            Targets::Live(_) => Over::Live,
            Targets::Into(_) => Over::Folder,
        }
    }
}

/// Restore options that put back exactly `steps`' components at their targets: every other
/// component of the snapshot is skipped.
pub(super) fn journal_options(steps: &[Step], manifest: &Manifest) -> RestoreOptions {
    RestoreOptions {
        allow_schema_change: false,
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
            .map(crate::procs::OpenBy::describe)
            .collect(),
    })
}

impl<'a> Orchestrator<'a> {
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
        // Over the live store it writes the journal; with --to it only reads.
        let lock = self.lock_state("restore", if live { Access::Write } else { Access::Read })?;
        let mut report = self.restore_locked(stamp, opts)?;
        if matches!(lock, StateLock::ReadOnly) {
            report.notes.push(format!(
                "the backup dir {} is read-only; reading it without its lock",
                self.state.display()
            ));
        }
        Ok(report)
    }

    fn restore_locked(&self, stamp: &Stamp, opts: &RestoreOptions) -> Result<RestoreReport> {
        let live = matches!(opts.targets, Targets::Live(_));
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
            return self.run(stamp, &opts, Mode::Fresh);
        }
        self.run(stamp, opts, Mode::Fresh)
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
    pub fn resume(&self, confirmation: Confirmation) -> Result<RestoreReport> {
        // The lock first: the journal read under it is the one this run finishes.
        let _lock = self.lock_state("restore", Access::Write)?;
        let journal = self.unfinished()?;
        if confirmation != Confirmation::ServiceStopped {
            return Err(Error::NotConfirmed);
        }
        let stamp = Stamp::parse(&journal.stamp)?;
        let manifest = self.store.read_manifest(&stamp)?;
        let opts = journal_options(&journal.steps, &manifest);
        self.run(&stamp, &opts, Mode::Resume(journal))
    }

    /// Finish an unfinished restore by returning to the pre-restore snapshot its journal names.
    /// Components that did not exist before the restore (absent from that snapshot) are left
    /// as they are now.
    ///
    /// # Errors
    /// [`Error::NoUnfinishedRestore`], [`Error::NotConfirmed`], [`Error::NothingToRollBack`],
    /// and those of [`Self::restore`].
    pub fn rollback(&self, confirmation: Confirmation) -> Result<RestoreReport> {
        let _lock = self.lock_state("restore", Access::Write)?;
        let journal = self.unfinished()?;
        if confirmation != Confirmation::ServiceStopped {
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
        self.run(&stamp, &opts, Mode::Rollback(rollback))
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

    /// The restore itself, in its phases.
    pub(super) fn run(
        &self,
        stamp: &Stamp,
        opts: &RestoreOptions,
        mode: Mode,
    ) -> Result<RestoreReport> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let over = Over::of(opts);
        if over == Over::Live {
            self.refuse_untrusted_as_root(stamp)?;
        }
        // Checked copies that a killed run left in the state folder would take the room this
        // run's own copies need (a restore resumed after a crash, on a nearly full disk).
        self.remove_stale_copies();
        let mut prepared = super::validate::Prepared::new();
        let manifest = self.valid_manifest(stamp, &mut prepared)?;
        let mut plan = self.plan(stamp, &manifest, opts)?;
        if let Targets::Into(into) = &opts.targets {
            let (made, _) = fsio::open_or_create_real_dir(into, None)?;
            let id = Some(made.identity()?);
            for p in &mut plan {
                p.parent_id = id;
            }
        }
        let (open_file_check, _locks) = self.gate(&plan, over)?;
        let mut notes = Vec::new();
        if over == Over::Live && matches!(mode, Mode::Fresh) {
            notes = self.schema_gate(stamp, &manifest, &plan, opts, &mut prepared)?;
            notes.extend(self.partial_restore_notes(&manifest, opts));
        }
        clear_old_private_folders(&plan)?;
        let start = match mode {
            Mode::Fresh => Start::Fresh,
            Mode::Resume(_) | Mode::Rollback(_) => Start::Continued,
        };
        let (pre_restore_snapshot, mut journal) =
            self.begin_journal(stamp, opts, &plan, over, mode.journal())?;
        let components =
            self.switch_all(stamp, &manifest, &plan, journal.as_mut(), start, prepared)?;
        let components = self.verify_all(stamp, &manifest, &plan, components);
        if journal.is_some() {
            crate::failpoint("restore.before-journal-removal");
            Journal::remove(&self.state)?;
        }
        Ok(RestoreReport {
            stamp: stamp.to_string(),
            pre_restore_snapshot,
            components,
            open_file_check,
            notes,
        })
    }

    /// Compare each snapshot component's schema with its live store's: refuse on any
    /// difference unless allowed; allowed differences come back as notes.
    fn schema_gate(
        &self,
        stamp: &Stamp,
        manifest: &Manifest,
        plan: &[Planned<'_, '_>],
        opts: &RestoreOptions,
        prepared: &mut super::validate::Prepared,
    ) -> Result<Vec<String>> {
        let mut differences = Vec::new();
        for p in plan.iter().filter(|p| p.record.present && p.exists) {
            // The component reads the snapshot's own files (the checked copy the gate made,
            // lent and taken back), not what the manifest says about them.
            let mut snap = self
                .snap_files(stamp, manifest, p.record)
                .with_prepared(prepared.remove(&p.record.id));
            let found = p.comp.schema_differences(&snap, &p.target);
            if let Some(copy) = snap.take_prepared() {
                prepared.insert(p.record.id.clone(), copy);
            }
            for d in found? {
                differences.push(format!("{}: {d}", p.record.id));
            }
        }
        if differences.is_empty() {
            return Ok(Vec::new());
        }
        if !opts.allow_schema_change {
            return Err(Error::SchemaChange {
                stamp: stamp.to_string(),
                differences,
            });
        }
        Ok(differences
            .into_iter()
            .map(|d| format!("restoring across a schema change (--allow-schema-change): {d}"))
            .collect())
    }

    /// Stores the snapshot holds that this restore leaves alone were captured together with
    /// the ones it restores: say that they will disagree, and how far apart they are.
    fn partial_restore_notes(&self, manifest: &Manifest, opts: &RestoreOptions) -> Vec<String> {
        let restored: Vec<&str> = manifest
            .components
            .iter()
            .filter(|c| c.present && !opts.skip.contains(&c.id))
            .map(|c| c.id.as_str())
            .collect();
        if restored.is_empty() {
            return Vec::new();
        }
        let taken = Stamp::parse(&manifest.stamp).map(|s| s.seconds()).ok();
        let mut notes = Vec::new();
        for c in manifest
            .components
            .iter()
            .filter(|c| c.present && opts.skip.contains(&c.id))
        {
            let live = match &opts.targets {
                Targets::Live(map) => map.get(&c.id).cloned(),
                Targets::Into(_) => None,
            }
            .or_else(|| manifest.sources.get(&c.id).and_then(RecordedPath::to_path));
            let apart = match (live.as_deref().and_then(newest_change), taken) {
                (Some(changed), Some(taken)) if changed > taken => format!(
                    "the live {} was last changed {} after this snapshot was taken",
                    c.id,
                    crate::stamp::span(changed - taken)
                ),
                (Some(_), Some(_)) => format!(
                    "the live {} has not changed since this snapshot was taken",
                    c.id
                ),
                _ => format!("the live {} cannot be dated", c.id),
            };
            notes.push(format!(
                "restoring {} without {}, which this snapshot also holds: {apart}; until both \
                 come from one snapshot, the stores may disagree about what exists (records \
                 with no vector, vectors with no record)",
                restored.join(", "),
                c.id
            ));
        }
        notes
    }

    /// As root, a snapshot is trusted to say where and what to write only if nobody else can
    /// have put it there: where it is stored, and the state folder whose journal a resume
    /// follows.
    fn refuse_untrusted_as_root(&self, stamp: &Stamp) -> Result<()> {
        if !fsio::is_root() {
            return Ok(());
        }
        let found = self.store.changeable_by_others(stamp).or_else(|| {
            fsio::changeable_by_others(&self.state)
                .or_else(|| fsio::entry_changeable_by_others(&Journal::path(&self.state)))
        });
        match found {
            None => Ok(()),
            Some((path, why)) => Err(Error::WrongPlace {
                path: self.store.location().to_path_buf(),
                problem: format!(
                    "is a backup dir that others can change ({} {why}): a snapshot planted \
                     there could make this restore, run as root, write anywhere. Make the \
                     backup dir and the folders above it root's and writable by root only, \
                     or restore as the service's user",
                    path.display()
                ),
            }),
        }
    }

    /// The snapshot's manifest, once the whole snapshot validated.
    /// Components' checked local copies go into `prepared` (a repository's snapshot).
    fn valid_manifest(
        &self,
        stamp: &Stamp,
        prepared: &mut super::validate::Prepared,
    ) -> Result<Manifest> {
        // With the slow, query-level checks (index recall, canaries): the restored bytes are
        // the snapshot's, so whatever they would find after the switch is found here, before
        // anything is touched.
        let validation = self.validate_keeping(stamp, Some(prepared), true)?;
        // A validation cut short by a signal says nothing about the snapshot.
        crate::interrupt::check()?;
        match (validation.manifest, validation.problems.is_empty()) {
            (Some(m), true) => Ok(m),
            (_, _) => Err(Error::InvalidSnapshot {
                stamp: stamp.to_string(),
                problems: validation.problems,
                evidence: validation.evidence,
            }),
        }
    }

    /// Over live stores: refuse while another process holds one open (the service runs),
    /// then take every live store's lock.
    fn gate(
        &self,
        plan: &[Planned<'_, '_>],
        over: Over,
    ) -> Result<(Option<crate::procs::Scan>, Option<OperationLocks>)> {
        if over == Over::Folder {
            return Ok((None, None));
        }
        let scan = refuse_if_in_use(plan)?;
        let targets: Vec<PathBuf> = plan.iter().map(|p| p.target.clone()).collect();
        Ok((Some(scan), Some(self.lock_live(&targets, "restore")?)))
    }

    /// The journal this run follows (written before the first switch), and the safety
    /// snapshot it names: taken now for a fresh restore over live stores (unless asked not
    /// to), the one an unfinished restore's journal names otherwise.
    fn begin_journal(
        &self,
        stamp: &Stamp,
        opts: &RestoreOptions,
        plan: &[Planned<'_, '_>],
        over: Over,
        given: Option<Journal>,
    ) -> Result<(Option<String>, Option<Journal>)> {
        let (pre, mut journal) = match given {
            Some(j) => (j.pre_restore_snapshot.clone(), Some(j)),
            None if over == Over::Live => {
                let pre = if opts.pre_restore_snapshot {
                    self.pre_restore_snapshot(plan)?
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
                let j = Journal::new(Phase::Restore, stamp.as_str(), pre.clone(), steps);
                (pre, Some(j))
            }
            None => (None, None),
        };
        if let Some(j) = journal.as_mut() {
            j.write(&self.state)?;
            crate::failpoint("restore.journal-written");
        }
        Ok((pre, journal))
    }

    /// Each component restores and switches, in manifest order; the journal records each
    /// switch as it happens.
    fn switch_all(
        &self,
        stamp: &Stamp,
        manifest: &Manifest,
        plan: &[Planned<'_, '_>],
        mut journal: Option<&mut Journal>,
        start: Start,
        mut prepared: super::validate::Prepared,
    ) -> Result<Vec<ComponentOutcome>> {
        let size: u64 = plan
            .iter()
            .filter(|p| p.record.present)
            .flat_map(|p| &p.record.files)
            .map(|f| f.size)
            .sum();
        let _phase = progress::phase("restore", size);
        let mut outcomes = Vec::new();
        for p in plan {
            let facts = if p.record.present {
                let snap = self
                    .snap_files(stamp, manifest, p.record)
                    .with_target_parent(p.parent_id)
                    .with_prepared(prepared.remove(&p.record.id));
                crate::failpoint(&format!("restore.before-{}", p.record.id));
                match p.comp.restore(&snap, &p.target) {
                    Ok(f) => f,
                    Err(e) => return Err(self.stopped(e, journal.as_deref(), start)?),
                }
            } else {
                Facts::default()
            };
            if let Some(j) = journal.as_deref_mut() {
                if let Some(step) = j.steps.iter_mut().find(|s| s.id == p.record.id) {
                    step.switched = true;
                    j.write(&self.state)?;
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
                evidence: Vec::new(),
            });
        }
        Ok(outcomes)
    }

    /// What a component's failed restore means for the run: a fresh run that switched
    /// nothing leaves the live store as it was (its journal goes); otherwise the restore is
    /// unfinished, and the error says what was and was not switched.
    fn stopped(&self, e: Error, journal: Option<&Journal>, start: Start) -> Result<Error> {
        let untouched = start == Start::Fresh
            && !matches!(e, Error::SwitchIncomplete { .. })
            && journal.is_some_and(|j| j.steps.iter().all(|s| !s.switched));
        if untouched {
            Journal::remove(&self.state)?;
            return Ok(e);
        }
        Ok(match (journal, e) {
            (_, e @ (Error::Interrupted { .. } | Error::SwitchIncomplete { .. })) => e,
            (Some(j), e) => {
                let ids = |switched: bool| {
                    j.steps
                        .iter()
                        .filter(|s| s.switched == switched)
                        .map(|s| s.id.clone())
                        .collect()
                };
                Error::Unfinished {
                    switched: ids(true),
                    not_switched: ids(false),
                    cause: e.to_string().replace(" (nothing was changed)", ""),
                }
            }
            (None, e) => e,
        })
    }

    /// Each restored component checks its target against the snapshot.
    fn verify_all(
        &self,
        stamp: &Stamp,
        manifest: &Manifest,
        plan: &[Planned<'_, '_>],
        mut outcomes: Vec<ComponentOutcome>,
    ) -> Vec<ComponentOutcome> {
        // Components verify partly with their engines (SQLite's integrity check), which read
        // outside the counted copy loop: how much is read is not known in advance.
        let _phase = progress::phase("verify", 0);
        let verify = |p: &Planned<'_, '_>| -> (Vec<Problem>, Vec<Evidence>) {
            let snap = self.snap_files(stamp, manifest, p.record);
            let problems = p.comp.verify(&snap, &p.target).unwrap_or_else(|e| {
                vec![Problem::new(
                    p.target.to_string_lossy(),
                    format!("could not be verified: {e}"),
                )]
            });
            (problems, snap.take_evidence())
        };
        // Each restored store is verified in a thread of its own (they are different stores).
        let found: Vec<Option<(Vec<Problem>, Vec<Evidence>)>> = super::in_threads(
            plan,
            |p| format!("verify-{}", p.record.id),
            |p| p.record.present.then(|| verify(p)),
            |p| {
                Some((
                    vec![Problem::new(
                        p.target.to_string_lossy(),
                        "could not be verified: its thread stopped",
                    )],
                    Vec::new(),
                ))
            },
        );
        for (outcome, found) in outcomes.iter_mut().zip(found) {
            if let Some((problems, evidence)) = found {
                outcome.problems = problems;
                outcome.evidence = evidence;
            }
        }
        outcomes
    }

    /// Where `record` is restored, and whether that came from the manifest because no live
    /// path was given.
    fn target_for(
        &self,
        stamp: &Stamp,
        manifest: &Manifest,
        record: &ComponentRecord,
        opts: &RestoreOptions,
    ) -> Result<(PathBuf, bool)> {
        let recorded = manifest
            .sources
            .get(&record.id)
            .and_then(RecordedPath::to_path);
        Ok(match (&opts.targets, recorded) {
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
            let (target, from_manifest) = self.target_for(stamp, manifest, record, opts)?;
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
}

/// Private folders that an earlier run left beside the targets go now, before anything is
/// switched: one that cannot be removed stops the restore here, not half-way.
fn clear_old_private_folders(plan: &[Planned<'_, '_>]) -> Result<()> {
    for p in plan.iter().filter(|p| p.record.present) {
        if let Ok(parent) = Dir::open_real(fsio::parent_of(&p.target)) {
            parent.remove_own_leftover(&switch::temp_name(fsio::last_name(&p.target)?))?;
        }
    }
    Ok(())
}
