//! atocore-backup against stores written and read by the real chromadb package: make a
//! store, back it up, change it with chromadb (add, update, delete, drop a collection),
//! restore, and check with chromadb that counts, ids, documents, metadata, vectors and a fixed
//! query's results equal the originals. Then the same while a chromadb writer process adds
//! records during `create`.
//!
//! Needs ATOCORE_TEST_PYTHON: a Python with chromadb 1.5.9 (scripts/test.sh sets it up).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use backup_core::conformance::copy_tree;

mod common;

fn python() -> PathBuf {
    let p = std::env::var_os("ATOCORE_TEST_PYTHON").unwrap_or_else(|| {
        panic!(
            "ATOCORE_TEST_PYTHON is not set: these tests need a Python with chromadb 1.5.9; \
             run scripts/test.sh, which installs one"
        )
    });
    PathBuf::from(p)
}

fn tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/chroma/chroma_tool.py")
}

fn chroma_tool(args: &[&str]) {
    let out = Command::new(python())
        .arg(tool())
        .args(args)
        .env("ANONYMIZED_TELEMETRY", "False")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "chroma_tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn describe(store: &Path, dir: &Path, name: &str) -> Value {
    let out = dir.join(format!("{name}.json"));
    chroma_tool(&["describe", store.to_str().unwrap(), out.to_str().unwrap()]);
    serde_json::from_slice(&fs::read(out).unwrap()).unwrap()
}

struct Host {
    tmp: tempfile::TempDir,
    db: PathBuf,
    chroma: PathBuf,
    backups: PathBuf,
}

fn host() -> Host {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    let db = data.join("atocore.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE memories(id INTEGER PRIMARY KEY, t TEXT); INSERT INTO memories(t) VALUES ('m');")
        .unwrap();
    let chroma = data.join("chroma");
    chroma_tool(&["make", chroma.to_str().unwrap()]);
    Host {
        backups: tmp.path().join("backups"),
        tmp,
        db,
        chroma,
    }
}

