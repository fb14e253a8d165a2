#!/usr/bin/env bash
# Records the L7 captures: real curl (and wrk) through the live switch (one worker,
# af_packet, the L7 ports of examples/two-arm.toml) in the reference topology.
#
#   scripts/record-l7.sh curl     pcaps/l7-curl:   nginx (scripts/backends.sh)
#   scripts/record-l7.sh tomcat   pcaps/l7-tomcat: three Tomcat nodes (scripts/tomcat.sh)
#   scripts/record-l7.sh flood    pcaps/flood:     a small spoofed SYN flood at :81 (L4) and
#                                 :80 (L7) with real clients coming through on SYN cookies,
#                                 then blind RSTs at a live keep-alive connection (nginx)
#   scripts/record-l7.sh health   pcaps/health:    the health checks of examples/two-arm.toml
#                                 (HTTP GET / every second, fall 2, rise 2) against nginx,
#                                 with rs3's nginx stopped until the switch takes it down,
#                                 then started until it brings it back up, curl throughout
#
# What reached the switch is recorded by the switch itself (`run --record-rx`): each frame
# stamped with the switch's own clock, which its ISNs and TCP timestamps follow, so that
# `replay` hands the engine the same frames at the same times (tcpdump on the arms stamps
# the kernel's time: replayed with that, the switch answers other numbers). tcpdump on the
# arms still runs, and must have seen the same frames. What the switch sent is recorded at
# the far ends (tcpdump on c0, s0 inbound). Replaying the first pair must give the second
# pair, frame for frame (tests/replay.rs). Run as root under the topology's lock:
#
#   flock /tmp/stickwire-topology.lock scripts/record-l7.sh curl
#
# Needs a release build (cargo build --release; CARGO_TARGET_DIR is honoured). Review the
# result with tshark before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
case "$what" in
    curl) out=pcaps/l7-curl backends=scripts/backends.sh ;;
    tomcat) out=pcaps/l7-tomcat backends=scripts/tomcat.sh ;;
    flood) out=pcaps/flood backends=scripts/backends.sh ;;
    health) out=pcaps/health backends=scripts/backends.sh ;;
    *) echo "usage: $0 curl|tomcat|flood|health" >&2; exit 2 ;;
esac
bin=${CARGO_TARGET_DIR:-target}/release/stickwire
vip=198.18.0.100
tmp=$(mktemp -d)

scripts/netns.sh up
$backends start
pids=()
cleanup() {
    local status=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ "$status" -ne 0 ] && [ -f "$tmp/switch.log" ]; then
        echo "record-l7.sh: failed; the switch said:" >&2
        cat "$tmp/switch.log" >&2
    fi
    $backends stop || true
    scripts/netns.sh down || true
    rm -rf "$tmp"
}
trap cleanup EXIT

