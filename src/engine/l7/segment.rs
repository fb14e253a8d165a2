//! The TCP segments the switch writes itself (SYN-ACKs, ACKs, SYNs, the held request, RSTs),
//! into a frame it reuses or a fresh one, and the in-place rewrite of a spliced segment.

use std::net::Ipv4Addr;

use super::splice::Moves;
use crate::engine::answer::DEFAULT_TTL;
use crate::engine::DropReason;
use crate::wire::buffer::FrameBuf;
use crate::wire::checksum::Delta;
use crate::wire::{ethernet, ipv4, tcp};

/// The options of a segment the switch writes (laid out as Linux does, by
/// [`tcp::TcpRepr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
}

/// A segment the switch writes: its addresses, and the TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Out<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: Options,
    pub payload: &'a [u8],
}

impl Out<'_> {
    fn repr(&self) -> tcp::TcpRepr<'_> {
        tcp::TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: self.flags,
            window_len: self.window,
            max_seg_size: self.options.mss,
            window_scale: self.options.window_scale,
            sack_permitted: self.options.sack_permitted,
            timestamps: self.options.timestamps.map(|(tsval, tsecr)| tcp::Timestamps { tsval, tsecr }),
            payload: self.payload,
        }
    }
}

/// Writes `seg` as the IPv4 packet of `frame`, after an untagged Ethernet header whose
/// addresses the IP layer fills in when it routes the frame. The frame is resized; false,
/// leaving it unusable, when the buffer has no room.
pub fn write<B: FrameBuf>(frame: &mut B, seg: &Out<'_>) -> bool {
    let repr = seg.repr();
    let l2 = ethernet::HEADER_LEN;
    if !frame.try_resize(l2 + ipv4::HEADER_LEN + repr.buffer_len()) {
        return false;
    }
    let bytes = frame.as_mut();
    ethernet::Frame::new_unchecked(&mut *bytes).set_ethertype(ethernet::ethertype::IPV4);
    repr.emit_ipv4(seg.src, seg.dst, DEFAULT_TTL, &mut bytes[l2..]).is_ok()
}

/// How a spliced segment changes on its way through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splicing {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
    /// The new sequence number (`None`: unchanged).
    pub seq: Option<u32>,
    /// The new acknowledgment number (`None`: unchanged).
    pub ack: Option<u32>,
    /// The new window field (`None`: unchanged).
    pub window: Option<u16>,
    /// Timestamps.
    pub options: tcp::OptionEdits,
    /// SACK edges move from the client's sequence space to the server's, by `moves`
    /// (else they pass as they are).
    pub sack_to_server: bool,
    /// How the connection's numbers move.
    pub moves: Moves,
}

/// Rewrites a spliced segment in place: the IPv4 packet `bytes[l2..end]` whose TCP header
/// is at `l4`. Addresses, ports, sequence and acknowledgment numbers, window and options
/// change, the TTL goes down by one, and both checksums follow incrementally. Refused when
/// the TTL runs out.
pub fn rewrite(bytes: &mut [u8], l2: usize, l4: usize, end: usize, s: &Splicing) -> Result<(), DropReason> {
    let mut ip = ipv4::Packet::new_unchecked(&mut bytes[l2..end]);
    let ttl = ip.ttl();
    if ttl <= 1 {
        return Err(DropReason::TtlExpired);
    }
    let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
    let addrs = Delta::default()
        .replace32(u32::from(old_src), u32::from(s.src))
        .replace32(u32::from(old_dst), u32::from(s.dst));
    let ttl_word = |ttl: u8| u16::from_be_bytes([ttl, ipv4::protocol::TCP]);
    let ip_sum = addrs.replace16(ttl_word(ttl), ttl_word(ttl - 1)).apply(ip.checksum());
    ip.set_src_addr(s.src);
    ip.set_dst_addr(s.dst);
    ip.set_ttl(ttl - 1);
    ip.set_checksum(ip_sum);

    let mut seg = tcp::Packet::new_unchecked(&mut bytes[l4..end]);
    let mut delta = addrs.replace16(seg.src_port(), s.src_port).replace16(seg.dst_port(), s.dst_port);
    seg.set_src_port(s.src_port);
    seg.set_dst_port(s.dst_port);
    if let Some(seq) = s.seq {
        delta = delta.replace32(seg.seq_number(), seq);
        seg.set_seq_number(seq);
    }
    if let Some(ack) = s.ack {
        delta = delta.replace32(seg.ack_number(), ack);
        seg.set_ack_number(ack);
    }
    if let Some(window) = s.window {
        delta = delta.replace16(seg.window_len(), window);
        seg.set_window_len(window);
    }
    let map_sack = |edge: u32| if s.sack_to_server { s.moves.client_ack_to_server(edge) } else { edge };
    if let Ok(options) = tcp::rewrite_options(seg.options_mut(), &s.options, map_sack) {
        delta = delta.and(options);
    }
    let sum = delta.apply(seg.checksum());
    seg.set_checksum(sum);
    Ok(())
}

