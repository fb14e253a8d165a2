//! Capture files down to IPv4 packets: pcap and pcapng, one frame at a time, through the link
//! layers tcpdump writes at a host (Ethernet with any number of VLAN tags, Linux cooked SLL
//! and SLL2, raw IP, BSD loopback).
//!
//! The file is untrusted. A damaged file ends the input at the damage, keeping every frame
//! before it; a link type nobody here can decode is an error naming it; nothing panics. Memory
//! is pcap-file's read buffer (8 MB) and one frame.

use std::fs::File;
use std::io::{BufReader, Chain, Cursor, Read};
use std::ops::Range;
use std::path::Path;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError, TsResolution};

use super::CaptureError;
use crate::port::pcap::timestamp_scale;
use crate::time::Instant;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::read_u16;

/// Frames longer than this are damage, not data: tcpdump's largest snap length.
const MAX_FRAME: usize = 262_144;

/// The link layers this reader decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    Sll,
    /// Linux cooked capture v2.
    Sll2,
    /// IPv4 or IPv6 with no link header (LINKTYPE_RAW and the old DLT_RAW numbers).
    RawIp,
    /// IPv4 only, no link header.
    Ipv4,
    /// BSD loopback: a 4-byte address family, in host (NULL) or network (LOOP) order.
    Loopback,
}

impl Link {
    fn from_number(number: u32) -> Option<Link> {
        // The top bits of a pcap header's link type may carry the FCS length.
        match number & 0xffff {
            1 => Some(Link::Ethernet),
            113 => Some(Link::Sll),
            276 => Some(Link::Sll2),
            12 | 14 | 101 => Some(Link::RawIp),
            228 => Some(Link::Ipv4),
            0 | 108 => Some(Link::Loopback),
            _ => None,
        }
    }
}

fn link_of(datalink: DataLink) -> Result<Link, CaptureError> {
    let number = u32::from(datalink);
    Link::from_number(number).ok_or(CaptureError::LinkType { number, name: format!("{:?}", DataLink::from(number)) })
}

/// What the frames of a capture held, counted as they were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Every frame read.
    pub frames: u64,
    /// IPv4 packets handed on.
    pub ipv4: u64,
    pub ipv6: u64,
    pub arp: u64,
    /// Other protocols (MPLS, LLC, loopback tests, ...), not decoded.
    pub other: u64,
    /// Frames with at least one VLAN tag (decoded through).
    pub vlan_tagged: u64,
    /// Frames too short for their own link header.
    pub short: u64,
    /// Frames cut by the snap length (captured length below the original length).
    pub cut: u64,
}

/// One IPv4 packet of the capture, as captured.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The frame's number in the capture, from 1, as Wireshark counts.
    pub number: u64,
    pub time: Instant,
    /// From the IPv4 header to the end of what was captured (link padding included).
    pub ipv4: &'a [u8],
    /// The capture kept less of the frame than was on the wire.
    pub cut: bool,
}

type Input<R> = Chain<Cursor<[u8; 4]>, R>;

enum Source<R: Read> {
    Pcap { reader: PcapReader<Input<R>>, link: Link, frac_nanos: u64 },
    PcapNg { reader: PcapNgReader<Input<R>>, interfaces: Vec<Interface> },
}

struct Interface {
    link: Result<Link, u32>,
    /// (multiplier, divisor) turning a raw timestamp into nanoseconds.
    scale: (u64, u64),
}

/// What one read of the file gave: a frame (now in the reader's buffer), something that is not
/// a frame (pcapng metadata), or the end.
enum Step {
    Frame { time: Instant, link: Link, orig_len: u32 },
    Skip,
    End,
}

/// Reads IPv4 packets out of a pcap or pcapng stream, one at a time.
pub struct PacketReader<R: Read> {
    source: Source<R>,
    buf: Vec<u8>,
    current: Option<(Instant, Range<usize>, bool)>,
    stats: LinkStats,
    damage: Option<String>,
}

impl PacketReader<BufReader<File>> {
    /// Opens a capture file.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(CaptureError::Io)?;
        PacketReader::new(BufReader::new(file))
    }
}

