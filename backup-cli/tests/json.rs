//! Every command's `--json` output read back through its published type
//! (`backup_cli::json`), as a script would: the shapes are public API (docs/output.md).

use std::collections::BTreeSet;
use std::path::Path;

use backup_cli::json::{self, FORMAT_VERSION};

mod common;
use common::{code, env, stderr, typed};

#[test]
fn every_command_prints_its_published_shape() {
    let e = env();
    let out = e.run(&["create", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created: json::Created = typed(&out);
    assert_eq!(created.format_version, FORMAT_VERSION);
    assert_eq!(created.backup_root.to_path().unwrap(), e.backups);
    let stored = created.stored.expect("a repository says what it stored");
    assert!(stored.added_bytes > 0 && stored.new_chunks == stored.chunks);
    let db = &created.components[0];
    assert_eq!((db.id.as_str(), db.present), ("sqlite", true));
    assert_eq!(db.source.as_ref().unwrap().to_path().unwrap(), e.db);
    assert_eq!(db.files.len(), 1);
    let sqlite: backup_sqlite::SqliteFacts = db.facts.get().unwrap();
    assert_eq!(sqlite.integrity_check.as_deref(), Some("ok"));
    assert!(sqlite.stats.page_count.unwrap() > 1);
    assert!(!db.facts.raw);

    let out = e.run(&["list", "--json"]);
    let listed: json::Listed = typed(&out);
    assert_eq!(listed.format_version, FORMAT_VERSION);
    let row = &listed.snapshots[0];
    assert_eq!(row.stamp, created.stamp);
    assert_eq!(row.error, None);
    assert_eq!(row.kind.as_deref(), Some("regular"));
    assert_eq!(
        row.manifest_format_version,
        Some(backup_core::FORMAT_VERSION)
    );
    assert_eq!(
        row.captured.as_ref().unwrap()["sqlite"]["page_count"],
        sqlite.stats.page_count.unwrap()
    );

    let out = e.run(&["validate", &created.stamp, "--json"]);
    let v: json::Validated = typed(&out);
    assert!(v.valid && v.errors.is_empty(), "{:?}", v.errors);
    assert_eq!(v.captured, *row.captured.as_ref().unwrap());

    e.mutate();
    let out = e.run(&[
        "restore",
        &created.stamp,
        "--confirm-service-stopped",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r: json::Restored = typed(&out);
    assert_eq!(r.format_version, FORMAT_VERSION);
    assert!(r.restored_integrity_ok);
    assert!(r.pre_restore_snapshot.is_some());
    assert!(r.open_file_check.as_ref().unwrap().available);
    // The service's original keys, one per registered component, exactly as it named them.
    let keys: BTreeSet<&str> = r.restored.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = backup_cli::components::KNOWN
        .iter()
        .map(|d| d.restored_key)
        .collect();
    assert_eq!(keys, want);
    for k in ["db_restored", "registry_restored", "chroma_restored"] {
        assert!(keys.contains(k), "{k}");
    }
    assert_eq!(r.restored["db_restored"], true);
    assert_eq!(r.restored["registry_restored"], true);
    assert_eq!(r.restored["chroma_restored"], false, "not configured");
    let restored_db = r.components.iter().find(|c| c.id == "sqlite").unwrap();
    assert_eq!(restored_db.target.to_path().unwrap(), e.db);
    let done: backup_sqlite::SqliteRestored = restored_db.facts.get().unwrap();
    assert_eq!(done.journal_mode, "wal");

    let out = e.run(&["drill", &created.stamp, "--json"]);
    let d: json::Drilled = typed(&out);
    assert!(d.ok, "{:?}", d.problems);
    assert_eq!(d.components, ["sqlite", "registry"]);
    assert_eq!(
        d.drill_log.to_path().unwrap(),
        e.backups.join("drills.jsonl")
    );
    assert!(d.sample.is_none());

    let out = e.run(&["status", "--json"]);
    let s: json::Status = typed(&out);
    assert_eq!(s.backup_dir.to_path().unwrap(), e.backups);
    assert_eq!(
        s.snapshots, 2,
        "the snapshot and its pre-restore safety snapshot"
    );
    assert!(s.unfinished_restore.is_none());
    assert!(!s.lock.held);

    // What an upload cut short leaves: its marker.
    std::fs::write(e.object("uploads/20200101T000000Z"), b"").unwrap();
    let out = e.run(&["cleanup", "--json"]);
    let c: json::Cleaned = typed(&out);
    assert_eq!(c.removed.len(), 1);
    assert!(c.removed[0]
        .to_path()
        .unwrap()
        .ends_with(Path::new("uploads/20200101T000000Z")));
    assert!(c.kept.is_empty() && c.left_alone.is_empty());
}

#[test]
fn drill_sample_reports_the_sample_it_built() {
    let e = env();
    let out = e.run_env(&["drill", "--sample", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let d: json::Drilled = typed(&out);
    let s = d.sample.expect("the sample");
    assert!(s.memories_live_now > s.memories_at_backup);
    assert!(d.ok);
    std::fs::remove_dir_all(s.dir.to_path().unwrap()).unwrap();
}
