//! The files component: one plain folder of regular files, such as the service's deploy
//! configuration. Optional: configured with `--files DIR` (`ATOCORE_FILES_PATH`).
//!
//! Snapshot: every regular file below the folder, read without following any link, copied
//! and hashed in one pass; the folder is walked before and after, and the copy is taken again
//! (up to a bound) when a file changed meanwhile. Symlinks, special files and names that are
//! not UTF-8 are not captured: each capture warns about them, and a restore, which replaces
//! the whole folder, says they were not kept.
//!
//! Validate: core checks every file's size and SHA-256; this component checks the file count
//! it recorded. Restore: core builds the folder beside the live one and exchanges the two in
//! one step. Verify: the restored folder holds exactly the snapshot's files, byte for byte.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use backup_core::{
    fsio, walk, Component, Configured, Descriptor, Dir, Error, Facts, Problem, Result, Setting,
    SnapshotFiles, Staging, Standing, Walked,
};
use serde::{Deserialize, Serialize};

/// Component id, folder name and manifest key.
pub const ID: &str = "files";

/// How many times a capture copies a folder that keeps changing before giving up.
const ATTEMPTS: u32 = 3;

/// How the component introduces itself to the command line.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ID,
    what: "the plain-file folder",
    path: Setting {
        flag: "files",
        env: "ATOCORE_FILES_PATH",
        value_name: "DIR",
        help: "A folder of plain files to capture with the store (the service's deploy \
               configuration).",
    },
    settings: &[],
    lists: &[],
    required: false,
    restored_key: "files_restored",
    build,
};

fn build(_: &Configured) -> Box<dyn Component> {
    Box::new(FilesComponent)
}

/// What can go wrong in this component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// The folder kept changing through every attempt.
    #[error(
        "{}: files kept changing during {attempts} copy attempts (first: {first}); stop \
         whatever writes there and try again",
        path.display()
    )]
    KeptChanging {
        /// The folder.
        path: PathBuf,
        /// How many attempts were made.
        attempts: u32,
        /// A file that changed on the last attempt.
        first: String,
    },
    /// Something about the folder is not as it must be.
    #[error("{}: {problem}", path.display())]
    Bad {
        /// The path concerned.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl From<FilesError> for Error {
    fn from(e: FilesError) -> Self {
        Error::component(ID, e)
    }
}

/// What a capture records in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilesFacts {
    /// How many regular files were captured.
    #[serde(default)]
    pub file_count: u64,
    /// How many folders below the top were captured.
    #[serde(default)]
    pub folder_count: u64,
    /// Entries not captured: symlinks, special files, names that are not UTF-8.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// Copy attempts it took.
    #[serde(default)]
    pub attempts: u32,
}

/// The files component.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilesComponent;

/// The first path whose size or modification time differs between two walks.
fn first_change(before: &Walked, after: &Walked) -> Option<String> {
    before
        .files
        .keys()
        .chain(after.files.keys())
        .find(|k| before.files.get(*k) != after.files.get(*k))
        .cloned()
        .or_else(|| (before.folders != after.folders).then(|| "a folder".to_owned()))
}

fn skipped_warning(live: &Path, skipped: &[String], what: &str) -> Option<String> {
    (!skipped.is_empty()).then(|| {
        format!(
            "{}: {} entries {what} (symlinks, special files, names that are not UTF-8; \
             first: {})",
            live.display(),
            skipped.len(),
            skipped[0]
        )
    })
}

impl Component for FilesComponent {
    fn id(&self) -> &'static str {
        ID
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        match fsio::plain_kind(live)? {
            None => Ok(false),
            Some(fsio::FileType::Directory) => Ok(true),
            Some(_) => Err(FilesError::Bad {
                path: live.to_path_buf(),
                problem: "is a file, not a folder of files".into(),
            }
            .into()),
        }
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        let dir = Dir::open_nofollow(live)?;
        let mut first = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                out.reset()?;
                std::thread::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)));
            }
            let before = walk(&dir)?;
            let mut vanished = None;
            for rel in before.files.keys() {
                match out.copy_in_beneath(&dir, rel, rel) {
                    Ok(_) => {}
                    Err(Error::Io { cause, .. })
                        if cause.kind() == std::io::ErrorKind::NotFound =>
                    {
                        vanished = Some(rel.clone());
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let after = walk(&dir)?;
            if let Some(changed) = vanished.or_else(|| first_change(&before, &after)) {
                first = changed;
                continue;
            }
            // Empty folders are part of the layout a deployment may rely on.
            for f in &before.folders {
                out.ensure_folder(f)?;
            }
            out.record_folder_owners(&dir, "")?;
            let warning = skipped_warning(
                live,
                &before.skipped,
                "are not captured; a restore replaces the whole folder, and they are not kept",
            );
            return Ok(Facts::of(&FilesFacts {
                file_count: before.files.len() as u64,
                folder_count: before.folders.len() as u64,
                skipped: before.skipped,
                attempts: attempt,
            })?
            .with_warnings(warning));
        }
        Err(FilesError::KeptChanging {
            path: live.to_path_buf(),
            attempts: ATTEMPTS,
            first,
        }
        .into())
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        let facts: FilesFacts = snap.facts().get()?;
        let n = snap.files().len() as u64;
        Ok(if n == facts.file_count {
            Vec::new()
        } else {
            vec![Problem::new(
                ID,
                format!(
                    "the manifest lists {n} files, the capture recorded {}",
                    facts.file_count
                ),
            )]
        })
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let mut r = snap.replacement(target, ID)?;
        let dropped = backup_core::skipped_below(target);
        let done = snap.replace_folder(&mut r, "");
        let warnings = r.finish();
        done?;
        Ok(Facts::warnings(warnings).with_warnings(skipped_warning(
            target,
            &dropped,
            "of the replaced folder were not kept",
        )))
    }

    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        backup_core::files_below(target)
    }

    fn side_files(&self, _target: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    fn standing(&self, facts: &Facts) -> Option<Standing> {
        let f: FilesFacts = facts.get().ok()?;
        Some(Standing {
            json: serde_json::json!({ "file_count": f.file_count }),
            text: vec![format!("{ID} {} files", f.file_count)],
        })
    }

    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
        let prefix = format!("{ID}/");
        let mut problems = Vec::new();
        let mut expected = BTreeSet::new();
        for entry in snap.files() {
            if let Some(rel) = entry.path.strip_prefix(&prefix) {
                expected.insert(rel.to_owned());
                problems.extend(snap.compare_restored(entry, &target.join(rel)));
            }
        }
        match Dir::open_nofollow(target).and_then(|d| walk(&d)) {
            Ok(found) => {
                for rel in found.files.keys().filter(|r| !expected.contains(*r)) {
                    problems.push(Problem::new(
                        target.join(rel).to_string_lossy(),
                        "is not in the snapshot",
                    ));
                }
            }
            Err(e) => problems.push(Problem::new(target.to_string_lossy(), e.to_string())),
        }
        Ok(problems)
    }
}
