//! The local chunk index: a SQLite database in the state folder's cache (`index.sqlite3`)
//! mapping chunk ids and serials to where they are. A cache only: it is brought in line with
//! the repository's `packs/` and `index/` objects every time the repository is opened (packs
//! that are gone are forgotten, new ones learned from their index object, or from the pack's
//! own table when that object is missing or damaged), and nothing read through it is
//! trusted without checking the chunk's hash. Memory stays bounded on any repository size.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::pack::{self, Entry};
use super::{INDEX_PREFIX, PACK_PREFIX};
use crate::error::{Error, Result};
use crate::store::ObjectStore;

pub(super) const INDEX_FILE: &str = "index.sqlite3";
/// The most an index object may hold (a pack of 16 MiB holds far fewer entries).
pub(super) const MAX_INDEX_OBJECT: usize = 64 << 20;

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS packs(
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, from_pack INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS chunks(
        serial INTEGER PRIMARY KEY, hash BLOB NOT NULL, pack INTEGER NOT NULL,
        frame_off INTEGER NOT NULL, frame_len INTEGER NOT NULL, flags INTEGER NOT NULL,
        off INTEGER NOT NULL, len INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks(hash);
    CREATE INDEX IF NOT EXISTS chunks_by_pack ON chunks(pack);
";

pub(super) fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::io("use the chunk index", path, std::io::Error::other(e))
}

/// What bringing the cache in line found.
#[derive(Debug, Default)]
pub(super) struct Synced {
    /// Packs whose table could not be read at all (neither index object nor pack tail).
    pub(super) unreadable: BTreeMap<String, String>,
    /// Packs learned from their own table because their index object was missing or bad.
    pub(super) from_pack: Vec<String>,
    /// Index objects whose pack is gone.
    pub(super) orphan_indexes: Vec<String>,
}

/// The local index.
pub(super) struct Index {
    pub(super) conn: Connection,
    /// Its file, or the URI of an in-memory index (a backup dir that cannot be written).
    pub(super) path: PathBuf,
    memory: bool,
}

/// Where a chunk is.
pub(super) struct Located {
    pub(super) pack: String,
    pub(super) entry: Entry,
}

fn flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
}

impl Index {
    /// Open (creating) the index in `dir` for the repository `repo_id`: an index made for
    /// another repository is emptied.
    pub(super) fn open(dir: Option<&Path>, repo_id: &str) -> Result<Index> {
        if let Some(dir) = dir {
            let path = dir.join(INDEX_FILE);
            let open = || {
                Connection::open_with_flags(&path, flags())
                    .map_err(|e| db_error(&path, e))
                    .and_then(|c| Index::ready(c, path.clone(), false, repo_id))
            };
            match open() {
                Ok(ix) => return Ok(ix),
                // A damaged cache is thrown away and rebuilt from the repository.
                Err(_) if remove_index_files(dir) => {
                    if let Ok(ix) = open() {
                        return Ok(ix);
                    }
                }
                Err(_) => {}
            }
        }
        // A read-only backup dir (validate or `restore --to` from a mounted copy): the
        // index lives in memory for this run.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let uri = format!(
            "file:atocore-index-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let path = PathBuf::from(uri);
        let conn = Connection::open_with_flags(&path, flags() | OpenFlags::SQLITE_OPEN_URI)
            .map_err(|e| db_error(&path, e))?;
        Index::ready(conn, path, true, repo_id)
    }

