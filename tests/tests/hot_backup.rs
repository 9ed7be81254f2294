//! Hot backups of a database that another process keeps writing to, and restores over a
//! database whose writer was killed with SIGKILL (so its -wal holds committed data).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use atocore_backup_tests::{payload, WRITER_SCHEMA};
use backup_core::{
    Component, FolderStore, Kind, Orchestrator, RestoreOptions, Source, Stamp, Targets,
};
use rusqlite::{Connection, OpenFlags};

const PAYLOAD: usize = 4096;

struct Writer {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Writer {
    fn start(db: &Path, extra: &[&str]) -> Writer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sqlite-writer"))
            .arg(db)
            .arg(PAYLOAD.to_string())
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the writer process");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut w = Writer { child, lines };
        w.wait_for(1);
        w
    }

    /// Read the writer's progress lines until it reports at least `n` commits.
    fn wait_for(&mut self, n: i64) -> i64 {
        loop {
            let line = self
                .lines
                .next()
                .expect("writer still running")
                .expect("read writer output");
            let got: i64 = line.trim_start_matches("committed ").parse().unwrap();
            if got >= n {
                return got;
            }
        }
    }

    /// SIGKILL, as a crash or the OOM killer would.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the writer");
        self.child.wait().unwrap();
    }
}

fn seed(db: &Path, rows: i64) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(WRITER_SCHEMA).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for seq in 1..=rows {
        tx.execute(
            "INSERT INTO log VALUES (?1, ?2)",
            (seq, payload(seq, PAYLOAD)),
        )
        .unwrap();
    }
    tx.execute("UPDATE counter SET n = ?1", [rows]).unwrap();
    tx.commit().unwrap();
}

fn counter(db: &Path) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("SELECT n FROM counter", [], |r| r.get(0))
        .unwrap()
}

/// Check a database holds exactly one committed state of the writer; return its counter.
fn committed_state(db: &Path) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{}", db.display());
    let (n, count, max): (i64, i64, i64) = c
        .query_row(
            "SELECT (SELECT n FROM counter), count(*), coalesce(max(seq), 0) FROM log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (count, max),
        (n, n),
        "rows and counter agree in {}",
        db.display()
    );
    let mut stmt = c.prepare("SELECT seq, payload FROM log").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap();
    for row in rows {
        let (seq, p) = row.unwrap();
        assert_eq!(p, payload(seq, PAYLOAD), "payload of row {seq}");
    }
    n
}

fn known() -> Vec<Box<dyn Component>> {
    vec![Box::new(backup_sqlite::SqliteComponent::new())]
}

fn sqlite_source(db: &Path) -> [Source; 1] {
    [Source {
        id: "sqlite".into(),
        path: db.to_path_buf(),
    }]
}

fn snapshot_db(backup_dir: &Path, stamp: &str) -> PathBuf {
    backup_dir
        .join("snapshots")
        .join(stamp)
        .join("sqlite")
        .join("live.db")
}

#[test]
fn hot_backup_under_a_writer_process_is_a_committed_state() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("live.db");
    seed(&db, 6000); // about 25 MB
    let mut writer = Writer::start(&db, &[]);
    let known = known();
    let store = FolderStore::new(tmp.path().join("backups"));
    let o = Orchestrator::new(&store, &known);
    let mut results = Vec::new();
    for _ in 0..3 {
        let before = counter(&db);
        let m = o
            .create(&sqlite_source(&db), Kind::Regular)
            .expect("create finishes while the writer keeps writing");
        let right_after = counter(&db);
        assert!(
            right_after > before,
            "the writer kept committing while create ran ({before} -> {right_after})"
        );
        let after = writer.wait_for(right_after + 1);
        results.push((m.stamp, before, after));
    }
    writer.kill();
    let final_n = committed_state(&db);
    for (stamp, before, after) in results {
        let v = o.validate(&Stamp::parse(&stamp).unwrap()).unwrap();
        assert!(v.is_valid(), "{:?}", v.problems);
        let n = committed_state(&snapshot_db(&store_root(&tmp), &stamp));
        assert!(
            before <= n && n < after && after <= final_n,
            "snapshot holds a state between {before} and {after}: {n}"
        );
        assert!(n >= 6000);
    }
}

fn store_root(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("backups")
}

#[test]
fn restore_over_a_killed_writers_wal_keeps_its_commits_in_the_safety_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("live.db");
    seed(&db, 200);
    let known = known();
    let store = FolderStore::new(tmp.path().join("backups"));
    let o = Orchestrator::new(&store, &known);
    let m = o.create(&sqlite_source(&db), Kind::Regular).unwrap();
    let mut writer = Writer::start(&db, &["--no-autocheckpoint"]);
    let reported = writer.wait_for(1200);
    writer.kill();
    let wal = backup_sqlite::sidecars(&db)[0].clone();
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(
        wal_len > 1_000_000,
        "the killed writer left its commits in the -wal ({wal_len} bytes)"
    );
    let report = o
        .restore(
            &Stamp::parse(&m.stamp).unwrap(),
            &RestoreOptions {
                allow_schema_change: false,
                targets: Targets::Live(Default::default()),
                confirm_service_stopped: true,
                pre_restore_snapshot: true,
                skip: Default::default(),
                protected: Vec::new(),
            },
        )
        .unwrap();
    assert!(report.verified(), "{:?}", report.components);
    for side in backup_sqlite::sidecars(&db) {
        assert!(!side.exists(), "{} survived the restore", side.display());
    }
    assert_eq!(committed_state(&db), 200, "live is exactly the snapshot");
    let pre = report.pre_restore_snapshot.unwrap();
    let held = committed_state(&snapshot_db(&store_root(&tmp), &pre));
    assert!(
        held >= reported,
        "the safety snapshot holds every commit the writer reported ({held} >= {reported})"
    );
}
