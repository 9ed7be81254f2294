//! `cleanup`: remove leftovers of interrupted runs, and only them: staging folders of
//! snapshots (`snapshots/.<stamp>.tmp`), scratch folders, and a restore's private folders
//! beside the live stores (`.<name>.atocore-*.tmp`, ours only). Anything else is reported and
//! left alone.

use anyhow::Result;
use backup_cli::json;
use backup_core::RecordedPath;

use super::Ctx;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let store = ctx.store_for("cleanup")?;
    let o = ctx.orchestrator(&*store);
    let done = o.cleanup(&ctx.configured_paths())?;
    let unrecognised = o.unrecognised()?;
    for u in &unrecognised {
        output::warn(&format!(
            "{} is not a name atocore-backup makes (or a snapshot without its manifest): left \
             alone; look at it and remove it by hand",
            u.display()
        ));
    }
    for (t, why) in &done.kept {
        output::warn(&format!("kept {}: {why}", t.display()));
    }
    if ctx.global.json {
        ctx.print_json(&json::Cleaned {
            format_version: json::FORMAT_VERSION,
            removed: done
                .removed
                .iter()
                .map(|p| RecordedPath::from_path(p))
                .collect(),
            left_alone: unrecognised
                .iter()
                .map(|p| RecordedPath::from_path(p))
                .collect(),
            kept: done
                .kept
                .iter()
                .map(|(p, why)| json::Kept {
                    path: RecordedPath::from_path(p),
                    why: why.clone(),
                })
                .collect(),
        })?;
    } else if done.removed.is_empty() && done.kept.is_empty() {
        say("nothing to clean");
    } else {
        for r in &done.removed {
            say(format!("removed {}", r.display()));
        }
    }
    // A leftover that could not be removed is an error (a restore of that store will refuse
    // to start until it is gone); one kept for an unfinished restore is not.
    Ok(if done.failed {
        exit_codes::ERROR
    } else {
        exit_codes::OK
    })
}
