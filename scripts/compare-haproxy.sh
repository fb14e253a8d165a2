#!/usr/bin/env bash
# stickwire side by side with HAProxy, end to end in the reference topology, in one run.
#
#   scripts/compare-haproxy.sh [SECONDS] [CONNECTIONS]      (defaults: 10 s, 50 connections)
#   MODE=l7 scripts/compare-haproxy.sh ...                   (cookie insertion on :8080)
#   CLOSE=1 scripts/compare-haproxy.sh ...                   (a new connection per request)
#   FLOOD=1 CLOSE=1 scripts/compare-haproxy.sh ...           (under a spoofed SYN flood)
#
# FLOOD=1: each run is wrk before a flood (SECONDS), during scripts/synflood.sh's paced
# phase (FLOOD_RATE SYN/s, default 200000, for FLOOD_PACED s, default 8), during its
# flat-out phase (FLOOD_FLAT s, default 4), and after it (SECONDS); the figures are each
# system's share of its own pre-flood rate, and its socket errors during and after. The
# flood comes from random sources in 198.18.0.51-.250, random ports, to the VIP port; HAProxy
# meets it with the kernel's SYN cookies (tcp_syncookies=1, the default), stickwire with its
# own. With FLOOD=1, l0 receives in a kernel thread (RX_THREAD=1, threaded NAPI; RX_THREAD=0
# turns it off), so each balancer's box pays for what reaches it, not the flooder (below).
# The flooder then runs faster against the switch, whose box costs it less; FLOOD_FLAT_RATE=N
# caps the flat-out phase at N SYN/s, so both can meet the same flood in it too.
#
# MODE=l4 (the default) compares port 81 as described below. MODE=l7 compares port 8080:
# stickwire's L7 port with `insert-cookie ServerID` (delayed binding, TCP splice) against
# HAProxy `mode http`, `balance roundrobin`, `cookie ServerID insert indirect`: both read
# the cookie, and insert it into the responses to requests without one (wrk sends none, so
# every response gets one). HAPROXY_THREADS sets HAProxy's nbthread (default 1).
# HAPROXY_NICE=N runs HAProxy's threads at nice N (as systemd's Nice= would; default: the
# script's own), for the same footing as stickwire's workers, which take the config's
# worker_nice (-10 in examples/two-arm.toml).
#
# Both systems serve the VIP 198.18.0.100 port 81 from namespace sw-lb in front of the same
# nginx backends rs1..rs3 (198.18.1.10-12:80 in sw-servers), and the same load hits both:
#
#   ip netns exec sw-client wrk -t2 -cCONNECTIONS -dSECONDSs --latency http://198.18.0.100:81/
#
# - stickwire: examples/two-arm.toml with WORKERS workers (default 1: on a 2-core box it
#   leaves a core to wrk and nginx; STICKWIRE_CONFIG=FILE runs another config) — :81 is L4
#   full NAT, source-IP sticky, on DPDK net_af_packet over l0/l1 (no kernel addresses; the
#   kernel drops their frames at ingress once af_packet has them, `scripts/netns.sh arms`).
#   Stopped with SIGINT after each run; its counters are kept in the output directory and
#   its drops are summarised.
# - HAProxy: the switch is stopped, so the kernel may own the arms now: sw-lb gets
#   198.18.0.1/24 + 198.18.0.100/32 on l0 and 198.18.1.3/24 on l1. HAProxy runs `mode tcp`,
#   `balance source` with a stick table on src (like stickwire's source-IP sticky), binds
#   198.18.0.100:81 and connects to rs1..rs3 from 198.18.1.3 (a full proxy, like full NAT;
#   not stickwire's 198.18.1.1 and .2: nginx holds each system's closed connections in TIME_WAIT
#   for 60 s, and the next system's SYNs on the same tuples, with other timestamps, were
#   answered as old duplicates, stalling its connections by a second each),
#   HAPROXY_THREADS threads (default 1), no health checks (servers are always up), with
#   sw-lb's net.ipv4.tcp_tw_reuse=1 and local ports 1024-64511 (the tuning a proxy at a new
#   connection per request needs; stickwire's full NAT reuses closed flows' ports likewise).
#   Afterwards the kernel addresses are removed again.
#
# The order alternates, stickwire, haproxy, stickwire, haproxy (ROUNDS=2 rounds; a 2-core box
# is noisy), each measured run preceded by a short warm-up (WARMUP seconds, default 2). The
# script prints every run and the best run of each system (by requests/s), side by side:
# requests/s, p50, p99 and socket errors (and how busy the machine was with other work just
# before each run; a warning if over 15%). With COMPARE_JSON=FILE it also writes that as JSON.
# IDLE=poll: stickwire's worker never sleeps when idle (config `idle`; default "sleep").
# PIN=1 pins the balancer to core 1 and wrk, nginx and the flooder to core 0 (see below).
# THINK_MS=N gives each wrk connection N ms of think time between requests: an offered load
# of about CONNECTIONS / (N ms + latency) for both systems (with FLOOD=1: how much of the
# same load each keeps under the flood, rather than of its own capacity).
# Logs (wrk output, stickwire counters, the HAProxy config) go to COMPARE_DIR (default: a new
# directory under /tmp). The topology is torn down on exit, also on error.
#
# Run as root from anywhere; needs wrk, haproxy, nginx (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-10}
conns=${2:-50}
rounds=${ROUNDS:-2}
warmup=${WARMUP:-2}
threads=2
mode=${MODE:-l4}
case "$mode" in
    l4) port=81 ;;
    l7) port=8080 ;;
    *) echo "compare-haproxy: MODE must be l4 or l7, not '$mode'" >&2; exit 2 ;;
