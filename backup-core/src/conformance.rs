//! The conformance suite: the checks every [`Component`] must pass, run through the real
//! [`Orchestrator`] against real files, over every snapshot store: the [`FolderStore`], an
//! [`ObjectSnapshotStore`] over [`LocalObjects`] (whole objects only: put, get, list,
//! delete, as object storage offers), and the [`Repository`] (chunks in packs). Each component crate runs the whole list with
//! [`conformance_tests!`](crate::conformance_tests) plus its own specific tests.
//!
//! Panics are the point here: this module is test support.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{
    Component, Error, FolderStore, Key, Kind, LocalObjects, Manifest, ObjectSnapshotStore,
    ObjectStore, Orchestrator, Repository, RestoreOptions, Sealed, SnapshotStore, Source, Stamp,
    Targets, MANIFEST_NAME,
};

/// Where a [`Setup`] keeps its snapshots.
#[derive(Debug, Clone, Copy)]
pub enum Storage {
    /// [`FolderStore`]: `<backup-dir>/snapshots/<stamp>/`, state in the backup dir.
    Folder,
    /// [`ObjectSnapshotStore`] over [`LocalObjects`] in the backup dir, state in a separate
    /// local folder.
    Objects,
    /// [`Repository`] in the backup dir (chunks in packs; what the CLI makes), state and
    /// index cache in the backup dir.
    Repository,
    /// [`Repository`] in the backup dir with every object sealed ([`Sealed`], a test key).
    Sealed,
    /// A sealed [`Repository`] on object storage on another host (an S3 server the test
    /// starts), state and index cache in a local folder.
    Remote(fn() -> &'static dyn Remote),
}

/// Object storage elsewhere, for [`Storage::Remote`]: a fresh store per setup, and where the
/// server keeps each object's bytes (so tests can damage them).
pub trait Remote: Sync {
    /// An empty store of its own, named `name`.
    fn objects(&self, name: &str) -> Arc<dyn ObjectStore>;
    /// The file in which the server keeps object `key` of store `name`.
    fn object_file(&self, name: &str, key: &str) -> PathBuf;
}

impl std::fmt::Debug for dyn Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remote")
    }
}

/// The key every sealed test repository uses.
pub fn test_key() -> Key {
    Key::from_text(&"5e".repeat(32), Path::new("test key")).expect("key")
}

/// Where plaintext byte `offset` of a sealed object is stored.
pub fn sealed_offset(offset: u64) -> u64 {
    crate::store::sealed_offset(offset)
}

thread_local! {
    /// Bytes this thread may still read from snapshot files before a read fails.
    static READ_BUDGET: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// Make this thread's reads of snapshot files (what a restore copies out) fail once `bytes`
/// bytes were read, as a damaged disk or a dropped connection to a store would; `None` lifts
/// it. Per thread: tests running beside each other are not affected.
pub fn fail_snapshot_reads_after(bytes: Option<u64>) {
    READ_BUDGET.with(|b| b.set(bytes.unwrap_or(u64::MAX)));
}

/// This thread's budget, for a worker thread that reads for it ([`set_read_budget`]).
pub(crate) fn read_budget() -> u64 {
    READ_BUDGET.with(Cell::get)
}

/// Give this (worker) thread the budget of the thread it works for.
pub(crate) fn set_read_budget(bytes: u64) {
    READ_BUDGET.with(|b| b.set(bytes));
}

/// A snapshot file's reader that fails when this thread's budget is spent.
pub(crate) struct FaultyReads<R>(pub R);

impl<R: Read> Read for FaultyReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = READ_BUDGET.with(Cell::get);
        if left == 0 {
            return Err(std::io::Error::other(
                "injected read failure (conformance suite)",
            ));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.0.read(&mut buf[..want])?;
        if left != u64::MAX {
            READ_BUDGET.with(|b| b.set(left - n as u64));
        }
        Ok(n)
    }
}

/// How to make and change a live store of one component, and read back what a user sees.
pub trait Fixture {
    /// Build a live store somewhere inside `dir` and return its path.
    fn make_live(&self, dir: &Path) -> PathBuf;
    /// Change the live store's content.
    fn mutate(&self, live: &Path);
    /// What a user would compare: the store's logical content.
    fn content(&self, live: &Path) -> String;
}

