//! What `chroma.sqlite3` says about a store: collections, their segments, how far each
//! segment has consumed the embeddings queue, and the id sets the cross-check compares.
//! Works with the 1.x schema (seq_id INTEGER) and the 0.6.x one (8-byte big-endian BLOB).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};

/// Queue operation codes (Chroma's Operation enum).
const OP_ADD: i64 = 0;
const OP_UPSERT: i64 = 2;
const OP_DELETE: i64 = 3;

/// One collection and its two segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    /// Collection id (a UUID).
    pub id: String,
    /// Collection name.
    pub name: String,
    /// Vector dimension, once known.
    pub dimension: Option<i64>,
    /// The VECTOR segment's id, which is also its folder name.
    pub vector_segment: String,
    /// The METADATA segment's id.
    pub metadata_segment: Option<String>,
    /// Queue position the vector segment has consumed (None: nothing yet).
    pub vector_max_seq_id: Option<i64>,
    /// Queue position the metadata segment has consumed.
    pub metadata_max_seq_id: Option<i64>,
    /// Queue rows newer than the vector segment's position (not in the HNSW files yet).
    pub pending_queue_rows: i64,
    /// The distance function (`hnsw:space`) as the catalog names it; `None`: Chroma's
    /// default, `l2`.
    pub space: Option<String>,
}

/// The catalog of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// Collections, by name order.
    pub collections: Vec<Collection>,
    /// Highest migration version per migration folder (`sysdb`, `metadb`, `embeddings_queue`).
    pub migrations: BTreeMap<String, i64>,
    /// `integer` (1.x) or `blob` (0.6.x) encoding of `max_seq_id.seq_id`.
    pub seq_id_encoding: String,
}

/// Read failures of the catalog, as text: the caller adds the path.
pub type CatalogResult<T> = std::result::Result<T, String>;

fn e(what: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |err| format!("cannot read {what}: {err}")
}

/// A seq_id as stored: INTEGER, or 8 big-endian bytes.
fn seq_id(v: ValueRef<'_>) -> CatalogResult<i64> {
    match v {
        ValueRef::Integer(i) => Ok(i),
        ValueRef::Blob(b) if b.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(i64::from_be_bytes(a))
        }
        other => Err(format!("unexpected seq_id value {other:?}")),
    }
}

fn topic_like(collection: &str) -> String {
    format!("%/{collection}")
}

