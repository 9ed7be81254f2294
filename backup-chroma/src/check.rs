//! The offline deep check of a Chroma folder (a snapshot's copy or a restored live folder):
//! SQLite integrity, every vector segment's files against its header, pickle against index,
//! and the id sets SQLite and the vector segment hold. Never opens anything with chromadb.

use std::collections::BTreeSet;
use std::path::Path;

use backup_core::Problem;

use crate::catalog::{self, Catalog};
use crate::hnsw::{self, BIN_FILES, PICKLE};
use crate::query;

/// What the check found.
pub struct Checked {
    /// The catalog, when chroma.sqlite3 could be read.
    pub catalog: Option<Catalog>,
    /// Element count of each collection's index, by collection id.
    pub element_counts: Vec<(String, u64, bool)>,
    /// Everything wrong.
    pub problems: Vec<Problem>,
    /// The query-level proof of each collection's index, when asked for (`deep`) and its
    /// files passed the structural checks.
    pub recalls: Vec<CollectionRecall>,
}

/// One collection's query-level proof.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CollectionRecall {
    /// Collection name.
    pub collection: String,
    /// Collection id.
    pub id: String,
    /// What the searches found.
    #[serde(flatten)]
    pub recall: query::Recall,
    /// Self-recall@1.
    pub self_recall: f64,
    /// Recall@10 of the random queries.
    pub random_recall: f64,
    /// Operations still in Chroma's queue, not yet in the index: not searched, not loss.
    pub pending_queue_rows: i64,
    /// Whether both measures reach their thresholds.
    pub passed: bool,
}

