//! The repository end to end, through the real binary: what a snapshot costs (dedup), that a
//! flipped byte anywhere (pack, index, manifest) or a lost pack is caught naming the snapshots
//! it affects while the others still restore, retention (`prune`) and its protections, a
//! prune killed at every step and at random moments, and `migrate` of plain-folder backups.
//!
//! Every test runs twice: on a repository in the backup dir (`local::`), and on one on a real
//! S3-compatible server on loopback, sealed with a key (`s3::`; needs the s3s-fs binary that
//! scripts/test.sh installs). The damage is done to the files that server keeps.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use backup_core::conformance::{copy_tree, flip_byte, tree_bytes};
use rusqlite::Connection;
use serde_json::Value;

use common::{code, env, env_on, json, signal, stderr, stop_at, typed, Backend, Env};

/// Each named test (a function of the backend) runs on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Local)
            })*
        }
        mod s3 {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::S3)
            })*
        }
    };
}

on_both_backends!(
    a_second_snapshot_after_one_percent_of_rows_changed_adds_under_two_percent,
    damage_anywhere_is_caught_naming_the_snapshots_it_affects_and_the_others_still_restore,
    read_data_subsets_cover_every_pack_over_their_nights,
    prune_keeps_what_the_policy_and_the_protections_say,
    prune_deletes_and_rewrites_packs_and_a_kill_at_any_step_leaves_a_clean_repository,
    a_plain_folder_backup_dir_restores_identically_before_and_after_migrate,
    hostile_manifest_objects_are_invalid_not_followed,
    a_validate_while_a_create_stores_its_snapshot_waits_and_succeeds,
    a_restore_moves_or_copies_the_checked_copy_and_gets_the_snapshots_bytes,
    a_checked_copy_changed_after_the_gate_is_refused_not_moved,
);

/// Pseudo-random words from a small vocabulary (xorshift): pages that compress about as
/// prose does, neither to nothing nor not at all.
fn text(seed: u64, len: usize) -> String {
    const WORDS: [&str; 48] = [
        "memory",
        "project",
        "vector",
        "the",
        "of",
        "and",
        "backup",
        "restore",
        "query",
        "index",
        "page",
        "chunk",
        "service",
        "operator",
        "store",
        "a",
        "is",
        "to",
        "in",
        "for",
        "with",
        "state",
        "snapshot",
        "folder",
        "record",
        "value",
        "time",
        "agent",
        "task",
        "result",
        "note",
        "field",
        "embedding",
        "model",
        "token",
        "score",
        "rank",
        "doc",
        "source",
        "user",
        "session",
        "plan",
        "step",
        "check",
        "run",
        "node",
        "edge",
        "graph",
    ];
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.push_str(WORDS[(s % 48) as usize]);
        out.push(' ');
    }
    out.truncate(len);
    out
}

