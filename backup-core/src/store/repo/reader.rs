//! A stored file as a stream: its chunks in order, each located through the index, its frame
//! read (one ranged read per frame from a pack held open, kept while the next chunk is in the
//! same frame), decompressed within a bound and checked against the chunk's id before a byte
//! is given out. The whole file's SHA-256 is checked by whoever reads the stream (core), as
//! for any store.

use std::io::{self, Read};
use std::sync::Arc;

use rusqlite::Connection;

use super::index;
use super::pack;
use super::serials::Serials;
use super::PACK_PREFIX;
use crate::store::{ObjectStore, RangedObject};

/// Packs a reader keeps open at once.
const HELD_PACKS: usize = 4;

pub(super) struct ChunkReader<O: ?Sized> {
    objects: Arc<O>,
    conn: Connection,
    serials: Serials,
    /// The packs in hand, most recent last, held open when the store can (a local file, a
    /// sealed object with its decrypted segments): a file whose chunks alternate between a
    /// few packs (shared blocks deduplicated into an older pack) does not reopen one for
    /// every chunk.
    packs: Vec<(String, Option<Box<dyn RangedObject>>)>,
    /// The frame in hand: pack, frame offset, its decompressed bytes.
    frame: Option<(String, u64, Vec<u8>)>,
    /// The current chunk's place in the frame, and how much of it was given out.
    range: (usize, usize),
    unzip: pack::Unzip,
    /// An error met after part of a buffer was filled: given with the next read.
    failed: Option<io::Error>,
}

fn damaged(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{what} (`atocore-backup check --read-data` tells whether the repository itself \
             is damaged; it also rebuilds the local index, should that be what is wrong)"
        ),
    )
}

impl<O: ObjectStore + ?Sized> ChunkReader<O> {
    pub(super) fn new(objects: Arc<O>, conn: Connection, serials: Serials) -> Self {
        // One read transaction for the whole file: a lookup per chunk then takes no lock of
        // its own (measured: it made two system calls per chunk without).
        let _ = conn.execute_batch("BEGIN");
        ChunkReader {
            objects,
            conn,
            serials,
            packs: Vec::new(),
            frame: None,
            range: (0, 0),
            unzip: pack::Unzip::default(),
            failed: None,
        }
    }

    /// The stored bytes of a frame: from the pack held open, or by a ranged get.
    fn stored(&mut self, pack: &str, off: u64, len: usize) -> crate::error::Result<Vec<u8>> {
        let key = format!("{PACK_PREFIX}{pack}");
        match self.packs.iter().position(|(p, _)| p == pack) {
            Some(i) => {
                let held = self.packs.remove(i);
                self.packs.push(held);
            }
            None => {
                if self.packs.len() >= HELD_PACKS {
                    self.packs.remove(0);
                }
                let held = self.objects.open_ranged(&key)?;
                self.packs.push((pack.to_owned(), held));
            }
        }
        match self.packs.last_mut() {
            Some((_, Some(held))) => held.read_range(off, len),
            _ => self.objects.get_range(&key, off, len),
        }
    }

    /// Move to the next chunk; false at the end.
    fn advance(&mut self) -> io::Result<bool> {
        let Some(serial) = self.serials.next() else {
            return Ok(false);
        };
        let at = index::locate(&self.conn, serial)
            .map_err(|e| damaged(format!("the local chunk index cannot be read ({e})")))?
            .ok_or_else(|| {
                damaged(format!(
                    "chunk {serial} is not in the repository (its pack is missing)"
                ))
            })?;
        let e = &at.entry;
        let same = matches!(&self.frame, Some((p, off, _)) if *p == at.pack && *off == e.frame_off);
        if !same {
            let stored = self
                .stored(&at.pack, e.frame_off, e.frame_len as usize)
                .map_err(|err| damaged(format!("pack {}: {err}", at.pack)))?;
            if stored.len() != e.frame_len as usize {
                return Err(damaged(format!("pack {} is cut short", at.pack)));
            }
            let frame = self
                .unzip
                .open_frame(&stored, e.compressed)
                .map_err(|why| damaged(format!("a frame of pack {} {why}", at.pack)))?;
            self.frame = Some((at.pack.clone(), e.frame_off, frame));
        }
        let frame = self.frame.as_ref().map(|f| &f.2[..]).unwrap_or(&[]);
        pack::chunk_of(frame, e).map_err(|why| damaged(format!("pack {}: {why}", at.pack)))?;
        self.range = (e.off as usize, e.off as usize + e.len as usize);
        Ok(true)
    }
}

impl<O: ObjectStore + ?Sized> Read for ChunkReader<O> {
    /// As many whole or part chunks as fit (one system call per buffer for whoever writes
    /// them out, not one per chunk).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let mut filled = 0;
        while filled < buf.len() {
            if self.range.0 == self.range.1 {
                match self.advance() {
                    Ok(true) => continue,
                    Ok(false) => break,
                    // What was read is given out first; the error comes with the next read.
                    Err(e) if filled == 0 => return Err(e),
                    Err(e) => {
                        self.failed = Some(e);
                        break;
                    }
                }
            }
            let frame = self.frame.as_ref().map(|f| &f.2[..]).unwrap_or(&[]);
            let (a, b) = self.range;
            let n = (buf.len() - filled).min(b - a);
            buf[filled..filled + n].copy_from_slice(&frame[a..a + n]);
            self.range.0 += n;
            filled += n;
        }
        Ok(filled)
    }
}
