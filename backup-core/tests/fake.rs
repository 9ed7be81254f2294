//! A tiny fake component (a folder of plain files, `notes/mod.rs`) that lives only in these
//! tests. It runs the whole conformance suite through the real orchestrator, which proves a
//! new component needs no change to core: it implements the trait with core's helpers and
//! nothing else.

mod notes;

use notes::{Notes, NotesFolder};

backup_core::conformance_tests!(NotesFolder, Notes);

use std::time::Duration;

use backup_core::conformance::{Setup, Storage};
use backup_core::lock::OperationLocks;
use backup_core::{Error, Kind, ObjectStore, RestoreOptions, Source, Stamp, Targets};

/// A library caller is guarded like the command line: while another holder has the state
/// folder's lock, create, restore, drill and cleanup all refuse, naming it, over both stores.
#[test]
fn the_orchestrator_takes_the_state_folders_lock_itself() {
    for storage in [Storage::Folder, Storage::Objects] {
        let s = Setup::on(storage, Box::new(NotesFolder), &Notes);
        let m = s.create();
        let stamp = Stamp::parse(&m.stamp).unwrap();
        let held =
            OperationLocks::acquire(Some(&s.state_dir()), &[], "a test", Duration::ZERO).unwrap();
        let refused = |r: backup_core::Result<()>, what: &str| match r {
            Err(Error::LockHeld { holder, .. }) => assert!(holder.contains("a test"), "{what}"),
            other => panic!("{storage:?} {what}: {other:?}"),
        };
        let store = s.store();
        let o = backup_core::Orchestrator::new(store.as_ref(), &s.known)
            .with_state_dir(s.state_dir())
            .with_lock_timeout(Duration::ZERO);
        let source = [Source {
            id: s.id(),
            path: s.live.clone(),
        }];
        refused(o.create(&source, Kind::Regular).map(drop), "create");
        let opts = RestoreOptions {
            targets: s.live_targets(),
            confirm_service_stopped: true,
            pre_restore_snapshot: true,
            skip: Default::default(),
            protected: Vec::new(),
        };
        refused(o.restore(&stamp, &opts).map(drop), "restore");
        let into = RestoreOptions {
            targets: Targets::Into(s.tmp.path().join("into")),
            ..opts
        };
        refused(o.restore(&stamp, &into).map(drop), "restore --to");
        refused(o.drill(&stamp, &s.state_dir()).map(drop), "drill");
        refused(o.cleanup(&[]).map(drop), "cleanup");
        drop(held);
        o.restore(&stamp, &into).expect("free again");
    }
}

/// In the object store, a stamp whose manifest never arrived (an upload cut short: the
/// manifest is put last) is a leftover, never a snapshot, and cleanup removes its objects.
#[test]
fn an_upload_cut_short_is_a_leftover_that_cleanup_removes() {
    let s = Setup::on(Storage::Objects, Box::new(NotesFolder), &Notes);
    let m = s.create();
    let objects = backup_core::LocalObjects::new(&s.backup_dir);
    objects
        .put("snapshots/20200101T000000Z/notes/a.txt", &mut &b"half"[..])
        .unwrap();
    let (listed, leftovers) = s.with(|o| o.list()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.as_str(), m.stamp);
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    let done = s.with(|o| o.cleanup(&[])).unwrap();
    assert_eq!(done.removed, leftovers);
    assert!(objects
        .list("snapshots/20200101T000000Z/")
        .unwrap()
        .is_empty());
    assert_eq!(
        s.problems(&m),
        Vec::<String>::new(),
        "the snapshot is untouched"
    );
}
