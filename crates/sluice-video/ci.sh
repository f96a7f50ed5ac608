#!/usr/bin/env bash
# Real-client checks for sluice-video, run by .ci/run from the repo root:
# ffmpeg makes the media, `sluice serve` serves it with signatures checked
# (`--auth sigv4`), boto3, curl and `sluice video put` drive the API, all
# signing. Prints "N passed, M failed" last; exits non-zero on failure.
set -euo pipefail

# Installs (ffmpeg, boto3) and binaries: .ci/lib.sh (the `sluice` that
# `cargo test --workspace` built).
source .ci/lib.sh
CRATE="$ROOT/crates/sluice-video"
WORK=$(mktemp -d)
SERVER_PID=""
TLS_PID=""
cleanup() {
    for p in $SERVER_PID $TLS_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating test media in $WORK"
# 10 s of H.264, a keyframe (so a cluster, so a fragment) every 2 s.
ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=duration=10:size=640x360:rate=30 \
    -c:v libx264 -g 60 -keyint_min 60 -sc_threshold 0 -bf 0 -cluster_time_limit 10000 \
    -f matroska "$WORK/video.mkv"
# Audio + video.
ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=duration=10:size=320x240:rate=25 \
    -f lavfi -i sine=frequency=440:duration=10 \
    -c:v libx264 -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 -c:a aac \
    -cluster_time_limit 10000 -f matroska "$WORK/av.mkv"

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TARGET_DIR/debug/sluice" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    --auth sigv4 --access-key test:test --get-media-idle-ms 1500 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# The same over TLS: a certificate for 127.0.0.1 from a throwaway CA that
# the clients trust through SSL_CERT_FILE (sluice) and verify= (boto3).
# (rustls refuses a self-signed CA certificate as the server's own.)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=sluice-ci-ca -keyout "$WORK/ca-key.pem" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$WORK/cert.ext"
openssl x509 -req -in "$WORK/cert.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca-key.pem" \
    -CAcreateserial -days 2 -extfile "$WORK/cert.ext" -out "$WORK/cert.pem" 2>/dev/null
TLS_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TARGET_DIR/debug/sluice" serve --listen "127.0.0.1:$TLS_PORT" --data-dir "$WORK/data-tls" \
    --auth sigv4 --access-key test:test --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
    >"$WORK/server-tls.log" 2>&1 &
TLS_PID=$!
for _ in $(seq 1 100); do
    grep -q "on http://" "$WORK/server.log" 2>/dev/null && grep -q "on https://" "$WORK/server-tls.log" 2>/dev/null && break
    sleep 0.1
done
export SLUICE_VIDEO_TLS_ENDPOINT="https://127.0.0.1:$TLS_PORT" SLUICE_VIDEO_TLS_CA="$WORK/ca.pem"
export SLUICE_BIN="$TARGET_DIR/debug/sluice" SLUICE_REPO="$ROOT"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
SAMPLES="$ROOT/../shared/kvs-samples"
set +e
SLUICE_VIDEO_PUT="$TARGET_DIR/debug/sluice video put" "$VENV/bin/python" "$CRATE/ci/checks.py" "http://127.0.0.1:$PORT" "$WORK" "$SAMPLES" | tee "$WORK/results.txt"
set -e
passed=$(grep -c '^PASS' "$WORK/results.txt" || true)
failed=$(grep -c '^FAIL' "$WORK/results.txt" || true)
if [ "$passed" -eq 0 ]; then failed=$((failed + 1)); fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
