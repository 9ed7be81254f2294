//! Snapshots as whole objects: [`ObjectStore`] is what object storage offers (put, get,
//! list, delete of whole objects by key), [`ObjectSnapshotStore`] keeps snapshots in one, and
//! [`LocalObjects`] is an object store in a local folder (one flat file per key), which the
//! conformance suite runs every component against.
//!
//! Layout: `snapshots/<stamp>/<path as the manifest names it>`, and the manifest at
//! `snapshots/<stamp>/backup-metadata.json`, put last: a stamp whose manifest is there is a
//! snapshot; objects of a stamp without one are what an interrupted upload left.

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
/// Keys are `/`-separated text.
pub trait ObjectStore {
    /// Where it is, for messages.
    fn location(&self) -> &Path;
    /// Store `from`'s bytes as `key`, replacing nothing: all or nothing.
    ///
    /// # Errors
    /// [`Error::Io`].
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

    fn dir(&self, create: bool) -> Result<Option<Dir>> {
        let objects = self.root.join(OBJECTS);
        if create {
            let (root, _) = fsio::open_or_create_dir(&self.root, None)?;
            return root
                .ensure_dir(OsStr::new(OBJECTS), fsio::DIR_MODE)
                .map(Some);
        }
        match fsio::kind_of(&objects)? {
            None => Ok(None),
            Some(_) => Dir::open(&objects).map(Some),
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
        dir.write_atomic_from(OsStr::new(&name), from, &PathBuf::from(key))
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

fn key(stamp: &Stamp, path: &str) -> String {
    format!("{PREFIX}{}/{path}", stamp.as_str())
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
            // Two snapshots in one second never collide: the second waits for the next.
            if self.objects.list(&key(&stamp, ""))?.is_empty() {
                // A scratch name: a crash leaves a leftover that `cleanup` removes.
                let name = format!("{}upload-{}", crate::DRILL_SCRATCH_PREFIX, stamp.as_str());
                state.remove_own_leftover(OsStr::new(&name))?;
                state.create_dir(OsStr::new(&name), fsio::DIR_MODE)?;
                return Ok(Pending::new(stamp, now, state.join(&name)));
            }
            interrupt::check()?;
            std::thread::sleep(stamp::until_next_second(SystemTime::now()));
        }
    }

    fn commit(&self, pending: Pending) -> Result<Stamp> {
        let stamp = pending.stamp.clone();
        let put_all = || -> Result<()> {
            let staged = Dir::open(&pending.dir)?;
            let mut files: Vec<String> = crate::walk(&staged)?.files.into_keys().collect();
            files.retain(|f| f != MANIFEST_NAME);
            for rel in &files {
                let mut f = staged.open_file_beneath(Path::new(rel))?;
                self.objects.put(&key(&stamp, rel), &mut f)?;
            }
            crate::failpoint("create.before-commit");
            interrupt::check()?;
            // The manifest last: with it, the snapshot is there.
            let mut m = staged.open_file(OsStr::new(MANIFEST_NAME))?;
            self.objects.put(&key(&stamp, MANIFEST_NAME), &mut m)
        };
        let done = put_all();
        if done.is_err() {
            for k in self.objects.list(&key(&stamp, "")).unwrap_or_default() {
                let _ = self.objects.delete(&k);
            }
        }
        let _ = fsio::remove_tree_at(&pending.dir);
        done.map(|()| stamp)
    }

    fn abort(&self, pending: Pending) {
        let _ = fsio::remove_tree_at(&pending.dir);
    }

    fn list(&self) -> Result<Listing> {
        let (stamps, other) = self.by_stamp()?;
        let root = self.objects.location();
        let mut out = Listing::default();
        for (stamp, keys) in stamps {
            if keys.contains(&key(&stamp, MANIFEST_NAME)) {
                out.snapshots.push(stamp);
            } else {
                // The manifest is put last: these are what an interrupted upload left.
                out.leftovers
                    .push(root.join("snapshots").join(stamp.as_str()));
            }
        }
        out.unrecognised = other.iter().map(|k| root.join(k)).collect();
        Ok(out)
    }

    fn read_manifest(&self, stamp: &Stamp) -> Result<Manifest> {
        let k = key(stamp, MANIFEST_NAME);
        let mut r = match self.objects.get(&k) {
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.unknown(stamp))
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

    fn changeable_by_others(&self, _stamp: &Stamp) -> Option<(PathBuf, String)> {
        fsio::changeable_by_others(self.objects.location())
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let listing = self.list()?;
        let (stamps, _) = self.by_stamp()?;
        for (stamp, keys) in stamps {
            if !keys.contains(&key(&stamp, MANIFEST_NAME)) {
                for k in keys {
                    self.objects.delete(&k)?;
                }
            }
        }
        Ok(listing.leftovers)
    }

    fn places_written(&self) -> Vec<PathBuf> {
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
