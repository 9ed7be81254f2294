//! `prune --keep-... [--dry-run]`: retention.

use anyhow::Result;
use backup_cli::json;
use backup_core::Policy;

use super::{human_size, Ctx};
use crate::cli::PruneArgs;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, args: &PruneArgs) -> Result<u8> {
    let policy = Policy {
        last: args.keep_last,
        hourly: args.keep_hourly,
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
        within: args.keep_within,
        pre_restore: args.keep_pre_restore,
    };
    let store = ctx.repository("prune")?;
    let repo = store
        .repo()
        .ok_or_else(|| anyhow::anyhow!("not a repository"))?;
    let o = ctx.orchestrator(repo);
    let r = o.prune(repo, &policy, args.dry_run)?;
    let reason = |r: &backup_core::Reason| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    if ctx.global.json {
        ctx.print_json(&json::Pruned {
            format_version: json::FORMAT_VERSION,
            dry_run: r.dry_run,
            keep: r
                .plan
                .keep
                .iter()
                .map(|(s, why)| json::PrunedKeep {
                    stamp: s.clone(),
                    reasons: why.iter().map(reason).collect(),
                })
                .collect(),
            remove: r.plan.remove.clone(),
            bytes_freed: r.bytes_freed,
            packs_deleted: r.packs_deleted,
            packs_rewritten: r.packs_rewritten,
            finished_earlier: r.finished_earlier.clone(),
            notes: r.notes.clone(),
        })?;
    } else {
        for k in &r.finished_earlier {
            say(format!("finished an interrupted prune ({k})"));
        }
        for (s, why) in &r.plan.keep {
            let why: Vec<String> = why.iter().map(reason).collect();
            say(format!("keep   {s}  ({})", why.join(", ")));
        }
        let verb = if r.dry_run { "would remove" } else { "remove" };
        for s in &r.plan.remove {
            say(format!("{verb} {s}"));
        }
        say(format!(
            "{} {} snapshots; {} {} of pack data ({} packs deleted, {} rewritten)",
            if r.dry_run { "would remove" } else { "removed" },
            r.plan.remove.len(),
            if r.dry_run {
                "would free about"
            } else {
                "freed"
            },
            human_size(r.bytes_freed),
            r.packs_deleted,
            r.packs_rewritten
        ));
    }
    for n in &r.notes {
        output::tell("note", n);
    }
    Ok(exit_codes::OK)
}
