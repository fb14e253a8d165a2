//! Captures of TCP conversations written segment by segment, as tcpdump at the client would
//! have recorded them (options as Linux sends them: MSS, SACK, timestamps, window scale).

use std::net::SocketAddrV4;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapWriter};

use crate::craft;
use crate::wire::tcp::flags::{ACK, FIN, PSH, SYN};
use crate::wire::MacAddr;

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);
const SERVER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x51]);
const MSS: usize = 1448;

/// One conversation's frames.
pub struct Script {
    client: SocketAddrV4,
    server: SocketAddrV4,
    c_isn: u32,
    s_isn: u32,
    /// Bytes each side sent (the end of its stream so far) and acknowledged of the other.
    c_len: u32,
    s_len: u32,
    c_acked: u32,
    s_acked: u32,
    ms: u64,
    frames: Vec<(Duration, Vec<u8>)>,
}

impl Script {
    pub fn new(client: &str, server: &str) -> Script {
        let (client, server): (SocketAddrV4, SocketAddrV4) = (client.parse().unwrap(), server.parse().unwrap());
        // Different conversations get different ISNs, as they would.
        let c_isn = 0x1000_0000 ^ u32::from(client.port()) << 12;
        Script {
            client,
            server,
            c_isn,
            s_isn: 0xa000_0000 ^ u32::from(client.port()) << 8,
            c_len: 0,
            s_len: 0,
            c_acked: 0,
            s_acked: 0,
            ms: 0,
            frames: Vec::new(),
        }
    }

    /// The next frame is at `ms` milliseconds.
    pub fn at(&mut self, ms: u64) {
        self.ms = ms;
    }

    pub fn time_ms(&self) -> u64 {
        self.ms
    }

    fn push(&mut self, from_client: bool, seq: u32, ack: u32, flags: u8, options: &[u8], payload: &[u8]) {
        let (src, dst, src_mac, dst_mac) = if from_client {
            (self.client, self.server, CLIENT_MAC, SERVER_MAC)
        } else {
            (self.server, self.client, SERVER_MAC, CLIENT_MAC)
        };
        let seg = craft::Segment {
            src_port: src.port(),
            dst_port: dst.port(),
            seq,
            ack,
            flags,
            window: 502,
            options,
            payload,
        };
        let frame = craft::tcp_frame(dst_mac, src_mac, *src.ip(), *dst.ip(), &seg);
        self.frames.push((Duration::from_millis(self.ms), frame));
        self.ms += 1;
    }

    fn timestamps(&self, from_client: bool) -> Vec<u8> {
        let (val, ecr) = if from_client {
            (self.ms as u32, self.ms as u32 + 7_000)
        } else {
            (self.ms as u32 + 7_000, self.ms as u32)
        };
        let mut o = vec![1, 1, 8, 10];
        o.extend_from_slice(&val.to_be_bytes());
        o.extend_from_slice(&ecr.to_be_bytes());
        o
    }

    fn syn_options(&self, from_client: bool) -> Vec<u8> {
        let ts = &self.timestamps(from_client)[2..];
        let mut o = vec![2, 4, 0x05, 0xb4, 4, 2];
        o.extend_from_slice(ts);
        o.extend_from_slice(&[1, 3, 3, 7]);
        o
    }

    pub fn handshake(&mut self) {
        let o = self.syn_options(true);
        self.push(true, self.c_isn, 0, SYN, &o, b"");
        let o = self.syn_options(false);
        self.push(false, self.s_isn, self.c_isn.wrapping_add(1), SYN | ACK, &o, b"");
        let o = self.timestamps(true);
        self.push(true, self.c_isn.wrapping_add(1), self.s_isn.wrapping_add(1), ACK, &o, b"");
    }

    fn c_ack(&self) -> u32 {
        self.s_isn.wrapping_add(1).wrapping_add(self.s_acked)
    }

    fn s_ack(&self) -> u32 {
        self.c_isn.wrapping_add(1).wrapping_add(self.c_acked)
    }

    pub fn client_sends(&mut self, data: &[u8]) {
        for chunk in data.chunks(MSS) {
            let o = self.timestamps(true);
            let seq = self.c_isn.wrapping_add(1).wrapping_add(self.c_len);
            self.push(true, seq, self.c_ack(), ACK | PSH, &o, chunk);
            self.c_len += chunk.len() as u32;
        }
    }

