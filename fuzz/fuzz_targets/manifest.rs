//! Fuzzes the manifest parser and the validator: any bytes as `backup-metadata.json` of a
//! snapshot folder that holds one real file. Neither may panic, and nothing reported may name
//! a path outside the snapshot. Run: `cargo +nightly fuzz run manifest` (see
//! docs/reliability.md).
#![no_main]

use std::path::{Component, Path};

use backup_core::{FolderStore, Manifest, Orchestrator, Stamp, MANIFEST_NAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(data);
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snapshots/20260409T012345Z");
    std::fs::create_dir_all(snap.join("sqlite")).unwrap();
    std::fs::write(snap.join("sqlite/atocore.db"), b"not much").unwrap();
    std::fs::write(snap.join(MANIFEST_NAME), data).unwrap();
    let store = FolderStore::new(tmp.path());
    let known: Vec<Box<dyn backup_core::Component>> = Vec::new();
    let v = Orchestrator::new(&store, &known)
        .validate(&Stamp::parse("20260409T012345Z").unwrap())
        .unwrap();
    for p in &v.problems {
        let path = Path::new(&p.path);
        assert!(path.is_relative());
        assert!(path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)));
    }
});
