//! Query-level proof of Chroma's indexes: a drill (and `validate --deep`) searches every
//! collection's HNSW graph and compares with brute force. Intact stores written by chromadb
//! 0.6.3 and 1.5.9 find every sampled vector; a link list damaged in place, with every file's
//! size kept (which the structural checks cannot see), fails the drill, naming the collection.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{code, json, stderr};

fn fixture(version: &str, store: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/chroma")
        .join(version)
        .join(store)
}

/// A live store (a small database and a copy of `chroma`) and runs of the binary against it.
struct Host {
    tmp: tempfile::TempDir,
    chroma: PathBuf,
}

fn host(chroma: &Path) -> Host {
    let env = common::env();
    let chroma_live = env.tmp.path().join("data/chroma");
    backup_core::conformance::copy_tree(chroma, &chroma_live);
    Host {
        tmp: env.tmp,
        chroma: chroma_live,
    }
}

impl Host {
    fn run(&self, args: &[&str]) -> Output {
        let data = self.tmp.path().join("data");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ATOCORE_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .env("ATOCORE_DB_PATH", data.join("atocore.db"))
            .env("ATOCORE_CHROMA_PATH", &self.chroma)
            .env("ATOCORE_BACKUP_DIR", self.tmp.path().join("backups"))
            .output()
            .unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        out
    }

