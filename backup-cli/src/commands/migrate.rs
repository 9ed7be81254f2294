//! `migrate`: import a backup dir's plain snapshot folders into a repository: the one in the
//! same folder, or the one on object storage `--repo` names (then the backup dir is also its
//! state folder).

use anyhow::{anyhow, Result};
use backup_cli::json;
use backup_core::{FolderStore, ObjectStore, Repository, SnapshotStore};

use super::{human_size, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let dir = ctx.backup_dir()?;
    let from = FolderStore::new(&dir);
    if ctx.remote_address()?.is_some() {
        if backup_core::fsio::kind_of(&dir.join("snapshots"))?.is_none() {
            if ctx.global.backup_dir.is_none() {
                return Err(anyhow!(
                    "{}: has no plain snapshot folders (snapshots/) to migrate: name the \
                     backup dir that holds them with --backup-dir",
                    dir.display()
                ));
            }
            return Err(no_folders(&dir));
        }
        // The folders imported are only as trustworthy as the dir they are in.
        super::warn_if_open_to_others(&dir);
        let store = ctx.repository("migrate")?;
        let repo = store
            .repo()
            .ok_or_else(|| anyhow!("{}: not a repository", dir.display()))?;
        return import(ctx, &from, repo);
    }
    // Warns when others can change the backup dir, as every command does.
    let _ = ctx.store()?;
    if backup_core::fsio::kind_of(&dir.join("snapshots"))?.is_none() {
        return Err(no_folders(&dir));
    }
    import(ctx, &from, &Repository::in_folder(&dir))
}

fn no_folders(dir: &std::path::Path) -> anyhow::Error {
    anyhow!(
        "{}: has no plain snapshot folders (snapshots/) to migrate",
        dir.display()
    )
}

fn import<O: ObjectStore + 'static>(
    ctx: &Ctx,
    from: &FolderStore,
    repo: &Repository<O>,
) -> Result<u8> {
    let o = ctx.orchestrator(repo);
    let m = o.migrate(from, repo)?;
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
