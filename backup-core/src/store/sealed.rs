//! Encryption at rest: [`Sealed`] wraps any [`ObjectStore`] and seals every object but the
//! repository's `config` and its lease objects with XChaCha20-Poly1305 in the STREAM
//! construction (RustCrypto's `chacha20poly1305` and `aead::stream`; nothing here is a
//! cipher of ours).
//!
//! An object sealed: `ATOSEAL1` (8 bytes), the key's id (8 bytes), a random nonce prefix
//! (19 bytes), then the plaintext in segments of [`SEGMENT`] bytes, each followed by its
//! 16-byte tag; the last segment (possibly empty) is flagged as last. Every segment's
//! associated data is the object's key, so an object moved to another name, a segment moved,
//! dropped or appended, and a truncated object all fail their tag check. Segments make
//! ranged reads cheap: a frame in a pack costs the segments it spans.
//!
//! # Invariant
//! - Nothing is returned from a sealed object that did not pass its tag check.
//! - With a key, an object that is not sealed (or sealed with another key) is an error,
//!   never read as plaintext: a store cannot downgrade a repository by what it holds.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use sha2::Digest;

use super::objects::{ObjectStore, RangedObject};
use crate::error::{Error, Result};
use crate::fsio::read_full;

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 << 10;
const TAG: usize = 16;
const MAGIC: &[u8; 8] = b"ATOSEAL1";
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 19;
const HEADER: usize = MAGIC.len() + ID_LEN + NONCE_LEN;
const SEALED_SEGMENT: usize = SEGMENT + TAG;
/// The cipher, as the repository's config records it.
pub const CIPHER: &str = "xchacha20poly1305-stream-be32-64k";

/// Keys that stay plaintext: the config (it says the repository is encrypted and with
/// which key id) and lease objects (read by runs that may not hold the key).
fn plaintext(key: &str) -> bool {
    key == "config" || key.starts_with("locks/")
}

/// Keys whose name is the SHA-256 of their plaintext (packs and their index copies).
fn content_named(key: &str) -> bool {
    ["packs/", "index/"].iter().any(|p| {
        key.strip_prefix(p).is_some_and(|id| {
            id.len() == 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    })
}

/// A repository key: 32 random bytes.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("Key").field("id", &self.id).finish()
    }
}

/// What a repository records about its encryption (in its `config`, in the clear).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Encryption {
    /// The cipher and layout.
    pub cipher: String,
    /// The key's id (not the key: a hash of it).
    pub key_id: String,
}

impl Key {
    /// The key written as text: 64 hexadecimal digits (surrounding white space ignored);
    /// `source` names where it came from, for messages (never the text itself).
    ///
    /// # Errors
    /// [`Error::BadPath`] naming `source` when the text is not a key.
    pub fn from_text(text: &str, source: &Path) -> Result<Key> {
        let t = text.trim();
        let bad = || Error::BadPath {
            path: source.to_path_buf(),
            problem: "is not an atocore-backup key: expected 64 hexadecimal digits (make one \
                      with `atocore-backup key generate FILE`)"
                .into(),
        };
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Key::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> Key {
        let mut h = sha2::Sha256::new();
        h.update(b"atocore-backup key id v1\0");
        h.update(bytes);
        let id = crate::fsio::hex(&h.finalize()[..ID_LEN]);
        Key { bytes, id }
    }

    /// A new random key, as the text [`Key::from_text`] reads.
    ///
    /// # Errors
    /// [`Error::Io`] when the system has no randomness to give.
    pub fn generate_text() -> Result<String> {
        let mut bytes = [0u8; 32];
        random(&mut bytes)?;
        Ok(format!("{}\n", crate::fsio::hex(&bytes)))
    }

    /// Its id: a hash of the key, safe to show and record.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn id_bytes(&self) -> Vec<u8> {
        (0..ID_LEN)
            .map(|i| u8::from_str_radix(&self.id[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect()
    }
}

fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::io(
            "draw random bytes for",
            "a nonce",
            std::io::Error::other(e.to_string()),
        )
    })
}

type Stream = StreamBE32<XChaCha20Poly1305>;

fn stream(key: &Key, nonce: &[u8]) -> Stream {
    let aead = XChaCha20Poly1305::new((&key.bytes).into());
    Stream::from_aead(aead, nonce.into())
}

/// An object store whose objects are sealed with `key`.
pub struct Sealed {
    inner: Arc<dyn ObjectStore>,
    key: Key,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("location", &self.inner.location())
            .field("key", &self.key)
            .finish()
    }
}

