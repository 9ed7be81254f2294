//! SqliteComponent against real SQLite files: the conformance suite, then what is specific to
//! SQLite (WAL sidecars, journal modes, snapshots that stay sidecar-free when opened).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use backup_core::conformance::{tree_bytes, Fixture, Setup};
use backup_core::{Error, Kind, Targets};
use backup_sqlite::{sidecars, SqliteComponent};
use rusqlite::Connection;

/// A WAL-mode database shaped like the service's memory store.
struct MemoryDb;

impl Fixture for MemoryDb {
    fn make_live(&self, dir: &Path) -> PathBuf {
        let path = dir.join("atocore.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA user_version=7;
             CREATE TABLE memories(id INTEGER PRIMARY KEY, project TEXT, content TEXT);
             CREATE INDEX memories_project ON memories(project);",
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..3000 {
            tx.execute(
                "INSERT INTO memories(project, content) VALUES (?1, ?2)",
                (
                    format!("p{}", i % 7),
                    format!("baseline memory {i} {}", "x".repeat(i % 300)),
                ),
            )
            .unwrap();
        }
        tx.commit().unwrap();
        path
    }

    fn mutate(&self, live: &Path) {
        let c = Connection::open(live).unwrap();
        c.execute_batch(
            "INSERT INTO memories(project, content) VALUES ('p0', 'MUTATION-MARKER');
             DELETE FROM memories WHERE id % 10 = 3;",
        )
        .unwrap();
    }

    fn content(&self, live: &Path) -> String {
        let c = Connection::open(live).unwrap();
        let uv: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let rows: String = c
            .query_row(
                "SELECT group_concat(id || ':' || project || ':' || content, '\n') FROM
                 (SELECT * FROM memories ORDER BY id)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        format!("user_version={uv}\n{rows}")
    }
}

backup_core::conformance_tests!(
    backup_sqlite::SqliteComponent::new(),
    super::MemoryDb,
    remote = atocore_backup_tests::s3::remote
);

fn setup() -> Setup {
    Setup::new(Box::new(SqliteComponent::new()), &MemoryDb)
}

fn marker_count(dir: &Path, marker: &[u8]) -> usize {
    tree_bytes(dir)
        .values()
        .filter(|b| b.windows(marker.len()).any(|w| w == marker))
        .count()
}

#[test]
fn snapshot_is_rollback_journal_mode_and_stays_sidecar_free_when_opened() {
    let s = setup();
    let m = s.create();
    let rec = m.component("sqlite").unwrap();
    assert_eq!(rec.facts.own["source_journal_mode"], "wal");
    assert_eq!(rec.facts.own["integrity_check"], "ok");
    assert_eq!(rec.facts.own["user_version"], 7);
    let db = s.snapshot_dir(&m).join(&rec.files[0].path);
    let bytes = fs::read(&db).unwrap();
    assert_eq!(
        (bytes[18], bytes[19]),
        (1, 1),
        "header says rollback journal"
    );
    // What an operator does with the sqlite3 shell: open, read, close.
    let c = Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM memories", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3000);
    drop(c);
    for side in sidecars(&db) {
        assert!(!side.exists(), "{} created", side.display());
    }
    assert_eq!(s.problems(&m), Vec::<String>::new());
    // Validation itself leaves the snapshot folder exactly as it was.
    let before = tree_bytes(&s.snapshot_dir(&m));
    assert_eq!(s.problems(&m), Vec::<String>::new());
    assert_eq!(tree_bytes(&s.snapshot_dir(&m)), before);
}

#[test]
fn restore_cleans_stale_sidecars_and_restores_wal_mode() {
    let s = setup();
    let original = MemoryDb.content(&s.live);
    let m = s.create();
    MemoryDb.mutate(&s.live);
    let marker = b"STALE-SIDECAR-MARKER-0123456789";
    for side in sidecars(&s.live) {
        let mut junk = marker.repeat(200);
        junk.truncate(4096);
        fs::write(&side, &junk).unwrap();
    }
    let live_dir = s.live.parent().unwrap().to_path_buf();
    assert_eq!(marker_count(&live_dir, marker), 3);
    let report = s.restore(&m, s.live_targets(), true, true).unwrap();
    assert!(report.verified(), "{:?}", report.components);
    assert_eq!(
        marker_count(&live_dir, marker),
        0,
        "no stale byte survives beside the restored db"
    );
    assert_eq!(MemoryDb.content(&s.live), original);
    let c = Connection::open(&s.live).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn restore_keeps_delete_mode_of_a_rollback_journal_database() {
    let s = setup();
    Connection::open(&s.live)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=DELETE")
        .unwrap();
    let m = s.create();
    assert_eq!(
        m.component("sqlite").unwrap().facts.own["source_journal_mode"],
        "delete"
    );
    MemoryDb.mutate(&s.live);
    s.restore(&m, s.live_targets(), true, false).unwrap();
    let bytes = fs::read(&s.live).unwrap();
    assert_eq!((bytes[18], bytes[19]), (1, 1));
    assert!(!MemoryDb.content(&s.live).contains("MUTATION-MARKER"));
}

#[test]
fn a_folder_or_a_non_database_is_refused_with_its_path() {
    let s = setup();
    let folder = s.tmp.path().join("a-folder.db");
    fs::create_dir(&folder).unwrap();
    let store = backup_core::FolderStore::new(&s.backup_dir);
    let o = backup_core::Orchestrator::new(&store, &s.known);
    let src = |p: &Path| backup_core::Source {
        id: "sqlite".into(),
        path: p.to_path_buf(),
    };
    let err = o.create(&[src(&folder)], Kind::Regular).unwrap_err();
    assert!(matches!(err, Error::NotRegular { .. }), "{err}");
    assert!(err.to_string().contains("a-folder.db") && err.to_string().contains("folder"));
    let text = s.tmp.path().join("notes.txt");
    fs::write(
        &text,
        "this is not a database, just some words ".repeat(100),
    )
    .unwrap();
    let err = o
        .create(&[src(&text)], Kind::Regular)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("notes.txt") && err.contains("not a database"),
        "{err}"
    );
    let missing = s.tmp.path().join("missing.db");
    let err = o
        .create(&[src(&missing)], Kind::Regular)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing.db") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!missing.exists(), "a missing database is never created");
    let (list, leftovers) = o.list().unwrap();
    assert!(
        list.is_empty() && leftovers.is_empty(),
        "failed creates leave nothing"
    );
}

#[test]
fn stray_wal_beside_snapshot_db_is_caught_and_restore_refuses() {
    let s = setup();
    let m = s.create();
    MemoryDb.mutate(&s.live);
    let rec = m.component("sqlite").unwrap();
    let db = s.snapshot_dir(&m).join(&rec.files[0].path);
    let wal = sidecars(&db)[0].clone();
    fs::write(&wal, b"not a wal").unwrap();
    let problems = s.problems(&m);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("atocore.db-wal") && p.contains("not listed")),
        "{problems:?}"
    );
    let before = tree_bytes(s.live.parent().unwrap());
    let err = s.restore(&m, s.live_targets(), true, true).unwrap_err();
    assert!(err.is_negative_answer(), "{err}");
    assert_eq!(tree_bytes(s.live.parent().unwrap()), before);
}

