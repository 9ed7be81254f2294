//! Hostile local users and careless operators: whoever runs the service can write its data
//! folder while the tool runs as root. Each test plants what such a user would, runs the real
//! binary, and checks what an operator cares about: the victim file byte for byte, no live
//! path turned into a symlink, owners and modes as before, nothing written on a refusal.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use backup_core::{Component, FolderStore, Orchestrator, Source};
use common::{code, json, scene, skip, stderr, stop_at, Scene};

fn components() -> Vec<Box<dyn Component>> {
    vec![
        Box::new(backup_sqlite::SqliteComponent::new()),
        Box::new(backup_registry::RegistryComponent),
        Box::new(backup_chroma::ChromaComponent::new(None)),
    ]
}

fn sources(s: &Scene, dir: Option<&Path>) -> Vec<Source> {
    let at = |p: &Path| match dir {
        Some(d) => d.join(p.file_name().unwrap()),
        None => p.to_path_buf(),
    };
    vec![
        Source {
            id: "sqlite".into(),
            path: at(&s.env.db),
        },
        Source {
            id: "registry".into(),
            path: at(&s.env.registry),
        },
        Source {
            id: "chroma".into(),
            path: at(&s.chroma),
        },
    ]
}

/// Every name a run writes, from the code's one list (`Orchestrator::places_written`, which
/// asks the store and each component for its side files): for the live stores, and for a
/// `restore --to` folder, with a repository (what a new backup dir is) and with plain
/// snapshot folders (a backup dir an earlier release made). Relative to the scene's folder,
/// so it can be planted in a fresh scene; each with whether only the plain layout writes it.
fn names_written(s: &Scene, into: &Path) -> Vec<(PathBuf, bool)> {
    let known = components();
    let written = |store: &dyn backup_core::SnapshotStore| -> Vec<PathBuf> {
        let o = Orchestrator::new(store, &known);
        let mut names = o.places_written(&sources(s, None)).unwrap();
        names.extend(o.places_written(&sources(s, Some(into))).unwrap());
        names
            .iter()
            .map(|p| p.strip_prefix(s.env.tmp.path()).unwrap().to_path_buf())
            .collect()
    };
    let in_repository = written(&backup_core::Repository::in_folder(&s.env.backups));
    let in_plain = written(&FolderStore::new(&s.env.backups));
    let mut rel: Vec<(PathBuf, bool)> = in_plain
        .into_iter()
        .filter(|p| !in_repository.contains(p))
        .map(|p| (p, true))
        .chain(in_repository.iter().map(|p| (p.clone(), false)))
        .collect();
    rel.sort();
    rel.dedup();
    rel
}

/// The run's stderr says `text`.
fn said(out: &std::process::Output, text: &str) {
    assert!(
        stderr(out).contains(text),
        "{text:?} not in: {}",
        stderr(out)
    );
}

struct Victims {
    file: PathBuf,
    dir: PathBuf,
}

impl Victims {
    fn new(root: &Path) -> Victims {
        let file = root.join("victim-file");
        fs::write(&file, b"root's precious bytes").unwrap();
        let dir = root.join("victim-dir");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("keep"), b"keep").unwrap();
        Victims { file, dir }
    }

    fn check(&self, what: &str) {
        assert_eq!(
            fs::read(&self.file).unwrap(),
            b"root's precious bytes",
            "{what}: the victim file was written"
        );
        let names: Vec<_> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsStr::new("keep").to_owned()],
            "{what}: the victim folder was written"
        );
        assert_eq!(fs::read(self.dir.join("keep")).unwrap(), b"keep", "{what}");
    }
}

fn plant(at: &Path, to: &Path) {
    fs::create_dir_all(at.parent().unwrap()).unwrap();
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(at).unwrap(),
        Ok(_) => fs::remove_file(at).unwrap(),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(to, at).unwrap();
}

fn no_live_symlink(s: &Scene, planted: &Path, what: &str) {
    for p in s.live_paths() {
        if p == planted {
            continue;
        }
        if let Ok(m) = fs::symlink_metadata(&p) {
            assert!(
                !m.file_type().is_symlink(),
                "{what}: {} became a symlink",
                p.display()
            );
        }
    }
}

/// The names in the repository's objects folder, sorted: what a run stored there.
fn object_names(s: &Scene) -> Vec<PathBuf> {
    assert!(s.env.is_repository());
    tree_names(&s.env.backups.join("objects"))
}

/// How many snapshot manifests the repository holds.
fn manifests(s: &Scene) -> usize {
    object_names(s)
        .iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("snapshots%2F") && n.ends_with("%2Fbackup-metadata.json")
        })
        .count()
}

