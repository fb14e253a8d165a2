//! Building whole frames from a few fields: for tests, the benchmark's traffic and the
//! generator of test captures. Allocates freely; never used on the data path.

use std::net::Ipv4Addr;

use crate::wire::{arp, checksum, ethernet, icmpv4, ipv4, tcp, MacAddr};

/// An untagged Ethernet frame.
pub fn ethernet(dst: MacAddr, src: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(ethernet::HEADER_LEN + payload.len());
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet frame with one 802.1Q tag.
pub fn ethernet_tagged(dst: MacAddr, src: MacAddr, vlan: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(4 + payload.len());
    inner.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    inner.extend_from_slice(&ethertype.to_be_bytes());
    inner.extend_from_slice(payload);
    ethernet(dst, src, ethernet::ethertype::VLAN, &inner)
}

/// An Ethernet/IPv4 ARP packet (28 bytes).
pub fn arp(
    operation: u16,
    sender_hw: MacAddr,
    sender_ip: Ipv4Addr,
    target_hw: MacAddr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut p = vec![0u8; arp::PACKET_LEN];
    arp::ArpRepr { operation, sender_hw, sender_ip, target_hw, target_ip }
        .emit(&mut arp::Packet::new_unchecked(&mut p));
    p
}

/// An ARP request from `sender` asking for `target`, broadcast.
pub fn arp_request_frame(sender_hw: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let payload = arp(arp::op::REQUEST, sender_hw, sender_ip, MacAddr::ZERO, target_ip);
    ethernet(MacAddr::BROADCAST, sender_hw, ethernet::ethertype::ARP, &payload)
}

/// An IPv4 packet with a 20-byte header, TTL 64, DF, and a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    let repr = ipv4::Ipv4Repr { src_addr: src, dst_addr: dst, protocol, payload_len: payload.len(), ttl: 64 };
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut p));
    p[ipv4::HEADER_LEN..].copy_from_slice(payload);
    p
}

/// An ICMP echo request with a correct checksum.
pub fn icmp_echo_request(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 8 + data.len()];
    p[0] = icmpv4::msg_type::ECHO_REQUEST;
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..].copy_from_slice(data);
    let sum = checksum::data(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The fields of a TCP segment to build.
#[derive(Debug, Clone, Default)]
pub struct Segment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Raw option bytes, a multiple of 4 long.
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

/// A TCP segment with a correct checksum for `src` -> `dst`.
pub fn tcp(src: Ipv4Addr, dst: Ipv4Addr, s: &Segment) -> Vec<u8> {
    let header_len = tcp::HEADER_LEN + s.options.len();
    let mut p = vec![0u8; header_len + s.payload.len()];
    p[0..2].copy_from_slice(&s.src_port.to_be_bytes());
    p[2..4].copy_from_slice(&s.dst_port.to_be_bytes());
    p[4..8].copy_from_slice(&s.seq.to_be_bytes());
    p[8..12].copy_from_slice(&s.ack.to_be_bytes());
    p[12] = ((header_len / 4) as u8) << 4;
    p[13] = s.flags;
    p[14..16].copy_from_slice(&s.window.to_be_bytes());
    p[tcp::HEADER_LEN..header_len].copy_from_slice(s.options);
    p[header_len..].copy_from_slice(s.payload);
    tcp::Packet::new_unchecked(&mut p).fill_checksum(src, dst);
    p
}

/// A whole Ethernet/IPv4/TCP frame.
pub fn tcp_frame(dst_mac: MacAddr, src_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, s: &Segment) -> Vec<u8> {
    let ip = ipv4(src, dst, ipv4::protocol::TCP, &tcp(src, dst, s));
    ethernet(dst_mac, src_mac, ethernet::ethertype::IPV4, &ip)
}

/// A whole Ethernet/IPv4/ICMP echo request frame.
pub fn echo_frame(dst_mac: MacAddr, src_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16) -> Vec<u8> {
    let ip = ipv4(src, dst, ipv4::protocol::ICMP, &icmp_echo_request(ident, seq, b"stickwire-ping-payload-0123456789"));
    ethernet(dst_mac, src_mac, ethernet::ethertype::IPV4, &ip)
}

/// A whole Ethernet/IPv4/UDP frame (checksum left zero: none).
pub fn udp_frame(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let ip = ipv4(src, dst, ipv4::protocol::UDP, &u);
    ethernet(dst_mac, src_mac, ethernet::ethertype::IPV4, &ip)
}
