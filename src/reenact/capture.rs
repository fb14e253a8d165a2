//! The capture side of `stickwire reenact`: what a real client<->server capture says each side
//! sent, so that a re-enactment through the switch can check that each side receives exactly
//! that.
//!
//! A capture (pcap or pcapng, taken with tcpdump at a client or a server, Ethernet, Linux
//! cooked SLL/SLL2 or raw IP) is read one frame at a time ([`PacketReader`]); its TCP segments
//! are grouped into [`Conversation`]s and each direction's bytes put back in sequence order.
//!
//! # Two walks, bounded memory
//!
//! [`scan`] walks the capture once and returns every conversation's summary ([`Scan`]).
//! [`Segments`] walks it again, or for the first time, and hands out each TCP segment in
//! capture order with its conversation and direction (the same [`ConvId`]s on every walk), so
//! a re-enactment replays segments as it reads them instead of holding them.
//!
//! Nothing grows with the size of the capture but the list of conversations. Each direction's
//! stream is summarised by a [`StreamDigest`]: its length, its first [`Limits::keep`] bytes as
//! they are, and a hash per 64 KiB. The receiving side of a re-enactment digests what it
//! receives the same way; equal digests are equal streams, and a difference is placed exactly
//! in the kept bytes and to its 64 KiB chunk beyond them. Bytes that arrive ahead of a missing
//! one wait, up to [`Limits::max_pending`] per direction, before the missing ones are declared
//! a hole. With the default limits a conversation costs at most 8 KiB of kept bytes, 128 bytes
//! per megabyte it carried and a few hundred bytes of counters, plus, only while a hole is
//! open, what waits behind it. The read buffer is 8 MB; one frame is held at a time.
//!
//! Why not keep the streams whole, in memory or in temporary files? A re-enactment does not
//! need them: it replays segments from the capture as it walks it, and checks what it receives
//! against a digest it can build in the same bounded memory. Temporary files would cost as
//! much disk as the capture and a file per live conversation, to answer a question the digest
//! answers. When a difference needs showing beyond the kept bytes, a second walk of the
//! capture finds the segments that carried that stretch of the stream.
//!
//! # What "incomplete" means
//!
//! A conversation is [`Incomplete`] (and a re-enactment judges it `incomplete-capture`) when
//! the capture cannot say what was sent: its handshake is missing (no SYN, or no SYN-ACK while
//! the client went on); a direction has a hole (sequence space never captured, found by a gap
//! between captured bytes, a FIN beyond them, or the peer acknowledging more than was seen); a
//! payload was cut by the snap length; a retransmission carried other bytes than the first
//! copy; or it came in IP fragments. A capture that simply ends while the conversation goes on
//! is not incomplete: every byte it shows is contiguous, and that much can be judged.

mod conv;
mod link;
mod stream;
#[cfg(test)]
pub(crate) mod tests;

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use self::conv::{ConvId, Conversation, Dir, Incomplete, IpStats, Limits, Seen, Stream};
use self::conv::{Placed, Tracker};
pub use self::link::{Frame, LinkStats, PacketReader};
pub use self::stream::{Hole, Holes, Reassembler, ReassemblyStats, StreamDigest, CHUNK};
use crate::time::Instant;
use crate::wire::tcp::flags;

/// Why a capture cannot be read at all. (Damage part-way through is not an error: reading
/// stops there and [`Scan::damage`] says where.)
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("read error: {0}")]
    Io(std::io::Error),
    #[error("not a pcap or pcapng capture: {0}")]
    Format(String),
    #[error(
        "link type {number} ({name}) is not one stickwire reads: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD \
         loopback"
    )]
    LinkType { number: u32, name: String },
}

/// One TCP segment of the capture, in capture order.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// The frame's number in the capture, from 1.
    pub frame: u64,
    pub time: Instant,
    pub conv: ConvId,
    pub dir: Dir,
    /// The TCP flags (see [`crate::wire::tcp::flags`]).
    pub flags: u8,
    /// The sequence number relative to the sender's ISN (the SYN is 0, the first byte 1).
    pub rel_seq: i64,
    /// The acknowledgement number relative to the peer's ISN, if the ACK flag is set.
    pub rel_ack: Option<i64>,
    /// The sequence and acknowledgement numbers as sent.
    pub seq: u32,
    pub ack: u32,
    /// The window field, not scaled.
    pub window: u16,
    /// The TCP options as sent (read them with [`crate::wire::tcp::options_iter`]).
    pub options: &'a [u8],
    /// The payload as captured.
    pub payload: &'a [u8],
    /// The payload length on the wire: more than `payload.len()` when the snap length cut it.
    pub wire_len: u32,
}

