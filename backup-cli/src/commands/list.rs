//! `list`: snapshots newest first; leftovers and anything unrecognised reported on stderr. A
//! manifest that cannot be read is listed (as unreadable) and makes the exit code 1.

use anyhow::Result;
use backup_cli::json;
use backup_core::Orchestrator;

use super::{human_size, in_future, warn_unfinished, where_stores_stood, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let store = ctx.store_for("list")?;
    let o = Orchestrator::new(&*store, &ctx.known);
    let (mut snapshots, leftovers) = o.list()?;
    let here: std::collections::BTreeSet<backup_core::Stamp> =
        snapshots.iter().map(|(s, _)| s.clone()).collect();
    // With a second place: which snapshots it has, and those only it has.
    let second = match &ctx.global.copy_to {
        Some(addr) => {
            let theirs = (|| -> Result<_> {
                let dest = ctx.secondary(addr, "list")?;
                let d = Orchestrator::new(&*dest, &ctx.known);
                Ok(match d.list() {
                    Ok(l) => l.0,
                    Err(backup_core::Error::MissingBackupDir { .. }) => Vec::new(),
                    Err(e) => return Err(e.into()),
                })
            })();
            let theirs = match theirs {
                Ok(t) => t,
                Err(e) => {
                    output::warn(&format!(
                        "the second place {addr} cannot be listed, so where each snapshot is \
                         copied is not shown: {e:#}"
                    ));
                    Vec::new()
                }
            };
            let there: std::collections::BTreeSet<backup_core::Stamp> =
                theirs.iter().map(|(s, _)| s.clone()).collect();
            for (s, m) in theirs {
                if !snapshots.iter().any(|(h, _)| *h == s) {
                    snapshots.push((s, m));
                }
            }
            snapshots.sort_by(|a, b| b.0.cmp(&a.0));
            Some((addr.clone(), there))
        }
        None => None,
    };
    let places = |s: &backup_core::Stamp| -> Option<Vec<String>> {
        let (addr, there) = second.as_ref()?;
        let mut p = Vec::new();
        if here.contains(s) {
            p.push("here".to_owned());
        }
        if there.contains(s) {
            p.push(addr.clone());
        }
        Some(p)
    };
    let unrecognised = o.unrecognised()?;
    warn_unfinished(&o);
    for l in &leftovers {
        output::warn(&format!(
            "{} is left over from an interrupted run and is not a snapshot; \
             `atocore-backup cleanup` removes it",
            l.display()
        ));
    }
    for u in &unrecognised {
        output::warn(&format!(
            "{} is not a snapshot (a snapshot folder has a manifest) and not a name \
             atocore-backup makes: left alone; look at it and remove it by hand",
            u.display()
        ));
    }
    let mut unreadable = 0;
    for (stamp, m) in &snapshots {
        if let Err(e) = m {
            unreadable += 1;
            output::tell("unreadable", format!("snapshot {stamp}: {e}"));
        }
        if in_future(stamp) {
            output::warn(&format!(
                "snapshot {stamp} is stamped in the future of this machine's clock (the clock \
                 went back, or it came from another host): it is listed as the newest"
            ));
        }
    }
    let code = if unreadable > 0 {
        exit_codes::NO
    } else {
        exit_codes::OK
    };
    if ctx.global.json {
        let rows = snapshots
            .iter()
            .map(|(stamp, m)| {
                let row = json::ListedSnapshot {
                    stamp: stamp.to_string(),
                    places: places(stamp),
                    future: in_future(stamp),
                    error: None,
                    kind: None,
                    created_at: None,
                    size: None,
                    components: None,
                    manifest_format_version: None,
                    tool_version: None,
                    captured: None,
                };
                match m {
                    Ok(m) => json::ListedSnapshot {
                        kind: Some(m.kind.as_str().to_owned()),
                        created_at: Some(m.created_at.clone()),
                        size: Some(m.total_size()),
                        components: Some(
                            m.components
                                .iter()
                                .filter(|c| c.present)
                                .map(|c| c.id.clone())
                                .collect(),
                        ),
                        manifest_format_version: Some(m.format_version),
                        tool_version: Some(m.tool_version.clone()),
                        captured: Some(where_stores_stood(ctx, m).0),
                        ..row
                    },
                    Err(e) => json::ListedSnapshot {
                        error: Some(e.to_string()),
                        ..row
                    },
                }
            })
            .collect();
        ctx.print_json(&json::Listed {
            format_version: json::FORMAT_VERSION,
            snapshots: rows,
        })?;
        return Ok(code);
    }
    if snapshots.is_empty() {
        output::note(&format!("no snapshots in {}", ctx.backup_dir()?.display()));
    } else {
        say(format!(
            "{:<17} {:<12} {:<21} {:>10}  components",
            "stamp", "kind", "created", "size"
        ));
    }
    for (stamp, m) in &snapshots {
        match m {
            Ok(m) => {
                let comps: Vec<_> = m
                    .components
                    .iter()
                    .filter(|c| c.present)
                    .map(|c| c.id.as_str())
                    .collect();
                let at = match places(stamp) {
                    Some(p) if p.len() == 2 => "  (here and copied)".to_owned(),
                    Some(p) if p.first().is_some_and(|x| x == "here") => {
                        "  (here only, not copied yet)".to_owned()
                    }
                    Some(_) => "  (only in the copy)".to_owned(),
                    None => String::new(),
                };
                say(format!(
                    "{:<17} {:<12} {:<21} {:>10}  {}{}{at}",
                    stamp,
                    m.kind.as_str(),
                    m.created_at,
                    human_size(m.total_size()),
                    comps.join(","),
                    if in_future(stamp) {
                        "  (stamped in the future)"
                    } else {
                        ""
                    }
                ));
            }
            Err(e) => say(format!("{stamp:<17} unreadable: {e}")),
        }
    }
    Ok(code)
}
