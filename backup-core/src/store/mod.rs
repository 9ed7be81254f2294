//! Where snapshots are kept, behind one interface of stamps, manifests and file contents as
//! streams. Nothing outside this module knows how a store lays snapshots out: the
//! orchestrator and the components ask for a manifest, a file's bytes, or (for an engine
//! that needs random access, SQLite's integrity check) a local copy made on demand.
//!
//! Two implementations: [`FolderStore`], a plain folder per snapshot under
//! `<backup-dir>/snapshots/<stamp>/` (the on-disk layout every release has written), and
//! [`ObjectSnapshotStore`], snapshots as whole objects in an [`ObjectStore`] that can only
//! put, get, list and delete (what object storage offers), used by the conformance suite
//! over [`LocalObjects`], a folder of objects.
//!
//! # Invariant
//! - A snapshot becomes visible (listed, readable) only once complete: [`SnapshotStore::commit`]
//!   makes it visible in one step (a folder rename; the manifest put last), and a snapshot
//!   that is not committed is a leftover, never a snapshot.
//! - A committed snapshot is never changed or overwritten; only `cleanup` removes leftovers.
//! - Reads stream: memory does not grow with a file's size.
//! - Nothing a store reads is trusted: every byte is checked against the manifest by the
//!   reader (core), and [`SnapshotStore::check`] reports anything stored that the manifest
//!   does not list.
//! - A store keeps no state of a run: the journal, locks, drill log and scratch space live
//!   in the local state folder the orchestrator is given (by default the backup dir).

mod folder;
mod lease;
pub(crate) mod objects;
mod repo;
mod sealed;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Problem, Result};
use crate::interrupt;
use crate::manifest::Manifest;
use crate::stamp::Stamp;

pub use folder::FolderStore;
pub use lease::{leases, Lease, LeaseKind, LeaseRecord};
pub use objects::{LocalObjects, ObjectSnapshotStore, ObjectStore, RangedObject};
pub use repo::{
    plan as prune_plan, Added, CheckReport, Found, Policy, PrunePlan, PruneReport, ReadData,
    Reason, Repository, CACHE_DIR,
};
pub use sealed::{sealed_offset, Encryption, Key, Sealed, CIPHER};

/// A snapshot being built: the stamp it will get and a local folder to build it in.
#[derive(Debug)]
pub struct Pending {
    /// The stamp reserved for it.
    pub stamp: Stamp,
    /// The start time.
    pub started: SystemTime,
    /// Local folder to write into (engines such as SQLite's backup API write by name).
    pub dir: PathBuf,
    _registered: interrupt::Registered,
}

impl Pending {
    pub(crate) fn new(stamp: Stamp, started: SystemTime, dir: PathBuf) -> Pending {
        Pending {
            _registered: interrupt::register(&dir, interrupt::Scope::Backup),
            stamp,
            started,
            dir,
        }
    }
}

/// What a store holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Finalized snapshots, oldest first.
    pub snapshots: Vec<Stamp>,
    /// Snapshots whose manifest is gone (a damaged store): listed as unreadable, so `list`
    /// says so and `drill` fails on them rather than skipping to an older one.
    pub lost: Vec<Stamp>,
    /// What interrupted runs left (names only this tool makes); never snapshots, removed by
    /// `cleanup`.
    pub leftovers: Vec<PathBuf>,
    /// Anything else where snapshots are kept: reported, never touched.
    pub unrecognised: Vec<PathBuf>,
}

/// Storage for snapshots. `Sync`: the components of one snapshot are validated at the same
/// time, each in a thread of its own, reading through one store.
pub trait SnapshotStore: Sync {
    /// Where it is, for messages.
    fn location(&self) -> &Path;

    /// The local folder to keep the journal, locks, drill log and scratch space in when none
    /// is given: the backup dir for a folder store.
    fn default_state_dir(&self) -> Option<&Path>;

    /// Reserve a new, unique stamp and a local folder to build the snapshot in; `scratch` is
    /// the state folder, for a store that cannot build in place.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when the store cannot be written.
    fn begin(&self, scratch: &Path) -> Result<Pending>;

    /// Store a fully built snapshot (manifest included) and make it visible under its
    /// stamp, durably and in one step.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io); the snapshot is then not visible.
    fn commit(&self, pending: Pending) -> Result<Stamp>;

    /// Throw a snapshot being built away.
    fn abort(&self, pending: Pending);

    /// Whether the files built in [`Pending::dir`] become the snapshot itself (so each must
    /// be made durable as it is written), rather than being stored elsewhere by
    /// [`SnapshotStore::commit`], which then makes its own copy durable.
    fn keeps_staged_files(&self) -> bool {
        false
    }

