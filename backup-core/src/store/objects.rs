//! Snapshots as whole objects: [`ObjectStore`] is what object storage offers (put, get,
//! list, delete of whole objects by key), [`ObjectSnapshotStore`] keeps snapshots in one, and
//! [`LocalObjects`] is an object store in a local folder (one flat file per key), which the
//! conformance suite runs every component against.
//!
//! Layout: `snapshots/<stamp>/<path as the manifest names it>`, and the manifest at
//! `snapshots/<stamp>/backup-metadata.json`, put last. An upload begins by putting the marker
//! `uploads/<stamp>` (which reserves the stamp: puts never replace) and ends by deleting it.
//! So a stamp whose manifest is there is a snapshot; one without a manifest but with its
//! marker is what an interrupted upload left (a leftover `cleanup` removes); one with
//! neither is a snapshot that lost its manifest (listed as unreadable, never deleted).
//!
//! One state folder per store: the lock that serializes runs lives there.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Listing, Pending, SnapshotStore};
use crate::error::{Error, Problem, Result};
use crate::fsio::{self, Dir};
use crate::interrupt;
use crate::manifest::{Manifest, MANIFEST_NAME};
use crate::stamp::{self, Stamp};

/// Whole objects by key: everything object storage (S3 and its kin) offers, and no more.
/// Keys are `/`-separated text. `Send + Sync`: several threads read one store at once.
pub trait ObjectStore: Send + Sync {
    /// Where it is, for messages.
    fn location(&self) -> &Path;
    /// Store `from`'s bytes as the new object `key`: all or nothing, and never over an
    /// existing object.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists` when `key` exists).
    fn put(&self, key: &str, from: &mut dyn Read) -> Result<()>;
    /// The bytes of `key`, as a stream.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` when there is no such object).
    fn get(&self, key: &str) -> Result<Box<dyn Read>>;
    /// Every key that starts with `prefix`, sorted.
    ///
    /// # Errors
    /// [`Error::Io`].
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Remove `key` (nothing when it does not exist).
    ///
    /// # Errors
    /// [`Error::Io`].
    fn delete(&self, key: &str) -> Result<()>;

    /// `len` bytes of `key` from `offset` (fewer only at its end): a ranged read.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` when there is no such object).
    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut r = self.get(key)?;
        let what = || self.location().join(key);
        std::io::copy(&mut (&mut r).take(offset), &mut std::io::sink())
            .map_err(|e| Error::io("read", what(), e))?;
        let mut out = Vec::with_capacity(len.min(1 << 24));
        r.take(len as u64)
            .read_to_end(&mut out)
            .map_err(|e| Error::io("read", what(), e))?;
        Ok(out)
    }

    /// `key` held open for ranged reads, when the store does better than finding the object
    /// again for every [`ObjectStore::get_range`] (a local store keeps the file open); None
    /// when it does not.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` when there is no such object).
    fn open_ranged(&self, _key: &str) -> Result<Option<Box<dyn RangedObject>>> {
        Ok(None)
    }

    /// The last `len` bytes of `key` (all of it when shorter).
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` when there is no such object).
    fn get_tail(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        let mut r = self.get(key)?;
        let mut keep = std::collections::VecDeque::with_capacity(len.min(1 << 24));
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", self.location().join(key), e)),
            };
            keep.extend(&buf[..n]);
            if keep.len() > len {
                let extra = keep.len() - len;
                keep.drain(..extra);
            }
        }
        Ok(keep.into_iter().collect())
    }

    /// Store the local file `name` in folder `dir` (finished and synced) as the new object
    /// `key`, consuming the file: a store on the same disk may move it rather than copy.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists` when `key` exists).
    fn put_local(&self, key: &str, dir: &Dir, name: &OsStr) -> Result<()> {
        let mut f = dir.open_file(name)?;
        self.put(key, &mut f)?;
        dir.remove_file(name).map(|_| ())
    }

    /// What interrupted puts left (a local store's temporary files): listed by `status`,
    /// removed by [`ObjectStore::remove_leftovers`].
    ///
    /// # Errors
    /// [`Error::Io`].
    fn leftovers(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }

    /// Remove what [`ObjectStore::leftovers`] lists; returns it.
    ///
    /// # Errors
    /// [`Error::Io`].
    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        Ok(Vec::new())
    }

    /// How to name the object `key` in messages.
    fn describe(&self, key: &str) -> PathBuf {
        self.location().join(key)
    }

    /// The size of object `key` in bytes.
    ///
    /// # Errors
    /// [`Error::Io`] (`NotFound` when there is no such object).
    fn size(&self, key: &str) -> Result<u64> {
        let mut r = self.get(key)?;
        std::io::copy(&mut r, &mut std::io::sink())
            .map_err(|e| Error::io("read", self.describe(key), e))
    }

    /// Every key that starts with `prefix`, sorted, with its size in bytes (object storage
    /// lists sizes with the keys; the default asks for each).
    ///
    /// # Errors
    /// [`Error::Io`].
    fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        self.list(prefix)?
            .into_iter()
            .map(|k| self.size(&k).map(|n| (k, n)))
            .collect()
    }

    /// Whether the store itself is missing (a local folder not there), as opposed to empty.
    ///
    /// # Errors
    /// [`Error::Io`] when that cannot be told.
    fn missing(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether someone other than the tool's user could have changed the object `key` (or
    /// the store around it): the path and why.
    fn changeable_by_others(&self, key: &str) -> Option<(PathBuf, String)> {
        let _ = key;
        None
    }

    /// How the store seals objects, when it does ([`Sealed`](super::Sealed)).
    fn encryption(&self) -> Option<super::Encryption> {
        None
    }

    /// Whether the store is on another host (object storage), not a local folder.
    fn is_remote(&self) -> bool {
        false
    }
}

