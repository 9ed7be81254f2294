//! Validate: a stored snapshot checked against its manifest (every file's size and SHA-256,
//! nothing stored that it does not list, what it says about its own capture quality), then
//! each component's own invariants. Writes nothing.

use super::{Orchestrator, Validation};
use crate::component::{Evidence, LocalCopy, SnapshotFiles};
use crate::error::{Error, Result};
use crate::fsio;
use crate::manifest::{ComponentRecord, FileEntry, Kind, Manifest, RecordedPath, MANIFEST_NAME};
use crate::progress;
use crate::stamp::Stamp;
use crate::store::SnapshotStore;
use crate::Problem;

/// What checking one component found, the checked local copy it kept, and its proofs.
type Checked = (Vec<Problem>, Option<LocalCopy>, Vec<Evidence>);

/// Checked local copies of a snapshot's components, by component id.
pub(super) type Prepared = std::collections::BTreeMap<String, LocalCopy>;

impl<'a> Orchestrator<'a> {
    /// Check a snapshot: manifest, every file's size and SHA-256, no unlisted or linked files,
    /// then each component's own invariants.
    ///
    /// # Errors
    /// Only when the snapshot cannot be found; findings are in [`Validation::problems`].
    pub fn validate(&self, stamp: &Stamp) -> Result<Validation> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let v = self.validate_stored(stamp)?;
        // A validation cut short by a signal says nothing about the snapshot.
        crate::interrupt::check()?;
        Ok(v)
    }

    /// Validate the stored snapshot `stamp`.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`] when there is none.
    pub(super) fn validate_stored(&self, stamp: &Stamp) -> Result<Validation> {
        self.validate_keeping(stamp, None, self.deep)
    }

    /// [`Orchestrator::validate_stored`]; with `keep`, the checked local copy of each
    /// component that made one (a repository's snapshot) is kept there by component id, for
    /// a restore to copy from instead of reading the store again.
    ///
    /// # Errors
    /// As [`Orchestrator::validate_stored`].
    pub(super) fn validate_keeping(
        &self,
        stamp: &Stamp,
        mut keep: Option<&mut Prepared>,
        deep: bool,
    ) -> Result<Validation> {
        let mut problems = Vec::new();
        let manifest = match self.store.read_manifest(stamp) {
            Ok(m) => m,
            Err(e @ Error::UnknownSnapshot { .. }) => return Err(e),
            Err(e) => {
                let text = e.to_string();
                let prefix = format!(
                    "manifest {}: ",
                    self.store.describe(stamp, MANIFEST_NAME).display()
                );
                let text = text.strip_prefix(&prefix).unwrap_or(&text).to_owned();
                problems.push(Problem::new(MANIFEST_NAME, text));
                return Ok(Validation {
                    stamp: stamp.to_string(),
                    manifest: None,
                    problems,
                    evidence: Vec::new(),
                });
            }
        };
        let _phase = progress::phase("validate", manifest.total_size());
        if manifest.stamp != stamp.as_str() {
            problems.push(Problem::new(
                MANIFEST_NAME,
                format!("names stamp {} but sits in folder {stamp}", manifest.stamp),
            ));
        }
        match self.store.check(stamp, &manifest) {
            Ok(p) => problems.extend(p),
            Err(e) => problems.push(Problem::new(".", format!("cannot be checked: {e}"))),
        }
        // Each component is checked in a thread of its own (SQLite's integrity check of one
        // copy while Chroma's folder is copied and checked); problems keep the manifest's
        // order.
        let keeping = keep.is_some();
        let checked: Vec<Checked> = super::in_threads(
            &manifest.components,
            |record| format!("validate-{}", record.id),
            |record| self.validate_component(stamp, &manifest, record, keeping, deep),
            |record| {
                let stopped = "could not be checked: its thread stopped";
                (
                    vec![Problem::new(record.id.clone(), stopped)],
                    None,
                    Vec::new(),
                )
            },
        );
        let mut evidence = Vec::new();
        for (record, (found, copy, proofs)) in manifest.components.iter().zip(checked) {
            problems.extend(found);
            evidence.extend(proofs);
            if let (Some(k), Some(copy)) = (keep.as_deref_mut(), copy) {
                k.insert(record.id.clone(), copy);
            }
        }
        Ok(Validation {
            stamp: stamp.to_string(),
            manifest: Some(manifest),
            problems,
            evidence,
        })
    }

    /// Check one component's part of snapshot `stamp`: its files, what it says about its
    /// capture, and the component's own invariants. With `keep`, the checked local copy made
    /// for it (if any) is returned for a restore to use.
    fn validate_component(
        &self,
        stamp: &Stamp,
        manifest: &Manifest,
        record: &ComponentRecord,
        keep: bool,
        deep: bool,
    ) -> Checked {
        let mut problems = Vec::new();
        let comp = match self.component(&record.id) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(Problem::new(record.id.clone(), e.to_string()));
                None
            }
        };
        let mut snap = self.snap_files(stamp, manifest, record);
        // A store without a local folder (a repository): one checked local copy is both the
        // check of every file and what the component's checks read. When a file fails, each
        // is checked on its own below, for messages that say what is wrong.
        let prepared = record.present && snap.prepare_local();
        if !prepared {
            for f in &record.files {
                check_file(self.store, stamp, f, &mut problems);
            }
        }
        let damaged: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
        check_capture_quality(manifest, record, &mut problems);
        // The component's own checks run even when a checksum failed: they name what the
        // damage means (which collection, which invariant), and must cope with it.
        let mut copy = None;
        let mut evidence = Vec::new();
        if let (Some(comp), true) = (comp, record.present) {
            let mut snap = snap.with_damaged(damaged).with_deep(deep);
            match comp.validate(&snap) {
                Ok(p) => problems.extend(p),
                Err(e) => problems.push(Problem::new(
                    record.id.clone(),
                    format!("could not be checked: {e}"),
                )),
            }
            evidence = snap.take_evidence();
            if keep {
                copy = snap.take_prepared();
            }
        }
        (problems, copy, evidence)
    }

    /// Read access to `record`'s files in the stored snapshot `stamp`.
    pub(super) fn snap_files<'m>(
        &'m self,
        stamp: &'m Stamp,
        manifest: &Manifest,
        record: &'m ComponentRecord,
    ) -> SnapshotFiles<'m> {
        SnapshotFiles::new(
            self.store,
            stamp,
            &self.state,
            record,
            manifest
                .sources
                .get(&record.id)
                .and_then(RecordedPath::to_path),
            raw_allowed(manifest, record),
            manifest.kind,
        )
    }
}