fn sample(ids: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    let more = if ids.len() > 5 { ", ..." } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// Check the Chroma folder `dir`; problem paths start with `prefix` (e.g. `chroma/`). With
/// `deep`, every collection's index is also searched and its recall measured
/// ([`query::measure`]).
pub fn check_store(dir: &Path, prefix: &str, deep: bool) -> Checked {
    let mut out = Checked {
        catalog: None,
        element_counts: Vec::new(),
        problems: Vec::new(),
        recalls: Vec::new(),
    };
    let db_label = format!("{prefix}chroma.sqlite3");
    let db = dir.join("chroma.sqlite3");
    if !db.is_file() {
        out.problems.push(Problem::new(db_label, "is missing"));
        return out;
    }
    let conn = match catalog::open(dir) {
        Ok(c) => c,
        Err(e) => {
            out.problems.push(Problem::new(db_label, e.to_string()));
            return out;
        }
    };
    match backup_sqlite::db::integrity(&conn, &db) {
        Ok(r) if r == "ok" => {}
        Ok(r) => out
            .problems
            .push(Problem::new(&db_label, format!("integrity_check: {r}"))),
        Err(e) => out
            .problems
            .push(Problem::new(&db_label, format!("integrity_check: {e}"))),
    }
    let cat = match Catalog::read(&conn) {
        Ok(c) => c,
        Err(m) => {
            out.problems.push(Problem::new(db_label, m));
            return out;
        }
    };
    for c in &cat.collections {
        let seg_label = format!("{prefix}{}", c.vector_segment);
        let who = format!("collection '{}' ({})", c.name, c.id);
        let mut p = |file: &str, msg: String| {
            let path = if file.is_empty() {
                seg_label.clone()
            } else {
                format!("{seg_label}/{file}")
            };
            out.problems
                .push(Problem::new(path, format!("{who}: {msg}")));
        };
        let sqlite_ids = match catalog::sqlite_ids(&conn, c) {
            Ok(ids) => ids,
            Err(m) => {
                p("", m);
                continue;
            }
        };
        let seg_dir = dir.join(&c.vector_segment);
        if !seg_dir.is_dir() {
            if !sqlite_ids.is_empty() || c.vector_max_seq_id.is_some() {
                p(
                    "",
                    format!(
                        "the vector segment folder is missing while SQLite holds {} records",
                        sqlite_ids.len()
                    ),
                );
            }
            continue;
        }
        let (facts, problems) = hnsw::check_segment(&seg_dir, c.dimension);
        let damaged = !problems.is_empty();
        for (f, m) in problems {
            p(&f, m);
        }
        let cur = facts.header.map(|h| h.cur_element_count).unwrap_or(0);
        out.element_counts
            .push((c.id.clone(), cur, facts.pickle.is_some()));
        if damaged {
            continue;
        }
        if let (true, Some(h)) = (deep, facts.header) {
            match c
                .space
                .as_deref()
                .map_or(Some(query::Space::L2), query::Space::parse)
            {
                None => p(
                    "",
                    format!(
                        "the catalog names distance function {:?}, which hnswlib does not have",
                        c.space.as_deref().unwrap_or_default()
                    ),
                ),
                Some(space) => match query::measure(&seg_dir, h, space, &facts.live_elements) {
                    Ok(r) => {
                        let (sr, rr) = (r.self_recall(), r.random_recall());
                        if !r.passes() {
                            p(
                                "",
                                format!(
                                    "searching the index does not find what it holds: \
                                     self-recall@1 {sr:.3} of {} stored vectors (at least \
                                     {:.2} needed), recall@10 {rr:.3} of {} random queries (at \
                                     least {:.2} needed), ef {} widened to {}",
                                    r.self_queries,
                                    query::MIN_SELF_RECALL,
                                    r.random_queries,
                                    query::MIN_RANDOM_RECALL,
                                    r.ef,
                                    query::WIDER.last().copied().unwrap_or(r.ef)
                                ),
                            );
                        }
                        out.recalls.push(CollectionRecall {
                            collection: c.name.clone(),
                            id: c.id.clone(),
                            passed: r.passes(),
                            recall: r,
                            self_recall: sr,
                            random_recall: rr,
                            pending_queue_rows: c.pending_queue_rows,
                        });
                    }
                    Err((file, m)) => p(file, format!("searching the index: {m}")),
                },
            }
        }
        let mut vector_ids = BTreeSet::new();
        match &facts.pickle {
            Some(map) => {
                let pickled: BTreeSet<u64> = map.keys().copied().collect();
                let unknown = facts.live_labels.difference(&pickled).count();
                if unknown > 0 {
                    p(
                        "data_level0.bin",
                        format!("holds {unknown} vectors whose labels {PICKLE} does not know"),
                    );
                }
                let absent = pickled.difference(&facts.live_labels).count();
                if absent > 0 {
                    p(
                        PICKLE,
                        format!("maps {absent} labels that the index does not hold"),
                    );
                }
                vector_ids.extend(map.values().cloned());
            }
            None if cur > 0 || c.vector_max_seq_id.unwrap_or(0) > 0 => {
                p(
                    PICKLE,
                    format!(
                        "is missing although the index holds {cur} elements (synced up to \
                         queue position {})",
                        c.vector_max_seq_id.unwrap_or(0)
                    ),
                );
                continue;
            }
            None => {}
        }
        if let Err(m) = catalog::replay_queue(&conn, &c.id, c.vector_max_seq_id, &mut vector_ids) {
            p("", m);
            continue;
        }
        let missing: BTreeSet<String> = sqlite_ids.difference(&vector_ids).cloned().collect();
        let phantom: BTreeSet<String> = vector_ids.difference(&sqlite_ids).cloned().collect();
        if !missing.is_empty() {
            p(
                "",
                format!(
                    "{} records have metadata in SQLite but no vector (vectors lost): {}",
                    missing.len(),
                    sample(&missing)
                ),
            );
        }
        if !phantom.is_empty() {
            p(
                "",
                format!(
                    "{} vectors are unknown to SQLite (phantom vectors): {}",
                    phantom.len(),
                    sample(&phantom)
                ),
            );
        }
    }
    out.catalog = Some(cat);
    out
}

/// Files and folders in a Chroma folder that are not part of Chroma's layout, as `/`-paths
/// relative to it.
pub fn orphans(cat: &Catalog, rel_files: &[String]) -> Vec<String> {
    let segments: BTreeSet<&str> = cat
        .collections
        .iter()
        .map(|c| c.vector_segment.as_str())
        .collect();
    let known_in_segment: BTreeSet<&str> = BIN_FILES.iter().copied().chain([PICKLE]).collect();
    let mut out = Vec::new();
    for rel in rel_files {
        let parts: Vec<&str> = rel.split('/').collect();
        let ok = match parts.as_slice() {
            [name] => catalog::is_sqlite_file(name),
            [seg, file] => segments.contains(seg) && known_in_segment.contains(file),
            _ => false,
        };
        if !ok {
            out.push(rel.clone());
        }
    }
    out
}
