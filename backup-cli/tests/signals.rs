//! SIGINT and SIGTERM at many moments of `create` and `restore`: the run exits with 130 or
//! 143; a snapshot being built is removed; before a restore's journal exists its temporary
//! files are removed and the live store is as it was; after, the journal stays for
//! `--resume`/`--rollback`. Whatever is left beside the live stores is listed by `status`,
//! and every store is wholly old or wholly the snapshot's.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{code, json, scene, signal, stderr, stop_at, Scene};

/// What a user compares: the memories in the database, the registry's bytes, every Chroma
/// file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    memories: Vec<String>,
    registry: Vec<u8>,
    chroma: BTreeMap<PathBuf, Vec<u8>>,
}

fn state(s: &Scene) -> State {
    let c = rusqlite::Connection::open_with_flags(
        &s.env.db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c);
    State {
        memories: s.env.memories(&s.env.db),
        registry: fs::read(&s.env.registry).unwrap(),
        chroma: backup_core::conformance::tree_bytes(&s.chroma)
            .into_iter()
            .map(|(p, b)| {
                let rel = p.strip_prefix(&s.chroma).unwrap().to_path_buf();
                // A safety snapshot copies chroma.sqlite3 through SQLite's backup API: the
                // same rows, other bytes. Compare what it holds.
                let b = if rel == std::path::Path::new("chroma.sqlite3") {
                    chroma_rows(&p).into_bytes()
                } else {
                    b
                };
                (rel, b)
            })
            .collect(),
    }
}

fn chroma_rows(db: &std::path::Path) -> String {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row(
        "SELECT (SELECT group_concat(name, ',') FROM (SELECT name FROM collections ORDER BY name)),
                (SELECT count(*) FROM embeddings), (SELECT count(*) FROM embeddings_queue)",
        [],
        |r| {
            Ok(format!(
                "{:?} {} {}",
                r.get::<_, Option<String>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?
            ))
        },
    )
    .unwrap()
}

/// Names in the data folder that are neither a store nor a lock.
fn extra_names(s: &Scene) -> Vec<PathBuf> {
    let data = s.env.db.parent().unwrap();
    let mut out: Vec<PathBuf> = fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !s.live_paths().contains(p))
        .filter(|p| !p.to_string_lossy().ends_with(".lock"))
        .collect();
    out.sort();
    out
}

/// Every leftover beside the live stores is listed by `status`; an unfinished restore is
/// shown there too. Returns whether a restore is unfinished.
fn everything_is_listed(s: &Scene, what: &str) -> bool {
    let out = s.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
    let st = json(&out);
    let listed = st["leftovers"].to_string();
    for p in extra_names(s) {
        assert!(
            listed.contains(&*p.to_string_lossy()),
            "{what}: {} is left without a listing: {st}",
            p.display()
        );
    }
    for name in staging_folders(s).into_iter().chain(upload_markers(s)) {
        assert!(
            listed.contains(&name),
            "{what}: staging {name} left without a listing: {st}"
        );
    }
    !st["unfinished_restore"].is_null()
}

/// The folders snapshots are built in: a repository builds each in a scratch folder of the
/// backup dir (`.drill-scratch-upload-<stamp>`).
fn staging_folders(s: &Scene) -> Vec<String> {
    fs::read_dir(&s.env.backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".drill-scratch-upload-"))
        .collect()
}

/// The markers of uploads in progress (`uploads/<stamp>`), as `status` names them.
fn upload_markers(s: &Scene) -> Vec<String> {
    fs::read_dir(s.env.backups.join("objects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_prefix("uploads%2F").map(|t| format!("uploads/{t}")))
        .collect()
}

fn snapshot_count(s: &Scene) -> usize {
    fs::read_dir(s.env.backups.join("objects"))
        .map(|d| {
            d.filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("snapshots%2F") && n.ends_with("%2Fbackup-metadata.json")
            })
            .count()
        })
        .unwrap_or(0)
}

