//! The HNSW files of one vector segment folder, checked offline and defensively: the header's
//! facts are compared with the file sizes before anything reads further, so a damaged header
//! can never make us read out of bounds (where chromadb itself crashes with SIGSEGV).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::query::Bits;

/// The four files every vector segment folder has once its index was initialised.
pub const BIN_FILES: [&str; 4] = [
    "header.bin",
    "data_level0.bin",
    "length.bin",
    "link_lists.bin",
];
/// Label-to-id maps, written at the first sync.
pub const PICKLE: &str = "index_metadata.pickle";

/// header.bin, little-endian, 100 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    pub version: i32,
    pub offset_level0: u64,
    pub max_elements: u64,
    pub cur_element_count: u64,
    pub size_data_per_element: u64,
    pub label_offset: u64,
    pub offset_data: u64,
    pub maxlevel: i32,
    pub enterpoint: u32,
    pub max_m: u64,
    pub max_m0: u64,
    pub m: u64,
}

impl Header {
    /// Parse the 100 header bytes.
    pub fn parse(b: &[u8]) -> Result<Header, String> {
        if b.len() != 100 {
            return Err(format!("is {} bytes, a header has 100", b.len()));
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
        let i32_at = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        Ok(Header {
            version: i32_at(0),
            offset_level0: u64_at(4),
            max_elements: u64_at(12),
            cur_element_count: u64_at(20),
            size_data_per_element: u64_at(28),
            label_offset: u64_at(36),
            offset_data: u64_at(44),
            maxlevel: i32_at(52),
            enterpoint: i32_at(56) as u32,
            max_m: u64_at(60),
            max_m0: u64_at(68),
            m: u64_at(76),
        })
    }

    /// Vector dimension implied by the layout.
    pub fn dimension(&self) -> u64 {
        self.label_offset.saturating_sub(self.offset_data) / 4
    }
}

/// What the files of one segment hold, once checked.
#[derive(Debug, Default)]
pub struct SegmentFacts {
    pub header: Option<Header>,
    /// Labels of elements not marked deleted.
    pub live_labels: BTreeSet<u64>,
    /// Which elements below cur_element_count are not marked deleted, one bit each (read in
    /// the same pass as the labels; the query-level proof samples and scans these).
    pub live_elements: Bits,
    /// The pickle's ids by label, when a pickle exists and parses.
    pub pickle: Option<BTreeMap<u64, String>>,
}

/// Check one segment folder; problems are sentences about file names inside it.
pub fn check_segment(dir: &Path, dimension: Option<i64>) -> (SegmentFacts, Vec<(String, String)>) {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut facts = SegmentFacts::default();
    let mut p = |f: &str, m: String| problems.push((f.to_owned(), m));
    let size = |f: &str| {
        std::fs::symlink_metadata(dir.join(f))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    };
    for f in BIN_FILES {
        if size(f).is_none() {
            p(f, "is missing".into());
        }
    }
    let header = match read_small(&dir.join("header.bin")) {
        Ok(b) => match Header::parse(&b) {
            Ok(h) => h,
            Err(m) => {
                p("header.bin", m);
                return (facts, problems);
            }
        },
        Err(_) => return (facts, problems),
    };
    // Layout rules, checked before anything is read at offsets the header gives.
    let dim = header.dimension();
    let layout_ok = header.version == 1
        && header.offset_level0 == 0
        && header.max_m0 > 0
        && header.max_m0 < 1 << 16
        && header.offset_data == 4 + 4 * header.max_m0
        && header.label_offset == header.offset_data + 4 * dim
        && header.size_data_per_element == header.label_offset + 8
        && dim > 0
        && dim < 1 << 20
        && header.cur_element_count <= header.max_elements;
    if !layout_ok {
        p(
            "header.bin",
            format!(
                "has an impossible layout (version {}, cur_element_count {}, max_elements {}, \
                 size_data_per_element {}, label_offset {}, offset_data {}, maxM0 {})",
                header.version,
                header.cur_element_count,
                header.max_elements,
                header.size_data_per_element,
                header.label_offset,
                header.offset_data,
                header.max_m0
            ),
        );
        return (facts, problems);
    }
    if let Some(d) = dimension {
        if d != dim as i64 {
            p(
                "header.bin",
                format!("describes {dim}-dimensional vectors, the collection has dimension {d}"),
            );
        }
    }
    let cur = header.cur_element_count;
    if cur > 0 && u64::from(header.enterpoint) >= cur {
        p(
            "header.bin",
            format!(
                "enterpoint {} is not below cur_element_count {cur}",
                header.enterpoint
            ),
        );
    }
    let mut sizes_ok = true;
    if let Some(n) = size("data_level0.bin") {
        let per = header.size_data_per_element;
        if n % per != 0 || n / per < cur {
            sizes_ok = false;
            p(
                "data_level0.bin",
                format!(
                    "is {n} bytes: not whole elements of {per} bytes for at least \
                     cur_element_count {cur} (header.bin)"
                ),
            );
        } else if let Some(l) = size("length.bin") {
            if l != (n / per) * 4 {
                p(
                    "length.bin",
                    format!(
                        "is {l} bytes, expected {} for {} slots",
                        (n / per) * 4,
                        n / per
                    ),
                );
            }
        }
    } else {
        sizes_ok = false;
    }
    if size("link_lists.bin").is_some() {
        if let Err(m) = check_link_lists(&dir.join("link_lists.bin"), cur) {
            p("link_lists.bin", m);
        }
    }
    facts.header = Some(header);
    if sizes_ok {
        match read_labels(&dir.join("data_level0.bin"), &header) {
            Ok((labels, live)) => {
                facts.live_labels = labels;
                facts.live_elements = live;
            }
            Err(m) => p("data_level0.bin", m),
        }
    }
    if size(PICKLE).is_some() {
        match read_pickle(&dir.join(PICKLE)) {
            Ok(map) => {
                if map.len() as u64 > cur {
                    p(
                        PICKLE,
                        format!(
                            "maps {} labels, the index holds only {cur} elements",
                            map.len()
                        ),
                    );
                }
                facts.pickle = Some(map);
            }
            Err(m) => p(PICKLE, m),
        }
    }
    (facts, problems)
}

/// link_lists.bin: for each element below `cur`, a u32 byte count then that many bytes; the
/// file ends exactly there.
fn check_link_lists(path: &Path, cur: u64) -> Result<(), String> {
    let f: File =
        backup_core::fsio::open_regular(path).map_err(|e| format!("cannot be read: {e}"))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::new(f);
    let mut pos = 0u64;
    for i in 0..cur {
        let mut n = [0u8; 4];
        r.read_exact(&mut n)
            .map_err(|_| format!("ends inside the entry of element {i} (at byte {pos})"))?;
        let n = u64::from(u32::from_le_bytes(n));
        pos += 4 + n;
        if pos > total {
            return Err(format!(
                "entry of element {i} runs past the end of the file ({total} bytes)"
            ));
        }
        r.seek_relative(n as i64).map_err(|e| e.to_string())?;
    }
    if pos != total {
        return Err(format!("is {total} bytes, its {cur} entries take {pos}"));
    }
    Ok(())
}

/// Labels of the elements below cur_element_count that are not marked deleted (hnswlib marks
/// deletion in bit 0 of the third byte of an element's level-0 link header), and which
/// elements those are.
fn read_labels(path: &Path, h: &Header) -> Result<(BTreeSet<u64>, Bits), String> {
    let f: File =
        backup_core::fsio::open_regular(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let per = h.size_data_per_element as usize;
    let mut element = vec![0u8; per];
    let mut labels = BTreeSet::new();
    let mut live = Bits::new(h.cur_element_count);
    r.seek(SeekFrom::Start(h.offset_level0))
        .map_err(|e| e.to_string())?;
    for i in 0..h.cur_element_count {
        r.read_exact(&mut element)
            .map_err(|_| format!("ends inside element {i}"))?;
        let deleted = element[2] & 1 == 1;
        let lo = h.label_offset as usize;
        let label = u64::from_le_bytes(element[lo..lo + 8].try_into().unwrap_or([0; 8]));
        if deleted {
            continue;
        }
        if !labels.insert(label) {
            return Err(format!("holds label {label} twice"));
        }
        live.set(i);
    }
    Ok((labels, live))
}

/// The label → id map of index_metadata.pickle (1.x: a plain dict; 0.6.x: a PersistentData
/// object whose state is the same dict).
fn read_pickle(path: &Path) -> Result<BTreeMap<u64, String>, String> {
    use serde_pickle::{HashableValue as K, Value as V};
    let f: File =
        backup_core::fsio::open_regular(path).map_err(|e| format!("cannot be read: {e}"))?;
    let v = serde_pickle::value_from_reader(
        BufReader::new(f),
        serde_pickle::DeOptions::new().replace_unresolved_globals(),
    )
    .map_err(|e| format!("is not a readable pickle ({e})"))?;
    let V::Dict(top) = v else {
        return Err("does not hold a dict".into());
    };
    let get = |k: &str| top.get(&K::String(k.to_owned()));
    let (Some(V::Dict(l2i)), Some(V::Dict(i2l))) = (get("label_to_id"), get("id_to_label")) else {
        return Err("has no label_to_id / id_to_label maps".into());
    };
    let mut map = BTreeMap::new();
    for (k, v) in l2i {
        let (K::I64(label), V::String(id)) = (k, v) else {
            return Err("label_to_id holds something other than int -> str".into());
        };
        map.insert(*label as u64, id.clone());
    }
    if i2l.len() != map.len() {
        return Err(format!(
            "label_to_id has {} entries, id_to_label {}",
            map.len(),
            i2l.len()
        ));
    }
    for (k, v) in i2l {
        let (K::String(id), V::I64(label)) = (k, v) else {
            return Err("id_to_label holds something other than str -> int".into());
        };
        if map.get(&(*label as u64)) != Some(id) {
            return Err(format!("id_to_label and label_to_id disagree about {id:?}"));
        }
    }
    Ok(map)
}

/// The first 4 KiB of a regular file (a header), never following a symlink.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = backup_core::fsio::open_regular(path).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    f.take(4096).read_to_end(&mut out)?;
    Ok(out)
}