impl Host {
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_atocore-backup"))
            .args(args)
            .env("ATOCORE_DB_PATH", &self.db)
            .env("ATOCORE_CHROMA_PATH", &self.chroma)
            .env("ATOCORE_BACKUP_DIR", &self.backups)
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        out
    }

    fn ok_json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn chromadb_reads_back_exactly_what_was_backed_up() {
    let h = host();
    let original = describe(&h.chroma, h.tmp.path(), "original");
    assert_eq!(original["chromadb"], "1.5.9");
    let stamp = h.ok_json(&["create", "--json"])["stamp"]
        .as_str()
        .unwrap()
        .to_owned();
    chroma_tool(&["mutate", h.chroma.to_str().unwrap()]);
    let mutated = describe(&h.chroma, h.tmp.path(), "mutated");
    assert_ne!(mutated["collections"], original["collections"]);
    assert!(
        mutated["collections"].get("archive").is_none(),
        "archive dropped"
    );
    let v = h.ok_json(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
    assert_eq!(v["chroma_restored"], true);
    assert_eq!(v["restored_integrity_ok"], true);
    let after = describe(&h.chroma, h.tmp.path(), "after");
    assert_eq!(after["collections"], original["collections"]);
    // The pre-restore snapshot holds the mutated store, and chromadb reads it as such.
    let pre = v["pre_restore_snapshot"].as_str().unwrap();
    let into = h.tmp.path().join("pre");
    h.ok_json(&["restore", pre, "--to", into.to_str().unwrap(), "--json"]);
    let pre_view = describe(&into.join("chroma"), h.tmp.path(), "pre");
    assert_eq!(pre_view["collections"], mutated["collections"]);
}

#[test]
fn every_distance_function_is_searched_as_chromadb_built_it() {
    // One collection per space (l2, ip, cosine), written by chromadb with deletes the index
    // holds: a restore's verification searches each graph with the collection's own distance
    // and finds every sampled vector.
    let h = host();
    fs::remove_dir_all(&h.chroma).unwrap();
    chroma_tool(&["make-spaces", h.chroma.to_str().unwrap()]);
    let stamp = h.ok_json(&["create", "--json"])["stamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let into = h.tmp.path().join("restored");
    let v = h.ok_json(&["restore", &stamp, "--to", into.to_str().unwrap(), "--json"]);
    let chroma = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "chroma")
        .unwrap();
    let proofs = chroma["evidence"].as_array().unwrap();
    assert_eq!(proofs.len(), 3, "{proofs:?}");
    for space in ["l2", "ip", "cosine"] {
        let p = proofs
            .iter()
            .find(|p| p["subject"] == format!("space-{space}").as_str())
            .unwrap();
        let v = &p["value"];
        assert_eq!(v["space"], space, "{p}");
        assert_eq!(p["passed"], true, "{p}");
        assert_eq!(v["self_recall"], 1.0, "{p}");
        assert!(
            v["live_elements"].as_u64() < v["elements"].as_u64(),
            "the index holds deleted elements: {p}"
        );
    }
}

#[test]
fn committed_fixtures_restore_to_what_chromadb_recorded() {
    // Stores written by chromadb 1.5.9 and 0.6.3, with what each version read back from them
    // when they were made. Back each up, restore it elsewhere, and have chromadb 1.5.9 read
    // the restored folder (a 0.6.3 store is migrated in the describing copy, as the service
    // would on upgrade): the same counts, ids, documents, metadata, vectors and query results.
    for (version, store, expected) in [
        ("1.5.9", "store", "expected.json"),
        ("1.5.9", "small", "small-expected.json"),
        ("0.6.3", "store", "expected.json"),
        ("0.6.3", "small", "small-expected.json"),
    ] {
        let h = host();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/chroma")
            .join(version);
        fs::remove_dir_all(&h.chroma).unwrap();
        copy_tree(&fixture.join(store), &h.chroma);
        let stamp = h.ok_json(&["create", "--json"])["stamp"]
            .as_str()
            .unwrap()
            .to_owned();
        let into = h.tmp.path().join("restored");
        h.ok_json(&["restore", &stamp, "--to", into.to_str().unwrap(), "--json"]);
        let expected: Value =
            serde_json::from_slice(&fs::read(fixture.join(expected)).unwrap()).unwrap();
        assert_eq!(expected["chromadb"], version);
        let got = describe(&into.join("chroma"), h.tmp.path(), version);
        assert_eq!(
            got["collections"], expected["collections"],
            "{version} {store}"
        );
    }
}

fn start_writer(h: &Host, seconds: &str, lock: &str) -> std::process::Child {
    common::spawn_ready(
        Command::new(python())
            .arg(tool())
            .args(["write", h.chroma.to_str().unwrap(), seconds, lock])
            .env("ANONYMIZED_TELEMETRY", "False"),
        "writing",
    )
}

/// For every snapshot listed: how many of the `papers` collection's rows were still queued
/// when it was captured, as `list` reports it. This rises and falls as chromadb syncs its
/// queue, so it shows that `list` reports the store's state, not how far the writer got.
fn queued_papers(h: &Host) -> Vec<i64> {
    h.ok_json(&["list", "--json"])["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["captured"]["chroma"]["collections"]["papers"]["pending_queue_rows"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// Records in `papers` before the writer starts.
const PAPERS_BEFORE_WRITER: u64 = 1298;

/// Each snapshot taken while the writer ran validates, restores, and chromadb reads it
/// consistently: every id SQLite lists has its vector, and a query answers. Returns the
/// number of `papers` records chromadb reads in each, which only grows as the writer adds.
fn check_snapshots_readable(h: &Host, stamps: &[String]) -> Vec<u64> {
    let mut counts = Vec::new();
    for (i, stamp) in stamps.iter().enumerate() {
        let v = h.run(&["validate", stamp, "--json"]);
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&v.stdout)
        );
        let into = h.tmp.path().join(format!("restored-{i}"));
        h.ok_json(&["restore", stamp, "--to", into.to_str().unwrap(), "--json"]);
        let view = describe(&into.join("chroma"), h.tmp.path(), &format!("r{i}"));
        let papers = &view["collections"]["papers"];
        let count = papers["count"].as_u64().unwrap();
        assert_eq!(count as usize, papers["ids"].as_array().unwrap().len());
        assert!(count >= PAPERS_BEFORE_WRITER);
        assert_eq!(papers["query_ids"].as_array().unwrap().len(), 5);
        counts.push(count);
    }
    counts
}

#[test]
fn create_under_a_chromadb_writer_that_takes_the_ingestion_lock() {
    let h = host();
    let lock = h.chroma.parent().unwrap().join(".ingestion.lock");
    let mut writer = start_writer(&h, "8", lock.to_str().unwrap());
    let mut stamps = Vec::new();
    for _ in 0..3 {
        stamps.push(
            h.ok_json(&["create", "--json"])["stamp"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let status = writer.wait().unwrap();
    assert!(status.success());
    let counts = check_snapshots_readable(&h, &stamps);
    assert!(
        counts.iter().any(|c| *c > PAPERS_BEFORE_WRITER),
        "the writer's records were captured: {counts:?}"
    );
    assert_eq!(queued_papers(&h).len(), stamps.len());
}

#[test]
fn create_under_a_writer_that_ignores_the_lock_is_consistent_or_fails_clearly() {
    let h = host();
    let mut writer = start_writer(&h, "10", "-");
    let mut stamps = Vec::new();
    // Whether the writer was still running when each snapshot's create returned: only those
    // snapshots were certainly taken with records arriving before and during them.
    let mut writing = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let out = h.run(&["create", "--json"]);
        match out.status.code() {
            Some(0) => {
                stamps.push(
                    serde_json::from_slice::<Value>(&out.stdout).unwrap()["stamp"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
                writing.push(writer.try_wait().unwrap().is_none());
            }
            Some(2) => {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("kept changing"), "{err}");
                refused += 1;
            }
            other => panic!(
                "create exited {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(writer.wait().unwrap().success());
    eprintln!("{} consistent snapshots, {refused} refused", stamps.len());
    let counts = check_snapshots_readable(&h, &stamps);
    let during: Vec<u64> = counts
        .iter()
        .zip(&writing)
        .filter(|(_, w)| **w)
        .map(|(c, _)| *c)
        .collect();
    assert!(
        during.len() >= 2,
        "at least two snapshots finished while the writer ran: counts {counts:?}, writing {writing:?}"
    );
    assert!(
        during.windows(2).all(|w| w[0] < w[1]),
        "each snapshot taken under the writer caught it further on: {during:?}"
    );
}
