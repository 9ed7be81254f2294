//! The SQLite component: hot snapshots of a live database through SQLite's online backup API,
//! stored in rollback-journal mode so that nothing reading the snapshot creates sidecar files,
//! and a restore that never pairs a database with a stale `-wal`.
//!
//! Snapshot: one backup step copying every page (`step(-1)`) inside one read transaction, so
//! a writer in another process cannot restart it and the copy is one committed point in time.
//! Restore, in order: copy the snapshot into the private folder beside the target (checked
//! against the manifest while streaming, given the live file's owner and mode), mark it WAL
//! in its header when the live database was WAL, checkpoint the live database
//! (`wal_checkpoint(TRUNCATE)`), move its `-wal`, `-shm` and `-journal` into the private
//! folder, rename the new file over it, fsync the folder. Only after the switch are the old
//! sidecars removed; if the switch fails they go back where they were.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use backup_core::{
    fsio, Component, Configured, Descriptor, Error, Evidence, Facts, Kind, Problem, Replacement,
    Result, Setting, SnapshotFiles, Staging, Standing,
};
use serde::{Deserialize, Serialize};

pub mod canary;
pub mod db;
use db::{header, integrity, journal_mode, open_existing, open_immutable, pragma_i64, DbStats};

/// Component id, folder name and manifest key.
pub const ID: &str = "sqlite";

/// How the component introduces itself to the command line.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ID,
    what: "the SQLite database",
    path: Setting {
        flag: "db",
        env: "ATOCORE_DB_PATH",
        value_name: "FILE",
        help: "The live SQLite database file.",
    },
    settings: &[],
    lists: &[Setting {
        flag: "canary-sql",
        env: "ATOCORE_CANARY_SQL",
        value_name: "SQL",
        help: "A read-only query whose result `create` records and every restore and drill \
               checks again (repeat for more; in the environment, one per line), e.g. \
               \"SELECT count(*) FROM memories\".",
    }],
    required: true,
    restored_key: "db_restored",
    build,
};

fn build(c: &Configured) -> Box<dyn Component> {
    Box::new(SqliteComponent::with_canaries(
        c.get_all("canary-sql").to_vec(),
    ))
}

/// What a capture records in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SqliteFacts {
    /// The database's file name inside the component's folder.
    #[serde(default)]
    pub file: String,
    /// The live database's journal mode (`wal`, `delete`, ...), put back by a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_journal_mode: Option<String>,
    /// The SQLite library that made the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite_version: Option<String>,
    /// Page size and count, user and schema version of the copy.
    #[serde(flatten)]
    pub stats: DbStats,
    /// `PRAGMA integrity_check` of the copy (`ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity_check: Option<String>,
    /// The copy's schema, for the schema gate of a later restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<db::Schema>,
    /// The canary queries and what they returned on the copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<canary::Canary>,
}

/// What a restore reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SqliteRestored {
    /// The journal mode the restored file was given.
    pub journal_mode: String,
    /// Whether the live database was checkpointed before the switch.
    pub checkpointed: bool,
    /// The live sidecars moved aside (and removed after the switch).
    pub removed_sidecars: Vec<String>,
}

/// Journal modes a restore will put back.
const RESTORABLE_MODES: [&str; 4] = ["wal", "delete", "truncate", "persist"];

/// What can go wrong in this component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite refused an operation.
    #[error("{}: cannot {what}: {cause}", path.display())]
    Sql {
        /// The database file.
        path: PathBuf,
        /// What we were doing.
        what: &'static str,
        /// SQLite's error (part of the message).
        cause: rusqlite::Error,
    },
    /// The source stayed busy through every retry.
    #[error("{}: the backup could not read the database for {seconds} s (it stayed locked)", path.display())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long we tried.
        seconds: u64,
    },
    /// Something about a file is not as it must be.
    #[error("{}: {problem}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl From<SqliteError> for Error {
    fn from(e: SqliteError) -> Self {
        Error::component(ID, e)
    }
}

pub(crate) fn sql<T>(r: rusqlite::Result<T>, path: &Path, what: &'static str) -> Result<T> {
    r.map_err(|cause| {
        SqliteError::Sql {
            path: path.to_path_buf(),
            what,
            cause,
        }
        .into()
    })
}

