//! ChromaComponent against real Chroma folders written by chromadb 1.5.9 and 0.6.3 (committed
//! fixtures, made by tests/chroma/make_fixtures.sh): the conformance suite, the invariants of
//! both layouts, every corruption the notes list, the ingestion lock and change detection.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backup_chroma::ChromaComponent;
use backup_core::conformance::{copy_tree, Fixture, Setup};
use backup_core::{
    fsio, Component, FolderStore, Kind, Manifest, Orchestrator, Source, MANIFEST_NAME,
};
use rusqlite::Connection;
use serde_json::Value;

const VERSIONS: [&str; 2] = ["1.5.9", "0.6.3"];

fn fixture(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/chroma")
        .join(version)
        .join("store")
}

/// A real Chroma folder, and a change that keeps it consistent: a collection renamed and a
/// document edited in SQLite, one vector component altered in an HNSW file.
struct ChromaStore(&'static str);

impl Fixture for ChromaStore {
    fn make_live(&self, dir: &Path) -> PathBuf {
        let live = dir.join("chroma");
        copy_tree(&fixture(self.0), &live);
        live
    }

    fn mutate(&self, live: &Path) {
        let c = Connection::open(live.join("chroma.sqlite3")).unwrap();
        c.execute_batch(
            "UPDATE collections SET name = name || '-renamed' WHERE name = 'papers';
             UPDATE embedding_metadata SET string_value = 'MUTATED'
                 WHERE key = 'chroma:document' AND id = (SELECT min(id) FROM embedding_metadata
                 WHERE key = 'chroma:document');",
        )
        .unwrap();
        let seg: String = c
            .query_row(
                "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id
                 WHERE c.name = 'archive' AND s.scope = 'VECTOR'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let data = live.join(seg).join("data_level0.bin");
        let mut bytes = fs::read(&data).unwrap();
        bytes[140] ^= 0x01; // a vector component of element 0 (offset_data is 132)
        fs::write(&data, bytes).unwrap();
    }

    fn content(&self, live: &Path) -> String {
        let c = Connection::open_with_flags(
            live.join("chroma.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let sql: String = c
            .query_row(
                "SELECT group_concat(x, '\n') FROM (
                   SELECT id || ' ' || name AS x FROM collections
                   UNION ALL SELECT id || ' ' || key || '=' || coalesce(string_value, int_value, '')
                     FROM embedding_metadata ORDER BY 1)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut files = Vec::new();
        for e in fs::read_dir(live).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                for f in fs::read_dir(&p).unwrap() {
                    let f = f.unwrap().path();
                    files.push(format!(
                        "{} {}",
                        f.strip_prefix(live).unwrap().display(),
                        fsio::hash_file(&f).unwrap().sha256
                    ));
                }
            }
        }
        files.sort();
        format!("{sql}\n{}", files.join("\n"))
    }
}

mod v1_5_9 {
    backup_core::conformance_tests!(
        backup_chroma::ChromaComponent::default(),
        crate::ChromaStore("1.5.9"),
        remote = atocore_backup_tests::s3::remote
    );
}

mod v0_6_3 {
    backup_core::conformance_tests!(
        backup_chroma::ChromaComponent::default(),
        crate::ChromaStore("0.6.3"),
        remote = atocore_backup_tests::s3::remote
    );
}

fn setup(version: &'static str) -> Setup {
    Setup::new(Box::new(ChromaComponent::default()), &ChromaStore(version))
}

fn collection<'a>(m: &'a Manifest, name: &str) -> &'a Value {
    m.component("chroma").unwrap().facts.own["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn both_layouts_snapshot_validate_and_record_their_facts() {
    for version in VERSIONS {
        let s = setup(version);
        let m = s.create();
        assert_eq!(s.problems(&m), Vec::<String>::new(), "{version}");
        let facts = &m.component("chroma").unwrap().facts.own;
        let encoding = if version == "0.6.3" {
            "blob"
        } else {
            "integer"
        };
        assert_eq!(facts["schema"]["seq_id_encoding"], encoding, "{version}");
        assert!(facts["schema"]["migrations"]["sysdb"].as_i64().unwrap() > 0);
        let notes = collection(&m, "notes");
        assert_eq!(notes["has_pickle"], false, "below the first sync");
        assert_eq!(notes["dimension"], 8);
        assert_eq!(notes["pending_queue_rows"], 40);
        let papers = collection(&m, "papers");
        assert_eq!(papers["has_pickle"], true);
        assert_eq!(papers["element_count"], 1000);
        assert!(
            papers["pending_queue_rows"].as_i64().unwrap() > 0,
            "rows still queued"
        );
        assert!(papers["vector_max_seq_id"].as_i64().unwrap() > 0);
        assert_eq!(facts["orphans"], serde_json::json!([]));
        assert_eq!(facts["attempts"], 1);
        assert_eq!(
            fs::read(s.snapshot_dir(&m).join("chroma/chroma.sqlite3"))
                .map(|b| (b[18], b[19]))
                .unwrap(),
            (1, 1)
        );
    }
}

#[test]
fn stores_with_no_pickle_yet_snapshot_validate_and_restore() {
    // Every collection below its first sync: all vectors only in the queue.
    for version in VERSIONS {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("chroma");
        copy_tree(&fixture(version).parent().unwrap().join("small"), &live);
        let known: Vec<Box<dyn Component>> = vec![Box::new(ChromaComponent::default())];
        let store = FolderStore::new(tmp.path().join("b"));
        let o = Orchestrator::new(&store, &known);
        let m = o
            .create(
                &[Source {
                    id: "chroma".into(),
                    path: live.clone(),
                }],
                Kind::Regular,
            )
            .unwrap();
        let cols = m.component("chroma").unwrap().facts.own["collections"].clone();
        assert_eq!(cols.as_array().unwrap().len(), 2, "{version}");
        for c in cols.as_array().unwrap() {
            assert_eq!(c["has_pickle"], false, "{version}");
            assert_eq!(c["element_count"], 0, "{version}");
            assert!(c["pending_queue_rows"].as_i64().unwrap() > 100, "{version}");
        }
        let stamp = backup_core::Stamp::parse(&m.stamp).unwrap();
        assert!(o.validate(&stamp).unwrap().is_valid(), "{version}");
        let into = tmp.path().join("restored");
        let r = o
            .restore(
                &stamp,
                &backup_core::RestoreOptions {
                    allow_schema_change: false,
                    targets: backup_core::Targets::Into(into),
                    confirm_service_stopped: false,
                    pre_restore_snapshot: false,
                    skip: Default::default(),
                    protected: Vec::new(),
                },
            )
            .unwrap();
        assert!(r.verified(), "{version}: {:?}", r.components);
    }
}

fn segment_of(m: &Manifest, name: &str) -> String {
    collection(m, name)["segment_dir"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Rewrite the manifest's checksums to match the damaged files, so only the deep checks can
/// catch the damage.
fn rehash(s: &Setup, m: &Manifest) {
    let dir = s.snapshot_dir(m);
    let mut m = m.clone();
    let rec = m.components.iter_mut().find(|c| c.id == "chroma").unwrap();
    let mut files = Vec::new();
    for f in &rec.files {
        let p = dir.join(&f.path);
        if p.exists() {
            let d = fsio::hash_file(&p).unwrap();
            files.push(backup_core::FileEntry {
                path: f.path.clone(),
                size: d.size,
                sha256: d.sha256,
                owner: f.owner,
                chunks: None,
            });
        }
    }
    rec.files = files;
    fs::write(dir.join(MANIFEST_NAME), m.to_json()).unwrap();
}

type Damage = fn(&Path, &Manifest);

fn damages() -> Vec<(&'static str, Damage, &'static str, &'static str)> {
    vec![
        (
            "delete a segment folder",
            |d, m| fs::remove_dir_all(d.join(segment_of(m, "papers"))).unwrap(),
            "papers",
            "folder is missing",
        ),
        (
            "delete the pickle",
            |d, m| {
                fs::remove_file(
                    d.join(segment_of(m, "papers"))
                        .join("index_metadata.pickle"),
                )
                .unwrap()
            },
            "papers",
            "index_metadata.pickle",
        ),
        (
            "truncate link_lists.bin",
            |d, m| {
                let p = d.join(segment_of(m, "archive")).join("link_lists.bin");
                let len = fs::metadata(&p).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            },
            "archive",
            "link_lists.bin",
        ),
        (
            "change header cur_element_count",
            |d, m| {
                let p = d.join(segment_of(m, "papers")).join("header.bin");
                let mut b = fs::read(&p).unwrap();
                let cur = u64::from_le_bytes(b[20..28].try_into().unwrap());
                b[20..28].copy_from_slice(&(cur + 7).to_le_bytes());
                fs::write(&p, b).unwrap();
            },
            "papers",
            "header.bin",
        ),
        (
            "swap two collections' folders",
            |d, m| {
                let (a, b) = (
                    d.join(segment_of(m, "papers")),
                    d.join(segment_of(m, "archive")),
                );
                let tmp = d.join("swap-tmp");
                fs::rename(&a, &tmp).unwrap();
                fs::rename(&b, &a).unwrap();
                fs::rename(&tmp, &b).unwrap();
            },
            "papers",
            "vectors lost",
        ),
        (
            "flip a byte in data_level0.bin",
            |d, m| {
                let p = d.join(segment_of(m, "archive")).join("data_level0.bin");
                let len = fs::metadata(&p).unwrap().len();
                backup_core::conformance::flip_byte(&p, len / 2 + 3);
            },
            "archive",
            "data_level0.bin",
        ),
        (
            "truncate chroma.sqlite3",
            |d, _| {
                let p = d.join("chroma.sqlite3");
                let len = fs::metadata(&p).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 3)
                    .unwrap();
            },
            "",
            "chroma.sqlite3",
        ),
    ]
}

#[test]
fn every_listed_corruption_is_caught_naming_collection_and_file() {
    for version in VERSIONS {
        for (what, harm, coll, needle) in damages() {
            let s = setup(version);
            let m = s.create();
            harm(&s.snapshot_dir(&m).join("chroma"), &m);
            let problems = s.problems(&m).join("\n");
            assert!(problems.contains(needle), "{version} {what}: {problems}");
            if !coll.is_empty() {
                assert!(
                    problems.contains(&format!("collection '{coll}'")),
                    "{version} {what}: {problems}"
                );
            }
            let before = backup_core::conformance::tree_bytes(&s.live);
            let err = s.restore(&m, s.live_targets(), true, true).unwrap_err();
            assert!(err.is_negative_answer(), "{version} {what}: {err}");
            assert_eq!(backup_core::conformance::tree_bytes(&s.live), before);
        }
    }
}

#[test]
fn the_deep_checks_alone_catch_structural_damage() {
    // Same damage, but the manifest's checksums are rewritten to match: only the Chroma
    // invariants stand between the operator and a broken restore. (A flipped vector byte is
    // data, not structure: only the checksum can catch it, as the test above shows.)
    for version in VERSIONS {
        for (what, harm, coll, needle) in damages() {
            if what.starts_with("flip") {
                continue;
            }
            let s = setup(version);
            let m = s.create();
            harm(&s.snapshot_dir(&m).join("chroma"), &m);
            rehash(&s, &m);
            let m2 = Manifest::read(&s.snapshot_dir(&m).join(MANIFEST_NAME)).unwrap();
            let problems = s.problems(&m2);
            assert!(
                !problems.iter().any(|p| p.contains("checksum")),
                "{version} {what}: the checksums were made to match: {problems:?}"
            );
            let text = problems.join("\n");
            assert!(text.contains(needle), "{version} {what}: {text}");
            if !coll.is_empty() {
                assert!(
                    text.contains(&format!("collection '{coll}'")),
                    "{version} {what}: {text}"
                );
            }
        }
    }
}

#[test]
fn orphans_are_copied_flagged_and_restored() {
    let s = setup("1.5.9");
    fs::create_dir(s.live.join("old_backup_20250101")).unwrap();
    fs::write(s.live.join("old_backup_20250101/data.bin"), b"orphan bytes").unwrap();
    fs::write(s.live.join("README.txt"), b"left by someone").unwrap();
    let m = s.create();
    let facts = &m.component("chroma").unwrap().facts.own;
    assert_eq!(
        facts["orphans"],
        serde_json::json!(["README.txt", "old_backup_20250101/data.bin"])
    );
    assert_eq!(s.problems(&m), Vec::<String>::new());
    fs::remove_dir_all(&s.live).unwrap();
    s.restore(&m, s.live_targets(), true, true).unwrap();
    assert_eq!(
        fs::read(s.live.join("old_backup_20250101/data.bin")).unwrap(),
        b"orphan bytes"
    );
}

#[test]
fn create_waits_for_the_ingestion_lock_and_fails_clearly_when_it_stays_held() {
    let s = setup("1.5.9");
    let lock_path = s.live.parent().unwrap().join(".ingestion.lock");
    let holder = fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    let known: Vec<Box<dyn Component>> = vec![Box::new(
        ChromaComponent::default().with_lock_wait(Duration::from_millis(500)),
    )];
    let store = FolderStore::new(&s.backup_dir);
    let o = Orchestrator::new(&store, &known);
    let src = [Source {
        id: "chroma".into(),
        path: s.live.clone(),
    }];
    let err = o.create(&src, Kind::Regular).unwrap_err().to_string();
    assert!(
        err.contains(".ingestion.lock") && err.contains("held"),
        "{err}"
    );
    assert!(o.list().unwrap().0.is_empty());
    // Released a little later: create waits for it and succeeds.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(holder);
    });
    let known: Vec<Box<dyn Component>> = vec![Box::new(
        ChromaComponent::default().with_lock_wait(Duration::from_secs(10)),
    )];
    let o = Orchestrator::new(&store, &known);
    o.create(&src, Kind::Regular).unwrap();
    release.join().unwrap();
}

#[test]
fn a_store_that_keeps_changing_fails_after_bounded_retries() {
    let s = setup("1.5.9");
    let m0 = s.create();
    let seg = s.live.join(segment_of(&m0, "archive")).join("length.bin");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let toucher = std::thread::spawn(move || {
        let mut n = 0u8;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let mut b = fs::read(&seg).unwrap();
            b[0] = n;
            fs::write(&seg, b).unwrap();
            n = n.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let known: Vec<Box<dyn Component>> = vec![Box::new(
        ChromaComponent::new(Some(s.tmp.path().join("unrelated.lock"))).with_attempts(3),
    )];
    let store = FolderStore::new(&s.backup_dir);
    let o = Orchestrator::new(&store, &known);
    let err = o
        .create(
            &[Source {
                id: "chroma".into(),
                path: s.live.clone(),
            }],
            Kind::Regular,
        )
        .unwrap_err()
        .to_string();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    toucher.join().unwrap();
    assert!(
        err.contains("kept changing during 3 copy attempts"),
        "{err}"
    );
    assert_eq!(o.list().unwrap().0.len(), 1, "no torn snapshot was kept");
}