/// One test setup: a live store, a backup dir and the component under test.
pub struct Setup {
    /// Holds every folder; removed on drop.
    pub tmp: tempfile::TempDir,
    /// The live store.
    pub live: PathBuf,
    /// The backup dir.
    pub backup_dir: PathBuf,
    /// The components known (just the one under test).
    pub known: Vec<Box<dyn Component>>,
    /// Where snapshots are kept.
    pub storage: Storage,
}

impl Setup {
    /// A fresh live store made by `fixture`, snapshots in a [`FolderStore`].
    pub fn new(component: Box<dyn Component>, fixture: &dyn Fixture) -> Setup {
        Setup::on(Storage::Folder, component, fixture)
    }

    /// A fresh live store made by `fixture`, snapshots kept as `storage` says.
    pub fn on(storage: Storage, component: Box<dyn Component>, fixture: &dyn Fixture) -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live_dir = tmp.path().join("live");
        fs::create_dir(&live_dir).expect("mkdir live");
        let live = fixture.make_live(&live_dir);
        Setup {
            backup_dir: tmp.path().join("backups"),
            tmp,
            live,
            known: vec![component],
            storage,
        }
    }

    /// The local state folder (journal, locks, drill log, scratch).
    pub fn state_dir(&self) -> PathBuf {
        match self.storage {
            Storage::Folder | Storage::Repository | Storage::Sealed => self.backup_dir.clone(),
            Storage::Objects | Storage::Remote(_) => self.tmp.path().join("state"),
        }
    }

    /// The snapshot store.
    pub fn store(&self) -> Box<dyn SnapshotStore> {
        match self.storage {
            Storage::Folder => Box::new(FolderStore::new(&self.backup_dir)),
            Storage::Objects => Box::new(ObjectSnapshotStore::new(LocalObjects::new(
                &self.backup_dir,
            ))),
            Storage::Repository => Box::new(Repository::in_folder(&self.backup_dir)),
            Storage::Sealed => Box::new(Repository::with_state(
                Sealed::new(Arc::new(LocalObjects::new(&self.backup_dir)), test_key()),
                &self.backup_dir,
            )),
            Storage::Remote(_) => Box::new(Repository::with_state(
                Sealed::new(self.remote_objects(), test_key()),
                self.state_dir(),
            )),
        }
    }

    /// The name of this setup's store on the remote.
    fn remote_name(&self) -> String {
        self.tmp
            .path()
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches('.')
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }

    fn remote_objects(&self) -> Arc<dyn ObjectStore> {
        match self.storage {
            Storage::Remote(r) => r().objects(&self.remote_name()),
            _ => Arc::new(LocalObjects::new(&self.backup_dir)),
        }
    }

    /// The file holding the bytes of object `key`.
    fn object_file(&self, key: &str) -> PathBuf {
        match self.storage {
            Storage::Remote(r) => r().object_file(&self.remote_name(), key),
            _ => LocalObjects::new(&self.backup_dir).object_path(key),
        }
    }

    /// Whether stored objects are sealed (their bytes are not the plaintext).
    pub fn sealed(&self) -> bool {
        matches!(self.storage, Storage::Sealed | Storage::Remote(_))
    }

    /// Where the bytes of file `rel` of `m`'s snapshot are kept on disk: the file itself
    /// (whole, offset 0), or, in a repository, each frame of the packs that hold its chunks
    /// (the pack file, the frame's offset and length).
    pub fn stored_places(&self, m: &Manifest, rel: &str) -> Vec<(PathBuf, u64, u64)> {
        match self.storage {
            Storage::Folder | Storage::Objects => {
                let p = self.snapshot_file(m, rel);
                let len = fs::metadata(&p).map(|md| md.len()).unwrap_or(0);
                vec![(p, 0, len)]
            }
            Storage::Repository => {
                let r = Repository::in_folder(&self.backup_dir);
                r.frames_of(&Stamp::parse(&m.stamp).unwrap(), rel)
                    .expect("frames")
                    .into_iter()
                    .map(|(k, off, len)| (self.object_file(&k), off, len))
                    .collect()
            }
            Storage::Sealed | Storage::Remote(_) => {
                let r = Repository::with_state(
                    Sealed::new(self.remote_objects(), test_key()),
                    self.state_dir(),
                );
                r.frames_of(&Stamp::parse(&m.stamp).unwrap(), rel)
                    .expect("frames")
                    .into_iter()
                    .map(|(k, off, len)| {
                        let at = sealed_offset(off);
                        (
                            self.object_file(&k),
                            at,
                            (sealed_offset(off + len) - at).max(1),
                        )
                    })
                    .collect()
            }
        }
    }

    /// Run `f` with an orchestrator over this setup's store and state folder.
    pub fn with<T>(&self, f: impl FnOnce(&Orchestrator<'_>) -> T) -> T {
        let store = self.store();
        let o = Orchestrator::new(store.as_ref(), &self.known).with_state_dir(self.state_dir());
        f(&o)
    }

    /// Where the stored file `rel` (as the manifest names it, or the manifest itself) of
    /// `m`'s snapshot is on disk.
    pub fn snapshot_file(&self, m: &Manifest, rel: &str) -> PathBuf {
        match self.storage {
            Storage::Folder => self.snapshot_dir(m).join(rel),
            _ => self.object_file(&format!("snapshots/{}/{rel}", m.stamp)),
        }
    }

    /// The component id.
    pub fn id(&self) -> String {
        self.known[0].id().to_owned()
    }

    /// Take a regular snapshot of the live store.
    pub fn create(&self) -> Manifest {
        self.with(|o| {
            o.create(
                &[Source {
                    id: self.id(),
                    path: self.live.clone(),
                }],
                Kind::Regular,
            )
        })
        .expect("create")
    }

    /// Where `m`'s snapshot is on disk: its folder, or the folder of every object.
    pub fn snapshot_dir(&self, m: &Manifest) -> PathBuf {
        match self.storage {
            Storage::Folder => self.backup_dir.join("snapshots").join(&m.stamp),
            Storage::Objects | Storage::Repository | Storage::Sealed => {
                self.backup_dir.join("objects")
            }
            Storage::Remote(_) => self
                .object_file("config")
                .parent()
                .expect("a folder")
                .to_path_buf(),
        }
    }

    /// Validate `m`'s snapshot and return the problems as text.
    pub fn problems(&self, m: &Manifest) -> Vec<String> {
        self.with(|o| o.validate(&Stamp::parse(&m.stamp).unwrap()))
            .expect("validate runs")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Restore `m` with `targets`.
    pub fn restore(
        &self,
        m: &Manifest,
        targets: Targets,
        confirm: bool,
        pre: bool,
    ) -> crate::Result<crate::RestoreReport> {
        self.with(|o| {
            o.restore(
                &Stamp::parse(&m.stamp).unwrap(),
                &RestoreOptions {
                    allow_schema_change: false,
                    targets,
                    confirm_service_stopped: confirm,
                    pre_restore_snapshot: pre,
                    skip: Default::default(),
                    protected: Vec::new(),
                },
            )
        })
    }

    /// Live targets naming the fixture's live path.
    pub fn live_targets(&self) -> Targets {
        Targets::Live(BTreeMap::from([(self.id(), self.live.clone())]))
    }
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
pub fn tree_bytes(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).expect("read"));
            }
        }
    }
    out
}

