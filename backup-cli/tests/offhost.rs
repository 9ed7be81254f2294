//! The repository on S3-compatible object storage (a real `s3s-fs` server on loopback, whose
//! objects are plain files the tests can damage), encrypted: disaster recovery onto an empty
//! host, kills during uploads and prunes, damage, wrong keys, missing objects, dead remotes,
//! leases, copies to a second place, and credentials never shown.
//!
//! Needs ATOCORE_TEST_PYTHON (chromadb 1.5.9) for the read-back, and the s3s-fs binary
//! (scripts/test.sh installs both).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use atocore_backup_tests::s3::{Server, Throttle};
use backup_core::{Key, Repository, Sealed, SnapshotStore, Stamp};
use serde_json::Value;

mod common;
use common::{code, stderr, Scene};

/// A host whose repository is on the test server, under `prefix`, sealed with a key kept
/// outside the host's folder (as an operator keeps it off the host).
struct Remote<'a> {
    server: &'a Server,
    scene: Scene,
    prefix: String,
    key_file: PathBuf,
    /// The host's home: the default state folder is below it.
    home: PathBuf,
    _key_dir: tempfile::TempDir,
    /// Every output of every run, for the credentials check.
    seen: std::cell::RefCell<Vec<u8>>,
    /// The endpoint to give instead of the server's (a throttling proxy in front of it).
    endpoint: Option<String>,
    /// How often a failed request is tried again.
    retries: &'static str,
}

fn remote<'a>(server: &'a Server, prefix: &str) -> Remote<'a> {
    let scene = common::scene();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("repo.key");
    let home = scene.env.tmp.path().join("home");
    fs::create_dir(&home).unwrap();
    let r = Remote {
        server,
        scene,
        prefix: prefix.to_owned(),
        key_file,
        home,
        _key_dir: key_dir,
        seen: Default::default(),
        endpoint: None,
        retries: "2",
    };
    let out = r.run(&["key", "generate", r.key_file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    r
}

impl Remote<'_> {
    /// The binary pointed at the remote repository: no backup dir, the key from its file.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.scene.command(args);
        c.env_remove("ATOCORE_BACKUP_DIR")
            .env_remove("XDG_STATE_HOME")
            .env("HOME", &self.home)
            .env("ATOCORE_KEY_FILE", &self.key_file)
            .env("ATOCORE_S3_RETRIES", self.retries)
            .envs(self.server.vars(&self.prefix));
        if let Some(e) = &self.endpoint {
            c.env("ATOCORE_S3_ENDPOINT", e);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.output(self.command(args))
    }

    fn output(&self, mut c: Command) -> Output {
        let out = c.output().unwrap();
        self.seen.borrow_mut().extend_from_slice(&out.stdout);
        self.seen.borrow_mut().extend_from_slice(&out.stderr);
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        out
    }

    fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The stamps `list` shows, newest first.
    fn stamps(&self) -> Vec<String> {
        self.ok(&["list"])["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stamp"].as_str().unwrap().to_owned())
            .collect()
    }

    fn create(&self) -> String {
        self.ok(&["create"])["stamp"].as_str().unwrap().to_owned()
    }

    fn object_file(&self, key: &str) -> PathBuf {
        self.server.object_file(&self.prefix, key)
    }

    /// Keys of the objects stored under `folder` (`packs`, `index`, ...).
    fn objects_in(&self, folder: &str) -> Vec<String> {
        let dir = self.object_file(folder);
        let mut v: Vec<String> = fs::read_dir(&dir)
            .map(|d| {
                d.map(|e| format!("{folder}/{}", e.unwrap().file_name().to_string_lossy()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The repository, read by the library with the key (for manifests).
    fn repository(&self, state: &Path) -> Repository<Sealed> {
        let key =
            Key::from_text(&fs::read_to_string(&self.key_file).unwrap(), &self.key_file).unwrap();
        Repository::with_state(Sealed::new(self.server.objects(&self.prefix), key), state)
    }

    /// Each file of snapshot `stamp` by its path in the manifest: its SHA-256.
    fn manifest_hashes(&self, stamp: &str) -> BTreeMap<String, String> {
        let state = tempfile::tempdir().unwrap();
        let m = self
            .repository(state.path())
            .read_manifest(&Stamp::parse(stamp).unwrap())
            .unwrap();
        m.components
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect()
    }

    /// What no output may contain.
    fn assert_no_credentials_seen(&self) {
        let seen = self.seen.borrow();
        for secret in [&self.server.secret_key, &self.server.access_key] {
            assert!(
                !seen.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a credential appeared in the output"
            );
        }
    }
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut f = fs::File::open(p).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Every regular file below `dir`, relative, with its bytes' hash.
fn tree_hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else if md.is_file() {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), sha256(&p));
            }
        }
    }
    out
}