    pub fn server_sends(&mut self, data: &[u8]) {
        for chunk in data.chunks(MSS) {
            let at = self.s_len;
            self.server_sends_at(at as usize, chunk);
        }
    }

    /// One server segment at stream offset `at` (out of order, again, overlapping).
    pub fn server_sends_at(&mut self, at: usize, data: &[u8]) {
        let o = self.timestamps(false);
        let seq = self.s_isn.wrapping_add(1).wrapping_add(at as u32);
        self.push(false, seq, self.s_ack(), ACK | PSH, &o, data);
        self.s_len = self.s_len.max((at + data.len()) as u32);
    }

    /// The client acknowledges everything the server sent.
    pub fn client_acks(&mut self) {
        self.s_acked = self.s_len;
        let o = self.timestamps(true);
        let seq = self.c_isn.wrapping_add(1).wrapping_add(self.c_len);
        self.push(true, seq, self.c_ack(), ACK, &o, b"");
    }

    /// The server acknowledges everything the client sent.
    pub fn server_acks(&mut self) {
        self.c_acked = self.c_len;
        let o = self.timestamps(false);
        let seq = self.s_isn.wrapping_add(1).wrapping_add(self.s_len);
        self.push(false, seq, self.s_ack(), ACK, &o, b"");
    }

    /// A handshake, a request, its response.
    pub fn exchange(&mut self, request: &[u8], response: &[u8]) {
        self.handshake();
        self.client_sends(request);
        self.server_acks();
        self.server_sends(response);
        self.client_acks();
    }

    /// The client closes, the server closes, the client's last ACK.
    pub fn close(&mut self) {
        self.s_acked = self.s_len;
        let o = self.timestamps(true);
        let c_seq = self.c_isn.wrapping_add(1).wrapping_add(self.c_len);
        self.push(true, c_seq, self.c_ack(), FIN | ACK, &o, b"");
        self.c_acked = self.c_len + 1;
        let o = self.timestamps(false);
        let s_seq = self.s_isn.wrapping_add(1).wrapping_add(self.s_len);
        self.push(false, s_seq, self.s_ack(), FIN | ACK, &o, b"");
        self.s_acked = self.s_len + 1;
        let o = self.timestamps(true);
        self.push(true, c_seq.wrapping_add(1), self.c_ack(), ACK, &o, b"");
    }

    pub fn frames(&self) -> Vec<(Duration, Vec<u8>)> {
        self.frames.clone()
    }

    pub fn pcap(&self) -> Vec<u8> {
        pcap(&self.frames)
    }
}

/// An HTTP response with `body_len` bytes of body.
pub fn http_response(status: u16, headers: &str, body_len: usize) -> Vec<u8> {
    let mut r =
        format!("HTTP/1.1 {status} OK\r\nContent-Length: {body_len}\r\n{headers}Content-Type: text/plain\r\n\r\n")
            .into_bytes();
    r.extend((0..body_len).map(|i| b'a' + (i % 26) as u8));
    r
}

/// A pcap of `frames`, whole.
pub fn pcap(frames: &[(Duration, Vec<u8>)]) -> Vec<u8> {
    pcap_cut(frames, usize::MAX)
}

/// A pcap of `frames`, each cut to `snaplen` bytes as tcpdump -s would.
pub fn pcap_cut(frames: &[(Duration, Vec<u8>)], snaplen: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut w = PcapWriter::new(&mut bytes).unwrap();
    for (t, f) in frames {
        let kept = &f[..f.len().min(snaplen)];
        w.write_packet(&PcapPacket::new(*t, f.len() as u32, kept)).unwrap();
    }
    w.into_writer();
    bytes
}

/// A UDP datagram (DNS, say), at `ms`.
pub fn udp_frame(ms: u64) -> (Duration, Vec<u8>) {
    let src = "10.1.0.5".parse().unwrap();
    let dst = "10.9.0.53".parse().unwrap();
    (Duration::from_millis(ms), craft::udp_frame(SERVER_MAC, CLIENT_MAC, src, dst, 53000, 53, b"query"))
}
