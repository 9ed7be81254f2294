//! Errors of backup-core and of every component.
//!
//! Rules for this crate and the component crates:
//! - Library code never panics on input it reads from disk or from the user: a damaged backup,
//!   a wrong path or a full disk are errors with a message, never `unwrap`.
//! - Every variant that concerns a file carries its path; the message names the path and the
//!   problem in words an operator understands, without a backtrace.
//! - A message includes the underlying error's text once: such a field is named `cause`, not
//!   `source`, so a printed chain (`{:#}`) does not repeat it.
//! - Component crates have their own error enums and convert them into [`Error::Component`],
//!   keeping the component id, so the binary can print one chain.
//! - Findings of a validation are not errors: they are [`Problem`]s, collected and reported
//!   together. An invalid snapshot becomes an error only where an operation must stop
//!   ([`Error::InvalidSnapshot`]).
//! - [`Error::is_negative_answer`] tells the binary which errors mean "no" (exit 1) rather than
//!   "could not do it" (exit 2).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias used across the workspace's libraries.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One finding of a validation or verification: the file it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The file or folder concerned: relative to the snapshot folder for snapshot files,
    /// absolute for live or restored files.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    /// A finding about `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything that can stop an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system call failed.
    #[error("cannot {op} {}: {cause}", path.display())]
    Io {
        /// What we tried to do ("open", "rename", ...).
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error (part of the message, so not repeated as a source).
        cause: io::Error,
    },
    /// A stamp argument that is not of the form `YYYYMMDDTHHMMSSZ`.
    #[error(
        "'{stamp}' is not a snapshot stamp (expected YYYYMMDDTHHMMSSZ, e.g. 20260409T012345Z)"
    )]
    BadStamp {
        /// The text given.
        stamp: String,
    },
    /// A well-formed stamp that names no snapshot.
    #[error("no snapshot {stamp} in {}", dir.display())]
    UnknownSnapshot {
        /// The stamp asked for.
        stamp: String,
        /// The folder searched.
        dir: PathBuf,
    },
    /// No snapshot at all where one was needed.
    #[error("no {what} snapshot in {}", dir.display())]
    NoSnapshots {
        /// Which kind was looked for.
        what: &'static str,
        /// The folder searched.
        dir: PathBuf,
    },
    /// The backup folder does not exist.
    #[error("backup dir {} does not exist", path.display())]
    MissingBackupDir {
        /// The path given.
        path: PathBuf,
    },
    /// A path given by the user that cannot serve its purpose.
    #[error("{}: {problem}", path.display())]
    BadPath {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        problem: String,
    },
    /// A manifest that cannot be read or trusted.
    #[error("manifest {}: {problem}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// An operation that writes into the backup dir, on a backup dir that is read-only.
    #[error(
        "{}: {command} writes into the backup dir (its journal, snapshots or scratch folder), \
         which is on a read-only file system: `restore STAMP --to DIR` and `validate` work \
         from it; otherwise copy the snapshot folder into a writable backup dir",
        dir.display()
    )]
    StateReadOnly {
        /// The state folder (the backup dir).
        dir: PathBuf,
        /// The operation.
        command: String,
    },
    /// A component's facts that do not have the shape the component records.
    #[error("the recorded facts do not have the expected shape: {problem}")]
    Facts {
        /// serde's message.
        problem: String,
    },
    /// A snapshot names a component this build does not know.
    #[error("the snapshot has component '{id}', which this build of atocore-backup does not know")]
    UnknownComponent {
        /// The id in the manifest.
        id: String,
    },
    /// A retention policy that cannot be applied as given.
    #[error("{problem} (nothing was removed)")]
    Policy {
        /// What is wrong with it.
        problem: String,
    },
    /// Another run holds a conflicting lease on a repository on object storage.
    #[error("{}: the repository is in use: {holder}; wait for it to finish (or, if that run died, for the lease to expire)", path.display())]
    LeaseHeld {
        /// The lease object.
        path: PathBuf,
        /// Who holds it.
        holder: String,
    },
    /// This run's lease on a repository on object storage may have lapsed.
    #[error("the lease on the repository could not be renewed in time (the store was unreachable, or this process was suspended): stopping before committing or deleting anything; run again")]
    LeaseLost,
    /// A repository opened with the wrong key, or without the key it needs.
    #[error("{}: {problem}", path.display())]
    WrongKey {
        /// The repository's config.
        path: PathBuf,
        /// What does not match.
        problem: String,
    },
    /// Bytes read back do not match the manifest.
    #[error("{}: checksum mismatch (manifest says sha256 {expected}, file has {actual})", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The sha256 in the manifest.
        expected: String,
        /// The sha256 of the bytes read.
        actual: String,
    },
    /// A restore over live files was asked without confirming the service is stopped.
    #[error(
        "refusing to restore over the live store without --confirm-service-stopped: stop the \
         service first, then confirm (nothing was changed)"
    )]
    NotConfirmed,
    /// A restore with `--to` would overwrite something.
    #[error(
        "{} already exists: a restore with --to writes only paths that do not exist yet (nothing was changed)",
        path.display()
    )]
    TargetExists {
        /// The existing path.
        path: PathBuf,
    },
    /// The snapshot failed validation, so the operation stopped before touching anything.
    #[error("snapshot {stamp} is invalid, nothing was changed: {}", join(problems))]
    InvalidSnapshot {
        /// The snapshot.
        stamp: String,
        /// What validation found.
        problems: Vec<Problem>,
        /// The proofs validation gave (the failing ones among them), for a drill's log.
        evidence: Vec<crate::component::Evidence>,
    },
    /// Before a live restore: the snapshot's schema differs from the live store's in a way
    /// the service's code may not expect (older than the live one, another migration level).
    #[error(
        "snapshot {stamp} does not have the live store's schema, nothing was changed: {}; if \
         this is intended (going back past a migration), restore with --allow-schema-change",
        differences.join("; ")
    )]
    SchemaChange {
        /// The snapshot.
        stamp: String,
        /// Each difference, naming its component.
        differences: Vec<String>,
    },
    /// Another run holds a lock this operation needs.
    #[error("{} is held by {holder}; wait for it, or retry with a longer --lock-timeout", path.display())]
    LockHeld {
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holder: String,
    },
    /// An earlier restore did not finish; only resume, rollback, list, validate and status run.
    #[error(
        "an unfinished restore of snapshot {stamp} is recorded in {}: finish it first with \
         `restore --resume` (to the snapshot) or `restore --rollback` (to the state before it), \
         both with --confirm-service-stopped",
        path.display()
    )]
    UnfinishedRestore {
        /// The journal file.
        path: PathBuf,
        /// The snapshot it was restoring.
        stamp: String,
    },
    /// No unfinished restore to resume or roll back.
    #[error("there is no unfinished restore in {}", dir.display())]
    NoUnfinishedRestore {
        /// The backup dir.
        dir: PathBuf,
    },
    /// A rollback was asked after a restore that took no pre-restore snapshot.
    #[error(
        "the unfinished restore of {stamp} was run with --no-pre-snapshot: there is nothing to \
         roll back to; use `restore --resume`"
    )]
    NothingToRollBack {
        /// The snapshot it was restoring.
        stamp: String,
    },
    /// Other processes hold the live store open: the service is not stopped.
    #[error("refusing to restore: the live store is open in other processes, so the service is not stopped (nothing was changed): {}", holders.join("; "))]
    StoreInUse {
        /// Each holder: pid, command line and file.
        holders: Vec<String>,
    },
    /// A restore failed half-way through switching a target: it is neither wholly old nor
    /// wholly new. The journal stays, so resume or rollback finishes it.
    #[error("{}: the switch did not complete ({problem}); run `restore --resume` or `restore --rollback`", path.display())]
    SwitchIncomplete {
        /// The target.
        path: PathBuf,
        /// What failed.
        problem: String,
    },
    /// A symlink where the tool reads a store or writes anything: never followed.
    #[error(
        "{} is a symlink{}: atocore-backup never follows a symlink where it reads a store or \
         writes a file (nothing was changed); remove it, or name the real path instead",
        path.display(),
        target.as_ref().map(|t| format!(" to {}", t.display())).unwrap_or_default()
    )]
    Symlink {
        /// The symlink.
        path: PathBuf,
        /// Where it points, when it could be read.
        target: Option<PathBuf>,
    },
    /// Something other than a regular file (or a folder) where one is expected.
    #[error("{} is {what}, not {expected} (nothing was read or changed)", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is ("a FIFO", "a character device", ...).
        what: &'static str,
        /// What was expected ("a regular file", "a folder").
        expected: &'static str,
    },
    /// A place the tool must not write into, or must not use for its own files.
    #[error("{}: {problem} (nothing was changed)", path.display())]
    WrongPlace {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        problem: String,
    },
    /// The run was stopped by a signal; what it had started was cleaned up (see the message).
    #[error("interrupted by {}: {done}", signal_name(*signal))]
    Interrupted {
        /// The signal number (SIGINT 2, SIGTERM 15).
        signal: i32,
        /// What was cleaned up or kept.
        done: String,
    },
    /// A restore stopped after it had switched some stores: the live store is partly restored,
    /// and the journal says which parts.
    #[error(
        "the restore stopped after switching {} ({} not switched): {cause}. The live store is \
         partly restored and the journal records it: run `restore --resume` or \
         `restore --rollback` with --confirm-service-stopped before starting the service",
        list(switched),
        list(not_switched)
    )]
    Unfinished {
        /// Components already switched.
        switched: Vec<String>,
        /// Components not switched.
        not_switched: Vec<String>,
        /// What stopped it.
        cause: String,
    },
    /// A component could not do its work.
    #[error("{id}: {cause}")]
    Component {
        /// The component id.
        id: String,
        /// The component's own error (part of the message, so not repeated as a source).
        cause: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// The name of a signal number, for messages.
pub fn signal_name(signal: i32) -> String {
    match signal {
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "nothing".into()
    } else {
        ids.join(", ")
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// An I/O error on `path` while doing `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            cause,
        }
    }

    /// A component's own error, tagged with its id.
    pub fn component(
        id: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Component {
            id: id.into(),
            cause: Box::new(cause),
        }
    }

    /// True when the error is a negative answer about a snapshot ("this snapshot is not
    /// valid"), as opposed to a failure to carry out the operation.
    pub fn is_negative_answer(&self) -> bool {
        matches!(self, Error::InvalidSnapshot { .. })
    }
}

/// Attach a path and an operation name to an `io::Result`.
pub trait IoContext<T> {
    /// Turn the error into [`Error::Io`].
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
