//! Durable, hostile-safe file-system steps. Every file the tool creates, reads or replaces goes
//! through here.
//!
//! The threat: whoever runs the service can write its data folder (and everything under it)
//! while this tool runs as root. So, under a folder:
//! - a folder is opened once ([`Dir`]) and everything below it is reached relative to that
//!   handle, one name at a time, never following a symlink (`O_NOFOLLOW`), so swapping a name
//!   for a link mid-run leads nowhere;
//! - a file is created only as a new name (`O_CREAT|O_EXCL|O_NOFOLLOW`), after removing a
//!   leftover only when it is ours (a regular file or folder owned by this process's user);
//!   a symlink where the tool writes is refused ([`Error::Symlink`]), never followed;
//! - a file is read only if it is a regular file, checked on the open handle (`O_NONBLOCK`, so
//!   a FIFO cannot make the open hang; `fstat` before a byte is read);
//! - new content for a live path is built in a private folder beside it and switched in by one
//!   rename or exchange ([`crate::Replacement`]).
//!
//! The folders the operator names (backup dir, the folder holding a live store, a `--to`
//! folder) are opened following symlinks on the way: operators do symlink data folders. The
//! last name of a live store is never followed.
//!
//! Durability: written files are fsynced before they are renamed into place, and the folder
//! is fsynced after. Copies stream through a fixed buffer.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component as PathPart, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags, Stat, CWD};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The kind of a file-system entry (re-exported so components need no file-system crate).
pub use rustix::fs::FileType;

const BUF: usize = 1 << 20;

/// Mode of every folder the tool creates inside a backup dir, and of its private temporary
/// folders.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the tool creates inside a backup dir.
pub const FILE_MODE: u32 = 0o600;
/// Mode of a missing folder above a restored store's own folder, created by a restore onto
/// an empty host: the service must be able to reach its folder through it.
pub const ANCESTOR_MODE: u32 = 0o755;
/// How deep below a live folder store the tool walks: a Chroma folder is two levels deep, so
/// anything past this is not a store and is refused before a byte is written.
pub const MAX_DEPTH: usize = 64;
/// How many entries [`Dir::remove_tree`] handles before it concludes that something keeps
/// writing into the tree it removes.
const MAX_REMOVE_STEPS: u64 = 100_000_000;

/// Owner, group and permission bits of a file or folder, as recorded in a manifest and given
/// back on restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Permission bits (`0o640`, ...). Set-id bits are never given back.
    pub mode: u32,
}

/// Permission bits a restore gives back: no set-user-id or set-group-id on files, no sticky.
const FILE_MODE_MASK: u32 = 0o777;
/// Folders keep set-group-id (shared group folders) and sticky.
const DIR_MODE_MASK: u32 = 0o3777;

impl Owner {
    /// The owner of what `st` describes.
    pub fn of(st: &Stat) -> Owner {
        Owner {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
        }
    }
}

/// Size and SHA-256 (lower-case hex) of a stream of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    /// Number of bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// What a file type is called in messages.
pub fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a folder",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "an unknown kind of file",
    }
}

/// The type of what `st` describes.
pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from(e)
}

/// Stream `reader` into `writer` (if any), hashing every byte once. Stops at a requested
/// interrupt between buffers.
fn pump(
    reader: &mut dyn Read,
    mut writer: Option<&mut dyn Write>,
) -> std::result::Result<Digested, PumpError> {
    // The hash runs on a thread of its own once the stream is large: reading (a
    // repository's reader decompresses and checks every chunk) and writing overlap with it.
    let mut hasher = crate::sha::BackgroundSha::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        crate::interrupt::check().map_err(PumpError::Stop)?;
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Read(e)),
        };
        if let Some(w) = writer.as_deref_mut() {
            w.write_all(&buf[..n]).map_err(PumpError::Write)?;
        }
        buf = hasher.feed(buf, n);
        size += n as u64;
        crate::progress::advance(n as u64);
    }
    let sha = hasher.finish().ok_or_else(|| {
        PumpError::Read(io::Error::other("the thread computing the SHA-256 stopped"))
    })?;
    Ok(Digested {
        size,
        sha256: hex(&sha),
    })
}

enum PumpError {
    Read(io::Error),
    Write(io::Error),
    Stop(Error),
}

/// Read into `buf` until it is full or `r` ends (retrying interrupted reads); returns how
/// many bytes were read: fewer than `buf.len()` only at the end.
///
/// # Errors
/// The first read error other than an interruption.
pub fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Size and SHA-256 of what `r` yields (`path` names it in messages).
///
/// # Errors
/// [`Error::Io`] naming `path`; [`Error::Interrupted`].
pub fn hash_reader(r: &mut dyn Read, path: &Path) -> Result<Digested> {
    match pump(r, None) {
        Ok(d) => Ok(d),
        Err(PumpError::Read(e) | PumpError::Write(e)) => Err(Error::io("read", path, e)),
        Err(PumpError::Stop(e)) => Err(e),
    }
}

/// Size and SHA-256 of an open file, read as a stream from where it stands.
///
/// # Errors
/// [`Error::Io`] naming `path`; [`Error::Interrupted`].
pub fn hash_open(f: &mut File, path: &Path) -> Result<Digested> {
    hash_reader(f, path)
}

/// Size and SHA-256 of the regular file at `path` (its last name is not followed).
///
/// # Errors
/// [`Error::Io`], [`Error::Symlink`], [`Error::NotRegular`].
pub fn hash_file(path: &Path) -> Result<Digested> {
    let mut f = open_regular(path)?;
    hash_open(&mut f, path)
}

