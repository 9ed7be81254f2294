//! Canary queries: read-only SQL whose result `create` records with the snapshot and every
//! restore and drill evaluates again on the restored database. The values must match: the
//! drill's memory-count baseline, automated.
//!
//! A canary runs only as a single statement that SQLite itself says is read-only
//! (`sqlite3_stmt_readonly`), on a connection with `query_only` set: a query that would write
//! is refused before it runs, and nothing it does can change the database.

use std::path::Path;

use backup_core::Result;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{bad, sql};

/// Rows a canary may return: a canary is a count or a few values, not a table.
pub const MAX_ROWS: usize = 100;

/// A canary query and what it returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    /// The query, as given.
    pub sql: String,
    /// Its rows, each a list of column values as JSON: integers and reals as numbers, text as
    /// strings, NULL as null, a blob as `{"blob_sha256": …}`.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Canary {
    /// The result in one short line, for messages.
    pub fn shown(&self) -> String {
        let mut t = serde_json::to_string(&self.rows).unwrap_or_default();
        if t.len() > 200 {
            let mut cut = 200;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t.truncate(cut);
            t.push('…');
        }
        t
    }
}

fn value(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map_or_else(|| serde_json::Value::String(f.to_string()), Into::into),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => {
            serde_json::json!({ "blob_sha256": format!("{:x}", Sha256::digest(b)) })
        }
    }
}

/// Run `query` on `conn` (the database at `path`) as a canary.
///
/// # Errors
/// A query that is not one read-only statement, one SQLite refuses, or one that returns more
/// than [`MAX_ROWS`] rows: the message names the query.
pub fn run(conn: &Connection, path: &Path, query: &str) -> Result<Canary> {
    sql(
        conn.pragma_update(None, "query_only", true),
        path,
        "make the connection read-only",
    )?;
    let what = |problem: String| bad(path, format!("canary query {query:?}: {problem}"));
    let mut stmt = conn.prepare(query).map_err(|e| what(e.to_string()))?;
    if !stmt.readonly() {
        return Err(what(
            "writes to the database; a canary must be a read-only query".into(),
        ));
    }
    let columns = stmt.column_count();
    let mut rows = Vec::new();
    let mut it = stmt.query([]).map_err(|e| what(e.to_string()))?;
    while let Some(r) = it.next().map_err(|e| what(e.to_string()))? {
        if rows.len() == MAX_ROWS {
            return Err(what(format!(
                "returns more than {MAX_ROWS} rows; a canary is a count or a few values"
            )));
        }
        let mut row = Vec::with_capacity(columns);
        for i in 0..columns {
            row.push(value(r.get_ref(i).map_err(|e| what(e.to_string()))?));
        }
        rows.push(row);
    }
    Ok(Canary {
        sql: query.to_owned(),
        rows,
    })
}
