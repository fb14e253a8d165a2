//! A software port over capture files: frames come from a pcap or pcapng file, with the
//! capture's timestamps as their arrival times, and what the switch sends is written to
//! another capture with the switch's timestamps.
//!
//! Captures are untrusted: a frame of any length or content is delivered as captured; a
//! frame longer than a port can carry is counted and dropped, as a NIC would; a damaged
//! file ends the input at the damage with a message, keeping everything read before it.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, TsResolution};

use super::{Port, PortStats};
use crate::time::Instant;
use crate::wire::buffer::MAX_FRAME_LEN;

/// Errors opening or writing a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a pcap or pcapng capture ({reason})")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: link type {link:?} is not Ethernet")]
    LinkType { path: PathBuf, link: DataLink },
    #[error("{path}: cannot write: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// A captured frame and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    pub time: Instant,
    pub data: Vec<u8>,
}

enum Reader {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg {
        reader: PcapNgReader<BufReader<File>>,
        /// Nanoseconds per timestamp unit of each interface.
        units: Vec<InterfaceUnit>,
    },
}

#[derive(Clone, Copy)]
struct InterfaceUnit {
    ethernet: bool,
    /// (multiplier, divisor) turning a raw timestamp into nanoseconds.
    scale: (u64, u64),
}

/// Reads frames from a pcap or pcapng file, one at a time.
pub struct CaptureReader {
    path: PathBuf,
    reader: Reader,
    /// Why reading stopped early, if it did.
    pub damage: Option<String>,
    /// Frames skipped because their interface is not Ethernet (pcapng).
    pub skipped_non_ethernet: u64,
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let io = |source| CaptureError::Io { path: path.to_owned(), source };
        let mut file = File::open(path).map_err(io)?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).map_err(|_| CaptureError::Format {
            path: path.to_owned(),
            reason: "shorter than a capture header".into(),
        })?;
        let file = File::open(path).map_err(io)?;
        let format = |e: pcap_file::PcapError| CaptureError::Format { path: path.to_owned(), reason: e.to_string() };
        let reader = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Reader::PcapNg { reader: PcapNgReader::new(BufReader::new(file)).map_err(format)?, units: Vec::new() }
        } else {
            let reader = PcapReader::new(BufReader::new(file)).map_err(format)?;
            let link = reader.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(CaptureError::LinkType { path: path.to_owned(), link });
            }
            Reader::Pcap(reader)
        };
        Ok(CaptureReader { path: path.to_owned(), reader, damage: None, skipped_non_ethernet: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next Ethernet frame, or `None` at the end (or at damage, noted in `damage`).
    pub fn next_frame(&mut self) -> Option<CapturedFrame> {
        if self.damage.is_some() {
            return None;
        }
        match &mut self.reader {
            Reader::Pcap(reader) => match reader.next_packet()? {
                Ok(p) => Some(CapturedFrame { time: to_instant(p.timestamp), data: p.data.into_owned() }),
                Err(e) => {
                    self.damage = Some(e.to_string());
                    None
                }
            },
            Reader::PcapNg { reader, units } => loop {
                let block = match reader.next_block()? {
                    Ok(block) => block,
                    Err(e) => {
                        self.damage = Some(e.to_string());
                        return None;
                    }
                };
                match block {
                    Block::SectionHeader(_) => units.clear(),
                    Block::InterfaceDescription(idb) => units.push(interface_unit(&idb)),
                    Block::EnhancedPacket(epb) => {
                        let Some(unit) = units.get(epb.interface_id as usize) else {
                            self.damage = Some(format!("packet for undescribed interface {}", epb.interface_id));
                            return None;
                        };
                        if !unit.ethernet {
                            self.skipped_non_ethernet += 1;
                            continue;
                        }
                        let raw = u64::try_from(epb.timestamp.as_nanos()).unwrap_or(u64::MAX);
                        let nanos = raw.saturating_mul(unit.scale.0) / unit.scale.1;
                        return Some(CapturedFrame { time: Instant::from_nanos(nanos), data: epb.data.into_owned() });
                    }
                    Block::SimplePacket(spb) => {
                        if !units.first().is_some_and(|u| u.ethernet) {
                            self.skipped_non_ethernet += 1;
                            continue;
                        }
                        return Some(CapturedFrame { time: Instant::ZERO, data: spb.data.into_owned() });
                    }
                    _ => continue,
                }
            },
        }
    }

    /// Reads the whole capture.
    pub fn read_all(&mut self) -> Vec<CapturedFrame> {
        std::iter::from_fn(|| self.next_frame()).collect()
    }
}

fn interface_unit(idb: &InterfaceDescriptionBlock) -> InterfaceUnit {
    InterfaceUnit { ethernet: idb.linktype == DataLink::ETHERNET, scale: timestamp_scale(idb) }
}

/// `(multiplier, divisor)` turning an interface's raw pcapng timestamps into nanoseconds.
pub(crate) fn timestamp_scale(idb: &InterfaceDescriptionBlock) -> (u64, u64) {
    let resol = idb.options.iter().find_map(|o| match o {
        InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
        _ => None,
    });
    // if_tsresol: 10^-n seconds, or 2^-n with the top bit set; microseconds by default.
    match resol.unwrap_or(6) {
        r if r & 0x80 != 0 => (1_000_000_000, 1u64.checked_shl(u32::from(r & 0x7f)).unwrap_or(u64::MAX)),
        r if r <= 9 => (10u64.pow(9 - u32::from(r)), 1),
        r => (1, 10u64.checked_pow(u32::from(r) - 9).unwrap_or(u64::MAX)),
    }
}

fn to_instant(d: Duration) -> Instant {
    Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

enum Writer {
    Pcap(PcapWriter<BufWriter<File>>),
    PcapNg(PcapNgWriter<BufWriter<File>>),
}

/// Writes frames to a capture: pcapng if the file name ends in `.pcapng`, else pcap, both
/// with nanosecond timestamps.
pub struct CaptureWriter {
    path: PathBuf,
    writer: Writer,
}

impl CaptureWriter {
    pub fn create(path: &Path) -> Result<CaptureWriter, CaptureError> {
        let file = File::create(path).map_err(|source| CaptureError::Io { path: path.to_owned(), source })?;
        let werr = |e: pcap_file::PcapError| CaptureError::Write { path: path.to_owned(), reason: e.to_string() };
        let out = BufWriter::new(file);
        let writer = if path.extension().is_some_and(|e| e == "pcapng") {
            let mut w = PcapNgWriter::new(out).map_err(werr)?;
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: 0,
                options: vec![InterfaceDescriptionOption::IfTsResol(9)],
            };
            w.write_pcapng_block(idb).map_err(werr)?;
            Writer::PcapNg(w)
        } else {
            let header = PcapHeader { ts_resolution: TsResolution::NanoSecond, ..PcapHeader::default() };
            Writer::Pcap(PcapWriter::with_header(out, header).map_err(werr)?)
        };
        Ok(CaptureWriter { path: path.to_owned(), writer })
    }

    pub fn write(&mut self, time: Instant, data: &[u8]) -> Result<(), CaptureError> {
        let werr = |e: pcap_file::PcapError| CaptureError::Write { path: self.path.clone(), reason: e.to_string() };
        let timestamp = Duration::from_nanos(time.as_nanos());
        match &mut self.writer {
            Writer::Pcap(w) => {
                w.write_packet(&PcapPacket::new(timestamp, data.len() as u32, data)).map(drop).map_err(werr)
            }
            Writer::PcapNg(w) => {
                let epb = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp,
                    original_len: data.len() as u32,
                    data: Cow::Borrowed(data),
                    options: vec![],
                };
                w.write_pcapng_block(epb).map(drop).map_err(werr)
            }
        }
    }

    /// Flushes what was written to the file.
    pub fn finish(self) -> Result<(), CaptureError> {
        let path = self.path;
        let result = match self.writer {
            Writer::Pcap(w) => w.into_writer().flush(),
            Writer::PcapNg(w) => w.into_inner().flush(),
        };
        result.map_err(|source| CaptureError::Io { path, source })
    }
}