/// Random bytes (incompressible).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// A documents table with an index, `rows` rows of about 1.2 KB: a WAL database of tens of MB.
fn grow_docs(db: &Path, rows: u64) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY, tag TEXT, body TEXT);
         CREATE INDEX IF NOT EXISTS docs_tag ON docs(tag);",
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    let first: u64 = tx
        .query_row("SELECT COALESCE(MAX(id), 0) FROM docs", [], |r| r.get(0))
        .unwrap();
    for i in first + 1..=first + rows {
        tx.execute(
            "INSERT INTO docs(id, tag, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![i, text(i, 12), text(i * 31, 1200)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}

fn created(out: &Output) -> backup_cli::json::Created {
    assert_eq!(code(out), 0, "{}", stderr(out));
    typed(out)
}

/// The size of every file holding the repository's objects.
fn stored_size(e: &Env) -> u64 {
    tree_bytes(&e.objects_root())
        .values()
        .map(|b| b.len() as u64)
        .sum()
}

fn manifest_bytes(e: &Env, stamp: &str) -> u64 {
    fs::metadata(e.manifest_path(stamp)).unwrap().len()
}

/// What a user compares after a restore: every table's rows.
fn rows(db: &Path) -> Vec<(i64, String)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut out: Vec<(i64, String)> = c
        .prepare("SELECT id, content FROM memories ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let has_docs: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'docs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if has_docs == 1 {
        out.extend(
            c.prepare("SELECT id, tag || body FROM docs ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap),
        );
    }
    out
}

fn a_second_snapshot_after_one_percent_of_rows_changed_adds_under_two_percent(b: Backend) {
    let e = env_on(b);
    grow_docs(&e.db, 25_000);
    let db_size = fs::metadata(&e.db).unwrap().len();
    assert!(db_size > 30 << 20, "{db_size}");
    let first = created(&e.run(&["create", "--json"]));
    let s1 = first.stored.unwrap();
    assert_eq!(s1.new_chunks, s1.chunks);
    assert!(
        s1.added_bytes < db_size,
        "compressed: {} of {db_size}",
        s1.added_bytes
    );

    // Nothing changed: only the manifest, and no chunk.
    let same = created(&e.run(&["create", "--json"]));
    let s2 = same.stored.unwrap();
    let cost = s2.added_bytes + manifest_bytes(&e, &same.stamp);
    assert_eq!(s2.new_chunks, 0);
    assert!(
        (cost as f64) < 0.005 * db_size as f64,
        "an unchanged store cost {cost} bytes of {db_size}"
    );

    // A writer changes 1% of the rows (250 of 25,000), spread over the table.
    let c = Connection::open(&e.db).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for k in 0..250u64 {
        let id = 1 + (k * 7919) % 25_000;
        tx.execute(
            "UPDATE docs SET body = ?1 WHERE id = ?2",
            rusqlite::params![text(1_000_000 + k, 1200), id],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(c);
    let stored_before = stored_size(&e);
    let changed = created(&e.run(&["create", "--json"]));
    let s3 = changed.stored.unwrap();
    let cost = s3.added_bytes + manifest_bytes(&e, &changed.stamp);
    // What the repository's files (on the server, for a remote one) grew by says the same.
    let grown = stored_size(&e) - stored_before;
    assert!(
        (grown as f64) < 0.02 * db_size as f64,
        "1% of rows changed grew the repository by {grown} bytes of {db_size}"
    );
    assert!(
        s3.new_chunks > 0 && s3.new_chunks < s3.chunks / 20,
        "{s3:?}"
    );
    assert!(
        (cost as f64) < 0.02 * db_size as f64,
        "1% of rows changed cost {cost} bytes of {db_size} ({s3:?})"
    );

    // Each snapshot restores to exactly what was live when it was taken.
    let live_now = rows(&e.db);
    let into = e.tmp.path().join("third");
    let out = e.run(&["restore", &changed.stamp, "--to", into.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(rows(&into.join("atocore.db")), live_now);
    let into = e.tmp.path().join("first");
    let out = e.run(&["restore", &first.stamp, "--to", into.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let old = rows(&into.join("atocore.db"));
    assert_eq!(old.len(), live_now.len());
    assert_ne!(
        old, live_now,
        "the first snapshot holds the rows before the change"
    );
}

/// The pack files only `stamp`'s file `rel` uses, among those of `others`.
fn own_packs(e: &Env, stamp: &str, rel: &str, others: &[&str]) -> Vec<PathBuf> {
    let theirs: Vec<PathBuf> = others
        .iter()
        .flat_map(|o| e.stored_places(o, rel))
        .map(|(p, _, _)| p)
        .collect();
    let mut mine: Vec<PathBuf> = e
        .stored_places(stamp, rel)
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| !theirs.contains(p))
        .collect();
    mine.dedup();
    mine
}

fn check(e: &Env, args: &[&str]) -> (i32, backup_cli::json::Checked) {
    let mut a = vec!["check", "--json"];
    a.extend(args);
    let out = e.run(&a);
    assert!(matches!(code(&out), 0 | 1), "{}", stderr(&out));
    (code(&out), typed(&out))
}

fn damage_anywhere_is_caught_naming_the_snapshots_it_affects_and_the_others_still_restore(
    b: Backend,
) {
    let e = env_on(b);
    grow_docs(&e.db, 2_000);
    let a = e.create();
    let a_rows = rows(&e.db);
    grow_docs(&e.db, 4_000);
    let b = e.create();
    assert_eq!(check(&e, &["--read-data"]).0, 0);
    let packs = own_packs(&e, &b, "sqlite/atocore.db", &[&a]);
    assert!(!packs.is_empty(), "b stored new pages in a pack of its own");
    let pack = &packs[0];
    let id = pack
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("packs%2F")
        .to_owned();
    e.mutate();
    let live = e.live_bytes();
    let affected_only_b = |what: &str, read: &[&str]| {
        let (c, r) = check(&e, read);
        assert_eq!(c, 1, "{what}: {r:?}");
        assert_eq!(
            r.affected_snapshots,
            std::slice::from_ref(&b),
            "{what}: {r:?}"
        );
        let out = e.run(&["validate", &b]);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains("sqlite/atocore.db"), "{what}");
        let out = e.run(&["restore", &b, "--confirm-service-stopped"]);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        assert_eq!(e.live_bytes(), live, "{what}: the live store is untouched");
        assert_eq!(code(&e.run(&["validate", &a])), 0, "{what}: a is fine");
        let into = e.tmp.path().join(format!("a-{}", what.replace(' ', "-")));
        let out = e.run(&["restore", &a, "--to", into.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        assert_eq!(rows(&into.join("atocore.db")), a_rows, "{what}");
    };
    let original = fs::read(pack).unwrap();
    // A flipped byte in a pack: the data check finds it, and so does reading.
    flip_byte(pack, original.len() as u64 / 3);
    affected_only_b("flipped pack byte", &["--read-data"]);
    fs::write(pack, &original).unwrap();
    // A lost pack: the structural check finds it.
    fs::remove_file(pack).unwrap();
    affected_only_b("deleted pack", &[]);
    fs::write(pack, &original).unwrap();
    assert_eq!(check(&e, &["--read-data"]).0, 0);

    // A flipped byte in a pack's index object: named by check; the data is intact (the pack
    // holds its own table), so every snapshot still validates.
    let index = e.object(&format!("index/{id}"));
    let good = fs::read(&index).unwrap();
    flip_byte(&index, good.len() as u64 / 2);
    let (c, r) = check(&e, &[]);
    assert_eq!(c, 1, "{r:?}");
    assert!(r.problems.iter().any(|p| p.what.contains(&id)), "{r:?}");
    assert!(r.affected_snapshots.is_empty(), "{r:?}");
    for s in [&a, &b] {
        assert_eq!(code(&e.run(&["validate", s])), 0);
    }
    fs::write(&index, &good).unwrap();

    // The local index is a cache: with a damaged header it is rebuilt on the spot; damage
    // deeper in it shows as an error naming it (never as wrong bytes restored: every chunk
    // is checked), and `check`, which always rebuilds it, puts it right.
    let cache = e.cache_file();
    for at in [0, 100] {
        flip_byte(&cache, at);
        let out = e.run(&["validate", &b]);
        assert_eq!(code(&out), 0, "cache byte {at}: {}", stderr(&out));
    }
    let n = fs::metadata(&cache).unwrap().len();
    flip_byte(&cache, n / 2);
    let out = e.run(&["validate", &b]);
    assert!(
        code(&out) == 0 || stderr(&out).contains("check --read-data"),
        "{}",
        stderr(&out)
    );
    assert_eq!(check(&e, &["--read-data"]).0, 0);
    assert_eq!(code(&e.run(&["validate", &b])), 0);

    // A flipped byte in a manifest: that snapshot only.
    let m = e.manifest_path(&b);
    let good = fs::read(&m).unwrap();
    flip_byte(&m, good.len() as u64 / 2);
    let (c, r) = check(&e, &[]);
    assert_eq!(
        (c, r.affected_snapshots.clone()),
        (1, vec![b.clone()]),
        "{r:?}"
    );
    let out = e.run(&["validate", &b]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = e.run(&["restore", &b, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(e.live_bytes(), live);
    fs::write(&m, &good).unwrap();
    assert_eq!(check(&e, &["--read-data"]).0, 0);
}

fn read_data_subsets_cover_every_pack_over_their_nights(b: Backend) {
    let e = env_on(b);
    for round in 0..4 {
        grow_docs(&e.db, 3_000 + round);
        e.create();
    }
    let (_, all) = check(&e, &["--read-data"]);
    assert!(all.packs >= 4, "{all:?}");
    assert_eq!(all.packs_read, all.packs);
    let mut read = 0;
    for n in 1..=3 {
        let (c, r) = check(&e, &["--read-data-subset", &format!("{n}/3")]);
        assert_eq!(c, 0);
        read += r.packs_read;
    }
    assert_eq!(read, all.packs, "the three nights read every pack once");
    for bad in ["0/3", "4/3", "x", "0%", "101%"] {
        let out = e.run(&["check", "--read-data-subset", bad]);
        assert_eq!(code(&out), 2, "{bad}");
        assert!(stderr(&out).contains("--read-data-subset"), "{bad}");
    }
}

/// Give the repository snapshots at past moments: copies of `stamp`'s manifest under other
/// stamps and kinds (their chunks are shared, so each is a whole, valid snapshot).
fn backdate(e: &Env, stamp: &str, at: &[(String, &str)]) {
    let good = String::from_utf8(e.read_manifest(stamp)).unwrap();
    for (s, kind) in at {
        let m = good
            .replace(stamp, s)
            .replace("\"kind\": \"regular\"", &format!("\"kind\": \"{kind}\""));
        assert!(m.contains(s.as_str()));
        e.write_manifest(s, m.as_bytes());
    }
}

fn stamp_days_ago(days: u64, hour: u64) -> String {
    let t = std::time::SystemTime::now() - Duration::from_secs(days * 86_400 + hour * 3600);
    backup_core::Stamp::at(t).to_string()
}

fn pruned(out: &Output) -> backup_cli::json::Pruned {
    assert_eq!(code(out), 0, "{}", stderr(out));
    typed(out)
}

fn prune_keeps_what_the_policy_and_the_protections_say(b: Backend) {
    let e = env_on(b);
    let now = e.create();
    let past: Vec<(String, &str)> = (1..=10u64)
        .map(|d| (stamp_days_ago(d, 0), "regular"))
        .chain([
            (stamp_days_ago(2, 3), "pre-restore"),
            (stamp_days_ago(20, 0), "pre-restore"),
        ])
        .collect();
    backdate(&e, &now, &past);
    let objects = tree_bytes(&e.objects_root());

    // A policy that keeps nothing is refused, and changes nothing.
    for args in [vec!["prune"], vec!["prune", "--keep-last", "0"]] {
        let out = e.run(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(
            stderr(&out).contains("keeps no regular snapshot"),
            "{args:?}"
        );
    }
    // A dry run says what would go and changes nothing.
    let plan = pruned(&e.run(&["prune", "--keep-daily", "3", "--dry-run", "--json"]));
    assert!(plan.dry_run);
    assert_eq!(tree_bytes(&e.objects_root()), objects);
    let kept: BTreeMap<String, Vec<String>> = plan
        .keep
        .iter()
        .map(|k| (k.stamp.clone(), k.reasons.clone()))
        .collect();
    assert_eq!(kept[&now], ["daily", "newest-valid"]);
    assert_eq!(kept[&past[0].0], ["daily"]);
    assert_eq!(kept[&past[1].0], ["daily"]);
    assert_eq!(kept[&past[10].0], ["pre-restore"], "younger than 7 days");
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(plan.remove.len(), 9);
    assert!(plan.remove.contains(&past[11].0), "an old pre-restore goes");

    // The newest snapshot damaged: it is kept by the policy, and so is the newest that
    // validates, which the policy alone would remove.
    let good = e.read_manifest(&now);
    let damaged = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"size\": ", "\"size\": 1");
    e.write_manifest(&now, damaged.as_bytes());
    let plan = pruned(&e.run(&["prune", "--keep-last", "1", "--dry-run", "--json"]));
    let kept: BTreeMap<String, Vec<String>> = plan
        .keep
        .iter()
        .map(|k| (k.stamp.clone(), k.reasons.clone()))
        .collect();
    assert_eq!(kept[&now], ["last"]);
    assert_eq!(kept[&past[0].0], ["newest-valid"]);
    e.write_manifest(&now, &good);

    // An unfinished restore's snapshots are never removed.
    fs::write(
        e.backups.join("restore-journal.json"),
        serde_json::to_vec(&serde_json::json!({
            "format_version": 1, "phase": "restore", "stamp": past[9].0,
            "pre_restore_snapshot": past[11].0, "started_at": "2026-01-01T00:00:00Z",
            "pid": 1, "steps": []
        }))
        .unwrap(),
    )
    .unwrap();
    let done = pruned(&e.run(&["prune", "--keep-last", "2", "--json"]));
    fs::remove_file(e.backups.join("restore-journal.json")).unwrap();
    let kept: BTreeMap<String, Vec<String>> = done
        .keep
        .iter()
        .map(|k| (k.stamp.clone(), k.reasons.clone()))
        .collect();
    assert_eq!(kept[&past[9].0], ["journal"]);
    assert_eq!(kept[&past[11].0], ["journal"]);
    assert_eq!(kept[&past[10].0], ["pre-restore"]);
    assert_eq!(kept.len(), 5, "{kept:?}");
    let listed = common::listed(&e.run(&["list", "--json"]));
    let mut stamps: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stamp"].as_str().unwrap().to_owned())
        .collect();
    stamps.sort();
    let mut want: Vec<String> = kept.keys().cloned().collect();
    want.sort();
    assert_eq!(stamps, want);
    assert_eq!(check(&e, &["--read-data"]).0, 0);
}

/// A backup dir where `prune --keep-last 1` deletes a pack whole (one only an old snapshot
/// used) and rewrites one (half of it used only by an old snapshot), and what the kept
/// snapshot restores to.
struct PruneScene {
    e: Env,
    keep: String,
    expected: BTreeMap<PathBuf, Vec<u8>>,
}

fn prune_scene(b: Backend) -> PruneScene {
    let e = env_on(b);
    let files = e.tmp.path().join("deploy");
    fs::create_dir(&files).unwrap();
    let create = |e: &Env| -> String {
        let out = e.run_env(
            &["create", "--json"],
            &[
                ("ATOCORE_DB_PATH", e.db.as_os_str()),
                ("ATOCORE_FILES_PATH", files.as_os_str()),
                ("ATOCORE_BACKUP_DIR", e.backups.as_os_str()),
            ],
        );
        created(&out).stamp
    };
    fs::write(files.join("x.bin"), noise(1, 1 << 20)).unwrap();
    create(&e);
    fs::write(files.join("z.bin"), noise(2, 1 << 20)).unwrap();
    create(&e);
    fs::remove_file(files.join("z.bin")).unwrap();
    fs::write(files.join("c.bin"), noise(3, 1 << 20)).unwrap();
    fs::write(files.join("d.bin"), noise(4, 1 << 20)).unwrap();
    create(&e);
    fs::remove_file(files.join("d.bin")).unwrap();
    let keep = create(&e);
    let into = e.tmp.path().join("expected");
    let out = e.run(&["restore", &keep, "--to", into.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let expected = relative(&into);
    PruneScene { e, keep, expected }
}

fn relative(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    tree_bytes(dir)
        .into_iter()
        .map(|(p, b)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
        .collect()
}

impl PruneScene {
    /// A copy of the repository to prune.
    fn copy(&self, name: &str) -> Env {
        self.e.copy_of(name)
    }

    /// The repository checks clean, every snapshot left restores, and the kept one holds
    /// exactly what it held.
    fn whole(&self, e: &Env, what: &str) {
        let (c, r) = check(e, &["--read-data"]);
        assert_eq!(c, 0, "{what}: {r:?}");
        let listed = common::listed(&e.run(&["list", "--json"]));
        let stamps: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["stamp"].as_str().unwrap().to_owned())
            .collect();
        assert!(stamps.contains(&self.keep), "{what}: {stamps:?}");
        for s in &stamps {
            let into = e.tmp.path().join(format!("restored-{s}"));
            let out = e.run(&["restore", s, "--to", into.to_str().unwrap()]);
            assert_eq!(code(&out), 0, "{what} {s}: {}", stderr(&out));
            if *s == self.keep {
                assert_eq!(relative(&into), self.expected, "{what}");
            }
            fs::remove_dir_all(&into).unwrap();
        }
    }
}

fn prune_deletes_and_rewrites_packs_and_a_kill_at_any_step_leaves_a_clean_repository(b: Backend) {
    let s = prune_scene(b);
    // Uninterrupted: one pack deleted whole, one rewritten, space freed.
    let e = s.copy("plain-run");
    let before = stored_size(&e);
    let started = std::time::Instant::now();
    let r = pruned(&e.run(&["prune", "--keep-last", "1", "--json"]));
    let whole = started.elapsed();
    assert_eq!(r.remove.len(), 3);
    assert!(r.packs_deleted >= 1 && r.packs_rewritten >= 1, "{r:?}");
    let after = stored_size(&e);
    assert!(after + (1 << 20) < before, "{before} -> {after}");
    s.whole(&e, "uninterrupted");

    // SIGKILL at every step, then the next prune finishes the job.
    for point in [
        "prune.planned",
        "prune.forgotten",
        "prune.deleting-pack",
        "prune.repacked",
        "prune.swept",
    ] {
        let e = s.copy(&format!("killed-{point}"));
        let mut cmd = e.command(&["prune", "--keep-last", "1"]);
        cmd.env_remove("ATOCORE_DB_PATH");
        let (mut child, err) = stop_at(cmd, point);
        signal(&child, "KILL");
        child.wait().unwrap();
        drop(err);
        s.whole(&e, point);
        let r = pruned(&e.run(&["prune", "--keep-last", "1", "--json"]));
        if point != "prune.swept" {
            assert_eq!(r.finished_earlier.len(), 1, "{point}: {r:?}");
        }
        s.whole(&e, &format!("{point}, then pruned again"));
        let again = pruned(&e.run(&["prune", "--keep-last", "1", "--json"]));
        assert_eq!(
            (
                again.remove.len(),
                again.packs_deleted,
                again.packs_rewritten
            ),
            (0, 0, 0),
            "{point}: nothing was left to do"
        );
    }

    // SIGKILL at moments spread over a whole run (as long as the uninterrupted one took: a
    // remote one spends longer connecting, leasing and learning the index).
    for (i, fraction) in [0.05, 0.2, 0.35, 0.5, 0.65, 0.8].iter().enumerate() {
        let ms = whole.mul_f64(*fraction).as_millis();
        let e = s.copy(&format!("random-{i}"));
        let mut child = e
            .command(&["prune", "--keep-last", "1"])
            .env_remove("ATOCORE_DB_PATH")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(*fraction));
        signal(&child, "KILL");
        child.wait().unwrap();
        s.whole(&e, &format!("killed after {ms} ms"));
        pruned(&e.run(&["prune", "--keep-last", "1", "--json"]));
        s.whole(&e, &format!("killed after {ms} ms, then pruned again"));
    }
}

fn a_plain_folder_backup_dir_restores_identically_before_and_after_migrate(b: Backend) {
    // The plain folders are an earlier release's, in a local backup dir, whichever backend
    // they are then migrated to.
    let mut e = env();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/snapshots/format-1");
    copy_tree(&fixture, &e.backups);
    // Snapshots this build makes in a plain-folder backup dir, a pre-restore one among them.
    let first = e.create();
    e.mutate();
    let out = e.run(&["restore", &first, "--confirm-service-stopped", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let backups = e.backups.clone();
    let only_backups = [("ATOCORE_BACKUP_DIR", backups.as_os_str())];
    let list = |e: &Env| -> Vec<(String, String)> {
        let out = e.run_env(&["list", "--json"], &only_backups);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        common::listed(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["stamp"].as_str().unwrap().to_owned(),
                    r["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = list(&e);
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.iter().any(|(_, k)| k == "pre-restore"));
    let restore_all = |e: &Env, tag: &str| -> Vec<BTreeMap<PathBuf, Vec<u8>>> {
        before
            .iter()
            .map(|(s, _)| {
                let into = e.tmp.path().join(format!("{tag}-{s}"));
                let out = e.run_env(
                    &["restore", s, "--to", into.to_str().unwrap()],
                    &only_backups,
                );
                assert_eq!(code(&out), 0, "{tag} {s}: {}", stderr(&out));
                relative(&into)
            })
            .collect()
    };
    let plain = restore_all(&e, "plain");
    let folders = tree_bytes(&e.backups.join("snapshots"));

    // Onto object storage: `migrate` with the address imports the plain folders into the
    // remote repository, and the backup dir becomes its state folder.
    if b == Backend::S3 {
        e.use_remote();
    }
    let out = e.run_env(&["migrate", "--json"], &only_backups);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m: backup_cli::json::Migrated = typed(&out);
    assert_eq!(m.snapshots.len(), 3);
    assert!(m.snapshots.iter().all(|s| s.outcome == "imported"), "{m:?}");
    // The later imports share most chunks with the first.
    let added: Vec<u64> = m
        .snapshots
        .iter()
        .map(|s| s.stored.unwrap().added_bytes)
        .collect();
    let files: Vec<u64> = m
        .snapshots
        .iter()
        .map(|s| s.stored.unwrap().file_bytes)
        .collect();
    assert!(added[2] < files[2] / 2, "{added:?} {files:?}");

    assert_eq!(list(&e), before, "stamps and kinds kept");
    assert_eq!(
        restore_all(&e, "repository"),
        plain,
        "byte-identical restores"
    );
    for (s, _) in &before {
        let out = e.run_env(&["validate", s], &only_backups);
        assert_eq!(code(&out), 0, "{s}: {}", stderr(&out));
    }
    assert_eq!(
        tree_bytes(&e.backups.join("snapshots")),
        folders,
        "the plain folders are left as they were"
    );
    let out = e.run_env(&["migrate", "--json"], &only_backups);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again: backup_cli::json::Migrated = typed(&out);
    assert_eq!(again.snapshots.len(), 3, "{again:?}");
    assert!(again.snapshots.iter().all(|s| s.outcome == "already-there"));
    assert_eq!(check(&e, &["--read-data"]).0, 0);
    // A repository has nothing to migrate; a plain-folder one has no repository to check.
    let fresh = env_on(b);
    let out = fresh.run(&["migrate"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no plain snapshot folders"),
        "{}",
        stderr(&out)
    );
    if b == Backend::S3 {
        return;
    }
    fresh.plain();
    fresh.create();
    let out = fresh.run(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("migrate"), "{}", stderr(&out));
}

fn hostile_manifest_objects_are_invalid_not_followed(b: Backend) {
    let e = env_on(b);
    let stamp = e.create();
    let m = e.manifest_path(&stamp);
    let good = e.read_manifest(&stamp);
    let outside = e.tmp.path().join("outside.json");
    fs::write(&outside, &good).unwrap();
    let invalid = |what: &str, want: &str| {
        let out = e.run(&["validate", &stamp, "--json"]);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        let v: Value = json(&out);
        assert!(v["errors"].to_string().contains(want), "{what}: {v}");
        let (c, r) = check(&e, &[]);
        assert_eq!(
            (c, r.affected_snapshots),
            (1, vec![stamp.clone()]),
            "{what}"
        );
    };
    // A symlink is a local file system's: object storage has none (s3s-fs would serve
    // the target's bytes, as any file of its own).
    if b == Backend::Local {
        fs::remove_file(&m).unwrap();
        std::os::unix::fs::symlink(&outside, &m).unwrap();
        invalid("a symlink", "symlink");
        fs::remove_file(&m).unwrap();
    }
    e.write_manifest(
        &stamp,
        format!(
            "{{\"format_version\": 3, \"pad\": \"{}\"}}",
            "x".repeat(65 << 20)
        )
        .as_bytes(),
    );
    invalid("huge", "a manifest may have");
    e.write_manifest(&stamp, "[".repeat(1 << 20).as_bytes());
    invalid("nested", "not valid JSON");
    // A chunk list that names chunks the repository does not have, or lies about its count.
    let text = String::from_utf8(good.clone()).unwrap();
    let lying = text.replacen("\"count\": ", "\"count\": 9", 1);
    assert_ne!(lying, text);
    e.write_manifest(&stamp, lying.as_bytes());
    invalid("a chunk count that lies", "chunk list");
    e.write_manifest(&stamp, &good);
    assert_eq!(code(&e.run(&["validate", &stamp])), 0);
    assert_eq!(fs::read(&outside).unwrap(), good);
}

/// A validate that runs while a create is storing its snapshot (its new packs put, the local
/// index not yet told) waits for the create's index transaction and then learns the packs:
/// it neither fails nor sees a half-stored snapshot.
fn a_validate_while_a_create_stores_its_snapshot_waits_and_succeeds(b: Backend) {
    let e = env_on(b);
    grow_docs(&e.db, 2_000);
    let first = e.create();
    grow_docs(&e.db, 2_000);
    let mut cmd = e.command(&["create", "--json"]);
    cmd.env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (mut child, err) = stop_at(cmd, "create.before-commit");
    let out = e.run(&["validate", &first]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(child.wait().unwrap().success(), "{}", err.join().unwrap());
    let listed = common::listed(&e.run(&["list", "--json"]));
    let newest = listed[0]["stamp"].as_str().unwrap().to_owned();
    assert_ne!(newest, first);
    let out = e.run(&["validate", &newest]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(check(&e, &["--read-data"]).0, 0);
}

/// Whether `a` and `b` are on different file systems.
fn other_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(a).unwrap().dev() != fs::metadata(b).unwrap().dev()
}

/// A restore reads the repository once: the gate's checked copy (in the state folder) is
/// moved into place when the target is on the same file system, and copied (checked against
/// the manifest again) when it is not. Both give the snapshot's bytes, and neither leaves the
/// checked copy behind.
fn a_restore_moves_or_copies_the_checked_copy_and_gets_the_snapshots_bytes(b: Backend) {
    let e = env_on(b);
    grow_docs(&e.db, 3000);
    let stamp = e.create();
    let want = e.memories(&e.db);
    e.mutate();
    assert_ne!(e.memories(&e.db), want);
    let scratch_left = |e: &Env| -> Vec<PathBuf> {
        fs::read_dir(&e.backups)
            .unwrap()
            .map(|d| d.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("scratch"))
            .collect()
    };
    // Same file system as the backup dir (and so its state folder).
    let here = e.tmp.path().join("restored-here");
    let out = e.run(&["restore", &stamp, "--to", here.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = fs::read(here.join("atocore.db")).unwrap();
    assert_eq!(e.memories(&here.join("atocore.db")), want);
    assert!(scratch_left(&e).is_empty(), "{:?}", scratch_left(&e));

    // Another file system: /dev/shm is a tmpfs on Linux, the temporary folders are not.
    let shm = Path::new("/dev/shm");
    assert!(
        shm.is_dir() && other_device(shm, e.tmp.path()),
        "this test needs /dev/shm on a file system other than the temporary folder's"
    );
    let away = tempfile::tempdir_in(shm).unwrap();
    let there = away.path().join("restored-there");
    let out = e.run(&["restore", &stamp, "--to", there.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read(there.join("atocore.db")).unwrap(), got);
    assert_eq!(
        fs::read(there.join("project-registry.json")).unwrap(),
        fs::read(here.join("project-registry.json")).unwrap()
    );
    assert!(scratch_left(&e).is_empty(), "{:?}", scratch_left(&e));
}

/// The checked copy a restore's gate made is moved into place only while it is the very file
/// that was checked: one changed in between (same size, one byte flipped) is copied instead,
/// checked against the manifest on the way, and the restore refuses with nothing written.
fn a_checked_copy_changed_after_the_gate_is_refused_not_moved(b: Backend) {
    let e = env_on(b);
    grow_docs(&e.db, 3000);
    let stamp = e.create();
    let to = e.tmp.path().join("restored");
    let mut cmd = e.command(&["restore", &stamp, "--to", to.to_str().unwrap()]);
    cmd.env_remove("ATOCORE_DB_PATH")
        .env_remove("ATOCORE_PROJECT_REGISTRY_PATH")
        .env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (mut child, err) = stop_at(cmd, "restore.before-sqlite");
    let copies: Vec<PathBuf> = fs::read_dir(&e.backups)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".drill-scratch-"))
        .map(|p| p.join("sqlite").join("atocore.db"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "one checked copy of the database: {copies:?}"
    );
    let size = fs::metadata(&copies[0]).unwrap().len();
    flip_byte(&copies[0], size / 2);
    assert_eq!(fs::metadata(&copies[0]).unwrap().len(), size);
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert!(!status.success(), "restored a changed copy: {err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(
        !to.join("atocore.db").exists(),
        "a database was restored: {err}"
    );
    // The snapshot itself is intact, and restores.
    let out = e.run(&["restore", &stamp, "--to", to.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
