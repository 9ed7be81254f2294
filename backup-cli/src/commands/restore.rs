//! `restore STAMP`: over the live store behind the confirmation gate, or `--to DIR`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use backup_cli::json;
use backup_cli::json::{ServiceRun, ServiceStep};
use backup_core::{Confirmation, RecordedPath, RestoreOptions, RestoreReport, Targets};

use super::service::{self, ServiceCommands};
use super::{stamp, Ctx};
use crate::cli::RestoreArgs;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<u8> {
    let store = ctx.store_for("restore")?;
    let o = ctx.orchestrator(&*store);
    let svc = ServiceCommands {
        stop: args.stop_cmd.clone(),
        start: args.start_cmd.clone(),
        health: args.health_cmd.clone(),
        stop_timeout: Duration::from_secs(args.stop_timeout),
        health_timeout: Duration::from_secs(args.health_timeout),
    };
    // The service commands wrap a restore over the live store only.
    let over_live = args.to.is_none() && !args.resume && !args.rollback;
    if svc.any() && over_live {
        if svc.health.is_some() && svc.start.is_none() {
            anyhow::bail!(
                "--health-cmd needs --start-cmd: the health of a service not started is not asked"
            );
        }
        return run_with_service(ctx, args, &o, &svc);
    }
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
            None => Targets::Live(live_targets(ctx)),
        };
        o.restore(
            &stamp,
            &options(ctx, args, targets, args.confirm_service_stopped),
        )?
    };
    print(ctx, &report, None)?;
    Ok(if report.verified() {
        exit_codes::OK
    } else {
        exit_codes::NO
    })
}

fn live_targets(ctx: &Ctx) -> BTreeMap<String, PathBuf> {
    ctx.sources(&[])
        .into_iter()
        .map(|s| (s.id, s.path))
        .collect::<BTreeMap<_, _>>()
}

fn options(ctx: &Ctx, args: &RestoreArgs, targets: Targets, confirmed: bool) -> RestoreOptions {
    RestoreOptions {
        targets,
        confirm_service_stopped: confirmed,
        pre_restore_snapshot: !args.no_pre_snapshot,
        skip: args.skip.iter().cloned().collect::<BTreeSet<_>>(),
        protected: ctx.configured_paths(),
        allow_schema_change: args.allow_schema_change,
    }
}

/// Say each service step on stderr.
fn tell_steps(steps: &[ServiceStep]) {
    for s in steps {
        let cmd = s
            .command
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let how = match (&s.problem, s.ok) {
            (None, _) => format!("ok in {} ms", s.ms),
            (Some(p), _) => format!("FAILED in {} ms: {p}", s.ms),
        };
        output::tell("service", format!("{}{cmd}: {how}", s.step));
    }
}

