//! Every command's `--json` output, one struct per command. Each carries
//! [`FORMAT_VERSION`], the version of these shapes: independent of the manifest's format and
//! of the drill log's. It goes up when a key changes meaning or goes away; new keys may be
//! added without a bump, so readers must ignore keys they do not know.
//!
//! Paths are strings when they are UTF-8, else `{"hex": "..."}` ([`RecordedPath`]).

use std::collections::BTreeMap;

use backup_core::lock::Holder;
use backup_core::procs::Scan;
use backup_core::{Evidence, Facts, FileEntry, Journal, Problem, RecordedPath};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Version of the shapes below.
///
/// 1: the first release. 2: `list` prints an object with `format_version` and `snapshots`
/// (it printed a bare array), whose rows call the manifest's format `manifest_format_version`;
/// restore's `components[].facts` and create's hold core's `warnings` only when there are any.
pub const FORMAT_VERSION: u32 = 2;

/// `create --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The new snapshot's stamp.
    pub stamp: String,
    /// Its folder.
    pub backup_root: RecordedPath,
    /// When it was taken (RFC 3339 UTC).
    pub created_at: String,
    /// What it added to the repository (absent for a plain-folder backup dir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
    /// Every component, in capture order.
    pub components: Vec<CreatedComponent>,
}

/// What a snapshot added to the repository.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Stored {
    /// Chunks its files consist of.
    pub chunks: u64,
    /// Of those, chunks the repository did not have yet.
    pub new_chunks: u64,
    /// Bytes of its files.
    pub file_bytes: u64,
    /// Bytes added to the repository (compressed new chunks and pack tables).
    pub added_bytes: u64,
    /// New pack files.
    pub packs: u64,
}

impl From<backup_core::Added> for Stored {
    fn from(a: backup_core::Added) -> Stored {
        Stored {
            chunks: a.chunks,
            new_chunks: a.new_chunks,
            file_bytes: a.file_bytes,
            added_bytes: a.pack_bytes,
            packs: a.packs,
        }
    }
}

/// `check --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checked {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// True when nothing is wrong.
    pub clean: bool,
    /// Snapshots looked at.
    pub snapshots: usize,
    /// Packs in the repository.
    pub packs: usize,
    /// Packs whose data was read and hashed.
    pub packs_read: usize,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// What is wrong, each with what it concerns (a snapshot, a pack, an index object).
    pub problems: Vec<CheckProblem>,
    /// Snapshots the problems affect (they cannot be restored as they are).
    pub affected_snapshots: Vec<String>,
    /// What needs no action (data no snapshot needs; a table read from its pack).
    pub notes: Vec<String>,
}

/// One problem `check` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckProblem {
    /// What it concerns.
    pub what: String,
    /// What is wrong.
    pub problem: String,
}

/// `prune --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pruned {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// True when nothing was changed (`--dry-run`).
    pub dry_run: bool,
    /// Kept snapshots, newest first, each with every rule that keeps it.
    pub keep: Vec<PrunedKeep>,
    /// Removed snapshots (to be removed, in a dry run), newest first.
    pub remove: Vec<String>,
    /// Bytes of pack data freed (estimated in a dry run).
    pub bytes_freed: u64,
    /// Packs deleted whole.
    pub packs_deleted: usize,
    /// Packs rewritten without their unneeded chunks.
    pub packs_rewritten: usize,
    /// Interrupted earlier prunes this run finished first.
    pub finished_earlier: Vec<String>,
    /// Data left in place, and why.
    pub notes: Vec<String>,
}

/// A snapshot a prune keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrunedKeep {
    /// Its stamp.
    pub stamp: String,
    /// The rules that keep it: last, hourly, daily, weekly, monthly, within, pre-restore,
    /// newest-valid (the newest regular snapshot that validates), journal (named by an
    /// unfinished restore), unreadable (its manifest cannot be read).
    pub reasons: Vec<String>,
}

/// `migrate --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migrated {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Every plain-folder snapshot, oldest first.
    pub snapshots: Vec<MigratedSnapshot>,
}

/// One plain-folder snapshot `migrate` looked at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigratedSnapshot {
    /// Its stamp.
    pub stamp: String,
    /// imported, already-there or failed.
    pub outcome: String,
    /// What the import added (when imported).
    pub stored: Option<Stored>,
    /// Why it failed (it stays a plain folder only).
    pub error: Option<String>,
}

