//! [`Repository`]: snapshots as deduplicated, compressed chunks in immutable packs, in any
//! [`ObjectStore`] (docs/repository.md).
//!
//! Layout (keys): `config` (written once), `packs/<id>` (frames of chunks and their table;
//! the id is the SHA-256 of the pack's bytes), `index/<id>` (a copy of pack `<id>`'s table),
//! `snapshots/<stamp>/backup-metadata.json` (the manifest, format 3: every file's size,
//! SHA-256 and chunk list; written last), `uploads/<stamp>` (a snapshot being stored), and
//! `prune/<id>` (a prune in progress). Objects are written once and never changed or renamed.
//!
//! # Invariant
//! - A manifest is put only after every chunk it lists is in a pack that was put, with that
//!   pack's index object.
//! - The local index is a cache of the `index/` objects (and, where one is missing, of the
//!   packs' own tables); nothing read through it is trusted without its chunk hash.
//! - Nothing is deleted but by `prune` (snapshots it removes, then data no manifest needs)
//!   and `cleanup` (uploads that never finished).

mod check;
mod chunker;
mod index;
mod pack;
mod prune;
mod reader;
mod serials;
mod write;

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::objects::{already_exists, key, marker};
use super::{Listing, LocalObjects, ObjectSnapshotStore, ObjectStore, Pending, SnapshotStore};
use crate::error::{Error, Problem, Result};
use crate::fsio::{self, Dir};
use crate::manifest::{FileEntry, Manifest, FORMAT_VERSION, MANIFEST_NAME, PENDING_SHA256};
use crate::stamp::Stamp;

pub use check::{CheckReport, Found, ReadData};
pub use prune::{plan, Policy, PrunePlan, PruneReport, Reason};
pub use write::Added;

pub(crate) const PACK_PREFIX: &str = "packs/";
pub(crate) const INDEX_PREFIX: &str = "index/";
pub(crate) const PRUNE_PREFIX: &str = "prune/";
const CONFIG: &str = "config";
/// Put under a snapshot's stamp before its manifest: a stamp that has it but lost its
/// manifest is a damaged snapshot, never nothing (so `list` says so and `drill` fails on it
/// rather than drilling an older one). Its bytes are the manifest's SHA-256.
pub(crate) const SEAL: &str = "seal";
const CONFIG_FORMAT: &str = "atocore-backup repository";
const CONFIG_VERSION: u32 = 1;
/// The cache folder's name inside the state folder.
pub const CACHE_DIR: &str = "cache";

/// Whether `n` is an id: 64 lower-case hex digits.
pub(crate) fn is_id(n: &str) -> bool {
    n.len() == 64
        && n.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The repository's `config` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    format: String,
    version: u32,
    /// Random id: the local index knows which repository it caches.
    id: String,
    /// The cutting rules, recorded for readers (a reader never needs them: manifests list
    /// the chunks).
    chunking: serde_json::Value,
    /// How every other object is sealed; absent for a repository in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<super::super::Encryption>,
}

struct Opened {
    index: index::Index,
    /// The cache folder; None when it cannot be made (a read-only backup dir).
    cache: Option<Dir>,
    synced: index::Synced,
}

/// A repository of snapshots in `O`.
pub struct Repository<O: ObjectStore> {
    objects: Arc<O>,
    snaps: ObjectSnapshotStore<Arc<O>>,
    cache: PathBuf,
    state_default: Option<PathBuf>,
    opened: Mutex<Option<Opened>>,
    manifest: Mutex<Option<(Stamp, Arc<Manifest>)>>,
    last_added: Mutex<Option<Added>>,
}

/// The opened repository, held (one thread at a time uses the index's connection).
struct Held<'a>(MutexGuard<'a, Option<Opened>>);

impl std::ops::Deref for Held<'_> {
    type Target = Opened;
    fn deref(&self) -> &Opened {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("set when made"))
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Opened {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("set when made"))
    }
}

