#!/usr/bin/env bash
# Installs every system package stickwire's build, demo and tests need on Debian 12, and
# reserves hugepages when the kernel allows (EAL falls back to --no-huge in our configs).
# Idempotent; run as root.
set -euo pipefail

packages=(
    libdpdk-dev dpdk pkg-config libclang-dev clang   # DPDK 22.11 and bindgen's libclang
    iproute2 iputils-ping arping ethtool ncat curl    # the reference topology and its probes
    nftables                                          # ... and its arms' kernel-side drop
    tcpdump tshark libpcap-dev                        # captures
    nginx-light wrk haproxy                           # real backends, load, the reference LB
    tomcat10 python3                                  # L7 backends: Tomcat nodes, upload hashing
    python3-prometheus-client                         # the /metrics test parses with it
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# nginx-light starts a default site on :80 in the root namespace when installed, tomcat10
# a server on :8080; the tests run their own instances inside namespaces. Without a running
# systemd, `systemctl disable` still removes the unit's link and `service` stops what runs.
for svc in nginx haproxy tomcat10; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || {
        systemctl disable "$svc" >/dev/null 2>&1 || true
        service "$svc" stop >/dev/null 2>&1 || true
    }
done

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install a Rust toolchain (1.89 or newer, e.g. with rustup) first" >&2
    exit 1
fi

# Hugepages for DPDK where the kernel grants them (1 GiB of 2 MiB pages). The configs run
# with --no-huge and need none; `stickwire bench` uses them when present.
if [ -w /proc/sys/vm/nr_hugepages ] && [ "$(cat /proc/sys/vm/nr_hugepages)" -lt 512 ]; then
    echo 512 > /proc/sys/vm/nr_hugepages 2>/dev/null || true
fi
if ! grep -q hugetlbfs /proc/mounts; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs none /dev/hugepages 2>/dev/null || echo "note: no hugetlbfs mount; DPDK runs with --no-huge"
fi
