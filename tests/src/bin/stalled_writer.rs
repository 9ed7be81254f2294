//! A real writer process for the tests that stops in the middle of a write transaction: it
//! opens DB in whatever journal mode the database has, begins a transaction, writes until
//! pages have spilled into the database file (so, in rollback-journal mode, a `-journal` holds
//! the old pages), prints `mid-transaction` and waits to be killed. Killed with SIGKILL, it
//! leaves what a service that crashed mid-write leaves: a hot journal beside a database file
//! holding uncommitted pages.
//!
//! Usage: stalled-writer DB

use std::io::Write;
use std::time::Duration;

use rusqlite::Connection;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stalled-writer DB");
        std::process::exit(2);
    };
    let start = std::fs::metadata(&path).expect("DB exists").len();
    let c = Connection::open(&path).expect("open db");
    c.busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    // A tiny page cache, so changed pages are written to the file before the commit.
    c.execute_batch("PRAGMA cache_size = 4; BEGIN IMMEDIATE; CREATE TABLE stalled_writes(x BLOB);")
        .expect("begin");
    let mut rows = 0u32;
    while std::fs::metadata(&path).expect("DB exists").len() <= start || rows < 200 {
        c.execute("INSERT INTO stalled_writes VALUES (zeroblob(4000))", [])
            .expect("insert");
        rows += 1;
    }
    println!("mid-transaction");
    std::io::stdout().flush().expect("flush");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
