//! The conformance suite: the checks every [`Component`] must pass, run through the real
//! [`Orchestrator`] and [`FolderStore`] against real files. Each component crate runs the whole
//! list with [`conformance_tests!`](crate::conformance_tests) plus its own specific tests.
//!
//! Panics are the point here: this module is test support.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{
    Component, Error, FolderStore, Kind, Manifest, Orchestrator, RestoreOptions, Source, Stamp,
    Targets, MANIFEST_NAME,
};

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
}

impl Setup {
    /// A fresh live store made by `fixture`.
    pub fn new(component: Box<dyn Component>, fixture: &dyn Fixture) -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let live_dir = tmp.path().join("live");
        fs::create_dir(&live_dir).expect("mkdir live");
        let live = fixture.make_live(&live_dir);
        Setup {
            backup_dir: tmp.path().join("backups"),
            tmp,
            live,
            known: vec![component],
        }
    }

    /// The component id.
    pub fn id(&self) -> String {
        self.known[0].id().to_owned()
    }

    /// Take a regular snapshot of the live store.
    pub fn create(&self) -> Manifest {
        let store = FolderStore::new(&self.backup_dir);
        Orchestrator::new(&store, &self.known)
            .create(
                &[Source {
                    id: self.id(),
                    path: self.live.clone(),
                }],
                Kind::Regular,
            )
            .expect("create")
    }

    /// The snapshot folder of `m`.
    pub fn snapshot_dir(&self, m: &Manifest) -> PathBuf {
        self.backup_dir.join("snapshots").join(&m.stamp)
    }

    /// Validate `m`'s snapshot and return the problems as text.
    pub fn problems(&self, m: &Manifest) -> Vec<String> {
        let store = FolderStore::new(&self.backup_dir);
        Orchestrator::new(&store, &self.known)
            .validate(&Stamp::parse(&m.stamp).unwrap())
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
        let store = FolderStore::new(&self.backup_dir);
        Orchestrator::new(&store, &self.known).restore(
            &Stamp::parse(&m.stamp).unwrap(),
            &RestoreOptions {
                targets,
                confirm_service_stopped: confirm,
                pre_restore_snapshot: pre,
                skip: Default::default(),
            },
        )
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
pub fn snapshot_then_validate(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
    let m = s.create();
    assert_eq!(m.kind, Kind::Regular);
    let rec = m.component(&s.id()).expect("record");
    assert!(rec.present && !rec.files.is_empty());
    assert_eq!(s.problems(&m), Vec::<String>::new());
    let dir = s.snapshot_dir(&m);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(MANIFEST_NAME)), 0o600);
    for f in &rec.files {
        assert_eq!(mode(&dir.join(&f.path)), 0o600, "{}", f.path);
    }
    assert_eq!(
        Manifest::read(&dir.join(MANIFEST_NAME)).unwrap(),
        m,
        "the manifest on disk is the one returned"
    );
}

/// Snapshot, change the live store, restore: the change is gone, and the pre-restore snapshot
/// holds it.
pub fn restore_round_trip(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
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
    let store = FolderStore::new(&s.backup_dir);
    let pre_m = Orchestrator::new(&store, &s.known)
        .validate(&Stamp::parse(&pre).unwrap())
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
pub fn restore_skips_pre_snapshot_when_asked(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let report = s.restore(&m, s.live_targets(), true, false).unwrap();
    assert_eq!(report.pre_restore_snapshot, None);
    let store = FolderStore::new(&s.backup_dir);
    let (list, _) = Orchestrator::new(&store, &s.known).list().unwrap();
    assert_eq!(list.len(), 1, "no second snapshot was made");
}

/// Without confirmation, a live restore is refused and the live bytes stay identical.
pub fn restore_refused_without_confirmation(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let before = tree_bytes(s.live.parent().unwrap());
    let err = s.restore(&m, s.live_targets(), false, true).unwrap_err();
    assert!(matches!(err, Error::NotConfirmed), "{err}");
    assert_eq!(tree_bytes(s.live.parent().unwrap()), before);
}

/// Flip a byte in every snapshot file in turn: validate names the file and restore refuses
/// with the live store byte-identical. Truncating and deleting are caught too.
pub fn damaged_files_are_caught(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
    let m = s.create();
    fx.mutate(&s.live);
    let live_before = tree_bytes(s.live.parent().unwrap());
    let dir = s.snapshot_dir(&m);
    let files = &m.component(&s.id()).unwrap().files;
    for f in files {
        let p = &dir.join(&f.path);
        let original = fs::read(p).unwrap();
        let mut damage: Vec<(&str, Harm<'_>)> =
            vec![("deleted", Box::new(|| fs::remove_file(p).unwrap()))];
        // An empty file can be neither truncated nor flipped.
        if !original.is_empty() {
            damage.push((
                "truncated",
                Box::new(|| fs::write(p, &original[..original.len() / 2]).unwrap()),
            ));
            for offset in [0, original.len() as u64 / 2, original.len() as u64 - 1] {
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
pub fn unlisted_file_is_caught(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
    let m = s.create();
    let stray = s.snapshot_dir(&m).join(s.id()).join("stray-wal");
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
pub fn restore_onto_missing_target(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
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
pub fn restore_into_folder(c: Box<dyn Component>, fx: &dyn Fixture) {
    let s = Setup::new(c, fx);
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

/// Run every check above as its own `#[test]`:
/// `backup_core::conformance_tests!(MyComponent::new(), MyFixture);`
#[macro_export]
macro_rules! conformance_tests {
    ($component:expr, $fixture:expr) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance as c;
            #[test]
            fn snapshot_then_validate() {
                c::snapshot_then_validate(Box::new($component), &$fixture);
            }
            #[test]
            fn restore_round_trip() {
                c::restore_round_trip(Box::new($component), &$fixture);
            }
            #[test]
            fn restore_skips_pre_snapshot_when_asked() {
                c::restore_skips_pre_snapshot_when_asked(Box::new($component), &$fixture);
            }
            #[test]
            fn restore_refused_without_confirmation() {
                c::restore_refused_without_confirmation(Box::new($component), &$fixture);
            }
            #[test]
            fn damaged_files_are_caught() {
                c::damaged_files_are_caught(Box::new($component), &$fixture);
            }
            #[test]
            fn unlisted_file_is_caught() {
                c::unlisted_file_is_caught(Box::new($component), &$fixture);
            }
            #[test]
            fn restore_onto_missing_target() {
                c::restore_onto_missing_target(Box::new($component), &$fixture);
            }
            #[test]
            fn restore_into_folder() {
                c::restore_into_folder(Box::new($component), &$fixture);
            }
        }
    };
}
