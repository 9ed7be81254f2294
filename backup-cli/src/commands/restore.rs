//! `restore STAMP`: over the live store behind the confirmation gate, or `--to DIR`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use backup_cli::json;
use backup_core::{Confirmation, RecordedPath, RestoreOptions, RestoreReport, Targets};

use super::{stamp, Ctx};
use crate::cli::RestoreArgs;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<u8> {
    let store = ctx.store()?;
    let o = ctx.orchestrator(&*store);
    let report = if args.resume || args.rollback {
        if args.resume {
            o.resume(Confirmation::given(args.confirm_service_stopped))?
        } else {
            o.rollback(Confirmation::given(args.confirm_service_stopped))?
        }
    } else {
        let stamp = stamp(args.stamp.as_deref().unwrap_or_default())?;
        let targets = match &args.to {
            Some(dir) => Targets::Into(dir.clone()),
            None => Targets::Live(
                ctx.sources(&[])
                    .into_iter()
                    .map(|s| (s.id, s.path))
                    .collect::<BTreeMap<_, _>>(),
            ),
        };
        o.restore(
            &stamp,
            &RestoreOptions {
                targets,
                confirm_service_stopped: args.confirm_service_stopped,
                pre_restore_snapshot: !args.no_pre_snapshot,
                skip: args.skip.iter().cloned().collect::<BTreeSet<_>>(),
                protected: ctx.configured_paths(),
                allow_schema_change: args.allow_schema_change,
            },
        )?
    };
    print(ctx, &report)?;
    Ok(if report.verified() {
        exit_codes::OK
    } else {
        exit_codes::NO
    })
}

fn restored(report: &RestoreReport, id: &str) -> bool {
    report.component(id).is_some_and(|c| c.restored)
}

fn print(ctx: &Ctx, report: &RestoreReport) -> Result<()> {
    for n in &report.notes {
        output::note(n);
    }
    match &report.open_file_check {
        Some(scan) if !scan.available => output::warn(
            "/proc could not be read, so no check was made for processes holding the live \
             store open; make sure the service is stopped",
        ),
        Some(scan) if scan.uninspectable > 0 => output::warn(&format!(
            "{} processes could not be inspected (other users'); a service running as \
             another user would not have been seen: run as root or as the service's user",
            scan.uninspectable
        )),
        _ => {}
    }
    for c in &report.components {
        if c.target_from_manifest {
            output::note(&format!(
                "no live path given for {}; using the one recorded in the manifest: {}",
                c.id,
                c.target.display()
            ));
        }
        for w in &c.facts.warnings {
            output::warn(&format!("{}: {w}", c.id));
        }
        for p in &c.problems {
            output::tell("verification failed", p);
        }
    }
    if let Some(sig) = backup_core::interrupt::requested() {
        output::warn(&format!(
            "{} arrived after every store was switched: the restore itself completed; \
             what verification did not finish is reported above as problems",
            backup_core::signal_name(sig)
        ));
    }
    if ctx.global.json {
        return ctx.print_json(&json::Restored {
            format_version: json::FORMAT_VERSION,
            stamp: report.stamp.clone(),
            pre_restore_snapshot: report.pre_restore_snapshot.clone(),
            restored_integrity_ok: report.verified(),
            open_file_check: report.open_file_check.clone(),
            notes: report.notes.clone(),
            components: report
                .components
                .iter()
                .map(|c| json::RestoredComponent {
                    id: c.id.clone(),
                    target: RecordedPath::from_path(&c.target),
                    target_from_manifest: c.target_from_manifest,
                    restored: c.restored,
                    facts: c.facts.clone(),
                    problems: c.problems.clone(),
                    evidence: c.evidence.clone(),
                })
                .collect(),
            restored: ctx
                .descriptors
                .iter()
                .map(|d| (d.restored_key.to_owned(), restored(report, d.id).into()))
                .collect(),
        });
    }
    say(format!("restored snapshot {}", report.stamp));
    match &report.pre_restore_snapshot {
        Some(s) => say(format!("pre-restore snapshot: {s} (restore it to undo)")),
        None => say("pre-restore snapshot: none"),
    }
    for c in &report.components {
        let state = match (c.restored, c.problems.is_empty()) {
            (false, _) => "not in the snapshot, left alone".to_owned(),
            (true, true) => "restored, verified".to_owned(),
            (true, false) => format!(
                "restored, VERIFICATION FAILED ({} problem(s))",
                c.problems.len()
            ),
        };
        say(format!("{}: {} ({state})", c.id, c.target.display()));
        output::proofs(&c.evidence);
    }
    Ok(())
}
