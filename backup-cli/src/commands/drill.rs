//! `drill [STAMP] [--sample]`: the non-destructive restore drill.

use anyhow::{Context, Result};
use backup_cli::json;
use backup_core::RecordedPath;
use backup_core::{DrillReport, Kind, Repository, DRILL_LOG};

use super::{stamp, Ctx};
use crate::cli::DrillArgs;
use crate::exit_codes;
use crate::output::{self, say};
use backup_cli::components::sample;

pub fn run(ctx: &Ctx, args: &DrillArgs) -> Result<u8> {
    if args.sample {
        return run_sample(ctx);
    }
    let backup_dir = ctx.backup_dir()?;
    let store = ctx.store_for("drill")?;
    let o = ctx.orchestrator(&*store);
    let stamp = match &args.stamp {
        Some(s) => stamp(s)?,
        None => o.newest_to_drill()?,
    };
    let report = o.drill(&stamp, &backup_dir)?;
    print(ctx, &report, &backup_dir.join(DRILL_LOG), None)?;
    Ok(code(&report))
}

fn code(report: &DrillReport) -> u8 {
    if report.ok {
        exit_codes::OK
    } else {
        exit_codes::NO
    }
}

fn run_sample(ctx: &Ctx) -> Result<u8> {
    let scratch = tempfile::Builder::new()
        .prefix("atocore-backup-sample-")
        .tempdir()
        .context("cannot make a scratch folder for the sample")?
        .keep();
    output::tell("sample store and its backups", scratch.display());
    let s = sample::build(&scratch.join("live"))?;
    let backup_dir = scratch.join("backups");
    let store = Repository::in_folder(&backup_dir);
    let o = ctx.orchestrator(&store);
    let m = o.create(&s.sources, Kind::Regular)?;
    let at_backup = sample::memory_count(&s.db)?;
    output::tell(
        "sample",
        format!("backed up ({at_backup} memories) as snapshot {}", m.stamp),
    );
    sample::mutate(&s)?;
    let now = sample::memory_count(&s.db)?;
    output::tell(
        "sample",
        format!("changed the live sample afterwards ({now} memories now)"),
    );
    let report = o.drill(&backup_core::Stamp::parse(&m.stamp)?, &backup_dir)?;
    let sample_info = json::SampleRun {
        dir: RecordedPath::from_path(&scratch),
        memories_at_backup: at_backup,
        memories_live_now: now,
    };
    print(ctx, &report, &backup_dir.join(DRILL_LOG), Some(sample_info))?;
    Ok(code(&report))
}

fn print(
    ctx: &Ctx,
    report: &DrillReport,
    log: &std::path::Path,
    sample: Option<json::SampleRun>,
) -> Result<()> {
    for p in &report.problems {
        output::tell("drill problem", p);
    }
    if ctx.global.json {
        return ctx.print_json(&json::Drilled {
            format_version: json::FORMAT_VERSION,
            stamp: report.stamp.clone(),
            started_at: report.started_at.clone(),
            ok: report.ok,
            validate_ms: report.validate_ms,
            restore_ms: report.restore_ms,
            components: report.components.clone(),
            problems: report.problems.clone(),
            evidence: report.evidence.clone(),
            drill_log: RecordedPath::from_path(log),
            sample,
        });
    }
    say(format!(
        "drill of snapshot {}: {}",
        report.stamp,
        if report.ok { "OK" } else { "FAILED" }
    ));
    say(format!(
        "validated in {} ms; restored and verified {} in a scratch folder in {} ms",
        report.validate_ms,
        if report.components.is_empty() {
            "nothing".to_owned()
        } else {
            report.components.join(", ")
        },
        report.restore_ms
    ));
    output::proofs(&report.evidence);
    if let Some(s) = &sample {
        say(format!(
            "sample: {} memories when backed up, {} live now; the drill restored and verified \
             the backed-up state, the live sample was not touched",
            s.memories_at_backup, s.memories_live_now
        ));
    }
    say(format!("logged to {}", log.display()));
    Ok(())
}
