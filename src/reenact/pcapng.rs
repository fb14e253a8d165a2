//! `--out`: the re-enacted traffic as pcapng, one interface per switch port (named as the
//! config names the port), every frame the switch received or sent on it, marked inbound or
//! outbound as Wireshark shows it (the EPB flags' direction bits), nanosecond timestamps on the
//! switch's clock.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::engine::PortIdx;
use crate::time::Instant;

/// Which way a frame crossed the switch's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Received by the switch.
    In,
    /// Sent by the switch.
    Out,
}

/// A pcapng file being written.
pub struct Recorder {
    path: PathBuf,
    writer: PcapNgWriter<BufWriter<File>>,
    /// The first write error; later frames are not written.
    pub error: Option<String>,
}

impl Recorder {
    /// A file with one interface per name in `ports`, in order.
    pub fn create(path: &Path, ports: &[String]) -> Result<Recorder, String> {
        let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let fail = |e: pcap_file::PcapError| format!("{}: {e}", path.display());
        let mut writer = PcapNgWriter::new(BufWriter::new(file)).map_err(fail)?;
        for name in ports {
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: 0,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(name.clone())),
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            };
            writer.write_pcapng_block(idb).map_err(fail)?;
        }
        Ok(Recorder { path: path.to_owned(), writer, error: None })
    }

    pub fn write(&mut self, port: PortIdx, way: Way, time: Instant, frame: &[u8]) {
        if self.error.is_some() {
            return;
        }
        // The EPB flags word: bits 0-1 are the direction, 1 inbound, 2 outbound.
        let direction = match way {
            Way::In => 1,
            Way::Out => 2,
        };
        let epb = EnhancedPacketBlock {
            interface_id: port as u32,
            timestamp: Duration::from_nanos(time.as_nanos()),
            original_len: frame.len() as u32,
            data: Cow::Borrowed(frame),
            options: vec![EnhancedPacketOption::Flags(direction)],
        };
        if let Err(e) = self.writer.write_pcapng_block(epb) {
            self.error = Some(format!("{}: {e}", self.path.display()));
        }
    }

    /// Flushes the file; the first error, if writing failed.
    pub fn finish(self) -> Result<(), String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let path = self.path;
        self.writer.into_inner().flush().map_err(|e| format!("{}: {e}", path.display()))
    }
}
