//! Locking a repository on object storage without trusting conditional writes.
//!
//! Several S3-compatible stores accept `If-None-Match` but do not make it atomic, or ignore
//! it: a lock cannot be "create this object unless it exists". A [`Lease`] is instead an
//! object of its own, `locks/<holder id>`, saying who holds it, how (shared or exclusive)
//! and until when. To take one: list the leases, give up if one that conflicts has not
//! expired, put ours, then list and read them again; if a conflicting one appeared
//! meanwhile, both runs see each other's, and ours is withdrawn (both may give up; never
//! both go on). A holder renews its lease well before it expires (a new object, then the
//! old one deleted), and deletes it when done. A run that dies leaves a lease that expires.
//!
//! What this guarantees rests on the store's listing being read-after-write consistent (AWS
//! S3 and the stores docs/offhost.md names are) and on the clocks of the hosts agreeing to
//! well within the lease's length.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::objects::ObjectStore;
use crate::error::{Error, Result};

const PREFIX: &str = "locks/";

/// How a lease is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseKind {
    /// Reads and adds (create, validate, restore, drill, check, copy): many at once.
    Shared,
    /// Deletes (prune, cleanup): alone.
    Exclusive,
}

/// What a lease object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Random id of the run holding it.
    pub holder: String,
    /// Shared or exclusive.
    pub kind: LeaseKind,
    /// The command.
    pub command: String,
    /// The host's name and the process id.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since the epoch after which nobody need respect it.
    pub expires: u64,
    /// This boot of this machine and this process-id namespace: a lease with ours whose
    /// process is gone was left by a run that died here, and is not waited for.
    #[serde(default)]
    pub host_id: String,
}

impl std::fmt::Display for LeaseRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lease of `{}` (pid {} on {}), expiring at {}",
            match self.kind {
                LeaseKind::Shared => "a shared",
                LeaseKind::Exclusive => "an exclusive",
            },
            self.command,
            self.pid,
            self.host,
            crate::stamp::rfc3339(UNIX_EPOCH + Duration::from_secs(self.expires))
        )
    }
}

/// This boot of this machine and this process-id namespace (a container has its own), or
/// empty when that cannot be told.
fn host_id() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_owned())
        .unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if boot.is_empty() || ns.is_empty() {
        return String::new();
    }
    format!("{boot}/{ns}")
}

impl LeaseRecord {
    /// Whether it was left by a run of this machine and namespace that is gone: its process
    /// does not exist (a process we may not signal, or cannot see, counts as alive).
    pub fn holder_gone(&self) -> bool {
        !self.host_id.is_empty()
            && self.host_id == host_id()
            && self.pid != std::process::id()
            && i32::try_from(self.pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|p| {
                    rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH)
                })
    }
}

