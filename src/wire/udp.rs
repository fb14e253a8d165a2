//! UDP (RFC 768) datagrams.
//!
//! A [`Packet`] may be given the whole IP payload: the datagram is the first
//! [`len`](Packet::len) bytes of it, and the checksum covers only those.

use std::net::Ipv4Addr;

use super::{checksum, read_u16, write_u16, Error, Field, Result};

mod field {
    use super::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// The length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram.
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

    /// Checks that the buffer holds the 8-byte header and that the length field is at least
    /// 8 and at most the buffer's length.
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > buffer_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field: header and payload, in bytes.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The checksum field (0: no checksum).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The datagram: the first `len` bytes of the buffer.
    #[inline]
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// The payload: from byte 8 to `len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.datagram()[HEADER_LEN..]
    }

    /// Whether the checksum over the pseudo-header and the datagram is right. A zero
    /// checksum means the sender did not compute one, and verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        !fold_datagram_sum(src, dst, self.datagram()) == 0
    }
}

/// The folded sum of the pseudo-header and the datagram.
fn fold_datagram_sum(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    // The length field is a u16, and the datagram is sliced to it.
    let len = datagram.len() as u16;
    checksum::fold(checksum::combine(&[
        checksum::pseudo_header_v4(src, dst, super::ipv4::protocol::UDP, len),
        checksum::sum(datagram),
    ]))
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, value)
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, value)
    }

    /// Sets the length field (changes the layout).
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// The payload (from byte 8 to `len`), mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }

    /// Computes the checksum over the pseudo-header and the datagram and writes it. A
    /// computed 0 is written as 0xffff, since 0 means "no checksum".
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let checksum = match !fold_datagram_sum(src, dst, self.datagram()) {
            0 => 0xffff,
            checksum => checksum,
        };
        self.set_checksum(checksum)
    }

    /// Applies an incremental checksum update (see [`checksum::update16`] and friends)
    /// unless the datagram has no checksum, keeping 0 meaning "none": `update` is given the
    /// current checksum, and a result of 0 is written as 0xffff.
    pub fn update_checksum(&mut self, update: impl FnOnce(u16) -> u16) {
        let current = self.checksum();
        if current == 0 {
            return;
        }
        let checksum = match update(current) {
            0 => 0xffff,
            checksum => checksum,
        };
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

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 26, the UDP datagram: a
    /// DNS query 172.16.11.12:54639 -> 172.16.11.1:53 for e872.g.akamaiedge.net.
    static DNS_QUERY: [u8; 47] = [
        0xd5, 0x6f, 0x00, 0x35, 0x00, 0x2f, 0x75, 0x84, 0x13, 0xa2, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x04, 0x65, 0x38, 0x37, 0x32, 0x01, 0x67, 0x0a, 0x61, 0x6b, 0x61, 0x6d, 0x61, 0x69, 0x65, 0x64,
        0x67, 0x65, 0x03, 0x6e, 0x65, 0x74, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];
    const SRC: Ipv4Addr = Ipv4Addr::new(172, 16, 11, 12);
    const DST: Ipv4Addr = Ipv4Addr::new(172, 16, 11, 1);

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&DNS_QUERY[..]).unwrap();
        assert_eq!(packet.src_port(), 54639);
        assert_eq!(packet.dst_port(), 53);
        assert_eq!(packet.len(), 47);
        assert_eq!(packet.checksum(), 0x7584);
        assert_eq!(packet.payload(), &DNS_QUERY[8..]);
        assert!(packet.verify_checksum(SRC, DST));
        assert!(!packet.verify_checksum(DST, SRC.to_bits().wrapping_add(1).into()));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 47];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_src_port(54639);
        packet.set_dst_port(53);
        packet.set_len(47);
        packet.payload_mut().copy_from_slice(&DNS_QUERY[8..]);
        packet.fill_checksum(SRC, DST);
        assert_eq!(buf, DNS_QUERY);
    }

    #[test]
    fn padding_and_errors() {
        let mut padded = [0u8; 60];
        padded[..47].copy_from_slice(&DNS_QUERY);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.payload(), &DNS_QUERY[8..]);
        assert!(packet.verify_checksum(SRC, DST));

        assert_eq!(Packet::new_checked(&DNS_QUERY[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&DNS_QUERY[..46]).unwrap_err(), Error::Truncated);
        let mut bytes = DNS_QUERY;
        bytes[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn zero_checksum() {
        let mut bytes = DNS_QUERY;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_checksum(0);
        assert!(packet.verify_checksum(SRC, DST));
        packet.update_checksum(|c| checksum::update16(c, 53, 5353));
        assert_eq!(packet.checksum(), 0);

        // A datagram whose checksum computes to 0 carries 0xffff.
        let mut bytes = [0u8; 10];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_len(10);
        let partial = !checksum::fold(checksum::combine(&[
            checksum::pseudo_header_v4(SRC, DST, 17, 10),
            checksum::sum(&[0, 0, 0, 0, 0, 10, 0, 0]),
        ]));
        packet.payload_mut().copy_from_slice(&partial.to_be_bytes());
        packet.fill_checksum(SRC, DST);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum(SRC, DST));
    }

    #[test]
    fn nat_rewrite_matches_recompute() {
        let mut bytes = DNS_QUERY;
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        let new_src = Ipv4Addr::new(192, 0, 2, 77);
        packet.update_checksum(|c| {
            let c = checksum::update_addr(c, SRC, new_src);
            checksum::update16(c, 54639, 61000)
        });
        packet.set_src_port(61000);
        assert!(packet.verify_checksum(new_src, DST));
        let incremental = packet.checksum();
        packet.fill_checksum(new_src, DST);
        assert_eq!(packet.checksum(), incremental);
    }

    /// Arbitrary bytes, half of the time patched so that the length and type fields are
    /// plausible and `new_checked` gets past its first checks.
    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<u32>()).prop_map(
            |(mut bytes, tag, seed)| {
                if bytes.len() >= 6 && tag {
                    let len = (seed >> 8) as usize % (bytes.len() + 1);
                    bytes[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                }
                bytes
            },
        )
    }

    proptest! {
        #[test]
        fn never_panics(bytes in arbitrary_or_plausible(),
                        src: u32, dst: u32) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.src_port(), packet.dst_port(), packet.len(), packet.checksum());
                prop_assert_eq!(packet.payload().len() + 8, usize::from(packet.len()));
                let _ = packet.verify_checksum(src, dst);

                let mut copy = bytes.clone();
                let mut packet = Packet::new_checked(&mut copy[..]).unwrap();
                packet.set_src_port(1);
                packet.fill_checksum(src, dst);
                prop_assert!(packet.checksum() != 0);
                prop_assert!(packet.verify_checksum(src, dst));
                packet.update_checksum(|c| checksum::update16(c, 1, 2));
                packet.set_src_port(2);
                prop_assert!(packet.verify_checksum(src, dst));
                let _ = packet.payload_mut();
            }
        }
    }
}