fn python() -> PathBuf {
    PathBuf::from(std::env::var_os("ATOCORE_TEST_PYTHON").expect(
        "ATOCORE_TEST_PYTHON is not set: these tests need a Python with chromadb 1.5.9; run \
         scripts/test.sh, which installs one",
    ))
}

/// What chromadb itself reads from the store at `chroma`.
fn chromadb_view(chroma: &Path, scratch: &Path, name: &str) -> Value {
    let out = scratch.join(format!("{name}.json"));
    let run = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/chroma/chroma_tool.py"))
        .args(["describe", chroma.to_str().unwrap(), out.to_str().unwrap()])
        .env("ANONYMIZED_TELEMETRY", "False")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&fs::read(out).unwrap()).unwrap()
}

/// Fill the database with `mb` MiB of incompressible rows (packs large enough to go up in
/// parts).
fn grow(db: &Path, mb: usize, seed: u64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, b BLOB)")
        .unwrap();
    let mut x = seed | 1;
    let tx = c.unchecked_transaction().unwrap();
    for _ in 0..mb * 16 {
        let mut b = vec![0u8; 64 << 10];
        for chunk in b.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        tx.execute("INSERT INTO blobs(b) VALUES (?1)", [b]).unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn disaster_recovery_onto_an_empty_host_needs_only_the_address_the_credentials_and_the_key() {
    let server = Server::start();
    let r = remote(&server, "dr");
    let before = chromadb_view(&r.scene.chroma, r.scene.env.tmp.path(), "before");
    let stamp = r.create();
    let hashes = r.manifest_hashes(&stamp);
    assert!(hashes.len() >= 3, "{hashes:?}");
    // Nothing of the snapshot is readable in the bucket without the key.
    for k in r.objects_in("packs").iter().chain(&r.objects_in("index")) {
        let raw = fs::read(r.object_file(k)).unwrap();
        assert_eq!(&raw[..8], b"ATOSEAL1", "{k} is not sealed");
    }
    let registry = fs::read(&r.scene.env.registry).unwrap();
    // What a restore of this snapshot gives, made before the host is lost and kept off it
    // (a restored database is in WAL mode again, so it is not the stored copy's bytes).
    let reference = r._key_dir.path().join("reference");
    let v = r.ok(&["restore", &stamp, "--to", reference.to_str().unwrap()]);
    assert_eq!(v["restored_integrity_ok"], true);
    let reference_db = sha256(&reference.join("atocore.db"));
    assert!(
        !fs::read(r.object_file(&format!("snapshots/{stamp}/backup-metadata.json")))
            .unwrap()
            .windows(8)
            .any(|w| w == b"registry")
    );
    // The host is lost: live stores, backup dir, state folder.
    let data = r.scene.env.db.parent().unwrap().to_path_buf();
    fs::remove_dir_all(&data).unwrap();
    fs::remove_dir_all(&r.home).unwrap();
    fs::create_dir(&r.home).unwrap();
    assert!(!r.scene.env.backups.exists());
    // A new host: empty folders, the address, the credentials and the key.
    let listed = r.ok(&["list"]);
    assert_eq!(listed["snapshots"][0]["stamp"], stamp.as_str());
    let v = r.ok(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(v["restored_integrity_ok"], true, "{v}");
    for (path, want) in &hashes {
        let (id, rel) = path.split_once('/').unwrap();
        let (live, want) = match id {
            "sqlite" => (r.scene.env.db.clone(), &reference_db),
            "registry" => (r.scene.env.registry.clone(), want),
            "chroma" => (r.scene.chroma.join(rel), want),
            other => panic!("unexpected component {other}"),
        };
        assert_eq!(&sha256(&live), want, "{path} differs from the snapshot");
    }
    assert_eq!(fs::read(&r.scene.env.registry).unwrap(), registry);
    let after = chromadb_view(&r.scene.chroma, r.scene.env.tmp.path(), "after");
    assert_eq!(after["collections"], before["collections"]);
    let n: i64 = rusqlite::Connection::open(&r.scene.env.db)
        .unwrap()
        .query_row("SELECT count(*) FROM memories", [], |row| row.get(0))
        .unwrap();
    assert_eq!(n, 500);
    // The new host drills and checks the remote as the old one did.
    assert_eq!(r.ok(&["drill"])["ok"], true);
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    r.assert_no_credentials_seen();
}

#[test]
fn damage_a_wrong_key_and_a_missing_object_are_clear_errors_that_touch_nothing() {
    let server = Server::start();
    let r = remote(&server, "damage");
    let stamp = r.create();
    let live_dir = r.scene.env.db.parent().unwrap().to_path_buf();
    let live = tree_hashes(&live_dir);
    let packs = r.objects_in("packs");
    assert!(!packs.is_empty());
    let pack = r.object_file(&packs[0]);
    let original = fs::read(&pack).unwrap();
    let refused = |why: &str, want_code: i32, words: &[&str]| {
        for args in [
            vec!["validate", stamp.as_str()],
            vec!["restore", stamp.as_str(), "--confirm-service-stopped"],
        ] {
            let out = r.run(&args);
            let err = stderr(&out);
            assert_eq!(code(&out), want_code, "{why}: {args:?}: {err}");
            for w in words {
                assert!(err.contains(w), "{why}: {args:?} does not say {w:?}: {err}");
            }
            assert_eq!(
                tree_hashes(&live_dir),
                live,
                "{why}: {args:?} touched the live store"
            );
        }
    };
    // A flipped byte in a pack: its tag fails, named like a checksum failure.
    let mut bad = original.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x20;
    fs::write(&pack, &bad).unwrap();
    refused("flipped byte", 1, &["authentication check", &packs[0][6..]]);
    let out = r.run(&["check", "--read-data"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&packs[0][6..])
            || String::from_utf8_lossy(&out.stdout).contains(&packs[0][6..])
    );
    fs::write(&pack, &original).unwrap();
    assert_eq!(r.ok(&["validate", &stamp])["valid"], true);
    // A missing pack.
    fs::remove_file(&pack).unwrap();
    refused("missing pack", 1, &["pack is missing"]);
    fs::write(&pack, &original).unwrap();
    // A missing manifest: the snapshot is named as damaged.
    let manifest = r.object_file(&format!("snapshots/{stamp}/backup-metadata.json"));
    let m = fs::read(&manifest).unwrap();
    fs::remove_file(&manifest).unwrap();
    let out = r.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("backup-metadata.json"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree_hashes(&live_dir), live);
    fs::write(&manifest, &m).unwrap();
    // A wrong key: exit 2, named, nothing touched.
    let other = r.scene.env.tmp.path().join("other.key");
    let out = r.run(&["key", "generate", other.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    for args in [
        vec!["list"],
        vec!["restore", stamp.as_str(), "--confirm-service-stopped"],
    ] {
        let mut c = r.command(&args);
        c.env("ATOCORE_KEY_FILE", &other);
        let out = r.output(c);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains("wrong key"), "{}", stderr(&out));
    }
    // No key at all, and a key for a repository in the clear.
    let mut c = r.command(&["list"]);
    c.env_remove("ATOCORE_KEY_FILE");
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--insecure-no-encryption"),
        "{}",
        stderr(&out)
    );
    let mut c = r.command(&["list"]);
    c.env_remove("ATOCORE_KEY_FILE")
        .arg("--insecure-no-encryption");
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("encrypted (key id"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree_hashes(&live_dir), live);
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    r.assert_no_credentials_seen();
}

#[test]
fn kills_during_upload_and_prune_leave_a_remote_that_checks_clean_and_restores() {
    let server = Server::start();
    let r = remote(&server, "kills");
    grow(&r.scene.env.db, 24, 7);
    let first = r.create();
    // A kill with a multipart upload begun but not completed: nothing of it is visible.
    grow(&r.scene.env.db, 12, 8);
    let c = r.command(&["create"]);
    let (mut child, _err) = common::stop_at(c, "s3.before-complete");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut x = 0x5eed_u64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    // Run `args`, SIGKILL it after `ms`, and check the remote is clean.
    let killed_after = |args: &[&str], ms: u64, what: &str| {
        let mut c = r.command(args);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        child.wait().unwrap();
        let v = r.ok(&["check"]);
        assert_eq!(v["clean"], true, "{what}: {v}");
    };
    for round in 0..6 {
        grow(&r.scene.env.db, 2, 100 + round);
        killed_after(&["create"], 100 + next(1500), &format!("round {round}"));
    }
    let stamps: Vec<String> = r.stamps();
    assert!(stamps.contains(&first));
    // Prune, killed at random moments: still clean, every listed snapshot restores.
    r.create();
    for round in 0..4 {
        let keep = (3 - round.min(2)).to_string();
        killed_after(
            &["prune", "--keep-last", &keep],
            50 + next(800),
            &format!("prune round {round}"),
        );
    }
    r.ok(&["cleanup"]);
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    for stamp in &r.stamps() {
        let into = r.scene.env.tmp.path().join(format!("into-{stamp}"));
        let v = r.ok(&["restore", stamp, "--to", into.to_str().unwrap()]);
        assert_eq!(v["restored_integrity_ok"], true, "{stamp}: {v}");
        fs::remove_dir_all(&into).unwrap();
    }
    r.assert_no_credentials_seen();
}

#[test]
fn a_remote_that_dies_during_a_restore_leaves_the_live_store_as_it_was() {
    let server = Server::start();
    let r = remote(&server, "dies");
    grow(&r.scene.env.db, 8, 3);
    let stamp = r.create();
    grow(&r.scene.env.db, 1, 4);
    let live_dir = r.scene.env.db.parent().unwrap().to_path_buf();
    let live = tree_hashes(&live_dir);
    let mut c = r.command(&["restore", &stamp, "--confirm-service-stopped"]);
    c.env("ATOCORE_FAILPOINT_PAUSE_MS", "1500");
    let (child, err) = common::stop_at(c, "s3.ranged-read");
    // The remote goes away while the restore is under way.
    server.kill();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("s3://atocore-test/dies/packs/"),
        "the failing request is named: {err}"
    );
    assert_eq!(
        tree_hashes(&live_dir),
        live,
        "the live store changed: {err}"
    );
}

/// A throttling service answers `503 Slow Down` when asked too fast. With every third
/// request answered so, every command still succeeds (each such request is retried after a
/// backoff) and the snapshot restores to its bytes. Throttled without end from the moment a
/// create is about to commit, the create gives up after its retries with a clear error
/// (exit 2) and commits nothing: the remote lists and checks as before.
#[test]
fn a_throttling_remote_slows_commands_but_they_succeed_and_one_that_gives_up_commits_nothing() {
    let server = Server::start();
    let throttle = Throttle::start(&server, 3);
    let mut r = remote(&server, "throttled");
    r.endpoint = Some(throttle.endpoint.clone());
    // A request throttled again on each retry (other requests of the run taking the turns in
    // between) is possible with concurrent uploads: more retries than the other tests give.
    r.retries = "8";
    // Each command is answered 503 at least once, and succeeds.
    let throttled = |what: &str, args: &[&str]| -> Value {
        let before = throttle.throttled();
        let v = r.ok(args);
        assert!(throttle.throttled() > before, "{what}: never throttled");
        v
    };
    let first = throttled("create", &["create"])["stamp"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows = r.scene.env.memories(&r.scene.env.db);
    r.scene.env.mutate();
    let second = throttled("second create", &["create"])["stamp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        throttled("list", &["list"])["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        throttled("validate", &["validate", &first, "--deep"])["valid"],
        true
    );
    assert_eq!(throttled("check", &["check", "--read-data"])["clean"], true);
    let into = r.scene.env.tmp.path().join("restored");
    let v = throttled(
        "restore",
        &["restore", &first, "--to", into.to_str().unwrap()],
    );
    assert_eq!(v["restored_integrity_ok"], true, "{v}");
    assert_eq!(r.scene.env.memories(&into.join("atocore.db")), rows);
    let hashes = r.manifest_hashes(&first);
    for (path, want) in &hashes {
        let (id, rel) = path.split_once('/').unwrap();
        let got = match id {
            "sqlite" => continue,
            "registry" => into.join("project-registry.json"),
            "chroma" => into.join("chroma").join(rel),
            other => panic!("unexpected component {other}"),
        };
        assert_eq!(&sha256(&got), want, "{path}");
    }
    throttled("prune", &["prune", "--keep-last", "1"]);
    assert_eq!(r.stamps(), std::slice::from_ref(&second));
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);

    // Throttled without end while a create waits to commit: it gives up, commits nothing.
    let mut c = r.command(&["create", "--json"]);
    c.env("ATOCORE_FAILPOINT_PAUSE_MS", "3000")
        .env("ATOCORE_S3_RETRIES", "3");
    let (child, err) = common::stop_at(c, "create.before-commit");
    throttle.set_every(1);
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("s3://atocore-test/throttled"),
        "names the remote: {err}"
    );
    assert!(
        err.contains("503") || err.contains("Slow Down") || err.contains("SlowDown"),
        "says the service is throttling: {err}"
    );
    throttle.set_every(0);
    assert_eq!(r.stamps(), std::slice::from_ref(&second), "{err}");
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    assert_eq!(r.ok(&["validate", &second])["valid"], true);
    r.assert_no_credentials_seen();
}

