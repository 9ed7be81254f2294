//! The registry component: the service's project-registry JSON file. Captured only when it
//! exists (the manifest records it either way); a snapshot without it leaves the live
//! registry alone. Validation: the file parses as JSON (checked streaming, without building
//! the document in memory). Restore: an atomic replace.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use backup_core::{
    fsio, Component, Configured, Descriptor, Error, Facts, Kind, Problem, Result, Setting,
    SnapshotFiles, Staging,
};

/// Component id, folder name and manifest key.
pub const ID: &str = "registry";

/// How the component introduces itself to the command line.
pub static DESCRIPTOR: Descriptor = Descriptor {
    id: ID,
    what: "the project registry",
    path: Setting {
        flag: "registry",
        env: "ATOCORE_PROJECT_REGISTRY_PATH",
        value_name: "FILE",
        help: "The live project-registry JSON file.",
    },
    settings: &[],
    lists: &[],
    required: false,
    restored_key: "registry_restored",
    build,
};

fn build(_: &Configured) -> Box<dyn Component> {
    Box::new(RegistryComponent)
}

/// What a capture records in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryFacts {
    /// The file's name inside the component's folder.
    #[serde(default)]
    pub file: String,
    /// Whether it parsed as JSON when captured (false only in a pre-restore snapshot).
    #[serde(default = "yes")]
    pub json_valid: bool,
}

fn yes() -> bool {
    true
}

/// What can go wrong in this component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The live registry is not JSON, so a regular snapshot refuses it.
    #[error("{}: is not valid JSON ({reason}); fix it or point --registry elsewhere", path.display())]
    NotJson {
        /// The registry file.
        path: PathBuf,
        /// serde_json's message (line and column).
        reason: String,
    },
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        Error::component(ID, e)
    }
}

/// Whether the file parses as JSON; the parser's message when it does not.
fn json_error(f: impl std::io::Read) -> Result<Option<String>> {
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(f));
    // IgnoredAny checks the syntax and keeps nothing, so memory stays bounded.
    let r = IgnoredAny::deserialize(&mut de).and_then(|_| de.end());
    Ok(r.err().map(|e| e.to_string()))
}

/// The file name the registry is stored under inside its component folder.
fn file_name(live: &Path) -> Result<String> {
    fsio::snapshot_name(live)
}

/// The registry component.
#[derive(Debug, Default, Clone, Copy)]
pub struct RegistryComponent;

impl Component for RegistryComponent {
    fn id(&self) -> &'static str {
        ID
    }

    fn exists(&self, live: &Path) -> Result<bool> {
        fsio::live_file_exists(live, "a registry JSON file")
    }

    fn optional(&self) -> bool {
        true
    }

    fn snapshot(&self, live: &Path, out: &mut Staging<'_>) -> Result<Facts> {
        let name = file_name(live)?;
        out.copy_in(live, &name)?;
        let copy = out.dir().join(&name);
        let err = json_error(fsio::open_regular(&copy)?)?;
        let facts = Facts::of(&RegistryFacts {
            file: name,
            json_valid: err.is_none(),
        })?;
        if let Some(reason) = err {
            // A pre-restore snapshot keeps the live state as it is, even broken.
            if out.kind() == Kind::Regular {
                return Err(RegistryError::NotJson {
                    path: live.to_path_buf(),
                    reason,
                }
                .into());
            }
        }
        Ok(facts)
    }

    fn validate(&self, snap: &SnapshotFiles<'_>) -> Result<Vec<Problem>> {
        let facts: RegistryFacts = snap.facts().get()?;
        let Some(entry) = snap.entry(&facts.file) else {
            return Ok(vec![Problem::new(
                ID,
                "the manifest names no registry file",
            )]);
        };
        // A registry captured broken is expected to be broken, but only a pre-restore
        // snapshot may say so: a regular one never turns the check off.
        let captured_broken = !facts.json_valid && snap.kind() == Kind::PreRestore;
        match json_error(snap.open(entry)?)? {
            Some(reason) if !captured_broken => Ok(vec![Problem::new(
                &entry.path,
                format!("is not valid JSON ({reason})"),
            )]),
            _ => Ok(vec![]),
        }
    }

    fn restore(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Facts> {
        let entry = snap.files().first().ok_or_else(|| Error::BadPath {
            path: target.to_path_buf(),
            problem: "the snapshot holds no registry file".into(),
        })?;
        let mut r = snap.replacement(target, ID)?;
        let name = r.name().to_owned();
        let done = (|| -> Result<()> {
            let owner = r.owner_for(&name, false, entry.owner.as_ref())?;
            let w = snap.copy_out(entry, r.work(), &name, owner.as_ref())?;
            r.warn_opt(w);
            r.switch_file(&name, &name)
        })();
        let warnings = r.finish();
        done?;
        Ok(Facts::warnings(warnings))
    }

    fn held_files(&self, target: &Path) -> Vec<PathBuf> {
        vec![target.to_path_buf()]
    }

    fn side_files(&self, _target: &Path) -> Vec<PathBuf> {
        Vec::new()
    }

    fn verify(&self, snap: &SnapshotFiles<'_>, target: &Path) -> Result<Vec<Problem>> {
        Ok(snap
            .files()
            .iter()
            .filter_map(|entry| snap.compare_restored(entry, target))
            .collect())
    }
}