/// An object opened for ranged reads ([`ObjectStore::open_ranged`]).
pub trait RangedObject: Send {
    /// `len` bytes from `offset` (fewer only at the object's end).
    ///
    /// # Errors
    /// [`Error::Io`].
    fn read_range(&mut self, offset: u64, len: usize) -> Result<Vec<u8>>;
}

/// A local object file held open.
struct OpenFile {
    file: std::fs::File,
    path: PathBuf,
    size: u64,
}

impl RangedObject for OpenFile {
    fn read_range(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let n = usize::try_from(self.size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(len);
        let mut out = vec![0u8; n];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut out, offset)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(out)
    }
}

impl<O: ObjectStore + ?Sized> ObjectStore for std::sync::Arc<O> {
    fn location(&self) -> &Path {
        (**self).location()
    }
    fn put(&self, key: &str, from: &mut dyn Read) -> Result<()> {
        (**self).put(key, from)
    }
    fn get(&self, key: &str) -> Result<Box<dyn Read>> {
        (**self).get(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        (**self).list(prefix)
    }
    fn delete(&self, key: &str) -> Result<()> {
        (**self).delete(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        (**self).get_range(key, offset, len)
    }
    fn get_tail(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        (**self).get_tail(key, len)
    }
    fn open_ranged(&self, key: &str) -> Result<Option<Box<dyn RangedObject>>> {
        (**self).open_ranged(key)
    }
    fn put_local(&self, key: &str, dir: &Dir, name: &OsStr) -> Result<()> {
        (**self).put_local(key, dir, name)
    }
    fn leftovers(&self) -> Result<Vec<PathBuf>> {
        (**self).leftovers()
    }
    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        (**self).remove_leftovers()
    }
    fn describe(&self, key: &str) -> PathBuf {
        (**self).describe(key)
    }
    fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        (**self).list_sizes(prefix)
    }
    fn size(&self, key: &str) -> Result<u64> {
        (**self).size(key)
    }
    fn missing(&self) -> Result<bool> {
        (**self).missing()
    }
    fn changeable_by_others(&self, key: &str) -> Option<(PathBuf, String)> {
        (**self).changeable_by_others(key)
    }
    fn encryption(&self) -> Option<super::Encryption> {
        (**self).encryption()
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
}

/// An object store in a local folder: `<root>/objects/<key, escaped>`, one regular file per
/// object, written through a temporary name and a rename.
#[derive(Debug, Clone)]
pub struct LocalObjects {
    root: PathBuf,
}

const OBJECTS: &str = "objects";

/// A key as one file name: `%` and `/` escaped, so no key can name a folder or a parent.
fn escape(key: &str) -> String {
    key.replace('%', "%25").replace('/', "%2F")
}

fn unescape(name: &str) -> String {
    name.replace("%2F", "/").replace("%25", "%")
}

impl LocalObjects {
    /// Objects kept under `root` (created when the first is put).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjects { root: root.into() }
    }

