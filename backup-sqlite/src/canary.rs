//! Canary queries: read-only SQL whose result `create` records with the snapshot and every
//! restore and drill evaluates again on the restored database. The values must match: the
//! drill's memory-count baseline, automated.
//!
//! A canary runs only as a single statement that SQLite itself says is read-only
//! (`sqlite3_stmt_readonly`), on a read-only connection with `query_only` set and an
//! authorizer that allows reading and nothing else (no `ATTACH`, no pragma): a query that
//! would write is refused before it runs, and nothing it does can change the database. The
//! database may have been shaped by whoever can write the data folder, so a canary is also
//! bounded: [`TIMEOUT`] of running time, strings and blobs of at most [`MAX_VALUE`] bytes,
//! [`MAX_ROWS`] rows; a value longer than [`MAX_SHOWN`] is recorded by its SHA-256.

use std::path::Path;
use std::time::{Duration, Instant};

use backup_core::Result;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{bad, sql};

/// Rows a canary may return: a canary is a count or a few values, not a table.
pub const MAX_ROWS: usize = 100;
/// How long a canary may run, unless `ATOCORE_CANARY_TIMEOUT` (seconds) says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// The variable that sets how long a canary may run, in seconds.
pub const TIMEOUT_ENV: &str = "ATOCORE_CANARY_TIMEOUT";

/// How long a canary may run: [`TIMEOUT_ENV`] when it holds a number of seconds, else
/// [`TIMEOUT`].
pub fn timeout() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(TIMEOUT, Duration::from_secs)
}
/// The longest string or blob a canary's query may make (SQLite's length limit while it runs).
pub const MAX_VALUE: i32 = 1 << 20;
/// Text longer than this is recorded by its SHA-256 and length.
pub const MAX_SHOWN: usize = 1024;

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
        ValueRef::Text(t) if t.len() > MAX_SHOWN => serde_json::json!({
            "text_sha256": format!("{:x}", Sha256::digest(t)),
            "bytes": t.len(),
        }),
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
    sql(
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
            .and_then(|_| conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE)),
        path,
        "limit the connection",
    )?;
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Authorization::Allow,
        _ => Authorization::Deny,
    }));
    let limit = timeout();
    let deadline = Instant::now() + limit;
    conn.progress_handler(
        10_000,
        Some(move || Instant::now() > deadline || backup_core::interrupt::requested().is_some()),
    );
    let result = run_limited(conn, path, query, deadline, limit);
    conn.progress_handler(0, None::<fn() -> bool>);
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    result
}

fn run_limited(
    conn: &Connection,
    path: &Path,
    query: &str,
    deadline: Instant,
    limit: Duration,
) -> Result<Canary> {
    let what = |problem: String| {
        let problem = if Instant::now() > deadline {
            format!("ran longer than {} s and was stopped", limit.as_secs())
        } else {
            problem
        };
        bad(path, format!("canary query {query:?}: {problem}"))
    };
    let mut stmt = conn
        .prepare(query)
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::AuthorizationForStatementDenied) => what(
                "does something other than read (writes, ATTACH, a pragma); a canary must be a \
             read-only query"
                    .into(),
            ),
            _ => what(e.to_string()),
        })?;
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