/// Copy a folder tree (files and folders only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// Flip all eight bits of the byte at `offset` (a constant overwrite would miss 1 time in 256).
pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).expect("read");
    let i = usize::try_from(offset).unwrap();
    bytes[i] ^= 0xFF;
    fs::write(path, bytes).expect("write");
}

/// Snapshot, then validate: valid, files listed with private modes, manifest readable.
pub fn snapshot_then_validate(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    assert_eq!(m.kind, Kind::Regular);
    let rec = m.component(&s.id()).expect("record");
    assert!(rec.present && !rec.files.is_empty());
    assert_eq!(s.problems(&m), Vec::<String>::new());
    let dir = s.snapshot_dir(&m);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A remote server keeps its files as it likes: modes are ours only on local disk.
    if !matches!(storage, Storage::Remote(_)) {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&s.snapshot_file(&m, MANIFEST_NAME)), 0o600);
        for f in &rec.files {
            for (p, _, _) in s.stored_places(&m, &f.path) {
                assert_eq!(mode(&p), 0o600, "{} in {}", f.path, p.display());
            }
        }
    }
    let on_disk = Manifest::read(&s.snapshot_file(&m, MANIFEST_NAME));
    if s.sealed() {
        // Sealed: the stored manifest is not readable as one, and names no file in the clear.
        assert!(on_disk.is_err(), "a sealed manifest read as plaintext");
        let raw = fs::read(s.snapshot_file(&m, MANIFEST_NAME)).unwrap();
        let clear = rec.files[0].sha256.as_bytes();
        assert!(!raw.windows(clear.len()).any(|w| w == clear));
        assert_eq!(
            s.store()
                .read_manifest(&Stamp::parse(&m.stamp).unwrap())
                .unwrap(),
            m
        );
    } else {
        assert_eq!(
            on_disk.unwrap(),
            m,
            "the manifest on disk is the one returned"
        );
    }
}