impl Segment<'_> {
    /// Where the captured payload lies in the sender's stream (offset 0 is the first byte);
    /// `None` for a segment without payload or before the stream's start.
    pub fn stream_range(&self) -> Option<Range<u64>> {
        let start = self.rel_seq - 1 + i64::from(self.flags & flags::SYN != 0);
        let start = u64::try_from(start).ok()?;
        (!self.payload.is_empty()).then(|| start..start + self.payload.len() as u64)
    }
}

/// A walk over a capture's TCP segments, in capture order.
pub struct Segments<R: Read> {
    reader: PacketReader<R>,
    tracker: Tracker,
    placed: Option<Placed>,
}

impl Segments<BufReader<File>> {
    pub fn open(path: &Path, limits: Limits) -> Result<Self, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Open { path: path.to_owned(), source })?;
        Segments::new(BufReader::new(file), limits)
    }
}

impl<R: Read> Segments<R> {
    pub fn new(input: R, limits: Limits) -> Result<Self, CaptureError> {
        Ok(Segments { reader: PacketReader::new(input)?, tracker: Tracker::new(limits), placed: None })
    }

    /// The next TCP segment, or `None` at the end of the capture or at damage.
    pub fn next_segment(&mut self) -> Result<Option<Segment<'_>>, CaptureError> {
        self.placed = None;
        while self.placed.is_none() {
            if !self.reader.advance()? {
                return Ok(None);
            }
            if let Some(frame) = self.reader.frame() {
                self.placed = self.tracker.push(&frame);
            }
        }
        Ok(self.current())
    }

    fn current(&self) -> Option<Segment<'_>> {
        let (frame, placed) = (self.reader.frame()?, self.placed.as_ref()?);
        Some(Segment {
            frame: frame.number,
            time: frame.time,
            conv: placed.conv,
            dir: placed.dir,
            flags: placed.flags,
            rel_seq: placed.rel_seq,
            rel_ack: placed.rel_ack,
            seq: placed.seq,
            ack: placed.ack,
            window: placed.window,
            options: &frame.ipv4[placed.options.clone()],
            payload: &frame.ipv4[placed.payload.clone()],
            wire_len: placed.wire_len,
        })
    }

    /// Ends the walk: every conversation, and what else the capture held.
    pub fn finish(self) -> Scan {
        Scan {
            link: self.reader.stats(),
            ip: self.tracker.stats(),
            damage: self.reader.damage().map(str::to_owned),
            conversations: self.tracker.finish(),
        }
    }
}

/// What a capture holds.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Indexed by [`ConvId`], in the order their first segments came.
    pub conversations: Vec<Conversation>,
    pub link: LinkStats,
    pub ip: IpStats,
    /// Where and why reading stopped before the end of the file.
    pub damage: Option<String>,
}

impl Scan {
    pub fn conversation(&self, id: ConvId) -> Option<&Conversation> {
        self.conversations.get(id.0 as usize)
    }

    /// What a user should know about the capture as a whole: damage, and traffic left out.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(damage) = &self.damage {
            notes.push(format!("capture damaged, read up to {damage}"));
        }
        let left_out = [
            (self.link.ipv6, "IPv6 frames (not re-enacted)"),
            (self.link.arp + self.link.other, "frames of other protocols"),
            (self.link.short, "frames too short for their link header"),
            (self.link.cut, "frames captured shorter than on the wire"),
            (self.ip.not_tcp, "IPv4 packets other than TCP"),
            (self.ip.fragments, "TCP fragments (not reassembled)"),
            (self.ip.malformed, "malformed IPv4 or TCP headers"),
            (self.ip.cut_headers, "TCP headers cut by the snap length"),
        ];
        notes.extend(left_out.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")));
        notes
    }
}

/// Walks a whole capture file once.
pub fn scan(path: &Path, limits: Limits) -> Result<Scan, CaptureError> {
    scan_segments(Segments::open(path, limits)?)
}

/// Walks a whole capture, from any reader.
pub fn scan_reader<R: Read>(input: R, limits: Limits) -> Result<Scan, CaptureError> {
    scan_segments(Segments::new(input, limits)?)
}

fn scan_segments<R: Read>(mut segments: Segments<R>) -> Result<Scan, CaptureError> {
    while segments.next_segment()?.is_some() {}
    Ok(segments.finish())
}
