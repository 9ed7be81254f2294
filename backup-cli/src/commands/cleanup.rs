//! `cleanup`: remove leftovers of interrupted runs, and only them: staging folders of
//! snapshots (`snapshots/.<stamp>.tmp`), drill scratch folders, and a restore's private
//! folders beside the live stores (`.<name>.atocore-*.tmp`, ours only). Anything else is
//! reported and left alone.

use anyhow::Result;
use backup_cli::json;
use backup_core::{Error, RecordedPath};

use super::Ctx;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let _lock = ctx.lock("cleanup")?;
    let store = ctx.store()?;
    let o = ctx.orchestrator(&store);
    let mut removed = o.remove_leftovers()?;
    let unrecognised = o.unrecognised()?;
    let unfinished = match o.unfinished() {
        Ok(_) => true,
        Err(Error::NoUnfinishedRestore { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    let beside = o.temps_beside(&o.known_live_paths(&ctx.configured_paths()));
    let mut kept = Vec::new();
    let mut failed = false;
    for t in beside {
        if unfinished {
            // The unfinished restore's resume or rollback deals with them.
            kept.push((t, "an unfinished restore may still use it: finish it with `restore --resume` or `--rollback`".to_owned()));
            continue;
        }
        match backup_core::Dir::open(backup_core::fsio::parent_of(&t)).and_then(|d| {
            d.remove_own_leftover(backup_core::fsio::last_name(&t)?)?;
            d.sync()
        }) {
            Ok(()) => removed.push(t),
            Err(e) => {
                failed = true;
                kept.push((t, format!("{e}; remove it by hand")));
            }
        }
    }
    for u in &unrecognised {
        output::warn(&format!(
            "{} is not a name atocore-backup makes (or a snapshot without its manifest): left \
             alone; look at it and remove it by hand",
            u.display()
        ));
    }
    for (t, why) in &kept {
        output::warn(&format!("kept {}: {why}", t.display()));
    }
    if ctx.global.json {
        ctx.print_json(&json::Cleaned {
            format_version: json::FORMAT_VERSION,
            removed: removed.iter().map(|p| RecordedPath::from_path(p)).collect(),
            left_alone: unrecognised
                .iter()
                .map(|p| RecordedPath::from_path(p))
                .collect(),
            kept: kept
                .iter()
                .map(|(p, why)| json::Kept {
                    path: RecordedPath::from_path(p),
                    why: why.clone(),
                })
                .collect(),
        })?;
    } else if removed.is_empty() && kept.is_empty() {
        say("nothing to clean");
    } else {
        for r in &removed {
            say(format!("removed {}", r.display()));
        }
    }
    // A leftover that could not be removed is an error (a restore of that store will refuse
    // to start until it is gone); one kept for an unfinished restore is not.
    Ok(if failed {
        exit_codes::ERROR
    } else {
        exit_codes::OK
    })
}