    fn ready(conn: Connection, path: PathBuf, memory: bool, repo_id: &str) -> Result<Index> {
        let ix = Index { conn, path, memory };
        // Another run (a create storing a snapshot) may hold the write lock for minutes.
        ix.conn
            .busy_timeout(std::time::Duration::from_secs(600))
            .map_err(|e| db_error(&ix.path, e))?;
        ix.batch(if memory {
            &SCHEMA[SCHEMA.find(';').unwrap_or(0) + 1..]
        } else {
            SCHEMA
        })?;
        let known: Option<String> = ix
            .conn
            .query_row("SELECT v FROM meta WHERE k = 'repository'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| ix.err(e))?;
        if known.as_deref() != Some(repo_id) {
            ix.batch("DELETE FROM chunks; DELETE FROM packs; DELETE FROM meta;")?;
            ix.conn
                .execute(
                    "INSERT INTO meta(k, v) VALUES ('repository', ?1)",
                    params![repo_id],
                )
                .map_err(|e| ix.err(e))?;
        }
        Ok(ix)
    }

    /// A second, read-only connection to the same index (for a reader that outlives the
    /// borrow of the repository).
    pub(super) fn reader(&self) -> Result<Connection> {
        let mut f = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        f |= if self.memory {
            OpenFlags::SQLITE_OPEN_URI
        } else {
            OpenFlags::SQLITE_OPEN_NOFOLLOW
        };
        Connection::open_with_flags(&self.path, f).map_err(|e| db_error(&self.path, e))
    }

    pub(super) fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    /// Bring the cache in line with the packs and index objects the repository holds.
    pub(super) fn sync(&mut self, objects: &dyn ObjectStore) -> Result<Synced> {
        let packs: BTreeSet<String> = names(objects, PACK_PREFIX)?;
        let indexes: BTreeSet<String> = names(objects, INDEX_PREFIX)?;
        let mut out = Synced {
            orphan_indexes: indexes.difference(&packs).cloned().collect(),
            ..Synced::default()
        };
        let (gone, new) = self.differences(&packs)?;
        if gone.is_empty() && new.is_empty() {
            return Ok(out);
        }
        // Again inside the write transaction: another run (a create putting packs, a
        // validate learning them) may have changed the cache since.
        self.batch("BEGIN IMMEDIATE")?;
        let (gone, new) = match self.differences(&packs) {
            Ok(d) => d,
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                return Err(e);
            }
        };
        let done = (|| -> Result<()> {
            for id in gone {
                self.forget(id)?;
            }
            for p in &new {
                let table = if indexes.contains(p) {
                    read_index_object(objects, p).ok()
                } else {
                    None
                };
                let (entries, from_pack) = match table {
                    Some(t) => (t, false),
                    None => match read_pack_tail(objects, p) {
                        Ok(t) => (t, true),
                        Err(why) => {
                            out.unreadable.insert(p.clone(), why);
                            continue;
                        }
                    },
                };
                if from_pack {
                    out.from_pack.push(p.clone());
                }
                self.learn(p, &entries, from_pack)?;
            }
            Ok(())
        })();
        match done {
            Ok(()) => self.batch("COMMIT")?,
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok(out)
    }

    /// Forget the pack with row `row` and its chunks (inside a transaction the caller holds).
    pub(super) fn forget(&self, row: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM chunks WHERE pack = ?1", params![row])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM packs WHERE id = ?1", params![row])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The cached packs the repository no longer has (their rows), and the packs it has
    /// that the cache does not know.
    fn differences(&self, packs: &BTreeSet<String>) -> Result<(Vec<i64>, Vec<String>)> {
        let cached: BTreeMap<String, i64> = {
            let mut st = self
                .conn
                .prepare("SELECT name, id FROM packs")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        let gone = cached
            .iter()
            .filter(|(n, _)| !packs.contains(*n))
            .map(|(_, id)| *id)
            .collect();
        let new = packs
            .iter()
            .filter(|p| !cached.contains_key(*p))
            .cloned()
            .collect();
        Ok((gone, new))
    }

    /// Record pack `name` and its entries (inside a transaction the caller holds). A serial
    /// already known (the copy a prune makes before deleting the old pack) keeps its first
    /// place.
    pub(super) fn learn(&self, name: &str, entries: &[Entry], from_pack: bool) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO packs(name, from_pack) VALUES (?1, ?2)",
                params![name, from_pack],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn.last_insert_rowid();
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO chunks(serial, hash, pack, frame_off, frame_len, flags, \
                 off, len) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(|e| self.err(e))?;
        for e in entries {
            st.execute(params![
                serial_sql(e.serial),
                &e.hash[..],
                id,
                e.frame_off as i64,
                e.frame_len,
                u8::from(e.compressed),
                e.off,
                e.len
            ])
            .map_err(|e| self.err(e))?;
        }
        Ok(id)
    }

    /// The serial of chunk `hash`, when the repository has it.
    pub(super) fn serial_of(&self, hash: &[u8; 32]) -> Result<Option<u64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT serial FROM chunks WHERE hash = ?1 LIMIT 1")
            .map_err(|e| self.err(e))?;
        st.query_row(params![&hash[..]], |r| r.get::<_, i64>(0))
            .optional()
            .map(|o| o.map(|s| s as u64))
            .map_err(|e| self.err(e))
    }

