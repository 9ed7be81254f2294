//! `cleanup`: remove leftovers of interrupted runs.

use anyhow::Result;
use backup_core::SnapshotStore;
use serde_json::json;

use super::{Ctx, OUTPUT_FORMAT_VERSION};
use crate::exit_codes;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let _lock = ctx.lock("cleanup")?;
    let removed = ctx.store()?.remove_leftovers()?;
    if ctx.global.json {
        ctx.print_json(&json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "removed": removed,
        }))?;
    } else if removed.is_empty() {
        println!("nothing to clean");
    } else {
        for r in &removed {
            println!("removed {}", r.display());
        }
    }
    Ok(exit_codes::OK)
}