/// Snapshot, change the live store, restore: the change is gone, and the pre-restore snapshot
/// holds it.
pub fn restore_round_trip(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let original = fx.content(&s.live);
    let m = s.create();
    fx.mutate(&s.live);
    let mutated = fx.content(&s.live);
    assert_ne!(
        original, mutated,
        "the fixture's mutation changes the content"
    );
    let report = s
        .restore(&m, s.live_targets(), true, true)
        .expect("restore");
    assert!(report.verified(), "{:?}", report.components);
    assert_eq!(fx.content(&s.live), original);
    let pre = report
        .pre_restore_snapshot
        .expect("pre-restore snapshot taken");
    let pre_m = s
        .with(|o| o.validate(&Stamp::parse(&pre).unwrap()))
        .unwrap();
    assert!(pre_m.is_valid(), "{:?}", pre_m.problems);
    let pre_m = pre_m.manifest.unwrap();
    assert_eq!(pre_m.kind, Kind::PreRestore);
    let into = s.tmp.path().join("from-pre");
    s.restore(&pre_m, Targets::Into(into.clone()), false, false)
        .expect("restore the pre-restore snapshot elsewhere");
    let name = s.live.file_name().unwrap();
    assert_eq!(fx.content(&into.join(name)), mutated);
}

/// Restore without the pre-restore snapshot when asked.
pub fn restore_skips_pre_snapshot_when_asked(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let report = s.restore(&m, s.live_targets(), true, false).unwrap();
    assert_eq!(report.pre_restore_snapshot, None);
    let (list, _) = s.with(|o| o.list()).unwrap();
    assert_eq!(list.len(), 1, "no second snapshot was made");
}

/// Without confirmation, a live restore is refused and the live bytes stay identical.
pub fn restore_refused_without_confirmation(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let before = tree_bytes(s.live.parent().unwrap());
    let err = s.restore(&m, s.live_targets(), false, true).unwrap_err();
    assert!(matches!(err, Error::NotConfirmed), "{err}");
    assert_eq!(tree_bytes(s.live.parent().unwrap()), before);
}

/// Flip a byte in every snapshot file in turn: validate names the file and restore refuses
/// with the live store byte-identical. Truncating and deleting are caught too.
pub fn damaged_files_are_caught(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let live_before = tree_bytes(s.live.parent().unwrap());
    let files = &m.component(&s.id()).unwrap().files;
    for f in files {
        // The file itself, or (in a repository) the first pack frame holding its chunks.
        let Some((p, at, len)) = s.stored_places(&m, &f.path).into_iter().next() else {
            continue;
        };
        let p = &p;
        let original = fs::read(p).unwrap();
        let mut damage: Vec<(&str, Harm<'_>)> =
            vec![("deleted", Box::new(|| fs::remove_file(p).unwrap()))];
        // An empty file can be neither truncated nor flipped.
        if len > 0 {
            damage.push((
                "truncated",
                Box::new(|| fs::write(p, &original[..(at + len / 2) as usize]).unwrap()),
            ));
            for offset in [at, at + len / 2, at + len - 1] {
                damage.push(("flipped", Box::new(move || flip_byte(p, offset))));
            }
        }
        for (what, harm) in damage {
            harm();
            let problems = s.problems(&m);
            assert!(
                problems.iter().any(|p| p.starts_with(&f.path)),
                "{what} {}: not caught: {problems:?}",
                f.path
            );
            let err = s.restore(&m, s.live_targets(), true, true).unwrap_err();
            assert!(err.is_negative_answer(), "{err}");
            assert_eq!(tree_bytes(s.live.parent().unwrap()), live_before);
            fs::write(p, &original).unwrap();
            set_private(p);
        }
    }
    assert_eq!(s.problems(&m), Vec::<String>::new());
}

fn set_private(p: &Path) {
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

type Harm<'a> = Box<dyn Fn() + 'a>;

/// A file the manifest does not list, inside the component's folder, makes the snapshot invalid.
pub fn unlisted_file_is_caught(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    let stray = s.snapshot_file(&m, &format!("{}/stray-wal", s.id()));
    // A server that keeps keys as paths needs the folder.
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::write(&stray, b"x").unwrap();
    let problems = s.problems(&m);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("stray-wal") && p.contains("not listed")),
        "{problems:?}"
    );
}