/// Stream `src` into `dst`, hashing on the way; fsync `dst`. Says which side failed.
///
/// # Errors
/// [`Error::Io`] naming `src_path` or `dst_path`; [`Error::Interrupted`].
pub fn copy_open(
    src: &mut dyn Read,
    src_path: &Path,
    dst: &mut File,
    dst_path: &Path,
) -> Result<Digested> {
    copy_open_sync(src, src_path, dst, dst_path, true)
}

/// [`copy_open`], with the fsync only when `sync` (a scratch copy that another, durable copy
/// replaces need not reach the disk).
///
/// # Errors
/// As [`copy_open`].
pub fn copy_open_sync(
    src: &mut dyn Read,
    src_path: &Path,
    dst: &mut File,
    dst_path: &Path,
    sync: bool,
) -> Result<Digested> {
    let d = match pump(src, Some(dst)) {
        Ok(d) => d,
        Err(PumpError::Read(e)) => return Err(Error::io("read", src_path, e)),
        Err(PumpError::Write(e)) => return Err(Error::io("write", dst_path, e)),
        Err(PumpError::Stop(e)) => return Err(e),
    };
    if sync {
        dst.sync_all()
            .map_err(|e| Error::io("fsync", dst_path, e))?;
    }
    Ok(d)
}

/// The folder holding `path` ("." for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path`'s last name, which must be a plain name (not `..`, not empty).
///
/// # Errors
/// [`Error::BadPath`].
pub fn last_name(path: &Path) -> Result<&OsStr> {
    match path.components().next_back() {
        Some(PathPart::Normal(n)) => Ok(n),
        _ => Err(Error::BadPath {
            path: path.to_path_buf(),
            problem: "does not end in a file or folder name".into(),
        }),
    }
}

/// The name a live file is stored under inside a snapshot: its own name when that is UTF-8
/// (manifest paths are text), else `x-` and the hex of its bytes. The live path itself is
/// recorded exactly in the manifest's sources, so nothing is lost.
///
/// # Errors
/// [`Error::BadPath`] when `live` does not end in a name.
pub fn snapshot_name(live: &Path) -> Result<String> {
    let name = last_name(live)?;
    Ok(match name.to_str() {
        Some(s) => s.to_owned(),
        None => format!("x-{}", hex(name.as_bytes())),
    })
}

/// Check that `name` is one plain name (no `/`, not `.` or `..`, not empty).
fn plain(name: &OsStr, within: &Path) -> Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
        return Err(Error::BadPath {
            path: within.join(name),
            problem: "is not a plain name".into(),
        });
    }
    Ok(())
}

/// The regular file at `path`, opened for reading: the folder holding it is opened as the
/// operator named it, its last name is never followed, and anything but a regular file is
/// refused before a byte is read.
///
/// # Errors
/// [`Error::Symlink`], [`Error::NotRegular`], [`Error::Io`].
pub fn open_regular(path: &Path) -> Result<File> {
    Dir::open(parent_of(path))?.open_file(last_name(path)?)
}

/// What is at `path`, without following its last name (`None`: nothing).
///
/// # Errors
/// [`Error::Io`] for anything but "not found".
pub fn stat_at(path: &Path) -> Result<Option<Stat>> {
    match rfs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::io("inspect", path, errno_io(e))),
    }
}

/// What is at `path` (its last name not followed): `None` when nothing. Kept for callers that
/// only need the type.
///
/// # Errors
/// [`Error::Io`] for anything but "not found".
pub fn kind_of(path: &Path) -> Result<Option<FileType>> {
    Ok(stat_at(path)?.map(|st| file_type(&st)))
}

/// Refuse a symlink, FIFO, device or socket at a live path (the last name is not followed),
/// naming it; `Ok(None)` when nothing is there, else its type.
///
/// # Errors
/// [`Error::Symlink`], [`Error::NotRegular`], [`Error::Io`].
pub fn plain_kind(path: &Path) -> Result<Option<FileType>> {
    match kind_of(path)? {
        None => Ok(None),
        Some(FileType::Symlink) => Err(symlink_error(path)),
        Some(t @ (FileType::RegularFile | FileType::Directory)) => Ok(Some(t)),
        Some(t) => Err(Error::NotRegular {
            path: path.to_path_buf(),
            what: kind_name(t),
            expected: "a regular file or folder",
        }),
    }
}

fn symlink_error(path: &Path) -> Error {
    Error::Symlink {
        path: path.to_path_buf(),
        target: std::fs::read_link(path).ok(),
    }
}

