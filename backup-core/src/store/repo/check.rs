//! `check`: the whole repository's structure (every manifest parses, every chunk a manifest
//! lists is in a pack, every index object matches its pack's own table) and, when asked,
//! its data (every selected pack read whole: its hash, every frame, every chunk's hash).
//! Problems name the snapshots they affect.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::index::{self, Index};
use super::pack::{self, Entry};
use super::{serials, ObjectStore, Repository, INDEX_PREFIX, PACK_PREFIX};
use crate::error::Result;
use crate::manifest::{FileEntry, Manifest};
use crate::store::SnapshotStore;

/// How much data `check` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadData {
    /// Structure only.
    None,
    /// Every pack.
    All,
    /// The packs of slice `n` (1-based) of `m`: run `n = 1..=m` on successive nights to
    /// cover everything.
    Subset {
        /// Which slice.
        n: u32,
        /// Of how many.
        m: u32,
    },
    /// About this many percent of the packs, picked at random.
    Percent(u32),
}

impl ReadData {
    /// Parse `N/M` or `P%`.
    ///
    /// # Errors
    /// A sentence saying what is accepted.
    pub fn parse_subset(s: &str) -> std::result::Result<ReadData, String> {
        let bad = || format!("{s:?} is not N/M (1 <= N <= M) or a percentage such as 10%");
        if let Some(p) = s.strip_suffix('%') {
            let p: u32 = p.trim().parse().map_err(|_| bad())?;
            return if (1..=100).contains(&p) {
                Ok(ReadData::Percent(p))
            } else {
                Err(bad())
            };
        }
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (
            n.trim().parse().map_err(|_| bad())?,
            m.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(ReadData::Subset { n, m })
    }

    /// What is read, in words for the check log: `none`, `all`, `subset N/M`, `P%`.
    pub fn describe(&self) -> String {
        match *self {
            ReadData::None => "none".into(),
            ReadData::All => "all".into(),
            ReadData::Subset { n, m } => format!("subset {n}/{m}"),
            ReadData::Percent(p) => format!("{p}%"),
        }
    }

    fn wants(&self, pack: &str, salt: u64) -> bool {
        let v = u64::from_str_radix(&pack[..16], 16).unwrap_or(0);
        match *self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Subset { n, m } => v % u64::from(m) == u64::from(n - 1),
            ReadData::Percent(p) => (v ^ salt) % 100 < u64::from(p),
        }
    }
}

/// One problem `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// What is wrong: a snapshot, a pack, an index object.
    pub what: String,
    /// The problem.
    pub problem: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots looked at.
    pub snapshots: usize,
    /// Packs in the repository.
    pub packs: usize,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// Problems; empty when the repository checks clean.
    pub problems: Vec<Found>,
    /// Snapshots the problems affect (cannot be restored as they are).
    pub affected: BTreeSet<String>,
    /// Things that need no action (a pack's table learned from the pack itself, data no
    /// snapshot needs, which the next prune removes).
    pub notes: Vec<String>,
}

/// How many chunks of `f` the index does not know, or why its list is unreadable.
pub(super) fn missing_chunks(ix: &Index, f: &FileEntry) -> std::result::Result<u64, String> {
    let list = f.chunks.as_ref().ok_or("lists no chunks")?;
    let mut st = ix
        .conn
        .prepare_cached("SELECT 1 FROM chunks WHERE serial = ?1")
        .map_err(|e| e.to_string())?;
    let mut missing = 0;
    for s in serials::open(list)? {
        if !st
            .exists([index::serial_sql(s)])
            .map_err(|e| e.to_string())?
        {
            missing += 1;
        }
    }
    Ok(missing)
}

fn found(out: &mut CheckReport, what: impl Into<String>, problem: impl Into<String>) {
    out.problems.push(Found {
        what: what.into(),
        problem: problem.into(),
    });
}

