#!/usr/bin/env bash
# The Flink proof of `sluice translate --to flink` (issue 23): every golden
# case the translator accepts runs on a local Apache Flink (PyFlink, one JVM)
# and must give the case's expected rows (tests/flink/run_flink_cases.py).
# First the hand-written translations in tests/flink/fixtures run the same
# way, which checks the runner and the Flink install on their own.
# Run from the repository root by .ci/run, after the crates' suites; extra
# arguments go to the translated run (`--report`: print, never fail).
set -euo pipefail

# Installs and binaries: .ci/lib.sh (the `sluice` that `cargo test
# --workspace` built; apache-flink in $FLINK_VENV).
source .ci/lib.sh

RUNNER="$ROOT/tests/flink/run_flink_cases.py"
"$FLINK_VENV/bin/python" "$RUNNER" --script-dir "$ROOT/tests/flink/fixtures" \
    $(for f in "$ROOT"/tests/flink/fixtures/*.sql; do echo "$ROOT/tests/golden/$(basename "$f" .sql)"; done)
SLUICE_BIN="$TARGET_DIR/debug/sluice" "$FLINK_VENV/bin/python" "$RUNNER" "$@"