/// One component of a new snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedComponent {
    /// Component id.
    pub id: String,
    /// False when the live store did not exist (an optional store), recorded as absent.
    pub present: bool,
    /// The live path captured.
    pub source: Option<RecordedPath>,
    /// Every file captured, with size, SHA-256 and owner.
    pub files: Vec<FileEntry>,
    /// What the component recorded: capture quality, warnings and its own facts.
    pub facts: Facts,
}

/// `list --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Newest first.
    pub snapshots: Vec<ListedSnapshot>,
}

/// One snapshot in `list`: either its summary or why its manifest cannot be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListedSnapshot {
    /// Its stamp.
    pub stamp: String,
    /// Where it is, when a second place is configured (`here`, and the second place's
    /// address when it has it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places: Option<Vec<String>>,
    /// True when stamped later than this machine's clock says it is now.
    pub future: bool,
    /// Why the manifest cannot be read; when set, the fields below are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `regular` or `pre-restore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Bytes of every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Ids of the components it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    /// The manifest's format version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_format_version: Option<u32>,
    /// The version of atocore-backup that took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// Where each store stood, by component id (each component's own object; `{"raw":
    /// true}` for a raw capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<Value>,
}

/// `validate --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validated {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The snapshot.
    pub stamp: String,
    /// True when nothing was found wrong.
    pub valid: bool,
    /// Everything found wrong.
    pub errors: Vec<Problem>,
    /// Where each store stood (as in `list`); empty when the manifest cannot be read.
    pub captured: Value,
    /// The proofs the checks gave (with `--deep`: each Chroma collection's recall).
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// `restore --json` (also for `--resume` and `--rollback`). The keys the service's original
/// tool printed (`pre_restore_snapshot`, `db_restored`, `registry_restored`,
/// `chroma_restored`, `restored_integrity_ok`) are kept as they were; each component's
/// `<key>_restored` comes from its descriptor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restored {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The snapshot restored.
    pub stamp: String,
    /// The safety snapshot of the previous live state; restore it to undo.
    pub pre_restore_snapshot: Option<String>,
    /// True when every restored store verified clean.
    pub restored_integrity_ok: bool,
    /// The check for processes holding the live store open (live restores only).
    pub open_file_check: Option<Scan>,
    /// Per component, in manifest order.
    pub components: Vec<RestoredComponent>,
    /// What the operator should know about how the restore ran (a schema change allowed by
    /// `--allow-schema-change`, stores of the snapshot left alone).
    #[serde(default)]
    pub notes: Vec<String>,
    /// With `--stop-cmd`, `--start-cmd` or `--health-cmd`: each step around the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRun>,
    /// `db_restored`, `registry_restored`, ...: whether each known component was restored
    /// (`true` or `false`). Keys a later version adds land here too, so read it by key.
    #[serde(flatten)]
    pub restored: BTreeMap<String, Value>,
}

/// The service steps around a restore (`--stop-cmd`, `--start-cmd`, `--health-cmd`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRun {
    /// In the order they ran: `stop`, `wait_released`, `restore`, `start`, `health`.
    pub steps: Vec<ServiceStep>,
    /// Whether the start command ran and succeeded.
    pub started: bool,
    /// Whether the health command succeeded (`None`: no health command, or not started).
    pub healthy: Option<bool>,
}

/// One step around a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStep {
    /// `stop`, `wait_released`, `restore`, `start` or `health`.
    pub step: String,
    /// The command run (none for `wait_released` and `restore`).
    pub command: Option<String>,
    /// Whether it succeeded.
    pub ok: bool,
    /// The command's exit code.
    pub exit_code: Option<i32>,
    /// How many times it ran (the health command and the release check repeat).
    pub attempts: u32,
    /// Milliseconds it took.
    pub ms: u64,
    /// Why it failed, or why it was not run.
    pub problem: Option<String>,
}

