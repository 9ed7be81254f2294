#!/usr/bin/env bash
# Benchmarks atocore-backup against `cp -a`, the service's original Python backup, sqlite3,
# restic and borg: in one run, on one store (a WAL database, a Chroma folder written by the
# real chromadb package, a registry JSON), every tool on the same files. Prints markdown
# tables on stdout: time per job and its ratio to `cp -a + sync`, the bytes a snapshot adds
# to each repository, and peak resident memory. Progress and hyperfine's output go to stderr.
#
#   scripts/bench.sh [SIZE_MB] > results.md     # SIZE_MB: the database (default 600, in MiB);
#                                               # the Chroma folder adds about SIZE_MB/3
#
# Needs hyperfine, restic, borg, sqlite3 and GNU time:
#   apt-get install -y restic borgbackup hyperfine sqlite3 time
# and chromadb 1.5.9 (with numpy): taken from target/chroma-venv (scripts/test.sh makes it)
# or installed into target/bench-venv. Environment: BENCH_RUNS (hyperfine runs per job,
# default 3), BENCH_BORG_ENCRYPTION (default none; repokey-blake2 to encrypt like restic).
#
# The jobs, in this order, each with what its prepare step puts back before every timed run:
#   first snapshot    each tool into an empty repository (prepare: a new empty one)
#   second snapshot   after a writer changed 1% of the rows (prepare: the repository as it was
#                     after the first snapshot, the database as it was then, then the writer)
#   check             validate / check --read-data / restic check --read-data / borg check
#                     --verify-data of the repositories holding 3 snapshots (read-only)
#   restore --to      the newest snapshot into a new folder (prepare: remove the folder)
#   prune             keep the newest of 3 snapshots (prepare: the 3-snapshot repository)
#   live restore      atocore-backup restore over the live store (prepare: the live store and
#                     the repository put back)
# Between the first and second jobs, one run per tool of the second and a third snapshot
# (nothing changed since the second) measures the bytes each adds.
set -euo pipefail

# ---- prepare steps, run by hyperfine as `bash bench.sh --reset WHAT [TOOL [SAVED]]` --------
# Each tool's state (repository, and restic's and borg's caches) lives in $W/state/TOOL;
# $W/saved/ holds copies to put back.
reset() {
    case "$1" in
        out) rm -rf "$W/out" ;;
        empty)  # a new, empty repository
            rm -rf "$W/state/$2"
            case "$2" in
                restic) mkdir -p "$W/state/restic" && restic init -q >/dev/null ;;
                borg) mkdir -p "$W/state/borg" && borg init --encryption="$BORG_ENC" ;;
            esac ;;
        saved) rm -rf "$W/state/$2" && cp -a "$W/saved/$3" "$W/state/$2" ;;
        changed)  # one snapshot of the store, then 1% of the rows changed since
            rm -f "$W/live/atocore.db-wal" "$W/live/atocore.db-shm"
            cp "$W/base.db" "$W/live/atocore.db"   # in place: same file, as a writer leaves it
            "$PY" "$HELPER" change "$W/live/atocore.db" 1 "$SEED" 2>/dev/null
            reset saved "$2" "$2-1" ;;
        live)  # the live store as before the restore, and the 3-snapshot repository
            rm -rf "$W/live" && cp -a "$W/saved/live" "$W/live"
            reset saved ato ato-3 ;;
        *) echo "unknown reset $1" >&2; exit 2 ;;
    esac
    sync
}
if [ "${1:-}" = "--reset" ]; then
    shift
    reset "$@"
    exit
fi

