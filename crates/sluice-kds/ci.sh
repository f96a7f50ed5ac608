#!/usr/bin/env bash
# Real-client tests of sluice-kds: the AWS CLI and boto3 against the example
# server. Run from the repository root. Prints "N passed, M failed" last.
set -euo pipefail

ROOT=$PWD
VENV=${SLUICE_VENV:-$ROOT/.venv}
HERE=$ROOT/crates/sluice-kds

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
# Keep the venv out of git wherever it lives.
[ -f "$VENV/.gitignore" ] || echo '*' > "$VENV/.gitignore"
if ! "$VENV/bin/python" -c 'import boto3' >/dev/null 2>&1 || [ ! -x "$VENV/bin/aws" ]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check awscli boto3
fi

cargo build -q -p sluice-kds --example serve
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/serve

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
LOG=$DATA.log
"$BIN" --listen "127.0.0.1:$PORT" --data-dir "$DATA" 2>"$LOG" &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$DATA" "$LOG"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

export AWS_ACCESS_KEY_ID=AKIDSLUICETEST AWS_SECRET_ACCESS_KEY=sluice-test-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export KDS_ENDPOINT="http://127.0.0.1:$PORT" KDS_DATA_DIR="$DATA" KDS_SERVER_BIN="$BIN"
export PATH="$VENV/bin:$PATH"

status=0
OUT=$DATA.out
"$VENV/bin/python" "$HERE/tests/clients/test_kds.py" >"$OUT" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- server log ---"
    cat "$LOG" || true
    echo "--- tests ---"
fi
cat "$OUT"
rm -f "$OUT"
exit "$status"