/// Inserts `line` into the payload of the TCP segment `bytes[l4..end]` (an IPv4 packet from
/// `l2`) at payload offset `at`, growing the frame, and fixes the lengths and both checksums
/// (the TCP sum is taken anew: this happens once per connection). False when the frame has
/// no room.
pub fn insert<B: FrameBuf>(frame: &mut B, l2: usize, l4: usize, end: usize, at: usize, line: &[u8]) -> bool {
    let old_len = frame.as_ref().len();
    let tail_len = old_len - end;
    if !frame.try_resize(old_len + line.len()) {
        return false;
    }
    let bytes = frame.as_mut();
    let header_len = usize::from(tcp::Packet::new_unchecked(&bytes[l4..end]).header_len());
    let at = l4 + header_len + at;
    // Ethernet padding, if any, stays at the end (it is cut off below).
    bytes.copy_within(at..old_len, at + line.len());
    bytes[at..at + line.len()].copy_from_slice(line);
    let end = end + line.len();
    let mut ip = ipv4::Packet::new_unchecked(&mut bytes[l2..end]);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    ip.set_total_len((end - l2) as u16);
    ip.fill_checksum();
    tcp::Packet::new_unchecked(&mut bytes[l4..end]).fill_checksum(src, dst);
    frame.truncate(old_len + line.len() - tail_len);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn parse(frame: &[u8]) -> (ipv4::Packet<&[u8]>, usize) {
        let ip = ipv4::Packet::new_checked(&frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        let l4 = 14 + usize::from(ip.header_len());
        (ip, l4)
    }

    #[test]
    fn a_syn_ack_is_laid_out_as_linux_does_and_sums_right() {
        let mut frame = Vec::new();
        let options =
            Options { mss: Some(1460), window_scale: Some(7), sack_permitted: true, timestamps: Some((7, 9)) };
        let seg = Out {
            src: A,
            dst: B,
            src_port: 80,
            dst_port: 40000,
            seq: 1,
            ack: 2,
            flags: 0x12,
            window: 65160,
            options,
            payload: b"",
        };
        assert!(write(&mut frame, &seg));
        let (ip, _) = parse(&frame);
        let t = tcp::Packet::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum(A, B));
        assert_eq!(t.options(), [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 3, 3, 7]);
        let no_ts = Options { timestamps: None, ..options };
        assert!(write(&mut frame, &Out { options: no_ts, payload: b"hello", ..seg }));
        let (ip, _) = parse(&frame);
        let t = tcp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!((t.options(), t.payload()), (&[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7][..], &b"hello"[..]));
        assert!(t.verify_checksum(A, B));
    }

    #[test]
    fn a_rewrite_keeps_both_checksums_right() {
        let mut frame = Vec::new();
        let options = Options { timestamps: Some((100, 200)), ..Options::default() };
        let seg = Out {
            src: B,
            dst: A,
            src_port: 40000,
            dst_port: 80,
            seq: 5,
            ack: 6,
            flags: 0x10,
            window: 501,
            options,
            payload: b"GET /",
        };
        write(&mut frame, &seg);
        let end = frame.len();
        let s = Splicing {
            src: Ipv4Addr::new(198, 18, 1, 1),
            src_port: 1025,
            dst: Ipv4Addr::new(198, 18, 1, 10),
            dst_port: 8080,
            seq: None,
            ack: Some(0xdead_beef),
            window: Some(9),
            options: tcp::OptionEdits { ts_ecr_add: 5u32.wrapping_neg(), ..Default::default() },
            sack_to_server: false,
            moves: Moves::default(),
        };
        rewrite(&mut frame, 14, 34, end, &s).unwrap();
        let (ip, l4) = parse(&frame);
        let t = tcp::Packet::new_checked(&frame[l4..]).unwrap();
        assert!(t.verify_checksum(ip.src_addr(), ip.dst_addr()), "incremental TCP checksum");
        assert_eq!((t.dst_port(), t.seq_number(), t.ack_number(), t.window_len()), (8080, 5, 0xdead_beef, 9));
        assert_eq!(&t.options()[4..], [0, 0, 0, 100, 0, 0, 0, 195]);
        assert_eq!(ip.ttl(), DEFAULT_TTL - 1);
    }

    #[test]
    fn an_inserted_line_lands_in_the_payload_with_good_sums() {
        let mut frame = Vec::new();
        let body = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let seg = Out {
            src: A,
            dst: B,
            src_port: 80,
            dst_port: 4,
            seq: 1,
            ack: 1,
            flags: 0x18,
            window: 1,
            options: Options::default(),
            payload: body,
        };
        write(&mut frame, &seg);
        frame.extend_from_slice(&[0; 4]); // Ethernet padding
        let end = frame.len() - 4;
        let line = b"Set-Cookie: ServerID=rs1; Path=/\r\n";
        assert!(insert(&mut frame, 14, 34, end, 17, line));
        let (ip, l4) = parse(&frame);
        assert_eq!(frame.len(), 14 + usize::from(ip.total_len()), "padding cut");
        let t = tcp::Packet::new_checked(&frame[l4..]).unwrap();
        assert!(t.verify_checksum(A, B));
        assert_eq!(t.payload(), b"HTTP/1.1 200 OK\r\nSet-Cookie: ServerID=rs1; Path=/\r\nContent-Length: 0\r\n\r\n");
    }
}