#[test]
fn restore_with_target_given_differs_from_recorded_source() {
    let s = setup();
    let original = MemoryDb.content(&s.live);
    let m = s.create();
    let other = s.tmp.path().join("moved").join("renamed.db");
    s.restore(
        &m,
        Targets::Live(BTreeMap::from([("sqlite".to_owned(), other.clone())])),
        true,
        true,
    )
    .unwrap();
    assert_eq!(MemoryDb.content(&other), original);
}

#[test]
fn restore_over_a_corrupt_live_database_keeps_its_raw_files_in_the_safety_snapshot() {
    for damage in ["pages", "not-a-database"] {
        let s = setup();
        let original = MemoryDb.content(&s.live);
        let m = s.create();
        let mut bytes = fs::read(&s.live).unwrap();
        match damage {
            "pages" => bytes[4096 * 3..4096 * 9].fill(0xAB),
            _ => bytes = b"this was a database until someone overwrote it".repeat(500),
        }
        fs::write(&s.live, &bytes).unwrap();
        let wal = sidecars(&s.live)[0].clone();
        fs::write(&wal, b"garbage that is not a WAL").unwrap();
        let report = s.restore(&m, s.live_targets(), true, true).unwrap();
        assert!(report.verified(), "{damage}: {:?}", report.components);
        assert_eq!(MemoryDb.content(&s.live), original, "{damage}");
        let pre = report
            .pre_restore_snapshot
            .expect("a safety snapshot, even of a damaged db");
        let pre_dir = s.backup_dir.join("snapshots").join(&pre);
        let pre_m = backup_core::Manifest::read(&pre_dir.join(backup_core::MANIFEST_NAME)).unwrap();
        let facts = &pre_m.component("sqlite").unwrap().facts;
        assert_eq!((facts.raw, facts.verified), (true, Some(false)));
        assert_eq!(
            fs::read(pre_dir.join("sqlite/raw/atocore.db")).unwrap(),
            bytes,
            "{damage}"
        );
        assert_eq!(
            fs::read(pre_dir.join("sqlite/raw/atocore.db-wal")).unwrap(),
            b"garbage that is not a WAL"
        );
        assert_eq!(s.problems(&pre_m), Vec::<String>::new(), "{damage}");
        // Restoring the safety snapshot elsewhere gives back the damaged files exactly.
        let into = s.tmp.path().join(format!("back-{damage}"));
        let r = s
            .restore(&pre_m, Targets::Into(into.clone()), false, false)
            .unwrap();
        assert!(r.verified(), "{:?}", r.components);
        assert_eq!(fs::read(into.join("atocore.db")).unwrap(), bytes);
        assert_eq!(
            fs::read(into.join("atocore.db-wal")).unwrap(),
            b"garbage that is not a WAL"
        );
    }
}

