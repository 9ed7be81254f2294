//! Helpers shared by the binary's test files: a live store in a temporary folder, and runs of
//! the real `atocore-backup` binary against it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use backup_core::ObjectStore as _;
use rusqlite::Connection;
use serde_json::Value;

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub db: PathBuf,
    pub registry: PathBuf,
    pub backups: PathBuf,
    /// Where the repository is when it is not in the backup dir: on the test S3 server
    /// (then the backup dir is the repository's local state folder).
    pub remote: Option<RemoteRepo>,
}

/// Where a test's repository is kept: every repository test runs on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In the backup dir (`objects/`).
    Local,
    /// On a real S3-compatible server (s3s-fs on loopback), sealed with a key of its own.
    S3,
}

/// A repository on the shared test server, under a prefix of its own, sealed with a key kept
/// outside the backup dir.
pub struct RemoteRepo {
    pub server: &'static atocore_backup_tests::s3::Server,
    pub prefix: String,
    pub key_file: PathBuf,
    /// A state folder for the library's own reads in tests (never the tool's).
    state: tempfile::TempDir,
}

impl Drop for RemoteRepo {
    /// The shared server lives as long as the test process: each test's objects go with it.
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.server.object_file(&self.prefix, ""));
    }
}

/// A live store, and a repository for it on `backend`.
pub fn env_on(backend: Backend) -> Env {
    let mut e = env();
    if backend == Backend::S3 {
        e.use_remote();
    }
    e
}

pub fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("data");
    fs::create_dir(&live).unwrap();
    let db = live.join("atocore.db");
    let c = Connection::open(&db).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE memories(id INTEGER PRIMARY KEY, content TEXT);",
    )
    .unwrap();
    for i in 0..500 {
        c.execute(
            "INSERT INTO memories(content) VALUES (?1)",
            [format!("baseline-{i}")],
        )
        .unwrap();
    }
    drop(c);
    let registry = live.join("project-registry.json");
    fs::write(&registry, br#"{"projects":[{"id":"p1"}]}"#).unwrap();
    Env {
        backups: tmp.path().join("backups"),
        tmp,
        db,
        registry,
        remote: None,
    }
}

