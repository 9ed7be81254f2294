//! `create`: take a regular snapshot.

use anyhow::{bail, Context, Result};
use backup_core::Kind;
use serde_json::json;

use super::{human_size, in_future, Ctx, OUTPUT_FORMAT_VERSION};
use crate::exit_codes;
use crate::output::{self, jpath, say};

pub fn run(ctx: &Ctx, no_chroma: bool) -> Result<u8> {
    let sources = ctx.sources(!no_chroma);
    if ctx.global.db.is_none() {
        bail!("no database to back up: pass --db FILE or set ATOCORE_DB_PATH");
    }
    let store = ctx.store()?;
    let backup_root = ctx.backup_dir()?;
    // A backup dir that does not exist yet is made by the create itself, once the live
    // stores were checked (a create that fails on bad input leaves nothing behind).
    let _lock = ctx.lock("create")?;
    let o = ctx.orchestrator(&store);
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
    let dir = backup_root.join("snapshots").join(&m.stamp);
    for c in &m.components {
        if let Some(w) = c.facts.get("warnings").and_then(|w| w.as_array()) {
            for w in w {
                output::warn(&format!("{}: {}", c.id, w.as_str().unwrap_or_default()));
            }
        }
    }
    if ctx.global.json {
        let components: Vec<_> = m
            .components
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "present": c.present,
                    "source": m.sources.get(&c.id),
                    "files": c.files,
                    "facts": c.facts,
                })
            })
            .collect();
        ctx.print_json(&json!({
            "format_version": OUTPUT_FORMAT_VERSION,
            "stamp": m.stamp,
            "backup_root": jpath(&dir),
            "created_at": m.created_at,
            "components": components,
        }))?;
    } else {
        say(format!("stamp: {}", m.stamp));
        say(format!("backup_root: {}", dir.display()));
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
