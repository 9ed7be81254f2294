//! Pack files: frames of chunks (zstd-compressed, or as is when that saves too little), then
//! the pack's table. The table with its checksum, count and magic (the pack's tail) is also
//! the pack's index object, so the index can be rebuilt from the packs and checked against
//! them byte for byte.
//!
//! Table entry (61 bytes, big-endian): chunk id (SHA-256 of its bytes, 32), serial (8),
//! frame offset in the pack (8), frame length as stored (4), flags (1: bit 0 = zstd),
//! offset inside the decompressed frame (4), length (4).
//! Tail: entries, SHA-256 of the entries (32), entry count (4), magic `ATOPACK1` (8).

use std::ffi::OsString;
use std::io::{Read, Write};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsio::{self, Dir};

pub(super) const ENTRY_LEN: usize = 61;
pub(super) const TRAILER_LEN: usize = 32 + 4 + 8;
const MAGIC: &[u8; 8] = b"ATOPACK1";
/// A pack is closed once it holds this much.
pub(super) const PACK_TARGET: u64 = 16 << 20;
/// New chunks of one file are compressed together up to this many bytes...
pub(super) const FRAME_BYTES: usize = 64 << 10;
/// ...or this many chunks.
pub(super) const FRAME_CHUNKS: usize = 16;
/// The most a frame can hold decompressed (one largest chunk, or a full frame).
pub(super) const MAX_FRAME: usize = super::chunker::MAX_CHUNK + FRAME_BYTES;
/// The most a frame can take stored (what a pack table may say).
pub(super) const MAX_STORED_FRAME: usize = MAX_FRAME + 1024;
/// Most entries a table may declare (bounds what a damaged count can make us read).
const MAX_ENTRIES: u32 = 4 << 20;
const ZSTD_LEVEL: i32 = 1;

/// Where one chunk is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) hash: [u8; 32],
    pub(super) serial: u64,
    pub(super) frame_off: u64,
    pub(super) frame_len: u32,
    pub(super) compressed: bool,
    pub(super) off: u32,
    pub(super) len: u32,
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.frame_off.to_be_bytes());
        out.extend_from_slice(&self.frame_len.to_be_bytes());
        out.push(u8::from(self.compressed));
        out.extend_from_slice(&self.off.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Entry {
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[..32]);
        Entry {
            hash,
            serial: u64_at(32),
            frame_off: u64_at(40),
            frame_len: u32_at(48),
            compressed: b[52] & 1 == 1,
            off: u32_at(53),
            len: u32_at(57),
        }
    }
}

/// A pack's tail for `entries`.
pub(super) fn encode_tail(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN + TRAILER_LEN);
    for e in entries {
        e.encode(&mut out);
    }
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(MAGIC);
    out
}

/// How long the tail is, from its last [`TRAILER_LEN`] bytes.
pub(super) fn tail_len(trailer: &[u8]) -> std::result::Result<usize, String> {
    if trailer.len() < TRAILER_LEN || &trailer[trailer.len() - 8..] != MAGIC {
        return Err("does not end in a pack table".into());
    }
    let n = trailer.len();
    let count = u32::from_be_bytes(trailer[n - 12..n - 8].try_into().unwrap_or([0; 4]));
    if count > MAX_ENTRIES {
        return Err(format!(
            "declares {count} chunks, more than a pack can hold"
        ));
    }
    Ok(count as usize * ENTRY_LEN + TRAILER_LEN)
}

/// The entries of a tail, checked (magic, count, checksum, bounds).
pub(super) fn decode_tail(tail: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let want = tail_len(tail)?;
    if tail.len() != want {
        return Err(format!(
            "has a table of {} bytes where its count says {want}",
            tail.len()
        ));
    }
    let body = &tail[..want - TRAILER_LEN];
    if Sha256::digest(body)[..] != tail[body.len()..body.len() + 32] {
        return Err("has a pack table that does not match its checksum".into());
    }
    let entries: Vec<Entry> = body.chunks_exact(ENTRY_LEN).map(Entry::decode).collect();
    for e in &entries {
        if e.off as usize + e.len as usize > MAX_FRAME || e.frame_len as usize > MAX_STORED_FRAME {
            return Err(format!("has an impossible place for chunk {}", e.serial));
        }
    }
    Ok(entries)
}

