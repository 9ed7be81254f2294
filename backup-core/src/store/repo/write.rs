//! Storing files: each is cut into chunks, each chunk hashed; a chunk the repository has is
//! only referenced, new ones are gathered into frames (compressed together) and packs. The
//! local index learns the new chunks inside one transaction, committed only once the
//! snapshot that needs them is stored: a failed or killed run leaves the index as it was
//! (its packs become unreferenced data, which the next sync learns and a prune removes).

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::params;
use sha2::{Digest, Sha256};

use super::chunker::{self, Chunker};
use super::index::{serial_sql, Index};
use super::pack::{self, PackWriter};
use super::serials::Encoder;
use super::{INDEX_PREFIX, PACK_PREFIX};
use crate::error::{Error, Result};
use crate::fsio::{self, Dir};
use crate::manifest::ChunkList;
use crate::sha::BackgroundSha;
use crate::store::objects::already_exists;
use crate::store::ObjectStore;

/// What a run added to the repository.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Added {
    /// Chunks the stored files consist of.
    pub chunks: u64,
    /// Of those, chunks the repository did not have.
    pub new_chunks: u64,
    /// Bytes of the files stored.
    pub file_bytes: u64,
    /// Bytes written into packs (compressed chunks and tables).
    pub pack_bytes: u64,
    /// Packs written.
    pub packs: u64,
}

/// A stored file: its chunk list, size and SHA-256.
pub(super) struct Stored {
    pub(super) chunks: ChunkList,
    pub(super) size: u64,
    pub(super) sha256: String,
}

/// A frame's chunks: id, serial, offset in the frame, length.
type Members = Vec<([u8; 32], u64, u32, u32)>;
/// A frame as stored and whether it is compressed.
type Made = (Vec<u8>, bool);

/// Frames compressed on worker threads (one per core), while the thread that reads and
/// hashes goes on; results are taken back in the order the frames were given.
struct Zippers {
    jobs: Option<SyncSender<(Vec<u8>, SyncSender<Made>)>>,
    workers: Vec<JoinHandle<()>>,
}

impl Zippers {
    /// None when no thread can be started (frames are then compressed inline).
    fn start() -> Option<Zippers> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let (jobs, queue) = mpsc::sync_channel::<(Vec<u8>, SyncSender<Made>)>(n * 2);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::new();
        for i in 0..n {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("zstd-{i}"))
                .spawn(move || {
                    let mut zip = pack::Zip::default();
                    loop {
                        // A poisoned lock means another worker panicked: stop too.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        let Ok((raw, reply)) = job else { return };
                        let _ = reply.send(zip.frame(&raw));
                    }
                });
            match started {
                Ok(h) => workers.push(h),
                Err(_) => break,
            }
        }
        if workers.is_empty() {
            return None;
        }
        Some(Zippers {
            jobs: Some(jobs),
            workers,
        })
    }
}

impl Drop for Zippers {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Frames given to the workers and not yet written, at most (each at most 64 KiB raw).
const FRAMES_IN_FLIGHT: usize = 8;

pub(super) struct Writer<'a> {
    index: &'a Index,
    objects: &'a dyn ObjectStore,
    cache: &'a Dir,
    next_serial: u64,
    pack: Option<(PackWriter, i64)>,
    made: u64,
    frame: Vec<u8>,
    frame_chunks: Members,
    /// Frames being compressed, oldest first, with their members.
    in_flight: VecDeque<(Receiver<Made>, Members)>,
    /// Chunks of frames in flight: id to serial (they are not in the index yet).
    pending: HashMap<[u8; 32], u64>,
    zippers: Option<Zippers>,
    zip: pack::Zip,
    pub(super) added: Added,
    open: bool,
}

impl<'a> Writer<'a> {
    /// Start a run: the index's write transaction begins here.
    pub(super) fn new(
        index: &'a Index,
        objects: &'a dyn ObjectStore,
        cache: &'a Dir,
    ) -> Result<Self> {
        index.batch("BEGIN IMMEDIATE")?;
        let next_serial = match index.next_serial() {
            Ok(n) => n,
            Err(e) => {
                let _ = index.batch("ROLLBACK");
                return Err(e);
            }
        };
        Ok(Writer {
            index,
            objects,
            cache,
            next_serial,
            pack: None,
            made: 0,
            frame: Vec::with_capacity(pack::FRAME_BYTES),
            frame_chunks: Vec::new(),
            in_flight: VecDeque::new(),
            pending: HashMap::new(),
            zippers: Zippers::start(),
            zip: pack::Zip::default(),
            added: Added::default(),
            open: true,
        })
    }