/// Leave commits in the live `-wal` (the connection closes without checkpointing, as a
/// killed service would leave them).
fn commits_left_in_wal(live: &Path) {
    let c = Connection::open(live).unwrap();
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    c.execute_batch(
        "PRAGMA wal_autocheckpoint=0;
         INSERT INTO memories(project, content) VALUES ('p1', 'ONLY-IN-THE-WAL');",
    )
    .unwrap();
}

#[test]
fn a_refused_create_leaves_a_damaged_database_and_its_wal_byte_identical() {
    for damage in ["pages", "header"] {
        let s = setup();
        commits_left_in_wal(&s.live);
        let wal = sidecars(&s.live)[0].clone();
        assert!(fs::metadata(&wal).unwrap().len() > 0);
        let mut bytes = fs::read(&s.live).unwrap();
        match damage {
            "pages" => bytes[4096 * 3..4096 * 9].fill(0xAB),
            _ => bytes[..16].fill(0),
        }
        fs::write(&s.live, &bytes).unwrap();
        let before_db = fs::read(&s.live).unwrap();
        let before_wal = fs::read(&wal).unwrap();
        let store = backup_core::FolderStore::new(&s.backup_dir);
        let o = backup_core::Orchestrator::new(&store, &s.known);
        let err = o
            .create(
                &[backup_core::Source {
                    id: "sqlite".into(),
                    path: s.live.clone(),
                }],
                Kind::Regular,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("atocore.db"), "{damage}: {err}");
        assert_eq!(fs::read(&s.live).unwrap(), before_db, "{damage}: the db");
        assert_eq!(
            fs::read(&wal).ok(),
            Some(before_wal),
            "{damage}: the -wal and its commits"
        );
    }
}
