//! `validate STAMP`.

use anyhow::Result;
use backup_core::Orchestrator;
use serde_json::json;

use super::{stamp, stood_line, warn_unfinished, where_stores_stood, Ctx, OUTPUT_FORMAT_VERSION};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, stamp_arg: &str) -> Result<u8> {
    let stamp = stamp(stamp_arg)?;
    let store = ctx.store()?;
    let o = Orchestrator::new(&store, &ctx.known);
    let v = o.validate(&stamp)?;
    warn_unfinished(&o);
    let stood = v
        .manifest
        .as_ref()
        .map(where_stores_stood)
        .unwrap_or_default();
    if ctx.global.json {
        ctx.print_json(&json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "stamp": v.stamp,
            "valid": v.is_valid(),
            "errors": v.problems,
            "captured": stood,
        }))?;
    } else if v.is_valid() {
        say(format!("snapshot {} is valid", v.stamp));
        say(format!("captured: {}", stood_line(&stood)));
    } else {
        say(format!("snapshot {} is INVALID:", v.stamp));
    }
    for p in &v.problems {
        output::tell("invalid", p);
    }
    Ok(if v.is_valid() {
        exit_codes::OK
    } else {
        exit_codes::NO
    })
}