impl<R: Read> PacketReader<R> {
    /// Reads the file header (pcap) or the first section header (pcapng) of `input`.
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => CaptureError::Format("shorter than a capture header".into()),
            _ => CaptureError::Io(e),
        })?;
        let input = Cursor::new(magic).chain(input);
        let format = |e: PcapError| CaptureError::Format(describe(&e));
        let source = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Source::PcapNg { reader: PcapNgReader::new(input).map_err(format)?, interfaces: Vec::new() }
        } else {
            let reader = PcapReader::new(input).map_err(format)?;
            let header = reader.header();
            let frac_nanos = if header.ts_resolution == TsResolution::NanoSecond { 1 } else { 1000 };
            Source::Pcap { link: link_of(header.datalink)?, reader, frac_nanos }
        };
        Ok(PacketReader { source, buf: Vec::new(), current: None, stats: LinkStats::default(), damage: None })
    }

    /// Moves to the next IPv4 packet; `false` at the end of the file or at damage (see
    /// [`damage`](Self::damage)). Errors only for a link type this reader cannot decode.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        self.current = None;
        while self.damage.is_none() {
            match self.step()? {
                Step::End => return Ok(false),
                Step::Skip => {}
                Step::Frame { time, link, orig_len } => {
                    if let Some(frame) = self.decode(time, link, orig_len) {
                        self.current = Some(frame);
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// The packet [`advance`](Self::advance) moved to.
    pub fn frame(&self) -> Option<Frame<'_>> {
        let (time, range, cut) = self.current.clone()?;
        Some(Frame { number: self.stats.frames, time, ipv4: &self.buf[range], cut })
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Why reading stopped before the end of the file, if it did.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    fn step(&mut self) -> Result<Step, CaptureError> {
        let next = self.stats.frames + 1;
        let step = match &mut self.source {
            Source::Pcap { reader, link, frac_nanos } => pcap_step(reader, *link, *frac_nanos, &mut self.buf),
            Source::PcapNg { reader, interfaces } => pcapng_step(reader, interfaces, &mut self.buf),
        };
        match step {
            Ok(Step::Frame { .. }) if self.buf.len() > MAX_FRAME => {
                self.damage =
                    Some(format!("frame {next}: claims {} bytes, more than any capture holds", self.buf.len()));
                Ok(Step::End)
            }
            Ok(step) => Ok(step),
            Err(Damage::File(reason)) => {
                self.damage = Some(format!("frame {next}: {reason}"));
                Ok(Step::End)
            }
            Err(Damage::Link(number)) => {
                let name = format!("{:?}", DataLink::from(number));
                Err(CaptureError::LinkType { number, name })
            }
        }
    }

    /// Counts the frame in the buffer and finds its IPv4 packet, if it holds one.
    fn decode(&mut self, time: Instant, link: Link, orig_len: u32) -> Option<(Instant, Range<usize>, bool)> {
        self.stats.frames += 1;
        let cut = (self.buf.len() as u64) < u64::from(orig_len);
        self.stats.cut += u64::from(cut);
        let (kind, at) = match link_payload(link, &self.buf, &mut self.stats) {
            Some(found) => found,
            None => {
                self.stats.short += 1;
                return None;
            }
        };
        match kind {
            ethertype::IPV4 => {
                self.stats.ipv4 += 1;
                return Some((time, at..self.buf.len(), cut));
            }
            ethertype::IPV6 => self.stats.ipv6 += 1,
            ethertype::ARP => self.stats.arp += 1,
            _ => self.stats.other += 1,
        }
        None
    }
}

/// Why a read failed: the file is damaged, or a packet is on a link this reader cannot decode.
enum Damage {
    File(String),
    Link(u32),
}

fn pcap_step<R: Read>(
    reader: &mut PcapReader<Input<R>>,
    link: Link,
    frac_nanos: u64,
    buf: &mut Vec<u8>,
) -> Result<Step, Damage> {
    // The raw packet, because pcap-file's checked one refuses an original length above the
    // snap length: exactly the frames a short snap length cuts.
    let packet = match reader.next_raw_packet() {
        None => return Ok(Step::End),
        Some(packet) => packet.map_err(|e| Damage::File(describe(&e)))?,
    };
    let nanos = u64::from(packet.ts_sec) * 1_000_000_000 + u64::from(packet.ts_frac).saturating_mul(frac_nanos);
    buf.clear();
    buf.extend_from_slice(&packet.data);
    Ok(Step::Frame { time: Instant::from_nanos(nanos), link, orig_len: packet.orig_len })
}

fn pcapng_step<R: Read>(
    reader: &mut PcapNgReader<Input<R>>,
    interfaces: &mut Vec<Interface>,
    buf: &mut Vec<u8>,
) -> Result<Step, Damage> {
    let block = match reader.next_block() {
        None => return Ok(Step::End),
        Some(block) => block.map_err(|e| Damage::File(describe(&e)))?,
    };
    let (interface, raw_time, orig_len, data) = match block {
        Block::SectionHeader(_) => {
            interfaces.clear();
            return Ok(Step::Skip);
        }
        Block::InterfaceDescription(idb) => {
            let number = u32::from(idb.linktype);
            let link = Link::from_number(number).ok_or(number);
            interfaces.push(Interface { link, scale: timestamp_scale(&idb) });
            return Ok(Step::Skip);
        }
        Block::EnhancedPacket(epb) => {
            let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
            (epb.interface_id, raw, epb.original_len, epb.data)
        }
        Block::Packet(pb) => (u32::from(pb.interface_id), pb.timestamp, pb.original_len, pb.data),
        // A simple packet has no timestamp and belongs to the first interface.
        Block::SimplePacket(spb) => (0, 0, spb.original_len, spb.data),
        _ => return Ok(Step::Skip),
    };
    let Some(unit) = interfaces.get(interface as usize) else {
        return Err(Damage::File(format!("packet for undescribed interface {interface}")));
    };
    let link = unit.link.map_err(Damage::Link)?;
    let nanos = raw_time.saturating_mul(unit.scale.0) / unit.scale.1;
    buf.clear();
    buf.extend_from_slice(&data);
    Ok(Step::Frame { time: Instant::from_nanos(nanos), link, orig_len })
}

/// pcap-file's messages, made to say what happened to the file.
fn describe(e: &PcapError) -> String {
    match e {
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends in the middle of a frame (truncated capture)".into()
        }
        PcapError::IoError(io) => format!("read error: {io}"),
        other => other.to_string(),
    }
}

/// The protocol of a frame's payload (an ethertype) and where the payload starts, or `None`
/// if the frame is shorter than its link header.
fn link_payload(link: Link, data: &[u8], stats: &mut LinkStats) -> Option<(u16, usize)> {
    match link {
        Link::Ethernet => ethernet_payload(data, stats),
        // SLL: packet type, ARPHRD type, address length, 8 address bytes, then the protocol.
        Link::Sll => (data.len() >= 16).then(|| (read_u16(data, 14), 16)),
        // SLL2: the protocol first, then reserved, interface index, ARPHRD, type, address.
        Link::Sll2 => (data.len() >= 20).then(|| (read_u16(data, 0), 20)),
        Link::RawIp => ip_version(data, 0),
        Link::Ipv4 => Some((ethertype::IPV4, 0)),
        Link::Loopback => {
            let family = data.get(..4)?;
            // AF_INET is 2 everywhere; AF_INET6 differs between BSDs, so look at the packet.
            if family == [2, 0, 0, 0] || family == [0, 0, 0, 2] {
                Some((ethertype::IPV4, 4))
            } else {
                ip_version(data, 4)
            }
        }
    }
}

fn ip_version(data: &[u8], at: usize) -> Option<(u16, usize)> {
    let kind = match data.get(at)? >> 4 {
        4 => ethertype::IPV4,
        6 => ethertype::IPV6,
        _ => 0,
    };
    Some((kind, at))
}

fn ethernet_payload(data: &[u8], stats: &mut LinkStats) -> Option<(u16, usize)> {
    let frame = ethernet::Frame::new_checked(data).ok()?;
    let mut kind = frame.outer_ethertype();
    let mut at = ethernet::HEADER_LEN;
    if matches!(kind, ethertype::VLAN | ethertype::QINQ) {
        stats.vlan_tagged += 1;
    }
    // Each 802.1Q or 802.1ad tag is 4 bytes: the tag control, then the next type.
    while matches!(kind, ethertype::VLAN | ethertype::QINQ) {
        kind = read_u16(data.get(at..at + 4)?, 2);
        at += 4;
    }
    Some((kind, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_numbers() {
        assert_eq!(Link::from_number(1), Some(Link::Ethernet));
        assert_eq!(Link::from_number(113), Some(Link::Sll));
        assert_eq!(Link::from_number(276), Some(Link::Sll2));
        for raw in [12, 14, 101] {
            assert_eq!(Link::from_number(raw), Some(Link::RawIp));
        }
        // Ethernet with a 4-byte FCS announced in the top bits of the pcap header.
        assert_eq!(Link::from_number(0x2400_0001), Some(Link::Ethernet));
        assert_eq!(Link::from_number(105), None);
    }

    #[test]
    fn stacked_vlan_tags_are_decoded() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00, 0x45]);
        let mut stats = LinkStats::default();
        assert_eq!(ethernet_payload(&frame, &mut stats), Some((ethertype::IPV4, 22)));
        assert_eq!(stats.vlan_tagged, 1);
        // A tag cut short is a short frame.
        assert_eq!(ethernet_payload(&frame[..20], &mut stats), None);
    }

    #[test]
    fn unknown_link_type_is_named() {
        // A pcap header for IEEE 802.11 (105).
        let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&65535u32.to_le_bytes());
        header.extend_from_slice(&105u32.to_le_bytes());
        let err = PacketReader::new(&header[..]).err().expect("802.11 is refused");
        assert_eq!(err.to_string(), "link type 105 (IEEE802_11) is not one stickwire reads: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD loopback");
    }
}
