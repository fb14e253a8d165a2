#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60). Needs a nightly toolchain;
# installs cargo-fuzz if it is missing. Crashes stop the run and are kept under
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build
for t in $targets; do
    log=$(mktemp)
    if ! cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz target $t failed; any crash input is in fuzz/artifacts/$t" >&2
        exit 1
    fi
    echo "fuzz $t: $(grep -E '^Done' "$log")"
    rm -f "$log"
done