impl Sealed {
    /// `inner`'s objects, sealed with `key`.
    pub fn new(inner: Arc<dyn ObjectStore>, key: Key) -> Sealed {
        Sealed { inner, key }
    }
}

/// A tag that did not check: reported like a checksum failure.
fn tampered(path: PathBuf, why: &str) -> Error {
    Error::ChecksumMismatch {
        path,
        expected: "an object sealed with this repository's key".into(),
        actual: format!("{why} (damaged, changed, or not written with this key)"),
    }
}

fn io_tampered(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{what}: failed its authentication check (damaged, changed, or not written with this repository's key)"),
    )
}

/// The header of a sealed object, checked: its nonce prefix.
fn parse_header(h: &[u8], key: &Key, path: &Path) -> Result<Vec<u8>> {
    if h.len() < HEADER || &h[..MAGIC.len()] != MAGIC {
        return Err(tampered(path.to_path_buf(), "is not a sealed object"));
    }
    if h[MAGIC.len()..MAGIC.len() + ID_LEN] != key.id_bytes()[..] {
        return Err(Error::BadPath {
            path: path.to_path_buf(),
            problem: format!(
                "was sealed with another key (key id {}), not the key given (key id {})",
                crate::fsio::hex(&h[MAGIC.len()..MAGIC.len() + ID_LEN]),
                key.id
            ),
        });
    }
    Ok(h[MAGIC.len() + ID_LEN..HEADER].to_vec())
}

impl ObjectStore for Sealed {
    fn location(&self) -> &Path {
        self.inner.location()
    }

    fn describe(&self, key: &str) -> PathBuf {
        self.inner.describe(key)
    }

    fn put(&self, key: &str, from: &mut dyn Read) -> Result<()> {
        if plaintext(key) {
            return self.inner.put(key, from);
        }
        let mut nonce = [0u8; NONCE_LEN];
        if content_named(key) {
            // Named by the hash of its plaintext: the same name always holds the same bytes,
            // so a nonce derived from the key and the name seals them to the same object
            // (a racing second upload of a pack writes identical bytes, never a different
            // ciphertext under a reader's feet), and reveals nothing the name does not.
            let mut h = sha2::Sha256::new();
            h.update(b"atocore-backup nonce v1\0");
            h.update(self.key.bytes);
            h.update(key.as_bytes());
            nonce.copy_from_slice(&h.finalize()[..NONCE_LEN]);
        } else {
            random(&mut nonce)?;
        }
        let mut sealing = Sealing {
            stream: stream(&self.key, &nonce),
            aad: key.as_bytes().to_vec(),
            from,
            out: Vec::with_capacity(SEALED_SEGMENT + HEADER),
            at: 0,
            position: 0,
            done: false,
            pending: Vec::with_capacity(SEGMENT + 1),
        };
        sealing.out.extend_from_slice(MAGIC);
        sealing.out.extend_from_slice(&self.key.id_bytes());
        sealing.out.extend_from_slice(&nonce);
        self.inner.put(key, &mut sealing)
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read>> {
        let mut r = self.inner.get(key)?;
        if plaintext(key) {
            return Ok(r);
        }
        let path = self.describe(key);
        let mut h = vec![0u8; HEADER];
        let n = read_full(&mut r, &mut h).map_err(|e| Error::io("read", &path, e))?;
        let nonce = parse_header(&h[..n], &self.key, &path)?;
        Ok(Box::new(Opening {
            stream: stream(&self.key, &nonce),
            aad: key.as_bytes().to_vec(),
            what: path.display().to_string(),
            from: r,
            buf: Vec::with_capacity(SEALED_SEGMENT + 1),
            plain: Vec::new(),
            at: 0,
            position: 0,
            done: false,
        }))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix)
    }

