//! Query-level proof of a vector segment: search the stored HNSW graph the way hnswlib does
//! (greedy descent from the entry point through the upper levels, then a beam search at level
//! 0) and compare what it finds with brute force over every stored vector.
//!
//! Structural checks (sizes, header facts, label sets) cannot see a link list damaged in
//! place: the files keep their sizes and every label is still there, yet queries no longer
//! reach the vectors. Recall can. Two measures, per collection:
//! - self-recall@1: a sample of stored vectors, each searched for; it is found when the
//!   search's nearest distance is the brute-force nearest distance (a duplicate vector at the
//!   same distance counts, for spaces where a vector is not its own nearest, inner product);
//! - recall@10 of random queries: midpoints of two stored vectors picked by a fixed
//!   pseudo-random sequence, as the share of the brute-force ten nearest the search returns
//!   (ties at the tenth distance count).
//!
//! Each query is searched with ef [`EF`]; one that misses is searched again with the wider
//! beams in [`WIDER`]. The thresholds apply to the widened results (a vector the links still
//! reach is found; one they no longer lead to is not), and the results at ef [`EF`] are
//! reported beside them.
//!
//! Everything is read with positioned reads of the element asked for, and one streaming pass
//! over `data_level0.bin` for brute force: memory is the sample's queries and their top lists,
//! plus the offsets of elements that have upper levels (about one in M).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::hnsw::Header;

/// The beam width of every search: hnswlib's self-recall on chromadb stores is 1.0 from an
/// ef of 32 up, and twice that leaves a margin on indexes built with a small M.
pub const EF: usize = 64;
/// The highest level an index may claim: hnswlib draws an element's level with probability
/// falling by a factor of M per level, so even a billion elements stay below 10.
pub const MAX_LEVEL: i32 = 64;
/// Read buffer of the streaming passes over `data_level0.bin`: below glibc's mmap threshold,
/// so it is reused from the thread's heap rather than left behind in another arena.
const READ_BUFFER: usize = 64 * 1024;
/// The wider beams a query that missed is searched with again, in turn.
pub const WIDER: &[usize] = &[256, 1024];
/// Stored vectors searched for (fewer when the index holds fewer).
pub const SELF_QUERIES: usize = 100;
/// Random queries.
pub const RANDOM_QUERIES: usize = 10;
/// The k of the random queries' recall.
pub const K: usize = 10;
/// A collection fails below this self-recall@1 (after a miss was searched again with a wider
/// beam): every stored vector must be reachable through the links.
pub const MIN_SELF_RECALL: f64 = 0.99;
/// A collection fails below this recall@10 of random queries (after wider beams). Random
/// queries are hard for HNSW in high dimensions whatever the state of the links: 55,000
/// Gaussian 384-dimensional vectors, intact, give 0.32 at ef 64 (chromadb's own search: 0.40)
/// and 0.78 with the wider beams; cut links give 0.04.
pub const MIN_RANDOM_RECALL: f64 = 0.50;

/// Distance function of a collection (Chroma's `hnsw:space`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Squared Euclidean distance.
    L2,
    /// 1 - dot product.
    Ip,
    /// 1 - dot product of unit vectors (hnswlib normalizes stored vectors when it adds them).
    Cosine,
}

impl Space {
    /// Chroma's name for a space.
    pub fn parse(s: &str) -> Option<Space> {
        match s {
            "l2" => Some(Space::L2),
            "ip" => Some(Space::Ip),
            "cosine" => Some(Space::Cosine),
            _ => None,
        }
    }

    /// Chroma's name.
    pub fn name(self) -> &'static str {
        match self {
            Space::L2 => "l2",
            Space::Ip => "ip",
            Space::Cosine => "cosine",
        }
    }

    fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        // Eight lanes so that the compiler vectorizes the loop.
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        let mut tail = 0f32;
        match self {
            Space::L2 => {
                for (x, y) in ca.zip(cb) {
                    for l in 0..8 {
                        let d = x[l] - y[l];
                        acc[l] += d * d;
                    }
                }
                for (x, y) in ra.iter().zip(rb) {
                    tail += (x - y) * (x - y);
                }
                acc.iter().sum::<f32>() + tail
            }
            Space::Ip | Space::Cosine => {
                for (x, y) in ca.zip(cb) {
                    for l in 0..8 {
                        acc[l] += x[l] * y[l];
                    }
                }
                for (x, y) in ra.iter().zip(rb) {
                    tail += x * y;
                }
                1.0 - (acc.iter().sum::<f32>() + tail)
            }
        }
    }
}