fn wait_code(mut child: std::process::Child, within: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().expect("exited, not killed");
        }
        if start.elapsed() > within {
            child.kill().unwrap();
            panic!("still running {within:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const SIGNALS: [(&str, i32); 2] = [("INT", 130), ("TERM", 143)];

#[test]
fn a_signal_during_create_removes_the_snapshot_being_built() {
    for (i, point) in [
        "create.after-sqlite",
        "create.after-registry",
        "create.after-chroma",
        "create.before-commit",
    ]
    .iter()
    .enumerate()
    {
        let (sig, want) = SIGNALS[i % 2];
        let s = scene();
        s.create();
        let before = state(&s);
        let (child, err) = stop_at(s.command(&["create"]), point);
        signal(&child, sig);
        let got = wait_code(child, Duration::from_secs(10));
        let err = err.join().unwrap();
        assert_eq!(got, want, "{point} {sig}: {err}");
        assert!(err.contains("interrupted by SIG"), "{err}");
        assert!(
            staging_folders(&s).is_empty() && upload_markers(&s).is_empty(),
            "{point}: {:?} {:?}",
            staging_folders(&s),
            upload_markers(&s)
        );
        assert_eq!(snapshot_count(&s), 1, "{point}: no new snapshot");
        assert_eq!(state(&s), before, "{point}: the live store is as it was");
        assert!(!everything_is_listed(&s, point));
    }
}

/// A run stuck where it cannot reach a safe point (one long SQLite step; here a failpoint
/// told to ignore the signal) is cleaned up by the signal thread itself within seconds.
#[test]
fn a_create_stuck_where_it_cannot_stop_is_still_cleaned_up() {
    let s = scene();
    for (sig, want) in SIGNALS {
        let mut cmd = s.command(&["create"]);
        cmd.env("ATOCORE_FAILPOINT_STUCK", "1");
        let (child, err) = stop_at(cmd, "create.after-registry");
        assert_eq!(staging_folders(&s).len(), 1);
        let t = Instant::now();
        signal(&child, sig);
        let got = wait_code(child, Duration::from_secs(10));
        let err = err.join().unwrap();
        assert_eq!(got, want, "{err}");
        assert!(
            t.elapsed() >= Duration::from_secs(2),
            "it waited for a safe point first"
        );
        assert!(err.contains("removed"), "{err}");
        assert!(staging_folders(&s).is_empty(), "{:?}", staging_folders(&s));
        assert_eq!(snapshot_count(&s), 0);
    }
}

#[test]
fn a_signal_during_restore_leaves_a_whole_store_and_only_listed_leftovers() {
    let points = [
        // Before the journal: the safety snapshot is being taken or was just taken.
        ("create.after-sqlite", false),
        ("restore.pre-snapshot-taken", false),
        // After: the journal stays for resume or rollback.
        ("restore.journal-written", true),
        ("sqlite.copy-ready", true),
        ("sqlite.checkpointed", true),
        ("restore.before-registry", true),
        ("chroma.new-folder-built", true),
        ("restore.before-journal-removal", true),
    ];
    for (i, (point, journaled)) in points.iter().enumerate() {
        let (sig, want) = SIGNALS[i % 2];
        let s = scene();
        let stamp = s.create();
        let snap = state(&s);
        s.env.mutate();
        fs::write(s.chroma.join("added-later"), b"x").unwrap();
        let old = state(&s);
        let (child, err) = stop_at(
            s.command(&["restore", &stamp, "--confirm-service-stopped"]),
            point,
        );
        signal(&child, sig);
        let got = wait_code(child, Duration::from_secs(10));
        let err = err.join().unwrap();
        assert_eq!(got, want, "{point} {sig}: {err}");
        let now = state(&s);
        assert!(
            now.memories == old.memories || now.memories == snap.memories,
            "{point}: the database is torn"
        );
        assert!(
            now.registry == old.registry || now.registry == snap.registry,
            "{point}"
        );
        assert!(
            now.chroma == old.chroma || now.chroma == snap.chroma,
            "{point}"
        );
        let unfinished = everything_is_listed(&s, point);
        if !journaled {
            assert!(!unfinished, "{point}: no journal before it is written");
            assert_eq!(now, old, "{point}: nothing was switched");
            assert!(extra_names(&s).is_empty(), "{point}: {:?}", extra_names(&s));
        }
        if unfinished {
            // The other commands that write refuse until it is finished.
            let out = s.run(&["create"]);
            assert_eq!(code(&out), 2, "{point}");
            let finish = if i % 2 == 0 { "--resume" } else { "--rollback" };
            let out = s.run(&["restore", finish, "--confirm-service-stopped"]);
            assert_eq!(code(&out), 0, "{point} {finish}: {}", stderr(&out));
            let want_state = if finish == "--resume" { &snap } else { &old };
            let got = state(&s);
            assert_eq!(
                got.memories, want_state.memories,
                "{point} {finish}: memories"
            );
            assert_eq!(
                got.registry, want_state.registry,
                "{point} {finish}: registry"
            );
            assert_eq!(
                got.chroma.keys().collect::<Vec<_>>(),
                want_state.chroma.keys().collect::<Vec<_>>(),
                "{point} {finish}: chroma files"
            );
            assert_eq!(&got, want_state, "{point} {finish}");
        }
        assert!(extra_names(&s).is_empty(), "{point}: {:?}", extra_names(&s));
        assert!(!everything_is_listed(&s, point));
    }
}

/// A bigger store, and the signal sent at moments spread over whole runs of create and
/// restore, not only at named steps.
#[test]
fn signals_at_moments_spread_over_a_run() {
    let s = scene();
    // About 40 MB of rows, so a run lasts long enough to be hit in the middle.
    {
        let c = rusqlite::Connection::open(&s.env.db).unwrap();
        c.execute_batch("CREATE TABLE IF NOT EXISTS bulk(id INTEGER PRIMARY KEY, b BLOB);")
            .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for _ in 0..10_000 {
            tx.execute("INSERT INTO bulk(b) VALUES (randomblob(4000))", [])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let stamp = s.create();
    let snap = state(&s);
    s.env.mutate();
    let old = state(&s);
    let restore_without_safety_snapshot = || {
        let out = s.run(&[
            "restore",
            &stamp,
            "--confirm-service-stopped",
            "--no-pre-snapshot",
        ]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    };
    // How long a whole restore takes here.
    let t = Instant::now();
    restore_without_safety_snapshot();
    let full = t.elapsed();
    let out = s.run(&["restore", "--rollback", "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "nothing to roll back to: {}", stderr(&out));
    let mut landed = 0;
    for k in 0..12 {
        // Back to the old state: the snapshot, then the same mutation again.
        restore_without_safety_snapshot();
        s.env.mutate();
        let before = state(&s);
        assert_eq!(before.memories, old.memories);
        let (sig, want) = SIGNALS[k % 2];
        let args: Vec<&str> = if k % 3 == 2 {
            vec!["create"]
        } else {
            vec!["restore", &stamp, "--confirm-service-stopped"]
        };
        let child = s
            .command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64((k as f64 + 0.5) / 12.0));
        let running = child.id();
        let _ = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(running.to_string())
            .status();
        let got = wait_code(child, Duration::from_secs(20));
        let what = format!("{args:?} {sig} at {k}/12");
        assert!(got == 0 || got == want, "{what}: exit {got}");
        if got == want {
            landed += 1;
        }
        let now = state(&s);
        assert!(
            now.memories == before.memories || now.memories == snap.memories,
            "{what}: torn"
        );
        if everything_is_listed(&s, &what) {
            let out = s.run(&["restore", "--resume", "--confirm-service-stopped"]);
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
            assert_eq!(state(&s), snap, "{what}");
        }
        assert!(staging_folders(&s).is_empty(), "{what}");
        assert!(extra_names(&s).is_empty(), "{what}: {:?}", extra_names(&s));
    }
    assert!(
        landed >= 6,
        "only {landed} of 12 signals landed inside a run"
    );
}