esac
url=http://198.18.0.100:$port/
hthreads=${HAPROXY_THREADS:-1}
# wrk's options: a new connection per request, or keep-alive (wrk's default).
wrk_opts=()
[ "${CLOSE:-0}" = 1 ] && wrk_opts=(-H "Connection: close")
# THINK_MS=N: each connection waits N ms after each response (scripts/think.lua), so both
# systems are offered about the same load instead of running at their own capacity.
if [ -n "${THINK_MS:-}" ]; then
    [[ "$THINK_MS" =~ ^[0-9]+$ ]] || { echo "compare-haproxy: THINK_MS must be whole milliseconds" >&2; exit 2; }
    export THINK_MS
    wrk_opts+=(-s scripts/think.lua)
fi
workers=${WORKERS:-1}
bin=target/release/stickwire
flood=${FLOOD:-0}
flood_rate=${FLOOD_RATE:-200000}
flood_paced=${FLOOD_PACED:-8}
flood_flat=${FLOOD_FLAT:-4}
flood_flat_rate=${FLOOD_FLAT_RATE:-}
rx_thread=${RX_THREAD:-$flood}

die() { echo "compare-haproxy: error: $*" >&2; exit 1; }
note() { echo "compare-haproxy: $*" >&2; }

# PIN=1: the balancer gets a core of its own, the same for both systems, and wrk, nginx and
# the flooder share the other, as on a box of its own in front of other machines.
# stickwire's one worker pins itself to core 1 (core 0 is left to the rest); HAProxy is
# pinned there too. PIN=0 (the default) lets the kernel place everything but stickwire's
# worker.
on_rest="" on_balancer="" rest_core=0
if [ "${PIN:-0}" = 1 ]; then
    [ "$(nproc)" -ge 2 ] || die "PIN=1 needs two cores"
    [ "$workers" = 1 ] || die "PIN=1 gives the balancer one core: WORKERS must be 1"
    on_rest="taskset -c $rest_core"
    on_balancer="taskset -c 1"
fi

[[ "$secs" =~ ^[1-9][0-9]*$ ]] || die "SECONDS must be a positive integer, got '$secs'"
[[ "$conns" =~ ^[1-9][0-9]*$ ]] || die "CONNECTIONS must be a positive integer, got '$conns'"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$rounds'"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds, got '$warmup'"
[ "$conns" -ge "$threads" ] || die "CONNECTIONS must be at least $threads (wrk -t$threads)"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
for tool in wrk haproxy nginx ip cargo; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done

[[ "${HAPROXY_NICE:-0}" =~ ^-?[0-9]+$ ]] || die "HAPROXY_NICE must be a nice value, got '$HAPROXY_NICE'"
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, got '$workers'"

