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
    for storage in [
        Storage::Folder,
        Storage::Objects,
        Storage::Repository,
        Storage::Sealed,
    ] {
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
            allow_schema_change: false,
            targets: s.live_targets(),
            confirm_service_stopped: true,
            pre_restore_snapshot: true,
            skip: Default::default(),
            protected: Vec::new(),
        };
        refused(o.restore(&stamp, &opts).map(drop), "restore");
        let into = RestoreOptions {
            allow_schema_change: false,
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

/// In the object store, a stamp whose manifest never arrived while its upload marker is
/// there (an upload cut short: the manifest is put last, the marker removed after) is a
/// leftover that cleanup removes; one without either lost its manifest: it is listed as
/// unreadable, so a drill fails on it, and cleanup never deletes it.
#[test]
fn an_upload_cut_short_is_a_leftover_and_a_lost_manifest_is_not() {
    let s = Setup::on(Storage::Objects, Box::new(NotesFolder), &Notes);
    let m = s.create();
    let objects = backup_core::LocalObjects::new(&s.backup_dir);
    objects
        .put("uploads/20200101T000000Z", &mut std::io::empty())
        .unwrap();
    objects
        .put("snapshots/20200101T000000Z/notes/a.txt", &mut &b"half"[..])
        .unwrap();
    objects
        .put("snapshots/20210101T000000Z/notes/a.txt", &mut &b"whole"[..])
        .unwrap();
    let (listed, leftovers) = s.with(|o| o.list()).unwrap();
    let stamps: Vec<&str> = listed.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        stamps,
        [m.stamp.as_str(), "20210101T000000Z"],
        "newest first"
    );
    assert!(listed[1].1.is_err(), "the lost one is unreadable");
    assert_eq!(leftovers.len(), 1, "the cut-short upload: {leftovers:?}");
    let newest = s.with(|o| o.newest_to_drill()).unwrap();
    assert_eq!(newest.as_str(), m.stamp, "the newest is the real one");
    let done = s.with(|o| o.cleanup(&[])).unwrap();
    assert_eq!(done.removed, leftovers);
    assert!(objects
        .list("snapshots/20200101T000000Z/")
        .unwrap()
        .is_empty());
    assert!(objects.list("uploads/").unwrap().is_empty());
    assert_eq!(
        objects.list("snapshots/20210101T000000Z/").unwrap().len(),
        1,
        "what lost its manifest is kept"
    );
    assert_eq!(
        s.problems(&m),
        Vec::<String>::new(),
        "the snapshot is untouched"
    );
    // A put never replaces: the reservation of a stamp rests on it.
    objects
        .put("uploads/20200101T000000Z", &mut std::io::empty())
        .unwrap();
    let twice = objects.put("uploads/20200101T000000Z", &mut std::io::empty());
    assert!(matches!(
        twice,
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::AlreadyExists
    ));
}