capture() { # namespace interface file
    ip netns exec "$1" tcpdump -i "$2" -Q in -U -w "$3" 2>/dev/null &
    pids+=($!)
}
rm -f "$out"/*.pcap "$out/live-report.txt"
capture sw-lb l0 "$tmp/client-arm.pcap"
capture sw-lb l1 "$tmp/server-arm.pcap"
capture sw-client c0 "$out/client-expected.pcap"
capture sw-servers s0 "$out/server-expected.pcap"
sleep 1

log=$tmp/switch.log
ip netns exec sw-lb "$bin" run --config "$out/switch.toml" --record-rx "$out" >"$log" 2>&1 &
switch=$!
for _ in $(seq 50); do grep -q "running with" "$log" && break; sleep 0.2; done
grep -q "running with" "$log" || { echo "record-l7.sh: the switch did not start" >&2; exit 1; }

# One conversation at a time, so that a capture stays readable. Each line says what the
# switch decides.
c() { # from, then curl's arguments
    local from=$1
    shift
    ip netns exec sw-client curl -sS -m 3 --interface "$from" "$@" || {
        echo "record-l7.sh: curl from $from $* failed" >&2
        exit 1
    }
    echo
}
close=(-H "Connection: close")
if [ "$what" = curl ]; then
    c 198.18.0.2 "${close[@]}" -b ServerID=rs2 "http://$vip/"                      # server-id cookie: rs2
    c 198.18.0.2 "${close[@]}" -b JSESSIONID=5F3A9C0D1E2B4A6F.node3 "http://$vip/" # jvmRoute: rs3
    c 198.18.0.3 "${close[@]}" "http://$vip/"                                      # round robin
    c 198.18.0.4 "${close[@]}" -c "$tmp/sid" "http://$vip/sid"                     # round robin; nginx sets SID
    c 198.18.0.5 "${close[@]}" -b "$tmp/sid" "http://$vip/"                        # the learned SID, another address
    c 198.18.0.6 "${close[@]}" -c "$tmp/ins" "http://$vip:8080/"                   # :8080 round robin, ServerID inserted
    c 198.18.0.6 "${close[@]}" -b "$tmp/ins" "http://$vip:8080/"                   # the inserted cookie
    c 198.18.0.7 -b ServerID=rs1 "http://$vip/" "http://$vip/"                      # keep-alive: two requests, one connection
    # wrk on four keep-alive connections for a second, each paced to a request per 50 ms
    # so that the capture stays small (about 80 requests).
    echo 'function delay() return 50 end' >"$tmp/pace.lua"
    ip netns exec sw-client wrk -t1 -c4 -d1s -s "$tmp/pace.lua" "http://$vip/"
elif [ "$what" = health ]; then
    # The switch says in its log when a server goes down or up (stickwire: health: ...).
    until_log() { # text, seconds
        for _ in $(seq $(($2 * 10))); do grep -q "$1" "$log" && return 0; sleep 0.1; done
        echo "record-l7.sh: the switch never said \`$1\`" >&2
        exit 1
    }
    sleep 1.5                                                                      # a check of each server passed
    c 198.18.0.2 "${close[@]}" "http://$vip/"                                      # round robin: rs1
    c 198.18.0.2 "${close[@]}" "http://$vip/"                                      # rs2
    c 198.18.0.2 "${close[@]}" "http://$vip/"                                      # rs3
    c 198.18.0.3 "${close[@]}" -b ServerID=rs3 "http://$vip/"                      # server-id cookie: rs3
    $backends stop-server rs3                                                      # refused: down after two checks
    until_log "health: rs3 is down" 5
    c 198.18.0.2 "${close[@]}" "http://$vip/"                                      # round robin over rs1 and rs2
    c 198.18.0.2 "${close[@]}" "http://$vip/"
    c 198.18.0.3 "${close[@]}" -b ServerID=rs3 "http://$vip/"                      # rs3 down: by the predictor
    c 198.18.0.4 "${close[@]}" -b JSESSIONID=5F3A9C0D1E2B4A6F.node3 "http://$vip/" # likewise (no buddy in domain b)
    $backends start-server rs3                                                     # up again after two checks
    until_log "health: rs3 is up" 5
    # Slow start ramps rs3's share up from here on the control thread's own clock: only
    # requests that name their server, which the ramp does not touch.
    c 198.18.0.3 "${close[@]}" -b ServerID=rs3 "http://$vip/"                      # rs3 again
    c 198.18.0.4 "${close[@]}" -b JSESSIONID=5F3A9C0D1E2B4A6F.node3 "http://$vip/" # rs3 by its jvmRoute
    c 198.18.0.5 "${close[@]}" -b ServerID=rs1 "http://$vip/"                      # rs1
elif [ "$what" = flood ]; then
    flood() { FLOOD_BIN=${CARGO_TARGET_DIR:-target}/release/examples/flood scripts/synflood.sh "$@" >&2; }
    c 198.18.0.2 "${close[@]}" "http://$vip:81/"                                   # L4, a flow as usual
    flood --to $vip:81 --rate 20000 --seconds 1 --count 1500 --sources 20          # past 64 half-open: cookies
    c 198.18.0.3 "${close[@]}" "http://$vip:81/"                                   # L4 through a proven cookie
    flood --to $vip:80 --rate 20000 --seconds 1 --count 1500 --sources 20
    c 198.18.0.4 "${close[@]}" "http://$vip/"                                      # L7 through a proven cookie
    # The replay ends with the last frame in, the live switch a moment later: nothing may
    # happen in between. The spoofed sources' last ARP retry (2 s after the flood) comes
    # before the last frame in, and the switch stops before their ARP gives up and their
    # half-open flows expire (3 s after it).
    sleep 0.6
    settle=0.3
    # Blind RSTs at a live keep-alive connection through :81: 20 far from its window and a
    # SYN on it change nothing; one with its next sequence number ends it.
    coproc client { ip netns exec sw-client python3 -u scripts/keepalive-client.py 198.18.0.5 40000 $vip 81; }
    ask() { echo get >&"${client[1]}"; read -r answer <&"${client[0]}"; echo "$answer"; case $answer in ok*) read -r _ seq <&"${client[0]}" ;; esac; }
    ask
    flood --kind rst --to $vip:81 --from 198.18.0.5:40000 --not-near "$seq" --count 20 --rate 1000
    flood --kind syn --to $vip:81 --from 198.18.0.5:40000 --not-near "$seq" --count 1 --rate 1000
    sleep 0.2
    ask
    flood --kind rst --to $vip:81 --from 198.18.0.5:40000 --seq "$seq" --count 1 --rate 1000
    sleep 0.2
    ask
    wait "$client_PID" 2>/dev/null || true
else
    c 198.18.0.2 "${close[@]}" -c "$tmp/s2" "http://$vip/counter.jsp"              # round robin; a session
    c 198.18.0.2 "${close[@]}" -b "$tmp/s2" -c "$tmp/s2" "http://$vip/counter.jsp" # jvmRoute of its JSESSIONID
    c 198.18.0.3 "${close[@]}" -c "$tmp/s3" "http://$vip/counter.jsp"              # round robin; another session
    session=$(awk '$6 == "JSESSIONID" { print $7 }' "$tmp/s3")
    c 198.18.0.3 "${close[@]}" "http://$vip/counter.jsp;jsessionid=$session"      # jvmRoute in the path
    c 198.18.0.2 -b "$tmp/s2" "http://$vip/counter.jsp" "http://$vip/counter.jsp"  # keep-alive: two requests
fi
sleep "${settle:-1}"
kill -INT "$switch"
wait "$switch" || true
cat "$log"
# The live switch's own report: replaying the recording must count the same (tests/replay.rs).
grep -v "^stickwire: " "$log" >"$out/live-report.txt"
sleep 1
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
sleep 0.5

# What the switch recorded is what tcpdump saw arrive on its arms, frame for frame.
frames() { tcpdump -nn -S -t -xx -r "$1" 2>/dev/null; }
for side in client server; do
    if ! cmp -s <(frames "$out/$side-in.pcap") <(frames "$tmp/$side-arm.pcap"); then
        echo "record-l7.sh: $out/$side-in.pcap differs from what tcpdump saw on the switch's $side arm" >&2
        diff <(frames "$out/$side-in.pcap") <(frames "$tmp/$side-arm.pcap") | head -20 >&2
        exit 1
    fi
done
for f in "$out"/*.pcap; do echo "$f: $(tshark -r "$f" 2>/dev/null | wc -l) frames, $(stat -c %s "$f") bytes"; done
