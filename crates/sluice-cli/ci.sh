#!/usr/bin/env bash
# Real-client tests of `sluice serve`: boto3 `kinesis`, `firehose` and
# `kinesisvideo` against one endpoint, with authentication off and sigv4.
# Run from the repository root by .ci/run. Prints "N passed, M failed" last.
set -euo pipefail

ROOT="$PWD"
VENV="${SLUICE_VENV:-$ROOT/.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"
"$VENV/bin/python" -c 'import boto3' 2>/dev/null || "$VENV/bin/pip" install -q --disable-pip-version-check boto3

# --workspace keeps the feature set of `cargo test --workspace` (a -p build
# would unify features differently and rebuild DataFusion).
cargo build -q --workspace --bin sluice
SLUICE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/sluice" \
    "$VENV/bin/python" "$ROOT/crates/sluice-cli/tests/clients/test_serve.py"
