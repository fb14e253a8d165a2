#!/usr/bin/env python3
"""One keep-alive HTTP connection, driven line by line on stdin, for the blind-RST tests.

    keepalive-client.py SRC_IP SRC_PORT DST_IP DST_PORT

Each `get` line sends a request on the connection and prints `ok <first word of the
body>` (the backends answer with their name), or `reset`, `closed` or `timeout` and stops.
After every `ok` it prints `seq N`: the connection's next sequence number, read with
TCP_REPAIR as CRIU does (needs CAP_NET_ADMIN), so that a test can aim an RST exactly.
"""
import socket
import struct
import sys

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, TCP_SEND_QUEUE = 19, 20, 21, 2
TCP_REPAIR_OFF_NO_WP = -1  # leave repair mode without sending a window probe


def next_seq(s):
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    seq = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)
    return seq


def get(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        if not more:
            return "closed"
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    lengths = [l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    length = int(lengths[0]) if lengths else 0
    while len(body) < length:
        more = s.recv(65536)
        if not more:
            return "closed"
        body += more
    words = body.split()
    return "ok " + (words[0].decode(errors="replace") if words else "")


def main():
    src_ip, src_port, dst_ip, dst_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src_ip, src_port))
    s.settimeout(5)
    s.connect((dst_ip, dst_port))
    for line in sys.stdin:
        if line.strip() != "get":
            print("error: unknown command " + line.strip()[:40], flush=True)
            continue
        try:
            outcome = get(s)
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "timeout"
        print(outcome, flush=True)
        if not outcome.startswith("ok"):
            break
        print("seq", next_seq(s), flush=True)


if __name__ == "__main__":
    main()