outdir=${COMPARE_DIR:-$(mktemp -d /tmp/stickwire-compare.XXXXXX)}
mkdir -p "$outdir"
# examples/two-arm.toml with WORKERS workers (af_packet needs qpairs=N for N workers). On a
# 2-core box one worker is the default: it leaves the other core to wrk and nginx.
config=${STICKWIRE_CONFIG:-$outdir/stickwire.toml}
idle_used="as in $config"
case "${IDLE:-}" in ""|sleep|poll) ;; *) die "IDLE must be sleep or poll, got '$IDLE'" ;; esac
if [ -n "${STICKWIRE_CONFIG:-}" ] && [ -n "${IDLE:-}" ]; then
    die "IDLE sets the generated config's idle; with STICKWIRE_CONFIG set it in that file"
fi
if [ -z "${STICKWIRE_CONFIG:-}" ]; then
    idle_used=${IDLE:-sleep}
    qpairs=""
    [ "$workers" -gt 1 ] && qpairs=",qpairs=$workers"
    idle=""
    [ -n "${IDLE:-}" ] && idle="\\nidle = \"$IDLE\""
    sed -e "s/^workers = .*/workers = $workers$idle/" -e "s/,qpairs=[0-9]*//" \
        -e "s/\(device = \"net_af_packet[^\"]*\)\"/\1$qpairs\"/" examples/two-arm.toml >"$config"
fi

switch_pid=""
haproxy_pid=""
topology_up=0

stop_switch() {
    # SIGINT, then wait up to 20 s for the counters; SIGKILL if it hangs.
    local pid=$switch_pid
    [ -n "$pid" ] || return 0
    switch_pid=""
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        die "stickwire (pid $pid) did not stop within 20 s of SIGINT; killed"
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" -eq 0 ] || die "stickwire exited with status $rc after SIGINT (see $outdir)"
}

stop_haproxy() {
    local pid=$haproxy_pid
    [ -n "$pid" ] || return 0
    haproxy_pid=""
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

kernel_addrs() { # add|del
    local op=$1
    # HAProxy works through the kernel on the arms; the switch's DPDK port does not.
    if [ "$op" = add ]; then scripts/netns.sh arms kernel; else scripts/netns.sh arms dpdk; fi
    ip -n sw-lb addr "$op" 198.18.0.1/24 dev l0
    ip -n sw-lb addr "$op" 198.18.0.100/32 dev l0
    ip -n sw-lb addr "$op" 198.18.1.3/24 dev l1
}

flush_neighbours() {
    # stickwire answers ARP with its own MACs (02:53:57:...), the kernel with the veths':
    # forget whichever the client and the servers learned last.
    ip -n sw-client neigh flush all 2>/dev/null || true
    ip -n sw-servers neigh flush all 2>/dev/null || true
    ip -n sw-lb neigh flush all 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$switch_pid" ]; then kill -INT "$switch_pid" 2>/dev/null || true; sleep 1; kill -KILL "$switch_pid" 2>/dev/null || true; wait "$switch_pid" 2>/dev/null || true; fi
    if [ -n "$haproxy_pid" ]; then kill -KILL "$haproxy_pid" 2>/dev/null || true; wait "$haproxy_pid" 2>/dev/null || true; fi
    if [ "$topology_up" = 1 ]; then
        scripts/backends.sh stop || true
        scripts/netns.sh down || true
    fi
    [ "$rc" -eq 0 ] || note "failed (status $rc); logs in $outdir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wrk's latency ("812.00us", "1.62ms", "1.03s", "2.00m") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        else if (u != "ms") { print "NaN"; exit }
        printf "%.3f", n }'
}

# How busy the machine is with other work (% of all cores, over 1 s) just before a run's
# warm-up, with the system under test idle: a 2-core box shared with builds is noisy.
background_busy() {
    local a b
    a=($(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)); sleep 1
    b=($(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat))
    awk -v t=$((b[0] - a[0])) -v i=$((b[1] - a[1])) 'BEGIN { printf "%.0f", (t > 0 ? 100 * (t - i) / t : 0) }'
}