impl Env {
    /// Run with the paths given by environment variables, as the service's operators do.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(
            args,
            &[
                ("ATOCORE_DB_PATH", self.db.as_os_str()),
                ("ATOCORE_PROJECT_REGISTRY_PATH", self.registry.as_os_str()),
                ("ATOCORE_BACKUP_DIR", self.backups.as_os_str()),
            ],
        )
    }

    pub fn run_env(&self, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> Output {
        self.run_with(
            Command::new(env!("CARGO_BIN_EXE_atocore-backup")),
            args,
            vars,
        )
    }

    /// Run as another user (`uid`, group `gid`, no supplementary groups: the standard library
    /// drops them when root sets a uid), with the same variables as [`run`].
    /// `program` is a copy of the binary that user may run.
    pub fn run_as(&self, program: &Path, uid: u32, gid: u32, args: &[&str]) -> Output {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.uid(uid).gid(gid);
        self.run_with(
            cmd,
            args,
            &[
                ("ATOCORE_DB_PATH", self.db.as_os_str()),
                ("ATOCORE_PROJECT_REGISTRY_PATH", self.registry.as_os_str()),
                ("ATOCORE_BACKUP_DIR", self.backups.as_os_str()),
            ],
        )
    }

    /// The binary with `args`, the variables [`run`](Env::run) sets, and those that point
    /// it at the remote repository when there is one: to spawn and stop.
    pub fn command(&self, args: &[&str]) -> Command {
        self.prepare(
            Command::new(env!("CARGO_BIN_EXE_atocore-backup")),
            args,
            &[
                ("ATOCORE_DB_PATH", self.db.as_os_str()),
                ("ATOCORE_PROJECT_REGISTRY_PATH", self.registry.as_os_str()),
                ("ATOCORE_BACKUP_DIR", self.backups.as_os_str()),
            ],
        )
    }

    fn prepare(
        &self,
        mut cmd: Command,
        args: &[&str],
        vars: &[(&str, &std::ffi::OsStr)],
    ) -> Command {
        for (k, _) in std::env::vars() {
            if k.starts_with("ATOCORE_") || k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("RUST_BACKTRACE");
        cmd.args(args)
            .envs(vars.iter().copied())
            .current_dir(self.tmp.path());
        cmd.envs(self.remote_vars());
        cmd
    }

    /// The variables that point the binary at the remote repository (none for a local one):
    /// its address, endpoint, credentials and key file.
    pub fn remote_vars(&self) -> Vec<(String, std::ffi::OsString)> {
        let Some(r) = &self.remote else {
            return Vec::new();
        };
        let mut v: Vec<(String, std::ffi::OsString)> = r
            .server
            .vars(&r.prefix)
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect();
        v.push(("ATOCORE_KEY_FILE".into(), r.key_file.clone().into()));
        v.push(("ATOCORE_S3_RETRIES".into(), "2".into()));
        v
    }

    fn run_with(&self, cmd: Command, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> Output {
        let out = self.prepare(cmd, args, vars).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?} panicked: {stderr}"
        );
        out
    }

    pub fn create(&self) -> String {
        let out = self.run(&["create", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        json(&out)["stamp"].as_str().unwrap().to_owned()
    }

    pub fn memories(&self, db: &Path) -> Vec<String> {
        let c = Connection::open(db).unwrap();
        let mut s = c
            .prepare("SELECT content FROM memories ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    pub fn mutate(&self) {
        Connection::open(&self.db)
            .unwrap()
            .execute_batch(
                "INSERT INTO memories(content) VALUES ('MUTATION');
                 DELETE FROM memories WHERE id = 1;",
            )
            .unwrap();
        fs::write(&self.registry, br#"{"projects":[{"id":"MUTATED"}]}"#).unwrap();
    }

    pub fn live_bytes(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        backup_dir_bytes(self.db.parent().unwrap())
    }

    /// The folder of plain snapshot `stamp` (a plain-folder backup dir: see [`Env::plain`]).
    pub fn snapshot_dir(&self, stamp: &str) -> PathBuf {
        self.backups.join("snapshots").join(stamp)
    }

    /// Make the backup dir a plain-folder one, as an earlier release left it (before any
    /// snapshot): the tool keeps plain snapshot folders there until `migrate`.
    pub fn plain(&self) -> &Self {
        fs::create_dir_all(self.backups.join("snapshots")).unwrap();
        self
    }

    /// From now on, keep the repository on the test server, under a new prefix, sealed with
    /// a new key (the backup dir becomes its state folder).
    pub fn use_remote(&mut self) {
        let key_file = self.tmp.path().join("repo.key");
        let out = self.run(&["key", "generate", key_file.to_str().unwrap()]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        self.remote = Some(RemoteRepo {
            server: atocore_backup_tests::s3::shared(),
            prefix: atocore_backup_tests::s3::fresh_prefix("repo"),
            key_file,
            state: tempfile::tempdir().unwrap(),
        });
    }

    /// A new live store whose repository is a copy of this one's, as it is now: backup dir
    /// `<tmp>/<name>` (and, for a remote repository, a new prefix with the same key).
    pub fn copy_of(&self, name: &str) -> Env {
        let mut e = env();
        e.backups = self.tmp.path().join(name);
        backup_core::conformance::copy_tree(&self.backups, &e.backups);
        if let Some(r) = &self.remote {
            let prefix = atocore_backup_tests::s3::fresh_prefix(name);
            backup_core::conformance::copy_tree(
                &r.server.object_file(&r.prefix, ""),
                &r.server.object_file(&prefix, ""),
            );
            e.remote = Some(RemoteRepo {
                server: r.server,
                prefix,
                key_file: r.key_file.clone(),
                state: tempfile::tempdir().unwrap(),
            });
        }
        e
    }

    /// Whether the snapshots are in a repository (what a new backup dir becomes; a remote
    /// one always is).
    pub fn is_repository(&self) -> bool {
        self.remote.is_some() || !self.backups.join("snapshots").exists()
    }

    /// The folder holding every file of the repository's objects.
    pub fn objects_root(&self) -> PathBuf {
        match &self.remote {
            Some(r) => r.server.object_file(&r.prefix, ""),
            None => self.backups.join("objects"),
        }
    }

    /// The repository's local index cache (in the backup dir, or for a remote repository in
    /// the state folder's place for it).
    pub fn cache_file(&self) -> PathBuf {
        match &self.remote {
            None => self.backups.join("cache/index.sqlite3"),
            Some(_) => {
                let places: Vec<PathBuf> = fs::read_dir(self.backups.join("remotes"))
                    .unwrap()
                    .map(|d| d.unwrap().path().join("cache/index.sqlite3"))
                    .filter(|p| p.is_file())
                    .collect();
                assert_eq!(places.len(), 1, "{places:?}");
                places[0].clone()
            }
        }
    }

    /// The repository, as the library reads it (with the key, for a remote one).
    pub fn repository(
        &self,
    ) -> backup_core::Repository<std::sync::Arc<dyn backup_core::ObjectStore>> {
        use std::sync::Arc;
        match &self.remote {
            None => {
                let o: Arc<dyn backup_core::ObjectStore> =
                    Arc::new(backup_core::LocalObjects::new(&self.backups));
                backup_core::Repository::with_state(o, &self.backups)
            }
            Some(r) => {
                let key = backup_core::Key::from_text(
                    &fs::read_to_string(&r.key_file).unwrap(),
                    &r.key_file,
                )
                .unwrap();
                let o: Arc<dyn backup_core::ObjectStore> =
                    Arc::new(backup_core::Sealed::new(r.server.objects(&r.prefix), key));
                backup_core::Repository::with_state(o, r.state.path())
            }
        }
    }

    /// The bytes of snapshot `stamp`'s manifest (decrypted, for a remote repository).
    pub fn read_manifest(&self, stamp: &str) -> Vec<u8> {
        if self.remote.is_none() {
            return fs::read(self.manifest_path(stamp)).unwrap();
        }
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut self
                .repository()
                .objects()
                .get(&format!("snapshots/{stamp}/backup-metadata.json"))
                .unwrap(),
            &mut out,
        )
        .unwrap();
        out
    }

    /// Replace (or add) snapshot `stamp`'s manifest with `bytes` (sealed with the key, for a
    /// remote repository), as someone who can write the repository would.
    pub fn write_manifest(&self, stamp: &str, bytes: &[u8]) {
        if self.remote.is_none() {
            let p = self.manifest_path(stamp);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            return fs::write(p, bytes).unwrap();
        }
        let repo = self.repository();
        let key = format!("snapshots/{stamp}/backup-metadata.json");
        let _ = repo.objects().delete(&key);
        repo.objects().put(&key, &mut &bytes[..]).unwrap();
    }

    /// The file holding snapshot `stamp`'s manifest: in its folder, or the repository's
    /// manifest object.
    pub fn manifest_path(&self, stamp: &str) -> PathBuf {
        if self.is_repository() {
            self.object(&format!("snapshots/{stamp}/backup-metadata.json"))
        } else {
            self.snapshot_dir(stamp).join("backup-metadata.json")
        }
    }

    /// The file holding the repository object `key` (on the test server, for a remote
    /// repository: sealed bytes).
    pub fn object(&self, key: &str) -> PathBuf {
        match &self.remote {
            Some(r) => r.server.object_file(&r.prefix, key),
            None => backup_core::LocalObjects::new(&self.backups).object_path(key),
        }
    }

    /// Where the bytes of file `rel` (as the manifest names it) of snapshot `stamp` are on
    /// disk: the file itself (offset 0, its length), or each pack frame holding its chunks
    /// (where its sealed bytes are, for a remote repository).
    pub fn stored_places(&self, stamp: &str, rel: &str) -> Vec<(PathBuf, u64, u64)> {
        if self.is_repository() {
            let sealed = self.remote.is_some();
            self.repository()
                .frames_of(&backup_core::Stamp::parse(stamp).unwrap(), rel)
                .unwrap()
                .into_iter()
                .map(|(k, off, len)| {
                    if sealed {
                        let at = backup_core::sealed_offset(off);
                        (
                            self.object(&k),
                            at,
                            backup_core::sealed_offset(off + len) - at,
                        )
                    } else {
                        (self.object(&k), off, len)
                    }
                })
                .collect()
        } else {
            let p = self.snapshot_dir(stamp).join(rel);
            let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            vec![(p, 0, len)]
        }
    }

    /// The bytes of file `rel` of snapshot `stamp`, read through the store (and checked
    /// chunk by chunk in a repository).
    pub fn stored_bytes(&self, stamp: &str, rel: &str) -> Vec<u8> {
        use backup_core::SnapshotStore;
        use std::io::Read;
        let stamp = backup_core::Stamp::parse(stamp).unwrap();
        let mut r = if self.is_repository() {
            self.repository().open_file(&stamp, rel).unwrap()
        } else {
            backup_core::FolderStore::new(&self.backups)
                .open_file(&stamp, rel)
                .unwrap()
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    /// Flip all bits of one stored byte of file `rel` of snapshot `stamp` (the middle of
    /// its first stored frame, or of the file).
    pub fn flip_stored(&self, stamp: &str, rel: &str) {
        let (p, at, len) = self.stored_places(stamp, rel).remove(0);
        backup_core::conformance::flip_byte(&p, at + len / 2);
    }
}

pub fn backup_dir_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output read as the published type `T` of its command's `--json` output.
pub fn typed<T: serde::de::DeserializeOwned>(out: &Output) -> T {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a {} ({e}): {}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `list --json` read through its published type; its rows as JSON values, newest first.
pub fn listed(out: &Output) -> Value {
    let l: backup_cli::json::Listed = typed(out);
    assert_eq!(l.format_version, backup_cli::json::FORMAT_VERSION);
    serde_json::to_value(l.snapshots).unwrap()
}

pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A test that cannot run on this machine says why, on stderr and in
/// `target/tmp/skipped-tests.txt`, which `scripts/test.sh` prints at the end of the run (the
/// test harness hides the output of tests that pass).
pub fn skip(reason: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED: {test}: {reason}");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    writeln!(f, "{test}: {reason}").unwrap();
}

/// Start `cmd` and wait until the first line it prints is `ready`: the helper process is now
/// doing what the test needs (holding a file open, writing).
pub fn spawn_ready(cmd: &mut Command, ready: &str) -> Child {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), ready);
    child
}

/// The committed chromadb 1.5.9 store below its first sync (small, no pickle).
pub fn small_chroma_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/chroma/1.5.9/small")
}

/// A live store with all three parts (database, registry, Chroma folder) and runs of the
/// binary with all of them configured.
pub struct Scene {
    pub env: Env,
    pub chroma: PathBuf,
}

pub fn scene() -> Scene {
    let env = env();
    let chroma = env.db.parent().unwrap().join("chroma");
    backup_core::conformance::copy_tree(&small_chroma_fixture(), &chroma);
    Scene { env, chroma }
}

impl Scene {
    pub fn vars(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("ATOCORE_DB_PATH", self.env.db.clone().into_os_string()),
            (
                "ATOCORE_PROJECT_REGISTRY_PATH",
                self.env.registry.clone().into_os_string(),
            ),
            ("ATOCORE_CHROMA_PATH", self.chroma.clone().into_os_string()),
            (
                "ATOCORE_BACKUP_DIR",
                self.env.backups.clone().into_os_string(),
            ),
        ]
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let vars = self.vars();
        let v: Vec<(&str, &std::ffi::OsStr)> =
            vars.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        self.env.run_env(args, &v)
    }

    /// The binary with every store configured, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ATOCORE_") {
                c.env_remove(k);
            }
        }
        c.args(args)
            .envs(self.vars())
            .current_dir(self.env.tmp.path());
        c
    }

    pub fn create(&self) -> String {
        let out = self.run(&["create", "--json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        json(&out)["stamp"].as_str().unwrap().to_owned()
    }

    /// The live paths of every store.
    pub fn live_paths(&self) -> [PathBuf; 3] {
        [
            self.env.db.clone(),
            self.env.registry.clone(),
            self.chroma.clone(),
        ]
    }
}

/// A run of `cmd` stopped at `failpoint` (the build has the `failpoints` feature), and a
/// thread that keeps reading its stderr (so its later messages never meet a closed pipe);
/// the thread returns all of it.
pub fn stop_at(cmd: Command, failpoint: &str) -> (Child, std::thread::JoinHandle<String>) {
    stop_at_with(cmd, failpoint, Stdio::null())
}

/// [`stop_at`], the run's stdout going to `stdout` (piped, for a test that reads its JSON).
pub fn stop_at_with(
    mut cmd: Command,
    failpoint: &str,
    stdout: Stdio,
) -> (Child, std::thread::JoinHandle<String>) {
    cmd.env("ATOCORE_FAILPOINT", failpoint)
        .stdout(stdout)
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let want = format!("failpoint {failpoint} reached");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut told = false;
        while let Some(Ok(l)) = lines.next() {
            all.push_str(&l);
            all.push('\n');
            if !told && l == want {
                told = true;
                let _ = tx.send(());
            }
        }
        all
    });
    if rx.recv_timeout(std::time::Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let status = child.wait();
        panic!(
            "never reached failpoint {failpoint} ({status:?}): {}",
            reader.join().unwrap()
        );
    }
    (child, reader)
}

/// Send `signal` ("INT", "TERM", "KILL") to a child.
pub fn signal(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal}");
}

/// Whether this test runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}
