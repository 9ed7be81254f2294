//! A file's chunk list as the manifest carries it: chunk serials (numbers the repository
//! gives chunks in the order it first stores them), delta-encoded as zigzag varints,
//! zstd-compressed, base64. Pages first stored together get consecutive serials, so a list
//! for a database of hundreds of MB compresses to bytes, and one for a snapshot where 1% of
//! pages changed to a few KB: far less than 32 bytes of chunk id per page (0.8% of a
//! database per snapshot).

use base64::Engine as _;

use crate::manifest::ChunkList;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Builds a list one serial at a time.
#[derive(Default)]
pub(super) struct Encoder {
    count: u64,
    prev: u64,
    bytes: Vec<u8>,
}

impl Encoder {
    pub(super) fn push(&mut self, serial: u64) {
        let delta = serial.wrapping_sub(self.prev) as i64;
        let mut z = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                self.bytes.push(b);
                break;
            }
            self.bytes.push(b | 0x80);
        }
        self.prev = serial;
        self.count += 1;
    }

    pub(super) fn finish(self) -> ChunkList {
        let packed = zstd::bulk::compress(&self.bytes, 9).unwrap_or_default();
        ChunkList {
            count: self.count,
            serials: B64.encode(packed),
        }
    }
}

/// The serials of a list, decoded one at a time: memory holds the compact form only (a byte
/// or two per chunk), never a word per chunk.
pub(super) struct Serials {
    bytes: Vec<u8>,
    pos: usize,
    prev: u64,
}

impl Iterator for Serials {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let (mut z, mut shift) = (0u64, 0u32);
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            z |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
                self.prev = self.prev.wrapping_add(delta as u64);
                return Some(self.prev);
            }
            shift += 7;
        }
        None
    }
}

/// Open `list`, checked: the text decodes, every varint is whole and short, and it holds
/// exactly `count` serials.
pub(super) fn open(list: &ChunkList) -> Result<Serials, String> {
    let bad = |why: &str| format!("has a chunk list that {why}");
    let packed = B64
        .decode(list.serials.as_bytes())
        .map_err(|_| bad("is not base64"))?;
    // A varint is at most 10 bytes: a bound on what a damaged list can make us allocate.
    let limit = usize::try_from(list.count.saturating_mul(10).max(16)).unwrap_or(usize::MAX);
    let bytes = zstd::bulk::decompress(&packed, limit).map_err(|_| bad("does not decompress"))?;
    let (mut n, mut run) = (0u64, 0u32);
    for &b in &bytes {
        if b & 0x80 == 0 {
            n += 1;
            run = 0;
        } else {
            run += 1;
            if run >= 10 {
                return Err(bad("is malformed"));
            }
        }
    }
    if run != 0 || n != list.count {
        return Err(bad(&format!(
            "holds {n} chunks where it says {}",
            list.count
        )));
    }
    Ok(Serials {
        bytes,
        pos: 0,
        prev: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_list_round_trips(serials in proptest::collection::vec(any::<u64>(), 0..300)) {
            let mut e = Encoder::default();
            for &s in &serials {
                e.push(s);
            }
            prop_assert_eq!(open(&e.finish()).unwrap().collect::<Vec<_>>(), serials);
        }
    }

    #[test]
    fn a_run_of_consecutive_serials_costs_next_to_nothing() {
        let mut e = Encoder::default();
        for s in 1000..1000 + 250_000u64 {
            e.push(if s % 100 == 0 { s + 5_000_000 } else { s });
        }
        let l = e.finish();
        // 250,000 pages (1 GB at 4 KiB) with 1% elsewhere: a few KB, not 8 MB of ids.
        assert!(l.serials.len() < 16_000, "{} bytes", l.serials.len());
        let mut wrong = l.clone();
        wrong.count += 1;
        assert!(open(&wrong).is_err());
    }
}
