//! A tiny fake component (a folder of plain files) that lives only in this test. It runs the
//! whole conformance suite through the real orchestrator, which proves a new component needs
//! no change to core: it implements the trait and nothing else.

use std::fs;
use std::path::{Path, PathBuf};

use backup_core::conformance::Fixture;
use backup_core::{fsio, Component, Error, Facts, Problem, Result, SnapshotFiles, Staging};

struct NotesFolder;

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            out.push((rel, p));
        }
    }
}

impl Component for NotesFolder {
    fn id(&self) -> &'static str {
        "notes"
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        Ok(live.is_dir())
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        let mut files = Vec::new();
        walk(live, live, &mut files);
        for (rel, p) in &files {
            out.copy_in(p, rel)?;
        }
        let mut facts = Facts::new();
        facts.insert("file_count".into(), files.len().into());
        Ok(facts)
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        let want = snap.facts()["file_count"].as_u64().unwrap_or(0) as usize;
        Ok(if snap.files().len() == want {
            vec![]
        } else {
            vec![Problem::new("notes", "file count differs from the facts")]
        })
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let new = fsio::sibling_temp(target, "restore")?;
        let old = fsio::sibling_temp(target, "old")?;
        let _ = fs::remove_dir_all(&new);
        for f in snap.files() {
            let rel = f.path.strip_prefix("notes/").unwrap();
            let dst = new.join(rel);
            fsio::create_private_dir_all(dst.parent().unwrap())?;
            snap.copy_out(f, &dst)?;
        }
        fsio::create_private_dir_all(&new)?;
        fsio::fsync_dir(&new)?;
        if target.exists() {
            fs::rename(target, &old).map_err(|e| Error::io("rename", target, e))?;
        }
        fsio::replace(&new, target)?;
        let _ = fs::remove_dir_all(&old);
        Ok(Facts::new())
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

struct Notes;

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
        let mut files = Vec::new();
        walk(live, live, &mut files);
        files
            .iter()
            .map(|(rel, p)| format!("{rel}={}\n", fs::read_to_string(p).unwrap()))
            .collect()
    }
}

backup_core::conformance_tests!(NotesFolder, Notes);