/// Restore onto a host where the live store does not exist yet (disaster recovery).
pub fn restore_onto_missing_target(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let original = fx.content(&s.live);
    let m = s.create();
    let fresh = s.tmp.path().join("new-host").join("data");
    let target = fresh.join(s.live.file_name().unwrap());
    let report = s
        .restore(
            &m,
            Targets::Live(BTreeMap::from([(s.id(), target.clone())])),
            true,
            true,
        )
        .unwrap();
    assert_eq!(report.pre_restore_snapshot, None, "nothing live existed");
    assert!(report.verified());
    assert_eq!(fx.content(&target), original);
}

/// `--to`: restores beside, leaves the live store alone, refuses to overwrite.
pub fn restore_into_folder(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let original = fx.content(&s.live);
    let m = s.create();
    fx.mutate(&s.live);
    let live_before = tree_bytes(s.live.parent().unwrap());
    let into = s.tmp.path().join("elsewhere");
    let report = s
        .restore(&m, Targets::Into(into.clone()), false, true)
        .unwrap();
    assert!(report.verified());
    assert_eq!(report.pre_restore_snapshot, None);
    assert_eq!(
        fx.content(&into.join(s.live.file_name().unwrap())),
        original
    );
    assert_eq!(tree_bytes(s.live.parent().unwrap()), live_before);
    let again = tree_bytes(&into);
    let err = s
        .restore(&m, Targets::Into(into.clone()), false, true)
        .unwrap_err();
    assert!(matches!(err, Error::TargetExists { .. }), "{err}");
    assert_eq!(tree_bytes(&into), again);
}

/// Owner, group, permission bits, and the bytes of a file (None for a folder).
pub type Meta = (u32, u32, u32, Option<Vec<u8>>);

/// Every file and folder of the store at `live` (the store itself included), with owner,
/// group and permission bits, and the bytes of files.
pub fn tree_meta(live: &Path) -> BTreeMap<PathBuf, Meta> {
    tree_state(live)
        .into_iter()
        .map(|(p, (uid, gid, mode, _, _, bytes))| (p, (uid, gid, mode & 0o7777, bytes)))
        .collect()
}

/// Give every file of the store mode 0640 and every folder 0750 (and, as root, owner 65534
/// and group 1), as a service's data would have.
fn make_service_owned(live: &Path) {
    let root = rustix::process::geteuid().is_root();
    for (p, (_, _, _, bytes)) in tree_meta(live) {
        let mode = if bytes.is_some() { 0o640 } else { 0o750 };
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        if root {
            std::os::unix::fs::chown(&p, Some(65534), Some(1)).unwrap();
        }
    }
}

/// The owner, group and mode of every restored file and folder are those of what it replaced;
/// the pre-restore snapshot and the restore --to of it keep them too. (As root, the store
/// belongs to another user; otherwise only modes can differ from the defaults.)
pub fn owners_and_modes_survive_restore(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    make_service_owned(&s.live);
    let parent = s.live.parent().unwrap();
    fs::set_permissions(parent, fs::Permissions::from_mode(0o750)).unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(parent, Some(65534), Some(1)).unwrap();
    }
    let before: BTreeMap<_, _> = tree_meta(&s.live)
        .into_iter()
        .map(|(p, (u, g, m, _))| (p, (u, g, m)))
        .collect();
    let m = s.create();
    let rec = m.component(&s.id()).unwrap();
    assert!(
        rec.files.iter().all(|f| f.owner.is_some()),
        "every file records its owner: {:?}",
        rec.files
    );
    fx.mutate(&s.live);
    make_service_owned(&s.live);
    let report = s.restore(&m, s.live_targets(), true, true).unwrap();
    assert!(report.verified(), "{:?}", report.components);
    let after = tree_meta(&s.live);
    for (p, (u, g, mode, _)) in &after {
        if let Some(want) = before.get(p) {
            assert_eq!(&(*u, *g, *mode), want, "{} after restore", p.display());
        }
    }
    // Onto an empty host: the recorded owners and modes.
    let fresh = s.tmp.path().join("empty-host").join("data");
    let target = fresh.join(s.live.file_name().unwrap());
    s.restore(
        &m,
        Targets::Live(BTreeMap::from([(s.id(), target.clone())])),
        true,
        true,
    )
    .unwrap();
    let top = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    assert_eq!(
        top(&target),
        before[&s.live],
        "the store itself on an empty host"
    );
    assert_eq!(
        top(&fresh),
        top(parent),
        "the store's folder is created with its recorded owner and mode"
    );
}

