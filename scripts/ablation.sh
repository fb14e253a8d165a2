#!/bin/bash
# What each part of the established-flow fast path costs. Builds the engine as committed
# ("full") and once per patch in benches/ablation/ (the fast path with parts cut out), then
# runs SCENARIO with every build in turn, ROUNDS times: interleaved, because this VM drifts
# by ±20 % within minutes. Prints each build's Mpps, lowest first.
#
#   plumbing-only        no lookup, no rewrite: port, staging, worker loop, route, MACs, tx
#   lookup-only          + the flow-table lookup (bucket, then flow line)
#   lookup-rewrite-only  + the rewrite (addresses, ports, TTL, checksums), no header check
#   full                 + header checksum check, TCP state, expiry, counters, server state
#
# usage: scripts/ablation.sh [ROUNDS] [SCENARIO]    (defaults: 4 l4-established-1k)
set -euo pipefail
rounds=${1:-4}
scenario=${2:-l4-established-1k}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --quiet --detach "$work/tree" HEAD >/dev/null
mkdir "$work/bin"
# One target directory for every variant: only stickwire itself rebuilds between them.
export CARGO_TARGET_DIR="$root/target/ablation"
for patch in full "$root"/benches/ablation/*.patch; do
    variant=$(basename "$patch" .patch)
    git -C "$work/tree" checkout -q -- .
    if [ "$variant" != full ]; then
        git -C "$work/tree" apply "$patch"
    fi
    echo "building $variant" >&2
    cargo build --release --quiet --manifest-path "$work/tree/Cargo.toml"
    cp "$CARGO_TARGET_DIR/release/stickwire" "$work/bin/$variant"
done
for _ in $(seq "$rounds"); do
    for bin in "$work"/bin/*; do
        mpps=$(STICKWIRE_BENCH_ONLY="$scenario" "$bin" bench | awk -v s="$scenario" '$1 == s && $2 == 1 { print $3 }')
        echo "$(basename "$bin") $mpps"
    done
done | sort -k1,1 -k2,2n | awk '{ runs[$1] = runs[$1] " " $2 } END { for (b in runs) print b ":" runs[b] }' | sort