fn bad(path: &Path, problem: impl Into<String>) -> Error {
    SqliteError::Bad {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
    .into()
}

/// The live database's sidecar files: `-wal`, `-shm`, `-journal`.
pub fn sidecars(db: &Path) -> [PathBuf; 3] {
    SIDECAR_SUFFIXES.map(|s| {
        let mut p = OsString::from(db.as_os_str());
        p.push(s);
        PathBuf::from(p)
    })
}

/// The SQLite component.
#[derive(Debug, Default, Clone)]
pub struct SqliteComponent {
    /// Canary queries `create` evaluates on the snapshot and records.
    canaries: Vec<String>,
}

impl SqliteComponent {
    /// The component.
    pub fn new() -> Self {
        SqliteComponent::default()
    }

    /// The component, recording the results of `canaries` (read-only queries) in every
    /// snapshot it takes.
    pub fn with_canaries(canaries: Vec<String>) -> Self {
        SqliteComponent { canaries }
    }
}

fn db_file_name(live: &Path) -> Result<String> {
    fsio::snapshot_name(live)
}

fn facts_of(snap: &SnapshotFiles<'_>) -> Result<SqliteFacts> {
    snap.facts().get()
}

impl Component for SqliteComponent {
    fn id(&self) -> &'static str {
        ID
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        fsio::live_file_exists(live, "a SQLite database file")
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        if out.kind() == Kind::Regular {
            return consistent_copy(live, out, &self.canaries);
        }
        // A restore is most needed when the live database is damaged: its safety snapshot
        // then keeps the raw files as they were, marked unverified. Opening a database can
        // rewrite or drop a sidecar (a bad -wal is discarded), so the sidecars are copied
        // raw first and dropped again when the consistent copy succeeds.
        let name = db_file_name(live)?;
        let mut raw_sides = Vec::new();
        for (side, suffix) in sidecars(live).iter().zip(SIDECAR_SUFFIXES) {
            // Only regular files are SQLite's: a symlink or FIFO there is never read.
            if fsio::kind_of(side)? == Some(fsio::FileType::RegularFile) {
                let rel = format!("{RAW_DIR}/{name}{suffix}");
                out.copy_in(side, &rel)?;
                raw_sides.push(rel);
            }
        }
        match consistent_copy(live, out, &self.canaries) {
            Ok(facts) => {
                for rel in &raw_sides {
                    out.discard(rel)?;
                }
                out.discard_empty_folder(RAW_DIR)?;
                Ok(facts)
            }
            Err(e) => {
                for p in std::iter::once(name.clone())
                    .chain(SIDECAR_SUFFIXES.iter().map(|s| format!("{name}{s}")))
                {
                    out.discard(&p)?;
                }
                out.copy_in(live, &format!("{RAW_DIR}/{name}"))?;
                Facts::raw(
                    e.to_string(),
                    &SqliteFacts {
                        file: name,
                        sqlite_version: Some(rusqlite::version().into()),
                        ..SqliteFacts::default()
                    },
                )
            }
        }
    }

    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        let [wal, shm, _] = sidecars(target);
        vec![target.to_path_buf(), wal, shm]
    }

    fn side_files(&self, target: &Path) -> Vec<PathBuf> {
        sidecars(target).to_vec()
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        if snap.is_raw() {
            // Raw bytes of a damaged database: the checksums (core) are all there is to check.
            return Ok(Vec::new());
        }
        validate_consistent(snap)
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        if snap.is_raw() {
            return restore_raw(snap, target);
        }
        restore_consistent(snap, target)
    }

    fn schema_differences(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<String>> {
        if snap.is_raw() {
            // The raw files of a database that could not be read: no schema to compare.
            return Ok(Vec::new());
        }
        schema_differences(snap, &facts_of(snap)?, target)
    }

    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
        if snap.is_raw() {
            let name = facts_of(snap)?.file;
            let name = name.as_str();
            return Ok(snap
                .files()
                .iter()
                .filter_map(|e| {
                    let suffix = e.path.rsplit('/').next()?.strip_prefix(name)?;
                    let mut p = OsString::from(target.as_os_str());
                    p.push(suffix);
                    snap.compare_restored(e, Path::new(&p))
                })
                .collect());
        }
        verify_consistent(snap, target)
    }

    fn standing(&self, facts: &Facts) -> Option<Standing> {
        let f: SqliteFacts = facts.get().ok()?;
        Some(Standing {
            json: serde_json::json!({
                "page_count": f.stats.page_count,
                "user_version": f.stats.user_version,
                "schema_version": f.stats.schema_version,
            }),
            text: vec![format!(
                "{ID} {} pages",
                f.stats
                    .page_count
                    .map_or_else(|| "?".to_owned(), |n| n.to_string())
            )],
        })
    }
}