    /// Store the file called `name` (its last path part) of `size` bytes (as recorded; the
    /// rule for cutting it depends on it) from `from`, naming `what` in messages; with
    /// `progress`, its bytes advance the running phase's progress.
    pub(super) fn add_file(
        &mut self,
        name: &str,
        size: u64,
        from: &mut dyn Read,
        what: &std::path::Path,
        progress: bool,
    ) -> Result<Stored> {
        let mut head = Vec::with_capacity(100);
        from.take(100)
            .read_to_end(&mut head)
            .map_err(|e| Error::io("read", what, e))?;
        let cut = chunker::rule_for(name, size, &head);
        let mut chunker = Chunker::new(std::io::Cursor::new(head).chain(from), cut);
        // The whole file's hash on a thread of its own: this one hashes chunks.
        let mut whole = BackgroundSha::new();
        let mut list = Encoder::default();
        let mut chunk = Vec::new();
        let mut total = 0u64;
        loop {
            crate::interrupt::check()?;
            if !chunker
                .next_into(&mut chunk)
                .map_err(|e| Error::io("read", what, e))?
            {
                break;
            }
            whole.update(&chunk);
            total += chunk.len() as u64;
            if progress {
                crate::progress::advance(chunk.len() as u64);
            }
            let serial = self.add_chunk(&chunk)?;
            list.push(serial);
        }
        // A file's new chunks do not share frames with the next file's.
        self.flush_frame()?;
        self.added.file_bytes += total;
        let sha = whole.finish().ok_or_else(|| {
            Error::io(
                "hash",
                what,
                std::io::Error::other("the thread computing the SHA-256 stopped"),
            )
        })?;
        Ok(Stored {
            chunks: list.finish(),
            size: total,
            sha256: fsio::hex(&sha),
        })
    }

