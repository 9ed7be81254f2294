//! `restore STAMP`: over the live store behind the confirmation gate, or `--to DIR`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use backup_core::{RestoreOptions, RestoreReport, Targets};
use serde_json::json;

use super::{stamp, Ctx, OUTPUT_FORMAT_VERSION};
use crate::cli::RestoreArgs;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<u8> {
    let store = ctx.store()?;
    let o = ctx.orchestrator(&store);
    let _lock = if args.to.is_some() {
        ctx.lock_for_reading("restore")?
    } else {
        ctx.lock("restore")?
    };
    let report = if args.resume || args.rollback {
        if args.resume {
            o.resume(args.confirm_service_stopped)?
        } else {
            o.rollback(args.confirm_service_stopped)?
        }
    } else {
        let stamp = stamp(args.stamp.as_deref().unwrap_or_default())?;
        let targets = match &args.to {
            Some(dir) => Targets::Into(dir.clone()),
            None => Targets::Live(
                ctx.sources(true)
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
                skip: if args.no_chroma {
                    BTreeSet::from([backup_chroma::ID.to_owned()])
                } else {
                    BTreeSet::new()
                },
                protected: ctx.configured_paths(),
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
        if let Some(w) = c.facts.get("warnings").and_then(|w| w.as_array()) {
            for w in w {
                output::warn(&format!("{}: {}", c.id, w.as_str().unwrap_or_default()));
            }
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
        return ctx.print_json(&json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "stamp": report.stamp,
            "pre_restore_snapshot": report.pre_restore_snapshot,
            "db_restored": restored(report, backup_sqlite::ID),
            "registry_restored": restored(report, backup_registry::ID),
            "chroma_restored": restored(report, backup_chroma::ID),
            "restored_integrity_ok": report.verified(),
            "open_file_check": report.open_file_check,
            "components": report.components,
        }));
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
    }
    Ok(())
}
