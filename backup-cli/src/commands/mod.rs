//! One module per subcommand; this one holds what they share.

mod cleanup;
mod create;
mod drill;
mod list;
mod restore;
mod status;
mod validate;

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use std::time::Duration;

use backup_core::lock::OperationLocks;
use backup_core::{Component, FolderStore, Manifest, Orchestrator, Source, Stamp};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::{Cli, Command, Global};
use crate::output;

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
        let dir = self.backup_dir()?;
        warn_if_open_to_others(&dir);
        Ok(FolderStore::new(dir))
    }

    /// The lock timeout asked for.
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs(self.global.lock_timeout)
    }

    /// An orchestrator over this backup dir; it locks each live store it writes or reads.
    pub fn orchestrator<'a>(&'a self, store: &'a FolderStore) -> Orchestrator<'a> {
        Orchestrator::new(store, &self.known).with_lock_timeout(self.lock_timeout())
    }

    /// Take the backup dir's lock for an operation that writes there, saying what to do
    /// instead when the backup dir is read-only.
    pub fn lock(&self, command: &str) -> Result<Option<OperationLocks>> {
        self.try_lock(command).map_err(|e| {
            if read_only(&e) {
                e.context(format!(
                    "{command} writes into the backup dir (its journal, snapshots or scratch \
                     folder), which is on a read-only file system: `restore STAMP --to DIR` \
                     and `validate` work from it; otherwise copy the snapshot folder into a \
                     writable backup dir"
                ))
            } else {
                e
            }
        })
    }

    /// The backup dir's lock. A backup dir that does not exist has nothing to guard (the
    /// operation itself then says it is missing).
    fn try_lock(&self, command: &str) -> Result<Option<OperationLocks>> {
        let dir = self.backup_dir()?;
        if !dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(OperationLocks::acquire(
            Some(&dir),
            &[],
            command,
            self.lock_timeout(),
        )?))
    }

    /// The backup dir's lock for an operation that only reads the backup dir (`restore --to`).
    /// A backup dir on read-only media (an off-site copy mounted read-only, as it should be)
    /// cannot hold a lock file, and nothing can change it from here either: then the
    /// operation goes on without the lock, and says so.
    pub fn lock_for_reading(&self, command: &str) -> Result<Option<OperationLocks>> {
        match self.try_lock(command) {
            Err(e) if read_only(&e) => {
                output::note(&format!(
                    "the backup dir {} is read-only; reading it without its lock",
                    self.backup_dir()?.display()
                ));
                Ok(None)
            }
            other => other,
        }
    }

    /// The live stores configured now, by component id.
    pub fn sources(&self, with_chroma: bool) -> Vec<Source> {
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
        if let (Some(p), true) = (&self.global.chroma, with_chroma) {
            out.push(Source {
                id: backup_chroma::ID.into(),
                path: p.clone(),
            });
        }
        out
    }

    /// Every live path configured now (flags or environment), Chroma included.
    pub fn configured_paths(&self) -> Vec<PathBuf> {
        self.sources(true).into_iter().map(|s| s.path).collect()
    }

    /// Print `value` as JSON on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<()> {
        output::stdout_line(&output::json_text(value)?);
        Ok(())
    }
}

/// A backup dir that other users can change is a warning: anyone who can write there (or
/// replace it, through a folder above it) can delete backups or plant a snapshot; a restore
/// as root from there is refused by the orchestrator.
fn warn_if_open_to_others(dir: &std::path::Path) {
    let found = backup_core::fsio::changeable_by_others(dir)
        .or_else(|| backup_core::fsio::entry_changeable_by_others(&dir.join("snapshots")));
    if let Some((path, why)) = found {
        output::warn(&format!(
            "the backup dir {} can be changed by others: {} {why}; anyone who can do that can \
             delete or replace backups: make it and the folders above it root's \
             (`chown root: … && chmod 700 …`)",
            dir.display(),
            path.display()
        ));
    }
}

