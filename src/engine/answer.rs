//! Answers the switch writes itself: ARP replies and requests, ICMP echo replies, TCP resets.
//!
//! Replies are written in place over the frame that asked, so answering allocates nothing.
//! Callers have parsed the frame with the checked constructors first; these functions only
//! rewrite bytes inside the lengths those checks established.

use crate::wire::buffer::FrameBuf;
use crate::wire::{arp, checksum, ethernet, icmpv4, ipv4, tcp, MacAddr};

/// TTL of the packets the switch originates.
pub const DEFAULT_TTL: u8 = 64;

/// Builds an untagged ARP frame in a fresh buffer.
pub fn arp_frame<B: FrameBuf>(
    alloc: &mut impl FnMut() -> Option<B>,
    src: MacAddr,
    dst: MacAddr,
    repr: &arp::ArpRepr,
) -> Option<B> {
    let mut frame = alloc()?;
    if !frame.try_resize(ethernet::HEADER_LEN + arp::PACKET_LEN) {
        return None;
    }
    let bytes = frame.as_mut();
    let mut eth = ethernet::Frame::new_unchecked(&mut *bytes);
    eth.set_dst_addr(dst);
    eth.set_src_addr(src);
    eth.set_ethertype(ethernet::ethertype::ARP);
    repr.emit(&mut arp::Packet::new_unchecked(&mut bytes[ethernet::HEADER_LEN..]));
    Some(frame)
}

/// Turns an ARP request for one of our addresses into its reply; returns the frame's new
/// length (padding cut off). A VLAN tag, if any, is kept.
pub fn arp_reply_in_place(bytes: &mut [u8], l2_len: usize, our_mac: MacAddr, request: &arp::ArpRepr) -> usize {
    let reply = arp::ArpRepr {
        operation: arp::op::REPLY,
        sender_hw: our_mac,
        sender_ip: request.target_ip,
        target_hw: request.sender_hw,
        target_ip: request.sender_ip,
    };
    let mut eth = ethernet::Frame::new_unchecked(&mut *bytes);
    eth.set_dst_addr(request.sender_hw);
    eth.set_src_addr(our_mac);
    reply.emit(&mut arp::Packet::new_unchecked(&mut bytes[l2_len..]));
    l2_len + arp::PACKET_LEN
}

/// Turns an ICMP echo request (the IPv4 packet, `total_len` bytes) into its reply.
pub fn echo_reply_in_place(ip_bytes: &mut [u8]) {
    let mut ip = ipv4::Packet::new_unchecked(&mut *ip_bytes);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    // Swapping the addresses leaves the header's sum as it was; only the TTL changes it.
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    let old_ttl_word = u16::from_be_bytes([ip.ttl(), ip.protocol()]);
    ip.set_ttl(DEFAULT_TTL);
    let sum = checksum::update16(ip.checksum(), old_ttl_word, u16::from_be_bytes([DEFAULT_TTL, ip.protocol()]));
    ip.set_checksum(sum);
    let header_len = ip.header_len() as usize;
    let mut icmp = icmpv4::Packet::new_unchecked(&mut ip_bytes[header_len..]);
    let old = u16::from_be_bytes([icmp.msg_type(), icmp.code()]);
    icmp.set_msg_type(icmpv4::msg_type::ECHO_REPLY);
    let new = u16::from_be_bytes([icmp.msg_type(), icmp.code()]);
    // Only the type changed: RFC 1624 update instead of a sum over the payload.
    let sum = checksum::update16(icmp.checksum(), old, new);
    icmp.set_checksum(sum);
}

/// Turns a TCP segment (`ip_bytes` from the IP header on, the segment after `header_len`)
/// into the RST that refuses it (RFC 9293 3.10.7.1); returns the new IP packet's length.
/// IP options and TCP options and data are dropped: the reset is 40 bytes.
pub fn reset_in_place(ip_bytes: &mut [u8], header_len: usize) -> usize {
    let ip = ipv4::Packet::new_unchecked(&*ip_bytes);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let seg = tcp::Packet::new_unchecked(&ip_bytes[header_len..]);
    let (src_port, dst_port) = (seg.src_port(), seg.dst_port());
    let seg_len = seg.payload().len() as u32 + u32::from(seg.syn()) + u32::from(seg.fin());
    let (seq, ack, flags) = if seg.ack() {
        (seg.ack_number(), 0, tcp::flags::RST)
    } else {
        (0, seg.seq_number().wrapping_add(seg_len), tcp::flags::RST | tcp::flags::ACK)
    };

    let len = ipv4::HEADER_LEN + tcp::HEADER_LEN;
    let repr = ipv4::Ipv4Repr {
        src_addr: dst,
        dst_addr: src,
        protocol: ipv4::protocol::TCP,
        payload_len: tcp::HEADER_LEN,
        ttl: DEFAULT_TTL,
    };
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut ip_bytes[..len]));
    let mut rst = tcp::Packet::new_unchecked(&mut ip_bytes[ipv4::HEADER_LEN..len]);
    rst.set_src_port(dst_port);
    rst.set_dst_port(src_port);
    rst.set_seq_number(seq);
    rst.set_ack_number(ack);
    rst.set_header_len(tcp::HEADER_LEN as u8);
    rst.set_flags(flags);
    rst.set_window_len(0);
    rst.set_urgent_at(0);
    rst.fill_checksum(dst, src);
    len
}