    /// Whether [`SnapshotStore::commit`] reads every staged file whole and hashes it on the
    /// way (a repository, which chunks it): core then leaves a file it did not hash while
    /// copying it marked [`PENDING_SHA256`](crate::manifest::PENDING_SHA256) in the staged
    /// manifest, for the store to fill in, instead of reading it one more time.
    fn hashes_on_commit(&self) -> bool {
        false
    }

    /// Snapshots, leftovers and anything unrecognised.
    ///
    /// # Errors
    /// [`Error::MissingBackupDir`](crate::Error::MissingBackupDir), [`Error::Io`](crate::Error::Io).
    fn list(&self) -> Result<Listing>;

    /// The manifest of snapshot `stamp`, read and checked.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`](crate::Error::UnknownSnapshot) when there is no such
    /// snapshot; [`Error::Manifest`](crate::Error::Manifest) when its manifest is missing or
    /// unreadable.
    fn read_manifest(&self, stamp: &Stamp) -> Result<Manifest>;

    /// The bytes of the file `path` (as the manifest names it) of snapshot `stamp`, as a
    /// stream. Unchecked: the reader checks them against the manifest.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) (`NotFound` when missing),
    /// [`Error::Symlink`](crate::Error::Symlink), [`Error::NotRegular`](crate::Error::NotRegular).
    fn open_file(&self, stamp: &Stamp, path: &str) -> Result<Box<dyn Read>>;

    /// Where the file `path` of snapshot `stamp` already is on local disk, for reading only,
    /// when the store keeps it there (a folder store): a local copy is then not needed.
    fn local_path(&self, stamp: &Stamp, path: &str) -> Option<PathBuf> {
        let _ = (stamp, path);
        None
    }

    /// How to name the file `path` of snapshot `stamp` in messages.
    fn describe(&self, stamp: &Stamp, path: &str) -> PathBuf {
        self.location()
            .join("snapshots")
            .join(stamp.as_str())
            .join(path)
    }

    /// Everything stored for snapshot `stamp` that its manifest does not account for: files
    /// it does not list, links, special files.
    ///
    /// # Errors
    /// Only when the check could not run.
    fn check(&self, stamp: &Stamp, manifest: &Manifest) -> Result<Vec<Problem>>;

    /// Whether someone other than the tool's user could have changed what the store holds
    /// for `stamp` (the place itself or a folder above it): the path and why. A restore run
    /// as root trusts a snapshot to say where to write only when nobody else can have put it
    /// there.
    fn changeable_by_others(&self, stamp: &Stamp) -> Option<(PathBuf, String)>;

    /// Remove the leftovers of interrupted runs (only names this tool makes); returns what
    /// was removed.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io).
    fn remove_leftovers(&self) -> Result<Vec<PathBuf>>;

    /// Names the store itself writes at, for the hostile-user tests (a symlink planted at
    /// each must never be followed).
    fn places_written(&self) -> Vec<PathBuf>;
}

/// Whether the scratch folder `name` belongs to a process that is still running (its name
/// holds the process id): `cleanup` leaves it to that process.
pub(crate) fn scratch_in_use(name: &str) -> bool {
    name.strip_prefix(crate::DRILL_SCRATCH_PREFIX)
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| {
            pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists()
        })
}

/// A scratch folder in the state folder (`.drill-scratch-<pid>-<n>`, mode 0700): a drill's
/// restore target, or a local copy of a stored file. Registered for removal if the run is
/// interrupted, removed on drop, and a leftover `cleanup` removes after a crash.
pub(crate) struct Scratch {
    parent: crate::fsio::Dir,
    name: std::ffi::OsString,
    path: PathBuf,
    _registered: interrupt::Registered,
}

impl Scratch {
    /// A new scratch folder inside `state` (created, 0700, when missing).
    pub(crate) fn new(state: &Path) -> Result<Scratch> {
        let (parent, _) = crate::fsio::open_or_create_dir(state, None)?;
        for n in 0..1000u32 {
            let name = std::ffi::OsString::from(format!(
                "{}{}-{n}",
                crate::DRILL_SCRATCH_PREFIX,
                std::process::id()
            ));
            match parent.create_dir(&name, crate::fsio::DIR_MODE) {
                Ok(_) => {
                    let path = parent.join(&name);
                    return Ok(Scratch {
                        _registered: interrupt::register(&path, interrupt::Scope::Backup),
                        parent,
                        name,
                        path,
                    });
                }
                Err(crate::Error::Io { cause, .. })
                    if cause.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(crate::Error::BadPath {
            path: state.to_path_buf(),
            problem: "cannot make a scratch folder in it".into(),
        })
    }

    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Remove it now, saying why when that fails.
    pub(crate) fn remove(mut self) -> Result<()> {
        let name = std::mem::take(&mut self.name);
        self.parent.remove_tree(&name)?;
        self.parent.sync()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            let _ = self.parent.remove_tree(&self.name);
            let _ = self.parent.sync();
        }
    }
}