    fn list_sizes(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        // What is stored (sealed sizes): what the store bills.
        self.inner.list_sizes(prefix)
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)
    }

    fn size(&self, key: &str) -> Result<u64> {
        let sealed = self.inner.size(key)?;
        if plaintext(key) {
            return Ok(sealed);
        }
        plain_size(sealed).ok_or_else(|| tampered(self.describe(key), "is too short"))
    }

    fn get_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        if plaintext(key) {
            return self.inner.get_range(key, offset, len);
        }
        let mut o = SealedRanged::open(self, key, None)?;
        o.read_range(offset, len)
    }

    fn open_ranged(&self, key: &str) -> Result<Option<Box<dyn RangedObject>>> {
        if plaintext(key) {
            return self.inner.open_ranged(key);
        }
        let held = self.inner.open_ranged(key)?;
        Ok(Some(Box::new(SealedRanged::open(self, key, held)?)))
    }

    fn get_tail(&self, key: &str, len: usize) -> Result<Vec<u8>> {
        if plaintext(key) {
            return self.inner.get_tail(key, len);
        }
        let mut o = SealedRanged::open(self, key, self.inner.open_ranged(key)?)?;
        let size = o.plain_size()?;
        let from = size.saturating_sub(len as u64);
        o.read_range(from, usize::try_from(size - from).unwrap_or(usize::MAX))
    }

    fn leftovers(&self) -> Result<Vec<PathBuf>> {
        self.inner.leftovers()
    }

    fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        self.inner.remove_leftovers()
    }

    fn missing(&self) -> Result<bool> {
        self.inner.missing()
    }

    fn changeable_by_others(&self, key: &str) -> Option<(PathBuf, String)> {
        // On object storage, whoever can write the bucket but lacks the key cannot make an
        // object that passes its tag check. On local disk the folder's own check stands:
        // the key file may be readable by the very user who can write the folder.
        if self.inner.is_remote() {
            None
        } else {
            self.inner.changeable_by_others(key)
        }
    }

    fn encryption(&self) -> Option<Encryption> {
        Some(Encryption {
            cipher: CIPHER.into(),
            key_id: self.key.id.clone(),
        })
    }

    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }
}

/// Where plaintext byte `offset` of a sealed object is stored (for tests that damage one).
pub fn sealed_offset(offset: u64) -> u64 {
    let seg = SEGMENT as u64;
    HEADER as u64 + offset / seg * SEALED_SEGMENT as u64 + offset % seg
}

/// The plaintext size of a sealed object of `sealed` bytes.
fn plain_size(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER as u64)?;
    let segments = body.div_ceil(SEALED_SEGMENT as u64).max(1);
    body.checked_sub(segments * TAG as u64)
}

/// Plaintext in, sealed object out, one segment at a time.
struct Sealing<'a> {
    stream: Stream,
    aad: Vec<u8>,
    from: &'a mut dyn Read,
    out: Vec<u8>,
    at: usize,
    position: u32,
    done: bool,
    /// Plaintext read but not sealed yet: one byte more than a segment tells whether the
    /// segment is the last.
    pending: Vec<u8>,
}

impl Sealing<'_> {
    fn next_segment(&mut self) -> std::io::Result<()> {
        let want = SEGMENT + 1;
        let have = self.pending.len();
        self.pending.resize(want, 0);
        let n = read_full(self.from, &mut self.pending[have..])?;
        self.pending.truncate(have + n);
        let last = self.pending.len() <= SEGMENT;
        let take = self.pending.len().min(SEGMENT);
        let rest = self.pending.split_off(take);
        let mut seg = std::mem::replace(&mut self.pending, rest);
        self.stream
            .encrypt_in_place(self.position, last, &self.aad, &mut seg)
            .map_err(|_| std::io::Error::other("the object is too large to seal"))?;
        self.position = self
            .position
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("the object is too large to seal"))?;
        self.out.drain(..self.at);
        self.at = 0;
        self.out.extend_from_slice(&seg);
        self.done = last;
        Ok(())
    }
}

impl Read for Sealing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A sealed object in, plaintext out, each segment checked before any of it is given.
struct Opening {
    stream: Stream,
    aad: Vec<u8>,
    what: String,
    from: Box<dyn Read>,
    buf: Vec<u8>,
    plain: Vec<u8>,
    at: usize,
    position: u32,
    done: bool,
}

impl Read for Opening {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            let want = SEALED_SEGMENT + 1;
            let have = self.buf.len();
            self.buf.resize(want, 0);
            let n = read_full(&mut *self.from, &mut self.buf[have..])?;
            self.buf.truncate(have + n);
            let last = self.buf.len() <= SEALED_SEGMENT;
            let take = self.buf.len().min(SEALED_SEGMENT);
            let rest = self.buf.split_off(take);
            let mut seg = std::mem::replace(&mut self.buf, rest);
            self.stream
                .decrypt_in_place(self.position, last, &self.aad, &mut seg)
                .map_err(|_| io_tampered(&self.what))?;
            self.position = self.position.wrapping_add(1);
            self.plain = seg;
            self.at = 0;
            self.done = last;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A sealed object read by ranges: each range costs the segments it spans.
struct SealedRanged {
    inner: Arc<dyn ObjectStore>,
    held: Option<Box<dyn RangedObject>>,
    key_name: String,
    path: PathBuf,
    stream: Stream,
    sealed_size: Option<u64>,
    kept: Vec<Segment>,
}

/// A decrypted segment: its number, its plaintext, whether it is the object's last.
type Segment = (u64, Arc<Vec<u8>>, bool);

impl SealedRanged {
    fn open(s: &Sealed, key: &str, held: Option<Box<dyn RangedObject>>) -> Result<SealedRanged> {
        let path = s.describe(key);
        let mut o = SealedRanged {
            inner: Arc::clone(&s.inner),
            held,
            key_name: key.to_owned(),
            stream: stream(&s.key, &[0u8; NONCE_LEN]),
            path,
            sealed_size: None,
            kept: Vec::new(),
        };
        let h = o.raw(0, HEADER)?;
        let nonce = parse_header(&h, &s.key, &o.path)?;
        o.stream = stream(&s.key, &nonce);
        Ok(o)
    }

