//! `validate STAMP`.

use anyhow::Result;
use backup_cli::json;

use super::{stamp, warn_unfinished, where_stores_stood, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, stamp_arg: &str, deep: bool) -> Result<u8> {
    let stamp = stamp(stamp_arg)?;
    let store = ctx.store_for("validate")?;
    let o = ctx.orchestrator(&*store).with_deep_validation(deep);
    let v = o.validate(&stamp)?;
    warn_unfinished(&o);
    let (stood, stood_text) = v
        .manifest
        .as_ref()
        .map(|m| where_stores_stood(ctx, m))
        .unwrap_or_default();
    if ctx.global.json {
        ctx.print_json(&json::Validated {
            format_version: json::FORMAT_VERSION,
            stamp: v.stamp.clone(),
            valid: v.is_valid(),
            errors: v.problems.clone(),
            captured: stood,
            evidence: v.evidence.clone(),
        })?;
    } else if v.is_valid() {
        say(format!("snapshot {} is valid", v.stamp));
        say(format!("captured: {}", stood_text.join(", ")));
    } else {
        say(format!("snapshot {} is INVALID:", v.stamp));
    }
    if !ctx.global.json {
        output::proofs(&v.evidence);
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
