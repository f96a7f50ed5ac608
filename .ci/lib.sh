# Sourced by crates/*/ci.sh (run from the repository root): where things
# live, the installs (.ci/setup, skipped when present), and the binaries.
#
# The suites use what `cargo test --workspace` builds (the `sluice` binary,
# each crate's examples, the integration-test binaries), with exactly its
# feature set: after .ci/run's test step the build below is all `Fresh`, and
# no dependency is compiled a second time. (A `cargo build -p CRATE` would
# unify features without the other crates and their dev-dependencies, and
# compile tokio, hyper, object_store or DataFusion again.)

ROOT=$PWD
VENV=${SLUICE_VENV:-$ROOT/.venv}
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
FLINK_VENV=${SLUICE_FLINK_VENV:-$CACHE/flink-venv}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export SLUICE_VENV=$VENV SLUICE_CACHE=$CACHE SLUICE_FLINK_VENV=$FLINK_VENV

bash "$ROOT/.ci/setup"
cargo test --workspace --no-run --quiet

# The integration-test binary of crate $1 (cargo names it integration-HASH).
integration_test_binary() {
    cargo test --workspace --no-run --quiet --message-format=json |
        "$VENV/bin/python" -c '
import json, sys
crate = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["name"] == "integration"
            and m["manifest_path"].endswith("/crates/" + crate + "/Cargo.toml")):
        print(m["executable"])
' "$1"
}