/// `m` locked; a lock poisoned by a panic elsewhere still guards plain data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<O: ObjectStore> std::fmt::Debug for Repository<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.objects.location())
            .field("cache", &self.cache)
            .finish()
    }
}

impl Repository<LocalObjects> {
    /// The repository kept in backup dir `dir`: objects in `<dir>/objects/`, the local index
    /// in `<dir>/cache/`, and `dir` the default state folder.
    pub fn in_folder(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let mut r = Repository::new(LocalObjects::new(&dir), dir.join(CACHE_DIR));
        r.state_default = Some(dir);
        r
    }

    /// Whether backup dir `dir` holds a repository.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be looked at.
    pub fn exists_in(dir: &Path) -> Result<bool> {
        Ok(LocalObjects::new(dir)
            .list(CONFIG)?
            .iter()
            .any(|k| k == CONFIG))
    }
}

impl<O: ObjectStore + 'static> Repository<O> {
    /// A repository in `objects` on another host, with the local state folder `state`: the
    /// journal, locks, drill log, scratch space and the index cache (`<state>/cache`).
    pub fn with_state(objects: O, state: impl Into<PathBuf>) -> Self {
        let state = state.into();
        let mut r = Repository::new(objects, state.join(CACHE_DIR));
        r.state_default = Some(state);
        r
    }

    /// Check that this run may read and write the repository as it was made: with its key
    /// when it is encrypted, without one when it is not. Nothing to check when there is no
    /// repository yet.
    ///
    /// # Errors
    /// [`Error::WrongKey`]; [`Error::BadPath`] for an unreadable config; [`Error::Io`].
    pub fn check_access(&self) -> Result<()> {
        match self.read_config()? {
            Some(c) => self.check_encryption(&c),
            None => Ok(()),
        }
    }

    /// [`Repository::with_state`], the index cache kept in the folder `cache` instead.
    pub fn with_state_and_cache(
        objects: O,
        state: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
    ) -> Self {
        let mut r = Repository::new(objects, cache);
        r.state_default = Some(state.into());
        r
    }

    /// Whether the repository exists (its config is there).
    ///
    /// # Errors
    /// [`Error::Io`] when that cannot be told.
    pub fn exists(&self) -> Result<bool> {
        Ok(self.objects.list(CONFIG)?.iter().any(|k| k == CONFIG))
    }

    /// A repository in `objects`, its local index kept in the folder `cache`.
    pub fn new(objects: O, cache: impl Into<PathBuf>) -> Self {
        let objects = Arc::new(objects);
        Repository {
            snaps: ObjectSnapshotStore::new(Arc::clone(&objects)),
            objects,
            cache: cache.into(),
            state_default: None,
            opened: Mutex::new(None),
            manifest: Mutex::new(None),
            last_added: Mutex::new(None),
        }
    }

    /// The object store underneath.
    pub fn objects(&self) -> &O {
        &self.objects
    }

    /// What the last stored snapshot added (for reports and tests).
    pub fn last_added(&self) -> Option<Added> {
        *lock(&self.last_added)
    }

    fn config_path(&self) -> PathBuf {
        self.objects.describe(CONFIG)
    }

    fn read_config(&self) -> Result<Option<Config>> {
        let bad = |problem: String| Error::BadPath {
            path: self.config_path(),
            problem,
        };
        let mut r = match self.objects.get(CONFIG) {
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            other => other?,
        };
        let bytes = pack::read_bounded(&mut r, 64 << 10)
            .map_err(|e| bad(format!("cannot be read ({e})")))?;
        let c: Config = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("is not a repository config ({e})")))?;
        if c.format != CONFIG_FORMAT || c.version != CONFIG_VERSION || !is_id(&c.id) {
            return Err(bad(format!(
                "is a repository of format {:?} version {}; this build reads {CONFIG_FORMAT:?} \
                 version {CONFIG_VERSION}",
                c.format, c.version
            )));
        }
        Ok(Some(c))
    }

    fn init(&self) -> Result<Config> {
        // Random, so two repositories never share an id (nor a cache).
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            Error::io(
                "draw random bytes for",
                self.config_path(),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let c = Config {
            format: CONFIG_FORMAT.into(),
            version: CONFIG_VERSION,
            id: fsio::hex(&seed),
            chunking: serde_json::json!({
                "sqlite": "one chunk per page (page size from the header)",
                "blocks": {"names": chunker::BLOCK_NAMES, "size": chunker::BLOCK},
                "whole_below": chunker::WHOLE_BELOW,
                "content_defined": {"min": 256 << 10, "average": 1 << 20, "max": 4 << 20},
                "frames": {"bytes": pack::FRAME_BYTES, "chunks": pack::FRAME_CHUNKS},
                "packs": pack::PACK_TARGET,
            }),
            encryption: self.objects.encryption(),
        };
        let bytes = serde_json::to_vec_pretty(&c).unwrap_or_default();
        match self.objects.put(CONFIG, &mut &bytes[..]) {
            Ok(()) => Ok(c),
            // Made meanwhile by another run: use that one.
            Err(e) if already_exists(&e) => self.read_config()?.ok_or(e),
            Err(e) => Err(e),
        }
    }

    /// Whether this run's sealing matches the repository's: a repository is read and written
    /// only with its own key, and a key given for a repository in the clear is an error
    /// rather than a silent downgrade.
    fn check_encryption(&self, config: &Config) -> Result<()> {
        let ours = self.objects.encryption();
        let problem = match (&config.encryption, &ours) {
            (None, None) => return Ok(()),
            (Some(theirs), Some(ours)) if theirs == ours => return Ok(()),
            (Some(theirs), None) => format!(
                "says the repository is encrypted (key id {}): give its key (--key-file FILE or \
                 ATOCORE_KEY_FILE)",
                theirs.key_id
            ),
            (None, Some(_)) => "says the repository is not encrypted, but a key was given: \
                                this repository was made without one (leave the key out to \
                                use it, or make a new repository with the key)"
                .to_owned(),
            (Some(theirs), Some(ours)) if theirs.cipher != ours.cipher => format!(
                "says the repository is sealed with {:?}; this build seals with {:?}",
                theirs.cipher, ours.cipher
            ),
            (Some(theirs), Some(ours)) => format!(
                "says the repository's key has id {}; the key given has id {}: wrong key",
                theirs.key_id, ours.key_id
            ),
        };
        Err(Error::WrongKey {
            path: self.config_path(),
            problem,
        })
    }

    /// The repository opened (its index in line with the objects); `create` makes it when
    /// there is none yet. None when there is none and `create` is false.
    fn open(&self, create: bool) -> Result<Option<Held<'_>>> {
        let mut slot = lock(&self.opened);
        if slot.is_none() {
            let config = match self.read_config()? {
                Some(c) => c,
                None if create => self.init()?,
                None => return Ok(None),
            };
            self.check_encryption(&config)?;
            let cache = fsio::open_or_create_dir(&self.cache, None)
                .ok()
                .map(|(d, _)| d);
            let mut index =
                index::Index::open(cache.as_ref().map(|_| self.cache.as_path()), &config.id)?;
            let synced = index.sync(&*self.objects)?;
            *slot = Some(Opened {
                index,
                cache,
                synced,
            });
        }
        Ok(Some(Held(slot)))
    }

    /// Forget the opened state (after a prune changed the packs).
    fn reopen(&self) {
        *lock(&self.opened) = None;
    }

    fn no_repository(&self) -> Error {
        Error::BadPath {
            path: self.config_path(),
            problem: "is missing: this is not a repository (or its config was lost)".into(),
        }
    }

    /// Store a snapshot: every file of `manifest` read through `open`, checked against the
    /// manifest's size and SHA-256, chunked; then the manifest (format 3) put last under
    /// `stamp`, whose upload marker the caller holds.
    fn store(
        &self,
        stamp: &Stamp,
        mut manifest: Manifest,
        open: &mut dyn FnMut(&FileEntry) -> Result<Box<dyn Read>>,
        staged: bool,
    ) -> Result<Added> {
        let op = self.open(true)?.ok_or_else(|| self.no_repository())?;
        let cache = op.cache.as_ref().ok_or_else(|| {
            Error::io(
                "create",
                &self.cache,
                std::io::Error::new(
                    std::io::ErrorKind::ReadOnlyFilesystem,
                    "the repository's cache folder cannot be made",
                ),
            )
        })?;
        let mut w = write::Writer::new(&op.index, &*self.objects, cache)?;
        for c in &mut manifest.components {
            for f in &mut c.files {
                let mut r = open(f)?;
                let name = f.path.rsplit('/').next().unwrap_or_default();
                let what = self.describe(stamp, &f.path);
                // A file core did not hash while staging it is first read here: its bytes
                // are the progress of the create.
                let first_read = staged && f.sha256 == PENDING_SHA256;
                let got = w.add_file(name, f.size, &mut r, &what, first_read)?;
                if first_read {
                    // Hashed here, on the one read of the staged file (create; a manifest
                    // from anywhere else never has its checks relaxed by what it says).
                    f.sha256.clone_from(&got.sha256);
                }
                if got.size != f.size || got.sha256 != f.sha256 {
                    return Err(Error::ChecksumMismatch {
                        path: what,
                        expected: f.sha256.clone(),
                        actual: format!("{} ({} bytes)", got.sha256, got.size),
                    });
                }
                f.chunks = Some(got.chunks);
            }
        }
        w.flush()?;
        crate::failpoint("create.before-commit");
        crate::interrupt::check()?;
        super::lease::check_held()?;
        manifest.format_version = FORMAT_VERSION;
        manifest.stamp = stamp.to_string();
        let json = manifest.to_json();
        let seal = fsio::hex(&<sha2::Sha256 as sha2::Digest>::digest(&json));
        self.objects.put(&key(stamp, SEAL), &mut seal.as_bytes())?;
        if let Err(e) = self.objects.put(&key(stamp, MANIFEST_NAME), &mut &json[..]) {
            // Still marked as an upload in progress: nothing is left that looks damaged.
            let _ = self.objects.delete(&key(stamp, SEAL));
            return Err(e);
        }
        crate::failpoint("create.committed");
        w.commit()
    }

    /// Import snapshot `stamp` of `from` (a plain-folder store) under the same stamp, kind
    /// and manifest: every file read and checked against its manifest. Returns None when
    /// the repository already has that stamp.
    ///
    /// # Errors
    /// [`Error::Manifest`], [`Error::ChecksumMismatch`] or [`Error::Io`]: nothing is then
    /// visible under `stamp`.
    pub fn import(&self, from: &dyn SnapshotStore, stamp: &Stamp) -> Result<Option<Added>> {
        let manifest = from.read_manifest(stamp)?;
        if self
            .objects
            .list(&key(stamp, ""))?
            .contains(&key(stamp, MANIFEST_NAME))
        {
            return Ok(None);
        }
        match self.objects.put(&marker(stamp), &mut std::io::empty()) {
            Ok(()) => {}
            Err(e) if already_exists(&e) => {
                return Err(Error::BadPath {
                    path: self.objects.describe(&marker(stamp)),
                    problem: "marks an upload of this stamp in progress (or interrupted: run \
                              cleanup)"
                        .into(),
                })
            }
            Err(e) => return Err(e),
        }
        let done = self.store(
            stamp,
            manifest,
            &mut |f| from.open_file(stamp, &f.path),
            false,
        );
        let _ = self.objects.delete(&marker(stamp));
        done.map(Some)
    }

    /// Where the chunks of file `path` of snapshot `stamp` are stored, in file order, each
    /// frame once: the pack's object key, the frame's offset in it and its stored length.
    /// For `check` messages and for tests that damage a snapshot on purpose.
    ///
    /// # Errors
    /// As [`SnapshotStore::open_file`]; a chunk the index does not know is left out.
    pub fn frames_of(&self, stamp: &Stamp, path: &str) -> Result<Vec<(String, u64, u64)>> {
        let m = self.manifest_of(stamp)?;
        let f = self.entry(&m, stamp, path)?;
        let Some(list) = &f.chunks else {
            return Ok(Vec::new());
        };
        let serials = serials::open(list).map_err(|problem| Error::Manifest {
            path: self.describe(stamp, MANIFEST_NAME),
            problem,
        })?;
        let op = self.open(false)?.ok_or_else(|| self.no_repository())?;
        let mut out: Vec<(String, u64, u64)> = Vec::new();
        for s in serials {
            let at = index::locate(&op.index.conn, s).map_err(|e| op.index.err(e))?;
            if let Some(at) = at {
                let k = format!("{PACK_PREFIX}{}", at.pack);
                let frame = (k, at.entry.frame_off, u64::from(at.entry.frame_len));
                if !out.contains(&frame) {
                    out.push(frame);
                }
            }
        }
        Ok(out)
    }

    /// Packs a killed run was writing in the cache folder (`.pack-<pid>-<n>…`), except those
    /// of a run still going.
    fn pack_temps(&self) -> Result<Vec<(Dir, std::ffi::OsString)>> {
        if fsio::kind_of(&self.cache)?.is_none() {
            return Ok(Vec::new());
        }
        let cache = Dir::open(&self.cache)?;
        let mut out = Vec::new();
        for (name, _) in cache.entries()? {
            let n = name.to_string_lossy().into_owned();
            let running = n
                .strip_prefix(".pack-")
                .and_then(|r| r.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists()
                });
            if n.starts_with(".pack-") && n.ends_with(crate::TEMP_SUFFIX) && !running {
                out.push((cache.try_clone()?, name));
            }
        }
        Ok(out)
    }

    /// The manifest of `stamp`, kept for the next file of the same snapshot.
    fn manifest_of(&self, stamp: &Stamp) -> Result<Arc<Manifest>> {
        if let Some((s, m)) = &*lock(&self.manifest) {
            if s == stamp {
                return Ok(Arc::clone(m));
            }
        }
        let m = Arc::new(self.snaps.read_manifest(stamp)?);
        *lock(&self.manifest) = Some((stamp.clone(), Arc::clone(&m)));
        Ok(m)
    }

    fn entry<'m>(&self, m: &'m Manifest, stamp: &Stamp, path: &str) -> Result<&'m FileEntry> {
        m.components
            .iter()
            .flat_map(|c| &c.files)
            .find(|f| f.path == path)
            .ok_or_else(|| {
                Error::io(
                    "open",
                    self.describe(stamp, path),
                    std::io::ErrorKind::NotFound.into(),
                )
            })
    }
}

