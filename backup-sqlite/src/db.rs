//! SQLite building blocks shared with other components that hold a SQLite file (Chroma's
//! `chroma.sqlite3`): opening without side effects, one-step online backup, integrity check.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use backup_core::{fsio, Error, Result};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::{sql, SqliteError};

/// How long a backup step may keep meeting a busy source before the snapshot fails.
const BUSY_RETRIES: u32 = 600;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// Copy the database behind `src` (at `live`) into a new file `dest` with the online backup
/// API: every page in one step, so a writer in another process cannot restart it and the copy
/// is one committed point in time. Returns the open destination connection.
///
/// # Errors
/// SQLite errors naming the file; [`SqliteError::Busy`] when the source stayed locked.
pub fn backup_to(src: &Connection, live: &Path, dest: &Path) -> Result<Connection> {
    let mut dst = sql(Connection::open(dest), dest, "create the snapshot file")?;
    // The copy is invisible until the whole snapshot is renamed into place, and fsynced by
    // core before that: a journal or syncs of its own would only slow it down.
    sql(
        dst.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"),
        dest,
        "prepare the snapshot file",
    )?;
    {
        let backup = sql(Backup::new(src, &mut dst), live, "start the backup")?;
        let mut busy = 0;
        // One step of all pages: a write by another connection between steps would
        // restart a stepwise backup, possibly forever, under a busy writer.
        loop {
            let step = backup.step(-1).map_err(|cause| SqliteError::Sql {
                path: dest.to_path_buf(),
                what: "write the copy of the database here",
                cause,
            });
            match step? {
                StepResult::Done => break,
                StepResult::More => {}
                _ => {
                    busy += 1;
                    if busy > BUSY_RETRIES {
                        return Err(SqliteError::Busy {
                            path: live.to_path_buf(),
                            seconds: u64::from(BUSY_RETRIES) * BUSY_PAUSE.as_millis() as u64 / 1000,
                        }
                        .into());
                    }
                    sleep(BUSY_PAUSE);
                }
            }
        }
    }
    Ok(dst)
}

/// Make closing `conn` leave the `-wal` alone: no checkpoint into the file, no deletion.
/// For a copy that is being refused (a damaged file): the last connection to close would
/// otherwise checkpoint the `-wal` into the damaged file and delete it, so the refusal would
/// still have changed the live store.
pub fn keep_wal_on_close(conn: &Connection, path: &Path) -> Result<()> {
    sql(
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        ),
        path,
        "turn off checkpoint-on-close",
    )
    .map(|_| ())
}

/// Open an existing database for reading and writing, never creating one. It must be a
/// regular file (checked first, so a FIFO cannot make the open hang); its folder is resolved
/// as the operator named it and SQLite is told to refuse any symlink on the way
/// (`SQLITE_OPEN_NOFOLLOW`), so a name swapped for a link during the run is not followed.
pub fn open_existing(path: &Path) -> Result<Connection> {
    open_existing_under(&fsio::real_parent(path)?, path)
}

/// [`open_existing`] for a database below a live folder store (`store`, whose own name must
/// not be followed either), at `rel` inside it.
pub fn open_existing_below(store: &Path, rel: &str) -> Result<Connection> {
    let shown = store.join(rel);
    open_existing_under(&fsio::real_parent(store)?.join(rel), &shown)
}

fn open_existing_under(real: &Path, shown: &Path) -> Result<Connection> {
    drop(fsio::open_regular(real)?);
    // SQLite would only say "unable to open database file" for a link or a FIFO at a sidecar
    // name (it never follows one): name it instead.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = real.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        if fsio::kind_of(&side)?.is_some_and(|t| t != fsio::FileType::RegularFile) {
            fsio::plain_kind(&side)?;
            return Err(Error::NotRegular {
                path: side,
                what: "a folder",
                expected: "SQLite's regular sidecar file",
            });
        }
    }
    let conn = sql(
        Connection::open_with_flags(
            real,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        ),
        shown,
        "open the database",
    )?;
    let path = shown;
    sql(
        conn.busy_timeout(Duration::from_secs(30)),
        path,
        "set a busy timeout",
    )?;
    Ok(conn)
}

/// Open a live database read-only (no symlink followed): what a check of it before a restore
/// needs, and nothing it does can change the file.
///
/// # Errors
/// [`Error::Component`] when SQLite cannot open it.
pub fn open_read_only(path: &Path) -> Result<Connection> {
    drop(fsio::open_regular(path)?);
    sql(
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        ),
        path,
        "open the live database read-only",
    )
}

/// Open a snapshot file so that nothing is ever written beside it: read-only and immutable
/// (no locks, no journal, no `-wal`/`-shm`), a regular file, no symlink followed.
pub fn open_immutable(path: &Path) -> Result<Connection> {
    drop(fsio::open_regular(path)?);
    let real = fsio::real_parent(path)?;
    let mut uri = String::from("file:");
    for &b in real.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    sql(
        Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        ),
        path,
        "open the snapshot read-only",
    )
}

/// `PRAGMA integrity_check`, all rows joined; `"ok"` when healthy.
pub fn integrity(conn: &Connection, path: &Path) -> Result<String> {
    let mut stmt = sql(
        conn.prepare("PRAGMA integrity_check"),
        path,
        "check integrity",
    )?;
    let rows = sql(
        stmt.query_map([], |r| r.get::<_, String>(0)),
        path,
        "check integrity",
    )?;
    let mut lines = Vec::new();
    for r in rows {
        lines.push(sql(r, path, "check integrity")?);
    }
    Ok(lines.join("; "))
}

pub fn pragma_i64(conn: &Connection, path: &Path, name: &str) -> Result<i64> {
    sql(
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)),
        path,
        "read database facts",
    )
}

