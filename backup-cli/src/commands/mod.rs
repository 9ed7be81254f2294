//! One module per subcommand; this one holds what they share.

mod check;
mod cleanup;
mod copy;
mod create;
mod docs;
mod drill;
mod key;
mod list;
mod migrate;
mod prune;
mod remote;
mod restore;
mod service;
mod status;
mod validate;

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use std::sync::Arc;
use std::time::Duration;

use backup_core::{
    Component, Configured, Descriptor, FolderStore, LocalObjects, Manifest, ObjectStore,
    Orchestrator, Repository, SnapshotStore, Source, Stamp,
};
use serde::Serialize;
use serde_json::Value;

use crate::cli::{Command, Global, Parsed};
use crate::output;

/// What every command needs: the options and the known components.
pub struct Ctx {
    pub global: Global,
    /// The registration list.
    pub descriptors: &'static [&'static Descriptor],
    /// Every setting the components took from the command line or the environment.
    pub configured: Configured,
    /// The components, built from their descriptors, in the same order.
    pub known: Vec<Box<dyn Component>>,
}

impl Ctx {
    /// The backup dir, which every command but `drill --sample` needs: where a local
    /// repository is, or, with the repository on object storage, the local state folder
    /// (journal, locks, drill log, index cache): `--backup-dir` when given, else one per
    /// repository address under `$XDG_STATE_HOME` or `~/.local/state` (so a restore onto an
    /// empty host needs only the address, the credentials and the key).
    pub fn backup_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.global.backup_dir {
            return Ok(dir.clone());
        }
        if let Some(addr) = self.remote_address()? {
            return remote::default_state_dir(&addr);
        }
        Err(anyhow!(
            "no backup dir: pass --backup-dir DIR or set ATOCORE_BACKUP_DIR (or name a \
             repository on object storage with --repo s3://BUCKET/PREFIX)"
        ))
    }

    /// The repository on object storage, when one is named.
    pub fn remote_address(&self) -> Result<Option<backup_s3::Address>> {
        match &self.global.repo {
            None => Ok(None),
            Some(r) if backup_s3::Address::is_remote(r) => Ok(Some(backup_s3::Address::parse(r)?)),
            Some(r) => Err(anyhow!(
                "--repo {r}: only object storage (s3://BUCKET/PREFIX) is named this way; a \
                 local repository is the backup dir (--backup-dir)"
            )),
        }
    }

    /// The store: the repository (local or on object storage, sealed when a key is given),
    /// or the plain snapshot folders of a backup dir an earlier release made (until
    /// `migrate`). A new backup dir is a repository. A repository on object storage is
    /// leased for `command` (shared, or exclusive for what deletes) while the store lives.
    pub fn store_for(&self, command: &str) -> Result<Store> {
        let key = remote::key(&self.global)?;
        if let Some(addr) = self.remote_address()? {
            let state = self.backup_dir()?;
            let objects = remote::connect(&self.global, &addr)?;
            if key.is_none() && !self.global.insecure_no_encryption {
                bail!(
                    "{addr}: a repository on object storage is encrypted: give its key with \
                     --key-file FILE or ATOCORE_KEY_FILE (make one with `atocore-backup key \
                     generate FILE`), or pass --insecure-no-encryption to keep it readable \
                     by anyone who can read the bucket"
                );
            }
            let objects = remote::sealed(objects, key);
            let cache = remote::place_dir(&state, &addr.to_string()).join(backup_core::CACHE_DIR);
            let repo = Repository::with_state_and_cache(Arc::clone(&objects), state, cache);
            repo.check_access()?;
            let lease = remote::lease(&objects, command, self.lock_timeout())?;
            return Ok(Store {
                kind: StoreKind::Repository(Box::new(repo)),
                _lease: Some(lease),
            });
        }
        let dir = self.backup_dir()?;
        warn_if_open_to_others(&dir);
        let plain = !Repository::exists_in(&dir)?
            && backup_core::fsio::kind_of(&dir.join("snapshots"))?.is_some();
        let kind = if plain {
            if key.is_some() {
                bail!(
                    "{}: holds plain snapshot folders made by an earlier release, which are \
                     not encrypted: leave the key out, or `migrate` first",
                    dir.display()
                );
            }
            StoreKind::Folder(FolderStore::new(dir))
        } else {
            let local: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(&dir));
            let repo = Repository::with_state(remote::sealed(local, key), dir);
            repo.check_access()?;
            StoreKind::Repository(Box::new(repo))
        };
        Ok(Store { kind, _lease: None })
    }

    /// The second place at `addr` (object storage or a local folder), as a repository,
    /// leased for `command` when it is on object storage. Its key is --copy-to-key-file,
    /// else the repository's own; its index cache is kept in the state folder.
    pub fn secondary(&self, addr: &str, command: &str) -> Result<Store> {
        let key = match &self.global.copy_to_key_file {
            Some(f) => {
                let g = Global {
                    key_file: Some(f.clone()),
                    ..self.global.clone()
                };
                remote::key(&g)?
            }
            None => remote::key(&self.global)?,
        };
        let state = self.backup_dir()?;
        if backup_s3::Address::is_remote(addr) {
            let a = backup_s3::Address::parse(addr)?;
            if key.is_none() && !self.global.insecure_no_encryption {
                bail!(
                    "{a}: a copy on object storage is encrypted: give its key with \
                     --copy-to-key-file FILE (or the repository's own with --key-file), or \
                     pass --insecure-no-encryption"
                );
            }
            let objects = remote::sealed(remote::connect(&self.global, &a)?, key);
            let repo = Repository::with_state(
                Arc::clone(&objects),
                remote::place_dir(&state, &a.to_string()),
            );
            repo.check_access()?;
            let lease = remote::lease(&objects, command, self.lock_timeout())?;
            return Ok(Store {
                kind: StoreKind::Repository(Box::new(repo)),
                _lease: Some(lease),
            });
        }
        let dir = PathBuf::from(addr);
        let local: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(&dir));
        let repo = Repository::with_state(remote::sealed(local, key), dir);
        repo.check_access()?;
        Ok(Store {
            kind: StoreKind::Repository(Box::new(repo)),
            _lease: None,
        })
    }

    /// The store, for a command that only reads or adds.
    pub fn store(&self) -> Result<Store> {
        self.store_for("read")
    }

    /// The repository, for the commands only a repository has.
    pub fn repository(&self, command: &str) -> Result<Store> {
        let store = self.store_for(command)?;
        if let StoreKind::Folder(f) = &store.kind {
            bail!(
                "{}: holds plain snapshot folders made by an earlier release; {command} works \
                 on a repository: run `atocore-backup migrate` first (validate and restore \
                 work on plain folders as they are)",
                f.location().display()
            );
        }
        Ok(store)
    }

    /// The lock timeout asked for.
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs(self.global.lock_timeout)
    }

    /// An orchestrator over this backup dir; it locks each live store it writes or reads,
    /// and reports progress to the bar when one is drawn.
    pub fn orchestrator<'a>(&'a self, store: &'a dyn SnapshotStore) -> Orchestrator<'a> {
        let o = Orchestrator::new(store, &self.known).with_lock_timeout(self.lock_timeout());
        match crate::progress::receiver(!self.global.no_progress) {
            Some(p) => o.with_progress(p),
            None => o,
        }
    }

    /// The live stores configured now, in registration order, leaving out those in `skip`.
    pub fn sources(&self, skip: &[String]) -> Vec<Source> {
        self.descriptors
            .iter()
            .filter(|d| !skip.iter().any(|s| s == d.id))
            .filter_map(|d| {
                self.configured.get(d.path.flag).map(|p| Source {
                    id: d.id.to_owned(),
                    path: p.to_path_buf(),
                })
            })
            .collect()
    }

    /// The component `id`, if this build knows it.
    pub fn component(&self, id: &str) -> Option<&dyn Component> {
        self.known.iter().find(|c| c.id() == id).map(AsRef::as_ref)
    }

    /// Every live path configured now (flags or environment), Chroma included.
    pub fn configured_paths(&self) -> Vec<PathBuf> {
        self.sources(&[]).into_iter().map(|s| s.path).collect()
    }

    /// Print `value` as JSON on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<()> {
        output::stdout_line(&output::json_text(value)?);
        Ok(())
    }
}