#[test]
fn a_lease_held_elsewhere_blocks_prune_and_an_expired_one_does_not() {
    let server = Server::start();
    let r = remote(&server, "lease");
    r.create();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let plant = |kind: &str, expires: u64| {
        let f = r.object_file("locks/other-1");
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(
            &f,
            format!(
                r#"{{"holder":"other","kind":"{kind}","command":"create","host":"elsewhere","pid":7,"expires":{expires}}}"#
            ),
        )
        .unwrap();
        f
    };
    let f = plant("shared", now + 600);
    let mut c = r.command(&["prune", "--keep-last", "1"]);
    c.env("ATOCORE_LOCK_TIMEOUT", "1");
    let out = r.output(c);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("shared lease of `create` (pid 7 on elsewhere)"),
        "{}",
        stderr(&out)
    );
    // Shared with shared: a create goes on beside it.
    r.create();
    fs::remove_file(&f).unwrap();
    plant("exclusive", now.saturating_sub(5));
    r.ok(&["prune", "--keep-last", "1"]);
    // Our own leases are gone once each run ends.
    let left: Vec<String> = r.objects_in("locks");
    assert_eq!(left, vec!["locks/other-1".to_owned()]);
}

#[test]
fn credentials_never_appear_in_any_output_even_when_they_are_wrong() {
    let server = Server::start();
    let r = remote(&server, "secrets");
    r.create();
    r.ok(&["list"]);
    // A wrong secret, an unreachable endpoint, credentials in the AWS files.
    let mut c = r.command(&["list"]);
    c.env("AWS_SECRET_ACCESS_KEY", format!("{}x", server.secret_key));
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("s3://atocore-test/secrets"),
        "{}",
        stderr(&out)
    );
    let mut c = r.command(&["list"]);
    c.env("ATOCORE_S3_ENDPOINT", "http://127.0.0.1:9")
        .env("ATOCORE_S3_RETRIES", "1");
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("after 1 retries"), "{}", stderr(&out));
    let aws = r.home.join(".aws");
    fs::create_dir_all(&aws).unwrap();
    fs::write(
        aws.join("credentials"),
        format!(
            "[backup]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key, server.secret_key
        ),
    )
    .unwrap();
    let mut c = r.command(&["list", "--json"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "backup");
    let out = r.output(c);
    assert_eq!(code(&out), 0, "from the credentials file: {}", stderr(&out));
    let mut c = r.command(&["list"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "nobody");
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no credentials"), "{}", stderr(&out));
    r.ok(&["drill"]);
    r.ok(&["status"]);
    r.assert_no_credentials_seen();
    // Nor anything the tool wrote: the state folder and the bucket.
    let secret = server.secret_key.as_bytes();
    for dir in [r.home.join(".local"), server.root.clone()] {
        for (p, _) in tree_hashes(&dir) {
            let bytes = fs::read(dir.join(&p)).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds the secret",
                p.display()
            );
        }
    }
}