/// For a component whose live store is one file: whether it exists. A symlink, a folder or a
/// special file in its place is an error saying it is not `what`.
///
/// # Errors
/// [`Error::Symlink`], [`Error::NotRegular`], [`Error::Io`].
pub fn live_file_exists(live: &Path, what: &'static str) -> Result<bool> {
    match kind_of(live)? {
        None => Ok(false),
        Some(FileType::RegularFile) => Ok(true),
        Some(FileType::Symlink) => Err(symlink_error(live)),
        Some(t) => Err(Error::NotRegular {
            path: live.to_path_buf(),
            what: kind_name(t),
            expected: what,
        }),
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Give the open file or folder `fd` the owner, group and mode of `owner` (set-id bits
/// dropped). Returns a warning, never an error: the content is right either way, and a run
/// that may not chown (not root) says so.
pub fn apply_owner(fd: impl AsFd, owner: &Owner, path: &Path, is_dir: bool) -> Option<String> {
    let mut warning = None;
    let st = match rfs::fstat(&fd) {
        Ok(st) => st,
        Err(e) => return Some(format!("{}: cannot inspect: {e}", path.display())),
    };
    if (st.st_uid != owner.uid || st.st_gid != owner.gid)
        && owner.uid != u32::MAX
        && owner.gid != u32::MAX
    {
        let uid = rustix::fs::Uid::from_raw(owner.uid);
        let gid = rustix::fs::Gid::from_raw(owner.gid);
        if let Err(e) = rfs::fchown(&fd, Some(uid), Some(gid)) {
            warning = Some(format!(
                "{}: cannot give it owner {}:{} ({}); it stays {}:{}",
                path.display(),
                owner.uid,
                owner.gid,
                errno_io(e),
                st.st_uid,
                st.st_gid
            ));
        }
    }
    let mask = if is_dir {
        DIR_MODE_MASK
    } else {
        FILE_MODE_MASK
    };
    if let Err(e) = rfs::fchmod(&fd, Mode::from_raw_mode(owner.mode & mask)) {
        warning.get_or_insert(format!(
            "{}: cannot set mode {:o}: {}",
            path.display(),
            owner.mode & mask,
            errno_io(e)
        ));
    }
    warning
}

/// An open folder: everything below it is reached through this handle, one name at a time,
/// never following a symlink. Its path is kept for messages only.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Open a folder the operator named (symlinks on the way are followed).
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::NotRegular`] when it is not a folder.
    pub fn open(path: &Path) -> Result<Dir> {
        match rfs::openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir {
                fd,
                path: path.to_path_buf(),
            }),
            Err(Errno::NOTDIR) => Err(match kind_of(path).ok().flatten() {
                Some(t) if t != FileType::Directory => Error::NotRegular {
                    path: path.to_path_buf(),
                    what: kind_name(t),
                    expected: "a folder",
                },
                _ => Error::io("open folder", path, errno_io(Errno::NOTDIR)),
            }),
            Err(e) => Err(Error::io("open folder", path, errno_io(e))),
        }
    }

    /// Open the folder at the absolute, already resolved path `real` one name at a time from
    /// `/`, following no symlink on the way: a name that was swapped for a link after the path
    /// was resolved is refused instead of followed.
    ///
    /// # Errors
    /// [`Error::Symlink`] (naming the swapped component), [`Error::Io`].
    pub fn open_real(real: &Path) -> Result<Dir> {
        let mut dir = Dir::open(Path::new("/"))?;
        for part in real.components() {
            match part {
                PathPart::RootDir => {}
                PathPart::Normal(n) => dir = dir.open_dir(n)?,
                _ => {
                    return Err(Error::BadPath {
                        path: real.to_path_buf(),
                        problem: "is not a resolved absolute path".into(),
                    })
                }
            }
        }
        Ok(Dir {
            fd: dir.fd,
            path: real.to_path_buf(),
        })
    }

    /// Open a folder whose last name must not be a symlink (a live folder store): its parent
    /// as the operator named it, then the last name without following it.
    ///
    /// # Errors
    /// As [`Dir::open`] and [`Dir::open_dir`].
    pub fn open_nofollow(path: &Path) -> Result<Dir> {
        Dir::open(parent_of(path))?.open_dir(last_name(path)?)
    }

    /// A second handle on the same folder.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn try_clone(&self) -> Result<Dir> {
        Ok(Dir {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| Error::io("open folder", &self.path, e))?,
            path: self.path.clone(),
        })
    }

    /// The folder's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside, for messages.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// What `err` from an operation on `name` means: a symlink or a special file is named as
    /// such, anything else is an I/O error.
    fn refusal(&self, name: &OsStr, op: &'static str, err: Errno) -> Error {
        let path = self.join(name);
        match self.stat(name) {
            Ok(Some(st)) if file_type(&st) == FileType::Symlink => Error::Symlink {
                target: rfs::readlinkat(&self.fd, name, Vec::new())
                    .ok()
                    .map(|c| PathBuf::from(OsString::from_vec(c.into_bytes()))),
                path,
            },
            _ => Error::io(op, path, errno_io(err)),
        }
    }

    /// What is at `name` (not followed); `None` when nothing.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn stat(&self, name: &OsStr) -> Result<Option<Stat>> {
        plain(name, &self.path)?;
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("inspect", self.join(name), errno_io(e))),
        }
    }

    /// The folder's own owner, group and mode.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn owner(&self) -> Result<Owner> {
        rfs::fstat(&self.fd)
            .map(|st| Owner::of(&st))
            .map_err(|e| Error::io("inspect", &self.path, errno_io(e)))
    }

    /// Which folder this is: its device and inode, to tell it from another folder put at its
    /// name since.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn identity(&self) -> Result<(u64, u64)> {
        rfs::fstat(&self.fd)
            .map(|st| (st.st_dev, st.st_ino))
            .map_err(|e| Error::io("inspect", &self.path, errno_io(e)))
    }

    /// Set this folder's permission bits.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        rfs::fchmod(&self.fd, Mode::from_raw_mode(mode))
            .map_err(|e| Error::io("set permissions of", &self.path, errno_io(e)))
    }

    /// Give this folder `owner` (see [`apply_owner`]).
    pub fn set_owner(&self, owner: &Owner) -> Option<String> {
        apply_owner(&self.fd, owner, &self.path, true)
    }

    /// Open the folder `name` inside, not following a symlink.
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::NotRegular`], [`Error::Io`].
    pub fn open_dir(&self, name: &OsStr) -> Result<Dir> {
        plain(name, &self.path)?;
        match rfs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir {
                fd,
                path: self.join(name),
            }),
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => match self.stat(name)? {
                Some(st) if file_type(&st) != FileType::Symlink => Err(Error::NotRegular {
                    path: self.join(name),
                    what: kind_name(file_type(&st)),
                    expected: "a folder",
                }),
                _ => Err(self.refusal(name, "open folder", e)),
            },
            Err(e) => Err(Error::io("open folder", self.join(name), errno_io(e))),
        }
    }

    /// Open the folder at the relative path `rel` below, each name in turn, none followed.
    ///
    /// # Errors
    /// [`Error::BadPath`] for a path that is not plain and relative; as [`Dir::open_dir`].
    pub fn open_beneath(&self, rel: &Path) -> Result<Dir> {
        let mut parts = Vec::new();
        for part in rel.components() {
            match part {
                PathPart::Normal(n) => parts.push(n),
                PathPart::CurDir => {}
                _ => {
                    return Err(Error::BadPath {
                        path: self.join(rel),
                        problem: "is not a plain relative path".into(),
                    })
                }
            }
        }
        let mut dir = self.try_clone()?;
        for p in parts {
            dir = dir.open_dir(p)?;
        }
        Ok(dir)
    }

    /// Open the regular file `name` inside for reading. Not followed if a symlink; refused
    /// unless a regular file, checked on the open handle before a byte is read (the open does
    /// not wait on a FIFO).
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::NotRegular`], [`Error::Io`].
    pub fn open_file(&self, name: &OsStr) -> Result<File> {
        plain(name, &self.path)?;
        let fd = rfs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP => self.refusal(name, "open", e),
            // A socket cannot be opened at all.
            Errno::NXIO => match self.stat(name) {
                Ok(Some(st)) => Error::NotRegular {
                    path: self.join(name),
                    what: kind_name(file_type(&st)),
                    expected: "a regular file",
                },
                _ => Error::io("open", self.join(name), errno_io(e)),
            },
            e => Error::io("open", self.join(name), errno_io(e)),
        })?;
        let st = rfs::fstat(&fd).map_err(|e| Error::io("inspect", self.join(name), errno_io(e)))?;
        let t = file_type(&st);
        if t != FileType::RegularFile {
            return Err(Error::NotRegular {
                path: self.join(name),
                what: kind_name(t),
                expected: "a regular file",
            });
        }
        // Reads of a regular file never block anyway; clear the flag for plain semantics.
        let _ = rfs::fcntl_setfl(&fd, OFlags::empty());
        Ok(File::from(fd))
    }

    /// Open the regular file at relative path `rel` below (no name on the way followed).
    ///
    /// # Errors
    /// As [`Dir::open_beneath`] and [`Dir::open_file`].
    pub fn open_file_beneath(&self, rel: &Path) -> Result<File> {
        let name = last_name(rel)?;
        match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.open_beneath(p)?.open_file(name),
            _ => self.open_file(name),
        }
    }

    /// Create the new file `name` inside (`O_CREAT|O_EXCL|O_NOFOLLOW`): never an existing
    /// name, never through a symlink.
    ///
    /// # Errors
    /// [`Error::Symlink`] when a symlink is there; [`Error::Io`] (`AlreadyExists` when
    /// anything else is); [`Error::Interrupted`].
    pub fn create_file(&self, name: &OsStr, mode: u32) -> Result<File> {
        crate::interrupt::check()?;
        self.create_file_now(name, mode)
    }

    /// [`Dir::create_file`] even after an interrupt was requested: for bookkeeping that must
    /// be written whatever happens (the restore journal).
    fn create_file_now(&self, name: &OsStr, mode: u32) -> Result<File> {
        plain(name, &self.path)?;
        rfs::openat(
            &self.fd,
            name,
            OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map(File::from)
        .map_err(|e| self.refusal(name, "create", e))
    }

    /// Remove what is at `name` if it is a leftover of our own: a regular file or a real
    /// folder owned by this process's user. Nothing there is fine. A symlink is refused; a
    /// file of another user is refused (it is not ours to remove).
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::WrongPlace`], [`Error::Io`].
    pub fn remove_own_leftover(&self, name: &OsStr) -> Result<()> {
        self.check_own_leftover(name)?;
        self.remove_tree(name)?;
        Ok(())
    }

    /// Check, without changing anything, that `name` is free or a leftover of our own (what
    /// [`Dir::remove_own_leftover`] would remove), so a run can refuse before it starts.
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::WrongPlace`], [`Error::Io`].
    pub fn check_own_leftover(&self, name: &OsStr) -> Result<()> {
        let Some(st) = self.stat(name)? else {
            return Ok(());
        };
        let t = file_type(&st);
        if t == FileType::Symlink {
            return Err(self.refusal(name, "use", Errno::LOOP));
        }
        if st.st_uid != rustix::process::geteuid().as_raw()
            || !matches!(t, FileType::RegularFile | FileType::Directory)
        {
            return Err(Error::WrongPlace {
                path: self.join(name),
                problem: format!(
                    "is where atocore-backup keeps a temporary file or folder, but holds {} owned \
                     by uid {} that it did not make; remove it by hand",
                    kind_name(t),
                    st.st_uid
                ),
            });
        }
        Ok(())
    }

    /// Create a temporary file `name` (one of our own temporary names), removing a leftover
    /// of ours first.
    ///
    /// # Errors
    /// As [`Dir::remove_own_leftover`] and [`Dir::create_file`].
    pub fn create_temp_file(&self, name: &OsStr, mode: u32) -> Result<File> {
        self.remove_own_leftover(name)?;
        self.create_file(name, mode)
    }

    /// Create the new folder `name` inside with `mode` and open it (never through a symlink,
    /// never an existing name).
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::Io`] (`AlreadyExists`), [`Error::Interrupted`].
    pub fn create_dir(&self, name: &OsStr, mode: u32) -> Result<Dir> {
        crate::interrupt::check()?;
        plain(name, &self.path)?;
        rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))
            .map_err(|e| self.refusal(name, "create folder", e))?;
        let d = self.open_dir(name)?;
        // The umask may have narrowed it; the exact mode is part of the contract.
        let _ = rfs::fchmod(&d.fd, Mode::from_raw_mode(mode));
        Ok(d)
    }

    /// Create a private temporary folder `name` (0700), removing a leftover of ours first.
    ///
    /// # Errors
    /// As [`Dir::remove_own_leftover`] and [`Dir::create_dir`].
    pub fn create_temp_dir(&self, name: &OsStr) -> Result<Dir> {
        self.remove_own_leftover(name)?;
        self.create_dir(name, DIR_MODE)
    }

    /// The folder `name`, created with `mode` when missing.
    ///
    /// # Errors
    /// As [`Dir::open_dir`] and [`Dir::create_dir`].
    pub fn ensure_dir(&self, name: &OsStr, mode: u32) -> Result<Dir> {
        match self.stat(name)? {
            None => match self.create_dir(name, mode) {
                Err(Error::Io { cause, .. }) if cause.kind() == io::ErrorKind::AlreadyExists => {
                    self.open_dir(name)
                }
                r => r,
            },
            Some(_) => self.open_dir(name),
        }
    }

    /// Open `name` for appending, creating it (mode 0600) if missing; refused unless a regular
    /// file with one link (a hard link to another file would make us write into that file).
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::NotRegular`], [`Error::WrongPlace`], [`Error::Io`].
    pub fn open_append(&self, name: &OsStr) -> Result<File> {
        crate::interrupt::check()?;
        plain(name, &self.path)?;
        let fd = rfs::openat(
            &self.fd,
            name,
            OFlags::WRONLY
                | OFlags::APPEND
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(|e| self.refusal(name, "open", e))?;
        self.check_single_regular(&fd, name)?;
        let _ = rfs::fcntl_setfl(&fd, OFlags::APPEND);
        Ok(File::from(fd))
    }

    /// Open the existing regular file `name` (one link, never through a symlink) for reading
    /// and writing: to finish a file this run created.
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::NotRegular`], [`Error::WrongPlace`], [`Error::Io`].
    pub fn open_rw(&self, name: &OsStr) -> Result<File> {
        crate::interrupt::check()?;
        plain(name, &self.path)?;
        let fd = rfs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.refusal(name, "open", e))?;
        self.check_single_regular(&fd, name)?;
        let _ = rfs::fcntl_setfl(&fd, OFlags::empty());
        Ok(File::from(fd))
    }

    /// Open (creating if missing) a lock file `name` for reading and writing: a regular file
    /// with one link, never through a symlink. Returns the file and whether this call
    /// created it.
    ///
    /// # Errors
    /// [`Error::Symlink`], [`Error::NotRegular`], [`Error::WrongPlace`], [`Error::Io`].
    pub fn open_lock(&self, name: &OsStr) -> Result<(File, bool)> {
        plain(name, &self.path)?;
        let common = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        let (fd, created) = match rfs::openat(
            &self.fd,
            name,
            common | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(FILE_MODE),
        ) {
            Ok(fd) => (fd, true),
            Err(Errno::EXIST) => (
                rfs::openat(&self.fd, name, common | OFlags::NONBLOCK, Mode::empty())
                    .map_err(|e| self.refusal(name, "open", e))?,
                false,
            ),
            Err(e) => return Err(self.refusal(name, "create", e)),
        };
        self.check_single_regular(&fd, name)?;
        let _ = rfs::fcntl_setfl(&fd, OFlags::empty());
        Ok((File::from(fd), created))
    }

    fn check_single_regular(&self, fd: &OwnedFd, name: &OsStr) -> Result<()> {
        let st = rfs::fstat(fd).map_err(|e| Error::io("inspect", self.join(name), errno_io(e)))?;
        let t = file_type(&st);
        if t != FileType::RegularFile {
            return Err(Error::NotRegular {
                path: self.join(name),
                what: kind_name(t),
                expected: "a regular file",
            });
        }
        if st.st_nlink > 1 {
            return Err(Error::WrongPlace {
                path: self.join(name),
                problem: format!(
                    "has {} hard links, so writing it could change another file; remove it",
                    st.st_nlink
                ),
            });
        }
        Ok(())
    }

    /// Remove the file or symlink `name` (never following it). Returns whether it was there.
    ///
    /// # Errors
    /// [`Error::Io`] for anything but "not found".
    pub fn remove_file(&self, name: &OsStr) -> Result<bool> {
        plain(name, &self.path)?;
        match rfs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(Error::io("remove", self.join(name), errno_io(e))),
        }
    }

    /// Remove `name` and, if it is a folder, everything in it, never following a symlink
    /// (a link inside is removed, not what it points to). Returns whether anything was there.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn remove_tree(&self, name: &OsStr) -> Result<bool> {
        let Some(st) = self.stat(name)? else {
            return Ok(false);
        };
        if file_type(&st) != FileType::Directory {
            return self.remove_file(name);
        }
        // No recursion and no handle per level, whatever the depth (a hostile tree can be
        // tens of thousands of folders deep): files go, an empty folder goes, and a folder
        // inside a subfolder is moved up into the folder being removed, so the tree gets
        // shallower with every step. At most three folders are open at a time; each folder
        // is moved at most once per level it sits below the top.
        let top = self.open_dir(name)?;
        let mut steps: u64 = 0;
        let mut next_free: u64 = 0;
        loop {
            let entries = top.entries()?;
            if entries.is_empty() {
                break;
            }
            for (child, t) in entries {
                steps += 1;
                if steps > MAX_REMOVE_STEPS {
                    return Err(Error::WrongPlace {
                        path: self.join(name),
                        problem: "kept changing while it was being removed (something is still \
                                  writing into it); remove it by hand"
                            .into(),
                    });
                }
                if t != FileType::Directory {
                    top.remove_file(&child)?;
                    continue;
                }
                let sub = top.open_dir(&child)?;
                let mut deeper = None;
                for (g, gt) in sub.entries()? {
                    if gt == FileType::Directory {
                        deeper = Some(g);
                        break;
                    }
                    sub.remove_file(&g)?;
                }
                match deeper {
                    Some(g) => {
                        let free = loop {
                            next_free += 1;
                            let n = OsString::from(format!(".atocore-rm-{next_free}"));
                            if top.stat(&n)?.is_none() {
                                break n;
                            }
                        };
                        sub.rename(&g, &top, &free)?;
                    }
                    None => match rfs::unlinkat(&top.fd, &child, AtFlags::REMOVEDIR) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        // Something appeared in it meanwhile: the next round takes it.
                        Err(Errno::NOTEMPTY) => {}
                        Err(e) => {
                            return Err(Error::io("remove folder", top.join(&child), errno_io(e)))
                        }
                    },
                }
            }
        }
        drop(top);
        match rfs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(true),
            Err(e) => Err(Error::io("remove folder", self.join(name), errno_io(e))),
        }
    }

    /// The names inside (without `.` and `..`) with their types as the folder reports them,
    /// sorted by name.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn entries(&self) -> Result<Vec<(OsString, FileType)>> {
        let mut dir = rfs::Dir::read_from(&self.fd)
            .map_err(|e| Error::io("read folder", &self.path, errno_io(e)))?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| Error::io("read folder", &self.path, errno_io(e)))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsString::from_vec(name.to_vec());
            let mut t = entry.file_type();
            if t == FileType::Unknown {
                t = match self.stat(&name)? {
                    Some(st) => file_type(&st),
                    None => continue,
                };
            }
            out.push((name, t));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Rename `from` (inside this folder) to `to_name` inside `to` (one file system): the
    /// switch of a restore. Names, not links, are moved: nothing is followed.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn rename(&self, from: &OsStr, to: &Dir, to_name: &OsStr) -> Result<()> {
        plain(from, &self.path)?;
        plain(to_name, &to.path)?;
        rfs::renameat(&self.fd, from, &to.fd, to_name).map_err(|e| {
            let e = errno_io(e);
            Error::io(
                "rename into place",
                to.join(to_name),
                io::Error::new(e.kind(), format!("from {}: {e}", self.join(from).display())),
            )
        })
    }

    /// Move `from` (inside this folder) to the new name `to_name` inside `to`, replacing
    /// nothing (`RENAME_NOREPLACE`): how a finished file is published.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists` when `to_name` exists; `CrossesDevices` across file
    /// systems).
    pub fn rename_new(&self, from: &OsStr, to: &Dir, to_name: &OsStr) -> Result<()> {
        plain(from, &self.path)?;
        plain(to_name, &to.path)?;
        rfs::renameat_with(&self.fd, from, &to.fd, to_name, RenameFlags::NOREPLACE)
            .map_err(|e| Error::io("put into place", to.join(to_name), errno_io(e)))
    }

    /// Swap `a` (inside this folder) with `b` inside `other` in one atomic step
    /// (`renameat2(RENAME_EXCHANGE)`): a reader sees the old pair or the new pair, never a
    /// missing name. `Unsupported`/`InvalidInput` errors mean the file system cannot
    /// exchange.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn exchange(&self, a: &OsStr, other: &Dir, b: &OsStr) -> Result<()> {
        plain(a, &self.path)?;
        plain(b, &other.path)?;
        rfs::renameat_with(&self.fd, a, &other.fd, b, RenameFlags::EXCHANGE).map_err(|e| {
            let e = errno_io(e);
            Error::io(
                "exchange",
                other.join(b),
                io::Error::new(e.kind(), format!("with {}: {e}", self.join(a).display())),
            )
        })
    }

    /// fsync the folder, so creations, renames and removals inside it are durable.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn sync(&self) -> Result<()> {
        rfs::fsync(&self.fd).map_err(|e| Error::io("fsync folder", &self.path, errno_io(e)))
    }

    /// Write `bytes` to `name` through a temporary name, fsync, rename and folder fsync; on
    /// failure `name` is as it was. Not stopped by an interrupt: it writes bookkeeping (the
    /// restore journal) that must stay true.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Symlink`].
    pub fn write_atomic(&self, name: &OsStr, bytes: &[u8]) -> Result<()> {
        self.write_atomic_mode(name, bytes, FILE_MODE)
    }

    /// [`Dir::write_atomic`], the file getting exactly `mode` (whatever the umask): for files
    /// others must read, such as a metrics file or a man page.
    ///
    /// # Errors
    /// As [`Dir::write_atomic`].
    pub fn write_atomic_mode(&self, name: &OsStr, bytes: &[u8], mode: u32) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = write_temp_name(name);
        self.remove_own_leftover(&tmp)?;
        let mut f = self.create_file_now(&tmp, mode)?;
        let written = f
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| f.write_all(bytes))
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("write", self.join(&tmp), e));
        drop(f);
        if let Err(e) = written.and_then(|()| self.rename(&tmp, self, name)) {
            let _ = self.remove_file(&tmp);
            return Err(e);
        }
        self.sync()
    }
}