# One wrk run of SECONDS; sets result="REQS_PER_S P50_MS P99_MS SOCKET_ERRORS NON_2XX".
# (Globals, not $(...): a failure must exit the main shell, whose trap cleans up.)
result=""
wrk_run() { # LOG SECONDS
    local log=$1 d=$2 rc=0
    timeout $((d + 60)) ip netns exec sw-client $on_rest \
        wrk -t$threads -c"$conns" -d"${d}s" --latency --timeout 10s "${wrk_opts[@]}" "$url" >"$log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || die "wrk failed (status $rc): $(tail -5 "$log")"
    local rps p50 p99 errs non2xx
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
    p50=$(awk '$1 == "50%" {print $2}' "$log")
    p99=$(awk '$1 == "99%" {print $2}' "$log")
    [ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] || die "cannot parse wrk output in $log:
$(cat "$log")"
    # "Socket errors: connect 0, read 0, write 0, timeout 0" appears only when one is non-zero.
    errs=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$log")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$log")
    result="$rps $(to_ms "$p50") $(to_ms "$p99") ${errs:-0} ${non2xx:-0}"
}

# A measured run (after a warm-up); sets result as wrk_run does, plus how busy the machine
# was before it. With FLOOD=1 also flood_result="PACED_RPS FLAT_RPS AFTER_RPS
# ERRORS_DURING ERRORS_AFTER" (the flood aimed at DST_MAC, the MAC that owns the VIP).
flood_result=""
measure() { # LOG DST_MAC
    local log=$1 mac=$2 busy
    busy=$(background_busy)
    [ "$busy" -le 15 ] || note "warning: the machine was ${busy}% busy with other work just before this run; its figures are noisy"
    if [ "$warmup" -gt 0 ]; then
        timeout $((warmup + 30)) ip netns exec sw-client $on_rest \
            wrk -t$threads -c"$conns" -d"${warmup}s" "${wrk_opts[@]}" "$url" >"$log.warmup" 2>&1 \
            || die "warm-up wrk failed (status $?): $(tail -3 "$log.warmup")"
    fi
    wrk_run "$log" "$secs"
    local before=$result
    if [ "$flood" = 1 ]; then
        FLOOD_BIN=target/release/examples/flood $on_rest scripts/synflood.sh --to "198.18.0.100:$port" --dst-mac "$mac" \
            --rate "$flood_rate" --seconds "$flood_paced" --flat-out "$flood_flat" \
            ${flood_flat_rate:+--flat-rate "$flood_flat_rate"} >"$log.flood" 2>&1 &
        local flooder=$! paced flat after
        wrk_run "$log.paced" "$flood_paced"; paced=$result
        wrk_run "$log.flat" "$flood_flat"; flat=$result
        wait "$flooder" || die "the flooder failed: $(cat "$log.flood")"
        wrk_run "$log.after" "$secs"; after=$result
        set -- $paced; local p_rps=$1 p_err=$4
        set -- $flat; local f_rps=$1 f_err=$4
        set -- $after; local a_rps=$1 a_err=$4
        flood_result="$p_rps $f_rps $a_rps $((p_err + f_err)) $a_err"
    fi
    result="$before $busy"
}

run_stickwire() { # ROUND
    local round=$1 log="$outdir/stickwire-$1"
    flush_neighbours
    ip netns exec sw-lb "$bin" run --config "$config" >"$log.counters" 2>"$log.stderr" &
    switch_pid=$!
    local ready=0
    for _ in $(seq 100); do
        if grep -q "running with" "$log.stderr"; then ready=1; break; fi
        kill -0 "$switch_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$ready" = 0 ]; then
        kill -KILL "$switch_pid" 2>/dev/null || true; wait "$switch_pid" 2>/dev/null || true; switch_pid=""
        die "stickwire did not report \"running with\" within 20 s:
$(cat "$log.stderr")"
    fi
    # First contact: the client and the servers resolve the switch (ARP) before the load.
    timeout 10 ip netns exec sw-client curl -sf -m 5 -o /dev/null "$url" \
        || die "stickwire: no answer from $url (see $log.stderr)"
    measure "$log.wrk" 02:53:57:00:00:01
    stop_switch
}

