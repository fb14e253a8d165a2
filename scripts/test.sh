#!/usr/bin/env bash
# Runs every test: unit and property tests, capture replays, the same captures through real
# DPDK (net_pcap), the end-to-end tests in network namespaces (net_af_packet), lint, and a
# short run of each fuzz target. Needs root (namespaces, DPDK); installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== format and lint"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

echo "== release build (the flood tests run it: a debug build could not carry a flood)"
cargo build --release --bin stickwire --example flood

echo "== tests"
# The end-to-end tests share one topology: they take a lock, so parallel test threads are fine.
log=$(mktemp)
cargo test --all-targets 2>&1 | tee "$log"
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
rm -f "$log"

echo "== benchmark smoke run"
cargo run --quiet --release -- bench --quick

echo "== fuzz (short)"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "the fuzz targets need a nightly toolchain (rustup toolchain install nightly): not found" >&2
    exit 1
fi
scripts/fuzz.sh 20

echo "== all tests"
echo "tests: $passed passed, $failed failed"
