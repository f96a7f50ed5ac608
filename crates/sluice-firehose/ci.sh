#!/usr/bin/env bash
# Real-client tests for sluice-firehose, run by .ci/run from the repo root:
# boto3 `firehose` against the example server, objects read back from the
# local bucket directory and checked byte for byte, plus a SIGKILL-during-load
# crash test. Prints a final line "N passed, M failed".
set -euo pipefail

ROOT="$PWD"
VENV="${SLUICE_VENV:-$ROOT/.venv}"
CRATE="$ROOT/crates/sluice-firehose"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import boto3' 2>/dev/null || "$VENV/bin/pip" install -q boto3

cargo build -q -p sluice-firehose --example serve
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/serve"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --bucket-dir "$WORK/buckets" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    if grep -q "listening on" "$WORK/server.log" 2>/dev/null; then break; fi
    sleep 0.1
done

status=0
FIREHOSE_ENDPOINT="http://127.0.0.1:$PORT" \
FIREHOSE_BUCKET_DIR="$WORK/buckets" \
FIREHOSE_SERVE_BIN="$BIN" \
FIREHOSE_WORK="$WORK" \
    "$VENV/bin/python" "$CRATE/tests/clients/test_firehose.py" || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- server log ---"
    tail -n 50 "$WORK/server.log" || true
fi
exit "$status"
