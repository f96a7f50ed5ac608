#!/usr/bin/env bash
# Real-client tests for sluice-firehose, run by .ci/run from the repo root:
# boto3 `firehose` against `sluice serve`, objects read back from the local
# bucket directory and from an S3-compatible server (moto) and checked byte
# for byte, plus a SIGKILL-during-load crash test. Prints a final line
# "N passed, M failed".
set -euo pipefail

# Installs and binaries: .ci/lib.sh (the `sluice` that `cargo test
# --workspace` built).
source .ci/lib.sh
CRATE="$ROOT/crates/sluice-firehose"
BIN="$TARGET_DIR/debug/sluice"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 200); do
        if "$VENV/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),timeout=0.1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    return 1
}

# Firehose API delivering to local directories.
PORT="$(free_port)"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --bucket-dir "$WORK/buckets" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
# An S3-compatible server on loopback, and a Firehose API delivering to it.
MOTO_PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
S3_PORT="$(free_port)"
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    "$BIN" serve --listen "127.0.0.1:$S3_PORT" --data-dir "$WORK/data-s3" --s3-endpoint "http://127.0.0.1:$MOTO_PORT" >"$WORK/server-s3.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT"
wait_port "$MOTO_PORT"
wait_port "$S3_PORT"

status=0
FIREHOSE_ENDPOINT="http://127.0.0.1:$PORT" \
FIREHOSE_BUCKET_DIR="$WORK/buckets" \
FIREHOSE_S3_ENDPOINT="http://127.0.0.1:$S3_PORT" \
MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT" \
FIREHOSE_SERVE_CMD="$BIN serve" \
FIREHOSE_WORK="$WORK" \
    "$VENV/bin/python" "$CRATE/tests/clients/test_firehose.py" || status=$?

if [ "$status" -ne 0 ]; then
    echo "--- server log ---"
    tail -n 50 "$WORK/server.log" "$WORK/server-s3.log" || true
fi
exit "$status"
