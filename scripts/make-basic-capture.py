#!/usr/bin/env python3
"""Builds pcaps/basic/in.pcap: what a real Linux client sent to the switch (recorded with
tcpdump on c0 in the reference topology: arping, ping, a SYN to a closed VIP port, a SYN to
the switch's own address, UDP to the VIP), then frames no healthy host sends: an echo from a
neighbour the switch has not met and that neighbour's ARP answer, a VLAN-tagged ARP request,
and garbage (runt frames, bad IHL, total length beyond the frame, truncated ARP, IPv6,
random bytes). Standard library only; the random bytes come from a fixed seed.

usage: scripts/make-basic-capture.py pcaps/basic/recorded-client.pcap pcaps/basic/in.pcap
"""
import random
import struct
import sys

SWITCH = bytes.fromhex("025357000001")
STRANGER = bytes.fromhex("02cc00000009")
BCAST = b"\xff" * 6


def read_pcap(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xA1B2C3D4, "expects a little-endian microsecond pcap from tcpdump"
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[off : off + 16])
        frames.append((sec * 1_000_000 + usec, data[off + 16 : off + 16 + incl]))
        off += 16 + incl
    return frames


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, frame in frames:
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip(src, dst, proto, payload, ihl=5, total=None):
    total = 20 + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0, 0x4000, 64, proto, 0, bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def echo(ident, seq):
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"stickwire"
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, bytes(spa), tha, bytes(tpa))


def eth(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def main(recorded, out):
    frames = read_pcap(recorded)
    client_mac = frames[0][1][6:12]
    t = frames[-1][0]
    me, vip, client, stranger = (198, 18, 0, 1), (198, 18, 0, 100), (198, 18, 0, 2), (198, 18, 0, 9)
    rng = random.Random(20261129)
    extra = [
        # An echo from a neighbour the switch never met: the reply waits for ARP...
        eth(SWITCH, STRANGER, 0x0800, ip(stranger, me, 1, echo(0x5757, 1))),
        # ...which the stranger answers.
        eth(SWITCH, STRANGER, 0x0806, arp(2, STRANGER, stranger, SWITCH, me)),
        # A VLAN-tagged ARP request for the VIP: answered, tag kept.
        BCAST + client_mac + struct.pack("!HHH", 0x8100, 7, 0x0806) + arp(1, client_mac, client, b"\0" * 6, vip),
        # Garbage.
        b"\x02\x53",  # runt
        SWITCH + client_mac + b"\x08",  # runt: 13 bytes
        eth(SWITCH, client_mac, 0x0800, b"\x44" + ip(client, me, 1, echo(1, 1))[1:]),  # IHL 4
        eth(SWITCH, client_mac, 0x0800, ip(client, me, 1, echo(1, 2), total=1400)),  # total length beyond frame
        eth(BCAST, client_mac, 0x0806, arp(1, client_mac, client, b"\0" * 6, vip)[:20]),  # truncated ARP
        eth(SWITCH, client_mac, 0x86DD, bytes.fromhex("6000000000083a40") + b"\xfe\x80" + b"\0" * 30 + b"\x80\0\0\0\0\0\0\0"),  # IPv6
        bytes(rng.randrange(256) for _ in range(60)),  # random
        SWITCH + bytes(rng.randrange(256) for _ in range(100)),  # random, to our MAC
    ]
    for frame in extra:
        t += 10_000
        frames.append((t, frame))
    write_pcap(out, frames)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
