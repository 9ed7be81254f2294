//! The conformance suite is itself tested: components that break one rule of the contract
//! each, built on the good `notes` component, must fail the check for that rule (and the
//! good one must pass it, in fake.rs).

mod notes;

use std::ffi::OsStr;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use backup_core::conformance as c;
use backup_core::{Component, Facts, Problem, Result, SnapshotFiles, Staging};
use notes::{Notes, NotesFolder};

/// Delegates everything to the good component; each broken variant overrides one thing.
macro_rules! delegate {
    () => {
        fn id(&self) -> &'static str {
            NotesFolder.id()
        }
        fn exists(&self, live: &Path) -> Result<bool> {
            NotesFolder.exists(live)
        }
        fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
            NotesFolder.snapshot(live, out)
        }
        fn side_files(&self, target: &Path) -> Vec<PathBuf> {
            NotesFolder.side_files(target)
        }
        fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
            NotesFolder.verify(snap, target)
        }
    };
}

/// Writes (and removes) a scratch file in the live store while validating a snapshot of it.
struct WritesWhileValidating;
impl Component for WritesWhileValidating {
    delegate!();
    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        let scratch = snap.source().unwrap().join("scratch");
        let _ = fs::write(&scratch, b"x");
        let _ = fs::remove_file(&scratch);
        NotesFolder.validate(snap)
    }
    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        NotesFolder.restore(snap, target)
    }
    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        NotesFolder.held_files(target)
    }
}

/// Removes the live folder first, then builds the new one in its place.
struct DeletesFirst;
impl Component for DeletesFirst {
    delegate!();
    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        NotesFolder.validate(snap)
    }
    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let _ = fs::remove_dir_all(target);
        std::thread::sleep(std::time::Duration::from_millis(50));
        for f in snap.files() {
            let rel = f.path.strip_prefix("notes/").unwrap();
            let dst = target.join(rel);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            let mut src = snap.open(f)?;
            let mut out = fs::File::create(&dst).unwrap();
            std::io::copy(&mut src, &mut out)
                .map_err(|e| backup_core::Error::io("copy", &dst, e))?;
        }
        Ok(Facts::default())
    }
    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        NotesFolder.held_files(target)
    }
}

/// Copies straight over the live files, so a copy that fails half-way leaves them half new.
struct CopiesInPlace;
impl Component for CopiesInPlace {
    delegate!();
    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        NotesFolder.validate(snap)
    }
    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let dir = backup_core::Dir::open(target)?;
        for f in snap.files() {
            let rel = f.path.strip_prefix("notes/").unwrap();
            if rel.contains('/') {
                continue;
            }
            let _ = dir.remove_file(OsStr::new(rel));
            snap.copy_out(f, &dir, OsStr::new(rel), None)?;
        }
        Ok(Facts::default())
    }
    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        NotesFolder.held_files(target)
    }
}

/// Says a service holds the folder itself open: the old trap default, which no process
/// matches, so the gate sees nothing.
struct HoldsTheFolderOnly;
impl Component for HoldsTheFolderOnly {
    delegate!();
    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        NotesFolder.validate(snap)
    }
    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        NotesFolder.restore(snap, target)
    }
    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        vec![target.to_path_buf()]
    }
}

type Check = fn(Box<dyn Component>, &dyn c::Fixture, c::Storage);

/// Whether `check` fails the component, on every store alike.
fn fails(check: Check, component: impl Fn() -> Box<dyn Component>) -> bool {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let on =
        |storage| catch_unwind(AssertUnwindSafe(|| check(component(), &Notes, storage))).is_err();
    let (folder, objects, repository) = (
        on(c::Storage::Folder),
        on(c::Storage::Objects),
        on(c::Storage::Repository),
    );
    std::panic::set_hook(prev);
    assert_eq!(
        (folder, folder),
        (objects, repository),
        "the check judged the component differently over the stores"
    );
    folder
}

#[test]
fn the_suite_catches_a_validate_that_writes() {
    assert!(fails(c::validate_writes_nothing, || Box::new(
        WritesWhileValidating
    )));
    assert!(!fails(c::validate_writes_nothing, || Box::new(NotesFolder)));
}

#[test]
fn the_suite_catches_a_restore_that_leaves_the_target_missing() {
    assert!(fails(
        c::a_poller_never_sees_the_target_missing_or_partial,
        || Box::new(DeletesFirst)
    ));
}

#[test]
fn the_suite_catches_a_restore_that_writes_in_place() {
    assert!(fails(
        c::a_restore_cut_short_leaves_the_target_as_it_was,
        || Box::new(CopiesInPlace)
    ));
}

#[test]
fn the_suite_catches_a_gate_that_watches_nothing() {
    assert!(fails(c::gate_refuses_while_a_held_file_is_open, || {
        Box::new(HoldsTheFolderOnly)
    }));
}