/// While another process holds any of the component's `held_files` open, a live restore is
/// refused, even confirmed, and the live store stays byte for byte as it was.
pub fn gate_refuses_while_a_held_file_is_open(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let held: Vec<PathBuf> = s.known[0]
        .held_files(&s.live)
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(
        !held.is_empty(),
        "the component names files a service holds open"
    );
    let before = tree_bytes(s.live.parent().unwrap());
    for h in held {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<\"$1\"; echo ready; exec sleep 60")
            .arg("holder")
            .arg(&h)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn a holder");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
        let err = s.restore(&m, s.live_targets(), true, true).unwrap_err();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            matches!(err, Error::StoreInUse { .. }),
            "{} held open: {err}",
            h.display()
        );
        assert_eq!(tree_bytes(s.live.parent().unwrap()), before);
    }
}

/// A symlink planted at any name a run writes (the list comes from the orchestrator, which
/// asks the component for its side files) is never followed: the victim keeps its bytes and
/// the live store never becomes a symlink, whatever create and restore do.
pub fn planted_symlinks_are_never_followed(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let probe = Setup::on(storage, c, fx);
    let names: Vec<PathBuf> = {
        probe
            .with(|o| {
                o.places_written(&[Source {
                    id: probe.id(),
                    path: probe.live.clone(),
                }])
            })
            .unwrap()
    };
    let rel: Vec<PathBuf> = names
        .iter()
        .map(|n| n.strip_prefix(probe.tmp.path()).unwrap().to_path_buf())
        .collect();
    let s = probe;
    let m = s.create();
    fx.mutate(&s.live);
    for name in rel {
        let planted = s.tmp.path().join(&name);
        if planted.symlink_metadata().is_ok() || !planted.parent().unwrap().is_dir() {
            continue;
        }
        let victim = s.tmp.path().join("victim");
        fs::write(&victim, b"victim bytes").unwrap();
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let into = s.tmp.path().join("into");
        let _ = s.restore(&m, Targets::Into(into.clone()), false, false);
        let _ = s.restore(&m, s.live_targets(), true, true);
        let _ = s.restore(&m, s.live_targets(), true, false);
        let _ = s.with(|o| {
            o.create(
                &[Source {
                    id: s.id(),
                    path: s.live.clone(),
                }],
                Kind::Regular,
            )
        });
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"victim bytes",
            "a symlink at {} was followed",
            name.display()
        );
        assert!(
            !fs::symlink_metadata(&s.live)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the live store became a symlink (planted at {})",
            name.display()
        );
        let _ = fs::remove_file(&planted);
        let _ = fs::remove_dir_all(&into);
    }
}

/// Owner, group, mode, modification time (seconds, nanoseconds), and a file's bytes.
pub type State = (u32, u32, u32, i64, i64, Option<Vec<u8>>);

/// Everything about a tree that a write would change: per path, owner, group, mode,
/// modification time, and a file's bytes. A folder's modification time changes when anything
/// is created, renamed or removed in it, even if it is gone again.
pub fn tree_state(dir: &Path) -> BTreeMap<PathBuf, State> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = fs::symlink_metadata(&p).expect("stat");
        let bytes = if m.is_dir() {
            for e in fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("entry").path());
            }
            None
        } else {
            Some(fs::read(&p).expect("read"))
        };
        out.insert(
            p,
            (m.uid(), m.gid(), m.mode(), m.mtime(), m.mtime_nsec(), bytes),
        );
    }
    out
}