/// Folder of a raw (unverified) capture inside the component's folder.
const RAW_DIR: &str = "raw";
const SIDECAR_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// The live sidecars of the database called `name`, and the names they are moved aside to
/// inside the private folder of a restore.
fn sidecar_names(name: &OsStr) -> Vec<(OsString, OsString)> {
    SIDECAR_SUFFIXES
        .iter()
        .map(|suffix| {
            let mut live = name.to_owned();
            live.push(suffix);
            (live, OsString::from(format!("old{suffix}")))
        })
        .collect()
}

/// Move the live sidecars into the private folder (nothing is deleted before the switch).
fn move_sidecars_aside(r: &Replacement) -> Result<Vec<(OsString, OsString)>> {
    let mut moved = Vec::new();
    for (live, aside) in sidecar_names(r.name()) {
        if r.move_aside(&live, &aside)? {
            moved.push((live, aside));
        }
    }
    Ok(moved)
}

/// Switch the database in; if that fails, put the sidecars back as they were.
fn switch_db(r: &mut Replacement, built: &OsStr, moved: &[(OsString, OsString)]) -> Result<()> {
    let name = r.name().to_owned();
    if let Err(e) = r.switch_file(built, &name) {
        for (live, aside) in moved {
            if let Err(back) = r.move_back(aside, live) {
                r.warn(format!("a sidecar could not be put back: {back}"));
            }
        }
        return Err(e);
    }
    Ok(())
}

/// Put raw files back as they were captured: every file is first copied into the private
/// folder, then the old sidecars are moved aside, the database is switched in, then its
/// sidecars.
fn restore_raw(snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
    let name = facts_of(snap)?.file;
    let mut r = snap.replacement(target, ID)?;
    let done = (|| -> Result<()> {
        let mut db = None;
        let mut sides = Vec::new();
        for e in snap.files() {
            let file = e.path.rsplit('/').next().unwrap_or_default();
            match file.strip_prefix(name.as_str()) {
                Some("") => db = Some(e),
                Some(suffix) if SIDECAR_SUFFIXES.contains(&suffix) => {
                    // The live sidecar's name is the target's own name (any bytes) and the
                    // suffix; the snapshot's name may be an escaped form of it.
                    let mut live_name = r.name().to_owned();
                    live_name.push(suffix);
                    sides.push((e, live_name, suffix));
                }
                _ => {}
            }
        }
        let db = db.ok_or_else(|| bad(target, "the snapshot names no database file"))?;
        let built = OsString::from("new-db");
        let owner = r.owner_for(r.name(), false, db.owner.as_ref())?;
        let w = snap.copy_out(db, r.work(), &built, owner.as_ref())?;
        r.warn_opt(w);
        let mut built_sides = Vec::new();
        for (e, live_name, suffix) in &sides {
            let tmp = OsString::from(format!("new{suffix}"));
            let owner = r.owner_for(live_name, false, e.owner.as_ref())?;
            let w = snap.copy_out(e, r.work(), &tmp, owner.as_ref())?;
            r.warn_opt(w);
            built_sides.push((tmp, live_name.clone()));
        }
        let moved = move_sidecars_aside(&r)?;
        switch_db(&mut r, &built, &moved)?;
        for (tmp, live_name) in &built_sides {
            if let Err(e) = r.switch_file(tmp, live_name) {
                r.warn(format!("a sidecar could not be put back: {e}"));
            }
        }
        Ok(())
    })();
    let mut warnings =
        vec!["restored the raw, unverified files of a damaged database as they were".to_owned()];
    warnings.extend(r.finish());
    done?;
    Ok(Facts::warnings(warnings))
}

