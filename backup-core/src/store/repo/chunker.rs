//! How a file is cut into chunks (docs/repository.md, "Chunks"): SQLite databases at their
//! page size, files rewritten in place at fixed offsets (HNSW segments) in aligned blocks,
//! small files whole, everything else at content-defined boundaries.

use std::io::{self, Read};

/// Files smaller than this are one chunk.
pub(super) const WHOLE_BELOW: u64 = 64 << 10;
/// Aligned block size for files rewritten in place.
pub(super) const BLOCK: usize = 4096;
/// Content-defined cuts: never shorter, never longer, and on average about 1 MiB.
const CDC_MIN: usize = 256 << 10;
const CDC_MAX: usize = 4 << 20;
const CDC_AVG: usize = 1 << 20;
/// The largest chunk any rule makes.
pub(super) const MAX_CHUNK: usize = CDC_MAX;

/// File names cut in aligned blocks: files an engine rewrites in place at fixed offsets
/// (hnswlib's segment files, as Chroma writes them).
pub(super) const BLOCK_NAMES: &[&str] = &["data_level0.bin", "link_lists.bin"];

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// A cutting rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// One chunk for the whole file (bounded by [`MAX_CHUNK`] per chunk all the same).
    Whole,
    /// Aligned chunks of this many bytes.
    Fixed(usize),
    /// Content-defined.
    Content,
}

/// The rule for a file named `name` (its last path part) of `size` bytes that begins with
/// `head`.
pub(super) fn rule_for(name: &str, size: u64, head: &[u8]) -> Cut {
    if size < WHOLE_BELOW {
        return Cut::Whole;
    }
    if let Some(page) = sqlite_page_size(head) {
        return Cut::Fixed(page);
    }
    if BLOCK_NAMES.contains(&name) {
        return Cut::Fixed(BLOCK);
    }
    Cut::Content
}

/// The page size a SQLite database header declares, when `head` is one.
pub(super) fn sqlite_page_size(head: &[u8]) -> Option<usize> {
    if head.len() < 18 || &head[..16] != SQLITE_MAGIC {
        return None;
    }
    let raw = u16::from_be_bytes([head[16], head[17]]);
    let page = if raw == 1 { 65536 } else { usize::from(raw) };
    (page.is_power_of_two() && (512..=65536).contains(&page)).then_some(page)
}

/// The gear table of the rolling hash: fixed pseudo-random words (SplitMix64 from a fixed
/// seed), so every build cuts the same content at the same places.
fn gear() -> &'static [u64; 256] {
    static GEAR: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    GEAR.get_or_init(|| {
        let mut t = [0u64; 256];
        let mut s: u64 = 0x6174_6f63_6f72_6531;
        for w in &mut t {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *w = z ^ (z >> 31);
        }
        t
    })
}

/// A mask of the top `bits` bits: the rolling hash's top bits depend on the last 64 bytes,
/// its low bits on only the last few.
const fn top(bits: u32) -> u64 {
    !(u64::MAX >> bits)
}

/// Where to cut `data` (at most [`CDC_MAX`] bytes, the rest of the file when shorter):
/// normalized chunking, a stricter mask before the average size and a looser one after.
fn content_cut(data: &[u8]) -> usize {
    if data.len() <= CDC_MIN {
        return data.len();
    }
    let g = gear();
    let strict = top(22);
    let loose = top(18);
    let mut h: u64 = 0;
    let end = data.len().min(CDC_MAX);
    for (i, &b) in data.iter().enumerate().take(end).skip(CDC_MIN) {
        h = (h << 1).wrapping_add(g[usize::from(b)]);
        let mask = if i < CDC_AVG { strict } else { loose };
        if h & mask == 0 {
            return i + 1;
        }
    }
    end
}

/// Cuts a stream into chunks by one rule, holding at most one chunk and one read-ahead.
pub(super) struct Chunker<R> {
    from: R,
    cut: Cut,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Chunker<R> {
    pub(super) fn new(from: R, cut: Cut) -> Self {
        Chunker {
            from,
            cut,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Fill the buffer up to `want` bytes, or to the end of the stream.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.eof && self.buf.len() < want {
            let have = self.buf.len();
            self.buf.resize(want, 0);
            match self.from.read(&mut self.buf[have..]) {
                Ok(0) => {
                    self.buf.truncate(have);
                    self.eof = true;
                }
                Ok(n) => self.buf.truncate(have + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(have),
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The next chunk into `out` (replacing its contents); false at the end.
    pub(super) fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let size = match self.cut {
            Cut::Fixed(n) => n,
            Cut::Whole | Cut::Content => MAX_CHUNK,
        };
        self.fill(size)?;
        if self.buf.is_empty() {
            return Ok(false);
        }
        let at = match self.cut {
            Cut::Content => content_cut(&self.buf),
            _ => self.buf.len().min(size),
        };
        out.clear();
        out.extend_from_slice(&self.buf[..at]);
        self.buf.drain(..at);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(data: &[u8], cut: Cut) -> Vec<usize> {
        let mut c = Chunker::new(data, cut);
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        while c.next_into(&mut out).unwrap() {
            sizes.push(out.len());
        }
        sizes
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    #[test]
    fn a_sqlite_header_gives_its_page_size_and_names_pick_blocks() {
        let mut head = SQLITE_MAGIC.to_vec();
        head.extend_from_slice(&[0x10, 0x00]);
        assert_eq!(rule_for("x.db", 1 << 20, &head), Cut::Fixed(4096));
        head[16..18].copy_from_slice(&[0, 1]);
        assert_eq!(rule_for("x.db", 1 << 20, &head), Cut::Fixed(65536));
        head[16..18].copy_from_slice(&[0x10, 0x01]);
        assert_eq!(
            rule_for("x.db", 1 << 20, &head),
            Cut::Content,
            "not a power of two"
        );
        assert_eq!(rule_for("data_level0.bin", 1 << 20, b""), Cut::Fixed(BLOCK));
        assert_eq!(rule_for("data_level0.bin", 100, b""), Cut::Whole);
        assert_eq!(rule_for("other", 1 << 20, b""), Cut::Content);
    }

    #[test]
    fn fixed_cuts_are_aligned_and_the_last_is_short() {
        let data = vec![7u8; 3 * 4096 + 5];
        assert_eq!(cuts(&data, Cut::Fixed(4096)), [4096, 4096, 4096, 5]);
        assert!(cuts(b"", Cut::Fixed(4096)).is_empty());
    }

    #[test]
    fn content_cuts_stay_in_bounds_and_survive_an_insert() {
        let data = noise(12 << 20, 1);
        let a = cuts(&data, Cut::Content);
        assert_eq!(a.iter().sum::<usize>(), data.len());
        assert!(a[..a.len() - 1]
            .iter()
            .all(|&n| (CDC_MIN..=CDC_MAX).contains(&n)));
        // Insert 100 bytes near the start: the cuts after the first few come back.
        let mut shifted = data[..1000].to_vec();
        shifted.extend_from_slice(&noise(100, 2));
        shifted.extend_from_slice(&data[1000..]);
        let b = cuts(&shifted, Cut::Content);
        let ends = |v: &[usize], d: usize| {
            v.iter()
                .scan(0usize, |s, &n| {
                    *s += n;
                    Some(*s - d)
                })
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (ea, eb) = (ends(&a, 0), ends(&b, 100));
        let shared = ea.intersection(&eb).count();
        assert!(
            shared + 2 >= ea.len(),
            "{shared} of {} cut points survive",
            ea.len()
        );
    }
}
