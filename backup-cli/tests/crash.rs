//! Crash tests: `atocore-backup restore` and `create` on a store of a couple of hundred MB,
//! killed with SIGKILL at every named step (failpoints, built only with the `failpoints`
//! feature) and at moments spread evenly over a whole run. After every kill: the live
//! database passes integrity_check and each store is exactly the old state or exactly the
//! snapshot's; after `--resume` or `--rollback` it is exactly the chosen one. A killed create
//! never leaves a snapshot that lists or validates.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backup_core::conformance::copy_tree;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

const ROWS: i64 = 60_000; // 4 KiB each: about 250 MB
const BIN: &str = env!("CARGO_BIN_EXE_atocore-backup");

/// What a user would compare: per store, a fingerprint of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    db: (String, i64, i64),
    registry: Vec<u8>,
    chroma: BTreeMap<String, String>,
}

struct Scene {
    _tmp: tempfile::TempDir,
    live: PathBuf,
    backups: PathBuf,
    pristine: PathBuf,
    stamp: String,
    old: State,
    snap: State,
}

impl Scene {
    fn db(&self) -> PathBuf {
        self.live.join("atocore.db")
    }
    fn registry(&self) -> PathBuf {
        self.live.join("project-registry.json")
    }
    fn chroma(&self) -> PathBuf {
        self.live.join("chroma")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("ATOCORE_DB_PATH", self.db())
            .env("ATOCORE_PROJECT_REGISTRY_PATH", self.registry())
            .env("ATOCORE_CHROMA_PATH", self.chroma())
            .env("ATOCORE_BACKUP_DIR", &self.backups)
            .env_remove("ATOCORE_FAILPOINT");
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }

    /// Put the live store back to the old state and forget every snapshot but the one
    /// under test.
    fn reset(&self) {
        if self.live.exists() {
            fs::remove_dir_all(&self.live).unwrap();
        }
        copy_tree(&self.pristine, &self.live);
        let _ = fs::remove_file(self.backups.join("restore-journal.json"));
        // Every manifest but the one under test (their chunks stay, unreferenced, as a
        // prune would find them), and any upload marker a killed safety snapshot left.
        for e in fs::read_dir(self.backups.join("objects")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let other_snapshot =
                name.starts_with("snapshots%2F") && !name.contains(self.stamp.as_str());
            if other_snapshot || name.starts_with("uploads%2F") {
                fs::remove_file(&p).unwrap();
            }
        }
    }

    fn state(&self) -> State {
        state_of(&self.live)
    }

    fn journal(&self) -> Option<Value> {
        fs::read(self.backups.join("restore-journal.json"))
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }
}