fn consistent_copy(live: &Path, out: &mut Staging<'_>, canaries: &[String]) -> Result<Facts> {
    if let Some(why) = db::not_a_database(live)? {
        return Err(bad(live, why));
    }
    let had_wal = fsio::kind_of(&sidecars(live)[0])?.is_some();
    let src = open_existing(live)?;
    let result = copy_from(&src, live, out, canaries);
    if result.is_err() && had_wal {
        // A refused copy leaves the live -wal as it was: closing the last connection would
        // otherwise checkpoint it into a damaged file and delete it. (A -wal that this open
        // created is empty, and closing removes it as before.)
        // Setting a connection flag does not fail in practice; if it did, the refusal's own
        // reason is still the error to report.
        let _ = db::keep_wal_on_close(&src, live);
    }
    drop(src);
    result
}

/// The online backup of `src` (the live database at `live`) into the snapshot, checked.
fn copy_from(
    src: &rusqlite::Connection,
    live: &Path,
    out: &mut Staging<'_>,
    canaries: &[String],
) -> Result<Facts> {
    let name = db_file_name(live)?;
    let dest = out.dir().join(&name);
    let source_mode = journal_mode(src, live, None)?;
    let dst = db::backup_to(src, live, &dest)?;
    // Rollback-journal mode: opening the snapshot later creates no -wal/-shm.
    let mode = journal_mode(&dst, &dest, Some("DELETE"))?;
    if mode != "delete" {
        return Err(bad(&dest, format!("journal mode stayed {mode}")));
    }
    let stats = DbStats::read(&dst, &dest)?;
    let schema = db::Schema::read(&dst, &dest)?;
    let check = integrity(&dst, &dest)?;
    sql(dst.close().map_err(|(_, e)| e), &dest, "close the snapshot")?;
    if check != "ok" {
        return Err(bad(
            live,
            format!("the copy fails integrity_check ({check}); the live database may be damaged"),
        ));
    }
    // The canaries run on the copy (read-only, immutable): what they record is the snapshot.
    let mut results = Vec::new();
    if !canaries.is_empty() {
        let conn = open_immutable(&dest)?;
        for q in canaries {
            results.push(canary::run(&conn, live, q)?);
        }
    }
    let facts = Facts::of(&SqliteFacts {
        file: name.clone(),
        source_journal_mode: Some(source_mode),
        sqlite_version: Some(rusqlite::version().into()),
        stats,
        integrity_check: Some(check.clone()),
        schema: Some(schema),
        canaries: results,
    })?;
    for s in sidecars(&dest) {
        if fsio::kind_of(&s)?.is_some() {
            return Err(bad(&s, "was left beside the snapshot"));
        }
    }
    out.record_owner_of(&name, live)?;
    Ok(facts)
}

