#!/usr/bin/env bash
# Real-client tests of `sluice serve`: boto3 `kinesis`, `firehose` and
# `kinesisvideo` against one endpoint, with authentication off and sigv4;
# then the web console in headless Chromium (Selenium) and its JSON API.
# Run from the repository root by .ci/run. Each suite prints
# "N passed, M failed" last.
set -euo pipefail

# Installs and binaries: .ci/lib.sh (the `sluice` that `cargo test
# --workspace` built).
source .ci/lib.sh

SLUICE_BIN="$TARGET_DIR/debug/sluice" \
    "$VENV/bin/python" "$ROOT/crates/sluice-cli/tests/clients/test_serve.py"
SLUICE_BIN="$TARGET_DIR/debug/sluice" \
    "$VENV/bin/python" "$ROOT/crates/sluice-cli/tests/console/test_console.py"
