//! A stored file as a stream: its chunks in order, each located through the index, its frame
//! read (one ranged read per frame, kept while the next chunk is in the same frame),
//! decompressed within a bound and checked against the chunk's id before a byte is given
//! out. The whole file's SHA-256 is checked by whoever reads the stream (core), as for any
//! store.

use std::io::{self, Read};
use std::sync::Arc;

use rusqlite::Connection;

use super::index;
use super::pack;
use super::serials::Serials;
use super::PACK_PREFIX;
use crate::store::ObjectStore;

pub(super) struct ChunkReader<O: ?Sized> {
    objects: Arc<O>,
    conn: Connection,
    serials: Serials,
    /// The frame in hand: pack, frame offset, its decompressed bytes.
    frame: Option<(String, u64, Vec<u8>)>,
    /// The current chunk's place in the frame, and how much of it was given out.
    range: (usize, usize),
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
            frame: None,
            range: (0, 0),
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
            let key = format!("{PACK_PREFIX}{}", at.pack);
            let stored = self
                .objects
                .get_range(&key, e.frame_off, e.frame_len as usize)
                .map_err(|err| damaged(format!("pack {}: {err}", at.pack)))?;
            if stored.len() != e.frame_len as usize {
                return Err(damaged(format!("pack {} is cut short", at.pack)));
            }
            let frame = pack::open_frame(&stored, e.compressed)
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
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.range.0 == self.range.1 {
            if !self.advance()? {
                return Ok(0);
            }
        }
        let frame = self.frame.as_ref().map(|f| &f.2[..]).unwrap_or(&[]);
        let (a, b) = self.range;
        let n = buf.len().min(b - a);
        buf[..n].copy_from_slice(&frame[a..a + n]);
        self.range.0 += n;
        Ok(n)
    }
}
