//! `status`: what an operator must know before the next operation: an unfinished restore,
//! leftovers of interrupted runs, and who holds the backup dir's lock.

use anyhow::Result;
use backup_core::lock::{self, BACKUP_DIR_LOCK};
use backup_core::{Error, Orchestrator};
use serde_json::json;

use super::{Ctx, OUTPUT_FORMAT_VERSION};
use crate::exit_codes;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let dir = ctx.backup_dir()?;
    let store = ctx.store()?;
    let o = Orchestrator::new(&store, &ctx.known);
    let (snapshots, leftovers) = o.list()?;
    let journal = match o.unfinished() {
        Ok(j) => Some(j),
        Err(Error::NoUnfinishedRestore { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let lock_path = dir.join(BACKUP_DIR_LOCK);
    let held = lock::is_held(&lock_path);
    let holder = held.then(|| lock::holder(&lock_path)).flatten();
    if ctx.global.json {
        ctx.print_json(&json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "backup_dir": dir,
            "snapshots": snapshots.len(),
            "unfinished_restore": journal,
            "leftovers": leftovers,
            "lock": { "held": held, "holder": holder },
        }))?;
        return Ok(exit_codes::OK);
    }
    println!(
        "backup dir: {} ({} snapshots)",
        dir.display(),
        snapshots.len()
    );
    match &journal {
        None => println!("unfinished restore: none"),
        Some(j) => {
            println!(
                "unfinished restore: {:?} to snapshot {} started {} (pre-restore snapshot: {})",
                j.phase,
                j.stamp,
                j.started_at,
                j.pre_restore_snapshot.as_deref().unwrap_or("none")
            );
            for s in &j.steps {
                println!(
                    "  {}: {} {}",
                    s.id,
                    s.target.display(),
                    if s.switched {
                        "switched"
                    } else {
                        "not switched"
                    }
                );
            }
        }
    }
    for l in &leftovers {
        println!("leftover: {} (remove with `cleanup`)", l.display());
    }
    match (held, holder) {
        (true, Some(h)) => println!("lock: held by {h}"),
        (true, None) => println!("lock: held"),
        (false, _) => println!("lock: free"),
    }
    Ok(exit_codes::OK)
}
