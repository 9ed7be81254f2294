//! Durable file-system steps: private folders and files, streaming copy with hashing,
//! fsync of files and folders, and the temporary-name-then-rename switch.
//!
//! Every write that matters goes through [`sibling_temp`], is fsynced, renamed over its final
//! name with [`replace`], and then the folder is fsynced. Copies stream through a fixed buffer,
//! so memory stays bounded whatever the file size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};

const BUF: usize = 1 << 20;

/// Mode of every folder the tool creates inside a backup dir.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the tool creates inside a backup dir.
pub const FILE_MODE: u32 = 0o600;

/// Size and SHA-256 (lower-case hex) of a stream of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    /// Number of bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Stream `reader` into `writer` (if any), hashing every byte once.
fn pump(reader: &mut dyn Read, mut writer: Option<&mut dyn Write>) -> io::Result<Digested> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(w) = writer.as_deref_mut() {
            w.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    Ok(Digested {
        size,
        sha256: hex(&hasher.finalize()),
    })
}

/// Size and SHA-256 of the file at `path`, read as a stream.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or read.
pub fn hash_file(path: &Path) -> Result<Digested> {
    let mut f = File::open(path).ctx("open", path)?;
    pump(&mut f, None).ctx("read", path)
}

/// Copy `src` to a new file `dst` (mode 0600, must not exist unless `overwrite`), hashing the
/// bytes as they pass, and fsync `dst`. The folder is not fsynced: callers do that once.
///
/// # Errors
/// [`Error::Io`] naming whichever of the two paths failed.
pub fn copy_hashed(src: &Path, dst: &Path, overwrite: bool) -> Result<Digested> {
    let mut input = File::open(src).ctx("open", src)?;
    let mut opts = OpenOptions::new();
    opts.write(true).mode(FILE_MODE);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut out = opts.open(dst).ctx("create", dst)?;
    let mut write_err = None;
    let digest = {
        let mut w = ErrTap {
            inner: &mut out,
            err: &mut write_err,
        };
        pump(&mut input, Some(&mut w))
    };
    let result = match (digest, write_err) {
        (_, Some(e)) => Err(Error::io("write", dst, e)),
        (Err(e), None) => Err(Error::io("read", src, e)),
        (Ok(d), None) => out.sync_all().ctx("fsync", dst).map(|()| d),
    };
    if result.is_err() {
        // A partial copy (a full disk, a read error) must not stay behind.
        drop(out);
        let _ = fs::remove_file(dst);
    }
    result
}

/// A writer that remembers its own error, so a copy can tell a read failure from a write one.
struct ErrTap<'a> {
    inner: &'a mut File,
    err: &'a mut Option<io::Error>,
}

impl Write for ErrTap<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            *self.err = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// fsync a file that is already written.
///
/// # Errors
/// [`Error::Io`] when it cannot be opened or synced.
pub fn fsync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .ctx("fsync", path)
}

/// fsync a folder, so that creations, renames and removals inside it are durable.
///
/// # Errors
/// [`Error::Io`] when it cannot be opened or synced.
pub fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .ctx("fsync folder", path)
}

/// Create one folder with mode 0700; its parent must exist.
///
/// # Errors
/// [`Error::Io`], including when the folder already exists.
pub fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .ctx("create folder", path)
}

/// Create a folder and its missing parents, each new one with mode 0700.
///
/// # Errors
/// [`Error::Io`].
pub fn create_private_dir_all(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(DIR_MODE)
        .recursive(true)
        .create(path)
        .ctx("create folder", path)
}

/// Set mode 0600 (files) or 0700 (folders).
///
/// # Errors
/// [`Error::Io`].
pub fn make_private(path: &Path, is_dir: bool) -> Result<()> {
    let mode = if is_dir { DIR_MODE } else { FILE_MODE };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).ctx("set permissions of", path)
}

/// The temporary name next to `target` under which its new content is prepared, on the same
/// file system, so that [`replace`] is an atomic rename.
///
/// # Errors
/// [`Error::BadPath`] when `target` has no file name.
pub fn sibling_temp(target: &Path, purpose: &str) -> Result<PathBuf> {
    let name = target.file_name().ok_or_else(|| Error::BadPath {
        path: target.to_path_buf(),
        problem: "has no file name".into(),
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".atocore-{purpose}.tmp"));
    Ok(target.with_file_name(tmp))
}

