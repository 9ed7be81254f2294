//! The Chroma component: a Chroma persist folder (`chroma.sqlite3` plus one HNSW folder per
//! collection), captured consistently and checked offline.
//!
//! Snapshot: under the service's exclusive-ingestion lock (an advisory `flock` on
//! `<persist dir>/../.ingestion.lock` unless configured otherwise), copy `chroma.sqlite3`
//! through SQLite's online backup API, then every other file; record each vector segment's
//! queue position and every file's size and mtime before and after, and start again (up to a
//! bound) when anything moved. A snapshot that validates is never torn.
//!
//! Validate and verify: [`check::check_store`], which never opens the store with chromadb.
//! Restore: build the folder in core's private folder beside the live one (owners and modes
//! as live), fsync, exchange it with the live one in one atomic step, fsync the parent, then
//! remove the old one.

mod catalog;
mod check;
mod hnsw;
mod lock;
pub mod query;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_core::{
    fsio, walk, Component, Configured, Descriptor, Dir, Error, Evidence, Facts, FileState, Owner,
    Problem, RecordedPath, Result, Setting, SnapshotFiles, Staging, Standing,
};
use serde::{Deserialize, Serialize};

pub use catalog::Catalog;
pub use check::check_store;

/// Component id, folder name and manifest key.
pub const ID: &str = "chroma";
/// File name of the ingestion lock, beside the persist folder by default.
pub const DEFAULT_LOCK_NAME: &str = ".ingestion.lock";

/// How the component introduces itself to the command line.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ID,
    what: "the Chroma vector store",
    path: Setting {
        flag: "chroma",
        env: "ATOCORE_CHROMA_PATH",
        value_name: "DIR",
        help: "The live Chroma persist folder.",
    },
    settings: &[Setting {
        flag: "ingestion-lock",
        env: "ATOCORE_INGESTION_LOCK",
        value_name: "FILE",
        help: "The service's exclusive-ingestion lock file, held while Chroma is copied \
               [default: <chroma dir>/../.ingestion.lock].",
    }],
    lists: &[],
    required: false,
    restored_key: "chroma_restored",
    build,
};

fn build(c: &Configured) -> Box<dyn Component> {
    Box::new(
        ChromaComponent::new(c.get("ingestion-lock").map(Path::to_path_buf))
            .with_lock_wait(c.lock_timeout),
    )
}

/// What a capture records in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChromaFacts {
    /// The persist folder's name.
    #[serde(default)]
    pub folder: String,
    /// Page facts of the copied `chroma.sqlite3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<backup_sqlite::db::DbStats>,
    /// The catalog's schema: migrations applied, sequence-id encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
    /// Every collection as captured: what restore and validation compare the store with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<CollectionFacts>>,
    /// Segment folders no collection names.
    #[serde(default)]
    pub orphans: Vec<String>,
    /// Entries not captured: symlinks, special files, names that are not UTF-8.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// Copy attempts it took to get a consistent capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The ingestion lock held while copying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingestion_lock: Option<RecordedPath>,
    /// Whether a dead writer's hot journal was rolled back first.
    #[serde(default)]
    pub rolled_back_hot_journal: bool,
    /// The live store's own consistency findings (only a pre-restore snapshot may have any).
    #[serde(default)]
    pub consistency_problems: Vec<String>,
}

/// The catalog's schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Highest migration applied, per migration folder.
    #[serde(default)]
    pub migrations: BTreeMap<String, i64>,
    /// How sequence ids are stored.
    #[serde(default)]
    pub seq_id_encoding: String,
}

/// One collection as captured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectionFacts {
    /// Chroma's collection id.
    #[serde(default)]
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Vector dimension.
    #[serde(default)]
    pub dimension: Option<i64>,
    /// The vector segment's folder.
    #[serde(default)]
    pub segment_dir: String,
    /// Vectors in the HNSW index.
    #[serde(default)]
    pub element_count: Option<u64>,
    /// Whether the segment has its metadata pickle.
    #[serde(default)]
    pub has_pickle: bool,
    /// Queue position the vector segment is indexed to.
    #[serde(default)]
    pub vector_max_seq_id: Option<i64>,
    /// Queue position the metadata segment is indexed to.
    #[serde(default)]
    pub metadata_max_seq_id: Option<i64>,
    /// Queue rows not yet indexed.
    #[serde(default)]
    pub pending_queue_rows: i64,
}

