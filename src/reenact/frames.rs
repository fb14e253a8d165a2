//! The frames between the re-enacted hosts and the switch: TCP segments built for it, what it
//! sends read back, and the ARP answers every host gives.
//!
//! Each host (a client, a real server, the client side's gateway) has a MAC made from its
//! address, so the switch learns them by ARP as it would on a wire.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

use crate::craft;
use crate::wire::{arp, ethernet, ipv4, tcp, MacAddr};

/// The largest IPv4 packet a re-enacted host sends: a 1500-byte MTU, as the switch's ports.
pub const MTU: usize = 1500;

/// The MAC of the re-enacted host at `ip` (locally administered, unicast).
pub fn mac_of(ip: Ipv4Addr) -> MacAddr {
    let [a, b, c, d] = ip.octets();
    MacAddr([0x02, 0x52, a, b, c, d])
}

/// A TCP segment to send, its fields as they go on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Raw option bytes, a multiple of 4 long.
    pub options: &'a [u8],
    pub payload: &'a [u8],
}

impl Outgoing<'_> {
    /// The Ethernet frame carrying it to a switch port whose MAC is `port_mac`.
    pub fn frame(&self, port_mac: MacAddr) -> Vec<u8> {
        let segment = craft::Segment {
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            options: self.options,
            payload: self.payload,
        };
        craft::tcp_frame(port_mac, mac_of(*self.src.ip()), *self.src.ip(), *self.dst.ip(), &segment)
    }
}

/// The most payload one segment with `options_len` bytes of options may carry in an MTU.
pub fn max_payload(options_len: usize) -> usize {
    MTU - ipv4::HEADER_LEN - tcp::HEADER_LEN - options_len
}

/// A TCP segment the switch sent, read back; ranges index the frame.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: Range<usize>,
    pub payload: Range<usize>,
}

/// What a frame from the switch is to the hosts.
#[derive(Debug, Clone)]
pub enum FromSwitch {
    Tcp(Received),
    /// An ARP request: who has `target`? (to answer on the port it came from).
    ArpRequest {
        sender_mac: MacAddr,
        sender_ip: Ipv4Addr,
        target: Ipv4Addr,
    },
    /// Anything else (gratuitous ARP, ICMP, ...): nothing for a host to do.
    Other,
}

/// Reads a frame the switch sent. The switch is the code under test: a frame it should never
/// send (malformed, bad checksum) is `Err` with what is wrong, never a panic.
pub fn read(frame: &[u8]) -> Result<FromSwitch, String> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|e| format!("Ethernet header: {e:?}"))?;
    let at = eth.header_len();
    match eth.ethertype() {
        ethernet::ethertype::ARP => {
            let repr = arp::Packet::new_checked(&frame[at..])
                .and_then(|p| arp::ArpRepr::parse(&p))
                .map_err(|e| format!("ARP: {e:?}"))?;
            Ok(match repr.operation {
                arp::op::REQUEST if repr.sender_ip != repr.target_ip => FromSwitch::ArpRequest {
                    sender_mac: repr.sender_hw,
                    sender_ip: repr.sender_ip,
                    target: repr.target_ip,
                },
                _ => FromSwitch::Other,
            })
        }
        ethernet::ethertype::IPV4 => read_ipv4(frame, at),
        _ => Ok(FromSwitch::Other),
    }
}

fn read_ipv4(frame: &[u8], at: usize) -> Result<FromSwitch, String> {
    let ip = ipv4::Packet::new_checked(&frame[at..]).map_err(|e| format!("IPv4 header: {e:?}"))?;
    if !ip.verify_checksum() {
        return Err("IPv4 header checksum".into());
    }
    if ip.protocol() != ipv4::protocol::TCP {
        return Ok(FromSwitch::Other);
    }
    let (header, total) = (usize::from(ip.header_len()), usize::from(ip.total_len()));
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let segment = &frame[at + header..at + total];
    let tcp = tcp::Packet::new_checked(segment).map_err(|e| format!("TCP header: {e:?}"))?;
    if !tcp.verify_checksum(src, dst) {
        return Err(format!("TCP checksum ({src}:{} -> {dst}:{})", tcp.src_port(), tcp.dst_port()));
    }
    let start = at + header;
    let payload_at = start + usize::from(tcp.header_len());
    Ok(FromSwitch::Tcp(Received {
        src: SocketAddrV4::new(src, tcp.src_port()),
        dst: SocketAddrV4::new(dst, tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        flags: tcp.flags(),
        window: tcp.window_len(),
        options: start + tcp::HEADER_LEN..payload_at,
        payload: payload_at..at + total,
    }))
}

/// The answer of the host at `target` to the switch's ARP request.
pub fn arp_reply(sender_mac: MacAddr, sender_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let payload = craft::arp(arp::op::REPLY, mac_of(target), target, sender_mac, sender_ip);
    craft::ethernet(sender_mac, mac_of(target), ethernet::ethertype::ARP, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_built_reads_back_as_sent() {
        let out = Outgoing {
            src: "10.0.0.1:40000".parse().unwrap(),
            dst: "198.18.0.100:80".parse().unwrap(),
            seq: 7,
            ack: 9,
            flags: tcp::flags::ACK | tcp::flags::PSH,
            window: 512,
            options: &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            payload: b"GET / HTTP/1.1\r\n\r\n",
        };
        let frame = out.frame(MacAddr([2, 0, 0, 0, 0, 1]));
        let FromSwitch::Tcp(r) = read(&frame).unwrap() else { panic!("not TCP") };
        assert_eq!((r.src, r.dst, r.seq, r.ack, r.flags, r.window), (out.src, out.dst, 7, 9, out.flags, 512));
        assert_eq!(&frame[r.options], out.options);
        assert_eq!(&frame[r.payload], out.payload);
        let mut broken = frame.clone();
        *broken.last_mut().unwrap() ^= 1;
        assert!(read(&broken).unwrap_err().contains("TCP checksum"));
        assert!(read(&frame[..20]).is_err());
    }

    #[test]
    fn an_arp_request_is_answered_by_the_host_it_names() {
        let switch = MacAddr([2, 0, 0, 0, 0, 1]);
        let (me, host) = (Ipv4Addr::new(198, 18, 1, 1), Ipv4Addr::new(198, 18, 1, 10));
        let request = craft::arp_request_frame(switch, me, host);
        let FromSwitch::ArpRequest { sender_mac, sender_ip, target } = read(&request).unwrap() else {
            panic!("not a request")
        };
        assert_eq!((sender_mac, sender_ip, target), (switch, me, host));
        let reply = arp_reply(sender_mac, sender_ip, target);
        let p = arp::Packet::new_checked(&reply[ethernet::HEADER_LEN..]).unwrap();
        let repr = arp::ArpRepr::parse(&p).unwrap();
        assert_eq!((repr.operation, repr.sender_ip, repr.sender_hw), (arp::op::REPLY, host, mac_of(host)));
    }
}
