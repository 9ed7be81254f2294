//! Drill: validate a snapshot, restore it into a scratch folder, verify it there, remove the
//! scratch folder, and append the outcome to the drill log. Never touches a live store.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime};

use super::restore::Mode;
use super::{
    Access, DrillReport, Orchestrator, RestoreOptions, Targets, DRILL_LOG, DRILL_LOG_VERSION,
};
use crate::error::{Error, IoContext, Result};
use crate::fsio::{self, Dir};
use crate::journal::Journal;
use crate::manifest::Kind;
use crate::progress;
use crate::stamp::{rfc3339, Stamp};
use crate::store::Scratch;
use crate::Problem;

impl<'a> Orchestrator<'a> {
    /// The snapshot `drill` takes when none is named: the newest regular one, where a
    /// snapshot whose manifest cannot be read counts (its kind is unknown, so it cannot be
    /// ruled out: drilling it fails and says why, rather than silently drilling an older one).
    ///
    /// # Errors
    /// [`Error::NoSnapshots`] when there is none.
    pub fn newest_to_drill(&self) -> Result<Stamp> {
        let (snaps, _) = self.list()?;
        snaps
            .into_iter()
            .find(|(_, m)| m.as_ref().map_or(true, |m| m.kind == Kind::Regular))
            .map(|(s, _)| s)
            .ok_or_else(|| Error::NoSnapshots {
                what: "regular",
                dir: self.store.location().join("snapshots"),
            })
    }

    /// The non-destructive drill: validate `stamp`, restore it into a scratch folder inside
    /// `scratch_parent`, verify every component there, remove the scratch folder, and append
    /// the outcome to `<scratch_parent>/drills.jsonl`.
    ///
    /// # Errors
    /// Only when the drill could not run (unknown stamp, unwritable folder); a snapshot that
    /// fails is a report with `ok: false`.
    pub fn drill(&self, stamp: &Stamp, scratch_parent: &Path) -> Result<DrillReport> {
        let _reporting = progress::report_to(self.progress.as_ref());
        let _lock = self.lock_state("drill", Access::Write)?;
        Journal::refuse_if_unfinished(&self.state)?;
        let started_at = rfc3339(SystemTime::now());
        let t0 = Instant::now();
        let validation = self.validate(stamp)?;
        let validate_ms = t0.elapsed().as_millis() as u64;
        let mut report = DrillReport {
            format_version: DRILL_LOG_VERSION,
            stamp: stamp.to_string(),
            started_at,
            ok: false,
            validate_ms,
            restore_ms: 0,
            components: Vec::new(),
            problems: validation.problems,
            evidence: Vec::new(),
        };
        let parent = Dir::open(scratch_parent)?;
        if report.problems.is_empty() {
            let scratch = Scratch::new(scratch_parent)?;
            let t1 = Instant::now();
            let opts = RestoreOptions {
                allow_schema_change: false,
                targets: Targets::Into(fsio::real_path(scratch.path()).join("restored")),
                confirm_service_stopped: false,
                pre_restore_snapshot: false,
                skip: BTreeSet::new(),
                protected: Vec::new(),
            };
            match self.run(stamp, &opts, Mode::Fresh) {
                Ok(r) => {
                    for c in r.components {
                        if c.restored {
                            report.components.push(c.id);
                        }
                        report.problems.extend(c.problems);
                        report.evidence.extend(c.evidence);
                    }
                }
                Err(e @ Error::Interrupted { .. }) => return Err(e),
                // The restore's own gate runs the slow checks this drill's validation did not
                // (index recall, canaries): its findings and proofs go into the report.
                Err(Error::InvalidSnapshot {
                    problems, evidence, ..
                }) => {
                    report.problems.extend(problems);
                    report.evidence.extend(evidence);
                }
                Err(e) => report
                    .problems
                    .push(Problem::new(stamp.as_str(), e.to_string())),
            }
            report.restore_ms = t1.elapsed().as_millis() as u64;
            scratch.remove()?;
            report.ok = report.problems.is_empty();
        }
        append_line(
            &parent,
            OsStr::new(DRILL_LOG),
            &serde_json::to_vec(&report).unwrap_or_default(),
        )?;
        Ok(report)
    }
}

/// Append one line to the log `name` in `dir` (never through a symlink or a hard link) and
/// fsync it.
pub(super) fn append_line(dir: &Dir, name: &OsStr, line: &[u8]) -> Result<()> {
    let mut f = dir.open_append(name)?;
    let path = dir.join(name);
    let mut buf = line.to_vec();
    buf.push(b'\n');
    f.write_all(&buf).ctx("append to", &path)?;
    f.sync_all().ctx("fsync", &path)
}