    /// The objects folder (never through a symlink at its name), created when asked.
    fn dir(&self, create: bool) -> Result<Option<Dir>> {
        if create {
            let (root, _) = fsio::open_or_create_dir(&self.root, None)?;
            return root
                .ensure_dir(OsStr::new(OBJECTS), fsio::DIR_MODE)
                .map(Some);
        }
        if fsio::kind_of(&self.root)?.is_none() {
            return Ok(None);
        }
        let root = Dir::open(&self.root)?;
        match root.stat(OsStr::new(OBJECTS))? {
            None => Ok(None),
            Some(_) => root.open_dir(OsStr::new(OBJECTS)).map(Some),
        }
    }

    /// The file holding the object `key` (for tests and messages).
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(OBJECTS).join(escape(key))
    }

    fn name(key: &str) -> Result<String> {
        let name = escape(key);
        if key.is_empty() || name.starts_with('.') {
            return Err(Error::BadPath {
                path: PathBuf::from(key),
                problem: "is not an object key this store takes".into(),
            });
        }
        Ok(name)
    }
}

impl ObjectStore for LocalObjects {
    fn location(&self) -> &Path {
        &self.root
    }

    fn put(&self, key: &str, from: &mut dyn Read) -> Result<()> {
        let dir = self.dir(true)?.unwrap_or_else(|| unreachable!("created"));
        let name = Self::name(key)?;
        dir.write_new_from(OsStr::new(&name), from, &PathBuf::from(key))
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read>> {
        let name = Self::name(key)?;
        let missing = || {
            Error::io(
                "open",
                self.root.join(OBJECTS).join(&name),
                std::io::ErrorKind::NotFound.into(),
            )
        };
        let dir = self.dir(false)?.ok_or_else(missing)?;
        Ok(Box::new(dir.open_file(OsStr::new(&name))?))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let Some(dir) = self.dir(false)? else {
            return Ok(Vec::new());
        };
        let mut keys: Vec<String> = dir
            .entries()?
            .into_iter()
            .filter_map(|(n, _)| n.to_str().map(str::to_owned))
            // Our own temporary names are not objects.
            .filter(|n| !n.starts_with('.'))
            .map(|n| unescape(&n))
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let name = Self::name(key)?;
        if let Some(dir) = self.dir(false)? {
            if dir.remove_file(OsStr::new(&name))? {
                dir.sync()?;
            }
        }
        Ok(())
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let (file, path) = self.open_object(key)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        OpenFile { file, path, size }.read_range(offset, len)
    }

    fn open_ranged(&self, key: &str) -> Result<Option<Box<dyn RangedObject>>> {
        let (file, path) = self.open_object(key)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        Ok(Some(Box::new(OpenFile { file, path, size })))
    }

    fn get_tail(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        let (f, path) = self.open_object(key)?;
        let size = f
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        let n = usize::try_from(size).unwrap_or(usize::MAX).min(len);
        let mut out = vec![0u8; n];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut out, size - n as u64)
            .map_err(|e| Error::io("read", &path, e))?;
        Ok(out)
    }

    fn leftovers(&self) -> Result<Vec<PathBuf>> {
        let base = self.root.join(OBJECTS);
        Ok(self.temps()?.iter().map(|n| base.join(n)).collect())
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let names = self.temps()?;
        let mut out = Vec::new();
        if let Some(dir) = self.dir(false)? {
            for n in names {
                dir.remove_own_leftover(&n)?;
                out.push(dir.join(&n));
            }
            dir.sync()?;
        }
        Ok(out)
    }

