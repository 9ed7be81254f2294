#!/usr/bin/env bash
# Rebuilds tests/fixtures/chroma/<version>/{store,expected.json} with the real chromadb
# packages. Run by hand when the fixtures must change; the tests only read the results.
# The 1.5.9 small store is also `drill --sample`'s Chroma folder: after rebuilding, list its
# files (new segment folder names) in backup-cli/src/sample.rs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../fixtures/chroma"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for spec in "1.5.9:chromadb==1.5.9" "0.6.3:chromadb==0.6.3 posthog<4"; do
    version="${spec%%:*}"
    packages="${spec#*:}"
    python3 -m venv "$work/venv-$version"
    # shellcheck disable=SC2086
    "$work/venv-$version/bin/pip" install -q $packages
    rm -rf "${out:?}/$version"
    mkdir -p "$out/$version"
    py="$work/venv-$version/bin/python"
    export ANONYMIZED_TELEMETRY=False
    "$py" "$here/chroma_tool.py" make "$out/$version/store"
    "$py" "$here/chroma_tool.py" describe "$out/$version/store" "$out/$version/expected.json"
    "$py" "$here/chroma_tool.py" make-small "$out/$version/small"
    "$py" "$here/chroma_tool.py" describe "$out/$version/small" "$out/$version/small-expected.json"
done
