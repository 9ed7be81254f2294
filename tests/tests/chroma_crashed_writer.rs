//! Chroma stores left behind by a crash: a writer process killed with SIGKILL in the middle of
//! a transaction (a hot `chroma.sqlite3-journal` beside a file holding uncommitted pages), and
//! a `chroma.sqlite3` that SQLite cannot read at all. Backups and restores must still work,
//! and a restore over such a store must be able to put it back exactly as it was.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use backup_chroma::ChromaComponent;
use backup_core::conformance::copy_tree;
use backup_core::{
    fsio, Component, FolderStore, Kind, Orchestrator, RestoreOptions, Source, Stamp, Targets,
    MANIFEST_NAME,
};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

struct Scene {
    tmp: tempfile::TempDir,
    known: Vec<Box<dyn Component>>,
    store: FolderStore,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/chroma/1.5.9/store");
        copy_tree(&fixture, &tmp.path().join("chroma"));
        let store = FolderStore::new(tmp.path().join("backups"));
        Scene {
            tmp,
            known: vec![Box::new(ChromaComponent::default())],
            store,
        }
    }

    fn live(&self) -> PathBuf {
        self.tmp.path().join("chroma")
    }

    fn db(&self) -> PathBuf {
        self.live().join("chroma.sqlite3")
    }

    fn journal(&self) -> PathBuf {
        self.live().join("chroma.sqlite3-journal")
    }

    fn orchestrator(&self) -> Orchestrator<'_> {
        Orchestrator::new(&self.store, &self.known)
    }

    fn create(&self, kind: Kind) -> backup_core::Result<backup_core::Manifest> {
        self.orchestrator().create(
            &[Source {
                id: "chroma".into(),
                path: self.live(),
            }],
            kind,
        )
    }

    fn restore(&self, stamp: &str) -> backup_core::RestoreReport {
        let report = self
            .orchestrator()
            .restore(
                &Stamp::parse(stamp).unwrap(),
                &RestoreOptions {
                    allow_schema_change: false,
                    targets: Targets::Live(Default::default()),
                    confirm_service_stopped: true,
                    pre_restore_snapshot: true,
                    skip: Default::default(),
                    protected: Vec::new(),
                },
            )
            .expect("restore");
        assert!(report.verified(), "{:?}", report.components);
        report
    }

    fn snapshot_dir(&self, stamp: &str) -> PathBuf {
        self.tmp.path().join("backups/snapshots").join(stamp)
    }

    fn chroma_facts(&self, stamp: &str) -> Value {
        let m: Value = serde_json::from_slice(
            &fs::read(self.snapshot_dir(stamp).join(MANIFEST_NAME)).unwrap(),
        )
        .unwrap();
        m["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "chroma")
            .unwrap()
            .clone()
    }

    fn valid(&self, stamp: &str) -> bool {
        self.orchestrator()
            .validate(&Stamp::parse(stamp).unwrap())
            .unwrap()
            .is_valid()
    }

    /// Run a real writer process on the live `chroma.sqlite3` and SIGKILL it mid-transaction.
    fn crash_a_writer(&self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stalled-writer"))
            .arg(self.db())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the writer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "mid-transaction");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        assert!(
            self.journal().exists(),
            "the killed writer left its journal"
        );
        // The database file alone is torn: it holds the uncommitted table.
        let torn = Connection::open_with_flags(
            format!("file:{}?immutable=1", self.db().display()),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        assert_eq!(
            tables(&torn)
                .iter()
                .filter(|t| *t == "stalled_writes")
                .count(),
            1
        );
    }
}

fn tables(c: &Connection) -> Vec<String> {
    c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every row of every table of a `chroma.sqlite3` with no journal beside it, as text.
fn rows(db: &Path) -> String {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut out = String::new();
    for t in tables(&c) {
        if t.contains("fts") {
            continue; // FTS shadow tables: derived from embedding_metadata
        }
        let mut stmt = c
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let mut rs = stmt.query([]).unwrap();
        out.push_str(&format!("table {t}\n"));
        while let Some(r) = rs.next().unwrap() {
            for i in 0..n {
                out.push_str(&format!("{:?} ", r.get_ref(i).unwrap()));
            }
            out.push('\n');
        }
    }
    out
}

/// SHA-256 of every file below `dir`, by relative path.
fn bytes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fsio::hash_file(&p).unwrap().sha256);
            }
        }
    }
    out
}

