//! Canary queries: `create` records what read-only queries return on the snapshot, and every
//! restore and drill runs them again on the restored database. A value that differs (a
//! manifest whose recorded value was changed, a database changed after the restore) fails the
//! drill and the restore's verification; a query that would write is refused.

use std::fs;
use std::process::Output;

use serde_json::Value;

mod common;
use common::{code, env, json, stderr, stop_at, Env};

const COUNT: &str = "SELECT count(*) FROM memories";
const FIRST: &str = "SELECT content FROM memories ORDER BY id LIMIT 1";

/// Run with the canaries given through the environment, one per line, as a cron line or a
/// unit file would.
fn run_with_canaries(e: &Env, args: &[&str], canaries: &str) -> Output {
    e.run_env(
        args,
        &[
            ("ATOCORE_DB_PATH", e.db.as_os_str()),
            ("ATOCORE_PROJECT_REGISTRY_PATH", e.registry.as_os_str()),
            ("ATOCORE_BACKUP_DIR", e.backups.as_os_str()),
            ("ATOCORE_CANARY_SQL", std::ffi::OsStr::new(canaries)),
            ("ATOCORE_CANARY_TIMEOUT", std::ffi::OsStr::new("2")),
        ],
    )
}

fn canary_proofs(v: &Value) -> Vec<Value> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["check"] == "canary")
        .cloned()
        .collect()
}

fn sqlite_evidence(restored: &Value) -> Vec<Value> {
    let c = restored["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sqlite")
        .unwrap();
    canary_proofs(&c["evidence"])
}

fn add_rows(e: &Env, n: usize) {
    let c = rusqlite::Connection::open(&e.db).unwrap();
    for i in 0..n {
        c.execute(
            "INSERT INTO memories(content) VALUES (?1)",
            [format!("later-{i}")],
        )
        .unwrap();
    }
}

#[test]
fn canaries_recorded_at_create_are_checked_by_every_drill_and_restore() {
    let e = env();
    let out = run_with_canaries(&e, &["create", "--json"], &format!("{COUNT}\n{FIRST}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created = json(&out);
    let stamp = created["stamp"].as_str().unwrap().to_owned();
    let facts = &created["components"][0]["facts"];
    assert_eq!(
        facts["canaries"],
        serde_json::json!([
            {"sql": COUNT, "rows": [[500]]},
            {"sql": FIRST, "rows": [["baseline-0"]]},
        ])
    );
    // The live store moves on; the snapshot's canaries still hold for the snapshot.
    add_rows(&e, 7);
    let out = e.run(&["drill", &stamp, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let proofs = canary_proofs(&report["evidence"]);
    assert_eq!(proofs.len(), 2, "{report}");
    assert!(proofs.iter().all(|p| p["passed"] == true), "{proofs:?}");
    assert_eq!(proofs[0]["value"]["found"], serde_json::json!([[500]]));
    let log = fs::read_to_string(e.backups.join("drills.jsonl")).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["evidence"], report["evidence"]);
    // validate --deep runs them on the snapshot itself.
    let out = e.run(&["validate", "--deep", &stamp, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(canary_proofs(&json(&out)["evidence"]).len(), 2);
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let restored = json(&out);
    assert_eq!(restored["restored_integrity_ok"], true);
    let proofs = sqlite_evidence(&restored);
    assert_eq!(proofs.len(), 2);
    assert!(proofs.iter().all(|p| p["passed"] == true), "{proofs:?}");
    assert_eq!(e.memories(&e.db).len(), 500);
}

#[test]
fn a_tampered_canary_value_fails_the_drill_and_is_refused_by_the_restore() {
    let e = env();
    let out = run_with_canaries(&e, &["create", "--json"], COUNT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    // Someone who can write the backup dir changes the recorded value.
    let mpath = e.manifest_path(&stamp);
    let text = fs::read_to_string(&mpath).unwrap();
    let mut m: Value = serde_json::from_str(&text).unwrap();
    let facts = &mut m["components"][0]["facts"];
    assert_eq!(facts["canaries"][0]["rows"], serde_json::json!([[500]]));
    facts["canaries"][0]["rows"] = serde_json::json!([[499]]);
    fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let out = e.run(&["drill", &stamp, "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert!(
        report["problems"].to_string().contains("[[500]]")
            && report["problems"].to_string().contains("recorded [[499]]"),
        "{report}"
    );
    // A restore runs the canaries in its validation gate: the snapshot's database does not
    // return what its manifest recorded, so nothing is touched.
    e.mutate();
    let before = e.live_bytes();
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was changed") && err.contains("recorded [[499]]"),
        "{err}"
    );
    assert!(e.live_bytes() == before, "the live store is byte-identical");
}

#[test]
fn a_database_changed_after_the_restore_fails_its_verification() {
    let e = env();
    let out = run_with_canaries(&e, &["create", "--json"], COUNT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ATOCORE_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["restore", &stamp, "--confirm-service-stopped", "--json"])
        .env("ATOCORE_DB_PATH", &e.db)
        .env("ATOCORE_PROJECT_REGISTRY_PATH", &e.registry)
        .env("ATOCORE_BACKUP_DIR", &e.backups)
        .env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (child, err) = stop_at(cmd, "restore.after-sqlite");
    // Switched in, not yet verified: a writer gets in first.
    add_rows(&e, 1);
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("canary") && err.contains("[[501]]") && err.contains("recorded [[500]]"),
        "{err}"
    );
}

#[test]
fn a_canary_that_would_write_or_is_not_one_query_is_refused_and_nothing_is_written() {
    let e = env();
    for (sql, says) in [
        ("DELETE FROM memories", "a canary must be a read-only query"),
        (
            "UPDATE memories SET content = 'x'",
            "a canary must be a read-only query",
        ),
        (
            "ATTACH DATABASE 'other.db' AS x",
            "a canary must be a read-only query",
        ),
        ("PRAGMA user_version", "a canary must be a read-only query"),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
             SELECT count(*) FROM r",
            "ran longer than 2 s",
        ),
        ("SELECT zeroblob(2000000)", "too big"),
        // The authorizer refuses the second statement before SQLite counts the statements.
        (
            "SELECT 1; DELETE FROM memories",
            "a canary must be a read-only query",
        ),
        ("SELECT * FROM no_such_table", "no such table"),
        ("SELECT id FROM memories", "more than 100 rows"),
    ] {
        let out = run_with_canaries(&e, &["create"], sql);
        assert_eq!(code(&out), 2, "{sql}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says) && err.contains(sql), "{sql}: {err}");
        assert!(
            err.contains(e.db.to_str().unwrap()),
            "names the database: {err}"
        );
        assert_eq!(e.memories(&e.db).len(), 500, "{sql}");
    }
    let out = e.run(&["list", "--json"]);
    assert_eq!(json(&out)["snapshots"], serde_json::json!([]));
}

#[test]
fn real_valued_canaries_read_back_exactly() {
    // Sixty reals recorded in the manifest's JSON and read back: each must parse to the
    // very double SQLite returned, or the restore's comparison fails.
    let e = env();
    let q = "SELECT id / 7.0, id * 0.1 FROM memories WHERE id <= 60 ORDER BY id";
    let out = run_with_canaries(&e, &["create", "--json"], q);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    let out = e.run(&["drill", &stamp, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let proofs = canary_proofs(&json(&out)["evidence"]);
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0]["passed"], true, "{:?}", proofs[0]);
    assert_eq!(proofs[0]["value"]["found"][59][0], 60.0 / 7.0);
}