    /// The first serial no chunk has yet.
    pub(super) fn next_serial(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(serial), 0) + 1 FROM chunks", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|s| s as u64)
            .map_err(|e| self.err(e))
    }
}

/// Remove the index files in `dir` (the database and SQLite's side files); whether the
/// database file was there.
pub(super) fn remove_index_files(dir: &Path) -> bool {
    let Ok(d) = crate::fsio::Dir::open(dir) else {
        return false;
    };
    let mut had = false;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let name = format!("{INDEX_FILE}{suffix}");
        let removed = d.remove_file(std::ffi::OsStr::new(&name)).unwrap_or(false);
        had |= removed && suffix.is_empty();
    }
    let _ = d.sync();
    had
}

/// Serials are stored as SQLite integers (signed 64-bit); ours stay far below 2^63.
pub(super) fn serial_sql(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Where chunk `serial` is, through connection `conn`.
pub(super) fn locate(conn: &Connection, serial: u64) -> rusqlite::Result<Option<Located>> {
    let mut st = conn.prepare_cached(
        "SELECT p.name, c.hash, c.frame_off, c.frame_len, c.flags, c.off, c.len \
         FROM chunks c JOIN packs p ON p.id = c.pack WHERE c.serial = ?1",
    )?;
    st.query_row(params![serial_sql(serial)], |r| {
        let hash: Vec<u8> = r.get(1)?;
        let mut h = [0u8; 32];
        if hash.len() == 32 {
            h.copy_from_slice(&hash);
        }
        Ok(Located {
            pack: r.get(0)?,
            entry: Entry {
                hash: h,
                serial,
                frame_off: r.get::<_, i64>(2)? as u64,
                frame_len: r.get(3)?,
                compressed: r.get::<_, u8>(4)? == 1,
                off: r.get(5)?,
                len: r.get(6)?,
            },
        })
    })
    .optional()
}

/// The names under `prefix` that look like ids (64 hex digits).
pub(super) fn names(objects: &dyn ObjectStore, prefix: &str) -> Result<BTreeSet<String>> {
    Ok(objects
        .list(prefix)?
        .into_iter()
        .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
        .filter(|n| super::is_id(n))
        .collect())
}

/// The entries of pack `id`'s index object, checked.
pub(super) fn read_index_object(
    objects: &dyn ObjectStore,
    id: &str,
) -> std::result::Result<Vec<Entry>, String> {
    let key = format!("{INDEX_PREFIX}{id}");
    let mut r = objects.get(&key).map_err(|e| e.to_string())?;
    let bytes = pack::read_bounded(&mut r, MAX_INDEX_OBJECT).map_err(|e| e.to_string())?;
    pack::decode_tail(&bytes)
}

/// The tail of pack `id` as stored (its table), unchecked.
pub(super) fn read_pack_tail_bytes(
    objects: &dyn ObjectStore,
    id: &str,
) -> std::result::Result<Vec<u8>, String> {
    let key = format!("{PACK_PREFIX}{id}");
    let trailer = objects
        .get_tail(&key, pack::TRAILER_LEN)
        .map_err(|e| e.to_string())?;
    let n = pack::tail_len(&trailer)?;
    objects.get_tail(&key, n).map_err(|e| e.to_string())
}

/// The entries of pack `id`'s own table, checked.
pub(super) fn read_pack_tail(
    objects: &dyn ObjectStore,
    id: &str,
) -> std::result::Result<Vec<Entry>, String> {
    pack::decode_tail(&read_pack_tail_bytes(objects, id)?)
}