impl Dir {
    /// Write what `from` yields to the new name `name` (temporary name, fsync, a rename that
    /// replaces nothing, folder fsync), streaming: memory does not grow with the size. Stops
    /// at a requested interrupt; on any failure `name` is as it was.
    ///
    /// # Errors
    /// [`Error::Io`] (`AlreadyExists` when `name` exists; naming `what` for a read failure);
    /// [`Error::Symlink`]; [`Error::Interrupted`].
    pub fn write_new_from(&self, name: &OsStr, from: &mut dyn Read, what: &Path) -> Result<()> {
        let tmp = write_temp_name(name);
        self.remove_own_leftover(&tmp)?;
        let mut f = self.create_file(&tmp, FILE_MODE)?;
        let written = copy_open(from, what, &mut f, &self.join(&tmp));
        drop(f);
        let placed = written.and_then(|_| {
            rfs::renameat_with(&self.fd, &tmp, &self.fd, name, RenameFlags::NOREPLACE)
                .map_err(|e| Error::io("put into place", self.join(name), errno_io(e)))
        });
        if let Err(e) = placed {
            let _ = self.remove_file(&tmp);
            return Err(e);
        }
        self.sync()
    }
}

/// The temporary name [`Dir::write_atomic`] writes `name` under: `.<name>.atocore-write.tmp`.
pub fn write_temp_name(name: &OsStr) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(".atocore-write.tmp");
    tmp
}