/// Validate writes nothing anywhere: the snapshot and the live store are byte- and
/// metadata-identical before and after (a valid snapshot and a damaged one alike).
pub fn validate_writes_nothing(c: Box<dyn Component>, fx: &dyn Fixture, storage: Storage) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    let snap = s.snapshot_dir(&m);
    let live_dir = s.live.parent().unwrap().to_path_buf();
    for damaged in [false, true] {
        if damaged {
            let f = &m.component(&s.id()).unwrap().files[0];
            if let Some((p, at, len)) = s.stored_places(&m, &f.path).into_iter().next() {
                if len > 0 {
                    flip_byte(&p, at);
                }
            }
        }
        // Let a clock tick pass, so that a write would show in a modification time.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (snap_before, live_before) = (tree_state(&snap), tree_state(&live_dir));
        let _ = s.problems(&m);
        assert_eq!(
            tree_state(&snap),
            snap_before,
            "validate wrote into the snapshot"
        );
        assert_eq!(
            tree_state(&live_dir),
            live_before,
            "validate wrote beside the live store"
        );
    }
}

/// A restore whose reading of the snapshot fails part-way (at several points) leaves the
/// live store byte-identical, nothing beside it, and no journal: the error means "not
/// switched".
pub fn a_restore_cut_short_leaves_the_target_as_it_was(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let live_dir = s.live.parent().unwrap().to_path_buf();
    let no_locks = |t: BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, Vec<u8>> {
        t.into_iter()
            .filter(|(p, _)| !p.to_string_lossy().ends_with(".atocore-backup.lock"))
            .collect()
    };
    let names = |d: &Path| -> BTreeSet<PathBuf> {
        fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().ends_with(".lock"))
            .collect()
    };
    let before = no_locks(tree_bytes(&live_dir));
    let names_before = names(&live_dir);
    let total: u64 = m
        .component(&s.id())
        .unwrap()
        .files
        .iter()
        .map(|f| f.size)
        .sum();
    for budget in [0, 1, total / 3, total / 2, total.saturating_sub(1)] {
        fail_snapshot_reads_after(Some(budget));
        let r = s.restore(&m, s.live_targets(), true, false);
        fail_snapshot_reads_after(None);
        assert!(
            r.is_err(),
            "reads cut after {budget} of {total} bytes, yet it restored"
        );
        assert_eq!(
            no_locks(tree_bytes(&live_dir)),
            before,
            "reads cut after {budget} bytes: the live store changed"
        );
        assert_eq!(
            names(&live_dir),
            names_before,
            "a leftover beside the store"
        );
        assert!(
            !s.state_dir().join(crate::JOURNAL_NAME).exists(),
            "a journal stayed though nothing was switched"
        );
    }
}

/// A process watching the live path while a restore runs never finds it missing, never finds
/// a file where a folder was (or the reverse), and for a folder store always sees either the
/// old or the new set of names at its top.
pub fn a_poller_never_sees_the_target_missing_or_partial(
    c: Box<dyn Component>,
    fx: &dyn Fixture,
    storage: Storage,
) {
    let s = Setup::on(storage, c, fx);
    let m = s.create();
    // What a process that opens the path now finds there. A folder listed through a handle
    // opened just before the switch is the old one, which the restore then empties and
    // removes: such a read is a look at the old folder, not at the path, so it is taken again.
    let top = |p: &Path| -> Option<(bool, BTreeSet<std::ffi::OsString>)> {
        use std::os::unix::fs::MetadataExt;
        for _ in 0..1000 {
            let meta = fs::symlink_metadata(p).ok()?;
            if !meta.is_dir() {
                return Some((false, BTreeSet::new()));
            }
            let names: Option<BTreeSet<_>> = fs::read_dir(p).ok().and_then(|d| {
                d.map(|e| e.map(|e| e.file_name()))
                    .collect::<std::io::Result<_>>()
                    .ok()
            });
            let after = fs::symlink_metadata(p).ok()?;
            match names {
                Some(n) if (after.dev(), after.ino()) == (meta.dev(), meta.ino()) => {
                    return Some((true, n))
                }
                _ => continue,
            }
        }
        None
    };
    let snap_top = {
        let into = s.tmp.path().join("expected");
        s.restore(&m, Targets::Into(into.clone()), false, false)
            .expect("restore --to");
        top(&into.join(s.live.file_name().unwrap())).unwrap()
    };
    for round in 0..3 {
        fx.mutate(&s.live);
        let old_top = top(&s.live).expect("the live store exists");
        let stop = Arc::new(AtomicBool::new(false));
        let live = s.live.clone();
        let (stop2, old2, new2) = (stop.clone(), old_top.clone(), snap_top.clone());
        let poller = std::thread::spawn(move || {
            let mut seen = 0u64;
            while !stop2.load(Ordering::SeqCst) {
                let now = top(&live);
                match now {
                    None => return Err(format!("missing after {seen} looks")),
                    Some(t) if t != old2 && t != new2 => {
                        return Err(format!("neither old nor new: {t:?}"))
                    }
                    Some(_) => seen += 1,
                }
            }
            Ok(seen)
        });
        let r = s.restore(&m, s.live_targets(), true, round == 0);
        stop.store(true, Ordering::SeqCst);
        let seen = poller.join().unwrap();
        r.expect("restore");
        match seen {
            Ok(n) => assert!(n > 0, "the poller looked"),
            Err(e) => panic!("round {round}: a poller saw the live store {e}"),
        }
    }
}

