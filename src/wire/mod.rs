//! Zero-copy views of the packets stickwire parses and rewrites, and their checksums.
//!
//! The layout follows smoltcp's `wire` module: one file per protocol, a view
//! `Packet<T: AsRef<[u8]>> { buffer: T }` (`Frame` for Ethernet) with getters, setters in a
//! second `impl` block over `T: AsRef<[u8]> + AsMut<[u8]>`, field offsets as named ranges in a
//! private `mod field`, and a plain `Repr` struct with `parse` and `emit` where one is useful.
//! Nothing here does I/O or allocates.
//!
//! # Panic contract
//!
//! - `new_unchecked` wraps any buffer and checks nothing. It is meant for building packets into
//!   a buffer the caller has sized; an accessor reading past the end of such a buffer panics.
//! - `new_checked` (which is `new_unchecked` followed by `check_len`) is the way in for
//!   untrusted bytes. When it returns `Ok`, **no getter, no payload/option accessor, no
//!   checksum verification and no setter of a fixed-size field panics, whatever the bytes
//!   are**. Option parsers ([`tcp::TcpOption::parse`], [`tcp::options_iter`],
//!   [`tcp::read_options`]) and the rewriter [`tcp::rewrite_options`] take any slice and report
//!   bad lengths as errors; they never panic either.
//! - Setters that change the *layout* of a packet (`set_header_len`, `set_total_len`,
//!   `set_len`, `set_ethertype(ethertype::VLAN)` on an untagged frame, ...) can make a later
//!   accessor index past the buffer. They are for building; call `check_len` again after
//!   them if the values did not come from the code itself.
//! - `Repr::emit` requires a buffer of at least `Repr::buffer_len()` bytes (as smoltcp's do;
//!   [`tcp::TcpRepr::emit_ipv4`] checks and returns an error instead);
//!   `Repr::parse` re-runs `check_len` itself, so it may be given a `new_unchecked` view.
//! - The HTTP scanners in [`http`] take any slice, whole or cut anywhere, and never panic.
//!
//! All of this is checked by the property tests in each file (arbitrary bytes through
//! `new_checked` and every accessor) and by the targets under `fuzz/`.

use core::fmt;
use core::str::FromStr;

pub mod arp;
pub mod buffer;
pub mod checksum;
pub mod ethernet;
pub mod http;
pub mod icmpv4;
pub mod ipv4;
pub mod rss;
pub mod tcp;
pub mod udp;

pub use self::arp::{ArpRepr, Packet as ArpPacket};
pub use self::buffer::FrameBuf;
pub use self::ethernet::{EthernetRepr, Frame as EthernetFrame};
pub use self::icmpv4::Packet as Icmpv4Packet;
pub use self::ipv4::{Ipv4Repr, Packet as Ipv4Packet};
pub use self::tcp::{Packet as TcpPacket, TcpOption, TcpRepr};
pub use self::udp::Packet as UdpPacket;

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header, or than a length field says it should be.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value the protocol does not allow (a length below the minimum, a bad
    /// option length, a wrong version number).
    #[error("malformed packet")]
    Malformed,
    /// The packet is well formed but of a kind this module does not handle (ARP for something
    /// other than Ethernet/IPv4, ...).
    #[error("unsupported packet")]
    Unsupported,
    /// The checksum does not match the contents.
    #[error("bad checksum")]
    Checksum,
}

/// The result of parsing a packet.
pub type Result<T> = core::result::Result<T, Error>;

/// A byte range of a header.
pub(crate) type Field = core::ops::Range<usize>;
/// The bytes from an offset to the end of a buffer.
pub(crate) type Rest = core::ops::RangeFrom<usize>;

// The readers take the field as one slice (one bounds check, one load) rather than byte by
// byte, which the compiler does not always merge. The fallbacks cannot happen: the slice has
// the array's length.

#[inline]
pub(crate) fn read_u16(data: &[u8], at: usize) -> u16 {
    data[at..at + 2].try_into().map_or(0, u16::from_be_bytes)
}

