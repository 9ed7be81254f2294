#!/usr/bin/env bash
# Regenerates the shell completions and man pages under docs/ from the command-line
# definitions (backup-cli/tests/generated.rs fails when they are not current).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p backup-cli
bin=target/debug/atocore-backup
mkdir -p docs/completions docs/man
"$bin" completions bash > docs/completions/atocore-backup.bash
"$bin" completions zsh > docs/completions/_atocore-backup
"$bin" completions fish > docs/completions/atocore-backup.fish
rm -f docs/man/*.1
"$bin" man --dir docs/man