/// Decompresses frames, one context for all of them (making one per frame was measured at 5%
/// of a `validate`).
#[derive(Default)]
pub(super) struct Unzip(Option<zstd::bulk::Decompressor<'static>>);

impl Unzip {
    /// Decompress (or take as is) one frame as stored; bounded by [`MAX_FRAME`].
    pub(super) fn open_frame(
        &mut self,
        stored: &[u8],
        compressed: bool,
    ) -> std::result::Result<Vec<u8>, String> {
        if !compressed {
            return Ok(stored.to_vec());
        }
        let failed = |e: std::io::Error| {
            format!("is damaged: it does not decompress ({e}), so no checksum can match")
        };
        if self.0.is_none() {
            self.0 = Some(zstd::bulk::Decompressor::new().map_err(failed)?);
        }
        let Some(d) = self.0.as_mut() else {
            unreachable!("made above")
        };
        // Room for what the frame says it holds (our frames record their size), never more
        // than a frame can hold: a frame of 64 KiB no longer costs a 4 MiB allocation (and
        // its mmap and munmap). A size that lies makes the decompression fail, as damage.
        let room = match zstd::zstd_safe::get_frame_content_size(stored) {
            Ok(Some(n)) => usize::try_from(n).unwrap_or(MAX_FRAME).min(MAX_FRAME),
            _ => MAX_FRAME,
        };
        let mut out = Vec::with_capacity(room);
        d.decompress_to_buffer(stored, &mut out).map_err(failed)?;
        Ok(out)
    }
}

/// Compresses frames, one context for all of them.
pub(super) struct Zip {
    c: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
}

impl Default for Zip {
    fn default() -> Self {
        Zip {
            c: zstd::bulk::Compressor::new(ZSTD_LEVEL).ok(),
            scratch: Vec::new(),
        }
    }
}

impl Zip {
    /// A frame as it is stored: compressed when that saves at least an eighth (then true),
    /// else the raw bytes.
    pub(super) fn frame(&mut self, raw: &[u8]) -> (Vec<u8>, bool) {
        let bound = zstd::zstd_safe::compress_bound(raw.len());
        self.scratch.resize(bound, 0);
        let made = match self.c.as_mut() {
            Some(c) => c.compress_to_buffer(raw, &mut self.scratch[..]),
            None => zstd::bulk::compress_to_buffer(raw, &mut self.scratch[..], ZSTD_LEVEL),
        };
        match made {
            Ok(n) if n <= raw.len() - raw.len() / 8 => (self.scratch[..n].to_vec(), true),
            _ => (raw.to_vec(), false),
        }
    }
}

/// A chunk of a decompressed frame, checked against its id.
pub(super) fn chunk_of<'a>(frame: &'a [u8], e: &Entry) -> std::result::Result<&'a [u8], String> {
    let (a, b) = (e.off as usize, e.off as usize + e.len as usize);
    let bytes = frame
        .get(a..b)
        .ok_or_else(|| format!("chunk {} lies outside its frame", e.serial))?;
    if Sha256::digest(bytes)[..] != e.hash {
        return Err(format!(
            "chunk {} is damaged: its bytes do not match their checksum",
            e.serial
        ));
    }
    Ok(bytes)
}

/// A pack being written to a temporary file in the local cache folder.
pub(super) struct PackWriter {
    dir: Dir,
    name: OsString,
    file: std::fs::File,
    hasher: Sha256,
    len: u64,
    entries: Vec<Entry>,
    zip: Zip,
}

impl PackWriter {
    /// A new pack under a temporary name of ours in `dir`.
    pub(super) fn new(dir: &Dir, n: u64) -> Result<PackWriter> {
        let name = OsString::from(format!(
            ".pack-{}-{n}{}",
            std::process::id(),
            crate::TEMP_SUFFIX
        ));
        let file = dir.create_temp_file(&name, fsio::FILE_MODE)?;
        Ok(PackWriter {
            dir: dir.try_clone()?,
            name,
            file,
            hasher: Sha256::new(),
            len: 0,
            entries: Vec::new(),
            zip: Zip::default(),
        })
    }

