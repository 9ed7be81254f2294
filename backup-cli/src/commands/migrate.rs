//! `migrate`: import a backup dir's plain snapshot folders into a repository there.

use anyhow::{anyhow, Result};
use backup_cli::json;
use backup_core::{FolderStore, Repository, SnapshotStore};

use super::{human_size, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let dir = ctx.backup_dir()?;
    // Warns when others can change the backup dir, as every command does.
    let _ = ctx.store()?;
    let from = FolderStore::new(&dir);
    if backup_core::fsio::kind_of(&dir.join("snapshots"))?.is_none() {
        return Err(anyhow!(
            "{}: has no plain snapshot folders (snapshots/) to migrate",
            dir.display()
        ));
    }
    let repo = Repository::in_folder(&dir);
    let o = ctx.orchestrator(&repo);
    let m = o.migrate(&from, &repo)?;
    let failed = m.snapshots.iter().filter(|s| s.error.is_some()).count();
    if ctx.global.json {
        ctx.print_json(&json::Migrated {
            format_version: json::FORMAT_VERSION,
            snapshots: m
                .snapshots
                .iter()
                .map(|s| json::MigratedSnapshot {
                    stamp: s.stamp.clone(),
                    outcome: match (&s.error, &s.added) {
                        (Some(_), _) => "failed",
                        (None, Some(_)) => "imported",
                        (None, None) => "already-there",
                    }
                    .to_owned(),
                    stored: s.added.map(json::Stored::from),
                    error: s.error.clone(),
                })
                .collect(),
        })?;
    } else {
        for s in &m.snapshots {
            match (&s.error, &s.added) {
                (Some(e), _) => output::tell("not imported", format!("{}: {e}", s.stamp)),
                (None, Some(a)) => say(format!(
                    "imported {} ({} of files, {} added)",
                    s.stamp,
                    human_size(a.file_bytes),
                    human_size(a.pack_bytes)
                )),
                (None, None) => say(format!("{} is in the repository already", s.stamp)),
            }
        }
        say(format!(
            "the plain folders in {} are left as they were; once `list` and `validate` show \
             the imported snapshots, remove them by hand",
            from.location().join("snapshots").display()
        ));
    }
    Ok(if failed == 0 {
        exit_codes::OK
    } else {
        exit_codes::NO
    })
}
