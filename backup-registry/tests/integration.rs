//! RegistryComponent against real files: the conformance suite, then registry specifics.

use std::fs;
use std::path::{Path, PathBuf};

use backup_core::conformance::{Fixture, Setup};
use backup_core::{FolderStore, Kind, Orchestrator, Source};
use backup_registry::RegistryComponent;

struct Registry;

impl Fixture for Registry {
    fn make_live(&self, dir: &Path) -> PathBuf {
        let p = dir.join("project-registry.json");
        fs::write(
            &p,
            r#"{"projects": [{"id": "p1", "name": "Alpha", "aliases": ["a"]}, {"id": "p2", "name": "Beta"}]}"#,
        )
        .unwrap();
        p
    }

    fn mutate(&self, live: &Path) {
        fs::write(live, r#"{"projects": [{"id": "p3", "name": "MUTATION"}]}"#).unwrap();
    }

    fn content(&self, live: &Path) -> String {
        fs::read_to_string(live).unwrap()
    }
}

backup_core::conformance_tests!(
    backup_registry::RegistryComponent,
    super::Registry,
    remote = atocore_backup_tests::s3::remote
);

#[test]
fn missing_registry_is_recorded_absent_and_restore_leaves_live_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("project-registry.json");
    let known: Vec<Box<dyn backup_core::Component>> = vec![Box::new(RegistryComponent)];
    let store = FolderStore::new(tmp.path().join("b"));
    let o = Orchestrator::new(&store, &known);
    let m = o
        .create(
            &[Source {
                id: "registry".into(),
                path: live.clone(),
            }],
            Kind::Regular,
        )
        .unwrap();
    let rec = m.component("registry").unwrap();
    assert!(!rec.present && rec.files.is_empty());
    assert_eq!(m.sources["registry"].to_path().unwrap(), live);
    // A registry created later survives a restore of a snapshot that had none.
    fs::write(&live, b"{\"projects\": []}").unwrap();
    let report = o
        .restore(
            &backup_core::Stamp::parse(&m.stamp).unwrap(),
            &backup_core::RestoreOptions {
                allow_schema_change: false,
                targets: backup_core::Targets::Live(Default::default()),
                confirm_service_stopped: true,
                pre_restore_snapshot: true,
                skip: Default::default(),
                protected: Vec::new(),
            },
        )
        .unwrap();
    assert!(!report.component("registry").unwrap().restored);
    assert_eq!(report.pre_restore_snapshot, None);
    assert_eq!(fs::read(&live).unwrap(), b"{\"projects\": []}");
}

#[test]
fn broken_json_is_refused_by_create_and_caught_by_validate() {
    let s = Setup::new(Box::new(RegistryComponent), &Registry);
    fs::write(&s.live, b"{\"projects\": [").unwrap();
    let store = FolderStore::new(&s.backup_dir);
    let o = Orchestrator::new(&store, &s.known);
    let src = [Source {
        id: "registry".into(),
        path: s.live.clone(),
    }];
    let err = o.create(&src, Kind::Regular).unwrap_err().to_string();
    assert!(
        err.contains("project-registry.json") && err.contains("not valid JSON"),
        "{err}"
    );
    // A pre-restore snapshot keeps the broken file as it was, and says so.
    let m = o.create(&src, Kind::PreRestore).unwrap();
    assert_eq!(
        m.component("registry").unwrap().facts.own["json_valid"],
        false
    );
    assert_eq!(s.problems(&m), Vec::<String>::new());
    // A regular snapshot whose file is replaced by non-JSON (checksum fixed up) is caught
    // by the JSON check, not only the checksum.
    fs::write(&s.live, b"{}").unwrap();
    let mut m = s.create();
    let dir = s.snapshot_dir(&m);
    let f = dir.join(&m.components[0].files[0].path);
    fs::write(&f, b"{]").unwrap();
    let d = backup_core::fsio::hash_file(&f).unwrap();
    m.components[0].files[0].size = d.size;
    m.components[0].files[0].sha256 = d.sha256;
    fs::write(dir.join(backup_core::MANIFEST_NAME), m.to_json()).unwrap();
    let problems = s.problems(&m);
    assert!(
        problems.iter().any(|p| p.contains("not valid JSON")),
        "{problems:?}"
    );
}