fn validate_consistent(snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
    let facts = facts_of(snap)?;
    let Some(entry) = snap.entry(&facts.file) else {
        return Ok(vec![Problem::new(
            ID,
            "the manifest names no database file for this component",
        )]);
    };
    // SQLite reads by page: the store's own file when it keeps one, else a checked copy.
    let copy = match snap.local_file(entry) {
        Ok(c) => c,
        // A store that copies out could not: core has named the damaged file already.
        Err(_) if !snap.damaged().is_empty() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let path = copy.path();
    let mut problems = Vec::new();
    let h = header(path)?;
    if &h[..16] != b"SQLite format 3\0" {
        problems.push(Problem::new(&entry.path, "is not a SQLite database file"));
        return Ok(problems);
    }
    if h[18] != 1 || h[19] != 1 {
        problems.push(Problem::new(
            &entry.path,
            "is not in rollback-journal mode, so opening it would create sidecar files",
        ));
    }
    let conn = open_immutable(path)?;
    match integrity(&conn, path) {
        Ok(c) if c == "ok" => {}
        Ok(c) => problems.push(Problem::new(&entry.path, format!("integrity_check: {c}"))),
        Err(e) => problems.push(Problem::new(&entry.path, format!("integrity_check: {e}"))),
    }
    for (key, want) in facts.stats.must_match() {
        let got = pragma_i64(&conn, path, key).ok();
        if want != got {
            problems.push(Problem::new(
                &entry.path,
                format!("{key} is {got:?}, the manifest says {want:?}"),
            ));
        }
    }
    if snap.deep() {
        check_canaries(snap, &facts, &conn, path, &entry.path, &mut problems);
    }
    Ok(problems)
}

fn restore_consistent(snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
    let facts = facts_of(snap)?;
    let entry = snap
        .entry(&facts.file)
        .ok_or_else(|| bad(target, "the snapshot names no database file"))?;
    let mode = facts.source_journal_mode.as_deref().unwrap_or("delete");
    let mut r = snap.replacement(target, ID)?;
    let mut out = SqliteRestored {
        journal_mode: mode.to_owned(),
        ..SqliteRestored::default()
    };
    let done = (|| -> Result<()> {
        let built = OsString::from("new-db");
        // 1. The new file, complete and checked, in the private folder beside the target,
        //    with the owner and mode of the file it replaces.
        let owner = r.owner_for(r.name(), false, entry.owner.as_ref())?;
        let w = snap.copy_out(entry, r.work(), &built, owner.as_ref())?;
        r.warn_opt(w);
        // 2. Give it back the journal mode the live database had. WAL is the only mode a
        //    database file records (header bytes 18 and 19 are 2); the snapshot is stored in
        //    rollback mode (1 and 1). The others are per connection, nothing to write.
        if mode == "wal" {
            let f = r.work().open_rw(&built)?;
            let at = r.work().join(&built);
            f.write_all_at(&[2, 2], 18)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io("write", &at, e))?;
        } else if !RESTORABLE_MODES.contains(&mode) {
            r.warn(format!(
                "journal mode {mode} is not restored; the file uses delete"
            ));
        }
        backup_core::failpoint("sqlite.copy-ready");
        // 3. Checkpoint the live database so its -wal holds nothing the file lacks.
        let mut checkpointed = false;
        if fsio::live_file_exists(target, "a SQLite database file")? {
            let outcome = open_existing(target).and_then(|c| {
                sql(
                    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                        row.get::<_, i64>(0)
                    }),
                    target,
                    "checkpoint",
                )
            });
            match outcome {
                Ok(0) => checkpointed = true,
                Ok(_) => r.warn("the live database's checkpoint was blocked by another connection"),
                Err(e) => r.warn(format!("the live database was not checkpointed: {e}")),
            }
        }
        out.checkpointed = checkpointed;
        backup_core::failpoint("sqlite.checkpointed");
        // 4. Move every sidecar of the old file aside: a stale -wal paired with the new file
        //    would corrupt it. They are deleted only once the switch has happened.
        let moved = move_sidecars_aside(&r)?;
        out.removed_sidecars = moved
            .iter()
            .map(|(live, _)| r.parent().join(live).to_string_lossy().into_owned())
            .collect();
        backup_core::failpoint("sqlite.sidecars-removed");
        // 5. The switch: one rename, then the folder fsync.
        switch_db(&mut r, &built, &moved)?;
        backup_core::failpoint("sqlite.switched");
        Ok(())
    })();
    let warnings = r.finish();
    done?;
    Ok(Facts::of(&out)?.with_warnings(warnings))
}

fn verify_consistent(snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
    let facts = facts_of(snap)?;
    let where_ = target.to_string_lossy().into_owned();
    let conn = open_existing(target)?;
    let mut problems = Vec::new();
    let check = integrity(&conn, target)?;
    if check != "ok" {
        problems.push(Problem::new(&where_, format!("integrity_check: {check}")));
    }
    for (key, want) in facts.stats.must_match() {
        let got = pragma_i64(&conn, target, key).ok();
        if want != got {
            problems.push(Problem::new(
                &where_,
                format!("{key} is {got:?}, the snapshot has {want:?}"),
            ));
        }
    }
    // Only WAL is recorded in the file; a fresh connection reports delete for the others.
    let want_mode = match facts.source_journal_mode.as_deref().unwrap_or("delete") {
        "wal" => "wal",
        _ => "delete",
    };
    let got_mode = journal_mode(&conn, target, None)?;
    if got_mode != want_mode {
        problems.push(Problem::new(
            &where_,
            format!("journal mode is {got_mode}, the live database had {want_mode}"),
        ));
    }
    drop(conn);
    if !facts.canaries.is_empty() {
        // On a connection of their own that can only read.
        let reader = open_live_read_only(target)?;
        check_canaries(snap, &facts, &reader, target, &where_, &mut problems);
    }
    Ok(problems)
}

