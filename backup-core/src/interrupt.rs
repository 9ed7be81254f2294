//! Stopping cleanly on SIGINT and SIGTERM.
//!
//! The binary's signal thread calls [`request`]. Long work calls [`check`] at safe points
//! (every buffer of a copy, before every file it creates, while it waits for a lock) and gets
//! [`Error::Interrupted`], so the ordinary error paths remove what the run started: a snapshot
//! being built, a restore's temporary folder beside a live store (before anything was
//! switched). Temporary folders are also registered here while they exist, so that a run
//! stuck where it cannot check (one long SQLite backup step) can still be cleaned up by
//! [`remove_registered`] before the process exits. Once a restore has written its journal,
//! its temporary folders beside live stores are left for `restore --resume`/`--rollback`
//! (and `status` lists them).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static JOURNALED: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(1);
static TEMPS: Mutex<Vec<(u64, PathBuf, Scope)>> = Mutex::new(Vec::new());

/// What a registered temporary path is, which decides whether an interrupted run removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A snapshot being built, or a drill's scratch folder: always removed.
    Backup,
    /// A restore's private folder beside a live store: removed unless a restore journal was
    /// written (then `--resume`/`--rollback` or `cleanup` deal with it).
    BesideLive,
}

/// Ask the run to stop: every later [`check`] fails. The first signal wins.
pub fn request(signal: i32) {
    let _ = SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// The signal that asked the run to stop, if any.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Fail with [`Error::Interrupted`] once a stop was requested.
///
/// # Errors
/// As said.
pub fn check() -> Result<()> {
    match requested() {
        None => Ok(()),
        Some(signal) => Err(Error::Interrupted {
            signal,
            done: "stopped at a safe point; this run's temporary files were removed (a restore \
                   journal, if one was written, stays for `restore --resume`/`--rollback`)"
                .into(),
        }),
    }
}

/// Record that a restore journal now exists (or no longer does) for this run.
pub fn set_journaled(on: bool) {
    JOURNALED.store(on, Ordering::SeqCst);
}

/// A registered temporary path; unregistered when dropped.
#[derive(Debug)]
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut t) = TEMPS.lock() {
            t.retain(|(id, _, _)| *id != self.0);
        }
    }
}

/// Register `path` (a folder this run created) for removal if the run is interrupted.
pub fn register(path: &Path, scope: Scope) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut t) = TEMPS.lock() {
        t.push((id, path.to_path_buf(), scope));
    }
    Registered(id)
}

/// Remove every registered temporary folder that an interrupted run must not leave (never
/// following a symlink); returns what was removed and what was kept on purpose.
pub fn remove_registered() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let entries: Vec<(PathBuf, Scope)> = match TEMPS.lock() {
        Ok(t) => t.iter().map(|(_, p, s)| (p.clone(), *s)).collect(),
        Err(_) => Vec::new(),
    };
    let journaled = JOURNALED.load(Ordering::SeqCst);
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for (path, scope) in entries {
        if scope == Scope::BesideLive && journaled {
            kept.push(path);
            continue;
        }
        // The main thread may still be creating files in it: a few tries.
        for _ in 0..20 {
            if crate::fsio::remove_tree_at(&path).is_ok() {
                removed.push(path.clone());
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    (removed, kept)
}