/// Remove what is at `path` (a folder with everything in it, or a file), never following a
/// symlink below `path`'s folder.
///
/// # Errors
/// [`Error::Io`].
pub fn remove_tree_at(path: &Path) -> Result<bool> {
    Dir::open(parent_of(path))?.remove_tree(last_name(path)?)
}

/// Open the folder at `path`, creating what is missing: folders above the last one get mode
/// 0755 (the service must reach its folder through them); the last one gets `last` (the
/// owner and mode recorded for a store's folder) or 0700. Returns the folder and warnings
/// (an owner that could not be given).
///
/// # Errors
/// [`Error::Io`], [`Error::Symlink`] (a name on the way that appeared as a symlink).
pub fn open_or_create_dir(path: &Path, last: Option<&Owner>) -> Result<(Dir, Vec<String>)> {
    open_or_create(path, last, Dir::open)
}

/// [`open_or_create_dir`] for a path resolved beforehand ([`real_path`]): the part that
/// exists is opened with [`Dir::open_real`], so nothing swapped for a link since is followed.
///
/// # Errors
/// As [`open_or_create_dir`].
pub fn open_or_create_real_dir(path: &Path, last: Option<&Owner>) -> Result<(Dir, Vec<String>)> {
    open_or_create(path, last, Dir::open_real)
}

