//! A real writer process for the tests: appends rows to a WAL-mode database as fast as it can,
//! one transaction per row, until it is killed. Each transaction inserts row `seq = n + 1`
//! (payload derived from `seq`) and sets `counter.n = n + 1`, so any committed state has
//! `count(log) = max(seq) = counter.n` and every payload matches its seq.
//!
//! Usage: sqlite-writer DB PAYLOAD_BYTES [--no-autocheckpoint]
//! Prints `committed N` after the first commit and every 50 commits after it.

use std::io::Write;
use std::time::Duration;

use atocore_backup_tests::{payload, WRITER_SCHEMA};
use rusqlite::Connection;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: sqlite-writer DB PAYLOAD_BYTES [--no-autocheckpoint]");
        std::process::exit(2);
    }
    let size: usize = args[2].parse().expect("PAYLOAD_BYTES is a number");
    let c = Connection::open(&args[1]).expect("open db");
    c.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    c.execute_batch(WRITER_SCHEMA).expect("schema");
    if args.iter().any(|a| a == "--no-autocheckpoint") {
        c.execute_batch("PRAGMA wal_autocheckpoint=0")
            .expect("pragma");
    }
    let mut out = std::io::stdout().lock();
    let mut commits = 0u64;
    loop {
        let tx = c.unchecked_transaction().expect("begin");
        let n: i64 = tx
            .query_row("SELECT n FROM counter WHERE id = 1", [], |r| r.get(0))
            .expect("read counter");
        let seq = n + 1;
        tx.execute(
            "INSERT INTO log(seq, payload) VALUES (?1, ?2)",
            (seq, payload(seq, size)),
        )
        .expect("insert");
        tx.execute("UPDATE counter SET n = ?1 WHERE id = 1", [seq])
            .expect("update");
        tx.commit().expect("commit");
        if commits.is_multiple_of(50) {
            let _ = writeln!(out, "committed {seq}");
            let _ = out.flush();
        }
        commits += 1;
    }
}
