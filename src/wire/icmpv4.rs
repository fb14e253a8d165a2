//! ICMPv4 (RFC 792) messages: the 8-byte header and the data after it.
//!
//! For echo messages bytes 4..8 are the identifier and sequence number; for errors (destination
//! unreachable, time exceeded) they are mostly unused and the data quotes the offending IP
//! header and the first 8 bytes of its payload.

use super::{checksum, read_u16, read_u32, write_u16, write_u32, Error, Field, Rest, Result};

/// ICMPv4 message types stickwire handles.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// Codes of destination unreachable messages.
pub mod unreachable {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (bytes 6..8 hold the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
}

mod field {
    use super::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST_OF_HEADER: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: Rest = 8..;
}

/// The length of the ICMPv4 header.
pub const HEADER_LEN: usize = field::DATA.start;

/// A read/write view of an ICMPv4 message. The message is the whole buffer: slice it to the
/// IP payload.
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

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type (see [`msg_type`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Bytes 4..8 of the header, whatever the message type.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REST_OF_HEADER.start)
    }

    /// The identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// The sequence number of an echo request or reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// The next-hop MTU of a "fragmentation needed" message.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// The data after the header: the echo payload, or the quoted packet of an error.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// Whether the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value
    }

    /// Sets the message code.
    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// Sets bytes 4..8 of the header.
    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::REST_OF_HEADER.start, value)
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value)
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value)
    }

    /// Sets the next-hop MTU of a "fragmentation needed" message.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, value)
    }

    /// The data after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Computes the checksum over the whole buffer and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let checksum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 132, the ICMP message of
    /// an echo reply (id 5, seq 0, 72 bytes of data).
    static ECHO_REPLY: [u8; 80] = [
        0x00, 0x00, 0x75, 0x99, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x10, 0x88, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
    ];

    /// tcpreplay-test.pcap frame 11, the ICMP message of an echo request (id 0x0f66, seq
    /// 0x12a0), from an MPLS-labelled frame.
    static ECHO_REQUEST: [u8; 80] = [
        0x08, 0x00, 0xbd, 0x10, 0x0f, 0x66, 0x12, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x9e, 0xe0, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
        0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd,
    ];

    /// tcpreplay-test.pcap frame 51, the ICMP message of a port unreachable quoting a DNS
    /// response's IP header and UDP header.
    static PORT_UNREACHABLE: [u8; 36] = [
        0x03, 0x03, 0x14, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x43, 0xc1, 0x80, 0x00, 0x00, 0x40, 0x11,
        0x4a, 0xfc, 0xac, 0x10, 0x0b, 0x01, 0xac, 0x10, 0x0b, 0x0c, 0x00, 0x35, 0xe7, 0xe8, 0x00, 0x2f, 0x00, 0x00,
    ];

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&ECHO_REPLY[..]).unwrap();
        assert_eq!(packet.msg_type(), msg_type::ECHO_REPLY);
        assert_eq!(packet.code(), 0);
        assert_eq!(packet.checksum(), 0x7599);
        assert_eq!(packet.echo_ident(), 5);
        assert_eq!(packet.echo_seq_no(), 0);
        assert_eq!(packet.data(), &ECHO_REPLY[8..]);
        assert!(packet.verify_checksum());

        let packet = Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(packet.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(packet.echo_ident(), 0x0f66);
        assert_eq!(packet.echo_seq_no(), 0x12a0);
        assert!(packet.verify_checksum());

        let packet = Packet::new_checked(&PORT_UNREACHABLE[..]).unwrap();
        assert_eq!(packet.msg_type(), msg_type::DEST_UNREACHABLE);
        assert_eq!(packet.code(), unreachable::PORT);
        assert_eq!(packet.rest_of_header(), 0);
        assert!(packet.verify_checksum());
        let quoted = crate::wire::ipv4::Packet::new_unchecked(packet.data());
        assert_eq!(quoted.protocol(), crate::wire::ipv4::protocol::UDP);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 80];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_msg_type(msg_type::ECHO_REQUEST);
        packet.set_code(0);
        packet.set_echo_ident(0x0f66);
        packet.set_echo_seq_no(0x12a0);
        packet.data_mut().copy_from_slice(&ECHO_REQUEST[8..]);
        packet.fill_checksum();
        assert_eq!(buf, ECHO_REQUEST);

        // Turning the request into a reply, as a responder does.
        let mut buf = ECHO_REQUEST;
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_msg_type(msg_type::ECHO_REPLY);
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_eq!(packet.checksum(), 0xc510);

        let mut buf = [0u8; 36];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_msg_type(msg_type::DEST_UNREACHABLE);
        packet.set_code(unreachable::PORT);
        packet.set_rest_of_header(0);
        packet.data_mut().copy_from_slice(&PORT_UNREACHABLE[8..]);
        packet.fill_checksum();
        assert_eq!(buf, PORT_UNREACHABLE);
    }

    #[test]
    fn frag_needed_mtu() {
        let mut buf = [0u8; 8];
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_msg_type(msg_type::DEST_UNREACHABLE);
        packet.set_code(unreachable::FRAG_NEEDED);
        packet.set_next_hop_mtu(1400);
        assert_eq!(packet.next_hop_mtu(), 1400);
        assert_eq!(packet.rest_of_header(), 1400);
    }

    #[test]
    fn truncated() {
        assert_eq!(Packet::new_checked(&ECHO_REPLY[..7]).unwrap_err(), Error::Truncated);
        assert!(Packet::new_checked(&ECHO_REPLY[..8]).unwrap().data().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.msg_type(), packet.code(), packet.checksum());
                let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.rest_of_header());
                let _ = (packet.next_hop_mtu(), packet.data(), packet.verify_checksum());
                let mut copy = bytes.clone();
                let mut packet = Packet::new_checked(&mut copy[..]).unwrap();
                packet.set_echo_seq_no(7);
                packet.fill_checksum();
                prop_assert!(packet.verify_checksum());
            }
        }
    }
}