#[test]
fn an_unencrypted_remote_needs_the_flag_and_keeps_plain_objects() {
    let server = Server::start();
    let r = remote(&server, "plain");
    let mut c = r.command(&["create"]);
    c.env_remove("ATOCORE_KEY_FILE");
    let out = r.output(c);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--insecure-no-encryption"));
    assert!(
        r.objects_in("packs").is_empty(),
        "a refused create uploaded nothing"
    );
    let mut c = r.command(&["create", "--json", "--insecure-no-encryption"]);
    c.env_remove("ATOCORE_KEY_FILE");
    let out = r.output(c);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let pack = fs::read(r.object_file(&r.objects_in("packs")[0])).unwrap();
    assert_ne!(&pack[..8], b"ATOSEAL1");
    assert!(pack.windows(8).any(|w| w == b"ATOPACK1"), "a plain pack");
    // With a key now: refused, not silently mixed.
    let out = r.run(&["create"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not encrypted"), "{}", stderr(&out));
}

#[test]
fn copy_sends_only_what_the_remote_lacks_reads_it_back_and_list_shows_where_each_snapshot_is() {
    let server = Server::start();
    let r = remote(&server, "copies");
    // A local repository (the backup dir, in the clear) with a remote copy, sealed.
    let local = |args: &[&str]| -> Output {
        let mut c = r.scene.command(args);
        c.env("HOME", &r.home)
            .envs(server.vars("copies"))
            .env_remove("ATOCORE_REPO")
            .env("ATOCORE_COPY_TO", "s3://atocore-test/copies")
            .env("ATOCORE_COPY_TO_KEY_FILE", &r.key_file);
        r.output(c)
    };
    let ok = |args: &[&str]| -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = local(&a);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let s1 = ok(&["create"])["stamp"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let s2 = ok(&["create"])["stamp"].as_str().unwrap().to_owned();
    let listed = ok(&["list"]);
    for s in listed["snapshots"].as_array().unwrap() {
        assert_eq!(s["places"], serde_json::json!(["here"]), "{s}");
    }
    let v = ok(&["copy"]);
    let copied: Vec<&str> = v["copied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["stamp"].as_str().unwrap())
        .collect();
    assert_eq!(copied, vec![s1.as_str(), s2.as_str()]);
    let first_added = v["copied"][0]["stored"]["added_bytes"].as_u64().unwrap();
    for c in v["copied"].as_array().unwrap() {
        assert!(c["verified_bytes"].as_u64().unwrap() > 0, "{c}");
    }
    // The second snapshot shared almost everything with the first: little went up.
    let second_added = v["copied"][1]["stored"]["added_bytes"].as_u64().unwrap();
    assert!(
        second_added * 4 < first_added,
        "{second_added} vs {first_added}"
    );
    // Nothing left to send; a third snapshot goes alone.
    let v = ok(&["copy"]);
    assert!(v["copied"].as_array().unwrap().is_empty());
    assert_eq!(v["already_there"].as_array().unwrap().len(), 2);
    std::thread::sleep(Duration::from_millis(1100));
    grow(&r.scene.env.db, 1, 9);
    let s3 = ok(&["create"])["stamp"].as_str().unwrap().to_owned();
    let v = ok(&["copy"]);
    assert_eq!(v["copied"][0]["stamp"], s3.as_str());
    assert_eq!(v["copied"].as_array().unwrap().len(), 1);
    let listed = ok(&["list"]);
    for s in listed["snapshots"].as_array().unwrap() {
        assert_eq!(
            s["places"],
            serde_json::json!(["here", "s3://atocore-test/copies"]),
            "{s}"
        );
    }
    // The copy is sealed, checks clean, and restores on its own (the host's view of it).
    for k in r.objects_in("packs") {
        assert_eq!(&fs::read(r.object_file(&k)).unwrap()[..8], b"ATOSEAL1");
    }
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    let into = r.scene.env.tmp.path().join("from-copy");
    let v = r.ok(&["restore", &s3, "--to", into.to_str().unwrap()]);
    assert_eq!(v["restored_integrity_ok"], true);
    let here = r.scene.env.tmp.path().join("from-here");
    ok(&["restore", &s3, "--to", here.to_str().unwrap()]);
    let (a, b) = (tree_hashes(&into), tree_hashes(&here));
    assert!(a.len() >= 3);
    assert_eq!(a, b, "the copy restores other bytes than the original");
    // A byte flipped in the copy after the fact: the next check of it says so.
    let pack = r.object_file(&r.objects_in("packs")[0]);
    let mut bytes = fs::read(&pack).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 1;
    fs::write(&pack, &bytes).unwrap();
    let out = r.run(&["check", "--read-data"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    r.assert_no_credentials_seen();
}

#[test]
fn every_repository_command_works_against_the_remote() {
    let server = Server::start();
    let r = remote(&server, "commands");
    let mut stamps = Vec::new();
    for round in 0..4 {
        grow(&r.scene.env.db, 1, 20 + round);
        stamps.push(r.create());
        std::thread::sleep(Duration::from_millis(1100));
    }
    let listed = r.ok(&["list"]);
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 4);
    assert_eq!(r.ok(&["validate", &stamps[3], "--deep"])["valid"], true);
    assert_eq!(r.ok(&["drill", &stamps[1]])["ok"], true);
    for slice in ["1/2", "2/2", "50%"] {
        let v = r.ok(&["check", "--read-data-subset", slice]);
        assert_eq!(v["clean"], true, "{slice}: {v}");
        assert!(
            v["packs_read"].as_u64().unwrap() > 0 || slice == "50%",
            "{slice}: {v}"
        );
    }
    let dry = r.ok(&["prune", "--keep-last", "2", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(r.stamps().len(), 4);
    let packs_before = r.objects_in("packs").len();
    r.ok(&["prune", "--keep-last", "2"]);
    let left: Vec<String> = r.stamps();
    assert_eq!(left, vec![stamps[3].clone(), stamps[2].clone()]);
    assert!(r.objects_in("packs").len() <= packs_before);
    assert_eq!(r.ok(&["check", "--read-data"])["clean"], true);
    let metrics = r.scene.env.tmp.path().join("metrics.prom");
    let v = r.ok(&["status", "--prometheus", metrics.to_str().unwrap()]);
    assert_eq!(v["newest_snapshot"]["stamp"], stamps[3].as_str(), "{v}");
    assert!(fs::read_to_string(&metrics)
        .unwrap()
        .contains("atocore_backup_"));
    let into = r.scene.env.tmp.path().join("into");
    let v = r.ok(&["restore", &stamps[2], "--to", into.to_str().unwrap()]);
    assert_eq!(v["restored_integrity_ok"], true);
    r.ok(&["cleanup"]);
    // No lease of ours is left behind by any of it.
    assert!(
        r.objects_in("locks").is_empty(),
        "{:?}",
        r.objects_in("locks")
    );
    r.assert_no_credentials_seen();
}

#[test]
fn a_create_whose_lease_lapsed_commits_nothing() {
    let server = Server::start();
    let r = remote(&server, "lapse");
    let first = r.create();
    grow(&r.scene.env.db, 1, 31);
    // A short lease; the store goes away while the create waits to commit, so the lease
    // cannot be renewed and others may no longer respect it.
    let mut c = r.command(&["create"]);
    c.env("ATOCORE_LEASE_SECONDS", "3")
        .env("ATOCORE_FAILPOINT_PAUSE_MS", "6000");
    let (child, err) = common::stop_at(c, "create.before-commit");
    server.kill();
    std::thread::sleep(Duration::from_secs(4));
    server.launch();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lease on the repository could not be renewed"),
        "{err}"
    );
    let stamps: Vec<String> = r.stamps();
    assert_eq!(
        stamps,
        vec![first],
        "the create committed on a lapsed lease"
    );
    assert_eq!(r.ok(&["check"])["clean"], true);
}