#[test]
fn a_crashed_writers_hot_journal_is_rolled_back_in_create_and_before_restore() {
    let s = Scene::new();
    let committed = rows(&s.db());
    let vectors: BTreeMap<_, _> = bytes(&s.live())
        .into_iter()
        .filter(|(p, _)| p.components().count() > 1)
        .collect();

    // create: the snapshot holds the last committed state, not the torn file.
    s.crash_a_writer();
    let m = s.create(Kind::Regular).expect("create over a hot journal");
    assert!(s.valid(&m.stamp));
    assert_eq!(
        m.component("chroma").unwrap().facts.own["rolled_back_hot_journal"],
        true
    );
    let snap_db = s.snapshot_dir(&m.stamp).join("chroma/chroma.sqlite3");
    assert_eq!(rows(&snap_db), committed);
    // Opening the store for writing rolled the journal back, as chromadb's next start would.
    assert!(!s.journal().exists());
    assert_eq!(rows(&s.db()), committed);

    // restore over a store with a hot journal: its safety snapshot is the consistent,
    // committed state (not a raw capture), and the snapshot's state replaces it.
    s.crash_a_writer();
    let report = s.restore(&m.stamp);
    let pre = report.pre_restore_snapshot.unwrap();
    assert_eq!(s.chroma_facts(&pre)["facts"].get("raw"), None);
    assert!(s.valid(&pre));
    assert_eq!(
        rows(&s.snapshot_dir(&pre).join("chroma/chroma.sqlite3")),
        committed
    );
    assert!(!s.journal().exists());
    assert_eq!(rows(&s.db()), committed);
    let now: BTreeMap<_, _> = bytes(&s.live())
        .into_iter()
        .filter(|(p, _)| p.components().count() > 1)
        .collect();
    assert_eq!(now, vectors);
}

#[test]
fn restore_over_an_unreadable_chroma_db_keeps_its_raw_files_to_roll_back_to() {
    let s = Scene::new();
    let good = s.create(Kind::Regular).unwrap();
    let committed = rows(&s.db());

    // Damage: the header of chroma.sqlite3 inverted, and a journal beside it.
    let mut head = fs::read(s.db()).unwrap();
    for b in &mut head[..16] {
        *b = !*b;
    }
    fs::write(s.db(), &head).unwrap();
    fs::write(s.journal(), b"whatever a dying writer left").unwrap();
    let damaged = bytes(&s.live());

    // A regular create refuses, naming the file, and writes no snapshot.
    let listed = s.orchestrator().list().unwrap().0.len();
    let err = s.create(Kind::Regular).unwrap_err().to_string();
    assert!(err.contains("chroma.sqlite3"), "{err}");
    assert_eq!(s.orchestrator().list().unwrap().0.len(), listed);
    assert_eq!(
        bytes(&s.live()),
        damaged,
        "a refused create touches nothing"
    );

    // Restore works, and its safety snapshot keeps every file raw, marked unverified.
    let report = s.restore(&good.stamp);
    assert_eq!(rows(&s.db()), committed);
    assert!(!s.journal().exists());
    let pre = report.pre_restore_snapshot.unwrap();
    let rec = s.chroma_facts(&pre);
    assert_eq!(rec["facts"]["raw"], true);
    assert_eq!(rec["facts"]["verified"], false);
    assert!(
        rec["facts"]["reason"]
            .as_str()
            .unwrap()
            .contains("chroma.sqlite3"),
        "{rec}"
    );
    let captured: Vec<&str> = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        captured.contains(&"chroma/raw/chroma.sqlite3-journal"),
        "{captured:?}"
    );
    assert!(s.valid(&pre));

    // Rolling back gives the damaged store back byte for byte, journal included.
    let back = s.restore(&pre);
    let warnings = back.component("chroma").unwrap().facts.warnings.join("\n");
    assert!(warnings.contains("raw, unverified"), "{warnings}");
    assert_eq!(bytes(&s.live()), damaged);

    // A flipped byte in the raw capture is caught.
    let raw_db = s.snapshot_dir(&pre).join("chroma/raw/chroma.sqlite3");
    let mut b = fs::read(&raw_db).unwrap();
    b[5000] ^= 0xFF;
    fs::write(&raw_db, b).unwrap();
    let v = s
        .orchestrator()
        .validate(&Stamp::parse(&pre).unwrap())
        .unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.to_string().contains("chroma/raw/chroma.sqlite3")),
        "{:?}",
        v.problems
    );
}
