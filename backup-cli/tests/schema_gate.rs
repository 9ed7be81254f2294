//! The schema gate: before a live restore, each store's schema in the snapshot is compared
//! with the live one's. A snapshot older than a migrated live database, or a Chroma folder of
//! another migration level, is refused (exit 2) naming the differences, with every live file
//! byte-identical; `--allow-schema-change` restores it anyway. Restoring one store of a
//! snapshot without the other says how far apart they will be.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use rusqlite::Connection;

mod common;
use common::{code, env, json, scene, stderr};

/// The service's migration.
fn migrate(db: &std::path::Path) {
    Connection::open(db)
        .unwrap()
        .execute_batch(
            "ALTER TABLE memories ADD COLUMN project TEXT;
             CREATE INDEX memories_project ON memories(project);
             PRAGMA user_version = 2;",
        )
        .unwrap();
}

/// A later migration, left in the -wal (not checkpointed, as after a crash): the gate must
/// read the database with its WAL.
fn migrate_in_wal(db: &std::path::Path) {
    let c = Connection::open(db).unwrap();
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    c.execute_batch("ALTER TABLE memories ADD COLUMN source TEXT; PRAGMA user_version = 3;")
        .unwrap();
    drop(c);
    let wal = std::fs::metadata(format!("{}-wal", db.display())).unwrap();
    assert!(wal.len() > 0, "the migration is in the -wal");
}

/// The live store's files, without the lock files a restore leaves beside them and the
/// `-shm` (an index of the -wal that every reader updates and SQLite rebuilds on open: not
/// data, and not kept byte for byte; docs/backup-restore-drill.md).
fn store_bytes(e: &common::Env) -> BTreeMap<PathBuf, Vec<u8>> {
    e.live_bytes()
        .into_iter()
        .filter(|(p, _)| {
            let p = p.to_string_lossy();
            !p.ends_with(".atocore-backup.lock") && !p.ends_with("-shm")
        })
        .collect()
}

fn snapshots(e: &common::Env) -> usize {
    let out = e.run(&["list", "--json"]);
    json(&out)["snapshots"].as_array().unwrap().len()
}

#[test]
fn an_older_schema_is_refused_over_a_migrated_database_unless_allowed() {
    let e = env();
    let old = e.create();
    let facts = {
        let out = e.run(&["list", "--json"]);
        json(&out)["snapshots"][0]["captured"].clone()
    };
    assert!(facts.to_string().contains("user_version"), "{facts}");
    migrate(&e.db);
    let new = e.create();
    migrate_in_wal(&e.db);
    let before = store_bytes(&e);
    let count = snapshots(&e);
    let out = e.run(&["restore", &old, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    for said in [
        "does not have the live store's schema",
        "nothing was changed",
        "user_version is 0 in the snapshot and 3 live",
        "table memories: column(s) project, source exist live",
        "index memories_project exists live",
        "--allow-schema-change",
    ] {
        assert!(err.contains(said), "{said}: {err}");
    }
    let after = store_bytes(&e);
    let changed: Vec<&PathBuf> = after
        .keys()
        .chain(before.keys())
        .filter(|k| after.get(*k) != before.get(*k))
        .collect();
    assert!(changed.is_empty(), "live files changed: {changed:?}");
    assert_eq!(snapshots(&e), count, "no pre-restore snapshot was taken");
    // Allowed: restored, and the JSON says what was allowed.
    let out = e.run(&[
        "restore",
        &old,
        "--confirm-service-stopped",
        "--allow-schema-change",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert!(v["notes"].to_string().contains("column(s) project"), "{v}");
    let c = Connection::open(&e.db).unwrap();
    let cols: i64 = c
        .query_row(
            "SELECT count(*) FROM pragma_table_info('memories') WHERE name = 'project'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cols, 0, "the old schema is back");
    drop(c);
    // A newer snapshot over the older live database is a migration forward: not refused.
    let out = e.run(&["restore", &new, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // And one a column older than the live database is refused again.
    migrate_in_wal(&e.db);
    let out = e.run(&["restore", &new, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("user_version is 2 in the snapshot and 3 live")
            && err.contains("column(s) source exist live")
            && !err.contains("project"),
        "{err}"
    );
}

#[test]
fn a_chroma_folder_of_another_migration_level_is_refused_unless_allowed() {
    let s = scene();
    // A snapshot of a folder written by chromadb 0.6.3 ...
    fs::remove_dir_all(&s.chroma).unwrap();
    backup_core::conformance::copy_tree(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/chroma/0.6.3/small"),
        &s.chroma,
    );
    let old = s.create();
    // ... while the live folder has since been migrated by 1.5.9.
    fs::remove_dir_all(&s.chroma).unwrap();
    backup_core::conformance::copy_tree(&common::small_chroma_fixture(), &s.chroma);
    let before = store_bytes(&s.env);
    let chroma_before = backup_core::conformance::tree_bytes(&s.chroma);
    let out = s.run(&["restore", &old, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("chroma: migration level of sysdb is 9 in the snapshot and 10 live"),
        "{err}"
    );
    assert!(
        !err.contains("sqlite:"),
        "the database did not change: {err}"
    );
    assert!(
        store_bytes(&s.env) == before,
        "the live files are byte-identical"
    );
    assert!(
        backup_core::conformance::tree_bytes(&s.chroma) == chroma_before,
        "the live Chroma folder is byte-identical"
    );
    let out = s.run(&[
        "restore",
        &old,
        "--confirm-service-stopped",
        "--allow-schema-change",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("restoring across a schema change"));
}

#[test]
fn restoring_one_store_without_the_other_says_how_far_apart_they_are() {
    let s = scene();
    let stamp = s.create();
    let out = s.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--skip",
        "chroma",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let notes = json(&out)["notes"].to_string();
    assert!(
        notes.contains("without chroma, which this snapshot also holds")
            && notes.contains("disagree about what exists"),
        "{notes}"
    );
    // Only the skipped store is named as left alone.
    assert!(!notes.contains("without sqlite"), "{notes}");
    // A restore of every store says nothing of the kind.
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!json(&out)["notes"].to_string().contains("without"));
}
