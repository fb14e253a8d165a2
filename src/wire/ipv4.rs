//! IPv4 (RFC 791) headers.

use std::net::Ipv4Addr;

use super::{checksum, read_ipv4, read_u16, write_ipv4, write_u16, Error, Field, Result};

/// IP protocol numbers stickwire handles.
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

mod field {
    use super::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// The length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
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

    /// Checks that the buffer holds at least 20 bytes, the version is 4, the IHL at least 5,
    /// the header fits in the buffer, and `header_len <= total_len <= buffer length`.
    /// Bytes after `total_len` (Ethernet padding) are allowed and ignored by
    /// [`payload`](Self::payload).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let header_len = self.header_bytes();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if total_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// [`header_len`](Self::header_len) as a `usize`, for slicing.
    #[inline]
    fn header_bytes(&self) -> usize {
        usize::from(self.header_len())
    }

    /// The DSCP and ECN byte (the old type of service).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// The explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// The total length of the packet, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    #[inline]
    fn flags_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    /// The don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// The more-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// The fragment offset, in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (more fragments follow, or the offset is not zero).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload (see [`protocol`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// The header: the first `header_len` bytes.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_bytes()]
    }

    /// The options: the bytes from 20 to `header_len`.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_bytes()]
    }

    /// The payload: the bytes from `header_len` to `total_len` (without link padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let range = self.header_bytes()..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let header = self.header();
        // The common header without options, as a fixed-size array the compiler unrolls.
        match <&[u8; HEADER_LEN]>::try_from(header) {
            Ok(fixed) => checksum::data(fixed) == 0,
            Err(_) => checksum::data(header) == 0,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version field.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::VER_IHL] = (data[field::VER_IHL] & 0x0f) | (value << 4);
    }

    /// Sets the header length, in bytes (a multiple of 4, at most 60; changes the layout).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        let ihl = (value / 4) & 0x0f;
        data[field::VER_IHL] = (data[field::VER_IHL] & 0xf0) | ihl;
    }

    /// Sets the DSCP and ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value
    }

    /// Sets the total length (changes the layout).
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    /// Sets the identification field.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, value)
    }

    #[inline]
    fn set_flags_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, value)
    }

    /// Clears the flags and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        self.set_flags_offset(0)
    }

    /// Sets the don't-fragment flag.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let raw = self.flags_offset();
        self.set_flags_offset(if value { raw | FLAG_DF } else { raw & !FLAG_DF })
    }

    /// Sets the more-fragments flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let raw = self.flags_offset();
        self.set_flags_offset(if value { raw | FLAG_MF } else { raw & !FLAG_MF })
    }

    /// Sets the fragment offset, in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let raw = self.flags_offset();
        self.set_flags_offset((raw & !OFFSET_MASK) | (value >> 3))
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write_ipv4(self.buffer.as_mut(), field::SRC_ADDR.start, addr)
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write_ipv4(self.buffer.as_mut(), field::DST_ADDR.start, addr)
    }

    /// Computes the header checksum and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let checksum = checksum::data(self.header());
        self.set_checksum(checksum)
    }

    /// The options, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let range = HEADER_LEN..self.header_bytes();
        &mut self.buffer.as_mut()[range]
    }

    /// The payload (from `header_len` to `total_len`), mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_bytes()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A high-level representation of an IPv4 header (options are not represented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// The source address.
    pub src_addr: Ipv4Addr,
    /// The destination address.
    pub dst_addr: Ipv4Addr,
    /// The protocol of the payload.
    pub protocol: u8,
    /// The length of the payload (`total_len - header_len`).
    pub payload_len: usize,
    /// The time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Parses a header: runs [`Packet::check_len`], then verifies the checksum
    /// ([`Error::Checksum`] if it is wrong). Fragments and options are accepted; options are
    /// dropped.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            ttl: packet.ttl(),
        })
    }

    /// The length of the header this emits (20).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header (DSCP/ECN 0, ident 0, DF set, checksum filled) into a buffer
    /// of at least 20 bytes. The total length is `20 + payload_len`, saturated at 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp_ecn(0);
        let total_len = u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX);
        packet.set_total_len(total_len);
        packet.set_ident(0);
        packet.clear_flags();
        packet.set_dont_frag(true);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 26 after the Ethernet
    /// header: a DNS query, 172.16.11.12 -> 172.16.11.1, UDP, TTL 255, ident 0x5b2c.
    static DNS_PACKET: [u8; 67] = [
        0x45, 0x00, 0x00, 0x43, 0x5b, 0x2c, 0x00, 0x00, 0xff, 0x11, 0xf2, 0x4f, 0xac, 0x10, 0x0b, 0x0c, 0xac, 0x10,
        0x0b, 0x01, 0xd5, 0x6f, 0x00, 0x35, 0x00, 0x2f, 0x75, 0x84, 0x13, 0xa2, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x04, 0x65, 0x38, 0x37, 0x32, 0x01, 0x67, 0x0a, 0x61, 0x6b, 0x61, 0x6d, 0x61, 0x69,
        0x65, 0x64, 0x67, 0x65, 0x03, 0x6e, 0x65, 0x74, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    /// http-dvwa-login.pcapng (chrissanders/packets) frame 1, IPv4 header of a TCP SYN
    /// 10.2.2.101 -> 10.2.2.104 with DF set, TTL 64, ident 0xfba2 (the 44-byte TCP segment is
    /// in tcp.rs's tests).
    static SYN_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x40, 0xfb, 0xa2, 0x40, 0x00, 0x40, 0x06, 0x26, 0x45, 0x0a, 0x02, 0x02, 0x65, 0x0a, 0x02,
        0x02, 0x68,
    ];

    /// tcpreplay-test.pcap frame 51 after the Ethernet header: an ICMP port unreachable
    /// quoting the IP header of the packet that caused it.
    static ICMP_UNREACHABLE: [u8; 56] = [
        0x45, 0x00, 0x00, 0x38, 0xf3, 0x61, 0x00, 0x00, 0x40, 0x01, 0x19, 0x36, 0xac, 0x10, 0x0b, 0x0c, 0xac, 0x10,
        0x0b, 0x01, 0x03, 0x03, 0x14, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x43, 0xc1, 0x80, 0x00, 0x00,
        0x40, 0x11, 0x4a, 0xfc, 0xac, 0x10, 0x0b, 0x01, 0xac, 0x10, 0x0b, 0x0c, 0x00, 0x35, 0xe7, 0xe8, 0x00, 0x2f,
        0x00, 0x00,
    ];

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&DNS_PACKET[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.dscp_ecn(), 0);
        assert_eq!(packet.total_len(), 67);
        assert_eq!(packet.ident(), 0x5b2c);
        assert!(!packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert!(!packet.is_fragment());
        assert_eq!(packet.ttl(), 255);
        assert_eq!(packet.protocol(), protocol::UDP);
        assert_eq!(packet.checksum(), 0xf24f);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(172, 16, 11, 12));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(172, 16, 11, 1));
        assert!(packet.options().is_empty());
        assert_eq!(packet.payload(), &DNS_PACKET[20..]);
        assert!(packet.verify_checksum());

        let packet = Packet::new_unchecked(&SYN_HEADER[..]);
        assert!(packet.dont_frag());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), protocol::TCP);
        assert!(packet.verify_checksum());
        // total_len says 64 but only the header is here.
        assert_eq!(Packet::new_checked(&SYN_HEADER[..]).unwrap_err(), Error::Truncated);

        let packet = Packet::new_checked(&ICMP_UNREACHABLE[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(packet.protocol(), protocol::ICMP);
        let quoted = Packet::new_unchecked(&packet.payload()[8..]);
        assert_eq!(quoted.total_len(), 67);
        assert!(quoted.verify_checksum());
        assert_eq!(quoted.protocol(), protocol::UDP);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 67];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_version(4);
        packet.set_header_len(20);
        packet.set_dscp_ecn(0);
        packet.set_total_len(67);
        packet.set_ident(0x5b2c);
        packet.set_dont_frag(true);
        packet.set_more_frags(true);
        packet.set_frag_offset(8);
        assert!(packet.dont_frag() && packet.more_frags() && packet.is_fragment());
        assert_eq!(packet.frag_offset(), 8);
        packet.set_dont_frag(false);
        packet.set_more_frags(false);
        packet.set_frag_offset(0);
        packet.set_ttl(255);
        packet.set_protocol(protocol::UDP);
        packet.set_src_addr(Ipv4Addr::new(172, 16, 11, 12));
        packet.set_dst_addr(Ipv4Addr::new(172, 16, 11, 1));
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(&DNS_PACKET[20..]);
        assert_eq!(buf, DNS_PACKET);
    }

    #[test]
    fn fragments() {
        let mut buf = DNS_PACKET;
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_frag_offset(1480);
        assert!(packet.is_fragment() && !packet.more_frags());
        assert_eq!(packet.frag_offset(), 1480);
        packet.set_frag_offset(0);
        packet.set_more_frags(true);
        assert!(packet.is_fragment());
        packet.set_frag_offset(0xfff8);
        assert_eq!(packet.frag_offset(), 0xfff8);
        assert!(packet.more_frags());
    }

    #[test]
    fn options_and_padding() {
        // The DNS packet with a 4-byte option (NOP NOP NOP EOL) and 5 bytes of link padding.
        let mut buf = [0u8; 76];
        buf[..20].copy_from_slice(&DNS_PACKET[..20]);
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..71].copy_from_slice(&DNS_PACKET[20..]);
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_header_len(24);
        packet.set_total_len(71);
        packet.fill_checksum();
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), &DNS_PACKET[20..]);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.payload_len, 47);
    }

    #[test]
    fn check_len_errors() {
        let mut bytes = DNS_PACKET;
        assert_eq!(Packet::new_checked(&bytes[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&bytes[..66]).unwrap_err(), Error::Truncated);
        bytes[0] = 0x65;
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Malformed);
        bytes[0] = 0x44;
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Malformed);
        bytes[0] = 0x4f; // 60-byte header fits in 67 bytes, but total_len 67 >= 60 too
        assert!(Packet::new_checked(&bytes[..]).is_ok());
        assert_eq!(Packet::new_checked(&bytes[..59]).unwrap_err(), Error::Truncated);
        bytes[0] = 0x45;
        bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn parse_emit() {
        let repr = Ipv4Repr::parse(&Packet::new_checked(&DNS_PACKET[..]).unwrap()).unwrap();
        let expected = Ipv4Repr {
            src_addr: Ipv4Addr::new(172, 16, 11, 12),
            dst_addr: Ipv4Addr::new(172, 16, 11, 1),
            protocol: protocol::UDP,
            payload_len: 47,
            ttl: 255,
        };
        assert_eq!(repr, expected);

        let mut bytes = DNS_PACKET;
        bytes[10] ^= 1;
        assert_eq!(Ipv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Err(Error::Checksum));

        // emit: DF set, ident 0 (unlike the captured header), checksum filled.
        let mut buf = [0xffu8; 67];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        assert!(packet.dont_frag());
        assert_eq!(packet.ident(), 0);
        assert!(packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), Ok(expected));

        // The SYN's header has ident 0xfba2 and DF: emit and set the ident back.
        let syn = Packet::new_unchecked(&SYN_HEADER[..]);
        let mut buf = [0u8; 64];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        Ipv4Repr {
            src_addr: syn.src_addr(),
            dst_addr: syn.dst_addr(),
            protocol: protocol::TCP,
            payload_len: 44,
            ttl: 64,
        }
        .emit(&mut packet);
        packet.set_ident(0xfba2);
        packet.fill_checksum();
        assert_eq!(&buf[..20], &SYN_HEADER[..]);
    }

    #[test]
    fn incremental_nat_rewrite_matches_recompute() {
        let mut buf = DNS_PACKET;
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        let old = packet.dst_addr();
        let new = Ipv4Addr::new(10, 0, 0, 42);
        packet.set_dst_addr(new);
        let old_ttl_word = u16::from_be_bytes([packet.ttl(), packet.protocol()]);
        packet.set_ttl(packet.ttl() - 1);
        let new_ttl_word = u16::from_be_bytes([packet.ttl(), packet.protocol()]);
        let c = checksum::update_addr(packet.checksum(), old, new);
        let c = checksum::update16(c, old_ttl_word, new_ttl_word);
        packet.set_checksum(c);
        assert!(packet.verify_checksum());
        let incremental = packet.checksum();
        packet.fill_checksum();
        assert_eq!(packet.checksum(), incremental);
    }

    /// Arbitrary bytes, half of the time patched so that the length and type fields are
    /// plausible and `new_checked` gets past its first checks.
    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<u32>()).prop_map(
            |(mut bytes, tag, seed)| {
                if bytes.len() >= 4 && tag {
                    bytes[0] = 0x40 | (seed as u8 & 0x0f).max(5);
                    let total = (seed >> 8) as usize % (bytes.len() + 1);
                    bytes[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                }
                bytes
            },
        )
    }

    proptest! {
        #[test]
        fn never_panics(bytes in arbitrary_or_plausible()) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.version(), packet.header_len(), packet.dscp_ecn(), packet.dscp());
                let _ = (packet.ecn(), packet.total_len(), packet.ident(), packet.dont_frag());
                let _ = (packet.more_frags(), packet.frag_offset(), packet.is_fragment());
                let _ = (packet.ttl(), packet.protocol(), packet.checksum());
                let _ = (packet.src_addr(), packet.dst_addr(), packet.options(), packet.header());
                prop_assert!(packet.payload().len() <= bytes.len());
                let _ = packet.verify_checksum();
                let _ = Ipv4Repr::parse(&packet);

                let mut copy = bytes.clone();
                let mut packet = Packet::new_checked(&mut copy[..]).unwrap();
                packet.set_ttl(1);
                packet.set_dont_frag(true);
                packet.set_more_frags(true);
                packet.set_frag_offset(0xffff);
                packet.set_src_addr(Ipv4Addr::BROADCAST);
                packet.fill_checksum();
                prop_assert!(packet.verify_checksum());
                let _ = (packet.options_mut().len(), packet.payload_mut().len());
            }
        }
    }
}