    /// The serial of `chunk`: the one it has, or a new one (the chunk then joins the frame).
    fn add_chunk(&mut self, chunk: &[u8]) -> Result<u64> {
        let hash: [u8; 32] = Sha256::digest(chunk).into();
        self.added.chunks += 1;
        if let Some(c) = self.frame_chunks.iter().find(|c| c.0 == hash) {
            return Ok(c.1);
        }
        if let Some(&s) = self.pending.get(&hash) {
            return Ok(s);
        }
        if let Some(s) = self.index.serial_of(&hash)? {
            return Ok(s);
        }
        if !self.frame_chunks.is_empty()
            && (self.frame.len() + chunk.len() > pack::FRAME_BYTES
                || self.frame_chunks.len() >= pack::FRAME_CHUNKS)
        {
            self.flush_frame()?;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let off = u32::try_from(self.frame.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        self.frame.extend_from_slice(chunk);
        self.frame_chunks.push((hash, serial, off, len));
        self.added.new_chunks += 1;
        Ok(serial)
    }

    /// Give the frame being gathered to the compressing workers (or compress it here when
    /// there are none), then write out whatever frames are done.
    fn flush_frame(&mut self) -> Result<()> {
        if self.frame_chunks.is_empty() {
            return Ok(());
        }
        let members = std::mem::take(&mut self.frame_chunks);
        let raw = std::mem::replace(&mut self.frame, Vec::with_capacity(pack::FRAME_BYTES));
        let raw = match self.zippers.as_ref().and_then(|z| z.jobs.as_ref()) {
            Some(jobs) => {
                let (reply, done) = mpsc::sync_channel(1);
                match jobs.send((raw, reply)) {
                    Ok(()) => {
                        for m in &members {
                            self.pending.insert(m.0, m.1);
                        }
                        self.in_flight.push_back((done, members));
                        return self.write_done(false);
                    }
                    Err(mpsc::SendError((raw, _))) => {
                        self.zippers = None;
                        raw
                    }
                }
            }
            None => raw,
        };
        self.in_flight_inline(raw, members)?;
        self.write_done(false)
    }

    /// Compress a frame here (no worker could take it) and queue it as done.
    fn in_flight_inline(&mut self, raw: Vec<u8>, members: Members) -> Result<()> {
        let made = self.zip.frame(&raw);
        let (reply, done) = mpsc::sync_channel(1);
        let _ = reply.send(made);
        for m in &members {
            self.pending.insert(m.0, m.1);
        }
        self.in_flight.push_back((done, members));
        Ok(())
    }

    /// Write the compressed frames that are done, in order: all of them when `all`, else
    /// those ready and enough to keep at most [`FRAMES_IN_FLIGHT`] in flight.
    fn write_done(&mut self, all: bool) -> Result<()> {
        while let Some((done, _)) = self.in_flight.front() {
            let must = all || self.in_flight.len() > FRAMES_IN_FLIGHT;
            let made = if must {
                done.recv().ok()
            } else {
                match done.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => None,
                }
            };
            let Some((done, members)) = self.in_flight.pop_front() else {
                unreachable!("front seen above")
            };
            drop(done);
            let (stored, compressed) = match made {
                Some(m) => m,
                // A worker died with the frame (a panic in zstd): stop using workers.
                None => {
                    self.zippers = None;
                    return Err(Error::io(
                        "compress",
                        self.cache.join("pack"),
                        std::io::Error::other("a compressing thread stopped"),
                    ));
                }
            };
            self.write_frame(&stored, compressed, &members)?;
            for m in &members {
                self.pending.remove(&m.0);
            }
        }
        Ok(())
    }

    /// Put one compressed frame into the pack in hand (starting one if needed) and tell the
    /// index where its chunks are.
    fn write_frame(&mut self, stored: &[u8], compressed: bool, members: &Members) -> Result<()> {
        if self.pack.is_none() {
            self.made += 1;
            let w = PackWriter::new(self.cache, self.made)?;
            self.index
                .conn
                .execute(
                    "INSERT INTO packs(name, from_pack) VALUES (?1, 0)",
                    params![format!(".pending-{}-{}", std::process::id(), self.made)],
                )
                .map_err(|e| self.index.err(e))?;
            self.pack = Some((w, self.index.conn.last_insert_rowid()));
        }
        let Some((w, pack_row)) = self.pack.as_mut() else {
            unreachable!("made above")
        };
        let entries = w.add_stored(stored, compressed, members)?;
        let mut st = self
            .index
            .conn
            .prepare_cached(
                "INSERT INTO chunks(serial, hash, pack, frame_off, frame_len, flags, off, len) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(|e| self.index.err(e))?;
        for e in &entries {
            st.execute(params![
                serial_sql(e.serial),
                &e.hash[..],
                *pack_row,
                e.frame_off as i64,
                e.frame_len,
                u8::from(e.compressed),
                e.off,
                e.len
            ])
            .map_err(|e| self.index.err(e))?;
        }
        drop(st);
        if w.len() >= pack::PACK_TARGET {
            self.close_pack()?;
        }
        Ok(())
    }

    /// Finish the pack in hand: put it and its index object, and give its row its name.
    fn close_pack(&mut self) -> Result<()> {
        let Some((w, row)) = self.pack.take() else {
            return Ok(());
        };
        let body = w.len();
        let (id, tail, tmp): (String, Vec<u8>, OsString) = w.finish()?;
        self.added.pack_bytes += body + tail.len() as u64;
        self.added.packs += 1;
        let put = self
            .objects
            .put_local(&format!("{PACK_PREFIX}{id}"), self.cache, &tmp);
        match put {
            Ok(()) => {}
            // The same bytes are there already (the name is their hash).
            Err(e) if already_exists(&e) => {
                let _ = self.cache.remove_file(&tmp);
            }
            Err(e) => {
                let _ = self.cache.remove_file(&tmp);
                return Err(e);
            }
        }
        match self
            .objects
            .put(&format!("{INDEX_PREFIX}{id}"), &mut &tail[..])
        {
            Ok(()) => {}
            Err(e) if already_exists(&e) => {}
            Err(e) => return Err(e),
        }
        self.index
            .conn
            .execute("UPDATE packs SET name = ?1 WHERE id = ?2", params![id, row])
            .map_err(|e| self.index.err(e))?;
        Ok(())
    }

    /// Write out everything gathered (the last frame and pack). The index's transaction
    /// stays open: [`Writer::commit`] once the snapshot is stored.
    pub(super) fn flush(&mut self) -> Result<()> {
        self.flush_frame()?;
        self.write_done(true)?;
        self.close_pack()
    }

    /// Make what the index learned durable.
    pub(super) fn commit(mut self) -> Result<Added> {
        self.open = false;
        self.index.batch("COMMIT")?;
        Ok(self.added)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.index.batch("ROLLBACK");
        }
    }
}
