//! One module per subcommand; this one holds what they share.

mod cleanup;
mod create;
mod drill;
mod list;
mod restore;
mod validate;

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use backup_core::{Component, FolderStore, Source, Stamp};
use serde::Serialize;

use crate::cli::{Cli, Command, Global};

/// Version of the JSON printed by `--json`. Bumped when a key changes meaning or goes away.
pub const OUTPUT_FORMAT_VERSION: u32 = 1;

/// What every command needs: the options and the known components.
pub struct Ctx {
    pub global: Global,
    pub known: Vec<Box<dyn Component>>,
}

impl Ctx {
    /// The backup dir, which every command but `drill --sample` needs.
    pub fn backup_dir(&self) -> Result<PathBuf> {
        self.global.backup_dir.clone().ok_or_else(|| {
            anyhow!("no backup dir: pass --backup-dir DIR or set ATOCORE_BACKUP_DIR")
        })
    }

    pub fn store(&self) -> Result<FolderStore> {
        Ok(FolderStore::new(self.backup_dir()?))
    }

    /// The live stores configured now, by component id.
    pub fn sources(&self) -> Vec<Source> {
        let mut out = Vec::new();
        if let Some(p) = &self.global.db {
            out.push(Source {
                id: backup_sqlite::ID.into(),
                path: p.clone(),
            });
        }
        if let Some(p) = &self.global.registry {
            out.push(Source {
                id: backup_registry::ID.into(),
                path: p.clone(),
            });
        }
        out
    }

    pub fn warn_chroma_ignored(&self) {
        if let Some(p) = &self.global.chroma {
            eprintln!(
                "warning: this version does not back up Chroma yet; {} is ignored",
                p.display()
            );
        }
    }

    /// Print `value` as JSON on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// Parse a stamp argument before it becomes a path.
pub fn stamp(s: &str) -> Result<Stamp> {
    Ok(Stamp::parse(s)?)
}

/// Human-readable byte count.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn run(cli: Cli) -> Result<u8> {
    let ctx = Ctx {
        global: cli.global,
        known: crate::components::known_components(),
    };
    match cli.command {
        Command::Create => create::run(&ctx),
        Command::List => list::run(&ctx),
        Command::Validate { stamp } => validate::run(&ctx, &stamp),
        Command::Restore(args) => restore::run(&ctx, &args),
        Command::Drill(args) => drill::run(&ctx, &args),
        Command::Cleanup => cleanup::run(&ctx),
    }
}