#[inline]
pub(crate) fn read_u32(data: &[u8], at: usize) -> u32 {
    data[at..at + 4].try_into().map_or(0, u32::from_be_bytes)
}

#[inline]
pub(crate) fn write_u16(data: &mut [u8], at: usize, value: u16) {
    data[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn write_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn read_ipv4(data: &[u8], at: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(read_u32(data, at))
}

#[inline]
pub(crate) fn write_ipv4(data: &mut [u8], at: usize, addr: std::net::Ipv4Addr) {
    data[at..at + 4].copy_from_slice(&addr.octets());
}

/// An Ethernet (EUI-48) MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Builds an address from the first six bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than six bytes.
    pub fn from_bytes(data: &[u8]) -> MacAddr {
        let mut bytes = [0; 6];
        bytes.copy_from_slice(&data[..6]);
        MacAddr(bytes)
    }

    /// The six bytes of the address.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit is set (broadcast is a multicast address).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether the group bit is clear.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the locally-administered bit is set.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(bytes: [u8; 6]) -> Self {
        MacAddr(bytes)
    }
}

impl From<MacAddr> for [u8; 6] {
    fn from(addr: MacAddr) -> Self {
        addr.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// The error of parsing a [`MacAddr`] from a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid MAC address: expected six two-digit hex octets separated by ':' or '-', \
     like aa:bb:cc:dd:ee:ff"
)]
pub struct ParseMacAddrError;

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    /// Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (either case, one separator kind).
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let s = s.as_bytes();
        if s.len() != 17 {
            return Err(ParseMacAddrError);
        }
        let sep = s[2];
        if sep != b':' && sep != b'-' {
            return Err(ParseMacAddrError);
        }
        let hex = |c: u8| -> core::result::Result<u8, ParseMacAddrError> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(ParseMacAddrError),
            }
        };
        let mut bytes = [0u8; 6];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let at = i * 3;
            if i < 5 && s[at + 2] != sep {
                return Err(ParseMacAddrError);
            }
            *byte = (hex(s[at])? << 4) | hex(s[at + 1])?;
        }
        Ok(MacAddr(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_display_and_parse() {
        let mac = MacAddr([0x00, 0x1f, 0xf3, 0x3c, 0xe1, 0x13]);
        assert_eq!(mac.to_string(), "00:1f:f3:3c:e1:13");
        assert_eq!("00:1f:f3:3c:e1:13".parse::<MacAddr>(), Ok(mac));
        assert_eq!("00-1F-F3-3C-E1-13".parse::<MacAddr>(), Ok(mac));
        assert_eq!("ff:ff:ff:ff:ff:ff".parse::<MacAddr>(), Ok(MacAddr::BROADCAST));
        for bad in [
            "",
            "00:1f:f3:3c:e1",
            "00:1f:f3:3c:e1:13:",
            "00:1f:f3:3c:e1:1g",
            "00:1f-f3:3c:e1:13",
            "001f:f3:3c:e1:13:",
            "+0:1f:f3:3c:e1:13",
            "00:1f:f3:3c:e1:é",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(ParseMacAddrError), "{bad:?}");
        }
        assert!(ParseMacAddrError.to_string().contains("aa:bb:cc:dd:ee:ff"));
    }

    #[test]
    fn mac_classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_unicast());
        let mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(mcast.is_multicast() && !mcast.is_broadcast());
        let ucast = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
        assert!(ucast.is_unicast() && ucast.is_local());
        assert!(MacAddr::ZERO.is_unicast());
        assert_eq!(MacAddr::default(), MacAddr::ZERO);
        assert_eq!(MacAddr::from_bytes(&[1, 2, 3, 4, 5, 6, 7]).0, [1, 2, 3, 4, 5, 6]);
    }

    proptest::proptest! {
        #[test]
        fn mac_roundtrip(bytes: [u8; 6]) {
            let mac = MacAddr(bytes);
            proptest::prop_assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
        }

        #[test]
        fn mac_parse_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<MacAddr>();
        }
    }
}
