//! `create`: take a regular snapshot.

use anyhow::{bail, Context, Result};
use backup_cli::json;
use backup_core::Kind;
use backup_core::RecordedPath;

use super::{human_size, in_future, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, skip: &[String]) -> Result<u8> {
    for d in ctx.descriptors.iter().filter(|d| d.required) {
        if skip.iter().any(|s| s == d.id) {
            bail!(
                "{} ({}) is in every snapshot and cannot be skipped",
                d.what,
                d.id
            );
        }
        if ctx.configured.get(d.path.flag).is_none() {
            bail!(
                "no {} to back up: pass --{} {} or set {}",
                d.what.trim_start_matches("the "),
                d.path.flag,
                d.path.value_name,
                d.path.env
            );
        }
    }
    let sources = ctx.sources(skip);
    let store = ctx.store_for("create")?;
    let backup_root = ctx.backup_dir()?;
    // The orchestrator takes the backup dir's lock. A backup dir that does not exist yet is
    // made by the create itself, once the live stores were checked (a create that fails on
    // bad input leaves nothing behind).
    let o = ctx.orchestrator(&*store);
    let ahead: Vec<String> = o
        .list()
        .map(|(snaps, _)| {
            snaps
                .into_iter()
                .filter(|(s, _)| in_future(s))
                .map(|(s, _)| s.to_string())
                .collect()
        })
        .unwrap_or_default();
    let m = o
        .create(&sources, Kind::Regular)
        .context("create failed, no snapshot was written")?;
    if !ahead.is_empty() {
        output::warn(&format!(
            "snapshot(s) {} are stamped later than this one ({}): the clock went back, or they \
             came from another host; `drill` and `list` take the latest stamp as the newest",
            ahead.join(", "),
            m.stamp
        ));
    }
    // A plain folder is the snapshot's own folder; a repository keeps it in its chunks.
    let (dir, stored) = match store.repo() {
        None => (backup_root.join("snapshots").join(&m.stamp), None),
        Some(r) if store.objects_remote() => (store.location().to_path_buf(), r.last_added()),
        Some(r) => (backup_root.clone(), r.last_added()),
    };
    for c in &m.components {
        for w in &c.facts.warnings {
            output::warn(&format!("{}: {w}", c.id));
        }
    }
    if ctx.global.json {
        ctx.print_json(&json::Created {
            format_version: json::FORMAT_VERSION,
            stamp: m.stamp.clone(),
            backup_root: RecordedPath::from_path(&dir),
            created_at: m.created_at.clone(),
            stored: stored.map(json::Stored::from),
            components: m
                .components
                .iter()
                .map(|c| json::CreatedComponent {
                    id: c.id.clone(),
                    present: c.present,
                    source: m.sources.get(&c.id).cloned(),
                    files: c.files.clone(),
                    facts: c.facts.clone(),
                })
                .collect(),
        })?;
    } else {
        say(format!("stamp: {}", m.stamp));
        say(format!("backup_root: {}", dir.display()));
        if let Some(a) = stored {
            say(format!(
                "stored: {} new of {} chunks, {} added to the repository for {} of files",
                a.new_chunks,
                a.chunks,
                human_size(a.pack_bytes),
                human_size(a.file_bytes)
            ));
        }
        for c in &m.components {
            let src = m
                .sources
                .get(&c.id)
                .map(|s| s.display())
                .unwrap_or_else(|| "?".into());
            if c.present {
                let size: u64 = c.files.iter().map(|f| f.size).sum();
                say(format!(
                    "{}: {} ({}, {} file(s))",
                    c.id,
                    src,
                    human_size(size),
                    c.files.len()
                ));
            } else {
                say(format!("{}: {} (absent, recorded as such)", c.id, src));
            }
        }
    }
    Ok(exit_codes::OK)
}
