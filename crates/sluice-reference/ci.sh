#!/usr/bin/env bash
# S3 tests for sluice-reference, run by .ci/run from the repo root: a moto
# S3 server on 127.0.0.1 (installed into the venv, as sluice-firehose's
# ci.sh does), a bucket and reference object uploaded with boto3, then the
# crate's ignored `s3_*` integration tests against it (load, change
# detection by ETag, reload, failed reload, missing object and bucket).
# Prints a final line "N passed, M failed".
set -euo pipefail

# Installs (boto3, moto) and the test binary: .ci/lib.sh (the one `cargo
# test --workspace` built).
source .ci/lib.sh
TESTS="$(integration_test_binary sluice-reference)"
[ -x "$TESTS" ] || { echo "no integration-test binary for sluice-reference" >&2; exit 1; }

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
        if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1',$1),timeout=0.1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    return 1
}

MOTO_PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$MOTO_PORT"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"

# The reference object the tests start from, written by a real S3 client.
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
"$VENV/bin/python" - "$ENDPOINT" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket="sluice-reference")
s3.put_object(Bucket="sluice-reference", Key="companies.csv", Body=b"AMZN,Amazon\n")
assert s3.head_object(Bucket="sluice-reference", Key="companies.csv")["ContentLength"] == 12
PY

status=0
# Run as `cargo test` runs it: from the crate's directory.
(cd "$ROOT/crates/sluice-reference" && SLUICE_REFERENCE_S3_ENDPOINT="$ENDPOINT" \
    "$TESTS" --ignored s3_ >"$WORK/test.log" 2>&1) || status=$?
cat "$WORK/test.log"

summary="$(grep -E '^test result:' "$WORK/test.log" | tail -n 1 || true)"
passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
failed="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
passed="${passed:-0}"
failed="${failed:-0}"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # the test binary did not run to its summary
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # no S3 test ran at all
fi
if [ "$failed" -ne 0 ]; then
    echo "--- moto log ---"
    tail -n 30 "$WORK/moto.log" || true
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
