//! Ethernet II frames, with at most one 802.1Q VLAN tag.
//!
//! A tagged frame (`ethertype::VLAN` at offset 12) has an 18-byte header: [`Frame::ethertype`]
//! is then the type after the tag and [`Frame::vlan_id`] the tag's VLAN id. A QinQ outer tag
//! (0x88a8) is not looked into: it is reported as that ethertype, which nothing handles.
//! The frame check sequence is not part of the buffer (NICs strip it).

use super::{read_u16, write_u16, Error, Field, MacAddr, Result};

/// Ethertypes stickwire knows.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// An 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// An 802.1ad (QinQ) service tag; not supported beyond being recognised.
    pub const QINQ: u16 = 0x88a8;
}

mod field {
    use super::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const VLAN_TCI: Field = 14..16;
    pub const INNER_ETHERTYPE: Field = 16..18;
}

/// The length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::ETHERTYPE.end;
/// The length of an Ethernet header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = field::INNER_ETHERTYPE.end;

/// A read/write view of an Ethernet frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it (see the panic contract in [`crate::wire`]).
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the whole header: 14 bytes, or 18 with a VLAN tag.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The ethertype field at offset 12: `ethertype::VLAN` for a tagged frame.
    #[inline]
    pub fn outer_ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// Whether the frame carries an 802.1Q tag.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        self.outer_ethertype() == ethertype::VLAN
    }

    /// The header length: 14, or 18 for a tagged frame.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The 802.1Q tag control information (priority, DEI, VLAN id), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_tagged() {
            Some(read_u16(self.buffer.as_ref(), field::VLAN_TCI.start))
        } else {
            None
        }
    }

    /// The 12-bit VLAN id, if tagged.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|tci| tci & 0x0fff)
    }

    /// The type of the payload: the ethertype after the tag for a tagged frame.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        if self.is_tagged() {
            read_u16(self.buffer.as_ref(), field::INNER_ETHERTYPE.start)
        } else {
            self.outer_ethertype()
        }
    }

    /// The payload, after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the ethertype field at offset 12 (changes the layout if it adds or removes
    /// `ethertype::VLAN`).
    #[inline]
    pub fn set_outer_ethertype(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value)
    }

    /// Sets the type of the payload: the ethertype after the tag for a tagged frame, the
    /// ethertype at offset 12 otherwise.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        if self.is_tagged() {
            write_u16(self.buffer.as_mut(), field::INNER_ETHERTYPE.start, value)
        } else {
            self.set_outer_ethertype(value)
        }
    }

    /// Tags the frame in place: sets offset 12 to `ethertype::VLAN` and the TCI. This does
    /// not move the payload: build tagged frames with it, or shift the bytes first.
    ///
    /// # Panics
    /// If the buffer is shorter than 18 bytes.
    #[inline]
    pub fn set_vlan_tci(&mut self, tci: u16) {
        let data = self.buffer.as_mut();
        write_u16(data, field::VLAN_TCI.start, tci);
        write_u16(data, field::ETHERTYPE.start, ethertype::VLAN);
    }

    /// Sets the VLAN id of a tagged frame, keeping its priority and DEI bits. Does nothing on
    /// an untagged frame.
    #[inline]
    pub fn set_vlan_id(&mut self, vlan_id: u16) {
        if let Some(tci) = self.vlan_tci() {
            let tci = (tci & 0xf000) | (vlan_id & 0x0fff);
            write_u16(self.buffer.as_mut(), field::VLAN_TCI.start, tci);
        }
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        &mut self.buffer.as_mut()[header_len..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A high-level representation of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// The source address.
    pub src_addr: MacAddr,
    /// The destination address.
    pub dst_addr: MacAddr,
    /// The type of the payload.
    pub ethertype: u16,
    /// The 802.1Q TCI (priority, DEI, VLAN id), if the frame is tagged.
    pub vlan_tci: Option<u16>,
}

impl EthernetRepr {
    /// Parses a frame's header.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
            vlan_tci: frame.vlan_tci(),
        })
    }

    /// The length of the header this emits.
    pub const fn buffer_len(&self) -> usize {
        if self.vlan_tci.is_some() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header into the start of `frame`, which must hold [`Self::buffer_len`]
    /// bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        match self.vlan_tci {
            Some(tci) => {
                frame.set_vlan_tci(tci);
                write_u16(frame.buffer.as_mut(), field::INNER_ETHERTYPE.start, self.ethertype);
            }
            None => frame.set_outer_ethertype(self.ethertype),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 10: an ARP request.
    static ARP_FRAME: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        0x06, 0x04, 0x00, 0x01, 0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13, 0xac, 0x10, 0x0b, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xac, 0x10, 0x0b, 0xc2,
    ];

    /// The same frame with an 802.1Q tag (priority 5, VLAN 100) inserted after the source
    /// address. The corpus has no tagged frame; this is the captured one, tagged by hand.
    static TAGGED_ARP_FRAME: [u8; 46] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13, 0x81, 0x00, 0xa0, 0x64, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13, 0xac, 0x10, 0x0b, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xac, 0x10, 0x0b, 0xc2,
    ];

    const SRC: MacAddr = MacAddr([0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13]);

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&ARP_FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(frame.src_addr(), SRC);
        assert_eq!(frame.ethertype(), ethertype::ARP);
        assert_eq!(frame.outer_ethertype(), ethertype::ARP);
        assert_eq!(frame.vlan_id(), None);
        assert_eq!(frame.header_len(), HEADER_LEN);
        assert_eq!(frame.payload(), &ARP_FRAME[14..]);
    }

    #[test]
    fn deconstruct_tagged() {
        let frame = Frame::new_checked(&TAGGED_ARP_FRAME[..]).unwrap();
        assert!(frame.is_tagged());
        assert_eq!(frame.vlan_tci(), Some(0xa064));
        assert_eq!(frame.vlan_id(), Some(100));
        assert_eq!(frame.ethertype(), ethertype::ARP);
        assert_eq!(frame.outer_ethertype(), ethertype::VLAN);
        assert_eq!(frame.header_len(), VLAN_HEADER_LEN);
        assert_eq!(frame.payload(), &ARP_FRAME[14..]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 42];
        let mut frame = Frame::new_unchecked(&mut buf[..]);
        frame.set_dst_addr(MacAddr::BROADCAST);
        frame.set_src_addr(SRC);
        frame.set_ethertype(ethertype::ARP);
        frame.payload_mut().copy_from_slice(&ARP_FRAME[14..]);
        assert_eq!(buf, ARP_FRAME);

        let mut buf = [0u8; 46];
        let mut frame = Frame::new_unchecked(&mut buf[..]);
        frame.set_dst_addr(MacAddr::BROADCAST);
        frame.set_src_addr(SRC);
        frame.set_vlan_tci(0xa000);
        frame.set_vlan_id(100);
        frame.set_ethertype(ethertype::ARP);
        frame.payload_mut().copy_from_slice(&ARP_FRAME[14..]);
        assert_eq!(buf, TAGGED_ARP_FRAME);
    }

    #[test]
    fn parse_emit() {
        for bytes in [&ARP_FRAME[..], &TAGGED_ARP_FRAME[..]] {
            let repr = EthernetRepr::parse(&Frame::new_unchecked(bytes)).unwrap();
            let mut buf = bytes.to_vec();
            buf[..repr.buffer_len()].fill(0);
            repr.emit(&mut Frame::new_unchecked(&mut buf));
            assert_eq!(&buf[..], bytes);
        }
    }

    #[test]
    fn truncated() {
        assert_eq!(Frame::new_checked(&ARP_FRAME[..13]), Err(Error::Truncated));
        assert!(Frame::new_checked(&ARP_FRAME[..14]).is_ok());
        assert_eq!(Frame::new_checked(&TAGGED_ARP_FRAME[..17]), Err(Error::Truncated));
        let frame = Frame::new_checked(&TAGGED_ARP_FRAME[..18]).unwrap();
        assert!(frame.payload().is_empty());
    }

    /// Arbitrary bytes, half of the time patched so that the length and type fields are
    /// plausible and `new_checked` gets past its first checks.
    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>()).prop_map(|(mut bytes, tag)| {
            if bytes.len() >= 14 && tag {
                bytes[12] = 0x81;
                bytes[13] = 0x00;
            }
            bytes
        })
    }

    proptest! {
        #[test]
        fn never_panics(bytes in arbitrary_or_plausible()) {
            if let Ok(frame) = Frame::new_checked(&bytes[..]) {
                let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype());
                let _ = (frame.vlan_id(), frame.vlan_tci(), frame.outer_ethertype());
                prop_assert_eq!(frame.payload().len() + frame.header_len(), bytes.len());
                let repr = EthernetRepr::parse(&frame).unwrap();
                let mut copy = bytes.clone();
                let mut frame = Frame::new_checked(&mut copy[..]).unwrap();
                repr.emit(&mut frame);
                frame.set_ethertype(repr.ethertype);
                frame.set_vlan_id(1);
                let _ = frame.payload_mut();
            }
        }
    }
}
