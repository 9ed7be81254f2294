//! The `atocore-backup` binary end to end: JSON keys (checked by deserializing), exit codes,
//! the seed's restore tests, and bad input that must give a message, never a panic.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::Value;

use backup_core::conformance::copy_tree;

mod common;
use common::{backup_dir_bytes, code, env, json, stderr, Env};

#[test]
fn create_list_validate_json_keys_and_exit_codes() {
    let e = env();
    assert!(!e.backups.exists());
    let out = e.run(&["create", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    let stamp = v["stamp"].as_str().unwrap();
    assert_eq!(v["format_version"], backup_cli::json::FORMAT_VERSION);
    // A repository keeps the snapshot in its chunks: the root is the backup dir.
    assert_eq!(PathBuf::from(v["backup_root"].as_str().unwrap()), e.backups);
    let stored = &v["stored"];
    assert_eq!(
        stored["new_chunks"], stored["chunks"],
        "a first snapshot: {v}"
    );
    assert!(stored["added_bytes"].as_u64().unwrap() > 0);
    let ids: Vec<_> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sqlite", "registry"]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&e.backups).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let out = e.run(&["create", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = json(&out)["stamp"].as_str().unwrap().to_owned();
    assert!(
        second.as_str() > stamp,
        "a second create in the same second waits"
    );
    assert_eq!(
        json(&out)["stored"]["new_chunks"],
        0,
        "nothing changed, nothing new is stored"
    );

    let out = e.run(&["list", "--json"]);
    assert_eq!(code(&out), 0);
    let rows = common::listed(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["stamp"], second.as_str(), "newest first");
    assert_eq!(rows[1]["stamp"], stamp);
    for r in rows {
        assert_eq!(r["kind"], "regular");
        assert!(r["size"].as_u64().unwrap() > 0);
        assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r["components"], serde_json::json!(["sqlite", "registry"]));
    }

    let out = e.run(&["validate", stamp, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        (v["valid"].clone(), v["errors"].clone()),
        (Value::Bool(true), serde_json::json!([]))
    );
    assert_eq!(v["stamp"], stamp);

    // Global options before the subcommand work as well as after it.
    let out = e.run(&[
        "--json",
        "--backup-dir",
        e.backups.to_str().unwrap(),
        "list",
    ]);
    assert_eq!(common::listed(&out).as_array().unwrap().len(), 2);
    // Human output.
    let out = e.run(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(stamp));
}

#[test]
fn validate_flags_a_flipped_byte_in_every_snapshot_file() {
    let e = env();
    let stamp = e.create();
    let m: Value = serde_json::from_slice(&fs::read(e.manifest_path(&stamp)).unwrap()).unwrap();
    let mut files = Vec::new();
    for c in m["components"].as_array().unwrap() {
        for f in c["files"].as_array().unwrap() {
            files.push(f["path"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(files.len(), 2);
    for f in files {
        for (p, at, len) in e.stored_places(&stamp, &f) {
            let original = fs::read(&p).unwrap();
            let mut bad = original.clone();
            let i = (at + len / 3) as usize;
            bad[i] ^= 0xFF;
            fs::write(&p, &bad).unwrap();
            let out = e.run(&["validate", &stamp, "--json"]);
            assert_eq!(code(&out), 1, "{f}");
            let v = json(&out);
            assert_eq!(v["valid"], false);
            let errors = v["errors"].as_array().unwrap();
            assert!(
                errors.iter().any(|x| x["path"] == f.as_str()
                    && x["message"].as_str().unwrap().contains("checksum")),
                "{f}: {errors:?}"
            );
            assert!(stderr(&out).contains(&f));
            fs::write(&p, &original).unwrap();
        }
    }
    assert_eq!(code(&e.run(&["validate", &stamp])), 0);
}

#[test]
fn restore_refuses_without_confirmation_and_leaves_live_bytes() {
    let e = env();
    let stamp = e.create();
    e.mutate();
    let before = e.live_bytes();
    let out = e.run(&["restore", &stamp, "--json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--confirm-service-stopped"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(e.live_bytes(), before);
}

#[test]
fn restore_refuses_an_invalid_backup_and_touches_nothing() {
    let e = env();
    let stamp = e.create();
    e.mutate();
    e.flip_stored(&stamp, "sqlite/atocore.db");
    let before = e.live_bytes();
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sqlite/atocore.db"),
        "{}",
        stderr(&out)
    );
    assert_eq!(e.live_bytes(), before);
    let list = common::listed(&e.run(&["list", "--json"]));
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "no pre-restore snapshot was taken"
    );
}

#[test]
fn restore_round_trip_reverses_mutations_and_keeps_them_in_the_pre_restore_snapshot() {
    let e = env();
    let baseline = e.memories(&e.db);
    let registry = fs::read(&e.registry).unwrap();
    let stamp = e.create();
    e.mutate();
    let mutated = e.memories(&e.db);
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["stamp"], stamp.as_str());
    assert_eq!(v["db_restored"], true);
    assert_eq!(v["registry_restored"], true);
    assert_eq!(v["chroma_restored"], false);
    assert_eq!(v["restored_integrity_ok"], true);
    let after = e.memories(&e.db);
    assert_eq!(
        after, baseline,
        "baseline survived and the mutation is gone"
    );
    assert!(!after.contains(&"MUTATION".to_owned()));
    assert_eq!(fs::read(&e.registry).unwrap(), registry);
    // The pre-restore snapshot holds the mutation.
    let pre = v["pre_restore_snapshot"].as_str().unwrap();
    let list = common::listed(&e.run(&["list", "--json"]));
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stamp"] == pre)
        .unwrap()
        .clone();
    assert_eq!(row["kind"], "pre-restore");
    let into = e.tmp.path().join("inspect");
    let out = e.run(&["restore", pre, "--to", into.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(e.memories(&into.join("atocore.db")), mutated);
    assert_eq!(
        fs::read(into.join("project-registry.json")).unwrap(),
        br#"{"projects":[{"id":"MUTATED"}]}"#
    );
}

#[test]
fn restore_skips_the_pre_restore_snapshot_when_asked() {
    let e = env();
    let stamp = e.create();
    e.mutate();
    let out = e.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--no-pre-snapshot",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["pre_restore_snapshot"], Value::Null);
    assert_eq!(
        common::listed(&e.run(&["list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(!e.memories(&e.db).contains(&"MUTATION".to_owned()));
}

#[test]
fn disaster_recovery_with_only_the_backup_dir() {
    let e = env();
    let baseline = e.memories(&e.db);
    let stamp = e.create();
    fs::remove_dir_all(e.db.parent().unwrap()).unwrap();
    let out = e.run_env(
        &["restore", &stamp, "--confirm-service-stopped", "--json"],
        &[("ATOCORE_BACKUP_DIR", e.backups.as_os_str())],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        v["pre_restore_snapshot"],
        Value::Null,
        "nothing live existed"
    );
    assert!(
        stderr(&out).contains(e.db.to_str().unwrap()),
        "prints the recorded path"
    );
    assert_eq!(e.memories(&e.db), baseline);
    assert!(e.registry.exists());
}

#[test]
fn pre_restore_snapshot_covers_only_what_exists_live() {
    let e = env();
    let baseline = e.memories(&e.db);
    let stamp = e.create();
    fs::remove_file(&e.db).unwrap();
    fs::write(&e.registry, br#"{"projects":[{"id":"edited"}]}"#).unwrap();
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pre = json(&out)["pre_restore_snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    let m: Value = serde_json::from_slice(&fs::read(e.manifest_path(&pre)).unwrap()).unwrap();
    assert_eq!(m["kind"], "pre-restore");
    let ids: Vec<_> = m["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, [Value::from("registry")]);
    assert_eq!(
        e.stored_bytes(&pre, "registry/project-registry.json"),
        br#"{"projects":[{"id":"edited"}]}"#
    );
    assert_eq!(e.memories(&e.db), baseline);
}

#[test]
fn drill_restores_in_scratch_and_appends_to_the_log() {
    let e = env();
    let stamp = e.create();
    e.mutate();
    let before = e.live_bytes();
    for _ in 0..2 {
        let out = e.run(&["drill", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["stamp"], stamp.as_str());
        assert_eq!(v["ok"], true);
        assert_eq!(v["components"], serde_json::json!(["sqlite", "registry"]));
    }
    assert_eq!(
        e.live_bytes(),
        before,
        "a drill never touches the live store"
    );
    let log = fs::read_to_string(e.backups.join("drills.jsonl")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|l| l["ok"] == true && l["stamp"] == stamp.as_str()));
    let leftovers: Vec<_> = fs::read_dir(&e.backups)
        .unwrap()
        .map(|x| x.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".drill"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A damaged snapshot fails the drill with exit 1, and the failure is logged too.
    e.flip_stored(&stamp, "registry/project-registry.json");
    let out = e.run(&["drill", &stamp, "--json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(json(&out)["ok"], false);
    let log = fs::read_to_string(e.backups.join("drills.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 3);
}

#[test]
fn drill_sample_runs_on_nothing_configured() {
    let e = env();
    let out = e.run_env(&["drill", "--sample", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    let dir = PathBuf::from(v["sample"]["dir"].as_str().unwrap());
    assert!(dir.join("backups").join("drills.jsonl").exists());
    assert!(v["sample"]["memories_live_now"].as_i64() > v["sample"]["memories_at_backup"].as_i64());
    assert_eq!(
        v["components"],
        serde_json::json!(["sqlite", "registry", "chroma"])
    );
    // The sample's Chroma folder is the committed chromadb fixture, byte for byte.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/chroma/1.5.9/small");
    let relative = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        backup_core::conformance::tree_bytes(root)
            .into_iter()
            .map(|(p, b)| (p.strip_prefix(root).unwrap().to_path_buf(), b))
            .collect()
    };
    let live = relative(&dir.join("live/chroma"));
    assert!(live.contains_key(Path::new("chroma.sqlite3")));
    assert_eq!(live, relative(&fixture));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_gets_a_message_and_exit_2() {
    let e = env();
    let stamp = e.create();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["validate".into(), "20200101T000000Z".into()],
            "no snapshot 20200101T000000Z",
        ),
        (
            vec!["validate".into(), "../../etc".into()],
            "not a snapshot stamp",
        ),
        (
            vec![
                "restore".into(),
                "2026/0409T012345Z".into(),
                "--confirm-service-stopped".into(),
            ],
            "not a snapshot stamp",
        ),
        (vec!["restore".into(), "..".into()], "not a snapshot stamp"),
        (
            vec![
                "list".into(),
                "--backup-dir".into(),
                "/nonexistent/backups".into(),
            ],
            "/nonexistent/backups does not exist",
        ),
        (
            vec![
                "create".into(),
                "--db".into(),
                e.tmp.path().to_str().unwrap().into(),
            ],
            "is a folder",
        ),
        (
            vec![
                "create".into(),
                "--registry".into(),
                e.db.parent().unwrap().to_str().unwrap().into(),
            ],
            "is a folder",
        ),
        (
            vec![
                "restore".into(),
                stamp.clone(),
                "--confirm-service-stopped".into(),
                "--db".into(),
                e.tmp.path().to_str().unwrap().into(),
            ],
            "is a folder",
        ),
        (
            vec![
                "drill".into(),
                "--backup-dir".into(),
                e.tmp.path().join("empty").to_str().unwrap().into(),
            ],
            "does not exist",
        ),
        (vec!["frobnicate".into()], "unrecognized subcommand"),
    ];
    let before = e.live_bytes();
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = e.run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(e.live_bytes(), before);
    let out = e.run_env(&["list"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("ATOCORE_BACKUP_DIR"));
}

#[test]
fn hostile_or_broken_manifests_are_invalid_not_a_crash() {
    let e = env();
    let stamp = e.create();
    let mpath = e.manifest_path(&stamp);
    let good = fs::read_to_string(&mpath).unwrap();
    let outside = e.tmp.path().join("outside-marker");
    let cases = [
        ("not JSON".to_owned(), "not valid JSON"),
        (good[..good.len() / 2].to_owned(), "not valid JSON"),
        (
            good.replace(
                &format!("\"format_version\": {}", backup_core::FORMAT_VERSION),
                "\"format_version\": 7",
            ),
            "format_version 7",
        ),
        (
            good.replace(
                "\"sqlite/atocore.db\"",
                &format!("{:?}", outside.to_str().unwrap()),
            ),
            "unsafe file path",
        ),
        (
            good.replace(
                "\"sqlite/atocore.db\"",
                "\"sqlite/../../../outside-marker\"",
            ),
            "unsafe file path",
        ),
        (
            good.replace("\"registry", "\"mystery"),
            "component 'mystery', which this build of atocore-backup does not know",
        ),
    ];
    let before = e.live_bytes();
    for (text, want) in cases {
        fs::write(&mpath, &text).unwrap();
        let out = e.run(&["validate", &stamp, "--json"]);
        assert_eq!(code(&out), 1, "{want}: {}", stderr(&out));
        let v = json(&out);
        assert_eq!(v["valid"], false);
        assert!(v["errors"].to_string().contains(want), "{want}: {v}");
        let out = e.run(&["restore", &stamp, "--confirm-service-stopped"]);
        assert_eq!(code(&out), 1, "{want}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{want}: {}", stderr(&out));
        assert_eq!(e.live_bytes(), before);
        assert!(!outside.exists());
    }
}

#[test]
fn leftover_temporary_folders_are_reported_never_listed_and_cleaned() {
    // The staging folders of a plain-folder backup dir (a repository's: tests/repository.rs).
    let e = env();
    e.plain();
    let stamp = e.create();
    let leftover = e.backups.join("snapshots").join(".20260101T000000Z.tmp");
    fs::create_dir(&leftover).unwrap();
    fs::write(leftover.join("backup-metadata.json"), b"{}").unwrap();
    let out = e.run(&["list", "--json"]);
    assert_eq!(code(&out), 0);
    let rows = common::listed(&out);
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["stamp"], stamp.as_str());
    assert!(
        stderr(&out).contains(".20260101T000000Z.tmp"),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["cleanup", "--json"]);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["removed"].as_array().unwrap().len(), 1);
    assert!(!leftover.exists());
    assert!(e.snapshot_dir(&stamp).exists());
    assert!(!e.run(&["list"]).stderr.windows(4).any(|w| w == b".tmp"));
}

#[test]
fn restore_to_a_folder_needs_no_confirmation_and_never_overwrites() {
    let e = env();
    let baseline = e.memories(&e.db);
    let stamp = e.create();
    e.mutate();
    let before = e.live_bytes();
    let into = e.tmp.path().join("copy");
    let out = e.run(&["restore", &stamp, "--to", into.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["pre_restore_snapshot"], Value::Null);
    assert_eq!(e.memories(&into.join("atocore.db")), baseline);
    assert_eq!(e.live_bytes(), before);
    let copy = backup_dir_bytes(&into);
    let out = e.run(&["restore", &stamp, "--to", into.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("already exists"));
    assert_eq!(backup_dir_bytes(&into), copy);
}

fn chroma_fixture(e: &Env) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/chroma/1.5.9/store");
    let to = e.db.parent().unwrap().join("chroma");
    copy_tree(&from, &to);
    to
}

/// What a Chroma folder holds: the SHA-256 of every file, except chroma.sqlite3, which the
/// backup API copies page by page (same content, not the same bytes): its rows instead.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for x in fs::read_dir(dir).unwrap() {
        let p = x.unwrap().path();
        let rel = p.strip_prefix(dir).unwrap().to_path_buf();
        if p.is_dir() {
            for (k, v) in tree(&p) {
                out.insert(rel.join(k), v);
            }
        } else if rel == Path::new("chroma.sqlite3") {
            out.insert(rel, rows_digest(&p));
        } else {
            out.insert(rel, backup_core::fsio::hash_file(&p).unwrap().sha256);
        }
    }
    out
}

fn rows_digest(db: &Path) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut h = DefaultHasher::new();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in tables {
        let mut stmt = c
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                format!("{:?}", r.get_ref(i).unwrap()).hash(&mut h);
            }
        }
        t.hash(&mut h);
    }
    format!("rows:{:016x}", h.finish())
}

fn same(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.display().to_string())
        .collect()
}

#[test]
fn chroma_is_captured_restored_and_skippable() {
    let e = env();
    let chroma = chroma_fixture(&e);
    let c = chroma.to_str().unwrap();
    let original = tree(&chroma);
    let out = e.run(&["create", "--chroma", c, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    let stamp = v["stamp"].as_str().unwrap().to_owned();
    let ids: Vec<_> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(ids, ["sqlite", "registry", "chroma"]);
    let list = common::listed(&e.run(&["list", "--json"]));
    assert_eq!(
        list[0]["captured"]["chroma"]["collections"]["papers"]["element_count"],
        1000
    );
    // --no-chroma at create: not captured.
    let out = e.run(&["create", "--chroma", c, "--no-chroma", "--json"]);
    let ids: Vec<_> = json(&out)["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(ids, ["sqlite", "registry"]);
    // Damage the live folder; --no-chroma at restore leaves it alone.
    let seg = fs::read_dir(&chroma)
        .unwrap()
        .map(|x| x.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    fs::remove_dir_all(&seg).unwrap();
    let damaged = tree(&chroma);
    let out = e.run(&[
        "restore",
        &stamp,
        "--chroma",
        c,
        "--confirm-service-stopped",
        "--no-chroma",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["chroma_restored"], false);
    assert_eq!(same(&tree(&chroma), &damaged), Vec::<String>::new());
    // Without it every Chroma file comes back byte for byte (the database row for row), and the safety snapshot holds the damage.
    let out = e.run(&[
        "restore",
        &stamp,
        "--chroma",
        c,
        "--confirm-service-stopped",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["chroma_restored"], true);
    assert_eq!(v["restored_integrity_ok"], true);
    assert_eq!(same(&tree(&chroma), &original), Vec::<String>::new());
    let pre = v["pre_restore_snapshot"].as_str().unwrap();
    let into = e.tmp.path().join("pre");
    let out = e.run(&["restore", pre, "--to", into.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        same(&tree(&into.join("chroma")), &damaged),
        Vec::<String>::new()
    );
    // A Chroma path that is a file is refused with its name.
    let out = e.run(&["create", "--chroma", e.db.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a Chroma persist folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn chroma_ingestion_lock_path_is_configurable() {
    let e = env();
    let chroma = chroma_fixture(&e);
    let lock = e.tmp.path().join("service.lock");
    let out = e.run(&[
        "create",
        "--chroma",
        chroma.to_str().unwrap(),
        "--ingestion-lock",
        lock.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(lock.exists());
    assert!(!chroma.parent().unwrap().join(".ingestion.lock").exists());
    let v = json(&out);
    let facts = &v["components"][2]["facts"];
    assert_eq!(facts["ingestion_lock"], lock.to_str().unwrap());
}

/// A snapshot in manifest format 1, made by the previous release (committed under
/// tests/fixtures/snapshots/format-1), still validates, drills and restores: operators'
/// existing backups keep working after the format bump.
#[test]
fn a_format_1_snapshot_from_the_previous_release_still_validates_drills_and_restores() {
    let e = env();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/snapshots/format-1");
    backup_core::conformance::copy_tree(&fixture, &e.backups);
    let out = e.run_env(
        &["list", "--json"],
        &[("ATOCORE_BACKUP_DIR", e.backups.as_os_str())],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let listed = common::listed(&out);
    assert_eq!(listed[0]["manifest_format_version"], 1);
    let stamp = listed[0]["stamp"].as_str().unwrap().to_owned();
    let only_backups = [("ATOCORE_BACKUP_DIR", e.backups.as_os_str())];
    for args in [vec!["validate", &stamp], vec!["drill", &stamp]] {
        let out = e.run_env(&args, &only_backups);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    let to = e.tmp.path().join("restored");
    let out = e.run_env(
        &["restore", &stamp, "--to", &to.to_string_lossy()],
        &only_backups,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let memories = e.memories(&to.join("atocore.db"));
    assert_eq!(memories.len(), 200);
    assert_eq!(memories[7], "format-1 memory 7");
    assert_eq!(
        fs::read(to.join("project-registry.json")).unwrap(),
        br#"{"projects": [{"id": "p1", "name": "P1"}]}"#
    );
    let chroma = fixture_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/chroma/1.5.9/small"),
    );
    let restored = fixture_tree(&to.join("chroma"));
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        chroma.keys().collect::<Vec<_>>()
    );
    for (rel, bytes) in &chroma {
        // chroma.sqlite3 went through SQLite's backup API: the same rows, other bytes.
        if rel != Path::new("chroma.sqlite3") {
            assert!(&restored[rel] == bytes, "{}", rel.display());
        }
    }
    // Over a live store at other paths than the recorded ones.
    let out = e.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--no-chroma",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(e.memories(&e.db).len(), 200);
}

/// Every file below `dir` by relative path, with its bytes.
fn fixture_tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    backup_core::conformance::tree_bytes(dir)
        .into_iter()
        .map(|(p, b)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
        .collect()
}
