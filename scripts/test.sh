#!/usr/bin/env bash
# Runs every test, including the end-to-end ones against the real chromadb package, which it
# installs (once) into a virtual environment under target/. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="target/chroma-venv"
want="1.5.9"
if ! "$venv/bin/python" -c "import chromadb, sys; sys.exit(chromadb.__version__ != '$want')" 2>/dev/null; then
    echo "installing chromadb $want into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "chromadb==$want"
fi

# A real S3-compatible server for the off-host tests (docs/offhost.md): s3s-fs, built once
# into target/s3s (later versions need a newer rustc than 1.87).
s3s="target/s3s/bin/s3s-fs"
if [ ! -x "$s3s" ]; then
    echo "installing s3s-fs 0.14.1 into target/s3s" >&2
    cargo install s3s-fs --version 0.14.1 --features binary --locked --root target/s3s --quiet
fi
export ATOCORE_TEST_S3S_FS="$PWD/$s3s"

export ATOCORE_TEST_PYTHON="$PWD/$venv/bin/python"
export ANONYMIZED_TELEMETRY=False
# Tests that cannot run on this machine (no root, no tmpfs) write why here; said at the end.
skipped="target/tmp/skipped-tests.txt"
rm -f "$skipped"
cargo test --workspace --locked --features backup-cli/interop,backup-cli/failpoints "$@"
if [ -s "$skipped" ]; then
    echo "SKIPPED on this machine:" >&2
    sed 's/^/  /' "$skipped" >&2
fi