write_haproxy_cfg() { # FILE
    local fds hmaxconn
    fds=$(ulimit -n); [ "$fds" = unlimited ] && fds=1048576
    hmaxconn=$(( (fds - 200) / 2 )); [ "$hmaxconn" -le 100000 ] || hmaxconn=100000
    [ "$hmaxconn" -ge $((conns * 2)) ] || die "file limit $fds too low for $conns connections through haproxy"
    if [ "$mode" = l7 ]; then
        cat >"$1" <<CFG
# Generated by scripts/compare-haproxy.sh: the reference LB for VIP 198.18.0.100:8080.
global
    nbthread $hthreads
    maxconn $hmaxconn
    pidfile $outdir/haproxy.pid

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend vip8080
    bind 198.18.0.100:8080
    maxconn $hmaxconn
    default_backend web8080

backend web8080
    balance roundrobin
    cookie ServerID insert indirect
    server rs1 198.18.1.10:80 source 198.18.1.3 cookie rs1
    server rs2 198.18.1.11:80 source 198.18.1.3 cookie rs2
    server rs3 198.18.1.12:80 source 198.18.1.3 cookie rs3
CFG
        return
    fi
    cat >"$1" <<CFG
# Generated by scripts/compare-haproxy.sh: the reference LB for VIP 198.18.0.100:81.
global
    nbthread $hthreads
    # High but within this shell's file limit (two fds per proxied connection).
    maxconn $hmaxconn
    pidfile $outdir/haproxy.pid

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend vip81
    bind 198.18.0.100:81
    maxconn $hmaxconn
    default_backend web81

backend web81
    balance source
    stick-table type ip size 100k expire 5m
    stick on src
    # No health checks: stickwire has none yet either (servers are always up for both).
    server rs1 198.18.1.10:80 source 198.18.1.3
    server rs2 198.18.1.11:80 source 198.18.1.3
    server rs3 198.18.1.12:80 source 198.18.1.3
CFG
}

run_haproxy() { # ROUND
    local round=$1 log="$outdir/haproxy-$1" cfg="$outdir/haproxy.cfg"
    write_haproxy_cfg "$cfg"
    haproxy -c -q -f "$cfg" || die "haproxy rejects $cfg"
    kernel_addrs add
    flush_neighbours
    # A proxy's outgoing connections need their local ports back while the old ones sit in
    # TIME_WAIT (stickwire reuses a closed flow's port likewise): without tcp_tw_reuse the
    # kernel runs out of ports towards the servers at a new connection per request, and
    # HAProxy falls to a few hundred requests/s (measured).
    ip netns exec sw-lb sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 64511"
    ip netns exec sw-lb $on_balancer haproxy -db -f "$cfg" >"$log.log" 2>&1 &
    haproxy_pid=$!
    local ready=0
    for _ in $(seq 100); do
        if ip netns exec sw-lb ss -Hltn "sport = :$port" 2>/dev/null | grep -q 198.18.0.100; then ready=1; break; fi
        kill -0 "$haproxy_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$ready" = 0 ]; then
        stop_haproxy
        die "haproxy did not listen on 198.18.0.100:$port within 20 s:
$(cat "$log.log")"
    fi
    if [ -n "${HAPROXY_NICE:-}" ]; then
        renice -n "$HAPROXY_NICE" -p $(ls "/proc/$haproxy_pid/task") >/dev/null || die "renice of haproxy failed"
    fi
    timeout 10 ip netns exec sw-client curl -sf -m 5 -o /dev/null "$url" \
        || die "haproxy: no answer from $url (see $log.log)"
    measure "$log.wrk" "$(ip -n sw-lb -br link show l0 | awk '{print $3}')"
    stop_haproxy
    kernel_addrs del
}

# The switch's drops by reason and its :81 line, from the counters it printed on SIGINT.
switch_summary() { # COUNTERS_FILE
    awk '
        /^port / { print "    " $0 }
        /drops total/ { print "    " $0; in_drops = 1; next }
        in_drops && /^  [a-z]/ && $2 + 0 > 0 && $1 !~ /^(rx-frames|forwarded)$/ { print "    " $0 }
        /^vip ports:/ { in_drops = 0 }
        /web:(81|8080)\/tcp/ { print "    " $0 }
        /^flows created/ { print "    " $0 }
    ' "$1"
}

echo "== building (cargo build --release)"
cargo build --release 2>&1 | tail -1
if [ "$flood" = 1 ]; then cargo build --release --example flood 2>&1 | tail -1; fi
[ -x "$bin" ] || die "$bin was not built"
"$bin" check --config "$config" >/dev/null || die "$config does not validate"