/// The cheap facts worth recording: page size and count, free pages, user and schema version.
/// Every field is optional when read back (a manifest of another version may lack one).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DbStats {
    /// `PRAGMA page_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    /// `PRAGMA page_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i64>,
    /// `PRAGMA freelist_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freelist_count: Option<i64>,
    /// `PRAGMA user_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_version: Option<i64>,
    /// `PRAGMA schema_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
}

impl DbStats {
    /// Read them from `conn`.
    ///
    /// # Errors
    /// [`Error::Component`] when SQLite refuses.
    pub fn read(conn: &Connection, path: &Path) -> Result<DbStats> {
        let get = |name: &str| pragma_i64(conn, path, name).map(Some);
        Ok(DbStats {
            page_size: get("page_size")?,
            page_count: get("page_count")?,
            freelist_count: get("freelist_count")?,
            user_version: get("user_version")?,
            schema_version: get("schema_version")?,
        })
    }

    /// The facts a restored or stored copy must match: page size, page count, user version.
    pub fn must_match(&self) -> [(&'static str, Option<i64>); 3] {
        [
            ("page_size", self.page_size),
            ("page_count", self.page_count),
            ("user_version", self.user_version),
        ]
    }
}

pub fn journal_mode(conn: &Connection, path: &Path, set: Option<&str>) -> Result<String> {
    let q = match set {
        Some(m) => format!("PRAGMA journal_mode={m}"),
        None => "PRAGMA journal_mode".to_owned(),
    };
    sql(
        conn.query_row(&q, [], |r| r.get::<_, String>(0)),
        path,
        "set the journal mode",
    )
    .map(|m| m.to_ascii_lowercase())
}

/// The first 100 bytes of a database file (a regular file, its name not followed).
pub fn header(path: &Path) -> Result<[u8; 100]> {
    let mut h = [0u8; 100];
    fsio::open_regular(path)?
        .read_exact(&mut h)
        .map_err(|e| Error::io("read the header of", path, e))?;
    Ok(h)
}

/// The first bytes of every SQLite database file.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Why the regular file at `path` is not a SQLite database, if it is not: empty, or not
/// starting with SQLite's header.
///
/// # Errors
/// [`Error::Io`], [`Error::Symlink`], [`Error::NotRegular`].
pub fn not_a_database(path: &Path) -> Result<Option<String>> {
    let mut f = fsio::open_regular(path)?;
    let mut head = [0u8; 16];
    let n = fsio::read_full(&mut f, &mut head).map_err(|e| Error::io("read", path, e))?;
    Ok(if n == 0 {
        Some("is empty (0 bytes), not a database".into())
    } else if n < head.len() || &head != MAGIC {
        Some("is not a database (it does not start with SQLite's header)".into())
    } else {
        None
    })
}

/// A database's schema as the schema gate compares it: a SHA-256 of every `sqlite_master` row
/// (type, name, table, SQL, in type and name order), the columns of every table, and the
/// names of its indexes, views and triggers. SQLite's own objects (`sqlite_*`) are left out of
/// the comparison, not of the hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// SHA-256 of the `sqlite_master` rows.
    pub sha256: String,
    /// Columns of each table, in table order.
    pub tables: std::collections::BTreeMap<String, Vec<String>>,
    /// `index NAME`, `view NAME`, `trigger NAME`.
    pub objects: Vec<String>,
}

impl Schema {
    /// Read the schema of `conn` (the database at `path`).
    ///
    /// # Errors
    /// [`Error::Component`] when SQLite refuses.
    pub fn read(conn: &Connection, path: &Path) -> Result<Schema> {
        use sha2::{Digest, Sha256};
        let what = "read the schema";
        let mut stmt = sql(
            conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"),
            path,
            what,
        )?;
        let rows = sql(
            stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            }),
            path,
            what,
        )?;
        let mut hash = Sha256::new();
        let mut schema = Schema::default();
        for row in rows {
            let (kind, name, table, text) = sql(row, path, what)?;
            for part in [&kind, &name, &table, text.as_deref().unwrap_or_default()] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            hash.update(b"\n");
            if name.starts_with("sqlite_") {
                continue;
            }
            if kind == "table" {
                let mut cols = sql(
                    conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid"),
                    path,
                    what,
                )?;
                let names = sql(
                    cols.query_map([&name], |r| r.get::<_, String>(0)),
                    path,
                    what,
                )?;
                let mut list = Vec::new();
                for n in names {
                    list.push(sql(n, path, what)?);
                }
                schema.tables.insert(name, list);
            } else {
                schema.objects.push(format!("{kind} {name}"));
            }
        }
        schema.sha256 = format!("{:x}", hash.finalize());
        Ok(schema)
    }

    /// What `live` has that this (a snapshot's) schema lacks: tables, columns, indexes, views,
    /// triggers, one sentence each. Empty when the snapshot has everything the live one has.
    pub fn missing_from(&self, live: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        for (table, cols) in &live.tables {
            match self.tables.get(table) {
                None => out.push(format!("table {table} exists live, not in the snapshot")),
                Some(have) => {
                    let lacking: Vec<&str> = cols
                        .iter()
                        .filter(|c| !have.contains(c))
                        .map(String::as_str)
                        .collect();
                    if !lacking.is_empty() {
                        out.push(format!(
                            "table {table}: column(s) {} exist live, not in the snapshot",
                            lacking.join(", ")
                        ));
                    }
                }
            }
        }
        for o in &live.objects {
            if !self.objects.contains(o) {
                out.push(format!("{o} exists live, not in the snapshot"));
            }
        }
        out
    }
}
