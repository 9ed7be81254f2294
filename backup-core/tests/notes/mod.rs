//! A tiny component (a folder of plain files) written only with core's helpers, and its
//! fixture: the conformance suite's own subject, and the base of the broken variants that
//! show the suite catches each broken contract.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use backup_core::conformance::Fixture;
use backup_core::{fsio, walk, Component, Dir, Facts, Problem, Result, SnapshotFiles, Staging};

pub struct NotesFolder;

impl Component for NotesFolder {
    fn id(&self) -> &'static str {
        "notes"
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        Ok(fsio::kind_of(live)?.is_some())
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        let dir = Dir::open_nofollow(live)?;
        let found = walk(&dir)?;
        for rel in found.files.keys() {
            out.copy_in_beneath(&dir, rel, rel)?;
        }
        out.record_folder_owners(&dir, "")?;
        Facts::of(&serde_json::json!({ "file_count": found.files.len() }))
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        let want = snap.facts().own["file_count"].as_u64().unwrap_or(0) as usize;
        Ok(if snap.files().len() == want {
            vec![]
        } else {
            vec![Problem::new("notes", "file count differs from the facts")]
        })
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let mut r = snap.replacement(target, "notes")?;
        let done = snap.replace_folder(&mut r, "");
        let warnings = r.finish();
        done?;
        Ok(Facts::warnings(warnings))
    }

    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        backup_core::files_below(target)
    }

    fn side_files(&self, _target: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
        Ok(snap
            .files()
            .iter()
            .filter_map(|f| {
                snap.compare_restored(f, &target.join(f.path.strip_prefix("notes/").unwrap()))
            })
            .collect())
    }
}

pub struct Notes;

fn files(live: &Path) -> Vec<(String, PathBuf)> {
    let d = Dir::open_nofollow(live).unwrap();
    walk(&d)
        .unwrap()
        .files
        .keys()
        .map(|r| (r.clone(), live.join(r)))
        .collect()
}

impl Fixture for Notes {
    fn make_live(&self, dir: &Path) -> PathBuf {
        let live = dir.join("notes");
        fs::create_dir_all(live.join("sub")).unwrap();
        fs::write(live.join("a.txt"), "alpha").unwrap();
        fs::write(live.join("sub/b.txt"), "beta".repeat(10_000)).unwrap();
        live
    }

    fn mutate(&self, live: &Path) {
        fs::write(live.join("a.txt"), "changed").unwrap();
        fs::write(live.join("c.txt"), "new").unwrap();
    }

    fn content(&self, live: &Path) -> String {
        files(live)
            .iter()
            .map(|(rel, p)| format!("{rel}={}\n", fs::read_to_string(p).unwrap()))
            .collect()
    }
}
