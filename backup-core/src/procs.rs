//! Who has a file open: the check behind the service-stopped gate. On Linux every process's
//! open files are links under `/proc/<pid>/fd/`; a process we may not inspect (another user,
//! without root) is counted, so a service running as another user is not silently missed.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A process holding one of the watched files open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBy {
    /// Process id.
    pub pid: u32,
    /// Its command line, space-separated.
    pub command: String,
    /// Which watched file it holds.
    #[serde(with = "crate::manifest::path_serde")]
    pub path: PathBuf,
}

impl OpenBy {
    /// `pid 42 (command line) has /path open`, as refusals say it.
    pub fn describe(&self) -> String {
        format!(
            "pid {} ({}) has {} open",
            self.pid,
            self.command,
            self.path.display()
        )
    }
}

/// What a scan found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scan {
    /// Processes holding a watched file.
    pub holders: Vec<OpenBy>,
    /// Processes whose open files could not be read (permission).
    pub uninspectable: usize,
    /// False where there is no `/proc` to read (not Linux, or not mounted).
    pub available: bool,
}

fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Find every other process that has one of `paths` open.
pub fn scan(paths: &[PathBuf]) -> Scan {
    let watched: BTreeSet<PathBuf> = paths
        .iter()
        .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut out = Scan::default();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    out.available = true;
    let me = std::process::id();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let fd_dir = Path::new("/proc").join(pid.to_string()).join("fd");
        let fds = match fs::read_dir(&fd_dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                out.uninspectable += 1;
                continue;
            }
            Err(_) => continue, // exited meanwhile
        };
        for fd in fds.flatten() {
            if let Ok(target) = fs::read_link(fd.path()) {
                if watched.contains(&target) {
                    out.holders.push(OpenBy {
                        pid,
                        command: command_line(pid),
                        path: target,
                    });
                }
            }
        }
    }
    out.holders.sort_by_key(|h| h.pid);
    out.holders
        .dedup_by(|a, b| a.pid == b.pid && a.path == b.path);
    out
}
