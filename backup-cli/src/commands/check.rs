//! `check [--read-data | --read-data-subset N/M|P%]`: the whole repository.

use anyhow::{anyhow, Result};
use backup_cli::json;
use backup_core::ReadData;

use super::{human_size, Ctx};
use crate::cli::CheckArgs;
use crate::exit_codes;
use crate::output::{self, say};

pub fn run(ctx: &Ctx, args: &CheckArgs) -> Result<u8> {
    let read = match (&args.read_data_subset, args.read_data) {
        (Some(s), _) => {
            ReadData::parse_subset(s).map_err(|e| anyhow!("--read-data-subset: {e}"))?
        }
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let store = ctx.repository("check")?;
    let repo = store.repo().ok_or_else(|| anyhow!("not a repository"))?;
    let o = ctx.orchestrator(repo);
    let r = o.check(repo, read)?;
    let clean = r.problems.is_empty();
    if ctx.global.json {
        ctx.print_json(&json::Checked {
            format_version: json::FORMAT_VERSION,
            clean,
            snapshots: r.snapshots,
            packs: r.packs,
            packs_read: r.packs_read,
            bytes_read: r.bytes_read,
            problems: r
                .problems
                .iter()
                .map(|p| json::CheckProblem {
                    what: p.what.clone(),
                    problem: p.problem.clone(),
                })
                .collect(),
            affected_snapshots: r.affected.iter().cloned().collect(),
            notes: r.notes.clone(),
        })?;
    } else {
        say(format!(
            "{} snapshots, {} packs; read {} packs ({})",
            r.snapshots,
            r.packs,
            r.packs_read,
            human_size(r.bytes_read)
        ));
        for n in &r.notes {
            output::tell("note", n);
        }
        if clean {
            say("the repository checks clean");
        } else {
            for p in &r.problems {
                output::tell("problem", format!("{}: {}", p.what, p.problem));
            }
            say(format!(
                "the repository has {} problems; affected snapshots: {}",
                r.problems.len(),
                if r.affected.is_empty() {
                    "none".to_owned()
                } else {
                    r.affected.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ));
        }
    }
    Ok(if clean {
        exit_codes::OK
    } else {
        exit_codes::NO
    })
}