    fn create(&self) -> String {
        let out = self.run(&["create", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        json(&out)["stamp"].as_str().unwrap().to_owned()
    }

    fn drill_log(&self) -> Vec<Value> {
        fs::read_to_string(self.tmp.path().join("backups/drills.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The vector segment folder of collection `name`.
    fn segment(&self, name: &str) -> PathBuf {
        let c = rusqlite::Connection::open(self.chroma.join("chroma.sqlite3")).unwrap();
        let seg: String = c
            .query_row(
                "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id \
                 WHERE c.name = ?1 AND s.scope = 'VECTOR'",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        self.chroma.join(seg)
    }

    /// Collections of the live store and how many elements each one's index holds.
    fn indexed(&self) -> Vec<(String, u64)> {
        let c = rusqlite::Connection::open(self.chroma.join("chroma.sqlite3")).unwrap();
        let mut stmt = c
            .prepare("SELECT name FROM collections ORDER BY name")
            .unwrap();
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        names
            .into_iter()
            .map(|n| {
                let header = self.segment(&n).join("header.bin");
                let count = fs::read(header)
                    .map(|h| u64::from_le_bytes(h[20..28].try_into().unwrap()))
                    .unwrap_or(0);
                (n, count)
            })
            .collect()
    }
}

/// header.bin's facts the damage needs: element count, bytes per element, maxM0, enterpoint.
struct Layout {
    cur: u64,
    per: u64,
    max_m0: u64,
    enterpoint: u64,
}

fn layout(segment: &Path) -> Layout {
    let h = fs::read(segment.join("header.bin")).unwrap();
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
    Layout {
        cur: u64_at(20),
        per: u64_at(28),
        max_m0: u64_at(68),
        enterpoint: u64::from(u32::from_le_bytes(h[56..60].try_into().unwrap())),
    }
}

fn recall_evidence(report: &Value) -> Vec<&Value> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["check"] == "hnsw_recall")
        .collect()
}

#[test]
fn intact_indexes_of_both_chromadb_versions_find_every_sampled_vector() {
    for (version, store) in [
        ("0.6.3", "store"),
        ("0.6.3", "small"),
        ("1.5.9", "store"),
        ("1.5.9", "small"),
    ] {
        let what = format!("chromadb {version} {store}");
        let h = host(&fixture(version, store));
        let stamp = h.create();
        let out = h.run(&["drill", &stamp, "--json"]);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["ok"], true, "{what}");
        let proofs = recall_evidence(&report);
        let indexed = h.indexed();
        assert_eq!(
            proofs.len(),
            indexed.len(),
            "{what}: one proof per collection"
        );
        let listed = json(&h.run(&["list", "--json"]));
        let captured = &listed["snapshots"][0]["captured"]["chroma"]["collections"];
        for (name, elements) in &indexed {
            let p = proofs
                .iter()
                .find(|p| p["subject"] == name.as_str())
                .unwrap_or_else(|| panic!("{what}: no proof for {name}"));
            let v = &p["value"];
            assert_eq!(p["component"], "chroma");
            assert_eq!(p["passed"], true, "{what} {name}: {p}");
            assert_eq!(v["elements"], *elements, "{what} {name}");
            if *elements > 0 {
                assert!(v["self_queries"].as_u64().unwrap() > 0, "{what} {name}");
                assert_eq!(v["self_recall"], 1.0, "{what} {name}: {p}");
                assert_eq!(v["random_queries"], 10, "{what} {name}");
                assert!(v["random_recall"].as_f64().unwrap() >= 0.9, "{p}");
            }
            // The queue rows not yet in the index are counted, as the snapshot recorded them.
            assert_eq!(
                v["pending_queue_rows"], captured[name]["pending_queue_rows"],
                "{what} {name}"
            );
        }
        // The drill log carries the same proofs.
        let logged = h.drill_log();
        assert_eq!(
            logged.last().unwrap()["evidence"],
            report["evidence"],
            "{what}"
        );
        // And the text form says it per collection.
        let text = String::from_utf8(h.run(&["drill", &stamp]).stdout).unwrap();
        for (name, _) in &indexed {
            assert!(
                text.contains(&format!("proof: chroma: collection '{name}':")),
                "{what}: {text}"
            );
        }
    }
}

/// Zero the link count of every element's level-0 list in `segment`'s data_level0.bin: the
/// graph keeps its vectors, labels and file sizes, but no element leads anywhere.
fn cut_level0_links(segment: &Path) {
    let l = layout(segment);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(segment.join("data_level0.bin"))
        .unwrap();
    for i in 0..l.cur {
        f.write_all_at(&[0, 0], i * l.per).unwrap();
    }
}

/// Point every level-0 link at the entry point: the counts stay, every id is in range.
fn rewire_level0_links(segment: &Path) {
    let l = layout(segment);
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment.join("data_level0.bin"))
        .unwrap();
    let ep = (l.enterpoint as u32).to_le_bytes();
    for i in 0..l.cur {
        for k in 0..l.max_m0 {
            f.write_all_at(&ep, i * l.per + 4 + 4 * k).unwrap();
        }
    }
}

#[test]
fn a_link_list_damaged_in_place_fails_the_query_check_only() {
    for (version, damage) in [
        ("1.5.9", cut_level0_links as fn(&Path)),
        ("0.6.3", rewire_level0_links),
    ] {
        let h = host(&fixture(version, "store"));
        let seg = h.segment("papers");
        let sizes = |dir: &Path| -> Vec<u64> {
            [
                "header.bin",
                "data_level0.bin",
                "length.bin",
                "link_lists.bin",
            ]
            .iter()
            .map(|f| fs::metadata(dir.join(f)).unwrap().len())
            .collect()
        };
        let before = sizes(&seg);
        damage(&seg);
        assert_eq!(sizes(&seg), before, "the damage keeps every size");
        // Captured as it is: the checksums describe the damaged bytes, so only a check of
        // what the index does can tell.
        let stamp = h.create();
        let plain = h.run(&["validate", &stamp]);
        assert_eq!(
            code(&plain),
            0,
            "{version}: structural checks pass: {}",
            stderr(&plain)
        );
        let deep = h.run(&["validate", "--deep", &stamp, "--json"]);
        assert_eq!(code(&deep), 1, "{version}: {}", stderr(&deep));
        let v = json(&deep);
        let errors = v["errors"].to_string();
        assert!(
            errors.contains("collection 'papers'") && errors.contains("searching the index"),
            "{version}: {errors}"
        );
        assert!(!errors.contains("'archive'"), "{version}: {errors}");
        let drill = h.run(&["drill", &stamp, "--json"]);
        assert_eq!(code(&drill), 1, "{version}: {}", stderr(&drill));
        let report = json(&drill);
        assert_eq!(report["ok"], false);
        let proofs = recall_evidence(&report);
        let papers = proofs.iter().find(|p| p["subject"] == "papers").unwrap();
        assert_eq!(papers["passed"], false, "{version}: {papers}");
        assert!(
            papers["value"]["self_recall"].as_f64().unwrap() < 0.5,
            "{version}: {papers}"
        );
        let archive = proofs.iter().find(|p| p["subject"] == "archive").unwrap();
        assert_eq!(archive["passed"], true, "{version}: {archive}");
        assert_eq!(archive["value"]["self_recall"], 1.0);
        let logged = h.drill_log();
        let last = logged.last().unwrap();
        assert_eq!(last["ok"], false);
        assert_eq!(last["evidence"], report["evidence"]);
    }
}

#[test]
fn a_link_beyond_the_index_is_named_not_followed() {
    let h = host(&fixture("1.5.9", "store"));
    let seg = h.segment("archive");
    let l = layout(&seg);
    // The entry point's first level-0 link names an element past the end of the index
    // (hnswlib would read outside its buffer there).
    let f = fs::OpenOptions::new()
        .write(true)
        .open(seg.join("data_level0.bin"))
        .unwrap();
    let beyond = (l.cur as u32 + 7).to_le_bytes();
    f.write_all_at(&beyond, l.enterpoint * l.per + 4).unwrap();
    let stamp = h.create();
    let deep = h.run(&["validate", "--deep", &stamp]);
    assert_eq!(code(&deep), 1, "{}", stderr(&deep));
    let err = stderr(&deep);
    assert!(
        err.contains("data_level0.bin")
            && err.contains(&format!("names element {}", l.cur + 7))
            && err.contains("collection 'archive'"),
        "{err}"
    );
}

#[test]
fn hostile_header_facts_are_named_not_followed() {
    // header.bin fields the search relies on, set to what no index has: a message naming
    // the fact, never a panic, an endless search or an allocation the size of the value.
    for (what, offset, bytes) in [
        ("maxlevel", 52usize, 1_000_000i32.to_le_bytes().to_vec()),
        ("maxlevel", 52, (-3i32).to_le_bytes().to_vec()),
        ("maxM", 60, u64::MAX.to_le_bytes().to_vec()),
        ("maxM", 60, 0u64.to_le_bytes().to_vec()),
    ] {
        let h = host(&fixture("1.5.9", "store"));
        let seg = h.segment("archive");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(seg.join("header.bin"))
            .unwrap();
        f.write_all_at(&bytes, offset as u64).unwrap();
        let stamp = h.create();
        let out = h.run(&["validate", "--deep", &stamp]);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(what) && err.contains("collection 'archive'"),
            "{what}: {err}"
        );
    }
}