fn open_or_create(
    path: &Path,
    last: Option<&Owner>,
    open: fn(&Path) -> Result<Dir>,
) -> Result<(Dir, Vec<String>)> {
    let path = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
    if kind_of(&path)?.is_some() {
        return Ok((open(&path)?, Vec::new()));
    }
    // The deepest folder that exists (as the operator named it), then each missing name.
    let mut existing = path.as_path();
    let mut missing = Vec::new();
    while kind_of(existing)?.is_none() {
        missing.push(last_name(existing)?.to_owned());
        existing = parent_of(existing);
    }
    let mut dir = open(existing)?;
    let mut warnings = Vec::new();
    while let Some(name) = missing.pop() {
        let is_last = missing.is_empty();
        let mode = match (is_last, last) {
            (false, _) => ANCESTOR_MODE,
            (true, Some(o)) => o.mode & DIR_MODE_MASK,
            (true, None) => DIR_MODE,
        };
        let next = dir.ensure_dir(&name, mode)?;
        if let (true, Some(o)) = (is_last, last) {
            warnings.extend(next.set_owner(o));
        }
        dir.sync()?;
        dir = next;
    }
    Ok((dir, warnings))
}

/// `p` made absolute with every symlink on the way resolved as far as the path exists (the
/// missing rest appended as named): the one resolution of an operator's path, after which the
/// run opens it with [`Dir::open_real`].
pub fn real_path(p: &Path) -> PathBuf {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut existing = p.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(r) = std::fs::canonicalize(existing) {
            let mut out = r;
            for n in rest.iter().rev() {
                out.push(n);
            }
            return out;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n.to_owned());
                existing = parent;
            }
            _ => return p.clone(),
        }
    }
}