    fn describe(&self, key: &str) -> PathBuf {
        self.object_path(key)
    }

    fn size(&self, key: &str) -> Result<u64> {
        let (f, path) = self.open_object(key)?;
        Ok(f.metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len())
    }

    fn missing(&self) -> Result<bool> {
        Ok(fsio::kind_of(&self.root)?.is_none())
    }

    fn changeable_by_others(&self, key: &str) -> Option<(PathBuf, String)> {
        let objects = self.root.join(OBJECTS);
        fsio::changeable_by_others(&self.root).or_else(|| {
            [objects.clone(), objects.join(escape(key))]
                .iter()
                .find_map(|p| fsio::entry_changeable_by_others(p))
        })
    }

    fn put_local(&self, key: &str, dir: &Dir, name: &OsStr) -> Result<()> {
        let objects = self.dir(true)?.unwrap_or_else(|| unreachable!("created"));
        let to = Self::name(key)?;
        match dir.rename_new(name, &objects, OsStr::new(&to)) {
            Ok(()) => objects.sync(),
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::CrossesDevices => {
                let mut f = dir.open_file(name)?;
                objects.write_new_from(OsStr::new(&to), &mut f, &PathBuf::from(key))?;
                dir.remove_file(name).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

impl LocalObjects {
    /// The temporary files interrupted puts left (`.<name>.atocore-write.tmp`).
    fn temps(&self) -> Result<Vec<std::ffi::OsString>> {
        let Some(dir) = self.dir(false)? else {
            return Ok(Vec::new());
        };
        Ok(dir
            .entries()?
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| {
                n.to_str()
                    .is_some_and(|n| n.starts_with('.') && n.ends_with(".atocore-write.tmp"))
            })
            .collect())
    }

    /// The open file of object `key` and its path.
    fn open_object(&self, key: &str) -> Result<(std::fs::File, PathBuf)> {
        let name = Self::name(key)?;
        let path = self.root.join(OBJECTS).join(&name);
        let dir = self
            .dir(false)?
            .ok_or_else(|| Error::io("open", &path, std::io::ErrorKind::NotFound.into()))?;
        Ok((dir.open_file(OsStr::new(&name))?, path))
    }
}

/// Snapshots kept as objects in `O`. A snapshot is built in a local scratch folder inside
/// the state folder, then every file is put, the manifest last.
#[derive(Debug, Clone)]
pub struct ObjectSnapshotStore<O> {
    objects: O,
}

const PREFIX: &str = "snapshots/";

/// The keys stored under each stamp.
type KeysByStamp = BTreeMap<Stamp, Vec<String>>;

pub(super) fn key(stamp: &Stamp, path: &str) -> String {
    format!("{PREFIX}{}/{path}", stamp.as_str())
}

const UPLOADS: &str = "uploads/";

/// The marker of an upload in progress.
pub(super) fn marker(stamp: &Stamp) -> String {
    format!("{UPLOADS}{}", stamp.as_str())
}

pub(super) fn already_exists(e: &Error) -> bool {
    matches!(e, Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::AlreadyExists)
}

impl<O: ObjectStore> ObjectSnapshotStore<O> {
    /// Snapshots in `objects`.
    pub fn new(objects: O) -> Self {
        ObjectSnapshotStore { objects }
    }

    /// The object store underneath.
    pub fn objects(&self) -> &O {
        &self.objects
    }

    /// Stamps whose upload marker is there.
    fn markers(&self) -> Result<std::collections::BTreeSet<Stamp>> {
        Ok(self
            .objects
            .list(UPLOADS)?
            .iter()
            .filter_map(|k| Stamp::parse(&k[UPLOADS.len()..]).ok())
            .collect())
    }

    /// Every key of each stamp, and the keys that are not a stamp's.
    fn by_stamp(&self) -> Result<(KeysByStamp, Vec<String>)> {
        let mut stamps = KeysByStamp::new();
        let mut other = Vec::new();
        for k in self.objects.list(PREFIX)? {
            let rest = &k[PREFIX.len()..];
            match rest.split_once('/').map(|(s, p)| (Stamp::parse(s), p)) {
                Some((Ok(s), p)) if !p.is_empty() => stamps.entry(s).or_default().push(k),
                _ => other.push(k),
            }
        }
        Ok((stamps, other))
    }

    fn unknown(&self, stamp: &Stamp) -> Error {
        Error::UnknownSnapshot {
            stamp: stamp.to_string(),
            dir: self.objects.location().join("snapshots"),
        }
    }
}

impl<O: ObjectStore> SnapshotStore for ObjectSnapshotStore<O> {
    fn location(&self) -> &Path {
        self.objects.location()
    }

    fn default_state_dir(&self) -> Option<&Path> {
        None
    }

    fn begin(&self, scratch: &Path) -> Result<Pending> {
        let (state, _) = fsio::open_or_create_dir(scratch, None)?;
        loop {
            let now = SystemTime::now();
            let stamp = Stamp::at(now);
            // The marker reserves the stamp (a put never replaces): two snapshots in one
            // second never collide, the second waits for the next.
            let free = self.objects.list(&key(&stamp, ""))?.is_empty();
            let reserved = free
                && match self.objects.put(&marker(&stamp), &mut std::io::empty()) {
                    Ok(()) => true,
                    Err(e) if already_exists(&e) => false,
                    Err(e) => return Err(e),
                };
            if reserved {
                // A scratch name: a crash leaves a leftover that `cleanup` removes.
                let name = format!("{}upload-{}", crate::DRILL_SCRATCH_PREFIX, stamp.as_str());
                let made = state
                    .remove_own_leftover(OsStr::new(&name))
                    .and_then(|()| state.create_dir(OsStr::new(&name), fsio::DIR_MODE));
                if let Err(e) = made {
                    let _ = self.objects.delete(&marker(&stamp));
                    return Err(e);
                }
                return Ok(Pending::new(stamp, now, state.join(&name)));
            }
            interrupt::check()?;
            std::thread::sleep(stamp::until_next_second(SystemTime::now()));
        }
    }

    fn commit(&self, pending: Pending) -> Result<Stamp> {
        let stamp = pending.stamp.clone();
        let mut put = Vec::new();
        let mut put_all = || -> Result<()> {
            let staged = Dir::open(&pending.dir)?;
            let mut files: Vec<String> = crate::walk(&staged)?.files.into_keys().collect();
            files.retain(|f| f != MANIFEST_NAME);
            for rel in &files {
                let mut f = staged.open_file_beneath(Path::new(rel))?;
                let k = key(&stamp, rel);
                self.objects.put(&k, &mut f)?;
                put.push(k);
            }
            crate::failpoint("create.before-commit");
            interrupt::check()?;
            // The manifest last: with it, the snapshot is there.
            let mut m = staged.open_file(OsStr::new(MANIFEST_NAME))?;
            self.objects.put(&key(&stamp, MANIFEST_NAME), &mut m)
        };
        let done = put_all();
        if done.is_err() {
            // Only what this run put: nothing else can be under a stamp it reserved.
            for k in &put {
                let _ = self.objects.delete(k);
            }
        }
        let _ = self.objects.delete(&marker(&stamp));
        let _ = fsio::remove_tree_at(&pending.dir);
        done.map(|()| stamp)
    }

    fn abort(&self, pending: Pending) {
        let _ = self.objects.delete(&marker(&pending.stamp));
        let _ = fsio::remove_tree_at(&pending.dir);
    }

    fn list(&self) -> Result<Listing> {
        let (stamps, other) = self.by_stamp()?;
        let markers = self.markers()?;
        let root = self.objects.location();
        let mut out = Listing::default();
        for (stamp, keys) in &stamps {
            let at = root.join("snapshots").join(stamp.as_str());
            if keys.contains(&key(stamp, MANIFEST_NAME)) {
                out.snapshots.push(stamp.clone());
            } else if markers.contains(stamp) {
                // An upload that never put its manifest.
                out.leftovers.push(at);
            } else {
                // No upload in progress left these: a snapshot whose manifest is gone.
                out.lost.push(stamp.clone());
                out.unrecognised.push(at);
            }
        }
        // Markers of uploads that got no further, or that finished but were not cleared.
        for m in &markers {
            let finished_or_empty = match stamps.get(m) {
                None => true,
                Some(keys) => keys.contains(&key(m, MANIFEST_NAME)),
            };
            if finished_or_empty {
                out.leftovers.push(root.join(marker(m)));
            }
        }
        out.unrecognised.extend(other.iter().map(|k| root.join(k)));
        out.leftovers.extend(self.objects.leftovers()?);
        out.leftovers.sort();
        out.unrecognised.sort();
        Ok(out)
    }

    fn read_manifest(&self, stamp: &Stamp) -> Result<Manifest> {
        let k = key(stamp, MANIFEST_NAME);
        let mut r = match self.objects.get(&k) {
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                // Other objects under the stamp: a snapshot that lost its manifest.
                if self.objects.list(&key(stamp, ""))?.is_empty() {
                    return Err(self.unknown(stamp));
                }
                return Err(Error::Manifest {
                    path: self.describe(stamp, MANIFEST_NAME),
                    problem: "is missing: the snapshot's manifest was lost or never written".into(),
                });
            }
            other => other?,
        };
        Manifest::from_reader(&mut r, &self.describe(stamp, MANIFEST_NAME))
    }

    fn open_file(&self, stamp: &Stamp, path: &str) -> Result<Box<dyn Read>> {
        self.objects.get(&key(stamp, path))
    }

    fn check(&self, stamp: &Stamp, manifest: &Manifest) -> Result<Vec<Problem>> {
        let listed: std::collections::BTreeSet<String> = manifest
            .components
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| key(stamp, &f.path))
            .chain(std::iter::once(key(stamp, MANIFEST_NAME)))
            .collect();
        Ok(self
            .objects
            .list(&key(stamp, ""))?
            .into_iter()
            .filter(|k| !listed.contains(k))
            .map(|k| {
                Problem::new(
                    k[key(stamp, "").len()..].to_owned(),
                    "is not listed in the manifest",
                )
            })
            .collect())
    }

    fn changeable_by_others(&self, stamp: &Stamp) -> Option<(PathBuf, String)> {
        self.objects
            .changeable_by_others(&key(stamp, MANIFEST_NAME))
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let listing = self.list()?;
        let (stamps, _) = self.by_stamp()?;
        for m in self.markers()? {
            // Only an upload's own objects: a stamp without its marker is never deleted.
            if let Some(keys) = stamps.get(&m) {
                if !keys.contains(&key(&m, MANIFEST_NAME)) {
                    for k in keys {
                        self.objects.delete(k)?;
                    }
                }
            }
            self.objects.delete(&marker(&m))?;
        }
        self.objects.remove_leftovers()?;
        Ok(listing.leftovers)
    }

    fn places_written(&self) -> Vec<PathBuf> {
        // Object storage elsewhere has no local names to plant a link at.
        if self.objects.is_remote() {
            return Vec::new();
        }
        vec![self.objects.location().join(OBJECTS)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_one_flat_name_each_and_come_back() {
        for k in ["snapshots/a/b%2Fc", "x", "a%b/c"] {
            let n = escape(k);
            assert!(!n.contains('/'));
            assert_eq!(unescape(&n), k);
        }
        let tmp = tempfile::tempdir().unwrap();
        let o = LocalObjects::new(tmp.path().join("store"));
        assert!(o.list("").unwrap().is_empty());
        o.put("snapshots/1/x", &mut &b"one"[..]).unwrap();
        o.put("snapshots/1/../y", &mut &b"two"[..]).unwrap();
        assert_eq!(
            o.list("snapshots/1/").unwrap(),
            ["snapshots/1/../y", "snapshots/1/x"]
        );
        let mut s = String::new();
        o.get("snapshots/1/../y")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "two");
        o.delete("snapshots/1/x").unwrap();
        assert!(matches!(
            o.get("snapshots/1/x").map(|_| ()),
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound
        ));
        assert_eq!(
            std::fs::read_dir(tmp.path().join("store/objects"))
                .unwrap()
                .count(),
            1,
            "one flat file per object, nothing above the folder"
        );
    }
}
