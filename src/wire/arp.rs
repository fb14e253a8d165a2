//! ARP (RFC 826) for IPv4 over Ethernet, the only kind stickwire answers or sends.

use std::net::Ipv4Addr;

use super::{read_ipv4, read_u16, write_ipv4, write_u16, Error, Field, MacAddr, Result};

/// ARP operations.
pub mod op {
    /// Who has this address?
    pub const REQUEST: u16 = 1;
    /// This address is at this MAC.
    pub const REPLY: u16 = 2;
}

/// The hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// The protocol type of IPv4 (its ethertype).
pub const PTYPE_IPV4: u16 = 0x0800;

mod field {
    use super::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// The length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A read/write view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (see the panic contract in [`crate::wire`]).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds 28 bytes (`Truncated`) of an Ethernet/IPv4 ARP packet
    /// (`Unsupported` for any other hardware or protocol type or address length).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if self.hardware_type() != HTYPE_ETHERNET
            || self.protocol_type() != PTYPE_IPV4
            || self.hardware_len() != 6
            || self.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// The protocol type (0x0800 for IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PTYPE.start)
    }

    /// The hardware address length (6).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// The protocol address length (4).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation (see [`op`]).
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER.start)
    }

    /// The sender's MAC address.
    #[inline]
    pub fn sender_hw_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// The sender's IPv4 address.
    #[inline]
    pub fn sender_ip_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::SPA.start)
    }

    /// The target's MAC address (zero in a request).
    #[inline]
    pub fn target_hw_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// The target's IPv4 address.
    #[inline]
    pub fn target_ip_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::TPA.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::HTYPE.start, value)
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::PTYPE.start, value)
    }

    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::OPER.start, value)
    }

    /// Sets the sender's MAC address.
    #[inline]
    pub fn set_sender_hw_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0)
    }

    /// Sets the sender's IPv4 address.
    #[inline]
    pub fn set_sender_ip_addr(&mut self, addr: Ipv4Addr) {
        write_ipv4(self.buffer.as_mut(), field::SPA.start, addr)
    }

    /// Sets the target's MAC address.
    #[inline]
    pub fn set_target_hw_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0)
    }

    /// Sets the target's IPv4 address.
    #[inline]
    pub fn set_target_ip_addr(&mut self, addr: Ipv4Addr) {
        write_ipv4(self.buffer.as_mut(), field::TPA.start, addr)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A high-level representation of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// The operation (see [`op`]).
    pub operation: u16,
    /// The sender's MAC address.
    pub sender_hw: MacAddr,
    /// The sender's IPv4 address.
    pub sender_ip: Ipv4Addr,
    /// The target's MAC address.
    pub target_hw: MacAddr,
    /// The target's IPv4 address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Parses a packet (running [`Packet::check_len`] first).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        Ok(ArpRepr {
            operation: packet.operation(),
            sender_hw: packet.sender_hw_addr(),
            sender_ip: packet.sender_ip_addr(),
            target_hw: packet.target_hw_addr(),
            target_ip: packet.target_ip_addr(),
        })
    }

    /// The length of the packet this emits.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the whole packet, types and lengths included, into a buffer of at least
    /// [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hw_addr(self.sender_hw);
        packet.set_sender_ip_addr(self.sender_ip);
        packet.set_target_hw_addr(self.target_hw);
        packet.set_target_ip_addr(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 10, after the Ethernet
    /// header: "Who has 172.16.11.194? Tell 172.16.11.1".
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13, 0xac, 0x10, 0x0b, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xac, 0x10, 0x0b, 0xc2,
    ];

    /// smoltcp's `src/wire/arp.rs` test packet (hardware and protocol addresses 1..6, 21..24,
    /// 31..36, 41..44), a request.
    static SMOLTCP_PACKET: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x21, 0x22, 0x23, 0x24,
        0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x41, 0x42, 0x43, 0x44,
    ];

    fn request_repr() -> ArpRepr {
        ArpRepr {
            operation: op::REQUEST,
            sender_hw: MacAddr([0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13]),
            sender_ip: Ipv4Addr::new(172, 16, 11, 1),
            target_hw: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(172, 16, 11, 194),
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), op::REQUEST);
        assert_eq!(packet.sender_hw_addr(), MacAddr([0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13]));
        assert_eq!(packet.sender_ip_addr(), Ipv4Addr::new(172, 16, 11, 1));
        assert_eq!(packet.target_hw_addr(), MacAddr::ZERO);
        assert_eq!(packet.target_ip_addr(), Ipv4Addr::new(172, 16, 11, 194));

        let packet = Packet::new_checked(&SMOLTCP_PACKET[..]).unwrap();
        assert_eq!(packet.sender_hw_addr(), MacAddr([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]));
        assert_eq!(packet.sender_ip_addr(), Ipv4Addr::new(0x21, 0x22, 0x23, 0x24));
        assert_eq!(packet.target_hw_addr(), MacAddr([0x31, 0x32, 0x33, 0x34, 0x35, 0x36]));
        assert_eq!(packet.target_ip_addr(), Ipv4Addr::new(0x41, 0x42, 0x43, 0x44));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 28];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_hardware_type(1);
        packet.set_protocol_type(0x0800);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(op::REQUEST);
        packet.set_sender_hw_addr(MacAddr([0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13]));
        packet.set_sender_ip_addr(Ipv4Addr::new(172, 16, 11, 1));
        packet.set_target_hw_addr(MacAddr::ZERO);
        packet.set_target_ip_addr(Ipv4Addr::new(172, 16, 11, 194));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn parse_emit() {
        let repr = ArpRepr::parse(&Packet::new_unchecked(&REQUEST[..])).unwrap();
        assert_eq!(repr, request_repr());
        assert_eq!(repr.buffer_len(), PACKET_LEN);
        let mut buf = [0xaau8; 28];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn rejects() {
        assert_eq!(Packet::new_checked(&REQUEST[..27]).unwrap_err(), Error::Truncated);
        for (at, value) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = REQUEST;
            bytes[at] = value;
            assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Unsupported);
            assert_eq!(ArpRepr::parse(&Packet::new_unchecked(&bytes[..])), Err(Error::Unsupported));
        }
        // Ethernet padding after the 28 bytes is fine.
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQUEST);
        assert_eq!(ArpRepr::parse(&Packet::new_checked(&padded[..]).unwrap()), Ok(request_repr()));
    }

    /// Arbitrary bytes, half of the time patched so that the length and type fields are
    /// plausible and `new_checked` gets past its first checks.
    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>()).prop_map(|(mut bytes, tag)| {
            if bytes.len() >= 6 && tag {
                bytes[..6].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x06, 0x04]);
            }
            bytes
        })
    }

    proptest! {
        #[test]
        fn never_panics(bytes in arbitrary_or_plausible()) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.operation(), packet.sender_hw_addr(), packet.sender_ip_addr());
                let _ = (packet.target_hw_addr(), packet.target_ip_addr());
                let repr = ArpRepr::parse(&packet).unwrap();
                let mut buf = bytes.clone();
                repr.emit(&mut Packet::new_checked(&mut buf[..]).unwrap());
                prop_assert_eq!(buf, bytes);
            }
        }

        #[test]
        fn emit_parse(operation: u16, sha: [u8; 6], spa: u32, tha: [u8; 6], tpa: u32) {
            let repr = ArpRepr {
                operation,
                sender_hw: MacAddr(sha),
                sender_ip: Ipv4Addr::from(spa),
                target_hw: MacAddr(tha),
                target_ip: Ipv4Addr::from(tpa),
            };
            let mut buf = [0u8; PACKET_LEN];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            prop_assert_eq!(ArpRepr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(repr));
        }
    }
}