/// The folder holding `path` ("." for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Atomically put `tmp` (already written and fsynced) in place of `target`, then fsync the
/// folder so the switch survives a crash. A reader sees the old file or the new one, never a mix.
///
/// # Errors
/// [`Error::Io`] when the rename or the folder fsync fails; the old `target` is then intact.
pub fn replace(tmp: &Path, target: &Path) -> Result<()> {
    match switch_in(tmp, target)? {
        None => Ok(()),
        Some(_) => fsync_dir(parent_of(target)),
    }
}

/// The switch of a restore: rename `tmp` (written and fsynced) over `target`, then fsync the
/// folder. `Err` only when the rename failed (so `target` is as it was); a failed folder fsync
/// after the rename comes back as a warning, since the switch itself already happened.
///
/// # Errors
/// [`Error::Io`] when the rename fails.
pub fn switch_in(tmp: &Path, target: &Path) -> Result<Option<String>> {
    fs::rename(tmp, target).map_err(|e| {
        Error::io(
            "rename into place",
            target,
            io::Error::new(e.kind(), format!("from {}: {e}", tmp.display())),
        )
    })?;
    Ok(fsync_dir(parent_of(target))
        .err()
        .map(|e| format!("switched in, but not made durable: {e}")))
}

/// Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`), then fsync their folder:
/// a reader sees either the old pair or the swapped pair, never a missing path. Both must
/// exist and sit on one file system. Like [`switch_in`], a failed fsync after the exchange is
/// a warning.
///
/// # Errors
/// [`Error::Io`] when the exchange fails; `Unsupported`-kind errors mean the file system
/// cannot exchange (the caller may fall back to two renames).
pub fn exchange(a: &Path, b: &Path) -> Result<Option<String>> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|e| {
        let e = io::Error::from(e);
        Error::io(
            "exchange",
            b,
            io::Error::new(e.kind(), format!("with {}: {e}", a.display())),
        )
    })?;
    let mut synced = fsync_dir(parent_of(b));
    if synced.is_ok() && parent_of(a) != parent_of(b) {
        synced = fsync_dir(parent_of(a));
    }
    Ok(synced
        .err()
        .map(|e| format!("switched in, but not made durable: {e}")))
}

/// Write `bytes` to `target` through a temporary name, fsync, rename and folder fsync.
///
/// # Errors
/// [`Error::Io`]; on failure `target` is untouched.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = sibling_temp(target, "write")?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .ctx("create", &tmp)?;
    f.write_all(bytes).ctx("write", &tmp)?;
    f.sync_all().ctx("fsync", &tmp)?;
    drop(f);
    replace(&tmp, target)
}

/// Remove a file, treating "already gone" as success (it may vanish between check and unlink).
/// Returns whether this call removed it.
///
/// # Errors
/// [`Error::Io`] for any other failure.
pub fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// For a component whose live store is one file: whether it exists; a folder in its place
/// is [`Error::BadPath`] saying it is not `what` (e.g. "a SQLite database file").
///
/// # Errors
/// [`Error::BadPath`], [`Error::Io`].
pub fn live_file_exists(live: &Path, what: &str) -> Result<bool> {
    match kind_of(live)? {
        None => Ok(false),
        Some(t) if t.is_dir() => Err(Error::BadPath {
            path: live.to_path_buf(),
            problem: format!("is a folder, not {what}"),
        }),
        Some(_) => Ok(true),
    }
}

/// What is at `path`, without following a symlink at the end.
///
/// # Errors
/// [`Error::Io`] for anything but "not found".
pub fn kind_of(path: &Path) -> Result<Option<fs::FileType>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_known_vector() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        let d = hash_file(&p).unwrap();
        assert_eq!(d.size, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn copy_hashed_copies_bytes_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&src, &data).unwrap();
        let dst = dir.path().join("dst");
        let d = copy_hashed(&src, &dst, false).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), data);
        assert_eq!(d, hash_file(&src).unwrap());
        assert_eq!(
            fs::metadata(&dst).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let err = copy_hashed(&src, &dst, false).unwrap_err();
        assert!(err.to_string().contains("dst"), "{err}");
    }

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        fs::write(&p, b"old content").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
