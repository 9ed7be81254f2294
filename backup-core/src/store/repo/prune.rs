//! Retention: which snapshots a policy keeps (restic's words: last, hourly, daily, weekly,
//! monthly, within; plus pre-restore snapshots by age), and removing the rest crash-safely.
//!
//! Removal, step by step; a kill anywhere leaves a repository that checks clean, with at most
//! data no snapshot needs, which the next prune removes:
//! 1. `prune/<id>` is put, naming the snapshots to remove (the decision, made durable).
//! 2. Their manifests are deleted (they stop being snapshots).
//! 3. The chunks the remaining manifests need are collected (a table in the local index).
//! 4. Packs no remaining snapshot needs are deleted (index object first, then the pack);
//!    packs mostly unneeded are rewritten: the needed chunks (same serials) into a new pack
//!    and its index object, then the old ones deleted.
//! 5. `prune/<id>` is deleted. A prune that finds an earlier `prune/<id>` finishes it first.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::index::{serial_sql, Index};
use super::pack::{self, Entry, PackWriter};
use super::{serials, ObjectStore, Repository, INDEX_PREFIX, PACK_PREFIX, PRUNE_PREFIX};
use crate::error::{Error, Result};
use crate::manifest::{Kind, MANIFEST_NAME};
use crate::stamp::Stamp;
use crate::store::objects::key;
use crate::store::SnapshotStore;

/// A pack is rewritten when at least this share of its chunk bytes is no longer needed;
/// below it, the unneeded chunks stay until more of the pack is.
const REPACK_UNUSED_PERCENT: u64 = 20;

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// The newest N regular snapshots.
    pub last: Option<u32>,
    /// The newest regular snapshot of each of the last N hours that have one.
    pub hourly: Option<u32>,
    /// ... of each of the last N days (UTC).
    pub daily: Option<u32>,
    /// ... of each of the last N weeks (ISO weeks, Monday to Sunday, UTC).
    pub weekly: Option<u32>,
    /// ... of each of the last N months (UTC).
    pub monthly: Option<u32>,
    /// Every regular snapshot taken within this many seconds of the newest one.
    pub within: Option<u64>,
    /// Pre-restore snapshots younger than this many seconds (from now).
    pub pre_restore: u64,
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// `--keep-last`.
    Last,
    /// `--keep-hourly`.
    Hourly,
    /// `--keep-daily`.
    Daily,
    /// `--keep-weekly`.
    Weekly,
    /// `--keep-monthly`.
    Monthly,
    /// `--keep-within`.
    Within,
    /// `--keep-pre-restore`.
    PreRestore,
    /// The newest snapshot that validates: never removed.
    NewestValid,
    /// Named by an unfinished restore's journal: never removed.
    Journal,
    /// Its manifest cannot be read, so what it is is unknown: never removed by a policy.
    Unreadable,
}

impl Policy {
    /// Whether any rule keeps a regular snapshot (a policy that keeps none is refused).
    pub fn keeps_something(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
        ]
        .iter()
        .any(|n| n.is_some_and(|n| n > 0))
            || self.within.is_some()
    }

    /// Parse a duration such as `7d`, `36h`, `2w`, `1y6m` (h hours, d days, w weeks,
    /// m months of 30 days, y years of 365 days); in seconds.
    ///
    /// # Errors
    /// A sentence saying what is accepted.
    pub fn parse_duration(s: &str) -> std::result::Result<u64, String> {
        let bad = || {
            format!(
                "{s:?} is not a duration such as 36h, 7d, 2w, 6m or 1y (h hours, d days, \
                 w weeks, m months of 30 days, y years of 365 days)"
            )
        };
        let (mut total, mut n, mut digits) = (0u64, 0u64, 0);
        for c in s.trim().chars() {
            if let Some(d) = c.to_digit(10) {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d)))
                    .ok_or_else(bad)?;
                digits += 1;
                continue;
            }
            let unit = match c {
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                'm' => 30 * 86_400,
                'y' => 365 * 86_400,
                _ => return Err(bad()),
            };
            if digits == 0 {
                return Err(bad());
            }
            total = n
                .checked_mul(unit)
                .and_then(|x| total.checked_add(x))
                .ok_or_else(bad)?;
            (n, digits) = (0, 0);
        }
        if digits != 0 || total == 0 {
            return Err(bad());
        }
        Ok(total)
    }
}