/// A repository in any object store (a local folder or object storage, sealed or not).
pub type AnyRepository = Repository<Arc<dyn ObjectStore>>;

/// Where snapshots are kept, and the lease held on them.
pub struct Store {
    pub kind: StoreKind,
    _lease: Option<backup_core::Lease>,
}

/// Where a backup dir keeps its snapshots.
pub enum StoreKind {
    /// Plain folders, as earlier releases made them.
    Folder(FolderStore),
    /// A repository.
    Repository(Box<AnyRepository>),
}

impl Store {
    /// Whether the repository is on object storage.
    pub fn objects_remote(&self) -> bool {
        self.repo().is_some_and(|r| r.objects().is_remote())
    }

    /// The repository, if it is one.
    pub fn repo(&self) -> Option<&AnyRepository> {
        match &self.kind {
            StoreKind::Repository(r) => Some(r),
            StoreKind::Folder(_) => None,
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn SnapshotStore;
    fn deref(&self) -> &Self::Target {
        match &self.kind {
            StoreKind::Folder(f) => f,
            StoreKind::Repository(r) => r.as_ref(),
        }
    }
}

/// A backup dir that other users can change is a warning: anyone who can write there (or
/// replace it, through a folder above it) can delete backups or plant a snapshot; a restore
/// as root from there is refused by the orchestrator.
pub(super) fn warn_if_open_to_others(dir: &std::path::Path) {
    let found = backup_core::fsio::changeable_by_others(dir)
        .or_else(|| backup_core::fsio::entry_changeable_by_others(&dir.join("snapshots")))
        .or_else(|| backup_core::fsio::entry_changeable_by_others(&dir.join("objects")));
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

/// Where each store stood when captured: the cross-store facts `list` and `validate` show,
/// as each component describes them (SQLite's page count and versions, each Chroma
/// collection's queue position), as JSON and as phrases for one human line. A raw capture
/// says only that: nothing about its content is known.
pub fn where_stores_stood(ctx: &Ctx, m: &Manifest) -> (Value, Vec<String>) {
    let mut json = serde_json::Map::new();
    let mut text = Vec::new();
    for c in m.components.iter().filter(|c| c.present) {
        if c.facts.raw {
            json.insert(c.id.clone(), serde_json::json!({ "raw": true }));
            text.push(format!("{} raw files, unverified", c.id));
            continue;
        }
        if let Some(s) = ctx
            .component(&c.id)
            .and_then(|comp| comp.standing(&c.facts))
        {
            json.insert(c.id.clone(), s.json);
            text.extend(s.text);
        }
    }
    (Value::Object(json), text)
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

pub fn run(parsed: Parsed) -> Result<u8> {
    let Parsed { cli, configured } = parsed;
    let descriptors = backup_cli::components::KNOWN;
    let ctx = Ctx {
        known: backup_core::build_all(descriptors, &configured),
        descriptors,
        configured,
        global: cli.global,
    };
    match cli.command {
        Command::Create { skip } => create::run(&ctx, &skip),
        Command::List => list::run(&ctx),
        Command::Validate { stamp, deep } => validate::run(&ctx, &stamp, deep),
        Command::Restore(args) => restore::run(&ctx, &args),
        Command::Drill(args) => drill::run(&ctx, &args),
        Command::Cleanup => cleanup::run(&ctx),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Check(args) => check::run(&ctx, &args),
        Command::Prune(args) => prune::run(&ctx, &args),
        Command::Migrate => migrate::run(&ctx),
        Command::Key { action } => key::run(&ctx, &action),
        Command::Copy { to, stamps } => copy::run(&ctx, to.as_deref(), &stamps),
        Command::Completions { shell } => docs::completions(descriptors, shell),
        Command::Man { dir } => docs::man(descriptors, dir.as_deref()),
    }
}