    /// Bytes written so far.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("write", self.dir.join(&self.name), e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Add one frame: `raw` holds the chunks `(id, serial, offset, length)` back to back.
    /// Returns their entries.
    pub(super) fn add_frame(
        &mut self,
        raw: &[u8],
        chunks: &[([u8; 32], u64, u32, u32)],
    ) -> Result<Vec<Entry>> {
        let (stored, compressed) = self.zip.frame(raw);
        self.add_stored(&stored, compressed, chunks)
    }

    /// Add one frame already made by [`Zip::frame`] from the chunks `(id, serial, offset,
    /// length)`. Returns their entries.
    pub(super) fn add_stored(
        &mut self,
        stored: &[u8],
        compressed: bool,
        chunks: &[([u8; 32], u64, u32, u32)],
    ) -> Result<Vec<Entry>> {
        let frame_off = self.len;
        self.write(stored)?;
        let frame_len = u32::try_from(self.len - frame_off).unwrap_or(u32::MAX);
        let made: Vec<Entry> = chunks
            .iter()
            .map(|&(hash, serial, off, len)| Entry {
                hash,
                serial,
                frame_off,
                frame_len,
                compressed,
                off,
                len,
            })
            .collect();
        self.entries.extend(made.iter().cloned());
        Ok(made)
    }

    /// Write the tail, make the file durable and return the pack id, the tail and the
    /// temporary name the finished pack is under (in the writer's folder).
    pub(super) fn finish(mut self) -> Result<(String, Vec<u8>, OsString)> {
        let tail = encode_tail(&self.entries);
        self.write(&tail)?;
        let path = self.dir.join(&self.name);
        self.file
            .sync_all()
            .map_err(|e| Error::io("sync", &path, e))?;
        let id = fsio::hex(&self.hasher.finalize_reset());
        let name = std::mem::take(&mut self.name);
        Ok((id, tail, name))
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            let _ = self.dir.remove_file(&self.name);
        }
    }
}

/// The most a pack can hold: what is read of one before it is called damaged.
pub(super) const MAX_PACK: u64 = 4 * PACK_TARGET + MAX_FRAME as u64;

/// A pack read once, front to back, every byte hashed: its frames are taken in increasing
/// order of offset, one in memory at a time, whatever the pack's size.
pub(super) struct PackStream<R> {
    r: std::io::Take<R>,
    hash: Sha256,
    read: u64,
    stored: Vec<u8>,
    /// The first read error: the pack could not be read, whatever the reader says after it
    /// (a stream that ended, or bytes that were never there, must not pass for damage).
    failed: Option<String>,
}

impl<R: Read> PackStream<R> {
    pub(super) fn new(r: R) -> Self {
        PackStream {
            r: r.take(MAX_PACK + 1),
            hash: Sha256::new(),
            read: 0,
            stored: Vec::new(),
            failed: None,
        }
    }

    fn unreadable(e: std::io::Error) -> String {
        format!("cannot be read ({e})")
    }

    /// Read `n` bytes into `self.stored`, hashed and counted (false: the pack ended first,
    /// and `stored` holds what there was).
    fn read_stored(&mut self, n: usize) -> std::result::Result<bool, String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        self.stored.resize(n, 0);
        let mut at = 0;
        let mut whole = true;
        while at < n {
            match self.r.read(&mut self.stored[at..]) {
                Ok(0) => {
                    whole = false;
                    break;
                }
                Ok(k) => at += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = Self::unreadable(e);
                    self.failed = Some(why.clone());
                    return Err(why);
                }
            }
        }
        self.stored.truncate(at);
        self.hash.update(&self.stored);
        self.read += at as u64;
        Ok(whole)
    }

    /// The stored bytes of the frame at `off`, `len` long (frames are asked for in
    /// increasing order of offset).
    pub(super) fn frame(&mut self, off: u64, len: u32) -> std::result::Result<&[u8], String> {
        let len = len as usize;
        if len > MAX_STORED_FRAME {
            return Err(format!("has a frame at {off} larger than any frame can be"));
        }
        if off < self.read {
            return Err(format!("has frames that overlap at {off}"));
        }
        while self.read < off {
            let gap = usize::try_from(off - self.read)
                .unwrap_or(usize::MAX)
                .min(256 << 10);
            if !self.read_stored(gap)? {
                return Err(format!("has a frame outside the pack at {off}"));
            }
        }
        if !self.read_stored(len)? {
            return Err(format!("has a frame outside the pack at {off}"));
        }
        Ok(&self.stored)
    }

    /// Read the rest: whether the SHA-256 of all the bytes is `name`, and how many there were;
    /// an error when any read failed (before or now).
    pub(super) fn finish(mut self, name: &str) -> std::result::Result<(bool, u64), String> {
        while self.read_stored(256 << 10)? {}
        if self.read > MAX_PACK {
            return Err(Self::unreadable(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "larger than it can be",
            )));
        }
        Ok((fsio::hex(&self.hash.finalize()) == name, self.read))
    }
}