impl<O: ObjectStore + 'static> Repository<O> {
    /// Check the whole repository, reading the data `read` selects.
    ///
    /// # Errors
    /// Only when the check cannot run (no repository, an unreadable listing).
    pub fn check_all(&self, read: ReadData) -> Result<CheckReport> {
        // The local index is a cache: rebuilt from the repository, never trusted here.
        self.reopen();
        index::remove_index_files(&self.cache);
        let mut out = CheckReport::default();
        let listing = self.list()?;
        let op = self.open(false)?.ok_or_else(|| self.no_repository())?;
        for lost in &listing.lost {
            found(
                &mut out,
                format!("snapshot {lost}"),
                "has lost its manifest",
            );
            out.affected.insert(lost.to_string());
        }
        // Manifests, and whether their chunks are all known; identical lists (a file that
        // did not change) are looked at once.
        let mut manifests: Vec<Manifest> = Vec::new();
        let mut seen_lists: HashSet<[u8; 32]> = HashSet::new();
        // One read transaction for every lookup (no lock taken per chunk).
        op.index.batch("BEGIN")?;
        for stamp in &listing.snapshots {
            out.snapshots += 1;
            let m = match self.snaps.read_manifest(stamp) {
                Ok(m) => m,
                Err(e) => {
                    found(&mut out, format!("snapshot {stamp}"), e.to_string());
                    out.affected.insert(stamp.to_string());
                    continue;
                }
            };
            for f in m.components.iter().flat_map(|c| &c.files) {
                let id: [u8; 32] =
                    Sha256::digest(f.chunks.as_ref().map_or(&b""[..], |l| l.serials.as_bytes()))
                        .into();
                if f.chunks.is_some() && !seen_lists.insert(id) {
                    continue;
                }
                match missing_chunks(&op.index, f) {
                    Ok(0) => {}
                    Ok(n) => {
                        found(
                            &mut out,
                            format!("snapshot {stamp}"),
                            format!("{} needs {n} chunks that are in no pack", f.path),
                        );
                        out.affected.insert(stamp.to_string());
                    }
                    Err(why) => {
                        found(
                            &mut out,
                            format!("snapshot {stamp}"),
                            format!("{}: {why}", f.path),
                        );
                        out.affected.insert(stamp.to_string());
                    }
                }
            }
            manifests.push(m);
        }
        let damaged = self.check_packs(&op.index, &op.synced, read, &mut out);
        let _ = op.index.batch("COMMIT");
        let damaged = damaged?;
        drop(op);
        if !damaged.is_empty() {
            for m in &manifests {
                if references_any(m, &damaged) {
                    out.affected.insert(m.stamp.clone());
                }
            }
        }
        Ok(out)
    }

    /// Index objects against packs, and the selected packs' data. Returns the serials of
    /// chunks found damaged or unreachable.
    fn check_packs(
        &self,
        ix: &Index,
        synced: &index::Synced,
        read: ReadData,
        out: &mut CheckReport,
    ) -> Result<HashSet<u64>> {
        let objects: &dyn ObjectStore = &*self.objects;
        let packs = index::names(objects, PACK_PREFIX)?;
        let indexes = index::names(objects, INDEX_PREFIX)?;
        out.packs = packs.len();
        let mut damaged = HashSet::new();
        let mut bad = |out: &mut CheckReport, what: String, why: String, entries: &[Entry]| {
            found(out, what, why);
            damaged.extend(entries.iter().map(|e| e.serial));
        };
        for orphan in indexes.difference(&packs) {
            // Chunks a snapshot needs from it are reported with the snapshot above.
            out.notes.push(format!(
                "index object {orphan} has no pack (any chunk a snapshot needed from it is \
                 reported above; the next prune removes it)"
            ));
        }
        for (p, why) in &synced.unreadable {
            bad(
                out,
                format!("pack {p}"),
                format!("has no readable table: {why}"),
                &[],
            );
        }
        let salt = u64::from(std::process::id()) ^ 0x9e37_79b9;
        for p in &packs {
            let own = index::read_pack_tail_bytes(objects, p);
            let entries = match (&own, indexes.contains(p)) {
                (Ok(tail), true) => {
                    let from_index = index::read_index_object(objects, p);
                    let from_pack = pack::decode_tail(tail);
                    match (from_index, from_pack) {
                        (Ok(a), Ok(b)) if a == b => a,
                        (Ok(a), _) => {
                            bad(
                                out,
                                format!("pack {p}"),
                                "does not match its index object".into(),
                                &a,
                            );
                            continue;
                        }
                        (Err(why), Ok(b)) => {
                            bad(out, format!("index object {p}"), why, &[]);
                            b
                        }
                        (Err(a), Err(_)) => {
                            bad(
                                out,
                                format!("pack {p}"),
                                format!("and its index object are unreadable: {a}"),
                                &[],
                            );
                            continue;
                        }
                    }
                }
                (Ok(tail), false) => match pack::decode_tail(tail) {
                    Ok(e) => {
                        out.notes.push(format!(
                            "pack {p} has no index object; its own table was used"
                        ));
                        e
                    }
                    Err(why) => {
                        bad(out, format!("pack {p}"), why, &[]);
                        continue;
                    }
                },
                (Err(why), _) => {
                    let entries = index::read_index_object(objects, p).unwrap_or_default();
                    bad(out, format!("pack {p}"), why.clone(), &entries);
                    continue;
                }
            };
            for e in &entries {
                if known_elsewhere(ix, e) == Some(false) {
                    bad(
                        out,
                        format!("pack {p}"),
                        format!(
                            "holds chunk {} with content other than the index's",
                            e.serial
                        ),
                        std::slice::from_ref(e),
                    );
                }
            }
            if read.wants(p, salt) {
                if let Err(why) = self.read_pack(p, &entries, out) {
                    bad(out, format!("pack {p}"), why, &entries);
                }
            }
        }
        Ok(damaged)
    }

    /// Read pack `p` whole, as a stream (one frame in memory at a time, whatever the pack's
    /// size): its hash must be its name, and every chunk must match its id. A pack whose
    /// bytes changed is reported as such before any frame's problem.
    fn read_pack(
        &self,
        p: &str,
        entries: &[Entry],
        out: &mut CheckReport,
    ) -> std::result::Result<(), String> {
        let key = format!("{PACK_PREFIX}{p}");
        let mut stream = pack::PackStream::new(self.objects.get(&key).map_err(|e| e.to_string())?);
        let mut frames: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
        for e in entries {
            frames.entry(e.frame_off).or_default().push(e);
        }
        let mut unzip = pack::Unzip::default();
        let problem = frames.into_iter().try_for_each(|(off, es)| {
            let e0 = es[0];
            if es
                .iter()
                .any(|e| (e.frame_len, e.compressed) != (e0.frame_len, e0.compressed))
            {
                return Err(format!(
                    "has a table whose entries disagree about the frame at {off}"
                ));
            }
            let frame = unzip.open_frame(stream.frame(off, e0.frame_len)?, e0.compressed)?;
            es.iter()
                .try_for_each(|e| pack::chunk_of(&frame, e).map(drop))
        });
        let (named, read) = stream.finish(p)?;
        out.packs_read += 1;
        out.bytes_read += read;
        if !named {
            return Err("does not match its hash: its bytes changed".into());
        }
        problem
    }
}

/// Whether the index knows `e.serial` with the same id (None: it does not know it).
fn known_elsewhere(ix: &Index, e: &Entry) -> Option<bool> {
    let mut st = ix
        .conn
        .prepare_cached("SELECT hash FROM chunks WHERE serial = ?1")
        .ok()?;
    let h: Option<Vec<u8>> = st
        .query_row([index::serial_sql(e.serial)], |r| r.get(0))
        .ok();
    h.map(|h| h == e.hash)
}

fn references_any(m: &Manifest, serials_of: &HashSet<u64>) -> bool {
    m.components
        .iter()
        .flat_map(|c| &c.files)
        .filter_map(|f| f.chunks.as_ref())
        .any(|l| serials::open(l).is_ok_and(|mut s| s.any(|x| serials_of.contains(&x))))
}