/// Where each store stood when captured: the cross-store facts `list` and `validate` show
/// (SQLite page count and versions, each Chroma collection's queue position). SQLite's
/// `data_version` is not among them: it is per connection, so not comparable across processes.
pub fn where_stores_stood(m: &Manifest) -> Value {
    let mut out = serde_json::Map::new();
    for c in m.components.iter().filter(|c| c.present) {
        let f = &c.facts;
        if f.get("raw") == Some(&Value::Bool(true)) {
            // Raw files of a store that could not be read: nothing about its content is known.
            out.insert(c.id.clone(), json!({ "raw": true }));
            continue;
        }
        let v = match c.id.as_str() {
            backup_sqlite::ID => json!({
                "page_count": f.get("page_count"),
                "user_version": f.get("user_version"),
                "schema_version": f.get("schema_version"),
            }),
            backup_chroma::ID => {
                let cols: serde_json::Map<String, Value> = f
                    .get("collections")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|col| {
                        (
                            col["name"].as_str().unwrap_or_default().to_owned(),
                            json!({
                                "vector_max_seq_id": col["vector_max_seq_id"],
                                "pending_queue_rows": col["pending_queue_rows"],
                                "element_count": col["element_count"],
                            }),
                        )
                    })
                    .collect();
                json!({ "collections": cols })
            }
            _ => continue,
        };
        out.insert(c.id.clone(), v);
    }
    Value::Object(out)
}

/// One line of human text for [`where_stores_stood`].
pub fn stood_line(stood: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(obj) = stood.as_object() {
        for (id, v) in obj {
            if v["raw"] == true {
                parts.push(format!("{id} raw files, unverified"));
            }
        }
    }
    if let Some(s) = stood.get("sqlite").filter(|s| s["raw"] != true) {
        parts.push(format!("sqlite {} pages", s["page_count"]));
    }
    if let Some(cols) = stood
        .get("chroma")
        .and_then(|c| c["collections"].as_object())
    {
        for (name, c) in cols {
            match c["vector_max_seq_id"].as_i64() {
                Some(seq) => parts.push(format!("chroma '{name}' indexed to seq {seq}")),
                None => parts.push(format!("chroma '{name}' not indexed yet")),
            }
        }
    }
    parts.join(", ")
}

/// Say on stderr that a restore is unfinished, and which components it already switched.
pub fn warn_unfinished(o: &Orchestrator<'_>) {
    match o.unfinished() {
        Ok(j) => {
            let (done, todo): (Vec<_>, Vec<_>) = j.steps.iter().partition(|s| s.switched);
            let names = |v: &[&backup_core::Step]| {
                let n: Vec<&str> = v.iter().map(|s| s.id.as_str()).collect();
                if n.is_empty() {
                    "none".to_owned()
                } else {
                    n.join(", ")
                }
            };
            output::warn(&format!(
                "an unfinished restore of snapshot {} (started {}; switched: {}; not \
                 switched: {}) blocks create, restore and drill: run `restore --resume` or \
                 `restore --rollback` with --confirm-service-stopped (see `status`)",
                j.stamp,
                j.started_at,
                names(&done),
                names(&todo)
            ));
        }
        Err(backup_core::Error::NoUnfinishedRestore { .. }) => {}
        Err(e) => output::warn(&e.to_string()),
    }
}

/// Whether `e` is the backup dir refusing a write because its file system is read-only.
pub fn read_only(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<backup_core::Error>(),
        Some(backup_core::Error::Io { cause, .. })
            if cause.kind() == std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Whether a snapshot's stamp lies in the future of this machine's clock (the clock went
/// back, or the snapshot came from a host whose clock is ahead): "newest" is then not the
/// latest one taken.
pub fn in_future(stamp: &Stamp) -> bool {
    stamp > &Stamp::at(std::time::SystemTime::now())
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
        known: crate::components::known_components(&cli.global),
        global: cli.global,
    };
    match cli.command {
        Command::Create { no_chroma } => create::run(&ctx, no_chroma),
        Command::List => list::run(&ctx),
        Command::Validate { stamp } => validate::run(&ctx, &stamp),
        Command::Restore(args) => restore::run(&ctx, &args),
        Command::Drill(args) => drill::run(&ctx, &args),
        Command::Cleanup => cleanup::run(&ctx),
        Command::Status => status::run(&ctx),
    }
}
