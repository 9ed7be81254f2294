//! `status`: whether backups are fresh and proven (the newest snapshot, the last drill and
//! check, and their ages; the repository's size), and what an operator must know before the
//! next operation: an unfinished restore, leftovers of interrupted runs (in the backup dir and
//! beside the live stores), anything unrecognised, and who holds the backup dir's lock.
//! `--prometheus FILE` writes the same as node_exporter textfile metrics.

use anyhow::Result;
use backup_cli::json;
use backup_core::lock::{self, BACKUP_DIR_LOCK};
use backup_core::{Error, Orchestrator, RecordedPath};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::SystemTime;

use backup_core::{parse_rfc3339, span};
use backup_core::{Kind, Stamp, CHECK_LOG, DRILL_LOG};

use super::Ctx;
use crate::cli::StatusArgs;
use crate::exit_codes;
use crate::output::say;

/// What `status` says about freshness and proof.
struct Facts {
    newest_snapshot: Option<json::Dated>,
    newest_regular_snapshot: Option<json::Dated>,
    last_drill: Option<json::Dated>,
    last_successful_drill: Option<json::Dated>,
    last_check: Option<json::Dated>,
    last_clean_check: Option<json::Dated>,
}

/// A log line's moment, outcome, snapshot and detail.
type Line = (String, bool, Option<String>, Option<String>);

fn dated_stamp(s: &Stamp, now: i64) -> json::Dated {
    json::Dated {
        stamp: Some(s.to_string()),
        at: rfc3339_of(s.seconds()),
        age_seconds: Some(now - s.seconds()),
        ok: None,
        detail: None,
    }
}

fn dated_line((at, ok, stamp, detail): Line, now: i64) -> json::Dated {
    let age = parse_rfc3339(&at).map(|t| now - t);
    json::Dated {
        stamp,
        at,
        age_seconds: age,
        ok: Some(ok),
        detail,
    }
}

fn rfc3339_of(seconds: i64) -> String {
    let t = SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    backup_core::rfc3339(t)
}

/// The last line of a JSON-lines log, and the last one that passed, read as `pick` says
/// (lines it cannot read are passed over). A missing log has neither.
fn last_lines(
    path: &Path,
    pick: impl Fn(&serde_json::Value) -> Option<Line>,
) -> (Option<Line>, Option<Line>) {
    let Ok(f) = backup_core::fsio::open_regular(path) else {
        return (None, None);
    };
    let (mut last, mut last_ok) = (None, None);
    for line in BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        let Some(l) = serde_json::from_str(&line).ok().as_ref().and_then(&pick) else {
            continue;
        };
        if l.1 {
            last_ok = Some(l.clone());
        }
        last = Some(l);
    }
    (last, last_ok)
}

