#!/usr/bin/env bash
# The main job on a fresh Debian machine: install what is needed, build, bring up the
# reference topology with real nginx backends, run the switch on DPDK's af_packet PMD in
# front of them, show real traffic to the switch and through its VIP (ARP, ping, refused
# ports, L7 cookie switching, HTTP over full NAT with stickiness, round robin, gateway NAT,
# health checks, the admin API, wrk), stop it and print its counters. Run as root from the
# repository.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release
bin=target/release/stickwire

scripts/netns.sh up
scripts/backends.sh start
log=$(mktemp)
switch_pid=""
cleanup() {
    [ -n "$switch_pid" ] && kill -INT "$switch_pid" 2>/dev/null && wait "$switch_pid" 2>/dev/null || true
    scripts/backends.sh stop || true
    scripts/netns.sh down || true
}
trap cleanup EXIT

client() { echo "+ sw-client\$ $*"; ip netns exec sw-client "$@"; }

$bin check --config examples/two-arm.toml
ip netns exec sw-lb $bin run --config examples/two-arm.toml >"$log" 2>&1 &
switch_pid=$!
for _ in $(seq 50); do grep -q "running with" "$log" && break; sleep 0.2; done
cat "$log"

echo
echo "== the backends are real nginx servers (asked directly, inside sw-servers)"
for ip in 198.18.1.10 198.18.1.11 198.18.1.12; do ip netns exec sw-servers curl -s "http://$ip/"; done

echo
echo "== the switch answers ARP for its address and for the VIP"
client arping -c 2 -w 3 -I c0 198.18.0.1
client arping -c 2 -w 3 -I c0 198.18.0.100
echo
echo "== and ICMP echo"
client ping -c 3 -i 0.2 198.18.0.1
client ping -c 3 -i 0.2 198.18.0.100
echo
echo "== a TCP connection to a VIP port with no service is refused at once"
client ncat -w 3 198.18.0.100 8081 </dev/null || true

echo
echo "== L7 cookie switching on :80: the switch answers the handshake, reads the request"
echo "   head, picks the server by cookie and splices the two connections"
for _ in 1 2 3; do client curl -s -b ServerID=rs2 http://198.18.0.100/; done
client curl -s -b "JSESSIONID=9A1F0C33D2E4B5A6.node3" http://198.18.0.100/
echo "== :8080 inserts ServerID into the first answer; the cookie brings the client back"
jar=$(mktemp)
client curl -s -c "$jar" -D - -o /dev/null http://198.18.0.100:8080/ | grep -i '^set-cookie'
for _ in 1 2 3; do client curl -s -b "$jar" http://198.18.0.100:8080/; done
rm -f "$jar"

echo
echo "== HTTP through the VIP: :81 is source-IP sticky (a client keeps its server),"
echo "   :82 round robin, :83 gateway NAT (the server sees the client's own address)"
for from in 198.18.0.2 198.18.0.2 198.18.0.3 198.18.0.4; do client curl -s --interface "$from" http://198.18.0.100:81/; done
for _ in 1 2 3; do client curl -s http://198.18.0.100:82/; done
client curl -s --interface 198.18.0.5 http://198.18.0.100:83/
echo
echo "== the admin API: take rs2 out, then back"
ip netns exec sw-lb $bin admin set server rs2 state down
ip netns exec sw-lb $bin admin show servers
for _ in 1 2 3; do client curl -s http://198.18.0.100:82/; done
ip netns exec sw-lb $bin admin set server rs2 state enabled
echo
echo "== health checks (smoltcp, GET / every second, fall 2, rise 2): rs3's nginx stops..."
scripts/backends.sh stop-server rs3
sleep 3.5
ip netns exec sw-lb $bin admin show servers
echo "== ... and a client whose session cookie names node3 moves to a server that is up"
client curl -s -b "JSESSIONID=9A1F0C33D2E4B5A6.node3" http://198.18.0.100/
scripts/backends.sh start-server rs3
sleep 3.5
ip netns exec sw-lb $bin admin show servers
echo
echo "== load: wrk for 5 s through :81"
client wrk -t2 -c20 -d5s http://198.18.0.100:81/

echo
echo "== stopping the switch (SIGINT); its counters:"
kill -INT "$switch_pid"
wait "$switch_pid"
switch_pid=""
cat "$log"