/// Until when (seconds since the epoch) the lease this process holds is surely still
/// respected by others: its last successful write plus its length, less a margin. Zero
/// when no lease is held (a local repository).
static HELD_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Fail when this process holds a lease that may have lapsed (its renewals failed for most
/// of its length, or the process was suspended): a run must not commit a snapshot or
/// delete data on the strength of a lease others may no longer respect.
///
/// # Errors
/// [`Error::LeaseLost`].
pub fn check_held() -> Result<()> {
    let until = HELD_UNTIL.load(Ordering::SeqCst);
    if until != 0 && now() >= until {
        return Err(Error::LeaseLost);
    }
    Ok(())
}

/// Record a successful write of a lease lasting `length`. A lease that lapsed stays lost:
/// a renewal after the gap does not undo what others may have done meanwhile.
fn renewed(length: Duration) {
    let len = length.as_secs().max(3);
    let until = now() + len - len / 6;
    // A margin of a sixth of the length for clocks and the time the write took.
    let _ = HELD_UNTIL.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
        (held == 0 || now() < held).then_some(until)
    });
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A held lease, renewed in the background and deleted when dropped.
pub struct Lease {
    shared: Arc<Held>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

struct Held {
    objects: Arc<dyn ObjectStore>,
    record: Mutex<(LeaseRecord, String)>,
    stop: AtomicBool,
    length: Duration,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

fn holder_id() -> Result<String> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).map_err(|e| {
        Error::io(
            "draw random bytes for",
            "a lease",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(crate::fsio::hex(&b))
}

/// Every lease in `objects` that has not expired, with its key.
///
/// # Errors
/// [`Error::Io`] when they cannot be listed or read.
pub fn leases(objects: &dyn ObjectStore) -> Result<Vec<(String, LeaseRecord)>> {
    let mut out = Vec::new();
    let t = now();
    for key in objects.list(PREFIX)? {
        let mut r = match objects.get(&key) {
            Ok(r) => r,
            // Released meanwhile.
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => return Err(e),
        };
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut r, 4096), &mut text)
            .map_err(|e| Error::io("read", objects.describe(&key), e))?;
        // Unreadable: treated as held (by someone unknown) until removed by hand.
        let rec = serde_json::from_slice::<LeaseRecord>(&text).unwrap_or(LeaseRecord {
            holder: key.clone(),
            kind: LeaseKind::Exclusive,
            command: "unknown (unreadable lease)".into(),
            host: "unknown".into(),
            pid: 0,
            expires: u64::MAX,
            host_id: String::new(),
        });
        if rec.expires > t && !rec.holder_gone() {
            out.push((key, rec));
        }
    }
    Ok(out)
}

/// Lease objects nobody need respect any more: expired, or left by a run of this machine
/// that died. `cleanup` removes them.
///
/// # Errors
/// [`Error::Io`] when they cannot be listed.
pub fn stale_leases(objects: &dyn ObjectStore) -> Result<Vec<String>> {
    let live: Vec<String> = leases(objects)?.into_iter().map(|(k, _)| k).collect();
    Ok(objects
        .list(PREFIX)?
        .into_iter()
        .filter(|k| !live.contains(k))
        .collect())
}

fn conflicts(ours: LeaseKind, theirs: LeaseKind) -> bool {
    ours == LeaseKind::Exclusive || theirs == LeaseKind::Exclusive
}

impl Lease {
    /// Take a lease of `kind` on `objects` for `command`, lasting `length` and renewed
    /// every third of it; wait up to `timeout` for conflicting leases to go.
    ///
    /// # Errors
    /// [`Error::LeaseHeld`] naming a conflicting holder; [`Error::Io`].
    pub fn acquire(
        objects: Arc<dyn ObjectStore>,
        kind: LeaseKind,
        command: &str,
        length: Duration,
        timeout: Duration,
    ) -> Result<Lease> {
        let holder = holder_id()?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let start = std::time::Instant::now();
        loop {
            crate::interrupt::check()?;
            let blocking = leases(&*objects)?
                .into_iter()
                .find(|(_, r)| r.holder != holder && conflicts(kind, r.kind));
            if let Some((key, rec)) = blocking {
                if start.elapsed() < timeout {
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
                return Err(Error::LeaseHeld {
                    path: objects.describe(&key),
                    holder: rec.to_string(),
                });
            }
            let record = LeaseRecord {
                holder: holder.clone(),
                kind,
                command: command.to_owned(),
                host: host.clone(),
                pid: std::process::id(),
                expires: now() + length.as_secs().max(1),
                host_id: host_id(),
            };
            let key = format!("{PREFIX}{holder}-{}", record.expires);
            let bytes = serde_json::to_vec(&record).unwrap_or_default();
            let written_at = std::time::Instant::now();
            objects.put(&key, &mut &bytes[..])?;
            crate::failpoint("lease.written");
            // Read back: ours must be there, and nothing conflicting beside it.
            let now_held = leases(&*objects)?;
            let ours_there = now_held.iter().any(|(k, _)| *k == key);
            let rival = now_held
                .iter()
                .find(|(_, r)| r.holder != holder && conflicts(kind, r.kind));
            if ours_there && rival.is_none() {
                HELD_UNTIL.store(0, Ordering::SeqCst);
                renewed(length.saturating_sub(written_at.elapsed()));
                let shared = Arc::new(Held {
                    objects,
                    record: Mutex::new((record, key)),
                    stop: AtomicBool::new(false),
                    length,
                });
                let renewer = {
                    let s = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name("atocore-lease".into())
                        .spawn(move || s.renew_until_stopped())
                        .map_err(|e| {
                            Error::io("start renewing", shared.objects.describe(PREFIX), e)
                        })?
                };
                return Ok(Lease {
                    shared,
                    renewer: Some(renewer),
                });
            }
            let _ = objects.delete(&key);
            if start.elapsed() >= timeout {
                return Err(match rival {
                    Some((k, rec)) => Error::LeaseHeld {
                        path: objects.describe(k),
                        holder: rec.to_string(),
                    },
                    None => Error::io(
                        "read back",
                        objects.describe(&key),
                        std::io::Error::other(
                            "the lease just written is not listed: the store's listing is not \
                             consistent with its writes, so it cannot be leased",
                        ),
                    ),
                });
            }
            // Two runs that saw each other both withdraw: wait a random while, so that one
            // of them gets there first next time.
            let mut j = [0u8; 2];
            let _ = getrandom::fill(&mut j);
            std::thread::sleep(Duration::from_millis(
                300 + u64::from(u16::from_le_bytes(j) % 700),
            ));
        }
    }
}

impl Held {
    fn renew_until_stopped(&self) {
        let step = self.length / 3;
        let mut waited = Duration::ZERO;
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            waited += Duration::from_millis(200);
            if waited < step {
                continue;
            }
            waited = Duration::ZERO;
            let mut g = self
                .record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut rec = g.0.clone();
            rec.expires = now() + self.length.as_secs().max(1);
            let key = format!("{PREFIX}{}-{}", rec.holder, rec.expires);
            if key == g.1 {
                continue;
            }
            let bytes = serde_json::to_vec(&rec).unwrap_or_default();
            let t = std::time::Instant::now();
            if self.objects.put(&key, &mut &bytes[..]).is_ok() {
                renewed(self.length.saturating_sub(t.elapsed()));
                let old = std::mem::replace(&mut *g, (rec, key));
                let _ = self.objects.delete(&old.1);
            } else {
                // Try again soon rather than a third of the length later.
                waited = step.saturating_sub(Duration::from_secs(2));
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        HELD_UNTIL.store(0, Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        let g = self
            .shared
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self.shared.objects.delete(&g.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalObjects;

    fn store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
        Arc::new(LocalObjects::new(dir))
    }

    #[test]
    fn shared_leases_coexist_an_exclusive_one_waits_and_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let o = store(tmp.path());
        let long = Duration::from_secs(600);
        let a = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Shared,
            "create",
            long,
            Duration::ZERO,
        )
        .unwrap();
        let b = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Shared,
            "validate",
            long,
            Duration::ZERO,
        )
        .unwrap();
        let e = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Exclusive,
            "prune",
            long,
            Duration::ZERO,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("shared lease of `"), "{e}");
        drop((a, b));
        assert!(
            leases(&*o).unwrap().is_empty(),
            "released leases are deleted"
        );
        let p = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Exclusive,
            "prune",
            long,
            Duration::ZERO,
        )
        .unwrap();
        let e = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Shared,
            "create",
            long,
            Duration::ZERO,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("exclusive lease of `prune`"), "{e}");
        drop(p);
    }

    #[test]
    fn an_expired_lease_is_ignored_and_a_held_one_is_renewed() {
        let tmp = tempfile::tempdir().unwrap();
        let o = store(tmp.path());
        let dead = LeaseRecord {
            holder: "dead".into(),
            kind: LeaseKind::Exclusive,
            command: "prune".into(),
            host: "h".into(),
            pid: 1,
            expires: now() - 1,
            host_id: String::new(),
        };
        o.put("locks/dead-1", &mut &serde_json::to_vec(&dead).unwrap()[..])
            .unwrap();
        let l = Lease::acquire(
            Arc::clone(&o),
            LeaseKind::Exclusive,
            "prune",
            Duration::from_secs(3),
            Duration::ZERO,
        )
        .unwrap();
        // One left by a run of this machine that died: not waited for.
        let gone = LeaseRecord {
            holder: "gone".into(),
            // A process that has just ended.
            pid: {
                let mut c = std::process::Command::new("true").spawn().unwrap();
                let pid = c.id();
                c.wait().unwrap();
                pid
            },
            expires: now() + 600,
            host_id: host_id(),
            ..dead.clone()
        };
        assert!(gone.holder_gone());
        o.put("locks/gone-1", &mut &serde_json::to_vec(&gone).unwrap()[..])
            .unwrap();
        let first = leases(&*o).unwrap();
        assert_eq!(first.len(), 1);
        std::thread::sleep(Duration::from_millis(2600));
        let later = leases(&*o).unwrap();
        assert_eq!(later.len(), 1, "{later:?}");
        assert!(later[0].1.expires > first[0].1.expires, "renewed");
        drop(l);
    }
}