/// Bytes of every regular file below `dir` (symlinks are not followed).
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => todo.push(e.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics, in the text exposition format node_exporter's textfile collector reads.
fn prometheus(
    dir: &Path,
    snapshots: usize,
    f: &Facts,
    unfinished: bool,
    bytes: u64,
    now: i64,
) -> String {
    let l = format!("{{backup_dir=\"{}\"}}", label(&dir.to_string_lossy()));
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, value: Option<f64>| {
        out.push_str(&format!("# HELP atocore_backup_{name} {help}\n"));
        out.push_str(&format!("# TYPE atocore_backup_{name} gauge\n"));
        if let Some(v) = value {
            out.push_str(&format!("atocore_backup_{name}{l} {v}\n"));
        }
    };
    let at = |d: &Option<json::Dated>| {
        d.as_ref()
            .and_then(|d| parse_rfc3339(&d.at))
            .map(|t| t as f64)
    };
    metric(
        "snapshots",
        "Snapshots in the backup dir.",
        Some(snapshots as f64),
    );
    metric(
        "newest_snapshot_timestamp_seconds",
        "When the newest snapshot was taken (any kind).",
        at(&f.newest_snapshot),
    );
    metric(
        "newest_regular_snapshot_timestamp_seconds",
        "When the newest regular snapshot was taken.",
        at(&f.newest_regular_snapshot),
    );
    metric(
        "last_drill_timestamp_seconds",
        "When the last drill started, whatever its outcome.",
        at(&f.last_drill),
    );
    metric(
        "last_drill_ok",
        "1 when the last drill passed, 0 when it failed.",
        f.last_drill
            .as_ref()
            .and_then(|d| d.ok)
            .map(|ok| f64::from(u8::from(ok))),
    );
    metric(
        "last_successful_drill_timestamp_seconds",
        "When the last drill that passed started.",
        at(&f.last_successful_drill),
    );
    metric(
        "last_check_timestamp_seconds",
        "When the last repository check started, whatever its outcome.",
        at(&f.last_check),
    );
    metric(
        "last_check_clean",
        "1 when the last repository check found it clean, 0 when not.",
        f.last_check
            .as_ref()
            .and_then(|d| d.ok)
            .map(|ok| f64::from(u8::from(ok))),
    );
    metric(
        "last_clean_check_timestamp_seconds",
        "When the last check that found the repository clean started.",
        at(&f.last_clean_check),
    );
    metric(
        "repository_bytes",
        "Bytes of every file in the backup dir.",
        Some(bytes as f64),
    );
    metric(
        "unfinished_restore",
        "1 while a restore is unfinished (finish it with restore --resume or --rollback).",
        Some(f64::from(u8::from(unfinished))),
    );
    metric(
        "status_timestamp_seconds",
        "When this status was taken.",
        Some(now as f64),
    );
    out
}

/// Write `text` to `file` through a temporary name in its folder, fsynced, renamed over it.
fn write_metrics(file: &Path, text: &str) -> Result<()> {
    let parent = backup_core::fsio::parent_of(file);
    let name = backup_core::fsio::last_name(file)?;
    let dir = backup_core::Dir::open(parent)?;
    // node_exporter reads it as its own user.
    dir.write_atomic_mode(name, text.as_bytes(), 0o644)?;
    Ok(())
}

pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result<u8> {
    let dir = ctx.backup_dir()?;
    let store = ctx.store_for("status")?;
    let o = Orchestrator::new(&*store, &ctx.known);
    let (snapshots, mut leftovers) = o.list()?;
    let unrecognised = o.unrecognised()?;
    let journal = match o.unfinished() {
        Ok(j) => Some(j),
        Err(Error::NoUnfinishedRestore { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    leftovers.extend(o.temps_beside(&o.known_live_paths(&ctx.configured_paths())));
    let lock_path = dir.join(BACKUP_DIR_LOCK);
    let held = lock::is_held(&lock_path);
    let holder = held.then(|| lock::holder(&lock_path)).flatten();
    let now = Stamp::at(SystemTime::now()).seconds();
    let newest = snapshots.first().map(|(s, _)| dated_stamp(s, now));
    let newest_regular = snapshots
        .iter()
        .find(|(_, m)| m.as_ref().is_ok_and(|m| m.kind == Kind::Regular))
        .map(|(s, _)| dated_stamp(s, now));
    let drills = last_lines(&dir.join(DRILL_LOG), |v| {
        Some((
            v["started_at"].as_str()?.to_owned(),
            v["ok"].as_bool()?,
            v["stamp"].as_str().map(str::to_owned),
            None,
        ))
    });
    let checks = last_lines(&o.state_dir().join(CHECK_LOG), |v| {
        Some((
            v["started_at"].as_str()?.to_owned(),
            v["clean"].as_bool()?,
            None,
            v["read"].as_str().map(str::to_owned),
        ))
    });
    // A repository elsewhere: what it stores there (the local state folder is small).
    let bytes = match store.repo() {
        Some(r) if store.objects_remote() => {
            r.objects().list_sizes("")?.iter().map(|(_, n)| n).sum()
        }
        _ => tree_bytes(&dir),
    };
    let facts = Facts {
        newest_snapshot: newest,
        newest_regular_snapshot: newest_regular,
        last_drill: drills.0.map(|l| dated_line(l, now)),
        last_successful_drill: drills.1.map(|l| dated_line(l, now)),
        last_check: checks.0.map(|l| dated_line(l, now)),
        last_clean_check: checks.1.map(|l| dated_line(l, now)),
    };
    if let Some(file) = &args.prometheus {
        let text = prometheus(&dir, snapshots.len(), &facts, journal.is_some(), bytes, now);
        write_metrics(file, &text)?;
    }
    if ctx.global.json {
        let paths =
            |v: &[std::path::PathBuf]| v.iter().map(|p| RecordedPath::from_path(p)).collect();
        ctx.print_json(&json::Status {
            format_version: json::FORMAT_VERSION,
            backup_dir: RecordedPath::from_path(&dir),
            snapshots: snapshots.len(),
            unfinished_restore: journal.clone(),
            leftovers: paths(&leftovers),
            unrecognised: paths(&unrecognised),
            lock: json::LockState {
                held,
                holder: holder.clone(),
            },
            newest_snapshot: facts.newest_snapshot.clone(),
            newest_regular_snapshot: facts.newest_regular_snapshot.clone(),
            last_drill: facts.last_drill.clone(),
            last_successful_drill: facts.last_successful_drill.clone(),
            last_check: facts.last_check.clone(),
            last_clean_check: facts.last_clean_check.clone(),
            repository_bytes: bytes,
        })?;
        return Ok(exit_codes::OK);
    }
    if store.objects_remote() {
        say(format!(
            "repository: {} ({} snapshots, {}); local state folder: {}",
            store.location().display(),
            snapshots.len(),
            super::human_size(bytes),
            dir.display()
        ));
    } else {
        say(format!(
            "backup dir: {} ({} snapshots, {})",
            dir.display(),
            snapshots.len(),
            super::human_size(bytes)
        ));
    }
    let show = |what: &str, d: &Option<json::Dated>| match d {
        None => say(format!("{what}: none")),
        Some(d) => say(format!(
            "{what}: {}{} ({}{})",
            d.stamp
                .as_deref()
                .map(|s| format!("{s}, "))
                .unwrap_or_default(),
            d.at,
            d.age_seconds
                .map_or_else(|| "age unknown".to_owned(), |a| format!("{} ago", span(a))),
            match (d.ok, &d.detail) {
                (Some(false), _) => ", FAILED".to_owned(),
                (_, Some(r)) => format!(", read {r}"),
                _ => String::new(),
            }
        )),
    };
    show("newest snapshot", &facts.newest_snapshot);
    show("newest regular snapshot", &facts.newest_regular_snapshot);
    show("last drill", &facts.last_drill);
    show("last successful drill", &facts.last_successful_drill);
    show("last check", &facts.last_check);
    show("last clean check", &facts.last_clean_check);
    match &journal {
        None => say("unfinished restore: none"),
        Some(j) => {
            say(format!(
                "unfinished restore: {:?} to snapshot {} started {} (pre-restore snapshot: {})",
                j.phase,
                j.stamp,
                j.started_at,
                j.pre_restore_snapshot.as_deref().unwrap_or("none")
            ));
            for s in &j.steps {
                say(format!(
                    "  {}: {} {}",
                    s.id,
                    s.target.display(),
                    if s.switched {
                        "switched"
                    } else {
                        "not switched"
                    }
                ));
            }
        }
    }
    for l in &leftovers {
        say(format!("leftover: {} (remove with `cleanup`)", l.display()));
    }
    for u in &unrecognised {
        say(format!(
            "unrecognised: {} (not a snapshot, not a name atocore-backup makes; left alone)",
            u.display()
        ));
    }
    match (held, holder) {
        (true, Some(h)) => say(format!("lock: held by {h}")),
        (true, None) => say("lock: held"),
        (false, _) => say("lock: free"),
    }
    Ok(exit_codes::OK)
}
