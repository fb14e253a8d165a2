#!/usr/bin/env bash
# Records captures for `stickwire reenact` as an operator would take them: tcpdump at the
# client (c0) and at the servers (s0), both directions, while real curl and wrk (nginx) or
# curl (three Tomcat nodes) talk through the live switch's L7 port 80 (examples/two-arm.toml)
# in the reference topology.
#
#   scripts/record-reenact.sh curl     pcaps/reenact-curl/{client,server}.pcap
#   scripts/record-reenact.sh tomcat   pcaps/reenact-tomcat/{client,server}.pcap
#
# tests/reenact.rs re-enacts each through the same port and expects every conversation
# intact, the rules (server-id cookie, jvmRoute, learned cookie) choosing as they did live.
# Run as root under the topology's lock, with a release build (CARGO_TARGET_DIR honoured):
#
#   flock /tmp/stickwire-topology.lock scripts/record-reenact.sh curl
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
case "$what" in
    curl) out=pcaps/reenact-curl backends=scripts/backends.sh ;;
    tomcat) out=pcaps/reenact-tomcat backends=scripts/tomcat.sh ;;
    *) echo "usage: $0 curl|tomcat" >&2; exit 2 ;;
esac
bin=${CARGO_TARGET_DIR:-target}/release/stickwire
vip=198.18.0.100
tmp=$(mktemp -d)
mkdir -p "$out"

scripts/netns.sh up
$backends start
pids=()
cleanup() {
    local status=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ "$status" -ne 0 ] && [ -f "$tmp/switch.log" ]; then
        echo "record-reenact.sh: failed; the switch said:" >&2
        cat "$tmp/switch.log" >&2
    fi
    $backends stop || true
    scripts/netns.sh down || true
    rm -rf "$tmp"
}
trap cleanup EXIT

log=$tmp/switch.log
ip netns exec sw-lb "$bin" run --config examples/two-arm.toml >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "running with" "$log" && break; sleep 0.2; done
grep -q "running with" "$log" || { echo "record-reenact.sh: the switch did not start" >&2; exit 1; }
# A first request, not recorded: the neighbours learned, the servers warm.
ip netns exec sw-client curl -sS -m 5 -o /dev/null "http://$vip/" || true

rm -f "$out/client.pcap" "$out/server.pcap"
ip netns exec sw-client tcpdump -i c0 -U -w "$out/client.pcap" tcp 2>/dev/null &
pids+=($!)
ip netns exec sw-servers tcpdump -i s0 -U -w "$out/server.pcap" tcp 2>/dev/null &
pids+=($!)
sleep 1

c() { # from, then curl's arguments
    local from=$1
    shift
    ip netns exec sw-client curl -sS -m 5 -o /dev/null --interface "$from" "$@" || {
        echo "record-reenact.sh: curl from $from $* failed" >&2
        exit 1
    }
}
close=(-H "Connection: close")
if [ "$what" = curl ]; then
    c 198.18.0.2 "${close[@]}" -b ServerID=rs2 "http://$vip/"                      # server-id cookie: rs2
    c 198.18.0.2 "${close[@]}" -b JSESSIONID=5F3A9C0D1E2B4A6F.node3 "http://$vip/" # jvmRoute: rs3
    c 198.18.0.3 "${close[@]}" "http://$vip/"                                      # round robin
    c 198.18.0.4 "${close[@]}" -c "$tmp/sid" "http://$vip/sid"                     # nginx sets SID
    c 198.18.0.5 "${close[@]}" -b "$tmp/sid" "http://$vip/"                        # the learned SID
    c 198.18.0.6 -b ServerID=rs1 "http://$vip/" "http://$vip/"                      # keep-alive: two requests
    c 198.18.0.7 "${close[@]}" -b ServerID=rs2 -r 0-65535 "http://$vip/big"         # 64 KiB download
    head -c 49152 /dev/urandom >"$tmp/body"
    c 198.18.0.8 "${close[@]}" -b ServerID=rs3 --data-binary @"$tmp/body" "http://$vip/upload" # 48 KiB up
    # wrk on four keep-alive connections for a second, paced to a request per 100 ms each.
    echo 'function delay() return 100 end' >"$tmp/pace.lua"
    ip netns exec sw-client wrk -t1 -c4 -d1s -s "$tmp/pace.lua" "http://$vip/" >/dev/null
else
    c 198.18.0.2 "${close[@]}" -c "$tmp/s2" "http://$vip/counter.jsp"              # round robin; a session
    c 198.18.0.2 "${close[@]}" -b "$tmp/s2" -c "$tmp/s2" "http://$vip/counter.jsp" # jvmRoute of its JSESSIONID
    c 198.18.0.3 "${close[@]}" -c "$tmp/s3" "http://$vip/counter.jsp"              # another session
    session=$(awk '$6 == "JSESSIONID" { print $7 }' "$tmp/s3")
    c 198.18.0.3 "${close[@]}" "http://$vip/counter.jsp;jsessionid=$session"      # jvmRoute in the path
    c 198.18.0.2 -b "$tmp/s2" "http://$vip/counter.jsp" "http://$vip/counter.jsp"  # keep-alive: two requests
fi
sleep 1
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null || true; done
sleep 0.5
for f in "$out"/*.pcap; do echo "$f: $(tshark -r "$f" 2>/dev/null | wc -l) frames, $(stat -c %s "$f") bytes"; done