/// The software PMD: a port that receives a capture's frames on the capture's clock and
/// records what it sends.
pub struct PcapPort {
    input: Option<CaptureReader>,
    next: Option<CapturedFrame>,
    output: Option<CaptureWriter>,
    write_error: Option<CaptureError>,
    stats: PortStats,
    /// Frames longer than a port carries, dropped on receive.
    pub rx_oversize: u64,
}

impl PcapPort {
    /// A port reading `input` (if any) and writing what it sends to `output` (if any).
    pub fn new(input: Option<CaptureReader>, output: Option<CaptureWriter>) -> PcapPort {
        let mut port =
            PcapPort { input, next: None, output, write_error: None, stats: PortStats::default(), rx_oversize: 0 };
        port.advance();
        port
    }

    fn advance(&mut self) {
        self.next = self.input.as_mut().and_then(CaptureReader::next_frame);
    }

    /// Why the input stopped early, if it did.
    pub fn input_damage(&self) -> Option<&str> {
        self.input.as_ref()?.damage.as_deref()
    }

    /// Flushes the output capture; reports the first write error, if any happened.
    pub fn finish(self) -> Result<(), CaptureError> {
        if let Some(e) = self.write_error {
            return Err(e);
        }
        match self.output {
            Some(w) => w.finish(),
            None => Ok(()),
        }
    }
}

impl Port for PcapPort {
    type Buf = Vec<u8>;

    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Vec<u8>>, max: usize) {
        let mut taken = 0;
        while taken < max {
            match &self.next {
                Some(frame) if frame.time <= now => {}
                _ => break,
            }
            let Some(frame) = self.next.take() else { break };
            self.advance();
            if frame.data.len() > MAX_FRAME_LEN {
                self.rx_oversize += 1;
                self.stats.rx_missed += 1;
                continue;
            }
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += frame.data.len() as u64;
            out.push(frame.data);
            taken += 1;
        }
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut Vec<Vec<u8>>) -> usize {
        let sent = frames.len();
        for frame in frames.drain(..) {
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
            if let (Some(w), None) = (&mut self.output, &self.write_error) {
                if let Err(e) = w.write(now, &frame) {
                    self.write_error = Some(e);
                }
            }
        }
        sent
    }

    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::with_capacity(MAX_FRAME_LEN))
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    /// When the next frame arrives, or `None` when the capture is exhausted.
    fn next_arrival(&self) -> Option<Instant> {
        self.next.as_ref().map(|f| f.time)
    }
}