/// `p` with its folder resolved ([`real_path`]) and its last name kept as it is, so that a
/// link at the last name is still seen (and refused) rather than resolved away.
pub fn real_parent(p: &Path) -> Result<PathBuf> {
    let name = last_name(p)?.to_owned();
    Ok(real_path(parent_of(
        &std::path::absolute(p).map_err(|e| Error::io("resolve", p, e))?,
    ))
    .join(name))
}

/// Whether someone other than root and this process's user can change the entry at `p` (not
/// followed), and how: its owner, group or other write bits, or a POSIX ACL granting write.
/// `sticky_ok`: a sticky folder that others may write is fine as a folder *above* (nobody
/// else may rename or remove what root owns in it), not as the entry itself.
fn entry_changeable(p: &Path, sticky_ok: bool) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    let st = stat_at(p).ok().flatten()?;
    let mode = st.st_mode & 0o7777;
    if st.st_uid != 0 && st.st_uid != me {
        return Some(format!("is owned by uid {}", st.st_uid));
    }
    if file_type(&st) == FileType::Symlink {
        // A link's own mode means nothing; who may replace it is the folder holding it.
        return None;
    }
    let sticky = mode & 0o1000 != 0 && sticky_ok;
    // With an ACL, the group bits show its mask: name the ACL entry itself first.
    if !sticky {
        if let Some(id) = acl_writer(p, me) {
            return Some(format!("has an ACL that lets {id} write it"));
        }
    }
    if mode & 0o022 != 0 && !sticky {
        return Some(format!(
            "can be written by {} (mode {mode:o})",
            if mode & 0o002 != 0 {
                "every user"
            } else {
                "the members of its group"
            }
        ));
    }
    None
}

