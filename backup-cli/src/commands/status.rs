//! `status`: what an operator must know before the next operation: an unfinished restore,
//! leftovers of interrupted runs (in the backup dir and beside the live stores), anything
//! unrecognised, and who holds the backup dir's lock.

use anyhow::Result;
use backup_cli::json;
use backup_core::lock::{self, BACKUP_DIR_LOCK};
use backup_core::{Error, Orchestrator, RecordedPath};

use super::Ctx;
use crate::exit_codes;
use crate::output::say;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let dir = ctx.backup_dir()?;
    let store = ctx.store()?;
    let o = Orchestrator::new(&*store, &ctx.known);
    let (snapshots, mut leftovers) = o.list()?;
    let unrecognised = o.unrecognised()?;
    let journal = match o.unfinished() {
        Ok(j) => Some(j),
        Err(Error::NoUnfinishedRestore { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    leftovers.extend(o.temps_beside(&o.known_live_paths(&ctx.configured_paths())));
    let lock_path = dir.join(BACKUP_DIR_LOCK);
    let held = lock::is_held(&lock_path);
    let holder = held.then(|| lock::holder(&lock_path)).flatten();
    if ctx.global.json {
        let paths =
            |v: &[std::path::PathBuf]| v.iter().map(|p| RecordedPath::from_path(p)).collect();
        ctx.print_json(&json::Status {
            format_version: json::FORMAT_VERSION,
            backup_dir: RecordedPath::from_path(&dir),
            snapshots: snapshots.len(),
            unfinished_restore: journal.clone(),
            leftovers: paths(&leftovers),
            unrecognised: paths(&unrecognised),
            lock: json::LockState {
                held,
                holder: holder.clone(),
            },
        })?;
        return Ok(exit_codes::OK);
    }
    say(format!(
        "backup dir: {} ({} snapshots)",
        dir.display(),
        snapshots.len()
    ));
    match &journal {
        None => say("unfinished restore: none"),
        Some(j) => {
            say(format!(
                "unfinished restore: {:?} to snapshot {} started {} (pre-restore snapshot: {})",
                j.phase,
                j.stamp,
                j.started_at,
                j.pre_restore_snapshot.as_deref().unwrap_or("none")
            ));
            for s in &j.steps {
                say(format!(
                    "  {}: {} {}",
                    s.id,
                    s.target.display(),
                    if s.switched {
                        "switched"
                    } else {
                        "not switched"
                    }
                ));
            }
        }
    }
    for l in &leftovers {
        say(format!("leftover: {} (remove with `cleanup`)", l.display()));
    }
    for u in &unrecognised {
        say(format!(
            "unrecognised: {} (not a snapshot, not a name atocore-backup makes; left alone)",
            u.display()
        ));
    }
    match (held, holder) {
        (true, Some(h)) => say(format!("lock: held by {h}")),
        (true, None) => say("lock: held"),
        (false, _) => say("lock: free"),
    }
    Ok(exit_codes::OK)
}