/// What the searches found in one vector segment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recall {
    /// The distance function searched with.
    pub space: &'static str,
    /// Elements in the index (deleted ones included).
    pub elements: u64,
    /// Elements not marked deleted.
    pub live_elements: u64,
    /// The beam width.
    pub ef: usize,
    /// Stored vectors searched for.
    pub self_queries: usize,
    /// Of those, found at ef [`EF`].
    pub self_found_at_ef: usize,
    /// Of those, found at ef [`EF`] or a wider beam.
    pub self_found: usize,
    /// Random queries.
    pub random_queries: usize,
    /// Of their brute-force ten nearest, found by the search at ef [`EF`] (out of
    /// `random_queries` × 10, fewer when the index holds fewer than ten).
    pub random_hits_at_ef: usize,
    /// The same, at ef [`EF`] or a wider beam.
    pub random_hits: usize,
    /// What the hits are out of.
    pub random_expected: usize,
}

impl Recall {
    /// Self-recall@1 (1.0 when nothing was searched).
    pub fn self_recall(&self) -> f64 {
        ratio(self.self_found, self.self_queries)
    }

    /// Recall@10 of the random queries (1.0 when nothing was searched).
    pub fn random_recall(&self) -> f64 {
        ratio(self.random_hits, self.random_expected)
    }

    /// Whether both measures reach their thresholds.
    pub fn passes(&self) -> bool {
        self.self_recall() >= MIN_SELF_RECALL && self.random_recall() >= MIN_RANDOM_RECALL
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        n as f64 / d as f64
    }
}

