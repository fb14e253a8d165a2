#!/usr/bin/env bash
# Records pcaps/l4-curl: real curl through the live switch (one worker, af_packet) to real
# nginx, in the reference topology. What reached the switch is recorded on its arms (l0, l1
# inbound), what it sent is recorded at the far ends (c0, s0 inbound). Replaying the first
# pair through `stickwire replay` must give the second pair, frame for frame
# (tests/replay.rs). Run as root; needs a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=pcaps/l4-curl
bin=target/release/stickwire

scripts/netns.sh up
scripts/backends.sh start
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    scripts/backends.sh stop || true
    scripts/netns.sh down || true
}
trap cleanup EXIT

capture() { # namespace interface file
    ip netns exec "$1" tcpdump -i "$2" -Q in -U -w "$3" 2>/dev/null &
    pids+=($!)
}
capture sw-lb l0 "$out/client-in.pcap"
capture sw-lb l1 "$out/server-in.pcap"
capture sw-client c0 "$out/client-expected.pcap"
capture sw-servers s0 "$out/server-expected.pcap"
sleep 1

log=$(mktemp)
ip netns exec sw-lb $bin run --config "$out/switch.toml" >"$log" 2>&1 &
switch=$!
for _ in $(seq 50); do grep -q "running with" "$log" && break; sleep 0.2; done

c() { ip netns exec sw-client curl -s -m 3 -H "Connection: close" "$@"; }
# One connection at a time, so the order of frames across the two arms is causal.
c http://198.18.0.100:81/; c http://198.18.0.100:81/           # sticky: same server twice
c http://198.18.0.100:82/; c http://198.18.0.100:82/; c http://198.18.0.100:82/   # round robin
c http://198.18.0.100:83/                                        # gateway NAT
c --interface 198.18.0.9 http://198.18.0.100:81/                 # another client
sleep 1
kill -INT "$switch"; wait "$switch" || true
cat "$log"
sleep 1
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
sleep 0.5
for f in "$out"/*.pcap; do echo "$f: $(tshark -r "$f" 2>/dev/null | wc -l) frames"; done
