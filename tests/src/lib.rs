//! Shared pieces of the cross-component tests and of their helper processes.

pub mod s3;

/// Tables written by the `sqlite-writer` helper.
pub const WRITER_SCHEMA: &str = "
    PRAGMA journal_mode=WAL;
    CREATE TABLE IF NOT EXISTS log(seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS counter(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
    INSERT OR IGNORE INTO counter VALUES (1, 0);";

/// The payload of row `seq`: its number, then filler derived from it.
pub fn payload(seq: i64, size: usize) -> Vec<u8> {
    let mut p = format!("{seq:012}").into_bytes();
    let mut x = seq as u64 ^ 0x9E37_79B9_7F4A_7C15;
    while p.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.push((x & 0xFF) as u8);
    }
    p.truncate(size.max(12));
    p
}
