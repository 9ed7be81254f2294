#!/usr/bin/env bash
# Benchmarks atocore-backup against the tools an operator would otherwise use, in one run on
# one machine, and prints the table that docs/performance.md records. Needs hyperfine, sqlite3
# and restic (apt-get install hyperfine sqlite3 restic). Usage: scripts/bench.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb="${1:-1024}"
cargo build --release -p backup-cli >&2
bin="$PWD/target/release/atocore-backup"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/live"
db="$work/live/atocore.db"

# A WAL database of SIZE_MB: 4 KiB rows of incompressible bytes, as the service's memories
# and embeddings would be to a compressor.
python3 - "$db" "$size_mb" <<'PY'
import os, sqlite3, sys
db, mb = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE memories(id INTEGER PRIMARY KEY, content BLOB)")
for start in range(0, mb * 256, 2000):
    c.executemany("INSERT INTO memories(content) VALUES (?)",
                  ((os.urandom(4000),) for _ in range(min(2000, mb * 256 - start))))
    c.commit()
c.close()
PY
ls -l "$db" >&2
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="$work/restic"
restic init -q
export ATOCORE_DB_PATH="$db" ATOCORE_BACKUP_DIR="$work/backups"
stamp="$("$bin" create --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stamp"])')"
restic backup -q "$work/live" >/dev/null

hyperfine --warmup 1 --runs 5 --export-markdown "$work/backup.md" \
    --prepare "rm -rf $work/bench-backups $work/copy.db; sync" \
    -n "atocore-backup create" "$bin create --backup-dir $work/bench-backups >/dev/null" \
    -n "sqlite3 .backup" "sqlite3 $db '.backup $work/copy.db'" \
    -n "sqlite3 VACUUM INTO" "sqlite3 $db \"VACUUM INTO '$work/copy.db'\"" \
    -n "cp (unsafe on a live db)" "cp $db $work/copy.db" \
    -n "restic backup (incremental)" "restic backup -q $work/live >/dev/null" >&2

hyperfine --warmup 1 --runs 5 --export-markdown "$work/check.md" --prepare sync \
    -n "atocore-backup validate" "$bin validate $stamp >/dev/null" \
    -n "sha256sum of the db" "sha256sum $db >/dev/null" \
    -n "sqlite3 integrity_check" "sqlite3 $db 'PRAGMA integrity_check' >/dev/null" \
    -n "restic check --read-data" "restic check -q --read-data >/dev/null" >&2

hyperfine --warmup 1 --runs 5 --export-markdown "$work/restore.md" \
    --prepare "rm -rf $work/out; sync" \
    -n "atocore-backup restore --to" "$bin restore $stamp --to $work/out >/dev/null" \
    -n "cp" "mkdir -p $work/out && cp $db $work/out/" \
    -n "restic restore" "restic restore -q latest --target $work/out >/dev/null" >&2

echo "## backup ($size_mb MB database)"; cat "$work/backup.md"
echo; echo "## check"; cat "$work/check.md"
echo; echo "## restore"; cat "$work/restore.md"