/// A named user or group that a POSIX access ACL lets write `p` (root and `me` aside).
fn acl_writer(p: &Path, me: u32) -> Option<String> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    let mut buf = [0u8; 4096];
    let n = rfs::lgetxattr(p, "system.posix_acl_access", &mut buf[..]).ok()?;
    // Header: a 4-byte version; then entries of tag (u16), perm (u16), id (u32), little-endian.
    for e in buf.get(4..n)?.chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u16::from_le_bytes([e[2], e[3]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        if perm & 0o2 != 0 && (tag == USER && id != 0 && id != me) {
            return Some(format!("uid {id}"));
        }
        if perm & 0o2 != 0 && tag == GROUP {
            return Some(format!("gid {id}"));
        }
    }
    None
}

/// Whether someone other than root and this process's user can change what is at `path`:
/// write into it, or replace it through a folder above it, on the path as given (a symlink
/// on the way counts by the folder holding it) and on the path it resolves to. Returns the
/// first place where that is possible and why. Missing parts are skipped.
pub fn changeable_by_others(path: &Path) -> Option<(PathBuf, String)> {
    let given = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let real = real_path(path);
    for chain in [given.as_path(), real.as_path()] {
        let mut here = Some(chain);
        let mut is_self = true;
        while let Some(p) = here {
            if let Some(why) = entry_changeable(p, !is_self) {
                return Some((p.to_path_buf(), why));
            }
            is_self = false;
            here = p.parent();
        }
    }
    None
}

/// Whether someone other than root and this process's user can change the entry at `path`
/// itself (not the folders above it): for what sits inside a folder already checked.
pub fn entry_changeable_by_others(path: &Path) -> Option<(PathBuf, String)> {
    entry_changeable(path, false).map(|why| (path.to_path_buf(), why))
}

/// Whether `inner` is `outer` or lies inside it, comparing the real folders (symlinks on the
/// way resolved as far as the paths exist).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    real_path(inner).starts_with(real_path(outer))
}

/// `path` as text for messages and for places that need text, with every control character
/// (C0 including newline, DEL, C1) escaped, so a hostile name can neither send terminal escape
/// sequences nor forge an output line.
pub fn display_clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hash_matches_known_vector() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let d = hash_file(&p).unwrap();
        assert_eq!(d.size, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn create_file_never_follows_a_symlink_and_never_reuses_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("link")).unwrap();
        let d = Dir::open(dir.path()).unwrap();
        let err = d.create_file(OsStr::new("link"), FILE_MODE).unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        let err = d
            .create_temp_file(OsStr::new("link"), FILE_MODE)
            .unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        let err = d.create_file(OsStr::new("victim"), FILE_MODE).unwrap_err();
        assert!(err.to_string().contains("victim"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let err = d.open_append(OsStr::new("link")).unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        let err = open_regular(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let sock = dir.path().join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = open_regular(&sock).unwrap_err();
        assert!(err.to_string().contains("socket"), "{err}");
    }

    #[test]
    fn remove_tree_removes_links_not_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"k").unwrap();
        let t = dir.path().join("t");
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, t.join("a/link")).unwrap();
        assert!(remove_tree_at(&t).unwrap());
        assert!(!t.exists());
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"k");
    }

    #[test]
    fn a_tree_of_any_depth_is_removed_without_recursion() {
        let dir = tempfile::tempdir().unwrap();
        // Deeper than PATH_MAX allows naming, and than a stack frame per level would survive
        // in a small stack.
        let mut d = Dir::open(dir.path())
            .unwrap()
            .create_dir(OsStr::new("t"), 0o700)
            .unwrap();
        for i in 0..5000 {
            d = d.create_dir(OsStr::new("d"), 0o700).unwrap();
            if i % 1000 == 0 {
                drop(d.create_file(OsStr::new("f"), 0o600).unwrap());
                drop(d.create_dir(OsStr::new("side"), 0o700).unwrap());
            }
        }
        drop(d);
        assert!(remove_tree_at(&dir.path().join("t")).unwrap());
        assert!(!dir.path().join("t").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn open_real_refuses_a_component_swapped_for_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = real_path(dir.path());
        std::fs::create_dir(real.join("a")).unwrap();
        assert!(Dir::open_real(&real.join("a")).is_ok());
        std::fs::rename(real.join("a"), real.join("b")).unwrap();
        std::os::unix::fs::symlink(real.join("b"), real.join("a")).unwrap();
        let err = Dir::open_real(&real.join("a")).unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
    }

    #[test]
    fn write_atomic_replaces_whole_file_and_refuses_a_planted_temp_link() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("f.json"), b"old content").unwrap();
        d.write_atomic(OsStr::new("f.json"), b"new").unwrap();
        assert_eq!(std::fs::read(dir.path().join("f.json")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"v").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".f.json.atocore-write.tmp")).unwrap();
        let err = d.write_atomic(OsStr::new("f.json"), b"newer").unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"v");
        assert_eq!(std::fs::read(dir.path().join("f.json")).unwrap(), b"new");
    }

    #[test]
    fn created_folders_get_the_asked_mode() {
        let dir = tempfile::tempdir().unwrap();
        let want = Owner {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            mode: 0o750,
        };
        let (d, warnings) = open_or_create_dir(&dir.path().join("a/b/c"), Some(&want)).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(d.path()), 0o750);
        assert_eq!(mode(&dir.path().join("a")), ANCESTOR_MODE);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            display_clean("a\u{1b}[2Jb\u{9b}c\td"),
            "a\\u{1b}[2Jb\\u{9b}c\\td"
        );
        assert_eq!(display_clean("plain/ü"), "plain/ü");
    }
}