/// A live restore with the service's own stop, start and health commands around it: stop,
/// wait until nothing holds the live store open, restore, start only when verification
/// passed, wait until healthy. A restore refused before it changed anything starts the
/// service again as it was; one that changed the store and did not verify leaves it stopped.
fn run_with_service(
    ctx: &Ctx,
    args: &RestoreArgs,
    o: &backup_core::Orchestrator<'_>,
    svc: &ServiceCommands,
) -> Result<u8> {
    let stamp = stamp(args.stamp.as_deref().unwrap_or_default())?;
    let targets = live_targets(ctx);
    let mut steps = Vec::new();
    // The tool stops the service itself, and the gate checks that it did: `--stop-cmd` on
    // the command line is the operator's consent. A stop command from the environment or
    // the config file is not: a bare `restore STAMP` still needs --confirm-service-stopped.
    let confirmed =
        args.confirm_service_stopped || (svc.stop.is_some() && args.stop_cmd_on_command_line);
    if !confirmed {
        if svc.stop.is_some() {
            anyhow::bail!(
                "the stop command comes from ATOCORE_STOP_CMD or the config file: confirm this \
                 restore over the live store with --confirm-service-stopped (the service is \
                 then stopped with it), or give --stop-cmd; nothing was changed"
            );
        }
        return Err(backup_core::Error::NotConfirmed.into());
    }
    // Start the service again after a restore that changed nothing.
    let start_again = |steps: &mut Vec<ServiceStep>, why: &str| match (&svc.stop, &svc.start) {
        (Some(_), Some(cmd)) => {
            let s = service::step("start", cmd, svc.health_timeout);
            steps.push(s);
        }
        _ => steps.push(service::skipped("start", svc.start.as_deref(), why)),
    };
    if let Some(cmd) = &svc.stop {
        let s = service::step("stop", cmd, svc.stop_timeout);
        let problem = s.problem.clone();
        steps.push(s);
        if let Some(p) = problem {
            tell_steps(&steps);
            anyhow::bail!("{p}; nothing was restored, and the service was not started again");
        }
    }
    let w = service::wait_released(o, &targets, svc.stop_timeout);
    let problem = w.problem.clone();
    steps.push(w);
    if let Some(p) = problem {
        start_again(&mut steps, "nothing was restored");
        tell_steps(&steps);
        anyhow::bail!("{p}; nothing was restored");
    }
    let t = Instant::now();
    let result = o.restore(&stamp, &options(ctx, args, Targets::Live(targets), true));
    let took = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    let report = match result {
        Err(e) => {
            // Changed: a journal says a restore is unfinished (whatever the error), or the
            // error says so. Stopped by a signal: the operator wants it to stop, not to start.
            let interrupted = matches!(e, backup_core::Error::Interrupted { .. })
                || backup_core::interrupt::requested().is_some();
            let changed = o.unfinished().is_ok()
                || matches!(
                    e,
                    backup_core::Error::Unfinished { .. }
                        | backup_core::Error::SwitchIncomplete { .. }
                );
            let untouched = !changed && !interrupted;
            steps.push(service::record(
                "restore",
                None,
                1,
                took,
                None,
                Some(e.to_string()),
            ));
            if untouched {
                start_again(&mut steps, "the restore failed before it changed anything");
            } else if !changed {
                steps.push(service::skipped(
                    "start",
                    svc.start.as_deref(),
                    "stopped by a signal: the service is left stopped",
                ));
            } else {
                steps.push(service::skipped(
                    "start",
                    svc.start.as_deref(),
                    "the restore stopped part-way: the service is left stopped until the \
                     restore is finished (--resume or --rollback)",
                ));
            }
            tell_steps(&steps);
            return Err(e.into());
        }
        Ok(r) => r,
    };
    let verified = report.verified();
    let problem = (!verified).then(|| "verification failed".to_owned());
    steps.push(service::record("restore", None, 1, took, None, problem));
    let mut started = false;
    let mut healthy = None;
    if !verified {
        steps.push(service::skipped(
            "start",
            svc.start.as_deref(),
            "verification of the restored store failed: the service is left stopped (see the \
             problems above; restore the pre-restore snapshot to go back)",
        ));
    } else if let Some(cmd) = &svc.start {
        let s = service::step("start", cmd, svc.health_timeout);
        started = s.ok;
        steps.push(s);
        if let (true, Some(h)) = (started, &svc.health) {
            let s = service::wait_healthy(h, svc.health_timeout);
            healthy = Some(s.ok);
            steps.push(s);
        }
    }
    tell_steps(&steps);
    let ok = verified && (svc.start.is_none() || started) && healthy.unwrap_or(true);
    print(
        ctx,
        &report,
        Some(ServiceRun {
            steps,
            started,
            healthy,
        }),
    )?;
    Ok(if ok { exit_codes::OK } else { exit_codes::NO })
}

fn restored(report: &RestoreReport, id: &str) -> bool {
    report.component(id).is_some_and(|c| c.restored)
}

fn print(ctx: &Ctx, report: &RestoreReport, service: Option<ServiceRun>) -> Result<()> {
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
            service,
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