/// What a prune keeps and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrunePlan {
    /// Kept snapshots, newest first, with every rule that keeps each.
    pub keep: Vec<(String, Vec<Reason>)>,
    /// Removed snapshots, newest first.
    pub remove: Vec<String>,
}

/// The bucket a moment falls in for a rule, as a number that changes from one bucket to
/// the next.
fn bucket(rule: Reason, secs: i64) -> i64 {
    let day = secs.div_euclid(86_400);
    match rule {
        Reason::Hourly => secs.div_euclid(3600),
        Reason::Daily => day,
        // 1970-01-01 was a Thursday: Monday-based week number.
        Reason::Weekly => (day + 3).div_euclid(7),
        Reason::Monthly => {
            let s = Stamp::at(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
            );
            let t = s.as_str();
            t[..4].parse::<i64>().unwrap_or(0) * 12 + t[4..6].parse::<i64>().unwrap_or(0)
        }
        _ => 0,
    }
}

/// Apply `policy` to `snaps` (stamp and kind, None when the manifest cannot be read) at
/// time `now`; `protected` snapshots are kept whatever the policy says.
pub fn plan(
    snaps: &[(Stamp, Option<Kind>)],
    policy: &Policy,
    now: i64,
    protected: &BTreeMap<Stamp, Reason>,
) -> PrunePlan {
    let mut order: Vec<&(Stamp, Option<Kind>)> = snaps.iter().collect();
    order.sort_by(|a, b| b.0.cmp(&a.0));
    let newest_regular = order
        .iter()
        .find(|(_, k)| *k == Some(Kind::Regular))
        .map(|(s, _)| s.seconds());
    let counted = [
        (Reason::Last, policy.last),
        (Reason::Hourly, policy.hourly),
        (Reason::Daily, policy.daily),
        (Reason::Weekly, policy.weekly),
        (Reason::Monthly, policy.monthly),
    ];
    let mut left: Vec<(Reason, u32, Option<i64>)> = counted
        .iter()
        .filter_map(|&(r, n)| n.filter(|&n| n > 0).map(|n| (r, n, None)))
        .collect();
    let mut out = PrunePlan::default();
    for (stamp, kind) in order {
        let t = stamp.seconds();
        let mut why = Vec::new();
        match kind {
            Some(Kind::Regular) => {
                for (rule, n, last) in &mut left {
                    let b = if *rule == Reason::Last {
                        t
                    } else {
                        bucket(*rule, t)
                    };
                    if *n > 0 && *last != Some(b) {
                        why.push(*rule);
                        *n -= 1;
                        *last = Some(b);
                    }
                }
                if let (Some(w), Some(newest)) = (policy.within, newest_regular) {
                    if t >= newest - w as i64 {
                        why.push(Reason::Within);
                    }
                }
            }
            Some(Kind::PreRestore) => {
                if now - t < policy.pre_restore as i64 {
                    why.push(Reason::PreRestore);
                }
            }
            None => why.push(Reason::Unreadable),
        }
        if let Some(&r) = protected.get(stamp) {
            why.push(r);
        }
        why.sort();
        why.dedup();
        if why.is_empty() {
            out.remove.push(stamp.to_string());
        } else {
            out.keep.push((stamp.to_string(), why));
        }
    }
    out
}

/// What a prune did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// The plan.
    pub plan: PrunePlan,
    /// True when nothing was changed.
    pub dry_run: bool,
    /// Earlier prunes that had been interrupted and were finished first.
    pub finished_earlier: Vec<String>,
    /// Packs deleted whole.
    pub packs_deleted: usize,
    /// Packs rewritten to drop unneeded chunks.
    pub packs_rewritten: usize,
    /// Bytes of pack data freed (estimated in a dry run).
    pub bytes_freed: u64,
    /// Things worth knowing (data left in place, and why).
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PruneRecord {
    remove: Vec<String>,
    started_at: String,
}