echo "== reference topology and nginx backends"
topology_up=1
scripts/netns.sh up
if [ "$rx_thread" = 1 ]; then
    # veth delivers a frame inside its sender's send call unless the receiving end runs NAPI
    # (which it does only with GRO on): then HAProxy's kernel answered every flood SYN on
    # the flooder's time, which held the flood against it to ~105 k SYN/s while it reached
    # 200 k against the switch (its af_packet ring costs the sender little). Threaded NAPI on
    # l0 makes the balancer's box receive in a kernel thread of its own, as a NIC's
    # interrupts are served on the box they reach. GRO merges nothing here: a request is one
    # segment, and SYNs never merge.
    ip netns exec sw-lb ethtool -K l0 gro on >/dev/null
    ip netns exec sw-lb sh -c 'echo 1 > /sys/class/net/l0/threaded' || die "threaded NAPI on l0 failed"
fi
# wrk closes each connection first with CLOSE=1, so its side keeps every port in TIME_WAIT
# for 60 s: at ~17 k connections/s the client runs out of ports within two seconds and every
# later run measures the port shortage (both systems fell to ~300-500 requests/s). Let it
# reuse them, as a load generator must.
ip netns exec sw-client sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
scripts/backends.sh start
if [ -n "$on_rest" ]; then
    for pid in $(pgrep -x nginx); do taskset -a -p -c "$rest_core" "$pid" >/dev/null; done
fi
for ip in 198.18.1.10 198.18.1.11 198.18.1.12; do
    timeout 10 ip netns exec sw-servers curl -sf -m 5 -o /dev/null "http://$ip/" || die "backend $ip:80 does not answer"
done

load="ip netns exec sw-client wrk -t$threads -c$conns -d${secs}s --latency ${wrk_opts[*]} $url"
echo "== load: $load  (after a ${warmup} s warm-up each run)"
[ -z "${HAPROXY_NICE:-}" ] || echo "== HAProxy at nice $HAPROXY_NICE; stickwire's workers at $(awk -F"= *" '/^worker_nice/ {print $2}' "$config")"
echo "== logs: $outdir"

declare -a names=() rps=() p50=() p99=() errs=() non2xx=() busy=() floods=()
for round in $(seq "$rounds"); do
    for sys in stickwire haproxy; do
        echo "-- round $round: $sys"
        "run_$sys" "$round"
        read -r a b c d e f <<<"$result"
        names+=("$sys#$round"); rps+=("$a"); p50+=("$b"); p99+=("$c"); errs+=("$d"); non2xx+=("$e"); busy+=("$f")
        floods+=("$flood_result")
        printf '   %.0f req/s, p50 %s ms, p99 %s ms, socket errors %s, non-2xx %s (machine %s%% busy before)\n' "$a" "$b" "$c" "$d" "$e" "$f"
        if [ "$flood" = 1 ]; then
            read -r fp ff fa fe fae <<<"$flood_result"
            printf '   flood: paced %.0f req/s (%.0f%%), flat out %.0f req/s (%.0f%%), after %.0f req/s (%.0f%%); socket errors during %s, after %s\n' \
                "$fp" "$(awk -v x="$fp" -v b="$a" 'BEGIN { print 100 * x / b }')" \
                "$ff" "$(awk -v x="$ff" -v b="$a" 'BEGIN { print 100 * x / b }')" \
                "$fa" "$(awk -v x="$fa" -v b="$a" 'BEGIN { print 100 * x / b }')" "$fe" "$fae"
            grep -E "^(paced|flat out):" "$outdir/$sys-$round.wrk.flood" | sed 's/^/     flooder /'
        fi
        if [ "$sys" = stickwire ]; then switch_summary "$outdir/stickwire-$round.counters"; fi
    done
done

# Best run of each system: highest requests/s.
best_of() { # SYSTEM -> index
    local best=-1 i
    for i in "${!names[@]}"; do
        [ "${names[$i]%%#*}" = "$1" ] || continue
        if [ "$best" -lt 0 ] || awk -v a="${rps[$i]}" -v b="${rps[$best]}" 'BEGIN { exit !(a > b) }'; then best=$i; fi
    done
    echo "$best"
}
bs=$(best_of stickwire)
bh=$(best_of haproxy)

echo
echo "== stickwire vs haproxy ($mode, haproxy nbthread $hthreads): VIP 198.18.0.100:$port, $load"
printf '%-14s %12s %10s %10s %14s %12s\n' run "req/s" "p50 ms" "p99 ms" "socket errors" "bg busy %"
for i in "${!names[@]}"; do
    printf '%-14s %12.0f %10.3f %10.3f %14s %12s\n' "${names[$i]}" "${rps[$i]}" "${p50[$i]}" "${p99[$i]}" "${errs[$i]}" "${busy[$i]}"
