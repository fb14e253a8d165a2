#!/usr/bin/env bash
# The reference test topology (see README):
#
#   sw-client            sw-lb (the switch, on DPDK af_packet)         sw-servers
#   c0 198.18.0.2/24 ---- l0 [198.18.0.1, VIP 198.18.0.100]
#      .3-.50 more                        [198.18.1.1] l1 ---------- s0 198.18.1.10/.11/.12/24
#      gw 198.18.0.1                                                    gw 198.18.1.1
#
# l0 and l1 have no kernel addresses: the switch owns 198.18.0.1, 198.18.1.1 and the VIP.
# Usage: scripts/netns.sh up|down
#        scripts/netns.sh arms dpdk|kernel   (who gets l0/l1's frames; `up` gives them to DPDK)
set -euo pipefail

up() {
    down 2>/dev/null || true
    for ns in sw-client sw-lb sw-servers; do ip netns add "$ns"; done
    ip link add c0 netns sw-client type veth peer name l0 netns sw-lb
    ip link add s0 netns sw-servers type veth peer name l1 netns sw-lb

    # Fixed MACs, so captures recorded here replay with the default config MACs
    # (02:53:57:00:00:01 and :02 are what `replay` gives the switch's ports).
    ip -n sw-client link set c0 address 02:00:00:00:00:02
    ip -n sw-servers link set s0 address 02:00:00:00:01:10
    ip -n sw-lb link set l0 address 02:53:57:00:00:01
    ip -n sw-lb link set l1 address 02:53:57:00:00:02

    ip -n sw-client addr add 198.18.0.2/24 dev c0
    for i in $(seq 3 50); do ip -n sw-client addr add "198.18.0.$i/24" dev c0; done
    ip -n sw-servers addr add 198.18.1.10/24 dev s0
    ip -n sw-servers addr add 198.18.1.11/24 dev s0
    ip -n sw-servers addr add 198.18.1.12/24 dev s0

    for ns in sw-client sw-lb sw-servers; do ip -n "$ns" link set lo up; done
    ip -n sw-client link set c0 up
    ip -n sw-servers link set s0 up
    # The switch's arms: up, no addresses, no IPv6 chatter, no offloads that would hand
    # af_packet frames with unfinished checksums or merged segments.
    for dev in l0 l1; do
        ip netns exec sw-lb sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
        ip -n sw-lb link set "$dev" up
        ip netns exec sw-lb ethtool -K "$dev" tx off rx off gso off gro off tso off >/dev/null 2>&1 || true
    done
    arms dpdk || echo "netns.sh: warning: the arms' frames still reach sw-lb's kernel (nft failed); it only costs CPU" >&2
    for pair in "sw-client c0" "sw-servers s0"; do
        set -- $pair
        ip netns exec "$1" ethtool -K "$2" tx off gso off tso off >/dev/null 2>&1 || true
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
    done
    ip -n sw-client route add default via 198.18.0.1
    ip -n sw-servers route add default via 198.18.1.1
}

# `dpdk`: the arms' frames end at the kernel's ingress hook, after af_packet (the switch's
# DPDK port) took its copy, as a NIC bound to DPDK never hands a frame to the kernel. Without
# it the kernel of sw-lb, which has no address there, ran every frame through IP input and a
# failed route lookup: about 8 % of the box's CPU under a 200 k/s SYN flood (perf, 2 cores).
# `kernel`: the kernel gets them (a kernel load balancer such as HAProxy on the arms).
arms() {
    case "$1" in
        dpdk) ip netns exec sw-lb nft -f - <<'NFT' ;;
add table netdev sw_arms
delete table netdev sw_arms
table netdev sw_arms {
    chain l0 { type filter hook ingress device "l0" priority 0; policy drop; }
    chain l1 { type filter hook ingress device "l1" priority 0; policy drop; }
}
NFT
        kernel) ip netns exec sw-lb nft delete table netdev sw_arms 2>/dev/null || true ;;
        *) echo "usage: $0 arms dpdk|kernel" >&2; exit 2 ;;
    esac
}

down() {
    for ns in sw-client sw-lb sw-servers; do ip netns del "$ns" 2>/dev/null || true; done
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    arms) arms "${2:-}" ;;
    *) echo "usage: $0 up|down|arms dpdk|kernel" >&2; exit 2 ;;
esac