impl<O: ObjectStore + 'static> SnapshotStore for Repository<O> {
    fn location(&self) -> &Path {
        self.objects.location()
    }

    fn default_state_dir(&self) -> Option<&Path> {
        self.state_default.as_deref()
    }

    fn begin(&self, scratch: &Path) -> Result<Pending> {
        self.snaps.begin(scratch)
    }

    fn hashes_on_commit(&self) -> bool {
        true
    }

    fn commit(&self, pending: Pending) -> Result<Stamp> {
        let stamp = pending.stamp.clone();
        let done = (|| -> Result<Added> {
            let staged = Dir::open(&pending.dir)?;
            let mut m = staged.open_file(OsStr::new(MANIFEST_NAME))?;
            let manifest = Manifest::from_reader(&mut m, &staged.join(MANIFEST_NAME))?;
            self.store(
                &stamp,
                manifest,
                &mut |f| Ok(Box::new(staged.open_file_beneath(Path::new(&f.path))?)),
                true,
            )
        })();
        let _ = self.objects.delete(&marker(&stamp));
        let _ = fsio::remove_tree_at(&pending.dir);
        *lock(&self.last_added) = done.as_ref().ok().copied();
        done.map(|_| stamp)
    }

    fn abort(&self, pending: Pending) {
        self.snaps.abort(pending);
    }

    fn list(&self) -> Result<Listing> {
        if self.objects.missing()? {
            return Err(Error::MissingBackupDir {
                path: self.objects.location().to_path_buf(),
            });
        }
        let mut out = self.snaps.list()?;
        out.leftovers
            .extend(self.pack_temps()?.into_iter().map(|(d, n)| d.join(n)));
        out.leftovers.extend(
            super::lease::stale_leases(&*self.objects)?
                .iter()
                .map(|k| self.objects.describe(k)),
        );
        out.leftovers.sort();
        Ok(out)
    }

    fn read_manifest(&self, stamp: &Stamp) -> Result<Manifest> {
        self.manifest_of(stamp).map(|m| (*m).clone())
    }

    fn open_file(&self, stamp: &Stamp, path: &str) -> Result<Box<dyn Read>> {
        let m = self.manifest_of(stamp)?;
        let f = self.entry(&m, stamp, path)?;
        let list = f.chunks.as_ref().ok_or_else(|| Error::Manifest {
            path: self.describe(stamp, MANIFEST_NAME),
            problem: format!("lists no chunks for {path}"),
        })?;
        let serials = serials::open(list).map_err(|problem| Error::Manifest {
            path: self.describe(stamp, MANIFEST_NAME),
            problem: format!("{problem} ({path})"),
        })?;
        let op = self.open(false)?.ok_or_else(|| self.no_repository())?;
        let conn = op.index.reader()?;
        drop(op);
        Ok(Box::new(reader::ChunkReader::new(
            Arc::clone(&self.objects),
            conn,
            serials,
        )))
    }

    fn check(&self, stamp: &Stamp, manifest: &Manifest) -> Result<Vec<Problem>> {
        let mut problems: Vec<Problem> = self
            .objects
            .list(&key(stamp, ""))?
            .into_iter()
            .filter(|k| *k != key(stamp, MANIFEST_NAME) && *k != key(stamp, SEAL))
            .map(|k| {
                Problem::new(
                    k[key(stamp, "").len()..].to_owned(),
                    "is not listed in the manifest",
                )
            })
            .collect();
        let Some(op) = self.open(false)? else {
            problems.push(Problem::new(CONFIG, "is missing: this is not a repository"));
            return Ok(problems);
        };
        let _ = op.index.batch("BEGIN");
        for f in manifest.components.iter().flat_map(|c| &c.files) {
            match check::missing_chunks(&op.index, f) {
                Ok(0) => {}
                Ok(n) => problems.push(Problem::new(
                    f.path.clone(),
                    format!("needs {n} chunks the repository does not have (a pack is missing)"),
                )),
                Err(why) => problems.push(Problem::new(f.path.clone(), why)),
            }
        }
        let _ = op.index.batch("COMMIT");
        Ok(problems)
    }

    fn changeable_by_others(&self, stamp: &Stamp) -> Option<(PathBuf, String)> {
        self.snaps.changeable_by_others(stamp).or_else(|| {
            fsio::changeable_by_others(&self.cache)
                .filter(|_| fsio::kind_of(&self.cache).ok().flatten().is_some())
        })
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut out = self.snaps.remove_leftovers()?;
        for k in super::lease::stale_leases(&*self.objects)? {
            self.objects.delete(&k)?;
            out.push(self.objects.describe(&k));
        }
        for (cache, name) in self.pack_temps()? {
            cache.remove_file(&name)?;
            out.push(cache.join(&name));
        }
        Ok(out)
    }

    fn places_written(&self) -> Vec<PathBuf> {
        let mut p = self.snaps.places_written();
        p.push(self.cache.clone());
        p
    }
}