/// What happened to one component in a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoredComponent {
    /// Component id.
    pub id: String,
    /// Where it was restored (or would have been).
    pub target: RecordedPath,
    /// True when the target came from the manifest because none was configured.
    pub target_from_manifest: bool,
    /// False when the snapshot did not hold it, so the target was left alone.
    pub restored: bool,
    /// The component's report: warnings and its own facts.
    pub facts: Facts,
    /// What verification found wrong at the target.
    pub problems: Vec<Problem>,
    /// The proofs verification gave (each Chroma collection's recall, canary values).
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// `drill --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drilled {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The drilled snapshot.
    pub stamp: String,
    /// When the drill started.
    pub started_at: String,
    /// True when the snapshot validated, restored and verified.
    pub ok: bool,
    /// Milliseconds validating.
    pub validate_ms: u64,
    /// Milliseconds restoring and verifying in the scratch folder.
    pub restore_ms: u64,
    /// Components restored.
    pub components: Vec<String>,
    /// Everything that went wrong.
    pub problems: Vec<Problem>,
    /// The proofs verification in the scratch folder gave.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The drill log the outcome was appended to.
    pub drill_log: RecordedPath,
    /// For `drill --sample`: the sample store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleRun>,
}

/// The sample store of `drill --sample`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleRun {
    /// Its folder (kept, to look at).
    pub dir: RecordedPath,
    /// Memories in the sample database when it was backed up.
    pub memories_at_backup: i64,
    /// Memories in the live sample after it was changed.
    pub memories_live_now: i64,
}

/// `status --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The backup dir.
    pub backup_dir: RecordedPath,
    /// How many snapshots it holds.
    pub snapshots: usize,
    /// The unfinished restore's journal, if there is one.
    pub unfinished_restore: Option<Journal>,
    /// Leftovers of interrupted runs, in the backup dir and beside the live stores.
    pub leftovers: Vec<RecordedPath>,
    /// What is neither a snapshot nor a name this tool makes.
    pub unrecognised: Vec<RecordedPath>,
    /// The backup dir's lock.
    pub lock: LockState,
    /// The newest snapshot (any kind), and how old it is.
    #[serde(default)]
    pub newest_snapshot: Option<Dated>,
    /// The newest regular snapshot.
    #[serde(default)]
    pub newest_regular_snapshot: Option<Dated>,
    /// The last drill, whatever its outcome.
    #[serde(default)]
    pub last_drill: Option<Dated>,
    /// The last drill that passed.
    #[serde(default)]
    pub last_successful_drill: Option<Dated>,
    /// The last repository check, whatever its outcome.
    #[serde(default)]
    pub last_check: Option<Dated>,
    /// The last check that found the repository clean.
    #[serde(default)]
    pub last_clean_check: Option<Dated>,
    /// Bytes of every file in the backup dir.
    #[serde(default)]
    pub repository_bytes: u64,
}

/// Something that happened at a moment: a snapshot, a drill, a check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dated {
    /// The snapshot's stamp (for a check: none).
    pub stamp: Option<String>,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Seconds since then (`None` when the log's time cannot be read).
    pub age_seconds: Option<i64>,
    /// Whether it passed (drills and checks).
    pub ok: Option<bool>,
    /// What a check read (`none`, `all`, `subset N/M`, `P%`).
    pub detail: Option<String>,
}

/// Who holds the backup dir's lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockState {
    /// Whether another process holds it now.
    pub held: bool,
    /// Who, when it said so.
    pub holder: Option<Holder>,
}

/// `cleanup --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cleaned {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What was removed.
    pub removed: Vec<RecordedPath>,
    /// What is not this tool's, left alone.
    pub left_alone: Vec<RecordedPath>,
    /// Leftovers kept, and why.
    pub kept: Vec<Kept>,
}

/// A leftover `cleanup` did not remove.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    /// Where it is.
    pub path: RecordedPath,
    /// Why it was kept.
    pub why: String,
}

/// `copy --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Copied {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Where the snapshots were copied to.
    pub to: String,
    /// Copied and read back now.
    pub copied: Vec<CopiedSnapshot>,
    /// There already.
    pub already_there: Vec<String>,
    /// Not copied, and why.
    pub failed: Vec<CopyFailure>,
}

/// One snapshot copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopiedSnapshot {
    /// Its stamp.
    pub stamp: String,
    /// What it added there (absent when the copy was made meanwhile by another run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Stored>,
    /// Bytes read back from there and checked against the manifest.
    pub verified_bytes: u64,
}

/// One snapshot not copied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyFailure {
    /// Its stamp.
    pub stamp: String,
    /// Why.
    pub error: String,
}