/// A pack's use by the remaining snapshots.
struct PackUse {
    row: i64,
    name: String,
    chunks: u64,
    live_chunks: u64,
    bytes: u64,
    live_bytes: u64,
}

impl<O: ObjectStore + 'static> Repository<O> {
    /// Each snapshot with its kind (None when its manifest cannot be read).
    pub fn kinds(&self) -> Result<Vec<(Stamp, Option<Kind>)>> {
        let listing = self.list()?;
        let mut out: Vec<(Stamp, Option<Kind>)> = listing
            .snapshots
            .iter()
            .map(|s| (s.clone(), self.snaps.read_manifest(s).ok().map(|m| m.kind)))
            .collect();
        out.extend(listing.lost.into_iter().map(|s| (s, None)));
        Ok(out)
    }

    /// Remove what `plan` removes, crash-safely (see the module's steps), after finishing
    /// any earlier prune that was interrupted; with `dry_run`, only say what would go.
    ///
    /// # Errors
    /// [`Error::Io`] and index errors; what was done by then stays consistent.
    pub fn prune(&self, plan: PrunePlan, dry_run: bool) -> Result<PruneReport> {
        let mut report = PruneReport {
            plan,
            dry_run,
            ..PruneReport::default()
        };
        if dry_run {
            let gone: BTreeSet<String> = report.plan.remove.iter().cloned().collect();
            let uses = self.pack_uses(&gone, &mut report.notes)?;
            report.bytes_freed = uses.iter().map(freed).sum();
            return Ok(report);
        }
        for k in self.objects.list(PRUNE_PREFIX)? {
            let rec = self.read_record(&k)?;
            self.forget(&rec.remove)?;
            self.sweep(&mut report)?;
            self.objects.delete(&k)?;
            report.finished_earlier.push(k);
        }
        if report.plan.remove.is_empty() {
            return Ok(report);
        }
        let rec = PruneRecord {
            remove: report.plan.remove.clone(),
            started_at: crate::rfc3339(std::time::SystemTime::now()),
        };
        let bytes = serde_json::to_vec_pretty(&rec).unwrap_or_default();
        let id = crate::fsio::hex(&sha2::Sha256::digest(&bytes));
        let k = format!("{PRUNE_PREFIX}{id}");
        super::super::lease::check_held()?;
        self.objects.put(&k, &mut &bytes[..])?;
        crate::failpoint("prune.planned");
        self.forget(&rec.remove)?;
        crate::failpoint("prune.forgotten");
        self.sweep(&mut report)?;
        crate::failpoint("prune.swept");
        self.objects.delete(&k)?;
        Ok(report)
    }

    fn read_record(&self, k: &str) -> Result<PruneRecord> {
        let path = self.objects.describe(k);
        let mut r = self.objects.get(k)?;
        let bytes =
            pack::read_bounded(&mut r, 16 << 20).map_err(|e| Error::io("read", &path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            path,
            problem: format!("is not a prune record ({e})"),
        })
    }

    /// Delete the snapshots `stamps`: the manifest first (then it is no snapshot), then
    /// anything else stored under its stamp.
    fn forget(&self, stamps: &[String]) -> Result<()> {
        for s in stamps {
            let stamp = Stamp::parse(s)?;
            // The seal first: a kill before the manifest goes leaves a whole snapshot (the
            // prune record finishes it), never one that looks damaged.
            self.objects.delete(&key(&stamp, super::SEAL))?;
            self.objects.delete(&key(&stamp, MANIFEST_NAME))?;
            for k in self.objects.list(&key(&stamp, ""))? {
                self.objects.delete(&k)?;
            }
        }
        *super::lock(&self.manifest) = None;
        Ok(())
    }

    /// Each pack's use by the snapshots other than `gone`; None of the data may be removed
    /// (empty result, with a note) when a remaining manifest cannot be read.
    fn pack_uses(&self, gone: &BTreeSet<String>, notes: &mut Vec<String>) -> Result<Vec<PackUse>> {
        self.reopen();
        let listing = self.list()?;
        if let Some(lost) = listing.lost.first() {
            notes.push(format!(
                "no data was removed: snapshot {lost} has lost its manifest, so what it needs is unknown"
            ));
            return Ok(Vec::new());
        }
        let op = self.open(false)?.ok_or_else(|| self.no_repository())?;
        let ix = &op.index;
        ix.batch(
            "CREATE TEMP TABLE IF NOT EXISTS live(serial INTEGER PRIMARY KEY); DELETE FROM temp.live;",
        )?;
        {
            let mut ins = ix
                .conn
                .prepare_cached("INSERT OR IGNORE INTO temp.live(serial) VALUES (?1)")
                .map_err(|e| ix.err(e))?;
            ix.batch("BEGIN")?;
            let mut seen = BTreeSet::new();
            for stamp in listing
                .snapshots
                .iter()
                .filter(|s| !gone.contains(s.as_str()))
            {
                let m = match self.snaps.read_manifest(stamp) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = ix.batch("ROLLBACK");
                        notes.push(format!(
                            "no data was removed: snapshot {stamp} cannot be read ({e})"
                        ));
                        return Ok(Vec::new());
                    }
                };
                for f in m.components.iter().flat_map(|c| &c.files) {
                    let Some(l) = &f.chunks else { continue };
                    if !seen.insert(sha2::Sha256::digest(l.serials.as_bytes())) {
                        continue;
                    }
                    let list = match serials::open(l) {
                        Ok(s) => s,
                        Err(why) => {
                            let _ = ix.batch("ROLLBACK");
                            notes.push(format!("no data was removed: snapshot {stamp} {why}"));
                            return Ok(Vec::new());
                        }
                    };
                    for s in list {
                        ins.execute(params![serial_sql(s)]).map_err(|e| ix.err(e))?;
                    }
                }
            }
            ix.batch("COMMIT")?;
        }
        let mut st = ix
            .conn
            .prepare(
                "SELECT p.id, p.name, COUNT(c.serial), COUNT(l.serial), COALESCE(SUM(c.len), 0), \
                 COALESCE(SUM(CASE WHEN l.serial IS NULL THEN 0 ELSE c.len END), 0) \
                 FROM packs p LEFT JOIN chunks c ON c.pack = p.id \
                 LEFT JOIN temp.live l ON l.serial = c.serial GROUP BY p.id ORDER BY p.name",
            )
            .map_err(|e| ix.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(PackUse {
                    row: r.get(0)?,
                    name: r.get(1)?,
                    chunks: r.get::<_, i64>(2)? as u64,
                    live_chunks: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                    live_bytes: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(|e| ix.err(e))?;
        let uses = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| ix.err(e))?;
        Ok(uses)
    }

    /// Steps 3 and 4: delete or rewrite packs the remaining snapshots do not need.
    fn sweep(&self, report: &mut PruneReport) -> Result<()> {
        let uses = self.pack_uses(&BTreeSet::new(), &mut report.notes)?;
        let op = self.open(false)?.ok_or_else(|| self.no_repository())?;
        if !op.synced.unreadable.is_empty() {
            report.notes.push(format!(
                "{} packs have no readable table and were left in place: run check",
                op.synced.unreadable.len()
            ));
        }
        for orphan in &op.synced.orphan_indexes {
            self.objects.delete(&format!("{INDEX_PREFIX}{orphan}"))?;
        }
        // Deletions before rewrites: a rewrite can make a pack with the very bytes (and so
        // the name) of an unneeded duplicate, which must be gone before, not after.
        let mut uses = uses;
        uses.sort_by_key(|u| u.live_chunks != 0);
        for u in uses {
            crate::interrupt::check()?;
            super::super::lease::check_held()?;
            if u.live_chunks == 0 {
                // Index object first: a pack without one is still learned from its table.
                self.objects.delete(&format!("{INDEX_PREFIX}{}", u.name))?;
                crate::failpoint("prune.deleting-pack");
                self.objects.delete(&format!("{PACK_PREFIX}{}", u.name))?;
                op.index.forget(u.row)?;
                report.packs_deleted += 1;
                report.bytes_freed += u.bytes;
            } else if freed(&u) > 0 {
                let Some(cache) = &op.cache else {
                    return Err(fsio_error(&self.cache));
                };
                match self.repack(&op.index, cache, &u) {
                    Ok(()) => {
                        report.packs_rewritten += 1;
                        report.bytes_freed += u.bytes - u.live_bytes;
                    }
                    Err(Repack::Damaged(why)) => report.notes.push(format!(
                        "pack {} was left as it is: {why} (run check --read-data)",
                        u.name
                    )),
                    Err(Repack::Failed(e)) => return Err(e),
                }
            }
        }
        drop(op);
        self.reopen();
        Ok(())
    }

    /// Copy the needed chunks of pack `u` (same serials) into a new pack, then delete it.
    fn repack(
        &self,
        ix: &Index,
        cache: &crate::fsio::Dir,
        u: &PackUse,
    ) -> std::result::Result<(), Repack> {
        let old_key = format!("{PACK_PREFIX}{}", u.name);
        // Read as a stream, one frame in memory at a time; every chunk copied is checked
        // against its id, and the whole pack against its name before anything is stored.
        let mut stream = pack::PackStream::new(self.objects.get(&old_key)?);
        let live: Vec<Entry> = live_entries(ix, u.row).map_err(Repack::Failed)?;
        let mut w = PackWriter::new(cache, 0)?;
        let mut frame: Vec<u8> = Vec::new();
        let mut members: Vec<([u8; 32], u64, u32, u32)> = Vec::new();
        // The frame open: its offset, stored length and compression, and its bytes.
        let mut opened: Option<(u64, u32, bool, Vec<u8>)> = None;
        let mut unzip = pack::Unzip::default();
        let mut new_entries = Vec::new();
        let mut damage: Option<String> = None;
        for e in &live {
            match &opened {
                Some(o) if o.0 == e.frame_off => {
                    if (o.1, o.2) != (e.frame_len, e.compressed) {
                        damage = Some(format!(
                            "has a table whose entries disagree about the frame at {}",
                            e.frame_off
                        ));
                        break;
                    }
                }
                _ => {
                    let raw = stream
                        .frame(e.frame_off, e.frame_len)
                        .and_then(|stored| unzip.open_frame(stored, e.compressed));
                    match raw {
                        Ok(raw) => opened = Some((e.frame_off, e.frame_len, e.compressed, raw)),
                        Err(why) => {
                            damage = Some(why);
                            break;
                        }
                    }
                }
            }
            let f = opened.as_ref().map(|o| &o.3[..]).unwrap_or(&[]);
            let chunk = match pack::chunk_of(f, e) {
                Ok(c) => c,
                Err(why) => {
                    damage = Some(why);
                    break;
                }
            };
            if !members.is_empty()
                && (frame.len() + chunk.len() > pack::FRAME_BYTES
                    || members.len() >= pack::FRAME_CHUNKS)
            {
                new_entries.extend(w.add_frame(&frame, &members)?);
                frame.clear();
                members.clear();
            }
            members.push((e.hash, e.serial, frame.len() as u32, chunk.len() as u32));
            frame.extend_from_slice(chunk);
        }
        match stream.finish(&u.name) {
            Err(why) => return Err(Repack::Damaged(why)),
            Ok((false, _)) => return Err(Repack::Damaged("does not match its hash".into())),
            Ok((true, _)) => {}
        }
        if let Some(why) = damage {
            return Err(Repack::Damaged(why));
        }
        if !members.is_empty() {
            new_entries.extend(w.add_frame(&frame, &members)?);
        }
        let (id, tail, tmp) = w.finish()?;
        match self
            .objects
            .put_local(&format!("{PACK_PREFIX}{id}"), cache, &tmp)
        {
            Ok(()) => {}
            Err(e) if super::already_exists(&e) => {
                let _ = cache.remove_file(&tmp);
            }
            Err(e) => return Err(e.into()),
        }
        match self
            .objects
            .put(&format!("{INDEX_PREFIX}{id}"), &mut &tail[..])
        {
            Ok(()) => {}
            Err(e) if super::already_exists(&e) => {}
            Err(e) => return Err(e.into()),
        }
        crate::failpoint("prune.repacked");
        // The index points at the new copy before the old one goes.
        ix.batch("BEGIN IMMEDIATE")?;
        let moved = (|| -> Result<()> {
            ix.forget(u.row)?;
            // The same bytes may be there already (a copy an interrupted prune made).
            let same: Option<i64> = ix
                .conn
                .query_row("SELECT id FROM packs WHERE name = ?1", params![id], |r| {
                    r.get(0)
                })
                .ok();
            if let Some(row) = same {
                ix.forget(row)?;
            }
            ix.learn(&id, &new_entries, false)?;
            Ok(())
        })();
        match moved {
            Ok(()) => ix.batch("COMMIT")?,
            Err(e) => {
                let _ = ix.batch("ROLLBACK");
                return Err(e.into());
            }
        }
        self.objects.delete(&format!("{INDEX_PREFIX}{}", u.name))?;
        self.objects.delete(&old_key)?;
        Ok(())
    }
}

