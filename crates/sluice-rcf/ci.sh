#!/usr/bin/env bash
# Agreement of sluice-rcf with AWS's own random cut forest (issue 18): the
# krcf binding of AWS's library and the rcf-scores example score the same
# series (a noisy sine with planted spikes and a level shift at shingleSize 1
# and 4, and a 3-column series); tests/agreement/agreement.py prints the
# Spearman rank correlations (AWS against AWS, Sluice against AWS) and where
# each planted anomaly ranks. Run from the repository root. Prints
# "N passed, M failed" last.
set -euo pipefail

# Installs (krcf in the venv) and binaries: .ci/lib.sh (the example that
# `cargo test --workspace` built).
source .ci/lib.sh
BIN=$TARGET_DIR/debug/examples/rcf-scores

"$VENV/bin/python" "$ROOT/crates/sluice-rcf/tests/agreement/agreement.py" "$BIN"
