//! `list`: snapshots newest first; leftovers reported on stderr.

use anyhow::Result;
use backup_core::Orchestrator;
use serde_json::json;

use super::{human_size, warn_unfinished, where_stores_stood, Ctx};
use crate::exit_codes;

pub fn run(ctx: &Ctx) -> Result<u8> {
    let store = ctx.store()?;
    let o = Orchestrator::new(&store, &ctx.known);
    let (snapshots, leftovers) = o.list()?;
    warn_unfinished(&o);
    for l in &leftovers {
        eprintln!(
            "warning: {} is left over from an interrupted run and is not a snapshot; \
             `atocore-backup cleanup` removes it",
            l.display()
        );
    }
    if ctx.global.json {
        let rows: Vec<_> = snapshots
            .iter()
            .map(|(stamp, m)| match m {
                Ok(m) => json!({
                    "stamp": stamp.as_str(),
                    "kind": m.kind.as_str(),
                    "created_at": m.created_at,
                    "size": m.total_size(),
                    "components": m.components.iter().filter(|c| c.present).map(|c| &c.id).collect::<Vec<_>>(),
                    "format_version": m.format_version,
                    "tool_version": m.tool_version,
                    "captured": where_stores_stood(m),
                }),
                Err(e) => json!({ "stamp": stamp.as_str(), "error": e.to_string() }),
            })
            .collect();
        ctx.print_json(&rows)?;
        return Ok(exit_codes::OK);
    }
    if snapshots.is_empty() {
        eprintln!("no snapshots in {}", ctx.backup_dir()?.display());
    } else {
        println!(
            "{:<17} {:<12} {:<21} {:>10}  components",
            "stamp", "kind", "created", "size"
        );
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
                println!(
                    "{:<17} {:<12} {:<21} {:>10}  {}",
                    stamp,
                    m.kind.as_str(),
                    m.created_at,
                    human_size(m.total_size()),
                    comps.join(",")
                );
            }
            Err(e) => println!("{stamp:<17} unreadable: {e}"),
        }
    }
    Ok(exit_codes::OK)
}