impl Catalog {
    /// Read the catalog from an open `chroma.sqlite3`.
    pub fn read(conn: &Connection) -> CatalogResult<Catalog> {
        let mut max_seq: BTreeMap<String, i64> = BTreeMap::new();
        let mut encodings = BTreeSet::new();
        {
            let mut stmt = conn
                .prepare("SELECT segment_id, seq_id FROM max_seq_id")
                .map_err(e("max_seq_id"))?;
            let mut rows = stmt.query([]).map_err(e("max_seq_id"))?;
            while let Some(r) = rows.next().map_err(e("max_seq_id"))? {
                let seg: String = r.get(0).map_err(e("max_seq_id"))?;
                let v = r.get_ref(1).map_err(e("max_seq_id"))?;
                encodings.insert(match v {
                    ValueRef::Blob(_) => "blob",
                    _ => "integer",
                });
                max_seq.insert(seg, seq_id(v)?);
            }
        }
        let mut collections = Vec::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT c.id, c.name, c.dimension, v.id,
                            (SELECT m.id FROM segments m WHERE m.collection = c.id AND m.scope = 'METADATA')
                     FROM collections c JOIN segments v ON v.collection = c.id AND v.scope = 'VECTOR'
                     ORDER BY c.name, c.id",
                )
                .map_err(e("collections"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .map_err(e("collections"))?;
            for row in rows {
                let (id, name, dimension, vector_segment, metadata_segment) =
                    row.map_err(e("collections"))?;
                let vector_max_seq_id = max_seq.get(&vector_segment).copied();
                let metadata_max_seq_id = metadata_segment
                    .as_ref()
                    .and_then(|m| max_seq.get(m).copied());
                let pending_queue_rows = conn
                    .query_row(
                        "SELECT count(*) FROM embeddings_queue WHERE topic LIKE ?1 AND seq_id > ?2",
                        (topic_like(&id), vector_max_seq_id.unwrap_or(0)),
                        |r| r.get(0),
                    )
                    .map_err(e("embeddings_queue"))?;
                let space = space_of(conn, &id)?;
                collections.push(Collection {
                    space,
                    id,
                    name,
                    dimension,
                    vector_segment,
                    metadata_segment,
                    vector_max_seq_id,
                    metadata_max_seq_id,
                    pending_queue_rows,
                });
            }
        }
        let mut migrations = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT dir, max(version) FROM migrations GROUP BY dir")
                .map_err(e("migrations"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(e("migrations"))?;
            for row in rows {
                let (d, v) = row.map_err(e("migrations"))?;
                migrations.insert(d, v);
            }
        }
        let seq_id_encoding = match encodings.len() {
            0 => "unknown",
            1 => encodings.into_iter().next().unwrap_or("unknown"),
            _ => "mixed",
        }
        .to_owned();
        Ok(Catalog {
            collections,
            migrations,
            seq_id_encoding,
        })
    }

    /// Vector positions by segment id, the facts change detection compares.
    pub fn vector_positions(&self) -> BTreeMap<String, Option<i64>> {
        self.collections
            .iter()
            .map(|c| (c.vector_segment.clone(), c.vector_max_seq_id))
            .collect()
    }
}

/// Where Chroma keeps a collection's distance function: the `hnsw:space` metadata key (0.6.x,
/// and 1.x when given that way), the 0.6.x configuration (`hnsw_configuration.space`), the
/// 1.x schema (`space` inside the vector index's configuration). First found wins.
fn space_of(conn: &Connection, collection: &str) -> CatalogResult<Option<String>> {
    let meta: Option<String> = conn
        .query_row(
            "SELECT str_value FROM collection_metadata WHERE collection_id = ?1 AND key = 'hnsw:space'",
            [collection],
            |r| r.get(0),
        )
        .optional()
        .map_err(e("collection_metadata"))?
        .flatten();
    if meta.is_some() {
        return Ok(meta);
    }
    for column in ["config_json_str", "schema_str"] {
        let sql = format!("SELECT {column} FROM collections WHERE id = ?1");
        // A column the schema does not have (0.6.x has no schema_str) is not an error.
        let Ok(text) = conn.query_row(&sql, [collection], |r| r.get::<_, Option<String>>(0)) else {
            continue;
        };
        let Some(json) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        else {
            continue;
        };
        if let Some(s) = find_space(&json) {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// The first string under a key `space` in a JSON tree, depth first.
fn find_space(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(s)) = m.get("space") {
                return Some(s.clone());
            }
            m.values().find_map(find_space)
        }
        serde_json::Value::Array(a) => a.iter().find_map(find_space),
        _ => None,
    }
}

/// Apply the queue's operations newer than `after` for `collection` to an id set.
pub fn replay_queue(
    conn: &Connection,
    collection: &str,
    after: Option<i64>,
    ids: &mut BTreeSet<String>,
) -> CatalogResult<()> {
    let mut stmt = conn
        .prepare(
            "SELECT operation, id FROM embeddings_queue
             WHERE topic LIKE ?1 AND seq_id > ?2 ORDER BY seq_id",
        )
        .map_err(e("embeddings_queue"))?;
    let rows = stmt
        .query_map((topic_like(collection), after.unwrap_or(0)), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(e("embeddings_queue"))?;
    for row in rows {
        let (op, id) = row.map_err(e("embeddings_queue"))?;
        match op {
            OP_ADD | OP_UPSERT => {
                ids.insert(id);
            }
            OP_DELETE => {
                ids.remove(&id);
            }
            _ => {} // UPDATE never changes which ids exist.
        }
    }
    Ok(())
}

/// The ids SQLite says a collection holds: its metadata segment's rows plus newer queue ops.
pub fn sqlite_ids(conn: &Connection, c: &Collection) -> CatalogResult<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    if let Some(seg) = &c.metadata_segment {
        let mut stmt = conn
            .prepare("SELECT embedding_id FROM embeddings WHERE segment_id = ?1")
            .map_err(e("embeddings"))?;
        let rows = stmt
            .query_map([seg], |r| r.get::<_, String>(0))
            .map_err(e("embeddings"))?;
        for r in rows {
            ids.insert(r.map_err(e("embeddings"))?);
        }
    }
    replay_queue(conn, &c.id, c.metadata_max_seq_id, &mut ids)?;
    Ok(ids)
}

/// Whether a path names a file of the SQLite database itself.
pub fn is_sqlite_file(name: &str) -> bool {
    name == "chroma.sqlite3" || name.starts_with("chroma.sqlite3-")
}

/// Open `chroma.sqlite3` in `dir` without writing anything beside it.
pub fn open(dir: &Path) -> backup_core::Result<Connection> {
    backup_sqlite::db::open_immutable(&dir.join("chroma.sqlite3"))
}