done
echo
printf '%-14s %14s %14s %10s\n' best "stickwire" "haproxy" "ratio"
printf '%-14s %14.0f %14.0f %9.2fx\n' "req/s" "${rps[$bs]}" "${rps[$bh]}" "$(awk -v a="${rps[$bs]}" -v b="${rps[$bh]}" 'BEGIN { print a / b }')"
printf '%-14s %14.3f %14.3f %9.2fx\n' "p50 ms" "${p50[$bs]}" "${p50[$bh]}" "$(awk -v a="${p50[$bs]}" -v b="${p50[$bh]}" 'BEGIN { print (b > 0 ? a / b : 0) }')"
printf '%-14s %14.3f %14.3f %9.2fx\n' "p99 ms" "${p99[$bs]}" "${p99[$bh]}" "$(awk -v a="${p99[$bs]}" -v b="${p99[$bh]}" 'BEGIN { print (b > 0 ? a / b : 0) }')"
printf '%-14s %14s %14s\n' "socket errors" "${errs[$bs]}" "${errs[$bh]}"
verdict=$(awk -v a="${rps[$bs]}" -v b="${rps[$bh]}" -v x="${p99[$bs]}" -v y="${p99[$bh]}" 'BEGIN {
    print (a > b ? "stickwire ahead" : "haproxy ahead") " on req/s, " (x < y ? "stickwire" : "haproxy") " lower p99" }')
echo "(best = highest req/s of each system; $verdict)"

if [ "$flood" = 1 ]; then
    echo
    echo "== under the flood ($flood_rate SYN/s for $flood_paced s, then flat out${flood_flat_rate:+ at most $flood_flat_rate SYN/s} for $flood_flat s): share of the run's own pre-flood req/s"
    printf '%-14s %10s %10s %10s %16s %14s\n' run paced "flat out" after "errors during" "errors after"
    for i in "${!names[@]}"; do
        read -r fp ff fa fe fae <<<"${floods[$i]}"
        share() { awk -v x="$1" -v b="${rps[$i]}" 'BEGIN { printf "%.0f%%", 100 * x / b }'; }
        printf '%-14s %10s %10s %10s %16s %14s\n' "${names[$i]}" "$(share "$fp")" "$(share "$ff")" "$(share "$fa")" "$fe" "$fae"
    done
fi

if [ -n "${COMPARE_JSON:-}" ]; then
    {
        printf '{\n  "command": "%s",\n  "url": "%s",\n  "seconds": %s,\n  "connections": %s,\n  "threads": %s,\n  "warmup_seconds": %s,\n  "pinned": %s,\n  "idle": "%s",\n' \
            "scripts/compare-haproxy.sh $secs $conns" "$url" "$secs" "$conns" "$threads" "$warmup" "$([ -n "$on_rest" ] && echo true || echo false)" \
            "$idle_used"
        printf '  "machine": "%s",\n  "commit": "%s",\n  "runs": [\n' \
            "$(uname -srm), $(nproc) cores" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo -dirty)"
        for i in "${!names[@]}"; do
            printf '    {"system": "%s", "round": %s, "requests_per_sec": %s, "p50_ms": %s, "p99_ms": %s, "socket_errors": %s, "non_2xx": %s, "background_busy_pct": %s}%s\n' \
                "${names[$i]%%#*}" "${names[$i]##*#}" "${rps[$i]}" "${p50[$i]}" "${p99[$i]}" "${errs[$i]}" "${non2xx[$i]}" "${busy[$i]}" \
                "$([ "$i" -lt $((${#names[@]} - 1)) ] && echo ,)"
        done
        printf '  ],\n  "best": {\n'
        for sys in stickwire haproxy; do
            i=$([ $sys = stickwire ] && echo "$bs" || echo "$bh")
            printf '    "%s": {"round": %s, "requests_per_sec": %s, "p50_ms": %s, "p99_ms": %s, "socket_errors": %s}%s\n' \
                "$sys" "${names[$i]##*#}" "${rps[$i]}" "${p50[$i]}" "${p99[$i]}" "${errs[$i]}" "$([ $sys = stickwire ] && echo ,)"
        done
        printf '  }\n}\n'
    } >"$COMPARE_JSON"
    echo "JSON: $COMPARE_JSON"
fi