/// What can go wrong in this component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChromaError {
    /// The store kept changing through every attempt.
    #[error(
        "{}: the store kept changing during {attempts} copy attempts ({what}); hold the \
         ingestion lock while writing, or stop the writers, and try again",
        path.display()
    )]
    KeptChanging {
        /// The persist folder.
        path: PathBuf,
        /// How many attempts were made.
        attempts: u32,
        /// What moved on the last attempt.
        what: String,
    },
    /// The ingestion lock stayed held by another process.
    #[error("{}: the ingestion lock is held by another process and was not released within {seconds} s", path.display())]
    LockBusy {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
    /// Something about the folder is not as it must be.
    #[error("{}: {problem}", path.display())]
    Bad {
        /// The path concerned.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl From<ChromaError> for Error {
    fn from(e: ChromaError) -> Self {
        Error::component(ID, e)
    }
}

fn bad(path: &Path, problem: impl Into<String>) -> Error {
    ChromaError::Bad {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
    .into()
}

/// The Chroma component.
#[derive(Debug, Clone)]
pub struct ChromaComponent {
    ingestion_lock: Option<PathBuf>,
    lock_wait: Duration,
    attempts: u32,
}

impl Default for ChromaComponent {
    fn default() -> Self {
        ChromaComponent {
            ingestion_lock: None,
            lock_wait: Duration::from_secs(60),
            attempts: 5,
        }
    }
}

impl ChromaComponent {
    /// The component, with the ingestion lock at `lock` (None: beside the persist folder).
    pub fn new(lock: Option<PathBuf>) -> Self {
        ChromaComponent {
            ingestion_lock: lock,
            ..Self::default()
        }
    }

    /// How many times a snapshot copies the store before giving up on a store that keeps
    /// changing (at least 1).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// How long to wait for the ingestion lock.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The lock file used for the store at `live`.
    pub fn lock_path(&self, live: &Path) -> PathBuf {
        self.ingestion_lock
            .clone()
            .unwrap_or_else(|| fsio::parent_of(live).join(DEFAULT_LOCK_NAME))
    }

    /// The consistent capture: `chroma.sqlite3` through the backup API, then every other
    /// file, started again (up to the bound) when anything moved meanwhile.
    fn capture(&self, live: &Path, out: &mut Staging<'_>, lock_path: &Path) -> Result<Facts> {
        let live_dir = Dir::open_nofollow(live)?;
        let rolled_back = roll_back_hot_journal(live, &live_dir)?;
        let mut last_change = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                out.reset()?;
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            let before_pos = live_positions(live)?;
            let (before_files, skipped) = walk_store(&live_dir)?;
            // 1. chroma.sqlite3 through the backup API: one consistent point in time.
            let dest = out.dir().join("chroma.sqlite3");
            let src = backup_sqlite::db::open_existing_below(live, "chroma.sqlite3")?;
            let dst = backup_sqlite::db::backup_to(&src, &live.join("chroma.sqlite3"), &dest)?;
            drop(src);
            let mode = backup_sqlite::db::journal_mode(&dst, &dest, Some("DELETE"))?;
            if mode != "delete" {
                return Err(bad(&dest, format!("journal mode stayed {mode}")));
            }
            let sqlite = backup_sqlite::db::DbStats::read(&dst, &dest)?;
            drop(dst);
            // 2. Every other file, hashed while copied.
            let mut vanished = false;
            for rel in before_files.keys() {
                match out.copy_in_beneath(&live_dir, rel, rel) {
                    Ok(_) => {}
                    Err(Error::Io { cause, .. })
                        if cause.kind() == std::io::ErrorKind::NotFound =>
                    {
                        vanished = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            // 3. Did anything move while we copied?
            let (after_files, _) = walk_store(&live_dir)?;
            let after_pos = live_positions(live)?;
            let copied = {
                let conn = catalog::open(&out.dir())?;
                Catalog::read(&conn).map_err(|m| bad(&dest, m))?
            };
            let copied_pos = copied.vector_positions();
            last_change = if vanished {
                "a file vanished while it was copied".into()
            } else if before_files != after_files {
                let changed: Vec<&String> = before_files
                    .keys()
                    .chain(after_files.keys())
                    .filter(|k| before_files.get(*k) != after_files.get(*k))
                    .take(3)
                    .collect();
                format!("files changed: {changed:?}")
            } else if before_pos != after_pos || copied_pos != before_pos {
                "a vector segment synced".into()
            } else {
                String::new()
            };
            if !last_change.is_empty() {
                continue;
            }
            // Consistent: describe it.
            if let Some(st) = live_dir.stat(OsStr::new("chroma.sqlite3"))? {
                out.record_owner("chroma.sqlite3", Owner::of(&st))?;
            }
            out.record_folder_owners(&live_dir, "")?;
            let checked = check::check_store(&out.dir(), "", false);
            let rels: Vec<String> = before_files.keys().cloned().collect();
            let orphans = check::orphans(&copied, &rels);
            let mut warnings = Vec::new();
            if rolled_back {
                warnings.push(format!(
                    "{}: a writer had died mid-transaction; its hot journal was rolled back \
                     before the capture (as chromadb does when it next opens the store), so the \
                     snapshot holds the last committed state",
                    live.join("chroma.sqlite3").display()
                ));
            }
            warnings.extend(skipped_warning(live, &skipped));
            let facts = Facts::of(&ChromaFacts {
                folder: folder_name(live).into(),
                sqlite: Some(sqlite),
                schema: Some(Schema {
                    migrations: copied.migrations.clone(),
                    seq_id_encoding: copied.seq_id_encoding.clone(),
                }),
                collections: Some(collection_facts(&copied, &checked.element_counts)),
                orphans,
                skipped,
                attempts: Some(attempt),
                ingestion_lock: Some(RecordedPath::from_path(lock_path)),
                rolled_back_hot_journal: rolled_back,
                consistency_problems: checked.problems.iter().map(ToString::to_string).collect(),
            })?
            .with_warnings(warnings);
            if !checked.problems.is_empty() && out.kind() == backup_core::Kind::Regular {
                return Err(bad(
                    live,
                    format!(
                        "the live store fails its own consistency checks, so no snapshot was \
                         made: {}",
                        checked
                            .problems
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ));
            }
            return Ok(facts);
        }
        Err(ChromaError::KeptChanging {
            path: live.to_path_buf(),
            attempts: self.attempts,
            what: last_change,
        }
        .into())
    }
}

/// What a restore reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChromaRestored {
    /// Whether a live folder was replaced (false: there was none).
    pub replaced_existing: bool,
}

/// Size and mtime of each file, by `/`-path: what change detection compares.
type FileStates = BTreeMap<String, FileState>;

/// Every file below the live folder (not `chroma.sqlite3` and its sidecars at the top), as
/// `/`-paths, with size and mtime; symlinks, special files and names that are not UTF-8
/// listed separately and never followed or read.
fn walk_store(dir: &Dir) -> Result<(FileStates, Vec<String>)> {
    let mut found = walk(dir)?;
    found
        .files
        .retain(|rel, _| rel.contains('/') || !catalog::is_sqlite_file(rel));
    Ok((found.files, found.skipped))
}

/// Queue positions of the vector segments, read from the live `chroma.sqlite3`.
fn live_positions(live: &Path) -> Result<BTreeMap<String, Option<i64>>> {
    let db = live.join("chroma.sqlite3");
    let conn = open_read_only(live)?;
    Catalog::read(&conn)
        .map(|c| c.vector_positions())
        .map_err(|m| bad(&db, m))
}

/// The live store's `chroma.sqlite3`, read-only: a regular file, no symlink followed below
/// the folder holding the store.
fn open_read_only(live: &Path) -> Result<rusqlite::Connection> {
    let db = live.join("chroma.sqlite3");
    let real = fsio::real_parent(live)?.join("chroma.sqlite3");
    drop(fsio::open_regular(&real)?);
    let conn = rusqlite::Connection::open_with_flags(
        &real,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(|e| bad(&db, format!("cannot open: {e}")))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| bad(&db, e.to_string()))?;
    Ok(conn)
}

/// A writer that died mid-transaction leaves a hot journal: the database file holds its
/// uncommitted pages and the `-journal` the pages to put back. A read-only connection cannot
/// read past it (`SQLITE_READONLY_ROLLBACK`); the first writable one rolls it back, as
/// chromadb's next start would, and nothing committed is lost. Only then, and only when both
/// files start as SQLite's do, is the store opened for writing: a journal that a live writer
/// still holds is not hot, and a database or journal that is damaged is left untouched (the
/// capture then fails, or a pre-restore snapshot keeps the raw files). Returns whether a
/// journal was rolled back.
fn roll_back_hot_journal(live: &Path, live_dir: &Dir) -> Result<bool> {
    const DB_MAGIC: &[u8] = b"SQLite format 3\0";
    const JOURNAL_MAGIC: &[u8] = &[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
    let db = live.join("chroma.sqlite3");
    let probe = |c: &rusqlite::Connection| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let hot = match probe(&open_read_only(live)?) {
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK =>
        {
            starts_with(live_dir, "chroma.sqlite3", DB_MAGIC)?
                && starts_with(live_dir, "chroma.sqlite3-journal", JOURNAL_MAGIC)?
        }
        // Anything else is for the capture to report.
        _ => false,
    };
    if hot {
        let conn = backup_sqlite::db::open_existing_below(live, "chroma.sqlite3")?;
        probe(&conn).map_err(|e| bad(&db, format!("cannot roll back its hot journal: {e}")))?;
    }
    Ok(hot)
}

/// Whether the regular file `name` in `dir` exists and starts with `magic` (a symlink or
/// special file there does not).
fn starts_with(dir: &Dir, name: &str, magic: &[u8]) -> Result<bool> {
    use std::io::Read;
    let mut head = vec![0u8; magic.len()];
    match dir.open_file(OsStr::new(name)) {
        Ok(f) => match f.take(magic.len() as u64).read_exact(&mut head) {
            Ok(()) => Ok(head == magic),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::io("read", dir.join(name), e)),
        },
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(Error::Symlink { .. } | Error::NotRegular { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The persist folder's own name, recorded in the manifest.
fn folder_name(live: &Path) -> &str {
    live.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("chroma")
}

/// Whether a capture failed because the store kept changing under it (a store in use).
fn kept_changing(e: &Error) -> bool {
    matches!(e, Error::Component { cause, .. }
        if matches!(cause.downcast_ref::<ChromaError>(), Some(ChromaError::KeptChanging { .. })))
}

/// Where a raw capture keeps the folder's files inside the component's folder.
const RAW_DIR: &str = "raw";

/// The pre-restore fallback: every file of the folder as it is, `chroma.sqlite3` and its
/// sidecars included, in the folder's own layout under `raw/`, marked unverified. Nothing is
/// opened by SQLite; symlinks and special files are listed as skipped, never read.
fn capture_raw(live: &Path, out: &mut Staging<'_>, why: &Error) -> Result<Facts> {
    out.reset()?;
    let live_dir = Dir::open_nofollow(live)?;
    let found = walk(&live_dir)?;
    for rel in found.files.keys() {
        out.copy_in_beneath(&live_dir, rel, &format!("{RAW_DIR}/{rel}"))?;
    }
    out.record_folder_owners(&live_dir, RAW_DIR)?;
    Facts::raw(
        why.to_string(),
        &ChromaFacts {
            folder: folder_name(live).into(),
            skipped: found.skipped,
            ..ChromaFacts::default()
        },
    )
}

/// A pre-restore snapshot of a live store that already failed the consistency checks keeps
/// it as it was; its recorded findings are expected, not news.
fn captured_damaged(snap: &SnapshotFiles<'_>, facts: &ChromaFacts) -> bool {
    snap.kind() == backup_core::Kind::PreRestore && !facts.consistency_problems.is_empty()
}

fn facts_of(snap: &SnapshotFiles<'_>) -> Result<ChromaFacts> {
    snap.facts().get()
}

/// The deep check of the Chroma folder `dir` (a snapshot's copy or a restored folder) plus a
/// comparison with what the manifest recorded. A store captured damaged is expected to be
/// damaged in the same way: then only the comparison counts (and the bytes, elsewhere).
fn deep_problems(
    snap: &SnapshotFiles<'_>,
    facts: &ChromaFacts,
    dir: &Path,
    label: &str,
    deep: bool,
) -> Vec<Problem> {
    let checked = check::check_store(dir, label, deep);
    for r in &checked.recalls {
        snap.attest(Evidence {
            component: String::new(),
            check: "hnsw_recall".into(),
            subject: r.collection.clone(),
            passed: r.passed,
            value: serde_json::to_value(r).unwrap_or_default(),
            text: recall_text(r),
        });
    }
    let mut problems = if captured_damaged(snap, facts) {
        Vec::new()
    } else {
        checked.problems
    };
    if let Some(cat) = &checked.catalog {
        let found = collection_facts(cat, &checked.element_counts);
        problems.extend(compare_recorded(facts, &found, label));
    }
    problems
}

/// One line about a collection's query-level proof.
fn recall_text(r: &check::CollectionRecall) -> String {
    let q = &r.recall;
    let mut t = if q.live_elements == 0 {
        format!("collection '{}': no vectors in the index yet", r.collection)
    } else {
        format!(
            "collection '{}': self-recall@1 {:.3} ({}/{}; {} at ef {}), recall@10 {:.3} over \
             {} random queries ({} at ef {}), {} space, {} vectors",
            r.collection,
            r.self_recall,
            q.self_found,
            q.self_queries,
            q.self_found_at_ef,
            q.ef,
            r.random_recall,
            q.random_queries,
            q.random_hits_at_ef,
            q.ef,
            q.space,
            q.live_elements
        )
    };
    if r.pending_queue_rows > 0 {
        t.push_str(&format!(
            "; {} operations still queued, not yet indexed (not searched, not loss)",
            r.pending_queue_rows
        ));
    }
    if !r.passed {
        t.push_str(" FAILED");
    }
    t
}

fn collection_facts(cat: &Catalog, counts: &[(String, u64, bool)]) -> Vec<CollectionFacts> {
    cat.collections
        .iter()
        .map(|c| {
            let (count, pickle) = counts
                .iter()
                .find(|(id, _, _)| *id == c.id)
                .map(|(_, n, p)| (Some(*n), *p))
                .unwrap_or((None, false));
            CollectionFacts {
                id: c.id.clone(),
                name: c.name.clone(),
                dimension: c.dimension,
                segment_dir: c.vector_segment.clone(),
                element_count: count,
                has_pickle: pickle,
                vector_max_seq_id: c.vector_max_seq_id,
                metadata_max_seq_id: c.metadata_max_seq_id,
                pending_queue_rows: c.pending_queue_rows,
            }
        })
        .collect()
}

/// Compare what a check found with what the manifest recorded.
fn compare_recorded(facts: &ChromaFacts, now: &[CollectionFacts], prefix: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(rec) = &facts.collections else {
        // What the store held is what the comparison checks against: a manifest without it
        // would turn the comparison off.
        problems.push(Problem::new(
            format!("{prefix}chroma.sqlite3"),
            "the manifest records no list of collections to compare the store with",
        ));
        return problems;
    };
    let show = |v: &dyn erased::Show| v.show();
    for r in rec {
        let (id, name) = (&r.id, &r.name);
        match now.iter().find(|n| n.id == r.id) {
            None => problems.push(Problem::new(
                format!("{prefix}chroma.sqlite3"),
                format!("collection '{name}' ({id}) recorded in the manifest is not in the store"),
            )),
            Some(n) => {
                let pairs: [(&str, String, String); 4] = [
                    ("segment_dir", show(&n.segment_dir), show(&r.segment_dir)),
                    (
                        "element_count",
                        show(&n.element_count),
                        show(&r.element_count),
                    ),
                    (
                        "vector_max_seq_id",
                        show(&n.vector_max_seq_id),
                        show(&r.vector_max_seq_id),
                    ),
                    ("dimension", show(&n.dimension), show(&r.dimension)),
                ];
                for (key, found, recorded) in pairs {
                    if found != recorded {
                        problems.push(Problem::new(
                            format!("{prefix}{}", r.segment_dir),
                            format!(
                                "collection '{name}' ({id}): {key} is {found}, the manifest \
                                 recorded {recorded}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    if now.len() > rec.len() {
        problems.push(Problem::new(
            format!("{prefix}chroma.sqlite3"),
            format!(
                "holds {} collections, the manifest recorded {}",
                now.len(),
                rec.len()
            ),
        ));
    }
    problems
}

mod erased {
    /// A recorded value as JSON text, as messages show it.
    pub trait Show {
        fn show(&self) -> String;
    }
    impl<T: serde::Serialize> Show for T {
        fn show(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// How the snapshot's Chroma schema differs from the live catalog's: another migration level
/// in any migration folder (Chroma migrates in place and cannot go back), or a collection of
/// the same id with another dimension (another embedding model).
fn schema_differences(facts: &ChromaFacts, live: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(schema) = &facts.schema {
        let dirs: std::collections::BTreeSet<&String> = schema
            .migrations
            .keys()
            .chain(live.migrations.keys())
            .collect();
        for d in dirs {
            let (snap, now) = (schema.migrations.get(d), live.migrations.get(d));
            if snap != now {
                let show = |v: Option<&i64>| v.map_or_else(|| "none".to_owned(), i64::to_string);
                out.push(format!(
                    "migration level of {d} is {} in the snapshot and {} live (written by \
                     another chromadb version)",
                    show(snap),
                    show(now)
                ));
            }
        }
    }
    for c in facts.collections.iter().flatten() {
        if let Some(l) = live.collections.iter().find(|l| l.id == c.id) {
            if let (Some(a), Some(b)) = (c.dimension, l.dimension) {
                if a != b {
                    out.push(format!(
                        "collection '{}' ({}) has dimension {a} in the snapshot and {b} live",
                        c.name, c.id
                    ));
                }
            }
        }
    }
    out
}

/// What a capture or restore says about entries of the folder it does not copy.
fn skipped_warning(live: &Path, skipped: &[String]) -> Option<String> {
    (!skipped.is_empty()).then(|| {
        format!(
            "{}: {} entries are not captured (symlinks, special files, names that are not \
             UTF-8; first: {}); a restore replaces the whole folder, and they are not kept",
            live.display(),
            skipped.len(),
            skipped[0]
        )
    })
}

impl Component for ChromaComponent {
    fn id(&self) -> &'static str {
        ID
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        match fsio::plain_kind(live)? {
            None => Ok(false),
            Some(fsio::FileType::Directory) => {
                let dir = Dir::open_nofollow(live)?;
                match dir.stat(OsStr::new("chroma.sqlite3"))? {
                    Some(st) if fsio::file_type(&st) == fsio::FileType::RegularFile => Ok(true),
                    Some(st) => Err(Error::NotRegular {
                        path: live.join("chroma.sqlite3"),
                        what: fsio::kind_name(fsio::file_type(&st)),
                        expected: "a regular file",
                    }),
                    None => Err(Error::BadPath {
                        path: live.to_path_buf(),
                        problem: "is a folder without chroma.sqlite3, not a Chroma persist folder"
                            .into(),
                    }),
                }
            }
            Some(_) => Err(Error::BadPath {
                path: live.to_path_buf(),
                problem: "is a file, not a Chroma persist folder".into(),
            }),
        }
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        let lock_path = self.lock_path(live);
        let _lock = lock::Exclusive::acquire(&lock_path, live, self.lock_wait)?;
        match self.capture(live, out, &lock_path) {
            // A restore is most needed when the live store is damaged: its safety snapshot
            // then keeps the folder's raw files as they are. A store that kept changing is
            // in use, and that refusal stands.
            Err(e) if out.kind() == backup_core::Kind::PreRestore && !kept_changing(&e) => {
                capture_raw(live, out, &e)
            }
            r => r,
        }
    }

    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        let mut files = backup_core::files_below(target);
        let db = target.join("chroma.sqlite3");
        if !files.contains(&db) {
            files.push(db);
        }
        files
    }

    fn side_files(&self, target: &Path) -> Vec<PathBuf> {
        vec![
            self.lock_path(target),
            target.join("chroma.sqlite3-journal"),
        ]
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        if snap.is_raw() {
            // Raw bytes of a store that could not be read: the checksums (core) are all
            // there is to check.
            return Ok(Vec::new());
        }
        let facts = facts_of(snap)?;
        // The deep check reads the folder with SQLite and by offset: the store's own folder
        // when it keeps one, else a checked copy.
        let mut problems = match snap.local_folder() {
            Ok(copy) => deep_problems(snap, &facts, copy.path(), &format!("{ID}/"), snap.deep()),
            // A store that copies out could not: core has named the damaged file already.
            Err(_) if !snap.damaged().is_empty() => Vec::new(),
            Err(e) => return Err(e),
        };
        // Name the collection behind every damaged segment file core found.
        if let Some(recorded) = &facts.collections {
            for path in snap.damaged() {
                let seg = path
                    .strip_prefix(&format!("{ID}/"))
                    .and_then(|r| r.split('/').next());
                if let Some(c) = recorded
                    .iter()
                    .find(|c| Some(c.segment_dir.as_str()) == seg)
                {
                    problems.push(Problem::new(
                        path.clone(),
                        format!(
                            "collection '{}' ({}): this file of its vector segment is damaged",
                            c.name, c.id
                        ),
                    ));
                }
            }
        }
        Ok(problems)
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let mut r = snap.replacement(target, ID)?;
        let had_live = r.parent().stat(r.name())?.is_some();
        // Entries of the live folder that no capture keeps go with the old folder: say so.
        let dropped = backup_core::skipped_below(target);
        let sub = if snap.is_raw() { "raw/" } else { "" };
        let done = snap.replace_folder(&mut r, sub);
        let mut warnings = r.finish();
        done?;
        warnings.extend(skipped_warning(target, &dropped).map(|w| {
            w.replace("are not captured", "of the replaced folder were not kept")
                .replace(
                    "; a restore replaces the whole folder, and they are not kept",
                    "",
                )
        }));
        if snap.is_raw() {
            warnings.push(
                "restored the raw, unverified files of a Chroma store that could not be read \
                 when they were captured, exactly as they were"
                    .into(),
            );
        } else if captured_damaged(snap, &facts_of(snap)?) {
            warnings.push(
                "this snapshot was taken of a Chroma store that already failed its \
                 consistency checks; it is restored exactly as it was"
                    .into(),
            );
        }
        Ok(Facts::of(&ChromaRestored {
            replaced_existing: had_live,
        })?
        .with_warnings(warnings))
    }

    fn standing(&self, facts: &Facts) -> Option<Standing> {
        let f: ChromaFacts = facts.get().ok()?;
        let cols = f.collections.unwrap_or_default();
        let json: serde_json::Map<String, serde_json::Value> = cols
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    serde_json::json!({
                        "vector_max_seq_id": c.vector_max_seq_id,
                        "pending_queue_rows": c.pending_queue_rows,
                        "element_count": c.element_count,
                    }),
                )
            })
            .collect();
        let text = cols
            .iter()
            .map(|c| match c.vector_max_seq_id {
                Some(seq) => format!("{ID} '{}' indexed to seq {seq}", c.name),
                None => format!("{ID} '{}' not indexed yet", c.name),
            })
            .collect();
        Some(Standing {
            json: serde_json::json!({ "collections": json }),
            text,
        })
    }

    fn schema_differences(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<String>> {
        if snap.is_raw() {
            return Ok(Vec::new());
        }
        let facts = facts_of(snap)?;
        // A live store whose catalog cannot be read is not compared: restoring over a
        // damaged store is what a restore is for.
        let Ok(live) = catalog::open(target)
            .and_then(|c| Catalog::read(&c).map_err(|m| bad(&target.join("chroma.sqlite3"), m)))
        else {
            return Ok(Vec::new());
        };
        Ok(schema_differences(&facts, &live))
    }

    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
        let mut problems = if snap.is_raw() {
            Vec::new()
        } else {
            deep_problems(
                snap,
                &facts_of(snap)?,
                target,
                &format!("{}/", target.display()),
                true,
            )
        };
        let prefix = if snap.is_raw() {
            format!("{ID}/{RAW_DIR}/")
        } else {
            format!("{ID}/")
        };
        for entry in snap.files() {
            if let Some(rel) = entry.path.strip_prefix(&prefix) {
                problems.extend(snap.compare_restored(entry, &target.join(rel)));
            }
        }
        Ok(problems)
    }
}