/// Run every check above as its own `#[test]`, over every store (`conformance::folder::*`,
/// `conformance::objects::*` and `conformance::repository::*`):
/// `backup_core::conformance_tests!(MyComponent::new(), MyFixture);`
#[macro_export]
macro_rules! conformance_tests {
    ($component:expr, $fixture:expr, remote = $remote:path) => {
        $crate::conformance_tests!($component, $fixture);
        mod remote_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_checks!(
                $component,
                $fixture,
                $crate::conformance::Storage::Remote($remote)
            );
        }
    };
    ($component:expr, $fixture:expr) => {
        mod conformance {
            // Callers name their fixture as seen from here (`super::MyFixture`).
            #[allow(unused_imports)]
            use super::*;
            mod folder {
                #[allow(unused_imports)]
                use super::super::*;
                $crate::conformance_checks!(
                    $component,
                    $fixture,
                    $crate::conformance::Storage::Folder
                );
            }
            mod objects {
                #[allow(unused_imports)]
                use super::super::*;
                $crate::conformance_checks!(
                    $component,
                    $fixture,
                    $crate::conformance::Storage::Objects
                );
            }
            mod repository {
                #[allow(unused_imports)]
                use super::super::*;
                $crate::conformance_checks!(
                    $component,
                    $fixture,
                    $crate::conformance::Storage::Repository
                );
            }
            mod sealed {
                #[allow(unused_imports)]
                use super::super::*;
                $crate::conformance_checks!(
                    $component,
                    $fixture,
                    $crate::conformance::Storage::Sealed
                );
            }
        }
    };
}

/// The checks of [`conformance_tests!`](crate::conformance_tests) over one store.
#[doc(hidden)]
#[macro_export]
macro_rules! conformance_checks {
    ($component:expr, $fixture:expr, $storage:expr) => {
        #[test]
        fn snapshot_then_validate() {
            $crate::conformance::snapshot_then_validate(Box::new($component), &$fixture, $storage);
        }
        #[test]
        fn restore_round_trip() {
            $crate::conformance::restore_round_trip(Box::new($component), &$fixture, $storage);
        }
        #[test]
        fn restore_skips_pre_snapshot_when_asked() {
            $crate::conformance::restore_skips_pre_snapshot_when_asked(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn restore_refused_without_confirmation() {
            $crate::conformance::restore_refused_without_confirmation(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn damaged_files_are_caught() {
            $crate::conformance::damaged_files_are_caught(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn unlisted_file_is_caught() {
            $crate::conformance::unlisted_file_is_caught(Box::new($component), &$fixture, $storage);
        }
        #[test]
        fn restore_onto_missing_target() {
            $crate::conformance::restore_onto_missing_target(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn restore_into_folder() {
            $crate::conformance::restore_into_folder(Box::new($component), &$fixture, $storage);
        }
        #[test]
        fn owners_and_modes_survive_restore() {
            $crate::conformance::owners_and_modes_survive_restore(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn gate_refuses_while_a_held_file_is_open() {
            $crate::conformance::gate_refuses_while_a_held_file_is_open(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn planted_symlinks_are_never_followed() {
            $crate::conformance::planted_symlinks_are_never_followed(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn validate_writes_nothing() {
            $crate::conformance::validate_writes_nothing(Box::new($component), &$fixture, $storage);
        }
        #[test]
        fn a_restore_cut_short_leaves_the_target_as_it_was() {
            $crate::conformance::a_restore_cut_short_leaves_the_target_as_it_was(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
        #[test]
        fn a_poller_never_sees_the_target_missing_or_partial() {
            $crate::conformance::a_poller_never_sees_the_target_missing_or_partial(
                Box::new($component),
                &$fixture,
                $storage,
            );
        }
    };
}