/// Read all of `r` into memory, at most `limit` bytes.
pub(super) fn read_bounded(r: &mut dyn Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than it can be",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream hands out exactly the frames asked for, in order, hashes every byte (those
    /// between and after the frames too), and refuses what a damaged table could ask.
    #[test]
    fn a_pack_stream_gives_frames_in_order_and_hashes_every_byte() {
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let name = fsio::hex(&Sha256::digest(&bytes));
        let mut s = PackStream::new(&bytes[..]);
        assert_eq!(s.frame(10, 5).unwrap(), &bytes[10..15]);
        assert_eq!(s.frame(400_000, 70_000).unwrap(), &bytes[400_000..470_000]);
        assert!(s.frame(100, 5).unwrap_err().contains("overlap"));
        assert_eq!(s.finish(&name).unwrap(), (true, bytes.len() as u64));

        let mut other = bytes.clone();
        other[650_000] ^= 1;
        let mut s = PackStream::new(&other[..]);
        assert_eq!(s.frame(0, 8).unwrap(), &bytes[..8]);
        assert_eq!(s.finish(&name).unwrap(), (false, bytes.len() as u64));

        let mut s = PackStream::new(&bytes[..]);
        assert!(s.frame(699_990, 20).unwrap_err().contains("outside"));
        let mut s = PackStream::new(&bytes[..]);
        let too_big = u32::try_from(MAX_STORED_FRAME + 1).unwrap();
        assert!(s.frame(0, too_big).unwrap_err().contains("larger"));

        // A read that fails part-way (a connection lost) is "cannot be read", not damage,
        // even when the reader then says it has ended.
        struct Failing<'a>(&'a [u8], bool);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    if self.1 {
                        return Ok(0);
                    }
                    self.1 = true;
                    return Err(std::io::Error::other("connection reset"));
                }
                let n = buf.len().min(self.0.len()).min(1000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = PackStream::new(Failing(&bytes[..300_000], false));
        assert!(s.frame(400_000, 10).unwrap_err().contains("cannot be read"));
        assert!(s.finish(&name).unwrap_err().contains("connection reset"));
        let mut s = PackStream::new(Failing(&bytes[..300_000], false));
        assert_eq!(s.frame(10, 5).unwrap(), &bytes[10..15]);
        assert!(s.finish(&name).unwrap_err().contains("cannot be read"));
    }

    #[test]
    fn a_tail_round_trips_and_a_flipped_byte_is_caught() {
        let entries: Vec<Entry> = (0..3)
            .map(|i| Entry {
                hash: [i as u8; 32],
                serial: 10 + i,
                frame_off: 100 * i,
                frame_len: 50,
                compressed: i % 2 == 0,
                off: 7,
                len: 9,
            })
            .collect();
        let tail = encode_tail(&entries);
        assert_eq!(
            tail_len(&tail[tail.len() - TRAILER_LEN..]).unwrap(),
            tail.len()
        );
        assert_eq!(decode_tail(&tail).unwrap(), entries);
        for i in 0..tail.len() {
            let mut bad = tail.clone();
            bad[i] ^= 0xff;
            assert!(decode_tail(&bad).is_err(), "flip at {i} not caught");
        }
    }
}
