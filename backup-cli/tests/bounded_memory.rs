//! Memory stays bounded whatever the store's size: every command that moves the store's bytes
//! runs under an address-space limit (`ulimit -v`) far smaller than the store: 48 MiB with the
//! repository in the backup dir, 64 MiB with it sealed on a real S3-compatible server (s3s-fs
//! on loopback). The S3 client costs a fixed 16 MiB more address space: its runtime's threads
//! (2 MiB of stack reserved each), the HTTP and TLS code, and one 8 MiB part of a multipart
//! upload in flight; none of it grows with the store.

use std::fs;
use std::process::Command;

use rusqlite::Connection;
use serde_json::Value;

mod common;
use common::{code, env_on, stderr, Backend};

/// The address-space limit, in KiB: 48 MiB, a quarter of the store below; 64 MiB with the
/// repository on object storage.
fn limit_kib(e: &common::Env) -> u32 {
    if e.remote.is_some() {
        64 * 1024
    } else {
        48 * 1024
    }
}

/// Run `program args` under the limit, with the test store's paths in its environment.
fn limited(e: &common::Env, program: &str, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", limit_kib(e)))
        .arg(program)
        .args(args)
        .env("ATOCORE_DB_PATH", &e.db)
        .env("ATOCORE_PROJECT_REGISTRY_PATH", &e.registry)
        .env("ATOCORE_BACKUP_DIR", &e.backups)
        .envs(e.remote_vars())
        .output()
        .unwrap()
}

#[test]
fn every_command_runs_in_48_mib_on_a_200_mb_store() {
    runs_limited(Backend::Local);
}

#[test]
fn every_command_runs_in_64_mib_on_a_200_mb_store_with_the_repository_on_s3() {
    runs_limited(Backend::S3);
}

fn runs_limited(b: Backend) {
    let e = env_on(b);
    let c = Connection::open(&e.db).unwrap();
    c.execute_batch(
        "CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
         INSERT INTO blobs(data) SELECT randomblob(4000) FROM n;",
    )
    .unwrap();
    drop(c);
    let size = fs::metadata(&e.db).unwrap().len();
    assert!(size > 200_000_000, "the store is {size} bytes");

    // The limit is real here: a program that needs 100 MB at once is refused.
    let control = limited(
        &e,
        "dd",
        &["if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
    );
    assert!(
        !control.status.success(),
        "ulimit -v did not limit dd: {}",
        stderr(&control)
    );

    let bin = env!("CARGO_BIN_EXE_atocore-backup");
    let out = limited(&e, bin, &["create", "--json"]);
    assert_eq!(code(&out), 0, "create: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stamp = v["stamp"].as_str().unwrap().to_owned();
    let out = limited(&e, bin, &["validate", &stamp]);
    assert_eq!(code(&out), 0, "validate: {}", stderr(&out));
    let out = limited(&e, bin, &["check", "--read-data"]);
    assert_eq!(code(&out), 0, "check --read-data: {}", stderr(&out));

    // A prune that rewrites packs (half of what each holds no longer needed) streams them
    // too; the snapshot it keeps is the one restored below.
    Connection::open(&e.db)
        .unwrap()
        .execute_batch("UPDATE blobs SET data = randomblob(4000) WHERE id % 2 = 0;")
        .unwrap();
    let out = limited(&e, bin, &["create", "--json"]);
    assert_eq!(code(&out), 0, "second create: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stamp = v["stamp"].as_str().unwrap().to_owned();
    let out = limited(&e, bin, &["prune", "--keep-last", "1", "--json"]);
    assert_eq!(code(&out), 0, "prune: {}", stderr(&out));
    let pruned: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        pruned["packs_rewritten"].as_u64().unwrap() >= 1,
        "no pack was rewritten: {pruned}"
    );
    let out = limited(&e, bin, &["drill", &stamp]);
    assert_eq!(code(&out), 0, "drill: {}", stderr(&out));
    let into = e.tmp.path().join("restored");
    let out = limited(
        &e,
        bin,
        &["restore", &stamp, "--to", into.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "restore --to: {}", stderr(&out));
    let out = limited(&e, bin, &["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 0, "restore: {}", stderr(&out));
    let restored = Connection::open(into.join("atocore.db")).unwrap();
    let n: i64 = restored
        .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 50000);
}