    fn raw(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        match &mut self.held {
            Some(h) => h.read_range(offset, len),
            None => self.inner.get_range(&self.key_name, offset, len),
        }
    }

    fn plain_size(&mut self) -> Result<u64> {
        let sealed = match self.sealed_size {
            Some(s) => s,
            None => {
                let s = self.inner.size(&self.key_name)?;
                self.sealed_size = Some(s);
                s
            }
        };
        plain_size(sealed).ok_or_else(|| tampered(self.path.clone(), "is too short"))
    }
}

impl SealedRanged {
    /// Segments `first..=last` decrypted (fewer when the object ends before `last`), each
    /// with whether it is the object's last; the most recent ones are kept, so reads of
    /// consecutive small frames (compressed frames are often a few KiB) decrypt each
    /// segment once, not once per frame.
    fn segments(&mut self, first: u64, last: u64) -> Result<Vec<Segment>> {
        let mut out = Vec::new();
        let mut s = first;
        while s <= last {
            if let Some(hit) = self.kept.iter().find(|(i, _, _)| *i == s).cloned() {
                let end = hit.2;
                out.push(hit);
                if end {
                    break;
                }
                s += 1;
                continue;
            }
            // The run of segments not kept, fetched in one read.
            let mut e = s;
            while e < last && !self.kept.iter().any(|(i, _, _)| *i == e + 1) {
                e += 1;
            }
            let from = HEADER as u64 + s * SEALED_SEGMENT as u64;
            let span = usize::try_from((e - s + 1) * SEALED_SEGMENT as u64)
                .map_err(|_| tampered(self.path.clone(), "asked for a range too large"))?;
            // One byte more tells whether the last segment read is the object's last.
            let got = self.raw(from, span + 1)?;
            if got.is_empty() {
                // Past the end: the caller finds out it read short; a truncated object
                // shows as a missing last segment below.
                if s == 0 {
                    return Err(tampered(self.path.clone(), "is cut short"));
                }
                break;
            }
            let mut at = 0;
            let mut position = s;
            let mut ended = false;
            while at < got.len().min(span) {
                // A segment followed by more bytes is not the last; one that ends the
                // object is.
                let is_last = got.len() - at <= SEALED_SEGMENT;
                let end = (at + SEALED_SEGMENT).min(got.len());
                let mut part = got[at..end].to_vec();
                let pos = u32::try_from(position)
                    .map_err(|_| tampered(self.path.clone(), "is too large"))?;
                self.stream
                    .decrypt_in_place(pos, is_last, self.key_name.as_bytes(), &mut part)
                    .map_err(|_| tampered(self.path.clone(), "failed its authentication check"))?;
                let entry = (position, Arc::new(part), is_last);
                self.kept.push(entry.clone());
                if self.kept.len() > KEPT_SEGMENTS {
                    self.kept.remove(0);
                }
                out.push(entry);
                at = end;
                position += 1;
                if is_last {
                    ended = true;
                    break;
                }
            }
            if ended {
                break;
            }
            s = e + 1;
        }
        Ok(out)
    }
}

/// Decrypted segments a ranged reader keeps (64 KiB each).
const KEPT_SEGMENTS: usize = 4;

impl RangedObject for SealedRanged {
    fn read_range(&mut self, offset: u64, len: usize) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let seg = SEGMENT as u64;
        let first = offset / seg;
        let last = (offset + len as u64 - 1) / seg;
        let mut out = Vec::with_capacity(len.min(4 * SEGMENT));
        for (i, part, _) in self.segments(first, last)? {
            let from = if i == first {
                usize::try_from(offset - first * seg).unwrap_or(0)
            } else {
                0
            };
            if from < part.len() {
                let take = (part.len() - from).min(len - out.len());
                out.extend_from_slice(&part[from..from + take]);
            }
            if out.len() == len {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalObjects;

    fn store(dir: &Path) -> Sealed {
        let key = Key::from_text(&"ab".repeat(32), Path::new("test")).unwrap();
        Sealed::new(Arc::new(LocalObjects::new(dir)), key)
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn every_size_round_trips_whole_and_by_range() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        for (i, n) in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 17,
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("packs/{i}");
            let data = bytes(n);
            s.put(&key, &mut &data[..]).unwrap();
            let mut back = Vec::new();
            s.get(&key).unwrap().read_to_end(&mut back).unwrap();
            assert!(back == data, "size {n}: whole read differs");
            assert_eq!(s.size(&key).unwrap(), n as u64);
            for (off, len) in [
                (0, 10),
                (SEGMENT - 3, 7),
                (n.saturating_sub(5), 100),
                (1, n),
            ] {
                let want: Vec<u8> = data.iter().copied().skip(off).take(len).collect();
                assert!(
                    s.get_range(&key, off as u64, len).unwrap() == want,
                    "{n} {off} {len}"
                );
                let mut o = s.open_ranged(&key).unwrap().unwrap();
                assert!(
                    o.read_range(off as u64, len).unwrap() == want,
                    "{n} {off} {len}"
                );
            }
            // Small consecutive reads, as a restore reads compressed frames.
            let mut o = s.open_ranged(&key).unwrap().unwrap();
            let mut seq = Vec::new();
            while seq.len() < n {
                let got = o.read_range(seq.len() as u64, 3001).unwrap();
                assert!(!got.is_empty());
                seq.extend_from_slice(&got);
            }
            assert!(seq == data, "size {n}: consecutive reads differ");
            let tail: Vec<u8> = data[n.saturating_sub(40)..].to_vec();
            assert!(s.get_tail(&key, 40).unwrap() == tail, "tail of {n}");
            // Stored bytes are not the plaintext.
            let raw = std::fs::read(LocalObjects::new(tmp.path()).object_path(&key)).unwrap();
            assert_eq!(raw.len(), HEADER + n + TAG * n.div_ceil(SEGMENT).max(1));
            if n > 64 {
                assert!(!raw.windows(64).any(|w| w == &data[..64]));
            }
        }
    }

    #[test]
    fn a_flipped_byte_a_moved_object_a_truncation_and_another_key_all_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let data = bytes(2 * SEGMENT + 5);
        s.put("packs/a", &mut &data[..]).unwrap();
        let local = LocalObjects::new(tmp.path());
        let path = local.object_path("packs/a");
        let good = std::fs::read(&path).unwrap();
        let read_all = |key: &str| -> std::result::Result<Vec<u8>, String> {
            let mut v = Vec::new();
            s.get(key)
                .map_err(|e| e.to_string())?
                .read_to_end(&mut v)
                .map_err(|e| e.to_string())?;
            Ok(v)
        };
        for at in [HEADER + 3, HEADER + SEALED_SEGMENT + 9, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(read_all("packs/a").unwrap_err().contains("authentication"));
            assert!(s.get_range("packs/a", 0, data.len()).is_err());
        }
        // Truncated at a segment boundary: the last segment is missing its flag.
        std::fs::write(&path, &good[..HEADER + SEALED_SEGMENT]).unwrap();
        assert!(read_all("packs/a").is_err());
        assert!(s.get_range("packs/a", 0, 10).is_err());
        // Moved to another name.
        std::fs::write(&path, &good).unwrap();
        std::fs::write(local.object_path("packs/b"), &good).unwrap();
        assert!(read_all("packs/b").is_err());
        assert!(read_all("packs/a").unwrap() == data);
        // Another key: named as such.
        let other = Sealed::new(
            Arc::new(LocalObjects::new(tmp.path())),
            Key::from_text(&"cd".repeat(32), Path::new("k")).unwrap(),
        );
        let e = other.get("packs/a").err().unwrap().to_string();
        assert!(e.contains("another key"), "{e}");
        // Plaintext where a sealed object belongs.
        std::fs::write(
            &path,
            b"plain text, not sealed at all, long enough for a header",
        )
        .unwrap();
        assert!(read_all("packs/a")
            .unwrap_err()
            .contains("not a sealed object"));
    }

    #[test]
    fn the_config_and_leases_stay_readable_and_keys_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        s.put("config", &mut &b"{}"[..]).unwrap();
        assert_eq!(
            std::fs::read(LocalObjects::new(tmp.path()).object_path("config")).unwrap(),
            b"{}"
        );
        assert!(Key::from_text("abc", Path::new("f")).is_err());
        let t = Key::generate_text().unwrap();
        assert_ne!(t, Key::generate_text().unwrap());
        let k = Key::from_text(&t, Path::new("f")).unwrap();
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains(t.trim()));
    }
}
