#!/usr/bin/env bash
# A 100 MiB download through the L7 splice (:80) beside the same download through the L4
# port (:81, full NAT), from one switch in one run, in the reference topology.
#
#   scripts/compare-download.sh [ROUNDS]        (default 5 rounds of each, interleaved)
#
# The switch runs examples/two-arm.toml with WORKERS workers (default 1, as
# compare-haproxy.sh: on a 2-core box it leaves a core to curl and nginx). curl in sw-client
# fetches /big (100 MiB of random bytes, scripts/backends.sh) from rs1..rs3 through each
# port in turn, both with Linux's defaults on both ends (window scaling, SACK, timestamps),
# and checks every download's sha256. It prints each time, the median of each port and
# their ratio (splice / L4): the goal is at most 1.5.
#
# Run as root under the topology's lock:
#   flock /tmp/stickwire-topology.lock scripts/compare-download.sh
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
workers=${WORKERS:-1}
bin=target/release/stickwire
die() { echo "compare-download: error: $*" >&2; exit 1; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$rounds'"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"

outdir=$(mktemp -d /tmp/stickwire-download.XXXXXX)
config=$outdir/stickwire.toml
sed -e "s/^workers = .*/workers = $workers/" -e "s/,qpairs=[0-9]*//" examples/two-arm.toml >"$config"
if [ "$workers" -gt 1 ]; then
    sed -i "s/\(device = \"net_af_packet[^\"]*\)\"/\1,qpairs=$workers\"/" "$config"
fi

switch_pid=""
cleanup() {
    local rc=$?
    [ -z "$switch_pid" ] || { kill -INT "$switch_pid" 2>/dev/null || true; wait "$switch_pid" 2>/dev/null || true; }
    scripts/backends.sh stop || true
    scripts/netns.sh down || true
    [ "$rc" -eq 0 ] || echo "compare-download: failed (status $rc); logs in $outdir" >&2
}
trap cleanup EXIT

echo "== building (cargo build --release)"
cargo build --release 2>&1 | tail -1
scripts/netns.sh up
scripts/backends.sh start
want=$(sha256sum /tmp/stickwire-backends/big | cut -d' ' -f1)

ip netns exec sw-lb "$bin" run --config "$config" >"$outdir/counters" 2>"$outdir/stderr" &
switch_pid=$!
for _ in $(seq 100); do grep -q "running with" "$outdir/stderr" && break; sleep 0.2; done
grep -q "running with" "$outdir/stderr" || die "the switch did not start: $(cat "$outdir/stderr")"

# Seconds one download took; dies unless all 100 MiB arrived intact.
download() { # PORT
    local out
    out=$(ip netns exec sw-client bash -c "set -o pipefail; curl -sS -m 300 --interface 198.18.0.2 \
        -w '%{time_total}\n' -o >(sha256sum >'$outdir/sum') http://198.18.0.100:$1/big")
    sleep 0.2 # the process substitution finishes after curl
    [ "$(cut -d' ' -f1 "$outdir/sum")" = "$want" ] || die "the download through :$1 arrived damaged"
    echo "$out"
}

declare -a l7=() l4=()
for round in $(seq "$rounds"); do
    a=$(download 80); b=$(download 81)
    l7+=("$a"); l4+=("$b")
    printf 'round %s: splice :80 %6.3f s   L4 :81 %6.3f s\n' "$round" "$a" "$b"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
m7=$(median "${l7[@]}"); m4=$(median "${l4[@]}")
kill -INT "$switch_pid"; wait "$switch_pid" || die "the switch exited with an error"; switch_pid=""
grep -E "^  (spliced|retransmits)|web:8[01]/tcp|drops total" "$outdir/counters" || true
echo
printf 'median of %s: splice :80 %.3f s (%.0f MiB/s), L4 :81 %.3f s (%.0f MiB/s), ratio %.2f (goal <= 1.5)\n' \
    "$rounds" "$m7" "$(awk -v t="$m7" 'BEGIN { print 100 / t }')" "$m4" "$(awk -v t="$m4" 'BEGIN { print 100 / t }')" \
    "$(awk -v a="$m7" -v b="$m4" 'BEGIN { print a / b }')"