fn state_of(live: &Path) -> State {
    let c = Connection::open_with_flags(live.join("atocore.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "the live database passes integrity_check");
    let db = c
        .query_row(
            "SELECT (SELECT marker FROM meta), count(*), total(length(payload)) FROM data",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as i64)),
        )
        .unwrap();
    drop(c);
    let mut chroma = BTreeMap::new();
    let dir = live.join("chroma");
    for e in walk(&dir) {
        let rel = e.strip_prefix(&dir).unwrap().display().to_string();
        let v = if rel == "chroma.sqlite3" {
            let c = Connection::open_with_flags(&e, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            c.query_row(
                "SELECT group_concat(name, ',') FROM (SELECT name FROM collections ORDER BY name)",
                [],
                |r| r.get(0),
            )
            .unwrap()
        } else {
            backup_core::fsio::hash_file(&e).unwrap().sha256
        };
        chroma.insert(rel, v);
    }
    State {
        db,
        registry: fs::read(live.join("project-registry.json")).unwrap(),
        chroma,
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn write_db(db: &Path, marker: &str, rows: std::ops::Range<i64>) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS meta(marker TEXT);
         CREATE TABLE IF NOT EXISTS data(id INTEGER PRIMARY KEY, payload BLOB);
         DELETE FROM meta;",
    )
    .unwrap();
    c.execute("INSERT INTO meta VALUES (?1)", [marker]).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in rows {
        let payload: Vec<u8> = (0..4096).map(|j| ((i * 31 + j) % 251) as u8).collect();
        tx.execute("INSERT OR REPLACE INTO data VALUES (?1, ?2)", (i, payload))
            .unwrap();
    }
    tx.commit().unwrap();
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    fs::create_dir(&live).unwrap();
    // The snapshot's state.
    write_db(&live.join("atocore.db"), "SNAP", 0..ROWS);
    fs::write(live.join("project-registry.json"), b"{\"state\": \"SNAP\"}").unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/chroma/1.5.9/store"),
        &live.join("chroma"),
    );
    let mut s = Scene {
        backups: tmp.path().join("backups"),
        pristine: tmp.path().join("pristine"),
        live,
        _tmp: tmp,
        stamp: String::new(),
        old: State {
            db: (String::new(), 0, 0),
            registry: Vec::new(),
            chroma: BTreeMap::new(),
        },
        snap: State {
            db: (String::new(), 0, 0),
            registry: Vec::new(),
            chroma: BTreeMap::new(),
        },
    };
    let out = s.run(&["create", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stamp = serde_json::from_slice::<Value>(&out.stdout).unwrap()["stamp"]
        .as_str()
        .unwrap()
        .to_owned();
    s.snap = s.state();
    // The old state: what the live store holds when the restore starts.
    write_db(&s.db(), "OLD", ROWS - 500..ROWS + 700);
    Connection::open(s.db())
        .unwrap()
        .execute("DELETE FROM data WHERE id < 1000", [])
        .unwrap();
    fs::write(s.registry(), b"{\"state\": \"OLD\"}").unwrap();
    Connection::open(s.chroma().join("chroma.sqlite3"))
        .unwrap()
        .execute("UPDATE collections SET name = name || '-old'", [])
        .unwrap();
    s.old = s.state();
    assert_ne!(s.old.db, s.snap.db);
    assert_ne!(s.old.chroma, s.snap.chroma);
    copy_tree(&s.live, &s.pristine);
    s
}

/// Start a command stopped at `failpoint` (None: runs freely); returns once it is there.
fn start_at(s: &Scene, args: &[&str], failpoint: Option<&str>) -> Child {
    let mut cmd = s.command(args);
    if let Some(f) = failpoint {
        cmd.env("ATOCORE_FAILPOINT", f);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(f) = failpoint {
        let want = format!("failpoint {f} reached");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l == want => break,
                Some(Ok(_)) => {}
                _ => panic!("{args:?} ended before failpoint {f}: {:?}", child.wait()),
            }
        }
    }
    child
}

fn sigkill(mut child: Child) -> bool {
    let was_running = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    was_running
}

/// After a kill: each store wholly old or wholly the snapshot's; then finish the restore one
/// way or the other and check the store is exactly the chosen state.
fn check_after_kill(s: &Scene, what: &str, resume: bool) {
    let now = s.state();
    assert!(
        now.db == s.old.db || now.db == s.snap.db,
        "{what}: db torn: {:?}",
        now.db
    );
    assert!(
        now.registry == s.old.registry || now.registry == s.snap.registry,
        "{what}: registry torn"
    );
    assert!(
        now.chroma == s.old.chroma || now.chroma == s.snap.chroma,
        "{what}: chroma torn"
    );
    let Some(journal) = s.journal() else {
        // Killed before the journal was written, or after it was removed.
        assert!(
            now == s.old || now == s.snap,
            "{what}: no journal, yet a mixed state"
        );
        return;
    };
    // Every write is refused until the restore is finished.
    let out = s.run(&["create"]);
    assert_eq!(out.status.code(), Some(2), "{what}: create must refuse");
    let (flag, want) = if resume || journal["pre_restore_snapshot"].is_null() {
        ("--resume", &s.snap)
    } else {
        ("--rollback", &s.old)
    };
    let out = s.run(&["restore", flag, "--confirm-service-stopped", "--json"]);
    assert!(
        out.status.success(),
        "{what} {flag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        s.state() == *want,
        "{what}: after {flag} the store is exactly the chosen state"
    );
    assert!(s.journal().is_none(), "{what}: the journal is gone");
}

#[test]
fn restore_killed_anywhere_comes_back_whole() {
    let s = scene();
    // Whole runs, timed (the shortest of three), to spread the timed kills over one.
    let mut whole = Duration::MAX;
    for _ in 0..3 {
        s.reset();
        let start = Instant::now();
        let out = s.run(&["restore", &s.stamp, "--confirm-service-stopped", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        whole = whole.min(start.elapsed());
        assert!(s.state() == s.snap);
    }
    let points = [
        "create.after-sqlite",
        "create.after-registry",
        "create.after-chroma",
        "create.before-commit",
        "create.committed",
        "restore.pre-snapshot-taken",
        "restore.journal-written",
        "restore.before-sqlite",
        "sqlite.copy-ready",
        "sqlite.checkpointed",
        "sqlite.sidecars-removed",
        "sqlite.switched",
        "restore.after-sqlite",
        "restore.before-registry",
        "restore.after-registry",
        "restore.before-chroma",
        "chroma.new-folder-built",
        "chroma.exchanged",
        "restore.after-chroma",
        "restore.before-journal-removal",
    ];
    let mut kills = 0;
    for (i, point) in points.iter().enumerate() {
        s.reset();
        let child = start_at(
            &s,
            &["restore", &s.stamp, "--confirm-service-stopped"],
            Some(point),
        );
        assert!(sigkill(child), "{point}: stopped there");
        kills += 1;
        check_after_kill(&s, point, i % 2 == 0);
    }
    // Spread over the first 90% of the shortest whole run; a run that happens to finish
    // sooner is not killed, so more kills follow (earlier in the run) until 50 have landed.
    let timed = 48u32;
    let mut attempts = 0u32;
    while attempts < timed || (kills < 50 && attempts < timed * 2) {
        attempts += 1;
        let fraction = if attempts <= timed {
            0.9 * f64::from(attempts) / f64::from(timed + 1)
        } else {
            0.6 * f64::from(attempts - timed) / f64::from(timed + 1)
        };
        s.reset();
        let child = start_at(
            &s,
            &["restore", &s.stamp, "--confirm-service-stopped"],
            None,
        );
        std::thread::sleep(whole.mul_f64(fraction));
        if sigkill(child) {
            kills += 1;
        }
        check_after_kill(
            &s,
            &format!("timed kill {attempts} at {fraction:.2}"),
            attempts % 2 == 1,
        );
    }
    eprintln!("{kills} kills over a restore of {whole:?}");
    assert!(kills >= 50, "only {kills} kills landed inside a run");
}

#[test]
fn create_killed_anywhere_never_leaves_a_snapshot_that_counts() {
    let s = scene();
    let start = Instant::now();
    let out = s.run(&["create", "--json"]);
    assert!(out.status.success());
    let whole = start.elapsed();
    let mut cases: Vec<(Option<&str>, Duration)> = [
        "create.after-sqlite",
        "create.after-registry",
        "create.after-chroma",
        "create.before-commit",
        "create.committed",
    ]
    .iter()
    .map(|p| (Some(*p), Duration::ZERO))
    .collect();
    cases.extend((1..=10).map(|i| (None, whole * i / 11)));
    for (point, delay) in cases {
        let before: Vec<String> = list(&s);
        let child = start_at(&s, &["create"], point);
        std::thread::sleep(delay);
        sigkill(child);
        let after = list(&s);
        for stamp in &after {
            let out = s.run(&["validate", stamp]);
            assert!(
                out.status.success(),
                "{point:?}/{delay:?}: listed {stamp} must validate"
            );
        }
        assert!(after.len() <= before.len() + 1);
        let out = s.run(&["cleanup", "--json"]);
        assert!(out.status.success());
        let out = s.run(&["status", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["leftovers"],
            serde_json::json!([]),
            "cleanup removed the leftovers"
        );
    }
    assert!(
        s.state() == s.old || s.state() == s.snap,
        "create never touches the live store"
    );
}

fn list(s: &Scene) -> Vec<String> {
    let out = s.run(&["list", "--json"]);
    serde_json::from_slice::<backup_cli::json::Listed>(&out.stdout)
        .unwrap()
        .snapshots
        .into_iter()
        .map(|x| x.stamp)
        .collect()
}
