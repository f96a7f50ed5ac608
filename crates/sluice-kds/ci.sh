#!/usr/bin/env bash
# Real-client tests of sluice-kds: the AWS CLI and boto3 (tests/clients/
# test_kds.py) and the AWS SDK for JavaScript v3 (tests/clients/
# test_kds_js.cjs) against the example server, in cleartext and TLS on one
# port; then the conformance suite (tests/clients/conformance/run.py: AWS's
# exact answers per operation) against `sluice kds serve`, twice started:
# with no delays, and with 1500 ms create/delete/update delays for the
# CREATING / DELETING / UPDATING states. Run from the repository root.
# Prints "N passed, M failed" last.
set -euo pipefail

# Installs (awscli, boto3, the JS SDK, openssl, node) and binaries:
# .ci/lib.sh (the example that `cargo test --workspace` built).
source .ci/lib.sh
HERE=$ROOT/crates/sluice-kds
NPM_DIR=$CACHE/npm-kds
BIN=$TARGET_DIR/debug/examples/kds-serve
SLUICE=$TARGET_DIR/debug/sluice

free_port() {
    "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 1 100); do
        if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    return 1
}

WORK=$(mktemp -d)
DATA=$WORK/data
SIGV4_DATA=$WORK/data-sigv4
LOG=$WORK/server.log
SIGV4_LOG=$WORK/server-sigv4.log
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A self-signed certificate for 127.0.0.1 and localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

PORT=$(free_port)
"$BIN" --listen "127.0.0.1:$PORT" --data-dir "$DATA" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" 2>"$LOG" &
PIDS+=($!)
SIGV4_PORT=$(free_port)
"$BIN" --listen "127.0.0.1:$SIGV4_PORT" --data-dir "$SIGV4_DATA" \
    --auth sigv4 --access-key AKIDJSGOOD:js-good-secret 2>"$SIGV4_LOG" &
PIDS+=($!)
CONF_PORT=$(free_port)
"$SLUICE" kds serve --listen "127.0.0.1:$CONF_PORT" --data-dir "$WORK/data-conformance" \
    2>"$WORK/server-conformance.log" &
PIDS+=($!)
CONF_DELAYED_PORT=$(free_port)
"$SLUICE" kds serve --listen "127.0.0.1:$CONF_DELAYED_PORT" --data-dir "$WORK/data-conformance-delayed" \
    --create-delay-ms 1500 --delete-delay-ms 1500 --update-delay-ms 1500 \
    2>"$WORK/server-conformance-delayed.log" &
PIDS+=($!)
wait_port "$PORT"
wait_port "$SIGV4_PORT"
wait_port "$CONF_PORT"
wait_port "$CONF_DELAYED_PORT"

export AWS_ACCESS_KEY_ID=AKIDSLUICETEST AWS_SECRET_ACCESS_KEY=sluice-test-secret
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export KDS_ENDPOINT="http://127.0.0.1:$PORT" KDS_DATA_DIR="$DATA" KDS_SERVER_BIN="$BIN" KDS_SLUICE_BIN="$SLUICE"
export KDS_TLS_ENDPOINT="https://127.0.0.1:$PORT" KDS_TLS_CA="$WORK/cert.pem"
export KDS_SIGV4_ENDPOINT="http://127.0.0.1:$SIGV4_PORT" KDS_SIGV4_KEY=AKIDJSGOOD:js-good-secret
export PATH="$VENV/bin:$PATH"

py_status=0
"$VENV/bin/python" "$HERE/tests/clients/test_kds.py" >"$WORK/py.out" 2>&1 || py_status=$?
js_status=0
NODE_PATH="$NPM_DIR/node_modules" node "$HERE/tests/clients/test_kds_js.cjs" >"$WORK/js.out" 2>&1 || js_status=$?
conf_status=0
"$VENV/bin/python" "$HERE/tests/clients/conformance/run.py" \
    --endpoint "http://127.0.0.1:$CONF_PORT" --delayed-endpoint "http://127.0.0.1:$CONF_DELAYED_PORT" \
    >"$WORK/conformance.out" 2>&1 || conf_status=$?

if [ "$py_status" -ne 0 ] || [ "$js_status" -ne 0 ] || [ "$conf_status" -ne 0 ]; then
    echo "--- server log ---"
    cat "$LOG" "$SIGV4_LOG" "$WORK/server-conformance.log" "$WORK/server-conformance-delayed.log" || true
    echo "--- tests ---"
fi
# Each runner ends with "N passed, M failed"; print the lines above it and the sum.
passed=0
failed=0
for out in "$WORK/py.out" "$WORK/js.out" "$WORK/conformance.out"; do
    last=$(tail -n 1 "$out")
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        head -n -1 "$out"
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
    else
        # The runner itself died: show everything and count it as a failure.
        cat "$out"
        echo "FAIL $(basename "$out" .out) runner did not finish"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$py_status" -eq 0 ] && [ "$js_status" -eq 0 ] && [ "$conf_status" -eq 0 ]