/// A failure to search: the file concerned and what is wrong with it.
pub type Failure = (&'static str, String);

/// A distance and an element, ordered by distance (then id, for a total order).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near(f32, u32);

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// The graph of one segment, read on demand.
struct Graph {
    h: Header,
    space: Space,
    level0: File,
    links: File,
    /// Offset in link_lists.bin of each element's upper levels, and how many it has.
    upper: HashMap<u32, (u64, u32)>,
    /// Bytes of one upper-level link list (count word plus maxM ids).
    per_upper: u64,
    /// Scratch for one element's bytes.
    buf: Vec<u8>,
    deleted_any: bool,
}

impl Graph {
    fn open(dir: &Path, h: Header, space: Space) -> Result<Graph, Failure> {
        let open = |name: &'static str| {
            backup_core::fsio::open_regular(&dir.join(name))
                .map_err(|e| (name, format!("cannot be read: {e}")))
        };
        // Header facts the search relies on, checked before anything is computed from them
        // (the structural checks have already bounded maxM0, the sizes and the entry point).
        if h.max_m == 0 || h.max_m > h.max_m0 {
            return Err((
                "header.bin",
                format!("maxM {} is not between 1 and maxM0 {}", h.max_m, h.max_m0),
            ));
        }
        if !(0..=MAX_LEVEL).contains(&h.maxlevel) {
            return Err((
                "header.bin",
                format!(
                    "maxlevel {} is not between 0 and {MAX_LEVEL} (hnswlib's levels fall \
                     off exponentially; no real index comes near)",
                    h.maxlevel
                ),
            ));
        }
        let level0 = open("data_level0.bin")?;
        let links = open("link_lists.bin")?;
        let per_upper = 4 + 4 * h.max_m;
        // One pass over the link lists: where each element's upper levels are.
        let mut upper = HashMap::new();
        let mut r = BufReader::with_capacity(1 << 16, &links);
        let mut pos = 0u64;
        let max_levels = h.maxlevel as u64;
        for i in 0..h.cur_element_count {
            let mut n = [0u8; 4];
            r.read_exact(&mut n)
                .map_err(|e| ("link_lists.bin", format!("cannot be read: {e}")))?;
            let n = u64::from(u32::from_le_bytes(n));
            pos += 4;
            if n % per_upper != 0 {
                return Err((
                    "link_lists.bin",
                    format!("element {i}'s entry has {n} bytes, not whole levels of {per_upper}"),
                ));
            }
            let levels = n / per_upper;
            if levels > max_levels {
                return Err((
                    "link_lists.bin",
                    format!(
                        "element {i} has {levels} upper levels, the header's maxlevel is \
                         {max_levels}"
                    ),
                ));
            }
            if n > 0 {
                upper.insert(i as u32, (pos, levels as u32));
            }
            r.seek_relative(n as i64)
                .map_err(|e| ("link_lists.bin", format!("cannot be read: {e}")))?;
            pos += n;
        }
        if h.cur_element_count > 0 && max_levels > 0 {
            let ep_levels = upper.get(&h.enterpoint).map_or(0, |&(_, l)| u64::from(l));
            if ep_levels != max_levels {
                return Err((
                    "link_lists.bin",
                    format!(
                        "the entry point, element {}, has {ep_levels} upper levels, the \
                         header's maxlevel is {max_levels}",
                        h.enterpoint
                    ),
                ));
            }
        }
        Ok(Graph {
            buf: vec![0u8; h.size_data_per_element as usize],
            h,
            space,
            level0,
            links,
            upper,
            per_upper,
            deleted_any: false,
        })
    }

    fn dim(&self) -> usize {
        self.h.dimension() as usize
    }

    /// Read element `i` into the scratch buffer.
    fn load(&mut self, i: u32) -> Result<(), Failure> {
        let off = self.h.offset_level0 + u64::from(i) * self.h.size_data_per_element;
        self.level0.read_exact_at(&mut self.buf, off).map_err(|e| {
            (
                "data_level0.bin",
                format!("element {i} cannot be read: {e}"),
            )
        })
    }

    fn vector_of(buf: &[u8], h: &Header, out: &mut Vec<f32>) {
        out.clear();
        let from = h.offset_data as usize;
        let to = h.label_offset as usize;
        out.extend(
            buf[from..to]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }

    fn deleted(buf: &[u8]) -> bool {
        buf[2] & 1 == 1
    }

    /// Distance from `q` to element `i`, and whether it is deleted.
    fn visit(&mut self, q: &[f32], i: u32, v: &mut Vec<f32>) -> Result<(f32, bool), Failure> {
        self.load(i)?;
        Self::vector_of(&self.buf, &self.h, v);
        Ok((self.space.distance(q, v), Self::deleted(&self.buf)))
    }

    /// Element `i`'s level-0 neighbours.
    fn neighbours(&mut self, i: u32, neighbours: &mut Vec<u32>) -> Result<(), Failure> {
        self.load(i)?;
        let count = u64::from(u16::from_le_bytes([self.buf[0], self.buf[1]]));
        if count > self.h.max_m0 {
            return Err((
                "data_level0.bin",
                format!(
                    "element {i}'s level-0 link list says {count} links, at most maxM0 {} fit",
                    self.h.max_m0
                ),
            ));
        }
        neighbours.clear();
        for k in 0..count as usize {
            let o = 4 + 4 * k;
            let n = u32::from_le_bytes([
                self.buf[o],
                self.buf[o + 1],
                self.buf[o + 2],
                self.buf[o + 3],
            ]);
            self.check_id(n, i, 0)?;
            neighbours.push(n);
        }
        Ok(())
    }

    fn check_id(&self, n: u32, from: u32, level: u32) -> Result<(), Failure> {
        if u64::from(n) >= self.h.cur_element_count {
            let file = if level == 0 {
                "data_level0.bin"
            } else {
                "link_lists.bin"
            };
            return Err((
                file,
                format!(
                    "element {from}'s level-{level} link list names element {n}, beyond the \
                     index's {} elements",
                    self.h.cur_element_count
                ),
            ));
        }
        Ok(())
    }

    /// Element `i`'s links at upper `level` (1 and up).
    fn upper_links(&self, i: u32, level: u32, out: &mut Vec<u32>) -> Result<(), Failure> {
        out.clear();
        let Some(&(off, levels)) = self.upper.get(&i) else {
            return Err((
                "link_lists.bin",
                format!("element {i} is reached at level {level} but has no upper levels"),
            ));
        };
        if level > levels {
            return Err((
                "link_lists.bin",
                format!("element {i} is reached at level {level} but has only {levels}"),
            ));
        }
        let mut list = vec![0u8; self.per_upper as usize];
        self.links
            .read_exact_at(&mut list, off + u64::from(level - 1) * self.per_upper)
            .map_err(|e| ("link_lists.bin", format!("cannot be read: {e}")))?;
        let count = u64::from(u16::from_le_bytes([list[0], list[1]]));
        if count > self.h.max_m {
            return Err((
                "link_lists.bin",
                format!(
                    "element {i}'s level-{level} link list says {count} links, at most maxM {} \
                     fit",
                    self.h.max_m
                ),
            ));
        }
        for k in 0..count as usize {
            let o = 4 + 4 * k;
            let n = u32::from_le_bytes([list[o], list[o + 1], list[o + 2], list[o + 3]]);
            self.check_id(n, i, level)?;
            out.push(n);
        }
        Ok(())
    }

    /// The `k` nearest elements to `q` (not deleted), nearest first, as hnswlib's searchKnn
    /// finds them with beam width `ef`.
    fn search(&mut self, q: &[f32], k: usize, ef: usize) -> Result<Vec<Near>, Failure> {
        let ef = ef.max(k);
        let mut v = Vec::with_capacity(self.dim());
        let mut nb = Vec::new();
        let mut cur = self.h.enterpoint;
        // Greedy descent (Graph::open bounded maxlevel to 0..=MAX_LEVEL).
        let (mut cur_d, _) = self.visit(q, cur, &mut v)?;
        for level in (1..=self.h.maxlevel as u32).rev() {
            let mut changed = true;
            while changed {
                changed = false;
                self.upper_links(cur, level, &mut nb)?;
                for n in std::mem::take(&mut nb) {
                    let (d, _) = self.visit(q, n, &mut v)?;
                    if d < cur_d {
                        cur_d = d;
                        cur = n;
                        changed = true;
                    }
                }
            }
        }
        // Beam search at level 0.
        let mut visited = HashSet::new();
        let mut top: BinaryHeap<Near> = BinaryHeap::new();
        let mut candidates: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::new();
        let (d0, del0) = self.visit(q, cur, &mut v)?;
        let mut lower = f32::INFINITY;
        if !del0 {
            top.push(Near(d0, cur));
            lower = d0;
        }
        candidates.push(std::cmp::Reverse(Near(d0, cur)));
        visited.insert(cur);
        while let Some(std::cmp::Reverse(c)) = candidates.pop() {
            if c.0 > lower && (top.len() >= ef || !self.deleted_any) {
                break;
            }
            if backup_core::interrupt::requested().is_some() {
                return Err(("data_level0.bin", "the search was interrupted".into()));
            }
            self.neighbours(c.1, &mut nb)?;
            let around = std::mem::take(&mut nb);
            for &n in &around {
                if !visited.insert(n) {
                    continue;
                }
                let (d, del) = self.visit(q, n, &mut v)?;
                if top.len() < ef || d < lower {
                    candidates.push(std::cmp::Reverse(Near(d, n)));
                    if !del {
                        top.push(Near(d, n));
                    }
                    if top.len() > ef {
                        top.pop();
                    }
                    if let Some(t) = top.peek() {
                        lower = t.0;
                    }
                }
            }
            nb = around;
        }
        let mut found = top.into_sorted_vec();
        found.truncate(k);
        Ok(found)
    }
}

/// One bit per element of an index (which are live).
#[derive(Debug, Default, Clone)]
pub struct Bits(Vec<u64>, u64);

impl Bits {
    /// `n` bits, none set.
    pub fn new(n: u64) -> Bits {
        Bits(vec![0; usize::try_from(n.div_ceil(64)).unwrap_or(0)], n)
    }

    /// Set bit `i` (below the length).
    pub fn set(&mut self, i: u64) {
        self.0[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// Bit `i`; false beyond the length.
    pub fn get(&self, i: u64) -> bool {
        i < self.1 && self.0[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// How many bits there are.
    pub fn len(&self) -> u64 {
        self.1
    }

    /// Whether there are no bits at all.
    pub fn is_empty(&self) -> bool {
        self.1 == 0
    }

    /// How many are set.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The first set bit at or after `from`, wrapping around, a word at a time; `from` when
    /// none is set.
    fn next_set(&self, from: u64) -> u64 {
        let n = self.1;
        if n == 0 {
            return from;
        }
        let mut i = from % n;
        let mut scanned = 0;
        while scanned <= n + 64 {
            let w = self.0[(i / 64) as usize] >> (i % 64);
            if w != 0 {
                // Bits at or beyond n are never set.
                return i + u64::from(w.trailing_zeros());
            }
            let step = 64 - i % 64;
            scanned += step;
            i = if i + step >= n { 0 } else { i + step };
        }
        from
    }
}

/// A small deterministic pseudo-random sequence (splitmix64): the same store gets the same
/// random queries every time.
struct Seq(u64);

impl Seq {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Search the segment in `dir` (whose files have passed the structural checks against
/// header `h`, which also read which elements are `live`) and measure recall against brute
/// force.
///
/// # Errors
/// A file that cannot be read, or a link that leads outside the index (hnswlib itself would
/// read out of bounds there), as the file's name and a sentence.
pub fn measure(dir: &Path, h: Header, space: Space, live: &Bits) -> Result<Recall, Failure> {
    let cur = h.cur_element_count;
    let mut out = Recall {
        space: space.name(),
        elements: cur,
        live_elements: 0,
        ef: EF,
        self_queries: 0,
        self_found_at_ef: 0,
        self_found: 0,
        random_queries: 0,
        random_hits_at_ef: 0,
        random_hits: 0,
        random_expected: 0,
    };
    if cur == 0 {
        // Nothing was added yet (hnswlib's maxlevel is -1 then): nothing to search.
        return Ok(out);
    }
    if live.len() != cur {
        return Err((
            "data_level0.bin",
            format!(
                "the live elements were read for {} elements, not {cur}",
                live.len()
            ),
        ));
    }
    let mut g = Graph::open(dir, h, space)?;
    let dim = g.dim();
    let live_count = live.count();
    out.live_elements = live_count;
    g.deleted_any = live_count != cur;
    if live_count == 0 {
        return Ok(out);
    }
    let live_n = usize::try_from(live_count).unwrap_or(usize::MAX);
    let n_self = SELF_QUERIES.min(live_n);
    let mut queries: Vec<Vec<f32>> = Vec::new();
    let mut v = Vec::with_capacity(dim);
    // Evenly spaced over the index, each moved forward to the next live element (distinct
    // while there are at least as many live elements as samples).
    let mut taken = std::collections::HashSet::new();
    for j in 0..n_self as u64 {
        let mut i = live.next_set(j * cur / n_self as u64);
        while !taken.insert(i) {
            i = live.next_set((i + 1) % cur);
        }
        g.load(i as u32)?;
        Graph::vector_of(&g.buf, &h, &mut v);
        queries.push(v.clone());
    }
    let n_random = if live_count >= 2 { RANDOM_QUERIES } else { 0 };
    let mut seq = Seq(0x5EED ^ cur);
    let mut w = Vec::with_capacity(dim);
    for _ in 0..n_random {
        let a = live.next_set(seq.below(cur)) as u32;
        let b = live.next_set(seq.below(cur)) as u32;
        g.load(a)?;
        Graph::vector_of(&g.buf, &h, &mut v);
        g.load(b)?;
        Graph::vector_of(&g.buf, &h, &mut w);
        let mut q: Vec<f32> = v.iter().zip(&w).map(|(x, y)| (x + y) / 2.0).collect();
        if space == Space::Cosine {
            let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                q.iter_mut().for_each(|x| *x /= norm);
            }
        }
        queries.push(q);
    }
    // Pass 2: brute force, every query against every live vector in one read of the file.
    let k_random = K.min(live_n);
    let mut best: Vec<BinaryHeap<Near>> = vec![BinaryHeap::new(); queries.len()];
    {
        let f = backup_core::fsio::open_regular(&dir.join("data_level0.bin"))
            .map_err(|e| ("data_level0.bin", format!("cannot be read: {e}")))?;
        let mut r = BufReader::with_capacity(READ_BUFFER, f);
        let mut el = vec![0u8; h.size_data_per_element as usize];
        for i in 0..cur as u32 {
            r.read_exact(&mut el)
                .map_err(|_| ("data_level0.bin", format!("ends inside element {i}")))?;
            if !live.get(u64::from(i)) {
                continue;
            }
            Graph::vector_of(&el, &h, &mut v);
            for (qi, q) in queries.iter().enumerate() {
                let k = if qi < n_self { 1 } else { k_random };
                let d = space.distance(q, &v);
                let heap = &mut best[qi];
                if heap.len() < k {
                    heap.push(Near(d, i));
                } else if heap.peek().is_some_and(|t| d < t.0) {
                    heap.pop();
                    heap.push(Near(d, i));
                }
            }
        }
    }
    // The graph's answers: at ef 64 first, and a query that misses is searched again with a
    // wider beam (a reachable vector is then found; one the links no longer lead to is not).
    for (qi, q) in queries.iter().enumerate() {
        let self_query = qi < n_self;
        let k = if self_query { 1 } else { k_random };
        // The worst brute-force distance among the k nearest: anything the search returns at
        // or within it is a true neighbour (ties included).
        let bound = best[qi].peek().map_or(f32::INFINITY, |t| t.0);
        let mut hits_at = |ef: usize| -> Result<usize, Failure> {
            let found = g.search(q, k, ef)?;
            Ok(found.iter().filter(|n| n.0 <= bound).count().min(k))
        };
        let first = hits_at(EF)?;
        let mut hits = first;
        for &ef in WIDER {
            if hits == k {
                break;
            }
            hits = hits.max(hits_at(ef)?);
        }
        if self_query {
            out.self_queries += 1;
            out.self_found_at_ef += usize::from(first == 1);
            out.self_found += usize::from(hits == 1);
        } else {
            out.random_queries += 1;
            out.random_hits_at_ef += first;
            out.random_hits += hits;
            out.random_expected += k;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_their_definitions() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        let ip: f32 = 1.0 - a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>();
        assert!((Space::L2.distance(&a, &b) - l2).abs() < 1e-3);
        assert!((Space::Ip.distance(&a, &b) - ip).abs() < 1e-3);
        assert_eq!(Space::L2.distance(&a, &a), 0.0);
    }

    #[test]
    fn next_set_finds_the_next_live_element_and_wraps() {
        let mut b = Bits::new(200);
        for i in [3u64, 64, 130, 199] {
            b.set(i);
        }
        assert_eq!(b.next_set(0), 3);
        assert_eq!(b.next_set(4), 64);
        assert_eq!(b.next_set(65), 130);
        assert_eq!(b.next_set(131), 199);
        assert_eq!(b.next_set(199), 199);
        let mut c = Bits::new(200);
        c.set(3);
        assert_eq!(c.next_set(150), 3, "wraps around");
        assert!(!c.get(4) && c.get(3));
    }

    #[test]
    fn the_sequence_is_fixed() {
        let mut a = Seq(1);
        let mut b = Seq(1);
        let x: Vec<u64> = (0..5).map(|_| a.below(100)).collect();
        let y: Vec<u64> = (0..5).map(|_| b.below(100)).collect();
        assert_eq!(x, y);
        assert!(x.iter().any(|&v| v != x[0]));
    }
}