/// How the snapshot is older than the live database at `target`: a lower `user_version`,
/// tables, columns or other objects the live one has and it lacks. Both sides are read from
/// the databases themselves (the snapshot's checked copy, not the manifest's record of it). A
/// live database that cannot be read is not compared: restoring over a damaged store is what
/// a restore is for.
fn schema_differences(
    snap: &SnapshotFiles<'_>,
    facts: &SqliteFacts,
    target: &Path,
) -> Result<Vec<String>> {
    let Some(entry) = snap.entry(&facts.file) else {
        return Ok(Vec::new());
    };
    let copy = snap.local_file(entry)?;
    let (snap_version, snap_schema) = {
        let conn = open_immutable(copy.path())?;
        (
            pragma_i64(&conn, copy.path(), "user_version").ok(),
            db::Schema::read(&conn, copy.path())?,
        )
    };
    let Ok(conn) = open_live_read_only(target) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let live_version = pragma_i64(&conn, target, "user_version").ok();
    if let (Some(snap), Some(live)) = (snap_version, live_version) {
        if snap < live {
            out.push(format!(
                "user_version is {snap} in the snapshot and {live} live (the live database was \
                 migrated after this snapshot was taken)"
            ));
        }
    }
    if let Ok(live) = db::Schema::read(&conn, target) {
        if snap_schema.sha256 != live.sha256 {
            out.extend(snap_schema.missing_from(&live));
        }
    }
    Ok(out)
}

/// Open the live database at `target` only to read it, with its `-wal`: without a `-wal` the
/// main file is the whole database and is opened immutable, which creates nothing beside it
/// (a read-only open of a WAL database would leave a `-wal` and `-shm`); with one, read-only.
fn open_live_read_only(target: &Path) -> Result<rusqlite::Connection> {
    if fsio::kind_of(&sidecars(target)[0])?.is_some() {
        db::open_read_only(target)
    } else {
        open_immutable(target)
    }
}

/// Run the canaries the snapshot recorded on `conn` (the database at `path`) and compare:
/// each is a proof, and a mismatch or a failure is a problem about `label`.
fn check_canaries(
    snap: &SnapshotFiles<'_>,
    facts: &SqliteFacts,
    conn: &rusqlite::Connection,
    path: &Path,
    label: &str,
    problems: &mut Vec<Problem>,
) {
    for recorded in &facts.canaries {
        let (passed, found, text) = match canary::run(conn, path, &recorded.sql) {
            Ok(now) if now.rows == recorded.rows => (
                true,
                serde_json::to_value(&now.rows).unwrap_or_default(),
                format!(
                    "canary {:?} returned {}, as recorded",
                    recorded.sql,
                    now.shown()
                ),
            ),
            Ok(now) => (
                false,
                serde_json::to_value(&now.rows).unwrap_or_default(),
                format!(
                    "canary {:?} returned {}, the snapshot recorded {}",
                    recorded.sql,
                    now.shown(),
                    recorded.shown()
                ),
            ),
            Err(e) => (
                false,
                serde_json::Value::Null,
                format!("canary {:?} could not run: {e}", recorded.sql),
            ),
        };
        if !passed {
            problems.push(Problem::new(label, text.clone()));
        }
        snap.attest(Evidence {
            component: String::new(),
            check: "canary".into(),
            subject: recorded.sql.clone(),
            passed,
            value: serde_json::json!({
                "sql": recorded.sql,
                "recorded": recorded.rows,
                "found": found,
            }),
            text,
        });
    }
}