/// Whether `record` is a raw (unverified) capture that may skip its component's checks: it
/// says so, it is in a pre-restore snapshot, and every file is under `<id>/raw/`.
fn raw_allowed(manifest: &Manifest, record: &ComponentRecord) -> bool {
    let prefix = format!("{}/raw/", record.id);
    record.facts.raw
        && manifest.kind == Kind::PreRestore
        && record.files.iter().all(|f| f.path.starts_with(&prefix))
}

/// What a snapshot says about its own capture quality is checked, not trusted: a fact that
/// relaxes a check (`raw: true`, `verified: false`) is honoured only in a pre-restore
/// snapshot and only for files in the component's raw area, and the raw area holds files only
/// in a raw capture.
fn check_capture_quality(
    manifest: &Manifest,
    record: &ComponentRecord,
    problems: &mut Vec<Problem>,
) {
    let allowed = raw_allowed(manifest, record);
    let claims_raw = record.facts.raw;
    if record.facts.claims_unchecked() && !allowed {
        problems.push(Problem::new(
            record.id.clone(),
            format!(
                "the manifest marks this capture raw or unverified, which only a pre-restore \
                 snapshot may do, and only for files under {}/raw/: this {} snapshot is not \
                 trusted",
                record.id,
                manifest.kind.as_str()
            ),
        ));
    }
    if !claims_raw {
        let prefix = format!("{}/raw/", record.id);
        for f in record.files.iter().filter(|f| f.path.starts_with(&prefix)) {
            problems.push(Problem::new(
                f.path.clone(),
                "is in the raw area of a capture that does not say it is raw",
            ));
        }
    }
}

/// Check one listed file: no symlink on the way, a regular file, right size and SHA-256.
fn check_file(
    store: &dyn SnapshotStore,
    stamp: &Stamp,
    f: &FileEntry,
    problems: &mut Vec<Problem>,
) {
    let opened = store.open_file(stamp, &f.path);
    let mut file = match opened {
        Ok(file) => file,
        Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
            problems.push(Problem::new(f.path.clone(), "is missing"));
            return;
        }
        Err(Error::Symlink { .. }) => {
            problems.push(Problem::new(
                f.path.clone(),
                "leads through a symlink, which a snapshot never holds",
            ));
            return;
        }
        Err(Error::NotRegular { what, .. }) => {
            problems.push(Problem::new(
                f.path.clone(),
                format!("is not a regular file (it leads to {what})"),
            ));
            return;
        }
        Err(e) => {
            problems.push(Problem::new(f.path.clone(), format!("cannot be read: {e}")));
            return;
        }
    };
    match fsio::hash_reader(&mut file, &store.describe(stamp, &f.path)) {
        Err(e) => problems.push(Problem::new(f.path.clone(), format!("cannot be read: {e}"))),
        Ok(d) if d.size != f.size => problems.push(Problem::new(
            f.path.clone(),
            format!("has {} bytes, the manifest says {}", d.size, f.size),
        )),
        Ok(d) if d.sha256 != f.sha256 => problems.push(Problem::new(
            f.path.clone(),
            format!(
                "checksum mismatch: sha256 is {}, the manifest says {}",
                d.sha256, f.sha256
            ),
        )),
        Ok(_) => {}
    }
}