cd "$(dirname "$0")/.."
size_mb="${1:-600}"
runs="${BENCH_RUNS:-3}"
export BORG_ENC="${BENCH_BORG_ENCRYPTION:-none}"
missing=()
for tool in hyperfine restic borg sqlite3 python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -x /usr/bin/time ] || missing+=("time (GNU time, /usr/bin/time)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}" >&2
    echo "install them with: apt-get update && apt-get install -y restic borgbackup hyperfine sqlite3 time" >&2
    exit 1
fi

# A Python with chromadb 1.5.9 (the version the tool is tested against).
PY=""
for venv in target/chroma-venv target/bench-venv; do
    if "$venv/bin/python" -c "import chromadb, numpy, sys; sys.exit(chromadb.__version__ != '1.5.9')" 2>/dev/null; then
        PY="$PWD/$venv/bin/python"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "installing chromadb 1.5.9 into target/bench-venv" >&2
    rm -rf target/bench-venv
    python3 -m venv target/bench-venv
    target/bench-venv/bin/pip install --quiet --disable-pip-version-check "chromadb==1.5.9"
    PY="$PWD/target/bench-venv/bin/python"
fi
export PY HELPER="$PWD/scripts/bench-store.py" SELF="$PWD/scripts/bench.sh" SEED=20261130
export ANONYMIZED_TELEMETRY=False

cargo build --release -p backup-cli >&2
W="$(mktemp -d)"
export W
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM
# A copy: a build started elsewhere during the run does not change what is measured.
export BIN="$W/atocore-backup"
cp target/release/atocore-backup "$BIN"
mkdir -p "$W/live" "$W/state" "$W/saved" "$W/results/rss"
started=$SECONDS
log() { echo "== $* ($((SECONDS - started)) s)" >&2; }

export ATOCORE_DB_PATH="$W/live/atocore.db" ATOCORE_CHROMA_PATH="$W/live/chroma" \
    ATOCORE_PROJECT_REGISTRY_PATH="$W/live/project-registry.json"
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="$W/state/restic/repo" \
    RESTIC_CACHE_DIR="$W/state/restic/cache"
export BORG_PASSPHRASE=bench BORG_REPO="$W/state/borg/repo" BORG_BASE_DIR="$W/state/borg/base" \
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

# ---- the store ------------------------------------------------------------------------------
log "building the store: a ${size_mb} MiB database, a Chroma folder of about $((size_mb / 3)) MiB"
"$PY" "$HELPER" db "$W/live/atocore.db" "$size_mb"
"$PY" "$HELPER" chroma "$W/live/chroma" "$((size_mb / 3))"
"$PY" "$HELPER" registry "$W/live/project-registry.json"
# atocore-backup leaves lock files beside the live stores (and the ingestion lock): one
# throwaway snapshot makes them exist from the start, so every tool copies the same folder.
"$BIN" create --backup-dir "$W/throwaway" >/dev/null
rm -rf "$W/throwaway"
cp "$W/live/atocore.db" "$W/base.db"
"$PY" "$HELPER" sizes "$W/live" "$size_mb" > "$W/results/store.json"
sync

# ---- hyperfine ------------------------------------------------------------------------------
# bench FILE TITLE WARMUP {NAME PREPARE COMMAND}...: one hyperfine run over the jobs, in turn.
bench() {
    local file="$1" title="$2" warmup="$3" args=()
    shift 3
    while [ $# -gt 0 ]; do
        args+=(-n "$1" --prepare "$2" "$3")
        shift 3
    done
    log "$title"
    hyperfine --style basic --runs "$runs" --warmup "$warmup" \
        --export-json "$W/results/$file" "${args[@]}" >&2
    printf '%s\t%s\n' "$file" "$title" >> "$W/results/groups.tsv"
}
R='bash "$SELF" --reset'
# The prefix that appends a command's peak RSS (KiB) to results/rss/KEY at each run.
rss() { printf '/usr/bin/time -f %%M -a -o "$W/results/rss/%s" ' "$1"; }
BASE=("cp -a + sync" "$R out" 'cp -a "$W/live" "$W/out" && sync')
ARCHIVE='"::{now:%Y%m%dT%H%M%S.%f}"'

bench first.json "First snapshot, into an empty repository" 0 \
    "${BASE[@]}" \
    "original Python method (backup API, copytree, copy2, SHA-256, sync)" "$R out" \
        '"$PY" "$HELPER" original "$W/live/atocore.db" "$W/live/chroma" "$W/live/project-registry.json" "$W/out"' \
    "sqlite3 .backup (database only) + sync" "$R out" \
        'mkdir "$W/out" && sqlite3 "$W/live/atocore.db" ".backup $W/out/atocore.db" && sync' \
    "restic backup + sync" "$R empty restic" \
        "$(rss restic-1)"'restic backup -q "$W/live" && sync' \
    "borg create + sync" "$R empty borg" \
        "$(rss borg-1)borg create $ARCHIVE"' "$W/live" && sync' \
    "atocore-backup create + sync" "$R empty ato" \
        "$(rss create-1)"'"$BIN" create --backup-dir "$W/state/ato" && sync'

# The last run of each tool above left a repository with one snapshot of the store.
for tool in ato restic borg; do cp -a "$W/state/$tool" "$W/saved/$tool-1"; done

# ---- bytes added by a second (1% changed) and a third (unchanged) snapshot -----------------
bytes() { "$PY" "$HELPER" bytes "$1"; }
restic_raw() { restic stats -q --mode raw-data --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["total_size"])'; }
added() {  # N LABEL: one snapshot by each tool, and what it added
    local n="$1" label="$2" before json stamp data manifest raw
    before=$(bytes "$W/state/ato/objects")
    json=$(/usr/bin/time -f %M -a -o "$W/results/rss/create-$n" "$BIN" create --json --backup-dir "$W/state/ato")
    read -r stamp data < <(echo "$json" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["stamp"], d["stored"]["added_bytes"])')
    manifest=$(stat -c %s "$W/state/ato/objects/snapshots%2F$stamp%2Fbackup-metadata.json")
    printf 'atocore-backup\t%s\t%s\t%s\t%s\n' "$label" "$data" "$manifest" \
        "$(($(bytes "$W/state/ato/objects") - before))" >> "$W/results/added.tsv"

    before=$(bytes "$W/state/restic/repo")
    raw=$(restic_raw)
    /usr/bin/time -f %M -a -o "$W/results/rss/restic-$n" restic backup --json "$W/live" | tail -n 1 >&2
    printf 'restic\t%s\t%s\t\t%s\n' "$label" "$(($(restic_raw) - raw))" \
        "$(($(bytes "$W/state/restic/repo") - before))" >> "$W/results/added.tsv"

    before=$(bytes "$W/state/borg/repo")
    json=$(/usr/bin/time -f %M -a -o "$W/results/rss/borg-$n" borg create --json "::{now:%Y%m%dT%H%M%S.%f}" "$W/live")
    data=$(echo "$json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["archive"]["stats"]["deduplicated_size"])')
    printf 'borg\t%s\t%s\t\t%s\n' "$label" "$data" \
        "$(($(bytes "$W/state/borg/repo") - before))" >> "$W/results/added.tsv"
}
log "second and third snapshots: bytes added"
"$PY" "$HELPER" change "$W/live/atocore.db" 1 "$SEED"
added 2 "second: 1% of rows changed"
added 3 "third: nothing changed"
for tool in ato restic borg; do cp -a "$W/state/$tool" "$W/saved/$tool-3"; done
cp -a "$W/live" "$W/saved/live"
export STAMP1 STAMP3 BORG_LAST
STAMP1=$("$BIN" list --json --backup-dir "$W/state/ato" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][-1]["stamp"])')
STAMP3=$("$BIN" list --json --backup-dir "$W/state/ato" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["stamp"])')
BORG_LAST=$(borg list --last 1 --short)

bench second.json "Second snapshot, 1% of rows changed since the first" 0 \
    "${BASE[@]}" \
    "restic backup + sync" "$R changed restic" \
        "$(rss restic-2)"'restic backup -q "$W/live" && sync' \
    "borg create + sync" "$R changed borg" \
        "$(rss borg-2)borg create $ARCHIVE"' "$W/live" && sync' \
    "atocore-backup create + sync" "$R changed ato" \
        "$(rss create-2)"'"$BIN" create --backup-dir "$W/state/ato" && sync'

# From here on, every repository holds the 3 snapshots made above.
for tool in ato restic borg; do bash "$SELF" --reset saved "$tool" "$tool-3"; done

bench check.json "Checking a repository of 3 snapshots" 1 \
    "${BASE[@]}" \
    "restic check --read-data" "sync" 'restic check -q --read-data' \
    "borg check --verify-data" "sync" 'borg check --verify-data' \
    "atocore-backup validate (newest snapshot)" "sync" \
        "$(rss validate)"'"$BIN" validate "$STAMP3" --backup-dir "$W/state/ato"' \
    "atocore-backup check --read-data" "sync" \
        "$(rss check)"'"$BIN" check --read-data --backup-dir "$W/state/ato"'

bench restore.json "Restoring the newest snapshot into a new folder" 0 \
    "${BASE[@]}" \
    "restic restore + sync" "$R out" \
        'restic restore -q latest --target "$W/out" && sync' \
    "borg extract + sync" "$R out" \
        'mkdir "$W/out" && cd "$W/out" && borg extract "::$BORG_LAST" && sync' \
    "atocore-backup restore --to + sync" "$R out" \
        "$(rss restore-to)"'"$BIN" restore "$STAMP3" --to "$W/out" --backup-dir "$W/state/ato" && sync'

bench prune.json "Prune: keep the newest of 3 snapshots" 0 \
    "${BASE[@]}" \
    "restic forget --keep-last 1 --prune" "$R saved restic restic-3" \
        'restic forget -q --keep-last 1 --prune >/dev/null' \
    "borg prune --keep-last 1 + borg compact" "$R saved borg borg-3" \
        'borg prune --keep-last 1 && borg compact' \
    "atocore-backup prune --keep-last 1" "$R saved ato ato-3" \
        "$(rss prune)"'"$BIN" prune --keep-last 1 --backup-dir "$W/state/ato"'

bench live.json "Live restore of the first snapshot over the live store" 0 \
    "${BASE[@]}" \
    "atocore-backup restore --confirm-service-stopped + sync" "$R live" \
        "$(rss restore-live)"'"$BIN" restore "$STAMP1" --confirm-service-stopped --backup-dir "$W/state/ato" && sync'
log "done"

# ---- the report -----------------------------------------------------------------------------
{
    echo "hyperfine $runs runs per job (checks: 1 warm-up run first), each tool in turn, all in one run on one store; jobs that write end with \`sync\`"
    echo "every ratio is the job's median over the median of \`cp -a + sync\` of the live folder measured in the same table"
    echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB of memory"
    echo "versions: $("$BIN" --version), $(restic version | cut -d' ' -f1-2), $(borg --version), sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(hyperfine --version), chromadb $("$PY" -c 'import chromadb; print(chromadb.__version__)')"
    echo "restic: repository format 2, compression auto (zstd), encryption always on (AES-256 + Poly1305, password from RESTIC_PASSWORD)"
    echo "borg: --encryption=$BORG_ENC (BORG_PASSPHRASE set), default compression (lz4)"
    echo "atocore-backup: no encryption, zstd-compressed chunks"
    echo "the 1% writer: one Python sqlite3 transaction that UPDATEs the content of 1% of the ids (a seeded random sample spread over the table) with new text of the same kind; closing checkpoints the WAL into the database file in place"
} > "$W/results/notes.txt"
cat > "$W/results/rss.tsv" <<'EOF'
create-1	atocore-backup create (first snapshot)
create-2	atocore-backup create (1% changed)
create-3	atocore-backup create (nothing changed)
validate	atocore-backup validate
check	atocore-backup check --read-data
restore-to	atocore-backup restore --to
restore-live	atocore-backup restore --confirm-service-stopped
prune	atocore-backup prune --keep-last 1
restic-1	restic backup (first snapshot)
restic-2	restic backup (1% changed)
restic-3	restic backup (nothing changed)
borg-1	borg create (first snapshot)
borg-2	borg create (1% changed)
borg-3	borg create (nothing changed)
EOF
"$PY" "$HELPER" report "$W/results"
