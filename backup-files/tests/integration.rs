//! FilesComponent against real folders: the conformance suite, then what is specific to a
//! plain folder (empty folders, what is not captured, a restore that leaves no stray file).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use backup_core::conformance::{Fixture, Setup};
use backup_core::Targets;
use backup_files::{FilesComponent, FilesFacts};

struct Deploy;

/// Every regular file below `dir`, with its bytes, by relative path; folders end in `/`.
fn tree(dir: &Path) -> String {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let t = e.file_type().unwrap();
            if t.is_dir() {
                out.push(format!("{}/", r.display()));
                stack.push(r);
            } else if t.is_file() {
                let bytes = fs::read(dir.join(&r)).unwrap();
                out.push(format!(
                    "{} {}",
                    r.display(),
                    String::from_utf8_lossy(&bytes)
                ));
            } else {
                out.push(format!("{} (other)", r.display()));
            }
        }
    }
    out.sort();
    out.join("\n")
}

impl Fixture for Deploy {
    fn make_live(&self, dir: &Path) -> PathBuf {
        let p = dir.join("deploy");
        fs::create_dir_all(p.join("env/prod")).unwrap();
        fs::create_dir_all(p.join("empty-on-purpose")).unwrap();
        fs::write(p.join("service.toml"), "port = 8100\n").unwrap();
        fs::write(p.join("env/prod/secrets.env"), "TOKEN=abc\n").unwrap();
        fs::write(p.join("env/common.env"), "LOG=info\n").unwrap();
        p
    }

    fn mutate(&self, live: &Path) {
        fs::write(live.join("service.toml"), "port = 9999\n").unwrap();
        fs::write(live.join("added-later.txt"), "new\n").unwrap();
        fs::remove_file(live.join("env/common.env")).unwrap();
    }

    fn content(&self, live: &Path) -> String {
        tree(live)
    }
}

backup_core::conformance_tests!(
    backup_files::FilesComponent,
    super::Deploy,
    remote = atocore_backup_tests::s3::remote
);

fn setup() -> Setup {
    Setup::new(Box::new(FilesComponent), &Deploy)
}

#[test]
fn empty_folders_and_nested_files_come_back_and_nothing_else_stays() {
    let s = setup();
    let before = tree(&s.live);
    let m = s.create();
    let facts: FilesFacts = m.component("files").unwrap().facts.get().unwrap();
    assert_eq!((facts.file_count, facts.folder_count), (3, 3));
    Deploy.mutate(&s.live);
    assert_ne!(tree(&s.live), before);
    let report = s.restore(&m, s.live_targets(), true, true).unwrap();
    assert!(report.verified(), "{:?}", report.components);
    assert_eq!(
        tree(&s.live),
        before,
        "added-later.txt gone, common.env back"
    );
    assert!(s.live.join("empty-on-purpose").is_dir());
}

#[test]
fn links_and_names_a_manifest_cannot_hold_are_not_captured_and_the_capture_says_so() {
    let s = setup();
    symlink("/etc/passwd", s.live.join("current")).unwrap();
    // A systemd-escaped unit name: a manifest path cannot hold a backslash.
    fs::write(s.live.join(r"dev-disk-by\x2duuid.mount"), "[Mount]\n").unwrap();
    let m = s.create();
    assert_eq!(
        s.problems(&m),
        Vec::<String>::new(),
        "the snapshot reads back"
    );
    let rec = m.component("files").unwrap();
    let facts: FilesFacts = rec.facts.get().unwrap();
    assert_eq!(
        facts.skipped,
        vec![
            "current".to_owned(),
            r"dev-disk-by\x2duuid.mount".to_owned()
        ]
    );
    assert!(
        rec.facts
            .warnings
            .iter()
            .any(|w| w.contains("are not captured")),
        "{:?}",
        rec.facts.warnings
    );
    assert!(rec.files.iter().all(|f| !f.path.contains("current")));
    let report = s.restore(&m, s.live_targets(), true, true).unwrap();
    let restored = &report.component("files").unwrap().facts.warnings;
    assert!(
        restored.iter().any(|w| w.contains("were not kept")),
        "{restored:?}"
    );
    assert!(fs::symlink_metadata(s.live.join("current")).is_err());
}

#[test]
fn a_file_planted_in_the_snapshot_or_a_lying_count_is_caught() {
    let s = setup();
    let m = s.create();
    let snap = s.snapshot_dir(&m);
    let manifest_path = snap.join(backup_core::MANIFEST_NAME);
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    v["components"][0]["facts"]["file_count"] = 2.into();
    let mut perms = fs::metadata(&manifest_path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    fs::set_permissions(&manifest_path, perms).unwrap();
    fs::write(&manifest_path, serde_json::to_vec(&v).unwrap()).unwrap();
    let problems = s.problems(&m);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("the capture recorded 2")),
        "{problems:?}"
    );
    let err = s
        .restore(&m, Targets::Into(s.tmp.path().join("out")), false, false)
        .unwrap_err();
    assert!(
        matches!(err, backup_core::Error::InvalidSnapshot { .. }),
        "{err}"
    );
    assert!(!s.tmp.path().join("out/deploy").exists());
}
