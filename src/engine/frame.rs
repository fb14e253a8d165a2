//! What a received frame is, read once through the `wire` views.
//!
//! [`Parsed::read`] checks a frame as far as any decision of the engine needs (Ethernet and
//! its destination MAC, ARP or IPv4, the IPv4 header and its checksum, the TCP or UDP
//! header that carries a flow's ports) and keeps the facts it found. Every frame goes
//! through it exactly once, in the burst's first pass, and every later step decides from
//! these facts: there is no second, faster way in that could skip a check.

use std::net::Ipv4Addr;

use super::flow::{FlowKey, PROTO_TCP, PROTO_UDP};
use super::DropReason;
use crate::wire::{ethernet, ipv4, tcp, udp, MacAddr};

/// A received frame, as far as the engine needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Dropped before anything else looks at it.
    Drop(DropReason),
    /// ARP, its packet after `l2_len` bytes of Ethernet header.
    Arp { l2_len: usize },
    /// IPv4 to this port's MAC with a good header.
    Ipv4(Ip),
}

/// The facts of an IPv4 packet with a good header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip {
    /// Where the IPv4 header starts.
    pub l2_len: usize,
    /// Where the transport header starts.
    pub l4: usize,
    /// Where the IPv4 packet ends (Ethernet padding may follow).
    pub end: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub fragment: bool,
    /// TCP or UDP, not a fragment, with a transport header that fits: what a flow is keyed
    /// by and found with.
    pub flow: Option<Transport>,
}

/// The transport facts of a TCP or UDP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transport {
    pub key: FlowKey,
    /// TCP flags (0 for UDP).
    pub flags: u8,
    /// `key` hashed for the flow table (filled by the burst's first pass).
    pub hash: u64,
}

impl Transport {
    pub fn syn(&self) -> bool {
        self.flags & tcp::flags::SYN != 0
    }
    pub fn ack(&self) -> bool {
        self.flags & tcp::flags::ACK != 0
    }
    pub fn rst(&self) -> bool {
        self.flags & tcp::flags::RST != 0
    }
    pub fn fin(&self) -> bool {
        self.flags & tcp::flags::FIN != 0
    }
    pub fn is_tcp(&self) -> bool {
        self.key.proto == PROTO_TCP
    }
}

impl Parsed {
    /// Reads `frame`, received on a port whose MAC is `port_mac`.
    #[inline(always)]
    pub fn read(frame: &[u8], port_mac: MacAddr) -> Parsed {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return Parsed::Drop(DropReason::Runt);
        };
        let dst_mac = eth.dst_addr();
        let to_port = dst_mac == port_mac;
        if !to_port && !dst_mac.is_broadcast() {
            return Parsed::Drop(DropReason::NotOurMac);
        }
        let l2_len = eth.header_len();
        match eth.ethertype() {
            ethernet::ethertype::IPV4 if to_port => read_ipv4(frame, l2_len),
            ethernet::ethertype::ARP => Parsed::Arp { l2_len },
            ethernet::ethertype::IPV4 => Parsed::Drop(DropReason::NotOurMac),
            ethernet::ethertype::IPV6 => Parsed::Drop(DropReason::Ipv6),
            _ => Parsed::Drop(DropReason::UnknownEthertype),
        }
    }
}

#[inline(always)]
fn read_ipv4(frame: &[u8], l2_len: usize) -> Parsed {
    let Ok(ip) = ipv4::Packet::new_checked(&frame[l2_len..]) else {
        return Parsed::Drop(DropReason::Ipv4Malformed);
    };
    if !ip.verify_checksum() {
        return Parsed::Drop(DropReason::Ipv4BadChecksum);
    }
    let l4 = l2_len + usize::from(ip.header_len());
    let end = l2_len + usize::from(ip.total_len());
    let (src, dst, protocol, fragment) = (ip.src_addr(), ip.dst_addr(), ip.protocol(), ip.is_fragment());
    let seg = &frame[l4..end];
    let flow = match protocol {
        _ if fragment => None,
        PROTO_TCP => tcp::Packet::new_checked(seg).ok().map(|t| (t.src_port(), t.dst_port(), t.flags())),
        PROTO_UDP => udp::Packet::new_checked(seg).ok().map(|u| (u.src_port(), u.dst_port(), 0)),
        _ => None,
    }
    .map(|(src_port, dst_port, flags)| Transport {
        key: FlowKey::new(src, src_port, dst, dst_port, protocol),
        flags,
        hash: 0,
    });
    Parsed::Ipv4(Ip { l2_len, l4, end, src, dst, protocol, fragment, flow })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{self, Segment};

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    fn tcp_frame(flags: u8) -> Vec<u8> {
        let s = Segment { src_port: 40000, dst_port: 81, flags, ..Default::default() };
        craft::tcp_frame(
            MAC,
            MacAddr([2, 0, 0, 0, 0, 9]),
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 100),
            &s,
        )
    }

    #[test]
    fn a_tcp_frame_gives_its_flow_facts() {
        let f = tcp_frame(tcp::flags::SYN);
        let Parsed::Ipv4(ip) = Parsed::read(&f, MAC) else { panic!("not read as IPv4") };
        let t = ip.flow.expect("transport facts");
        assert_eq!(t.key, FlowKey::new(Ipv4Addr::new(198, 18, 0, 2), 40000, Ipv4Addr::new(198, 18, 0, 100), 81, 6));
        assert!(t.syn() && !t.ack() && t.is_tcp());
        assert_eq!((ip.l2_len, ip.l4, ip.end), (14, 34, f.len()));
    }

    #[test]
    fn checks_come_in_order() {
        let f = tcp_frame(tcp::flags::ACK);
        assert_eq!(Parsed::read(&f[..10], MAC), Parsed::Drop(DropReason::Runt));
        assert_eq!(Parsed::read(&f, MacAddr([2, 0, 0, 0, 0, 7])), Parsed::Drop(DropReason::NotOurMac));
        let mut bad_sum = f.clone();
        bad_sum[24] ^= 1;
        assert_eq!(Parsed::read(&bad_sum, MAC), Parsed::Drop(DropReason::Ipv4BadChecksum));
        let mut short = f.clone();
        short.truncate(30);
        assert_eq!(Parsed::read(&short, MAC), Parsed::Drop(DropReason::Ipv4Malformed));
        // A TCP header cut short: still IPv4, but no flow facts.
        let mut cut = craft::ipv4(Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 100), 6, &[0u8; 10]);
        cut = craft::ethernet(MAC, MacAddr([2, 0, 0, 0, 0, 9]), ethernet::ethertype::IPV4, &cut);
        let Parsed::Ipv4(ip) = Parsed::read(&cut, MAC) else { panic!() };
        assert_eq!(ip.flow, None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Parsed::read(&bytes, MAC);
        }
    }
}
