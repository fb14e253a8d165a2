#!/usr/bin/env bash
# The project's flooder (examples/flood.rs) in the reference topology: spoofed SYNs (or
# SYN-ACKs, ACKs, FINs, blind RSTs) from sw-client's c0, paced and bounded in time.
#
#   scripts/synflood.sh --to 198.18.0.100:81 [--rate 200000] [--seconds 8] [--flat-out 4]
#   scripts/synflood.sh --kind rst --to 198.18.0.100:81 --from 198.18.0.2:40000 \
#       --not-near SEQ --count 10000
#
# --kind defaults to syn; every other option is the flooder's (--help lists them). It
# refuses to run anywhere but c0 in sw-client and on any address outside 198.18.0.0/15.
# Builds it first (release) when BUILD=1 or when it is missing; FLOOD_BIN=PATH runs
# another build. Needs root and the topology up (scripts/netns.sh up).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${FLOOD_BIN:-target/release/examples/flood}
if [ "${BUILD:-0}" = 1 ] || [ ! -x "$bin" ]; then
    cargo build --quiet --release --example flood
fi
args=("$@")
case " $* " in *" --kind "*) ;; *) args=(--kind syn "${args[@]}") ;; esac
exec ip netns exec sw-client "$bin" "${args[@]}"