/// Snapshot `stamp` of the scene's repository copied out as a plain snapshot folder (its
/// files read back through the store, its manifest without chunk lists) in a folder store of
/// its own, for a test to change as someone who can write the backup dir could; [`put_back`]
/// then stores it in the repository in place of the original. Returns the folder store's
/// root and the snapshot's folder.
fn plain_copy(s: &Scene, stamp: &str) -> (PathBuf, PathBuf) {
    let root = s.env.tmp.path().join("crafted");
    let dir = root.join("snapshots").join(stamp);
    fs::create_dir_all(&dir).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(s.env.manifest_path(stamp)).unwrap()).unwrap();
    assert_eq!(m["format_version"], backup_core::FORMAT_VERSION);
    for c in m["components"].as_array_mut().unwrap() {
        for f in c["files"].as_array_mut().unwrap() {
            let rel = f["path"].as_str().unwrap().to_owned();
            let p = dir.join(&rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, s.env.stored_bytes(stamp, &rel)).unwrap();
            assert!(f.as_object_mut().unwrap().remove("chunks").is_some(), "{f}");
        }
    }
    m["format_version"] = backup_core::PLAIN_FORMAT_VERSION.into();
    fs::write(
        dir.join("backup-metadata.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    (root, dir)
}

/// Store the plain snapshot `stamp` of the folder store at `root` (made by [`plain_copy`],
/// then changed) in the scene's repository in place of the one there, as someone who can
/// write the backup dir could: the manifest object removed, the files chunked into packs,
/// and the manifest (format 3, listing their chunks) written under the same stamp.
fn put_back(s: &Scene, root: &Path, stamp: &str) {
    fs::remove_file(s.env.manifest_path(stamp)).unwrap();
    fs::remove_file(s.env.object(&format!("snapshots/{stamp}/seal"))).unwrap();
    let added = backup_core::Repository::in_folder(&s.env.backups)
        .import(
            &FolderStore::new(root),
            &backup_core::Stamp::parse(stamp).unwrap(),
        )
        .unwrap();
    assert!(added.is_some(), "stored under {stamp}");
    assert!(s.env.manifest_path(stamp).is_file());
}

/// A run interrupted after its journal was written (SIGKILL at a failpoint), so that
/// `--resume` and `--rollback` have something to do.
fn leave_unfinished_restore(s: &Scene, stamp: &str) {
    let (mut child, err) = stop_at(
        s.command(&["restore", stamp, "--confirm-service-stopped"]),
        "restore.after-sqlite",
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = err.join();
    assert!(s.env.backups.join("restore-journal.json").exists());
}

#[test]
fn a_symlink_planted_at_any_name_the_tool_writes_is_never_followed() {
    let probe = scene();
    let into_rel = PathBuf::from("exported");
    let names = names_written(&probe, &probe.env.tmp.path().join(&into_rel));
    // The backup dir's names (lock, journal and its temporary name, drill log; a
    // repository's objects and cache folders; plain snapshot folders' snapshots), and for
    // each of three stores (live and --to) the store itself, its lock and its private
    // folder, plus SQLite's three sidecars and Chroma's ingestion lock and journal.
    assert!(names.len() >= 7 + 2 * (3 * 3 + 3 + 2) - 2, "{names:?}");
    for (backup_dir_name, plain_only) in [("objects", false), ("cache", false), ("snapshots", true)]
    {
        assert!(
            names.contains(&(Path::new("backups").join(backup_dir_name), plain_only)),
            "{backup_dir_name}: {names:?}"
        );
    }
    drop(probe);
    let mut runs = 0;
    for (rel, plain_only) in &names {
        // A folder-shaped name is also tried with a link to a folder.
        let shaped_like_folder = rel.ends_with("snapshots")
            || rel.ends_with("objects")
            || rel.ends_with("cache")
            || rel.to_string_lossy().ends_with(".atocore-restore.tmp")
            || rel.ends_with("chroma");
        // What holds the snapshots themselves.
        let holds_snapshots = rel.ends_with("snapshots") || rel.ends_with("objects");
        for to_dir in [false, true] {
            if to_dir && !shaped_like_folder {
                continue;
            }
            let s = scene();
            if *plain_only {
                // A name only plain snapshot folders have: planted in such a backup dir.
                s.env.plain();
            }
            let root = s.env.tmp.path();
            let victims = Victims::new(root);
            let target = if to_dir { &victims.dir } else { &victims.file };
            let stamp = s.create();
            assert_eq!(s.env.is_repository(), !*plain_only);
            s.env.mutate();
            let planted = root.join(rel);
            let into = root.join(&into_rel).to_string_lossy().into_owned();
            let what = |cmd: &str| format!("{} -> {}: {cmd}", rel.display(), target.display());

            // Resume and rollback of a restore that a kill left unfinished.
            leave_unfinished_restore(&s, &stamp);
            plant(&planted, target);
            for args in [
                vec!["restore", "--resume", "--confirm-service-stopped"],
                vec!["restore", "--rollback", "--confirm-service-stopped"],
            ] {
                s.run(&args);
                runs += 1;
                victims.check(&what(&args.join(" ")));
                no_live_symlink(&s, &planted, &what(&args.join(" ")));
                if fs::symlink_metadata(&planted).is_err() {
                    plant(&planted, target);
                }
            }
            // Finish it without the link, so the other commands are not refused for it (a
            // link planted at the journal's own name replaced the journal).
            let _ = fs::remove_file(&planted);
            let journal = s.env.backups.join("restore-journal.json");
            if fs::symlink_metadata(&journal).is_ok_and(|m| m.is_file()) {
                let out = s.run(&["restore", "--resume", "--confirm-service-stopped"]);
                if code(&out) != 0 {
                    // Only a link that replaced the snapshots themselves may stop it.
                    assert!(holds_snapshots, "{}: {}", what("resume"), stderr(&out));
                    fs::remove_file(&journal).unwrap();
                }
            }
            plant(&planted, target);
            for args in [
                vec!["create"],
                vec!["restore", &stamp, "--confirm-service-stopped"],
                vec!["restore", &stamp, "--to", &into],
                vec!["drill"],
                vec!["cleanup"],
                vec!["status"],
                vec!["list"],
            ] {
                let out = s.run(&args);
                runs += 1;
                victims.check(&what(&args.join(" ")));
                no_live_symlink(&s, &planted, &what(&args.join(" ")));
                if code(&out) != 0 {
                    // A refusal names the link (or the reason it could not go on).
                    assert!(!stderr(&out).is_empty(), "{}", what(&args.join(" ")));
                }
                if fs::symlink_metadata(&planted).is_err() {
                    plant(&planted, target);
                }
            }
        }
    }
    assert!(runs > 300, "{runs} runs");
}

/// A refusal because of a planted link names the link and exits 2, touching nothing.
#[test]
fn a_symlink_at_the_restore_folder_is_refused_by_name() {
    let s = scene();
    let stamp = s.create();
    s.env.mutate();
    let victims = Victims::new(s.env.tmp.path());
    let planted = s
        .env
        .db
        .parent()
        .unwrap()
        .join(".atocore.db.atocore-restore.tmp");
    plant(&planted, &victims.dir);
    let before = s.env.live_bytes();
    let objects = object_names(&s);
    assert_eq!(manifests(&s), 1);
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, ".atocore.db.atocore-restore.tmp");
    said(&out, "symlink");
    victims.check("restore");
    assert!(s.env.live_bytes() == before, "the live store changed");
    assert_eq!(manifests(&s), 1, "refused before the safety snapshot");
    assert_eq!(object_names(&s), objects, "nothing was stored");
    // A symlink as the live path itself is refused too, naming where it points.
    fs::rename(&s.env.registry, s.env.tmp.path().join("real.json")).unwrap();
    std::os::unix::fs::symlink(s.env.tmp.path().join("real.json"), &s.env.registry).unwrap();
    let out = s.run(&["create"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "real.json");
}

fn make_special(kind: &str, at: &Path) -> Option<Box<dyn std::any::Any>> {
    match kind {
        "fifo" => {
            assert!(Command::new("mkfifo").arg(at).status().unwrap().success());
            Some(Box::new(()))
        }
        "socket" => Some(Box::new(
            std::os::unix::net::UnixListener::bind(at).unwrap(),
        )),
        "char device" => {
            let ok = Command::new("mknod")
                .arg(at)
                .args(["c", "1", "5"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            ok.then(|| Box::new(()) as Box<dyn std::any::Any>)
        }
        _ => unreachable!(),
    }
}

fn tree_names(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn a_fifo_a_device_or_a_socket_at_a_configured_path_is_refused_within_a_second() {
    let mut skipped_devices = false;
    for kind in ["fifo", "char device", "socket"] {
        for which in [
            "db",
            "registry",
            "chroma",
            "chroma.sqlite3",
            "ingestion lock",
        ] {
            let s = scene();
            let stamp = s.create();
            let at = match which {
                "db" => s.env.db.clone(),
                "registry" => s.env.registry.clone(),
                "chroma" => s.chroma.clone(),
                "chroma.sqlite3" => s.chroma.join("chroma.sqlite3"),
                _ => s.chroma.parent().unwrap().join(".ingestion.lock"),
            };
            if at.is_dir() {
                fs::remove_dir_all(&at).unwrap();
            } else {
                let _ = fs::remove_file(&at);
            }
            let Some(_keep) = make_special(kind, &at) else {
                skipped_devices = true;
                continue;
            };
            let live = s.env.db.parent().unwrap().to_path_buf();
            let before = tree_names(&live);
            let objects_before = object_names(&s);
            for args in [
                vec!["create"],
                vec!["restore", &stamp, "--confirm-service-stopped"],
            ] {
                if which == "ingestion lock" && args[0] == "restore" {
                    // A restore does not take the ingestion lock.
                    continue;
                }
                let started = Instant::now();
                let mut child = s
                    .command(&args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let status = loop {
                    if let Some(st) = child.try_wait().unwrap() {
                        break st;
                    }
                    if started.elapsed() > Duration::from_secs(1) {
                        child.kill().unwrap();
                        panic!("{kind} at {which}: {args:?} still running after a second");
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
                assert_eq!(status.code(), Some(2), "{kind} at {which}: {args:?}: {err}");
                let name = at.file_name().unwrap().to_string_lossy().into_owned();
                assert!(err.contains(&name), "{kind} at {which}: {args:?}: {err}");
                assert_eq!(
                    tree_names(&live),
                    before,
                    "{kind} at {which}: {args:?} wrote beside the store"
                );
                assert_eq!(
                    object_names(&s),
                    objects_before,
                    "{kind} at {which}: {args:?} stored something (a snapshot, an upload)"
                );
            }
        }
    }
    if skipped_devices {
        skip("a character device needs root to make (mknod); FIFOs and sockets were tested");
    }
}

#[test]
fn a_database_under_a_folder_named_0xff_restores_at_exactly_that_path() {
    let s = scene();
    let odd = s.env.tmp.path().join(OsStr::from_bytes(b"\xff"));
    fs::create_dir(&odd).unwrap();
    let db = odd.join("atocore.db");
    fs::copy(&s.env.db, &db).unwrap();
    let backups = s.env.backups.as_os_str();
    let out = s.env.run_env(
        &["create", "--json"],
        &[
            ("ATOCORE_DB_PATH", db.as_os_str()),
            ("ATOCORE_BACKUP_DIR", backups),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created = json(&out);
    let stamp = created["stamp"].as_str().unwrap().to_owned();
    let recorded = &created["components"][0]["source"];
    assert_eq!(
        recorded["hex"].as_str().unwrap(),
        db.as_os_str()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        "{recorded}"
    );
    fs::remove_file(&db).unwrap();
    // The disaster-recovery flow: no --db, the target comes from the manifest.
    let out = s.env.run_env(
        &["restore", &stamp, "--confirm-service-stopped", "--json"],
        &[("ATOCORE_BACKUP_DIR", backups)],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["db_restored"], true);
    assert_eq!(report["components"][0]["target"], *recorded);
    assert!(db.is_file(), "restored at exactly the recorded path");
    let mut names: Vec<Vec<u8>> = fs::read_dir(s.env.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![b"backups".to_vec(), b"data".to_vec(), b"\xff".to_vec()],
        "no folder with another name was made"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM memories", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 500);
    drop(c);
    // status and list cope with the path too.
    let out = s
        .env
        .run_env(&["list", "--json"], &[("ATOCORE_BACKUP_DIR", backups)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The live file's own name need not be UTF-8 either: it is stored under an escaped name and
/// restored under its own, also raw (a damaged database) and with its sidecars.
#[test]
fn a_database_whose_own_name_is_not_utf8_round_trips() {
    let s = scene();
    let name = OsStr::from_bytes(b"atocore-\xfe.db");
    let db = s.env.db.parent().unwrap().join(name);
    fs::rename(&s.env.db, &db).unwrap();
    let backups = s.env.backups.as_os_str();
    let vars = [
        ("ATOCORE_DB_PATH", db.as_os_str()),
        ("ATOCORE_BACKUP_DIR", backups),
    ];
    let out = s.env.run_env(&["create", "--json"], &vars);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    let good = fs::read(&db).unwrap();
    // Damage it so that the safety snapshot has to keep it raw, with a stray -wal.
    fs::write(&db, b"not a database any more").unwrap();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    fs::write(&wal, b"stray wal").unwrap();
    let out = s.env.run_env(
        &["restore", &stamp, "--confirm-service-stopped", "--json"],
        &vars,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read(&db).unwrap(), good);
    assert!(
        !Path::new(&wal).exists(),
        "the old -wal went with the old file"
    );
    let pre = json(&out)["pre_restore_snapshot"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s
        .env
        .run_env(&["restore", &pre, "--confirm-service-stopped"], &vars);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(fs::read(&db).unwrap(), b"not a database any more");
    assert_eq!(
        fs::read(&wal).unwrap(),
        b"stray wal",
        "the raw -wal came back under its own name"
    );
}

#[test]
fn restore_to_inside_the_backup_dir_or_a_live_store_is_refused() {
    let s = scene();
    let stamp = s.create();
    let objects = s.env.backups.join("objects");
    let before = common::backup_dir_bytes(&objects);
    assert!(before.contains_key(&s.env.manifest_path(&stamp)));
    for into in [
        s.env.backups.clone(),
        objects.clone(),
        s.env.backups.join("cache"),
        s.env.backups.join("snapshots").join(&stamp),
        s.chroma.join("sub"),
    ] {
        let out = s.run(&["restore", &stamp, "--to", &into.to_string_lossy()]);
        assert_eq!(code(&out), 2, "{}: {}", into.display(), stderr(&out));
        said(&out, "inside");
        assert!(!s.chroma.join("sub").exists());
        assert!(!s.env.backups.join("snapshots").exists());
    }
    assert_eq!(common::backup_dir_bytes(&objects), before);
    assert_eq!(object_names(&s).len(), before.len(), "nothing was added");
    let out = s.run(&["validate", &stamp]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // create refuses a backup dir inside a live store, and writes nothing there.
    let inside = s.chroma.join("backups");
    let vars = s.vars();
    let mut v: Vec<(&str, &OsStr)> = vars
        .iter()
        .filter(|(k, _)| *k != "ATOCORE_BACKUP_DIR")
        .map(|(k, v)| (*k, v.as_os_str()))
        .collect();
    v.push(("ATOCORE_BACKUP_DIR", inside.as_os_str()));
    let out = s.env.run_env(&["create"], &v);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "inside the live chroma store");
    assert!(!inside.exists());
}

#[test]
fn an_empty_or_foreign_database_is_refused_by_create_and_kept_raw_before_a_restore() {
    let s = scene();
    let stamp = s.create();
    for (content, want) in [
        (&b""[..], "is empty (0 bytes)"),
        (&b"hello, not a database at all"[..], "not a database"),
    ] {
        fs::write(&s.env.db, content).unwrap();
        for side in ["-wal", "-shm"] {
            let mut p = s.env.db.clone().into_os_string();
            p.push(side);
            let _ = fs::remove_file(p);
        }
        let out = s.run(&["create"]);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        said(&out, "atocore.db");
        said(&out, want);
        assert_eq!(fs::read(&s.env.db).unwrap(), content);
        // The safety snapshot before a restore keeps it raw, so it can be rolled back to.
        let out = s.run(&["restore", &stamp, "--confirm-service-stopped", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let pre = json(&out)["pre_restore_snapshot"]
            .as_str()
            .unwrap()
            .to_owned();
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(s.env.manifest_path(&pre)).unwrap()).unwrap();
        assert_eq!(m["components"][0]["facts"]["raw"], true);
        assert_eq!(s.env.stored_bytes(&pre, "sqlite/raw/atocore.db"), content);
    }
}

#[test]
fn owners_and_modes_survive_create_restore_and_rollback_and_the_service_user_can_start() {
    if !common::is_root() {
        skip("needs root to give the live store to another user");
        return;
    }
    let s = scene();
    let live = s.env.db.parent().unwrap().to_path_buf();
    // The service's user and group: nobody (65534) and daemon (1), files 0640, folders 0750.
    let (uid, gid) = (65534u32, 1u32);
    let own = |p: &Path| {
        for p in tree_names(p).into_iter().chain([p.to_path_buf()]) {
            let m = fs::symlink_metadata(&p).unwrap();
            let mode = if m.is_dir() { 0o750 } else { 0o640 };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
    };
    own(&live);
    // The test's temporary folder must let the service user reach its data folder.
    fs::set_permissions(s.env.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let meta = |p: &Path| {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    let snapshot_of = |dir: &Path| -> Vec<(PathBuf, (u32, u32, u32))> {
        tree_names(dir)
            .into_iter()
            .filter(|p| !p.file_name().unwrap().to_string_lossy().ends_with(".lock"))
            .map(|p| {
                let m = meta(&p);
                (p, m)
            })
            .collect()
    };
    let before = snapshot_of(&live);
    let stamp = s.create();
    // Locks made beside the live stores (ours and the ingestion lock) belong to the
    // store's user.
    let locks: Vec<PathBuf> = tree_names(&live)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".lock"))
        .collect();
    assert_eq!(locks.len(), 4, "{locks:?}");
    for lock in locks {
        assert_eq!(meta(&lock).0, uid, "{}", lock.display());
    }
    s.env.mutate();
    fs::write(s.chroma.join("stray-new-file"), b"x").unwrap();
    own(&live);
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(snapshot_of(&live), before, "after restore");
    service_user_can_start(&s, uid, gid);
    // Rollback of an interrupted restore gives the same owners back.
    s.env.mutate();
    own(&live);
    let mutated = snapshot_of(&live);
    leave_unfinished_restore(&s, &stamp);
    let out = s.run(&["restore", "--rollback", "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(snapshot_of(&live), mutated, "after rollback");
    service_user_can_start(&s, uid, gid);
    // Onto an empty host: the recorded owners and modes, the data folder included.
    fs::remove_dir_all(&live).unwrap();
    let vars = [("ATOCORE_BACKUP_DIR", s.env.backups.as_os_str())];
    let out = s
        .env
        .run_env(&["restore", &stamp, "--confirm-service-stopped"], &vars);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(meta(&live), (uid, gid, 0o750), "the data folder");
    assert_eq!(meta(&s.env.db), (uid, gid, 0o640));
    assert_eq!(meta(&s.chroma), (uid, gid, 0o750));
    service_user_can_start(&s, uid, gid);
}

/// As the service's user: open the database and query it, read the registry, list the Chroma
/// folder and open its database.
fn service_user_can_start(s: &Scene, uid: u32, gid: u32) {
    // The system's Python: one under root's home would not run as another user.
    let python = Path::new("/usr/bin/python3");
    assert!(
        python.exists(),
        "this test needs /usr/bin/python3 (.ci/run installs it)"
    );
    let script = "import sqlite3, sys, os, json\n\
        db, reg, chroma = sys.argv[1:4]\n\
        c = sqlite3.connect(db); c.execute('SELECT count(*) FROM memories').fetchone(); c.close()\n\
        json.load(open(reg))\n\
        os.listdir(chroma)\n\
        sqlite3.connect(os.path.join(chroma, 'chroma.sqlite3')).execute('SELECT count(*) FROM collections').fetchone()\n";
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(&s.env.db)
        .arg(&s.env.registry)
        .arg(&s.chroma)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the service user cannot use the store: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn drill_fails_naming_a_damaged_newest_snapshot_never_an_older_one() {
    let s = scene();
    let older = s.create();
    std::thread::sleep(Duration::from_millis(1100));
    let newest = s.create();
    let m = s.env.manifest_path(&newest);
    let mut b = fs::read(&m).unwrap();
    b.truncate(b.len() / 2);
    fs::write(&m, b).unwrap();
    let out = s.run(&["drill", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["stamp"], newest.as_str());
    assert_eq!(report["ok"], false);
    assert!(stderr(&out).contains(&newest) || report["problems"].to_string().contains("JSON"));
    let log = fs::read_to_string(s.env.backups.join("drills.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["ok"], false);
    assert_eq!(last["stamp"], newest.as_str());
    assert!(
        !log.contains(&older),
        "the older snapshot was not drilled instead"
    );
    // list says so too, with a non-zero exit, as JSON and as text.
    for args in [vec!["list", "--json"], vec!["list"]] {
        let out = s.run(&args);
        assert_eq!(code(&out), 1, "{args:?}");
        said(&out, &newest);
    }
}

/// Give the snapshot file at `rel` new bytes and fix its size and SHA-256 in the manifest,
/// as someone who can write the backup dir could.
fn rewrite_with_checksums(dir: &Path, manifest: &mut serde_json::Value, rel: &str, new_rel: &str) {
    use sha2::Digest;
    let bytes = fs::read(dir.join(rel)).unwrap();
    if rel != new_rel {
        fs::create_dir_all(dir.join(new_rel).parent().unwrap()).unwrap();
        fs::rename(dir.join(rel), dir.join(new_rel)).unwrap();
    }
    let sha = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    for c in manifest["components"].as_array_mut().unwrap() {
        for f in c["files"].as_array_mut().unwrap() {
            if f["path"] == rel {
                f["path"] = new_rel.into();
                f["size"] = bytes.len().into();
                f["sha256"] = sha.clone().into();
            }
        }
    }
}

#[test]
fn a_raw_mark_planted_in_a_regular_snapshot_makes_it_invalid() {
    for move_into_raw_area in [false, true] {
        let s = scene();
        let stamp = s.create();
        let (root, dir) = plain_copy(&s, &stamp);
        let mpath = dir.join("backup-metadata.json");
        let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
        // Damage the database so its integrity check would fail, keep the checksums right,
        // and say "raw, unverified" so that the check would be skipped.
        let db = dir.join("sqlite/atocore.db");
        let mut b = fs::read(&db).unwrap();
        let n = b.len();
        for x in &mut b[n - 4096..n - 2048] {
            *x ^= 0xFF;
        }
        fs::write(&db, b).unwrap();
        let new_rel = if move_into_raw_area {
            "sqlite/raw/atocore.db"
        } else {
            "sqlite/atocore.db"
        };
        rewrite_with_checksums(&dir, &mut m, "sqlite/atocore.db", new_rel);
        m["components"][0]["facts"]["raw"] = true.into();
        m["components"][0]["facts"]["verified"] = false.into();
        fs::write(&mpath, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        put_back(&s, &root, &stamp);
        // The repository holds the damaged database under the new name, with its checksums
        // right, and the mark.
        assert_eq!(
            s.env.stored_bytes(&stamp, new_rel),
            fs::read(dir.join(new_rel)).unwrap()
        );
        let stored: serde_json::Value =
            serde_json::from_slice(&fs::read(s.env.manifest_path(&stamp)).unwrap()).unwrap();
        assert_eq!(stored["format_version"], backup_core::FORMAT_VERSION);
        assert_eq!(stored["components"][0]["facts"]["raw"], true);
        assert_eq!(stored["components"][0]["facts"]["verified"], false);
        let out = s.run(&["validate", &stamp]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        said(&out, "only a pre-restore snapshot may");
        let before = s.env.live_bytes();
        let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert_eq!(s.env.live_bytes(), before);
        let out = s.run(&["drill", &stamp]);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
    }
}

/// Plain snapshot folders (a stamp folder copied in without its manifest, a stray file and a
/// staging folder in `snapshots/`); a repository's own names:
/// `cleanup_in_a_repository_removes_only_its_own_names_and_reports_the_rest`.
#[test]
fn cleanup_removes_only_its_own_names_and_reports_the_rest() {
    let s = scene();
    s.env.plain();
    let stamp = s.create();
    assert!(!s.env.is_repository());
    let snaps = s.env.backups.join("snapshots");
    // A snapshot whose manifest was lost: data, not a leftover.
    let lost = snaps.join("20250101T000000Z");
    backup_core::conformance::copy_tree(&snaps.join(&stamp), &lost);
    fs::remove_file(lost.join("backup-metadata.json")).unwrap();
    // A stray file, and leftovers this tool makes.
    fs::write(snaps.join("notes.txt"), b"operator's notes").unwrap();
    fs::create_dir(snaps.join(".20250102T000000Z.tmp")).unwrap();
    let (_, running, beside) = plant_scratch_leftovers(&s);
    // status lists every leftover, the one beside the live store included.
    let out = s.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let st = json(&out);
    let leftovers = st["leftovers"].to_string();
    assert!(leftovers.contains(".20250102T000000Z.tmp"), "{st}");
    assert!(leftovers.contains(".drill-scratch-999999999-0"), "{st}");
    assert!(
        !leftovers.contains(&format!(".drill-scratch-{}-0", std::process::id())),
        "{st}"
    );
    assert!(
        leftovers.contains(".atocore.db.atocore-restore.tmp"),
        "{st}"
    );
    assert!(
        st["unrecognised"].to_string().contains("20250101T000000Z"),
        "{st}"
    );
    let lost_before = tree_names(&lost);
    let out = s.run(&["cleanup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    said(&out, "20250101T000000Z");
    said(&out, "notes.txt");
    assert_eq!(
        tree_names(&lost),
        lost_before,
        "the manifest-less snapshot is untouched"
    );
    assert_eq!(
        fs::read(snaps.join("notes.txt")).unwrap(),
        b"operator's notes"
    );
    assert!(!snaps.join(".20250102T000000Z.tmp").exists());
    assert!(!s.env.backups.join(".drill-scratch-999999999-0").exists());
    assert!(
        running.is_dir(),
        "a running process's scratch folder is left to it"
    );
    assert!(!beside.exists());
    // A second cleanup is not wedged by what it leaves alone.
    let out = s.run(&["cleanup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = s.run(&["validate", &stamp]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// What interrupted runs leave in a repository (an upload's marker and the objects it put,
/// its scratch folder, a pack being written in the cache, an object being written, a gone
/// drill's scratch folder) is listed by `status` and removed by `cleanup`; the objects of a
/// stamp whose manifest was lost and a stray object are reported and left alone, as is a
/// running process's scratch folder.
#[test]
fn cleanup_in_a_repository_removes_only_its_own_names_and_reports_the_rest() {
    let s = scene();
    let stamp = s.create();
    assert!(s.env.is_repository());
    let put = |key: &str, bytes: &[u8]| -> PathBuf {
        let p = s.env.object(key);
        assert!(fs::symlink_metadata(&p).is_err(), "{}", p.display());
        fs::write(&p, bytes).unwrap();
        p
    };
    // Objects of a snapshot whose manifest was lost (no upload marker): data, not a leftover.
    let lost = put("snapshots/20250101T000000Z/files/0", b"a chunk list");
    // A stray object where snapshots are kept.
    let notes = put("snapshots/notes.txt", b"operator's notes");
    // An upload that never finished: its marker, an object it put, its scratch folder.
    let marker = put("uploads/20250102T000000Z", b"");
    let partial = put("snapshots/20250102T000000Z/files/0", b"half");
    let upload_scratch = s.env.backups.join(".drill-scratch-upload-20250102T000000Z");
    fs::create_dir(&upload_scratch).unwrap();
    fs::write(upload_scratch.join("atocore.db"), b"half").unwrap();
    // A pack a killed run was writing in the cache, and an object (a manifest) being written.
    let pack_tmp = s
        .env
        .backups
        .join("cache")
        .join(format!(".pack-999999999-0{}", backup_core::TEMP_SUFFIX));
    fs::write(&pack_tmp, b"half a pack").unwrap();
    let object_tmp = s
        .env
        .backups
        .join("objects")
        .join(".snapshots%2F20250103T000000Z%2Fbackup-metadata.json.atocore-write.tmp");
    fs::write(&object_tmp, b"{\"format_ver").unwrap();
    let (gone, running, beside) = plant_scratch_leftovers(&s);
    // status lists every leftover, the one beside the live store included (what is wrong
    // is gathered, to be told all at once at the end).
    let mut wrong: Vec<String> = Vec::new();
    let out = s.run(&["status", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let st = json(&out);
    let leftovers = st["leftovers"].to_string();
    for name in [
        "snapshots/20250102T000000Z",
        ".drill-scratch-upload-20250102T000000Z",
        ".drill-scratch-999999999-0",
        ".atocore.db.atocore-restore.tmp",
        ".pack-999999999-0",
        ".snapshots%2F20250103T000000Z%2Fbackup-metadata.json.atocore-write.tmp",
    ] {
        if !leftovers.contains(name) {
            wrong.push(format!("status does not list {name} as a leftover"));
        }
    }
    assert!(
        !leftovers.contains(&format!(".drill-scratch-{}-0", std::process::id())),
        "{st}"
    );
    let unrecognised = st["unrecognised"].to_string();
    for name in ["20250101T000000Z", "notes.txt"] {
        assert!(unrecognised.contains(name), "{name} not reported: {st}");
    }
    assert!(!unrecognised.contains(&stamp), "{st}");
    let out = s.run(&["cleanup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    said(&out, "20250101T000000Z");
    said(&out, "notes.txt");
    assert_eq!(
        fs::read(&lost).unwrap(),
        b"a chunk list",
        "the objects of a snapshot without its manifest are untouched"
    );
    assert_eq!(fs::read(&notes).unwrap(), b"operator's notes");
    for (what, gone) in [
        ("the upload marker", &marker),
        ("the upload's object", &partial),
        ("the upload's scratch folder", &upload_scratch),
        ("the pack being written", &pack_tmp),
        ("the object being written", &object_tmp),
        ("the gone drill's scratch folder", &gone),
        ("the folder beside the live store", &beside),
    ] {
        if fs::symlink_metadata(gone).is_ok() {
            wrong.push(format!("cleanup did not remove {what}: {}", gone.display()));
        }
    }
    assert!(
        running.is_dir(),
        "a running process's scratch folder is left to it"
    );
    // A second cleanup is not wedged by what it leaves alone.
    let out = s.run(&["cleanup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = s.run(&["validate", &stamp]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(wrong.is_empty(), "{wrong:#?}\nstatus: {st}");
}

/// A symlink planted where the repository writes next (the manifest objects and upload
/// markers of the next seconds' stamps, the temporary names objects are written through,
/// the next uploads' scratch folders, the cache's index and its sidecars) is never
/// followed: create, restore with its safety snapshot, drill, cleanup and the rest write
/// nothing through it. (Its objects and cache folders themselves: the test above of every
/// name the tool writes.)
#[test]
fn a_symlink_planted_at_a_name_the_repository_writes_next_is_never_followed() {
    let cases: [(&str, bool); 9] = [
        ("manifest", false),
        ("marker", false),
        ("manifest temporary name", false),
        ("marker temporary name", false),
        ("upload scratch", false),
        ("upload scratch", true),
        ("index", false),
        ("index sidecars", false),
        ("index sidecars", true),
    ];
    for (kind, to_dir) in cases {
        let s = scene();
        let root = s.env.tmp.path();
        let victims = Victims::new(root);
        let target = if to_dir { &victims.dir } else { &victims.file };
        let stamp = s.create();
        s.env.mutate();
        let objects = s.env.backups.join("objects");
        let cache = s.env.backups.join("cache");
        assert!(cache.join("index.sqlite3").is_file());
        // The stamps of the next seconds (the runs below start within them), after the
        // snapshot just made.
        let now = std::time::SystemTime::now();
        let stamps: Vec<String> = (0..4)
            .map(|i| {
                backup_core::Stamp::at(now + Duration::from_secs(i))
                    .as_str()
                    .to_owned()
            })
            .filter(|st| *st > stamp)
            .collect();
        assert!(stamps.len() >= 3, "{stamps:?} after {stamp}");
        let mut planted: Vec<PathBuf> = Vec::new();
        for st in &stamps {
            let manifest = format!("snapshots/{st}/backup-metadata.json");
            let marker = format!("uploads/{st}");
            let temp = |key: &str| {
                let name = s.env.object(key);
                let name = name.file_name().unwrap().to_string_lossy().into_owned();
                objects.join(format!(".{name}.atocore-write.tmp"))
            };
            match kind {
                "manifest" => planted.push(s.env.object(&manifest)),
                "marker" => planted.push(s.env.object(&marker)),
                "manifest temporary name" => planted.push(temp(&manifest)),
                "marker temporary name" => planted.push(temp(&marker)),
                "upload scratch" => {
                    planted.push(s.env.backups.join(format!(".drill-scratch-upload-{st}")))
                }
                _ => {}
            }
        }
        match kind {
            "index" => planted.push(cache.join("index.sqlite3")),
            "index sidecars" => {
                for side in ["-wal", "-shm", "-journal"] {
                    planted.push(cache.join(format!("index.sqlite3{side}")));
                }
            }
            _ => {}
        }
        assert!(!planted.is_empty(), "{kind}");
        for p in &planted {
            // Only the index is there already: nothing else planted replaces an object.
            assert!(
                kind == "index" || fs::symlink_metadata(p).is_err(),
                "{kind}: {} is there",
                p.display()
            );
        }
        let plant_all = || {
            for p in &planted {
                if fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                    continue;
                }
                plant(p, target);
            }
        };
        plant_all();
        let into = root.join("exported").to_string_lossy().into_owned();
        let what = |cmd: &str| format!("{kind} -> {}: {cmd}", target.display());
        for args in [
            vec!["create", "--json"],
            vec!["restore", &stamp, "--confirm-service-stopped"],
            vec!["restore", &stamp, "--to", &into],
            vec!["drill"],
            vec!["cleanup"],
            vec!["status"],
            vec!["list"],
            vec!["validate", &stamp],
        ] {
            let out = s.run(&args);
            victims.check(&what(&args.join(" ")));
            no_live_symlink(&s, Path::new(""), &what(&args.join(" ")));
            if code(&out) != 0 {
                // A refusal names the link (or the reason it could not go on).
                assert!(!stderr(&out).is_empty(), "{}", what(&args.join(" ")));
            } else if args[0] == "create" {
                // It went on under a stamp whose names were not taken.
                let made = json(&out)["stamp"].as_str().unwrap().to_owned();
                assert!(
                    !matches!(kind, "manifest" | "marker") || !stamps.contains(&made),
                    "{}: stored under a planted stamp {made}",
                    what("create")
                );
            }
            plant_all();
        }
        // Without the links, the repository is whole and takes the next snapshot.
        for p in &planted {
            if fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                fs::remove_file(p).unwrap();
            }
        }
        let out = s.run(&["cleanup"]);
        assert_eq!(code(&out), 0, "{}: {}", what("cleanup"), stderr(&out));
        let next = s.create();
        for st in [&stamp, &next] {
            let out = s.run(&["validate", st]);
            assert_eq!(code(&out), 0, "{}: {}", what("validate"), stderr(&out));
        }
        victims.check(&what("after"));
    }
}

#[test]
fn a_future_stamp_and_a_world_writable_backup_dir_are_flagged() {
    let s = scene();
    let stamp = s.create();
    let future = "20990101T000000Z";
    // The manifest copied under a future stamp (it lists the same chunks).
    let text = fs::read_to_string(s.env.manifest_path(&stamp)).unwrap();
    let moved = text.replace(&stamp, future);
    assert_ne!(moved, text, "the manifest names its stamp");
    fs::write(s.env.manifest_path(future), moved).unwrap();
    let out = s.run(&["list", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rows = common::listed(&out);
    assert_eq!(rows[0]["stamp"], future);
    assert_eq!(rows[0]["future"], true);
    assert_eq!(rows[1]["future"], false);
    said(&out, "in the future");
    std::thread::sleep(Duration::from_millis(1100));
    let out = s.run(&["create"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    said(&out, future);
    fs::set_permissions(&s.env.backups, fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.run(&["list"]);
    said(&out, "can be written by every user");
}

#[test]
fn huge_lock_timeouts_saturate_instead_of_panicking() {
    let s = scene();
    s.create();
    for v in [
        "18446744073709551615",
        "18446744073709551614",
        "9223372036854775808",
        "0",
    ] {
        for cmd in ["cleanup", "create", "drill"] {
            let out = s.run(&[cmd, "--lock-timeout", v]);
            assert!(
                code(&out) == 0,
                "{cmd} --lock-timeout {v}: {} {}",
                code(&out),
                stderr(&out)
            );
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn clean(bytes: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(bytes);
        for c in text.chars() {
            if c.is_control() && c != '\n' {
                return Err(format!("{c:?} in {text:?}"));
            }
        }
        Ok(())
    }

    fn numeric_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            Just(u64::MAX.to_string()),
            Just("18446744073709551616".to_owned()),
            Just("-1".to_owned()),
            "[0-9]{1,40}",
            "[^\u{0}]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any value of any numeric flag: exit 0 or 2, never a panic (exit 101).
        #[test]
        fn numeric_flags_never_panic(v in numeric_value()) {
            let s = common::env();
            fs::create_dir(&s.backups).unwrap();
            let out = s.run(&["cleanup", "--lock-timeout", &v]);
            prop_assert!(matches!(code(&out), 0 | 2), "{v}: {}", stderr(&out));
            prop_assert!(!stderr(&out).contains("panicked"));
        }
    }

    fn hostile_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('\u{1b}'),
                Just('\u{9b}'),
                Just('\u{7}'),
                Just('\r'),
                Just('\u{7f}'),
                Just('['),
                Just('2'),
                Just('J'),
                any::<char>(),
            ],
            1..24,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

        /// Control characters anywhere a manifest holds text never reach the terminal raw:
        /// list, validate and status, as text and as JSON.
        #[test]
        fn control_characters_from_a_manifest_are_escaped(t in hostile_text(), field in 0usize..6) {
            let s = scene();
            let stamp = s.create();
            let mpath = s.env.manifest_path(&stamp);
            let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
            match field {
                0 => m["tool_version"] = t.clone().into(),
                1 => m["created_at"] = t.clone().into(),
                2 => m["components"][0]["files"][0]["path"] = format!("sqlite/{t}").into(),
                3 => m["components"][2]["facts"]["collections"][0]["name"] = t.clone().into(),
                4 => m["components"][1]["id"] = t.clone().into(),
                _ => m["sources"]["sqlite"] = format!("/x/{t}").into(),
            }
            fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
            for args in [
                vec!["list"], vec!["list", "--json"], vec!["validate", &stamp],
                vec!["validate", &stamp, "--json"], vec!["status"], vec!["drill", &stamp],
            ] {
                let out = s.run(&args);
                prop_assert!(clean(&out.stdout).is_ok(), "{args:?} stdout: {:?}", clean(&out.stdout));
                prop_assert!(clean(&out.stderr).is_ok(), "{args:?} stderr: {:?}", clean(&out.stderr));
            }
        }
    }
}

// ---- What a hostile review of the hardening found, each shown fixed. ----

fn chain(root: &Path, depth: usize) -> PathBuf {
    let mut p = root.to_path_buf();
    for _ in 0..depth {
        p.push("d");
    }
    fs::create_dir_all(&p).unwrap();
    fs::write(p.join("f.bin"), b"deep").unwrap();
    p
}

fn journal_exists(s: &Scene) -> bool {
    fs::symlink_metadata(s.env.backups.join("restore-journal.json")).is_ok()
}

/// A folder chain deeper than any store, planted in the Chroma folder: create and restore
/// refuse before anything is switched; a restore without a safety snapshot replaces it and
/// removes the old tree, whatever its depth. No crash, no leftover.
#[test]
fn a_deep_folder_chain_in_the_chroma_folder_never_half_restores() {
    let s = scene();
    let stamp = s.create();
    chain(&s.chroma.join("x"), 100);
    for args in [
        vec!["create"],
        vec!["restore", &stamp, "--confirm-service-stopped"],
    ] {
        let out = s.run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        said(&out, "nested more than 64");
        assert!(!journal_exists(&s));
    }
    let out = s.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--no-pre-snapshot",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!s.chroma.join("x").exists());
    // Deeper than any limit: replaced, and the old tree removed all the same.
    chain(&s.chroma.join("x"), 1200);
    let out = s.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--no-pre-snapshot",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!s.chroma.join("x").exists());
    let out = s.run(&["status", "--json"]);
    assert_eq!(
        json(&out)["leftovers"],
        serde_json::json!([]),
        "no leftover"
    );
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// `restore --to` a folder in the data folder, which the service user swaps for a link to
/// the repository's objects after the checks: the restore refuses instead of writing among
/// the snapshots' objects.
#[test]
fn a_to_folder_swapped_for_a_link_after_the_checks_is_refused() {
    let s = scene();
    let stamp = s.create();
    let data = s.env.db.parent().unwrap();
    let to = data.join("restore-test");
    fs::create_dir(&to).unwrap();
    let objects = s.env.backups.join("objects");
    let before = object_names(&s);
    let mut cmd = s.command(&["restore", &stamp, "--to", &to.to_string_lossy()]);
    cmd.env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (child, err) = stop_at(cmd, "restore.places-checked");
    fs::rename(&to, data.join("moved")).unwrap();
    std::os::unix::fs::symlink(&objects, &to).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(
        object_names(&s),
        before,
        "nothing was written among the objects"
    );
    let out = s.run(&["validate", &stamp]);
    assert_eq!(
        code(&out),
        0,
        "the snapshot was not written: {}",
        stderr(&out)
    );
}

#[test]
fn a_store_that_is_a_mount_point_is_refused_before_anything_is_switched() {
    let s = scene();
    let stamp = s.create();
    let saved = s.env.tmp.path().join("chroma-saved");
    backup_core::conformance::copy_tree(&s.chroma, &saved);
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&s.chroma)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !mounted {
        skip("needs root to mount a tmpfs as the Chroma folder");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(s.chroma.clone());
    backup_core::conformance::copy_tree(&saved, &s.chroma);
    s.env.mutate();
    let before = s.env.memories(&s.env.db);
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "mount point");
    assert!(!journal_exists(&s));
    assert_eq!(
        s.env.memories(&s.env.db),
        before,
        "the database was not switched"
    );
    // Backups still work, and a restore that leaves Chroma alone is fine.
    let out = s.run(&["create"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = s.run(&[
        "restore",
        &stamp,
        "--confirm-service-stopped",
        "--no-chroma",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// A failure after some stores were switched says so, names them, and points at the
/// journal; it never says "nothing was changed".
#[test]
fn a_failure_after_a_partial_switch_says_what_was_switched() {
    let s = scene();
    let stamp = s.create();
    s.env.mutate();
    let mut cmd = s.command(&["restore", &stamp, "--confirm-service-stopped"]);
    cmd.env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (child, err) = stop_at(cmd, "restore.after-registry");
    let planted = s
        .chroma
        .parent()
        .unwrap()
        .join(".chroma.atocore-restore.tmp");
    std::os::unix::fs::symlink(s.env.tmp.path(), &planted).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("partly restored"), "{err}");
    assert!(err.contains("switching sqlite, registry"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(!err.contains("nothing was changed"), "{err}");
    assert!(journal_exists(&s));
    fs::remove_file(&planted).unwrap();
    let out = s.run(&["restore", "--resume", "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn an_ingestion_lock_path_that_is_not_utf8_is_recorded_exactly() {
    let s = scene();
    let lock = s
        .env
        .db
        .parent()
        .unwrap()
        .join(OsStr::from_bytes(b"\xff.lock"));
    // Given through the environment: an argument would pass through text.
    let vars = s.vars();
    let mut v: Vec<(&str, &OsStr)> = vars.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    v.push(("ATOCORE_INGESTION_LOCK", lock.as_os_str()));
    let out = s.env.run_env(&["create", "--json"], &v);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let facts = &json(&out)["components"][2]["facts"];
    assert!(facts["ingestion_lock"]["hex"].is_string(), "{facts}");
    assert!(fs::symlink_metadata(&lock).is_ok());
}

#[test]
fn entries_of_the_chroma_folder_that_are_not_captured_are_named() {
    let s = scene();
    let seg = fs::read_dir(&s.chroma)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    fs::write(seg.join(OsStr::from_bytes(b"n\xffe.bin")), b"odd name").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.chroma.join("link")).unwrap();
    let out = s.run(&["create", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    said(&out, "2 entries are not captured");
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    said(&out, "2 entries of the replaced folder were not kept");
}

#[test]
fn a_closed_or_full_stdout_is_an_error_never_a_panic() {
    let s = scene();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = s.command(&["create"]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    said(&out, "the operation itself completed");
    assert!(!stderr(&out).contains("panicked"));
    let out = s.run(&["list", "--json"]);
    assert_eq!(
        common::listed(&out).as_array().unwrap().len(),
        1,
        "the snapshot was made"
    );
    // A reader that has gone away (`| head -0`).
    let mut child = s
        .command(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 2)), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn a_newline_from_a_manifest_cannot_forge_an_output_line() {
    let s = scene();
    let stamp = s.create();
    let mpath = s.env.manifest_path(&stamp);
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    m["created_at"] = "2026\n20991231T235959Z regular forged".into();
    fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let out = s.run(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.lines().any(|l| l.starts_with("20991231T235959Z")),
        "{text}"
    );
}

#[test]
fn facts_that_relax_a_check_are_not_trusted_in_a_regular_snapshot() {
    let s = scene();
    let stamp = s.create();
    let (root, dir) = plain_copy(&s, &stamp);
    let mpath = dir.join("backup-metadata.json");
    let pristine = fs::read(&mpath).unwrap();
    let stored_facts = |component: usize| -> serde_json::Value {
        let m: serde_json::Value =
            serde_json::from_slice(&fs::read(s.env.manifest_path(&stamp)).unwrap()).unwrap();
        m["components"][component]["facts"].clone()
    };
    // A broken registry, checksums fixed, marked "captured broken".
    fs::write(
        dir.join("registry/project-registry.json"),
        b"{\"projects\": [ broken",
    )
    .unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&pristine).unwrap();
    rewrite_with_checksums(
        &dir,
        &mut m,
        "registry/project-registry.json",
        "registry/project-registry.json",
    );
    m["components"][1]["facts"]["json_valid"] = false.into();
    fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    put_back(&s, &root, &stamp);
    assert_eq!(
        s.env.stored_bytes(&stamp, "registry/project-registry.json"),
        b"{\"projects\": [ broken"
    );
    assert_eq!(stored_facts(1)["json_valid"], false);
    let out = s.run(&["validate", &stamp]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    said(&out, "not valid JSON");
    // Chroma: a recorded "already damaged" mark, and a collections fact of the wrong type.
    for (key, value) in [
        ("consistency_problems", serde_json::json!(["x"])),
        ("collections", serde_json::json!("x")),
    ] {
        let mut m: serde_json::Value = serde_json::from_slice(&pristine).unwrap();
        fs::write(
            dir.join("registry/project-registry.json"),
            br#"{"projects":[{"id":"p1"}]}"#,
        )
        .unwrap();
        let db = dir.join("chroma/chroma.sqlite3");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys=OFF;
             DELETE FROM embeddings WHERE id IN (SELECT id FROM embeddings LIMIT 5);",
        )
        .unwrap();
        drop(c);
        rewrite_with_checksums(
            &dir,
            &mut m,
            "chroma/chroma.sqlite3",
            "chroma/chroma.sqlite3",
        );
        m["components"][2]["facts"][key] = value.clone();
        fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
        put_back(&s, &root, &stamp);
        assert_eq!(
            s.env.stored_bytes(&stamp, "chroma/chroma.sqlite3"),
            fs::read(&db).unwrap()
        );
        assert_eq!(stored_facts(2)[key], value);
        let out = s.run(&["validate", &stamp]);
        assert_eq!(code(&out), 1, "{key}: {}", stderr(&out));
        let out = s.run(&["drill", &stamp]);
        assert_eq!(code(&out), 1, "{key}: {}", stderr(&out));
    }
}

#[test]
fn a_newest_snapshot_whose_manifest_was_removed_fails_the_drill() {
    let s = scene();
    let older = s.create();
    std::thread::sleep(Duration::from_millis(1100));
    let newest = s.create();
    fs::remove_file(s.env.manifest_path(&newest)).unwrap();
    let out = s.run(&["drill"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&newest));
    said(&out, "missing");
    let out = s.run(&["list"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    said(&out, &newest);
    let out = s.run(&["drill", &older]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn two_stores_with_one_name_are_refused_at_create() {
    let s = scene();
    let cfg = s.env.tmp.path().join("cfg");
    fs::create_dir(&cfg).unwrap();
    let reg = cfg.join("atocore.db");
    fs::copy(&s.env.registry, &reg).unwrap();
    let out = s.run(&["create", "--registry", &reg.to_string_lossy()]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "same name as the sqlite store");
}

#[test]
fn the_lock_timeout_bounds_the_wait_for_the_ingestion_lock() {
    let s = scene();
    let lock = s.chroma.parent().unwrap().join(".ingestion.lock");
    let holder = common::spawn_ready(
        Command::new("sh")
            .arg("-c")
            .arg("exec 9>>\"$1\"; flock 9; echo ready; exec sleep 60")
            .arg("holder")
            .arg(&lock),
        "ready",
    );
    let t = Instant::now();
    let out = s.run(&["create", "--lock-timeout", "1"]);
    let waited = t.elapsed();
    let mut holder = holder;
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "ingestion lock");
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
}

#[test]
fn a_symlink_at_a_sqlite_sidecar_is_named() {
    let s = scene();
    let victims = Victims::new(s.env.tmp.path());
    let mut wal = s.env.db.clone().into_os_string();
    wal.push("-wal");
    std::os::unix::fs::symlink(&victims.file, &wal).unwrap();
    let out = s.run(&["create"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "atocore.db-wal");
    said(&out, "symlink");
    victims.check("create");
}

#[test]
fn a_backup_dir_others_can_change_is_flagged_and_refused_for_a_root_restore() {
    let s = scene();
    let stamp = s.create();
    fs::set_permissions(&s.env.backups, fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.run(&["drill"]);
    assert!(
        stderr(&out).contains("can be changed by others"),
        "drill: {}",
        stderr(&out)
    );
    fs::set_permissions(&s.env.backups, fs::Permissions::from_mode(0o700)).unwrap();
    let out = s.run(&["list"]);
    assert!(
        !stderr(&out).contains("can be changed by others"),
        "list: {}",
        stderr(&out)
    );
    let objects = s.env.backups.join("objects");
    fs::set_permissions(&objects, fs::Permissions::from_mode(0o777)).unwrap();
    let out = s.run(&["list"]);
    assert!(
        stderr(&out).contains("can be changed by others"),
        "list: {}",
        stderr(&out)
    );
    said(&out, "objects");
    fs::set_permissions(&objects, fs::Permissions::from_mode(0o700)).unwrap();
    if !common::is_root() {
        skip("needs root: the refusal is for restores run as root");
        return;
    }
    std::os::unix::fs::chown(&s.env.backups, Some(65534), Some(1)).unwrap();
    let before = s.env.memories(&s.env.db);
    s.env.mutate();
    let mutated = s.env.memories(&s.env.db);
    assert_ne!(before, mutated);
    let out = s.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    said(&out, "owned by uid 65534");
    assert_eq!(s.env.memories(&s.env.db), mutated, "nothing restored");
}

/// A restore --to whose folder is swapped for another real folder (not a link) after the
/// run first opened it refuses to write into the other one.
#[test]
fn a_to_folder_swapped_for_another_folder_is_refused() {
    let s = scene();
    let stamp = s.create();
    let data = s.env.db.parent().unwrap();
    let to = data.join("restore-test");
    let other = data.join("other");
    fs::create_dir(&other).unwrap();
    let mut cmd = s.command(&["restore", &stamp, "--to", &to.to_string_lossy()]);
    cmd.env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (child, err) = stop_at(cmd, "restore.before-sqlite");
    fs::rename(&to, data.join("moved-away")).unwrap();
    fs::rename(&other, &to).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("was replaced by another folder"), "{err}");
    assert_eq!(
        fs::read_dir(&to).unwrap().count(),
        0,
        "nothing was written there"
    );
}

fn set_acl_user_write(path: &Path, uid: u32) {
    // A POSIX access ACL: user::rwx, user:<uid>:rwx, group::---, mask::rwx, other::---.
    let script = "import os, struct, sys\n\
        p, uid = sys.argv[1], int(sys.argv[2])\n\
        e = lambda tag, perm, id: struct.pack('<HHI', tag, perm, id)\n\
        v = struct.pack('<I', 2) + e(1, 7, 0xffffffff) + e(2, 7, uid) + e(4, 0, 0xffffffff) + e(0x10, 7, 0xffffffff) + e(0x20, 0, 0xffffffff)\n\
        os.setxattr(p, 'system.posix_acl_access', v)\n";
    let ok = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .arg(uid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "setting an ACL");
}

/// What a root restore reads must be changeable by root only: an ACL, group write, an
/// objects folder of another user, a link to the backup dir kept in another user's folder
/// are each flagged, and refused for a restore run as root.
#[test]
fn every_way_others_could_change_the_backup_dir_is_refused_for_a_root_restore() {
    let root = common::is_root();
    type Setup = Box<dyn Fn(&Scene) -> (PathBuf, &'static str)>;
    let cases: Vec<(&str, Setup)> = vec![
        (
            "an ACL",
            Box::new(|s: &Scene| {
                set_acl_user_write(&s.env.backups, 65534);
                (s.env.backups.clone(), "ACL")
            }),
        ),
        (
            "group write",
            Box::new(|s: &Scene| {
                fs::set_permissions(&s.env.backups, fs::Permissions::from_mode(0o770)).unwrap();
                (s.env.backups.clone(), "its group")
            }),
        ),
        (
            "an objects folder of another user",
            Box::new(|s: &Scene| {
                std::os::unix::fs::chown(s.env.backups.join("objects"), Some(65534), None).unwrap();
                (s.env.backups.clone(), "owned by uid 65534")
            }),
        ),
        (
            "a link in another user's folder",
            Box::new(|s: &Scene| {
                let nob = s.env.tmp.path().join("nob");
                fs::create_dir(&nob).unwrap();
                std::os::unix::fs::chown(&nob, Some(65534), Some(1)).unwrap();
                let link = nob.join("bk");
                std::os::unix::fs::symlink(&s.env.backups, &link).unwrap();
                (link, "owned by uid 65534")
            }),
        ),
    ];
    for (what, setup) in cases {
        if !root && what != "an ACL" && what != "group write" {
            continue;
        }
        let s = scene();
        let stamp = s.create();
        s.env.mutate();
        let mutated = s.env.memories(&s.env.db);
        let (backup_dir, why) = setup(&s);
        let vars = s.vars();
        let mut v: Vec<(&str, &OsStr)> = vars
            .iter()
            .filter(|(k, _)| *k != "ATOCORE_BACKUP_DIR")
            .map(|(k, v)| (*k, v.as_os_str()))
            .collect();
        v.push(("ATOCORE_BACKUP_DIR", backup_dir.as_os_str()));
        let out = s.env.run_env(&["list"], &v);
        assert!(
            stderr(&out).contains("can be changed by others"),
            "{what}: {}",
            stderr(&out)
        );
        if root {
            let out = s
                .env
                .run_env(&["restore", &stamp, "--confirm-service-stopped"], &v);
            assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
            assert!(stderr(&out).contains(why), "{what}: {}", stderr(&out));
            assert_eq!(
                s.env.memories(&s.env.db),
                mutated,
                "{what}: nothing restored"
            );
        }
    }
    if !root {
        skip("needs root: the refusal is for restores run as root, and two cases chown");
    }
}

/// In the backup dir, a scratch folder of a run that is gone (no process can have that id)
/// and one of a run still going (this test's own process): only the first is a leftover.
/// Beside the live database, a restore's half-built private folder. Returns the three.
fn plant_scratch_leftovers(s: &Scene) -> (PathBuf, PathBuf, PathBuf) {
    let gone = s.env.backups.join(".drill-scratch-999999999-0");
    fs::create_dir(&gone).unwrap();
    let running = s
        .env
        .backups
        .join(format!(".drill-scratch-{}-0", std::process::id()));
    fs::create_dir(&running).unwrap();
    let beside = s
        .env
        .db
        .parent()
        .unwrap()
        .join(".atocore.db.atocore-restore.tmp");
    fs::create_dir(&beside).unwrap();
    fs::write(beside.join("new-db"), b"half").unwrap();
    (gone, running, beside)
}
