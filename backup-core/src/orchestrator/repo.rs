//! What only a repository offers, run under the state folder's lock like every other
//! operation: `prune` (retention, with the newest snapshot that validates and anything an
//! unfinished restore names kept whatever the policy says), `check`, and `migrate` (plain
//! folder snapshots imported into the repository).

use std::collections::BTreeMap;
use std::ffi::OsStr;

use serde::Serialize;

use super::{Access, Orchestrator};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::manifest::Kind;
use crate::stamp::Stamp;
use crate::store::{
    prune_plan, Added, CheckReport, FolderStore, ObjectStore, Policy, PruneReport, ReadData,
    Reason, Repository, SnapshotStore,
};

/// One snapshot `migrate` looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// Its stamp.
    pub stamp: String,
    /// What the import added (None: the repository already had it).
    pub added: Option<Added>,
    /// Why it could not be imported (it stays a plain folder).
    pub error: Option<String>,
}

/// What `migrate` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Migration {
    /// Every plain-folder snapshot, oldest first.
    pub snapshots: Vec<Imported>,
}

/// One line of the check log (`checks.jsonl` in the state folder): what `status` reports
/// as the last check and the last clean one.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CheckLogLine {
    /// Version of this line's format.
    pub format_version: u32,
    /// When the check started (RFC 3339 UTC).
    pub started_at: String,
    /// What was read: `none`, `all`, `subset N/M`, `N%`.
    pub read: String,
    /// True when the repository checked clean.
    pub clean: bool,
    /// Snapshots looked at.
    pub snapshots: usize,
    /// Packs in the repository.
    pub packs: usize,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// How many problems.
    pub problems: usize,
    /// Snapshots the problems affect.
    pub affected: Vec<String>,
}

impl Orchestrator<'_> {
    /// Apply retention `policy` to `repo` (the store this orchestrator runs over): plan,
    /// protect the newest regular snapshot that validates and every snapshot an unfinished
    /// restore names, then remove the rest crash-safely (or, with `dry_run`, only say so).
    ///
    /// # Errors
    /// [`Error::Policy`] for a policy that keeps nothing; [`Error::LockHeld`]; store errors.
    pub fn prune<O: ObjectStore + 'static>(
        &self,
        repo: &Repository<O>,
        policy: &Policy,
        dry_run: bool,
    ) -> Result<PruneReport> {
        if !policy.keeps_something() {
            return Err(Error::Policy {
                problem: "this policy keeps no regular snapshot: give at least one of \
                          --keep-last, --keep-hourly, --keep-daily, --keep-weekly, \
                          --keep-monthly (above 0) or --keep-within"
                    .into(),
            });
        }
        let access = if dry_run { Access::Read } else { Access::Write };
        let _lock = self.lock_state("prune", access)?;
        let mut protected: BTreeMap<Stamp, Reason> = BTreeMap::new();
        if let Some(j) = Journal::read(&self.state)? {
            for s in std::iter::once(&j.stamp).chain(j.pre_restore_snapshot.as_ref()) {
                protected.insert(Stamp::parse(s)?, Reason::Journal);
            }
        }
        let kinds = repo.kinds()?;
        let mut regular: Vec<&Stamp> = kinds
            .iter()
            .filter(|(_, k)| *k == Some(Kind::Regular))
            .map(|(s, _)| s)
            .collect();
        regular.sort_by(|a, b| b.cmp(a));
        let mut notes = Vec::new();
        match regular
            .iter()
            .find(|s| self.validate_stored(s).is_ok_and(|v| v.is_valid()))
        {
            Some(s) => {
                protected.entry((*s).clone()).or_insert(Reason::NewestValid);
            }
            None if !regular.is_empty() => {
                notes.push("no regular snapshot validates: the policy alone decided".to_owned())
            }
            None => {}
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let plan = prune_plan(&kinds, policy, now, &protected);
        let mut report = repo.prune(plan, dry_run)?;
        report.notes.splice(0..0, notes);
        Ok(report)
    }

    /// Check the whole repository `repo`, reading the data `read` selects.
    ///
    /// # Errors
    /// Only when the check cannot run.
    pub fn check<O: ObjectStore + 'static>(
        &self,
        repo: &Repository<O>,
        read: ReadData,
    ) -> Result<CheckReport> {
        let _lock = self.lock_state("check", Access::Read)?;
        let started_at = crate::stamp::rfc3339(std::time::SystemTime::now());
        let mut report = repo.check_all(read)?;
        // A check of a read-only backup dir still answers; only its log line is missing.
        let line = CheckLogLine {
            format_version: super::CHECK_LOG_VERSION,
            started_at,
            read: read.describe(),
            clean: report.problems.is_empty(),
            snapshots: report.snapshots,
            packs: report.packs,
            packs_read: report.packs_read,
            bytes_read: report.bytes_read,
            problems: report.problems.len(),
            affected: report.affected.iter().cloned().collect(),
        };
        let logged = crate::fsio::Dir::open(&self.state).and_then(|d| {
            super::drill::append_line(
                &d,
                OsStr::new(super::CHECK_LOG),
                &serde_json::to_vec(&line).unwrap_or_default(),
            )
        });
        if let Err(e) = logged {
            report.notes.push(format!(
                "this check could not be added to the check log: {e}"
            ));
        }
        Ok(report)
    }

    /// Import every snapshot of the plain-folder store `from` into `repo` (this
    /// orchestrator's store), stamps, kinds and manifests kept; the folders stay where they
    /// are. A snapshot that does not import (damaged) is reported and left as it is.
    ///
    /// # Errors
    /// [`Error::UnfinishedRestore`], [`Error::LockHeld`], listing errors.
    pub fn migrate<O: ObjectStore + 'static>(
        &self,
        from: &FolderStore,
        repo: &Repository<O>,
    ) -> Result<Migration> {
        let _lock = self.lock_state("migrate", Access::Write)?;
        Journal::refuse_if_unfinished(&self.state)?;
        let mut out = Migration::default();
        for stamp in from.list()?.snapshots {
            crate::interrupt::check()?;
            let (added, error) = match repo.import(from, &stamp) {
                Ok(a) => (a, None),
                Err(e @ Error::Interrupted { .. }) => return Err(e),
                Err(e) => (None, Some(e.to_string())),
            };
            out.snapshots.push(Imported {
                stamp: stamp.to_string(),
                added,
                error,
            });
        }
        Ok(out)
    }
}
