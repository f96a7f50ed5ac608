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
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
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
for _ in $(seq 1 100); do
    grep -q "on http://" "$WORK/server.log" 2>/dev/null && break
    sleep 0.1
done

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