fn fsio_error(cache: &std::path::Path) -> Error {
    Error::io(
        "create",
        cache,
        std::io::Error::new(std::io::ErrorKind::ReadOnlyFilesystem, "cannot be written"),
    )
}

enum Repack {
    /// The old pack is damaged: left in place.
    Damaged(String),
    /// The repository could not be written.
    Failed(Error),
}

impl From<Error> for Repack {
    fn from(e: Error) -> Repack {
        Repack::Failed(e)
    }
}

/// The bytes a prune frees from pack `u`: all of it when nothing in it is needed, the
/// unneeded part when that is worth a rewrite, else nothing yet.
fn freed(u: &PackUse) -> u64 {
    if u.live_chunks == 0 {
        u.bytes.max(1)
    } else if u.chunks > u.live_chunks
        && (u.bytes - u.live_bytes) * 100 >= u.bytes * REPACK_UNUSED_PERCENT
    {
        u.bytes - u.live_bytes
    } else {
        0
    }
}

fn live_entries(ix: &Index, pack_row: i64) -> Result<Vec<Entry>> {
    let mut st = ix
        .conn
        .prepare(
            "SELECT c.serial, c.hash, c.frame_off, c.frame_len, c.flags, c.off, c.len FROM chunks c \
             JOIN temp.live l ON l.serial = c.serial WHERE c.pack = ?1 ORDER BY c.frame_off, c.off",
        )
        .map_err(|e| ix.err(e))?;
    let rows = st
        .query_map(params![pack_row], |r| {
            let h: Vec<u8> = r.get(1)?;
            let mut hash = [0u8; 32];
            if h.len() == 32 {
                hash.copy_from_slice(&h);
            }
            Ok(Entry {
                serial: r.get::<_, i64>(0)? as u64,
                hash,
                frame_off: r.get::<_, i64>(2)? as u64,
                frame_len: r.get(3)?,
                compressed: r.get::<_, u8>(4)? == 1,
                off: r.get(5)?,
                len: r.get(6)?,
            })
        })
        .map_err(|e| ix.err(e))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| ix.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rules as the documentation states them, one at a time: for each counted rule,
    /// the newest regular snapshot of each of the N newest buckets that have one.
    fn model(
        snaps: &[(Stamp, Option<Kind>)],
        p: &Policy,
        now: i64,
    ) -> BTreeMap<String, Vec<Reason>> {
        let regular: Vec<&Stamp> = snaps
            .iter()
            .filter(|(_, k)| *k == Some(Kind::Regular))
            .map(|(s, _)| s)
            .collect();
        let mut keep: BTreeMap<String, Vec<Reason>> = BTreeMap::new();
        let mut add = |s: &Stamp, r: Reason| keep.entry(s.to_string()).or_default().push(r);
        let mut newest_first = regular.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        if let Some(n) = p.last {
            for s in newest_first.iter().take(n as usize) {
                add(s, Reason::Last);
            }
        }
        for (rule, n) in [
            (Reason::Hourly, p.hourly),
            (Reason::Daily, p.daily),
            (Reason::Weekly, p.weekly),
            (Reason::Monthly, p.monthly),
        ] {
            let Some(n) = n else { continue };
            let mut newest_in: BTreeMap<i64, &Stamp> = BTreeMap::new();
            for s in &regular {
                let b = bucket(rule, s.seconds());
                let e = newest_in.entry(b).or_insert(s);
                if s > e {
                    *e = s;
                }
            }
            for (_, s) in newest_in.iter().rev().take(n as usize) {
                add(s, rule);
            }
        }
        if let (Some(w), Some(newest)) = (p.within, newest_first.first()) {
            for s in &regular {
                if s.seconds() >= newest.seconds() - w as i64 {
                    add(s, Reason::Within);
                }
            }
        }
        for (s, k) in snaps {
            match k {
                Some(Kind::PreRestore) if now - s.seconds() < p.pre_restore as i64 => {
                    add(s, Reason::PreRestore)
                }
                None => add(s, Reason::Unreadable),
                _ => {}
            }
        }
        for v in keep.values_mut() {
            v.sort();
            v.dedup();
        }
        keep
    }

    fn stamp_at(secs: i64) -> Stamp {
        Stamp::at(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
    }

    proptest! {
        #[test]
        fn the_policy_keeps_what_the_rules_say(
            offsets in proptest::collection::btree_set(0i64..120 * 86_400, 0..60),
            kinds in proptest::collection::vec(0u8..10, 60),
            last in proptest::option::of(0u32..6),
            hourly in proptest::option::of(0u32..6),
            daily in proptest::option::of(0u32..8),
            weekly in proptest::option::of(0u32..5),
            monthly in proptest::option::of(0u32..4),
            within in proptest::option::of(0u64..20 * 86_400),
            pre in 0u64..30 * 86_400,
        ) {
            let base = 1_767_225_600; // 2026-01-01
            let snaps: Vec<(Stamp, Option<Kind>)> = offsets
                .iter()
                .zip(&kinds)
                .map(|(o, k)| {
                    let kind = match k { 0 => None, 1 | 2 => Some(Kind::PreRestore), _ => Some(Kind::Regular) };
                    (stamp_at(base + o), kind)
                })
                .collect();
            let p = Policy { last, hourly, daily, weekly, monthly, within, pre_restore: pre };
            let now = base + 121 * 86_400;
            let got = plan(&snaps, &p, now, &BTreeMap::new());
            let want = model(&snaps, &p, now);
            let kept: BTreeMap<String, Vec<Reason>> = got.keep.iter().cloned().collect();
            prop_assert_eq!(&kept, &want);
            prop_assert_eq!(got.keep.len() + got.remove.len(), snaps.len());
        }
    }

    #[test]
    fn protected_snapshots_stay_and_durations_parse() {
        let snaps = vec![
            (stamp_at(1_767_225_600), Some(Kind::Regular)),
            (stamp_at(1_767_229_200), Some(Kind::Regular)),
        ];
        let p = Policy {
            last: Some(1),
            ..Policy::default()
        };
        let mut prot = BTreeMap::new();
        prot.insert(snaps[0].0.clone(), Reason::Journal);
        let got = plan(&snaps, &p, 0, &prot);
        assert!(got.remove.is_empty(), "{got:?}");
        assert_eq!(Policy::parse_duration("1d12h"), Ok(36 * 3600));
        assert_eq!(Policy::parse_duration("2w"), Ok(14 * 86_400));
        for bad in ["", "7", "d", "7x", "-1d", "0d"] {
            assert!(Policy::parse_duration(bad).is_err(), "{bad}");
        }
        assert!(!Policy::default().keeps_something());
        assert!(!Policy {
            last: Some(0),
            ..Policy::default()
        }
        .keeps_something());
    }
}
