//! Storing files: each is cut into chunks, each chunk hashed; a chunk the repository has is
//! only referenced, new ones are gathered into frames (compressed together) and packs. The
//! local index learns the new chunks inside one transaction, committed only once the
//! snapshot that needs them is stored: a failed or killed run leaves the index as it was
//! (its packs become unreferenced data, which the next sync learns and a prune removes).

use std::ffi::OsString;
use std::io::Read;

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

pub(super) struct Writer<'a> {
    index: &'a Index,
    objects: &'a dyn ObjectStore,
    cache: &'a Dir,
    next_serial: u64,
    pack: Option<(PackWriter, i64)>,
    made: u64,
    frame: Vec<u8>,
    frame_chunks: Vec<([u8; 32], u64, u32, u32)>,
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
            added: Added::default(),
            open: true,
        })
    }

    /// Store the file called `name` (its last path part) of `size` bytes (as recorded; the
    /// rule for cutting it depends on it) from `from`, naming `what` in messages.
    pub(super) fn add_file(
        &mut self,
        name: &str,
        size: u64,
        from: &mut dyn Read,
        what: &std::path::Path,
    ) -> Result<Stored> {
        let mut head = Vec::with_capacity(100);
        from.take(100)
            .read_to_end(&mut head)
            .map_err(|e| Error::io("read", what, e))?;
        let cut = chunker::rule_for(name, size, &head);
        let mut chunker = Chunker::new(std::io::Cursor::new(head).chain(from), cut);
        let mut whole = Sha256::new();
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
            let serial = self.add_chunk(&chunk)?;
            list.push(serial);
        }
        // A file's new chunks do not share frames with the next file's.
        self.flush_frame()?;
        self.added.file_bytes += total;
        Ok(Stored {
            chunks: list.finish(),
            size: total,
            sha256: fsio::hex(&whole.finalize()),
        })
    }

    /// The serial of `chunk`: the one it has, or a new one (the chunk then joins the frame).
    fn add_chunk(&mut self, chunk: &[u8]) -> Result<u64> {
        let hash: [u8; 32] = Sha256::digest(chunk).into();
        self.added.chunks += 1;
        if let Some(c) = self.frame_chunks.iter().find(|c| c.0 == hash) {
            return Ok(c.1);
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

    fn flush_frame(&mut self) -> Result<()> {
        if self.frame_chunks.is_empty() {
            return Ok(());
        }
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
        let entries = w.add_frame(&self.frame, &self.frame_chunks)?;
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
        self.frame.clear();
        self.frame_chunks.clear();
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
