//! TCP (RFC 9293) segments and their options.
//!
//! For the splice, [`read_options`] reads what a segment's options say and [`rewrite_options`]
//! translates them in place; [`TcpRepr`] builds the segments the switch sends itself.
//!
//! A [`Packet`] is the whole buffer: slice it to the IP payload (`ipv4::Packet::payload`)
//! before wrapping it, since the checksum covers every byte of it.

use std::net::Ipv4Addr;

use super::{checksum, ipv4, read_u16, read_u32, write_u16, write_u32, Error, Field, Result};

/// The TCP flags, as in the low byte of [`Packet::flags`].
pub mod flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
    /// The urgent pointer is valid.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

mod field {
    use super::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// The length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// The longest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// A read/write view of a TCP segment.
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

    /// Checks that the buffer holds 20 bytes, the data offset is at least 5 and the header
    /// with its options fits in the buffer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_bytes();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
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

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// The acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// The header length in bytes (data offset * 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// [`header_len`](Self::header_len) as a `usize`, for slicing.
    #[inline]
    fn header_bytes(&self) -> usize {
        usize::from(self.header_len())
    }

    /// The eight flag bits (see [`flags`]); the NS bit is not included.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    fn flag(&self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    /// The FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flag(flags::FIN)
    }

    /// The SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flag(flags::SYN)
    }

    /// The RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flag(flags::RST)
    }

    /// The PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flag(flags::PSH)
    }

    /// The ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flag(flags::ACK)
    }

    /// The URG flag.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flag(flags::URG)
    }

    /// The ECE flag.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flag(flags::ECE)
    }

    /// The CWR flag.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flag(flags::CWR)
    }

    /// The window size field (not scaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options: the bytes from 20 to `header_len`. Walk them with [`options_iter`].
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_bytes()]
    }

    /// The payload: everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_bytes()..]
    }

    /// How much sequence space the segment takes: the payload length, plus one for SYN and
    /// one for FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload().len() + usize::from(self.syn()) + usize::from(self.fin())
    }

    /// Whether the checksum over the pseudo-header and the whole buffer is right.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        !fold_segment_sum(src, dst, data) == 0
    }
}

/// The folded sum of the pseudo-header and the segment.
fn fold_segment_sum(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> u16 {
    // An IPv4 packet cannot carry more than 65535 bytes, so the length always fits.
    let len = data.len() as u16;
    checksum::fold(checksum::combine(&[
        checksum::pseudo_header_v4(src, dst, ipv4::protocol::TCP, len),
        checksum::sum(data),
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM.start, value)
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM.start, value)
    }

    /// Sets the header length in bytes (a multiple of 4, at most 60; changes the layout).
    /// The reserved bits and NS are kept.
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        let offset = (value / 4) & 0x0f;
        data[field::DATA_OFFSET] = (data[field::DATA_OFFSET] & 0x0f) | (offset << 4);
    }

    /// Sets the eight flag bits.
    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value
    }

    #[inline]
    fn set_flag(&mut self, flag: u8, value: bool) {
        let raw = self.flags();
        self.set_flags(if value { raw | flag } else { raw & !flag })
    }

    /// Sets the FIN flag.
    #[inline]
    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(flags::FIN, value)
    }

    /// Sets the SYN flag.
    #[inline]
    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(flags::SYN, value)
    }

    /// Sets the RST flag.
    #[inline]
    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(flags::RST, value)
    }

    /// Sets the PSH flag.
    #[inline]
    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(flags::PSH, value)
    }

    /// Sets the ACK flag.
    #[inline]
    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(flags::ACK, value)
    }

    /// Sets the URG flag.
    #[inline]
    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(flags::URG, value)
    }

    /// Sets the ECE flag.
    #[inline]
    pub fn set_ece(&mut self, value: bool) {
        self.set_flag(flags::ECE, value)
    }

    /// Sets the CWR flag.
    #[inline]
    pub fn set_cwr(&mut self, value: bool) {
        self.set_flag(flags::CWR, value)
    }

    /// Sets the window size field.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE.start, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, value)
    }

    /// The options, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let range = HEADER_LEN..self.header_bytes();
        &mut self.buffer.as_mut()[range]
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_bytes();
        &mut self.buffer.as_mut()[header_len..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer and writes it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let checksum = !fold_segment_sum(src, dst, self.buffer.as_ref());
        self.set_checksum(checksum)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK_RANGE: u8 = 5;
    pub const TSTAMP: u8 = 8;
}

/// A TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of the option list (kind 0).
    EndOfList,
    /// Padding (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5), as `(left edge, right edge)`, filled from the first. An option
    /// holds one to four blocks (RFC 2018): four fit only without timestamps (2 + 4 * 8 = 34
    /// bytes), and Linux sends them.
    SackRange([Option<(u32, u32)>; 4]),
    /// Timestamps (kind 8).
    Timestamp {
        /// The sender's timestamp value.
        tsval: u32,
        /// The echoed timestamp.
        tsecr: u32,
    },
    /// Any other option, with the bytes after its kind and length.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buffer` and returns the bytes after it.
    ///
    /// Errors: `Truncated` for an empty buffer or an option longer than the buffer,
    /// `Malformed` for a length below 2 or a wrong length for a known kind.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&kind, after_kind) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            option_kind::END => return Ok((after_kind, TcpOption::EndOfList)),
            option_kind::NOP => return Ok((after_kind, TcpOption::NoOperation)),
            _ => {}
        }
        let &length = after_kind.first().ok_or(Error::Truncated)?;
        let length = usize::from(length);
        if length < 2 {
            return Err(Error::Malformed);
        }
        if length > buffer.len() {
            return Err(Error::Truncated);
        }
        let data = &buffer[2..length];
        let rest = &buffer[length..];
        let option = match (kind, data.len()) {
            (option_kind::MSS, 2) => TcpOption::MaxSegmentSize(read_u16(data, 0)),
            (option_kind::WS, 1) => TcpOption::WindowScale(data[0]),
            (option_kind::SACK_PERM, 0) => TcpOption::SackPermitted,
            (option_kind::SACK_RANGE, n) if n > 0 && n.is_multiple_of(8) && n <= 32 => {
                let mut ranges = [None; 4];
                for (range, block) in ranges.iter_mut().zip(data.chunks_exact(8)) {
                    *range = Some((read_u32(block, 0), read_u32(block, 4)));
                }
                TcpOption::SackRange(ranges)
            }
            (option_kind::TSTAMP, 8) => TcpOption::Timestamp { tsval: read_u32(data, 0), tsecr: read_u32(data, 4) },
            (
                option_kind::MSS
                | option_kind::WS
                | option_kind::SACK_PERM
                | option_kind::SACK_RANGE
                | option_kind::TSTAMP,
                _,
            ) => return Err(Error::Malformed),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }

    /// The number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(ranges) => 2 + 8 * ranges.iter().flatten().count(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns the bytes after it.
    ///
    /// # Panics
    /// If `buffer` is shorter than [`buffer_len`](Self::buffer_len), or an `Unknown` option's
    /// data is longer than 253 bytes.
    pub fn emit<'b>(&self, buffer: &'b mut [u8]) -> &'b mut [u8] {
        let length = self.buffer_len();
        let (kind, length_byte) = match self {
            TcpOption::EndOfList => (option_kind::END, None),
            TcpOption::NoOperation => (option_kind::NOP, None),
            TcpOption::MaxSegmentSize(_) => (option_kind::MSS, Some(length)),
            TcpOption::WindowScale(_) => (option_kind::WS, Some(length)),
            TcpOption::SackPermitted => (option_kind::SACK_PERM, Some(length)),
            TcpOption::SackRange(_) => (option_kind::SACK_RANGE, Some(length)),
            TcpOption::Timestamp { .. } => (option_kind::TSTAMP, Some(length)),
            TcpOption::Unknown { kind, .. } => (*kind, Some(length)),
        };
        buffer[0] = kind;
        if let Some(length) = length_byte {
            buffer[1] = u8::try_from(length).expect("TCP option longer than 255 bytes");
        }
        match *self {
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::SackPermitted => {}
            TcpOption::MaxSegmentSize(mss) => write_u16(buffer, 2, mss),
            TcpOption::WindowScale(shift) => buffer[2] = shift,
            TcpOption::SackRange(ranges) => {
                for (i, (left, right)) in ranges.iter().flatten().enumerate() {
                    write_u32(buffer, 2 + 8 * i, *left);
                    write_u32(buffer, 6 + 8 * i, *right);
                }
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                write_u32(buffer, 2, tsval);
                write_u32(buffer, 6, tsecr);
            }
            TcpOption::Unknown { data, .. } => buffer[2..length].copy_from_slice(data),
        }
        &mut buffer[length..]
    }
}

/// An iterator over the options of a TCP header; see [`options_iter`].
#[derive(Debug, Clone)]
pub struct OptionsIter<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((rest, option)) => {
                self.rest = rest;
                self.done = option == TcpOption::EndOfList;
                Some(Ok(option))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

impl core::iter::FusedIterator for OptionsIter<'_> {}

/// Walks the options in `opts` (from [`Packet::options`]). Yields every option, `NoOperation`
/// and `EndOfList` included, and stops after `EndOfList`, after the first error, or at the
/// end of the bytes.
pub fn options_iter(opts: &[u8]) -> OptionsIter<'_> {
    OptionsIter { rest: opts, done: false }
}

/// TCP timestamps (RFC 7323).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamps {
    /// The sender's clock (TSval).
    pub tsval: u32,
    /// The peer's clock, echoed (TSecr); meaningless without ACK.
    pub tsecr: u32,
}

/// What the options of one segment carry that a splice needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OptionsSeen {
    /// The maximum segment size.
    pub mss: Option<u16>,
    /// The window scale shift, as sent (RFC 7323 has receivers use 14 for anything larger).
    pub window_scale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// The timestamps.
    pub timestamps: Option<Timestamps>,
    /// How many blocks the SACK option holds (0 without one).
    pub sack_blocks: usize,
}

/// Reads the options of a segment (the bytes of [`Packet::options`]). Where an option comes
/// twice, the later one wins. Stops at an end-of-list option.
///
/// Errors: those of [`TcpOption::parse`] for the first malformed option (bad length,
/// truncated): a segment the engine counts and drops. Never panics.
pub fn read_options(options: &[u8]) -> Result<OptionsSeen> {
    // Linux's SYN (MSS, SACK permitted, timestamps, NOP, window scale), which most SYNs and
    // a SYN flood's are: read in place, without the option loop.
    if let [2, 4, m0, m1, 4, 2, 8, 10, v0, v1, v2, v3, e0, e1, e2, e3, 1, 3, 3, shift] = *options {
        return Ok(OptionsSeen {
            mss: Some(u16::from_be_bytes([m0, m1])),
            window_scale: Some(shift),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
            }),
            sack_blocks: 0,
        });
    }
    let mut seen = OptionsSeen::default();
    for option in options_iter(options) {
        match option? {
            TcpOption::MaxSegmentSize(mss) => seen.mss = Some(mss),
            TcpOption::WindowScale(shift) => seen.window_scale = Some(shift),
            TcpOption::SackPermitted => seen.sack_permitted = true,
            TcpOption::Timestamp { tsval, tsecr } => seen.timestamps = Some(Timestamps { tsval, tsecr }),
            TcpOption::SackRange(blocks) => seen.sack_blocks = blocks.iter().flatten().count(),
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
        }
    }
    Ok(seen)
}

/// The constant changes [`rewrite_options`] makes (SACK edges go through a function). The
/// default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OptionEdits {
    /// Added to TSval (wrapping).
    pub ts_val_add: u32,
    /// Added to TSecr (wrapping): `d.wrapping_neg()` takes `d` off. Leave it 0 for a segment
    /// without ACK, whose TSecr means nothing.
    pub ts_ecr_add: u32,
    /// An MSS above this is lowered to it.
    pub mss_max: Option<u16>,
}

/// Rewrites the options of a segment in place (`options` as [`Packet::options_mut`] gives
/// them: they must start at an even offset of the segment, as byte 20 does) and returns the
/// change to the TCP checksum, for the caller to fold in once with its other changes
/// (RFC 1624). Never sums more than the fields it changes.
///
/// Both edges of every SACK block go through `map_sack`: the map of the segment's ACK number,
/// since the blocks acknowledge the same stream. A function rather than a delta because an
/// inserted cookie makes the map piecewise (`Splice::client_ack_to_server` sends an edge
/// inside the inserted bytes to the insertion point); `|edge| edge` leaves them.
///
/// All or nothing: a malformed option anywhere is an error (as from [`read_options`]) and
/// leaves every byte as it was, so the caller can count and drop the segment.
///
/// A field at an odd offset (a timestamp after a single NOP) spans three 16-bit words of the
/// checksum, its first byte low in one word and its last byte high in another. Its share of
/// the sum is that of the byte-swapped field at an even offset (RFC 1071 2.B, byte order
/// independence: `b0 + (b1 << 8)` is `swap(b0 b1)`), so the swapped old and new values go
/// into the delta.
pub fn rewrite_options(
    options: &mut [u8],
    edits: &OptionEdits,
    map_sack: impl Fn(u32) -> u32,
) -> Result<checksum::Delta> {
    // Linux after the handshake: NOP, NOP, TS, and nothing else. The fast path of a splice,
    // where one of the two timestamps changes (a value that stays is not written).
    let linux = options.len() == 12 && options[..4] == [option_kind::NOP, option_kind::NOP, option_kind::TSTAMP, 10];
    if linux {
        let timestamps = &mut options[4..];
        let mut delta = checksum::Delta::default();
        for (at, add) in [(0, edits.ts_val_add), (4, edits.ts_ecr_add)] {
            if add != 0 {
                let old = read_u32(timestamps, at);
                let new = old.wrapping_add(add);
                write_u32(timestamps, at, new);
                delta = delta.replace32(old, new);
            }
        }
        return Ok(delta);
    }
    read_options(options)?;
    let mut delta = checksum::Delta::default();
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        let len = match kind {
            option_kind::END => break,
            option_kind::NOP => 1,
            // In bounds, and at least 2: read_options walked the same way and found no fault.
            _ => usize::from(options[at + 1]),
        };
        match kind {
            option_kind::MSS => match edits.mss_max {
                Some(max) if read_u16(options, at + 2) > max => delta = put_u16(options, at + 2, max, delta),
                _ => {}
            },
            option_kind::TSTAMP => delta = rewrite_timestamps(options, at + 2, edits, delta),
            option_kind::SACK_RANGE => {
                for edge in (at + 2..at + len).step_by(4) {
                    delta = put_u32(options, edge, map_sack(read_u32(options, edge)), delta);
                }
            }
            _ => {}
        }
        at += len;
    }
    Ok(delta)
}

/// Shifts the TSval at `at` and the TSecr after it.
#[inline]
fn rewrite_timestamps(options: &mut [u8], at: usize, edits: &OptionEdits, delta: checksum::Delta) -> checksum::Delta {
    let tsval = read_u32(options, at).wrapping_add(edits.ts_val_add);
    let tsecr = read_u32(options, at + 4).wrapping_add(edits.ts_ecr_add);
    let delta = put_u32(options, at, tsval, delta);
    put_u32(options, at + 4, tsecr, delta)
}

/// Writes `new` at `at` of the options and adds the change to `delta`; see [`rewrite_options`]
/// for the odd offsets.
#[inline]
fn put_u16(options: &mut [u8], at: usize, new: u16, delta: checksum::Delta) -> checksum::Delta {
    let old = read_u16(options, at);
    write_u16(options, at, new);
    if at.is_multiple_of(2) {
        delta.replace16(old, new)
    } else {
        delta.replace16(old.swap_bytes(), new.swap_bytes())
    }
}

/// [`put_u16`] for a 32-bit field. At an odd offset its two byte-swapped halves are those of
/// `swap_bytes`, in the other order, which a sum does not mind.
#[inline]
fn put_u32(options: &mut [u8], at: usize, new: u32, delta: checksum::Delta) -> checksum::Delta {
    let old = read_u32(options, at);
    write_u32(options, at, new);
    if at.is_multiple_of(2) {
        delta.replace32(old, new)
    } else {
        delta.replace32(old.swap_bytes(), new.swap_bytes())
    }
}

/// A segment the switch sends itself (SYN, SYN-ACK, ACK, RST, data), smoltcp style:
/// [`emit`](Self::emit) writes it into the caller's buffer, [`emit_ipv4`](Self::emit_ipv4)
/// with its IPv4 header. Nothing is allocated.
///
/// The options are laid out as Linux lays them out (`tcp_options_write`), so a peer sees what
/// it sees from a Linux host: MSS; then SACK permitted and timestamps sharing a word
/// (`SACK_PERM, TS`), or `NOP, NOP, TS`, or `NOP, NOP, SACK_PERM`; then `NOP, WS`. A SYN from
/// Linux is `MSS, SACK_PERM, TS, NOP, WS` (or `MSS, NOP, NOP, SACK_PERM, NOP, WS` without
/// timestamps), later segments `NOP, NOP, TS`. MSS, window scale and SACK permitted belong on
/// SYNs only; that is the caller's to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr<'a> {
    /// The source port.
    pub src_port: u16,
    /// The destination port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq_number: u32,
    /// The acknowledgement number.
    pub ack_number: u32,
    /// The flag bits (see [`flags`]).
    pub flags: u8,
    /// The window field, already scaled down.
    pub window_len: u16,
    /// The MSS option.
    pub max_seg_size: Option<u16>,
    /// The window scale option.
    pub window_scale: Option<u8>,
    /// The SACK permitted option.
    pub sack_permitted: bool,
    /// The timestamps option.
    pub timestamps: Option<Timestamps>,
    /// The data, copied after the header.
    pub payload: &'a [u8],
}

impl TcpRepr<'_> {
    /// The length of the options: at most 20 bytes, always a multiple of 4.
    pub const fn options_len(&self) -> usize {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// The length of the header, options included.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The length of the segment [`emit`](Self::emit) writes.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment over the first [`buffer_len`](Self::buffer_len) bytes of `packet`,
    /// with its checksum for `src` -> `dst` (a sum over the payload: the segment is new).
    ///
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) {
        let header_len = self.header_len();
        let len = self.buffer_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        // Also clears the reserved bits and NS.
        packet.buffer.as_mut()[field::DATA_OFFSET] = 0;
        packet.set_header_len(header_len as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_at(0);
        let data = packet.buffer.as_mut();
        self.emit_options(&mut data[HEADER_LEN..header_len]);
        data[header_len..len].copy_from_slice(self.payload);
        let checksum = !fold_segment_sum(src, dst, &data[..len]);
        packet.set_checksum(checksum);
    }

    /// Writes the IPv4 header (20 bytes: TTL `ttl`, DF, ident 0, as Linux sends a SYN-ACK) and
    /// the segment at the start of `buffer`, both checksums filled, and returns their length.
    ///
    /// Errors: `Truncated` if `buffer` is too short, `Malformed` if the packet would be longer
    /// than 65535 bytes; nothing is written then.
    pub fn emit_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, buffer: &mut [u8]) -> Result<usize> {
        let len = ipv4::HEADER_LEN + self.buffer_len();
        if len > usize::from(u16::MAX) {
            return Err(Error::Malformed);
        }
        let bytes = buffer.get_mut(..len).ok_or(Error::Truncated)?;
        let (ip, segment) = bytes.split_at_mut(ipv4::HEADER_LEN);
        let repr = ipv4::Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol: ipv4::protocol::TCP,
            payload_len: segment.len(),
            ttl,
        };
        repr.emit(&mut ipv4::Packet::new_unchecked(ip));
        self.emit(&mut Packet::new_unchecked(segment), src, dst);
        Ok(len)
    }

    /// Writes the options, [`options_len`](Self::options_len) bytes, in Linux's layout.
    fn emit_options(&self, options: &mut [u8]) {
        use option_kind::{MSS, NOP, SACK_PERM, TSTAMP, WS};
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            options[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.max_seg_size {
            let [hi, lo] = mss.to_be_bytes();
            put(&[MSS, 4, hi, lo]);
        }
        match (self.timestamps, self.sack_permitted) {
            (Some(ts), sack) => {
                put(&if sack { [SACK_PERM, 2] } else { [NOP, NOP] });
                put(&[TSTAMP, 10]);
                put(&ts.tsval.to_be_bytes());
                put(&ts.tsecr.to_be_bytes());
            }
            (None, true) => put(&[NOP, NOP, SACK_PERM, 2]),
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            put(&[NOP, WS, 3, shift]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// http-dvwa-login.pcapng (chrissanders/packets) frame 1, the TCP segment: a SYN
    /// 10.2.2.101:58783 -> 10.2.2.104:80 with MSS 1460, NOP, WS 5, NOP, NOP, TS 973853380/0,
    /// SACK permitted, EOL, EOL.
    static SYN: [u8; 44] = [
        0xe5, 0x9f, 0x00, 0x50, 0x84, 0x69, 0xa7, 0xfb, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x02, 0xff, 0xff, 0xff, 0x07,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x05, 0x01, 0x01, 0x08, 0x0a, 0x3a, 0x0b, 0xd2, 0xc4,
        0x00, 0x00, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00,
    ];
    const SYN_SRC: Ipv4Addr = Ipv4Addr::new(10, 2, 2, 101);
    const SYN_DST: Ipv4Addr = Ipv4Addr::new(10, 2, 2, 104);

    /// suricata-ooo-retrans-cookie.pcap (OISF/suricata-verify) frame 24, the TCP segment: an
    /// ACK 10.3.11.101:49309 -> 174.56.47.59:80 with NOP, NOP, SACK 18497..21073 (absolute
    /// sequence numbers 0x7f555fb1..0x7f5569c1).
    static SACK_ACK: [u8; 32] = [
        0xc0, 0x9d, 0x00, 0x50, 0x75, 0xc0, 0xcd, 0xe0, 0x7f, 0x55, 0x41, 0x81, 0x80, 0x10, 0x01, 0x00, 0xf8, 0x5e,
        0x00, 0x00, 0x01, 0x01, 0x05, 0x0a, 0x7f, 0x55, 0x5f, 0xb1, 0x7f, 0x55, 0x69, 0xc1,
    ];
    const SACK_SRC: Ipv4Addr = Ipv4Addr::new(10, 3, 11, 101);
    const SACK_DST: Ipv4Addr = Ipv4Addr::new(174, 56, 47, 59);

    /// tcpreplay-test.pcap (appneta/tcpreplay test/test.pcap) frame 9, the TCP segment: a
    /// duplicate ACK 74.125.19.17:443 -> 172.16.11.12:64565 with NOP, NOP, TS, NOP, NOP, SACK.
    static DUP_ACK: [u8; 44] = [
        0x01, 0xbb, 0xfc, 0x35, 0xc5, 0x1e, 0x2d, 0xc0, 0xc6, 0xd9, 0x14, 0xec, 0xb0, 0x10, 0x01, 0x1b, 0x90, 0x17,
        0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x37, 0xc7, 0x40, 0x38, 0x1a, 0x7d, 0x84, 0x2c, 0x01, 0x01, 0x05, 0x0a,
        0xc6, 0xd9, 0x14, 0xeb, 0xc6, 0xd9, 0x14, 0xec,
    ];
    const DUP_SRC: Ipv4Addr = Ipv4Addr::new(74, 125, 19, 17);
    const DUP_DST: Ipv4Addr = Ipv4Addr::new(172, 16, 11, 12);

    /// Recorded for these tests between two Linux 6.18 network namespaces (a bridge between
    /// them dropped every other data frame for a while): 198.19.250.1:5001 -> 198.19.250.2.
    const NS_RECEIVER: Ipv4Addr = Ipv4Addr::new(198, 19, 250, 1);
    const NS_SENDER: Ipv4Addr = Ipv4Addr::new(198, 19, 250, 2);

    /// A duplicate ACK with timestamps off: NOP, NOP, SACK with four blocks.
    static SACK4_ACK: [u8; 56] = [
        0x13, 0x89, 0xb0, 0xea, 0xe8, 0x28, 0xad, 0xef, 0xb0, 0x43, 0x1c, 0xb2, 0xe0, 0x10, 0x00, 0x3c, 0x3c, 0xa4,
        0x00, 0x00, 0x01, 0x01, 0x05, 0x22, 0xb0, 0x43, 0x44, 0x9e, 0xb0, 0x43, 0x4a, 0x52, 0xb0, 0x43, 0x39, 0x36,
        0xb0, 0x43, 0x3e, 0xea, 0xb0, 0x43, 0x2d, 0xce, 0xb0, 0x43, 0x33, 0x82, 0xb0, 0x43, 0x22, 0x66, 0xb0, 0x43,
        0x28, 0x1a,
    ];

    /// A duplicate ACK with timestamps on: NOP, NOP, TS, NOP, NOP, SACK with three blocks.
    static SACK3_TS_ACK: [u8; 60] = [
        0x13, 0x89, 0xb0, 0xe6, 0xa9, 0x1e, 0x99, 0x0d, 0xf4, 0x2e, 0x53, 0x4c, 0xf0, 0x10, 0x00, 0x4f, 0x8f, 0x5f,
        0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x23, 0xde, 0x0d, 0x9d, 0x87, 0x92, 0xc5, 0xda, 0x01, 0x01, 0x05, 0x1a,
        0xf4, 0x2e, 0x6f, 0x94, 0xf4, 0x2e, 0x75, 0x3c, 0xf4, 0x2e, 0x64, 0x44, 0xf4, 0x2e, 0x69, 0xec, 0xf4, 0x2e,
        0x58, 0xf4, 0xf4, 0x2e, 0x5e, 0x9c,
    ];

    /// smoltcp's `src/wire/tcp.rs` test segment (checksum over 192.168.1.1 -> 192.168.1.2):
    /// FIN, RST, ACK, URG, window 0x0123, urgent 0x0201, options WS 12 and NOP, 4 bytes of
    /// payload.
    static SMOLTCP_PACKET: [u8; 28] = [
        0xbf, 0x00, 0x00, 0x50, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x60, 0x35, 0x01, 0x23, 0x01, 0xb6,
        0x02, 0x01, 0x03, 0x03, 0x0c, 0x01, 0xaa, 0x00, 0x00, 0xff,
    ];
    const SMOLTCP_SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const SMOLTCP_DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);

    fn collect(opts: &[u8]) -> Vec<Result<TcpOption<'_>>> {
        options_iter(opts).collect()
    }

    #[test]
    fn deconstruct_syn() {
        let packet = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(packet.src_port(), 58783);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), 0x8469_a7fb);
        assert_eq!(packet.ack_number(), 0);
        assert_eq!(packet.header_len(), 44);
        assert_eq!(packet.flags(), flags::SYN);
        assert!(packet.syn());
        assert!(!packet.fin() && !packet.rst() && !packet.psh() && !packet.ack());
        assert!(!packet.urg() && !packet.ece() && !packet.cwr());
        assert_eq!(packet.window_len(), 65535);
        assert_eq!(packet.checksum(), 0xff07);
        assert_eq!(packet.urgent_at(), 0);
        assert_eq!(packet.options(), &SYN[20..]);
        assert!(packet.payload().is_empty());
        assert_eq!(packet.segment_len(), 1);
        assert!(packet.verify_checksum(SYN_SRC, SYN_DST));
        assert!(!packet.verify_checksum(SYN_DST, SYN_DST));
        assert_eq!(
            collect(packet.options()),
            vec![
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(5)),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::Timestamp { tsval: 973_853_380, tsecr: 0 }),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::EndOfList),
            ]
        );
    }

    #[test]
    fn deconstruct_sack() {
        let packet = Packet::new_checked(&SACK_ACK[..]).unwrap();
        assert_eq!(packet.src_port(), 49309);
        assert_eq!(packet.ack_number(), 0x7f55_4181);
        assert_eq!(packet.flags(), flags::ACK);
        assert_eq!(packet.window_len(), 256);
        assert!(packet.verify_checksum(SACK_SRC, SACK_DST));
        assert_eq!(
            collect(packet.options()),
            vec![
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::SackRange([Some((0x7f55_5fb1, 0x7f55_69c1)), None, None, None])),
            ]
        );

        let packet = Packet::new_checked(&DUP_ACK[..]).unwrap();
        assert!(packet.verify_checksum(DUP_SRC, DUP_DST));
        let options: Vec<_> = options_iter(packet.options()).map(Result::unwrap).collect();
        assert_eq!(options.len(), 6);
        assert_eq!(options[2], TcpOption::Timestamp { tsval: 0x37c7_4038, tsecr: 0x1a7d_842c });
        assert_eq!(options[5], TcpOption::SackRange([Some((0xc6d9_14eb, 0xc6d9_14ec)), None, None, None]));
    }

    #[test]
    fn deconstruct_linux_sack_blocks() {
        let packet = Packet::new_checked(&SACK4_ACK[..]).unwrap();
        assert!(packet.verify_checksum(NS_RECEIVER, NS_SENDER));
        assert_eq!(packet.ack_number(), 0xb043_1cb2);
        assert_eq!(
            collect(packet.options()),
            vec![
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::SackRange([
                    Some((0xb043_449e, 0xb043_4a52)),
                    Some((0xb043_3936, 0xb043_3eea)),
                    Some((0xb043_2dce, 0xb043_3382)),
                    Some((0xb043_2266, 0xb043_281a)),
                ])),
            ]
        );

        let packet = Packet::new_checked(&SACK3_TS_ACK[..]).unwrap();
        assert!(packet.verify_checksum(NS_RECEIVER, NS_SENDER));
        let options: Vec<_> = options_iter(packet.options()).map(Result::unwrap).collect();
        assert_eq!(options[2], TcpOption::Timestamp { tsval: 0x23de_0d9d, tsecr: 0x8792_c5da });
        assert_eq!(
            options[5],
            TcpOption::SackRange([
                Some((0xf42e_6f94, 0xf42e_753c)),
                Some((0xf42e_6444, 0xf42e_69ec)),
                Some((0xf42e_58f4, 0xf42e_5e9c)),
                None
            ])
        );
    }

    #[test]
    fn deconstruct_smoltcp() {
        let packet = Packet::new_checked(&SMOLTCP_PACKET[..]).unwrap();
        assert_eq!(packet.src_port(), 48896);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), 0x0123_4567);
        assert_eq!(packet.ack_number(), 0x89ab_cdef);
        assert_eq!(packet.header_len(), 24);
        assert!(packet.fin() && !packet.syn() && packet.rst() && !packet.psh());
        assert!(packet.ack() && packet.urg());
        assert_eq!(packet.window_len(), 0x0123);
        assert_eq!(packet.urgent_at(), 0x0201);
        assert_eq!(packet.checksum(), 0x01b6);
        assert_eq!(packet.options(), &[0x03, 0x03, 0x0c, 0x01]);
        assert_eq!(packet.payload(), &[0xaa, 0x00, 0x00, 0xff]);
        assert!(packet.verify_checksum(SMOLTCP_SRC, SMOLTCP_DST));
        assert_eq!(collect(packet.options()), vec![Ok(TcpOption::WindowScale(12)), Ok(TcpOption::NoOperation)]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 44];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_src_port(58783);
        packet.set_dst_port(80);
        packet.set_seq_number(0x8469_a7fb);
        packet.set_ack_number(0);
        packet.set_header_len(44);
        packet.set_flags(0);
        packet.set_syn(true);
        packet.set_window_len(65535);
        packet.set_urgent_at(0);
        let options = [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::NoOperation,
            TcpOption::WindowScale(5),
            TcpOption::NoOperation,
            TcpOption::NoOperation,
            TcpOption::Timestamp { tsval: 973_853_380, tsecr: 0 },
            TcpOption::SackPermitted,
            TcpOption::EndOfList,
            TcpOption::EndOfList,
        ];
        let mut rest = packet.options_mut();
        for option in &options {
            rest = option.emit(rest);
        }
        assert!(rest.is_empty());
        packet.fill_checksum(SYN_SRC, SYN_DST);
        assert_eq!(buf, SYN);

        let mut buf = [0u8; 28];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_src_port(48896);
        packet.set_dst_port(80);
        packet.set_seq_number(0x0123_4567);
        packet.set_ack_number(0x89ab_cdef);
        packet.set_header_len(24);
        packet.set_fin(true);
        packet.set_rst(true);
        packet.set_ack(true);
        packet.set_urg(true);
        packet.set_psh(true);
        packet.set_psh(false);
        packet.set_window_len(0x0123);
        packet.set_urgent_at(0x0201);
        let rest = TcpOption::WindowScale(12).emit(packet.options_mut());
        TcpOption::NoOperation.emit(rest);
        packet.payload_mut().copy_from_slice(&[0xaa, 0x00, 0x00, 0xff]);
        packet.fill_checksum(SMOLTCP_SRC, SMOLTCP_DST);
        assert_eq!(buf, SMOLTCP_PACKET);
    }

    #[test]
    fn all_flags() {
        let mut buf = SACK_ACK;
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_flags(0);
        packet.set_ece(true);
        packet.set_cwr(true);
        assert_eq!(packet.flags(), flags::ECE | flags::CWR);
        assert!(packet.ece() && packet.cwr());
        packet.set_flags(0xff);
        assert!(packet.fin() && packet.syn() && packet.rst() && packet.psh());
        assert!(packet.ack() && packet.urg() && packet.ece() && packet.cwr());
        assert_eq!(packet.segment_len(), 2);
        // The data offset nibble is untouched by set_flags, the flags by set_header_len.
        assert_eq!(packet.header_len(), 32);
        packet.set_header_len(20);
        assert_eq!(packet.flags(), 0xff);
    }

    #[test]
    fn options_round_trip() {
        for segment in [&SYN[..], &SACK_ACK[..], &DUP_ACK[..], &SACK4_ACK[..], &SACK3_TS_ACK[..], &SMOLTCP_PACKET[..]] {
            let packet = Packet::new_checked(segment).unwrap();
            let opts = packet.options();
            let mut buf = [0u8; 40];
            let mut rest = &mut buf[..];
            let mut written = 0;
            for option in options_iter(opts) {
                let option = option.unwrap();
                written += option.buffer_len();
                rest = option.emit(rest);
            }
            // The trailing EOL padding after the first EOL is not yielded.
            assert_eq!(&buf[..written], &opts[..written]);
            assert!(opts[written..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn option_errors() {
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[2]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[2, 4, 5]), Err(Error::Truncated));
        assert_eq!(TcpOption::parse(&[2, 1, 5, 5]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[2, 0]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[2, 3, 5]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[3, 4, 5, 5]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[4, 3, 0]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[5, 2]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[5, 9, 0, 0, 0, 0, 0, 0, 0]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[8, 8, 0, 0, 0, 0, 0, 0]), Err(Error::Malformed));
        assert_eq!(TcpOption::parse(&[30, 2, 9]), Ok((&[9u8][..], TcpOption::Unknown { kind: 30, data: &[] })));
        assert_eq!(TcpOption::parse(&[0, 9]), Ok((&[9u8][..], TcpOption::EndOfList)));

        // Five blocks do not fit in 40 bytes of options.
        let mut five = [0u8; 42];
        five[..2].copy_from_slice(&[5, 42]);
        assert_eq!(TcpOption::parse(&five), Err(Error::Malformed));

        // The iterator stops after an error and after EOL.
        let items = collect(&[1, 2, 3, 5, 180, 1]);
        assert_eq!(items, vec![Ok(TcpOption::NoOperation), Err(Error::Malformed)]);
        let items = collect(&[1, 0, 2, 4, 5, 180]);
        assert_eq!(items, vec![Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]);
        assert!(collect(&[]).is_empty());
    }

    #[test]
    fn four_sack_blocks_round_trip() {
        let mut four = [0u8; 34];
        four[..2].copy_from_slice(&[5, 34]);
        for (i, chunk) in four[2..].chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&(0xfff0_0000 + i as u32).to_be_bytes());
        }
        let (rest, option) = TcpOption::parse(&four).unwrap();
        assert!(rest.is_empty());
        let blocks = [(0xfff0_0000, 0xfff0_0001), (0xfff0_0002, 0xfff0_0003), (0xfff0_0004, 0xfff0_0005)];
        let [a, b, c] = blocks.map(Some);
        assert_eq!(option, TcpOption::SackRange([a, b, c, Some((0xfff0_0006, 0xfff0_0007))]));
        assert_eq!(option.buffer_len(), 34);
        let mut out = [0u8; 34];
        assert!(option.emit(&mut out).is_empty());
        assert_eq!(out, four);
    }

    #[test]
    fn check_len_errors() {
        assert_eq!(Packet::new_checked(&SYN[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&SYN[..43]).unwrap_err(), Error::Truncated);
        let mut bytes = SYN;
        bytes[12] = 0x40;
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap_err(), Error::Malformed);
        bytes[12] = 0x50;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload().len(), 24);
    }

    #[test]
    fn incremental_rewrites_match_recompute() {
        // Full NAT of the SYN: new source address and port, new destination address,
        // sequence number shifted, as the engine does it.
        let mut buf = SYN;
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        let (new_src, new_dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(10, 9, 0, 7));
        let mut c = packet.checksum();
        c = checksum::update_addr(c, SYN_SRC, new_src);
        c = checksum::update_addr(c, SYN_DST, new_dst);
        c = checksum::update16(c, packet.src_port(), 40000);
        packet.set_src_port(40000);
        let seq = packet.seq_number().wrapping_add(0x1000_0000);
        c = checksum::update32(c, packet.seq_number(), seq);
        packet.set_seq_number(seq);
        packet.set_checksum(c);
        assert!(packet.verify_checksum(new_src, new_dst));
        packet.fill_checksum(new_src, new_dst);
        assert_eq!(packet.checksum(), c);
    }

    /// l4-curl/client-in.pcap frame 2, the TCP segment: curl's SYN (Linux)
    /// 198.18.0.2:59896 -> 198.18.0.100:81 with MSS 1460, SACK_PERM, TS, NOP, WS 10.
    static LINUX_SYN: [u8; 40] = [
        0xe9, 0xf8, 0x00, 0x51, 0x6f, 0xa1, 0xb3, 0x54, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x75, 0x7e,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x7e, 0x40, 0xbf, 0x82, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x0a,
    ];
    const L4_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const L4_VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);

    /// l4-curl/server-in.pcap frame 3, the TCP segment: nginx's ACK (Linux)
    /// 198.18.1.10:80 -> 198.18.1.1:1024 with NOP, NOP, TS.
    static TS_ACK: [u8; 32] = [
        0x00, 0x50, 0x04, 0x00, 0x6c, 0xcb, 0x84, 0x81, 0x6f, 0xa1, 0xb3, 0xb7, 0x80, 0x10, 0x00, 0x40, 0x1a, 0xef,
        0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xa6, 0xc1, 0xcf, 0xe3, 0x7e, 0x40, 0xbf, 0x82,
    ];
    const L4_SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 10);
    const L4_SWITCH: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

    /// The real segments with options, and their addresses.
    const REAL_SEGMENTS: [(&[u8], Ipv4Addr, Ipv4Addr); 6] = [
        (&LINUX_SYN, L4_CLIENT, L4_VIP),
        (&TS_ACK, L4_SERVER, L4_SWITCH),
        (&SACK3_TS_ACK, NS_RECEIVER, NS_SENDER),
        (&SACK4_ACK, NS_RECEIVER, NS_SENDER),
        (&SYN, SYN_SRC, SYN_DST),
        (&DUP_ACK, DUP_SRC, DUP_DST),
    ];

    /// `option` as `edits` and `map_sack` should leave it.
    fn edited<'a>(option: TcpOption<'a>, edits: &OptionEdits, map_sack: impl Fn(u32) -> u32) -> TcpOption<'a> {
        let sack = |(left, right)| (map_sack(left), map_sack(right));
        match option {
            TcpOption::MaxSegmentSize(mss) => TcpOption::MaxSegmentSize(edits.mss_max.map_or(mss, |max| mss.min(max))),
            TcpOption::Timestamp { tsval, tsecr } => TcpOption::Timestamp {
                tsval: tsval.wrapping_add(edits.ts_val_add),
                tsecr: tsecr.wrapping_add(edits.ts_ecr_add),
            },
            TcpOption::SackRange(blocks) => TcpOption::SackRange(blocks.map(|block| block.map(sack))),
            other => other,
        }
    }

    /// The options after `edits`, made the slow way: parsed, edited and emitted again over a
    /// copy (the bytes after an end-of-list stay).
    fn expected_after(options: &[u8], edits: &OptionEdits, map_sack: impl Fn(u32) -> u32 + Copy) -> Vec<u8> {
        let mut out = options.to_vec();
        let mut rest = &mut out[..];
        for option in options_iter(options) {
            rest = edited(option.unwrap(), edits, map_sack).emit(rest);
        }
        out
    }

    /// Rewrites the options of a copy of `segment` (checksum right for `src` -> `dst`), folds
    /// the delta into its checksum and checks the result against a recomputation over the
    /// whole segment, and the options against [`expected_after`]. Returns the copy.
    fn rewrite_and_check(
        segment: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        edits: &OptionEdits,
        map_sack: impl Fn(u32) -> u32 + Copy,
    ) -> Vec<u8> {
        let mut bytes = segment.to_vec();
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        let expected = expected_after(packet.options(), edits, map_sack);
        let delta = rewrite_options(packet.options_mut(), edits, map_sack).unwrap();
        assert_eq!(packet.options(), &expected[..]);
        let incremental = delta.apply(packet.checksum());
        packet.set_checksum(incremental);
        assert!(packet.verify_checksum(src, dst));
        packet.fill_checksum(src, dst);
        assert_eq!(incremental, packet.checksum());
        bytes
    }

    /// Edits that change every field they can.
    const ALL_EDITS: OptionEdits =
        OptionEdits { ts_val_add: 0x0102_0304, ts_ecr_add: 0xfffe_fdfc, mss_max: Some(1200) };

    /// A SACK map for the tests.
    fn sack_shift(edge: u32) -> u32 {
        edge.wrapping_add(0x8000_0001)
    }

    /// A map like the splice's with an inserted cookie: edges past 1000 move back by 30, but
    /// not below 1000.
    fn sack_past_cookie(edge: u32) -> u32 {
        match edge.wrapping_sub(1000) as i32 {
            ..=0 => edge,
            1..=30 => 1000,
            _ => edge - 30,
        }
    }

    fn unchanged(edge: u32) -> u32 {
        edge
    }

    #[test]
    fn read_real_options() {
        let seen = |segment: &[u8]| read_options(Packet::new_checked(segment).unwrap().options()).unwrap();
        let ts = |tsval, tsecr| Some(Timestamps { tsval, tsecr });
        assert_eq!(
            seen(&LINUX_SYN),
            OptionsSeen {
                mss: Some(1460),
                window_scale: Some(10),
                sack_permitted: true,
                timestamps: ts(0x7e40_bf82, 0),
                sack_blocks: 0
            }
        );
        assert_eq!(seen(&TS_ACK), OptionsSeen { timestamps: ts(0xa6c1_cfe3, 0x7e40_bf82), ..Default::default() });
        assert_eq!(
            seen(&SACK3_TS_ACK),
            OptionsSeen { timestamps: ts(0x23de_0d9d, 0x8792_c5da), sack_blocks: 3, ..Default::default() }
        );
        assert_eq!(seen(&SACK4_ACK), OptionsSeen { sack_blocks: 4, ..Default::default() });
        assert_eq!(read_options(&[]), Ok(OptionsSeen::default()));
        // A later copy wins; nothing after an end-of-list is read.
        assert_eq!(read_options(&[3, 3, 1, 3, 3, 7, 0, 2, 4]).unwrap().window_scale, Some(7));
    }

    #[test]
    fn rewrite_real_segments() {
        let syn = rewrite_and_check(&LINUX_SYN, L4_CLIENT, L4_VIP, &ALL_EDITS, sack_shift);
        assert_eq!(
            syn[20..],
            [2, 4, 0x04, 0xb0, 4, 2, 8, 10, 0x7f, 0x42, 0xc2, 0x86, 0xff, 0xfe, 0xfd, 0xfc, 1, 3, 3, 10]
        );
        let ack = rewrite_and_check(&TS_ACK, L4_SERVER, L4_SWITCH, &ALL_EDITS, sack_shift);
        assert_eq!(
            read_options(&ack[20..]).unwrap().timestamps,
            Some(Timestamps { tsval: 0xa7c3_d2e7, tsecr: 0x7e3f_bd7e })
        );
        for (segment, src, dst) in REAL_SEGMENTS {
            rewrite_and_check(segment, src, dst, &ALL_EDITS, sack_shift);
            // No edits, no change.
            assert_eq!(rewrite_and_check(segment, src, dst, &OptionEdits::default(), unchanged), segment);
        }
        // An MSS at or below the clamp stays.
        let edits = OptionEdits { mss_max: Some(1460), ..Default::default() };
        assert_eq!(rewrite_and_check(&LINUX_SYN, L4_CLIENT, L4_VIP, &edits, unchanged), LINUX_SYN);
    }

    /// A segment from `src_port` 1 with `options` and a payload, its checksum filled for
    /// 192.0.2.1 -> 192.0.2.2.
    fn segment_with(options: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; HEADER_LEN + options.len() + 3];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(1);
        packet.set_header_len((HEADER_LEN + options.len()) as u8);
        packet.set_flags(flags::ACK);
        packet.options_mut().copy_from_slice(options);
        packet.payload_mut().copy_from_slice(b"abc");
        packet.fill_checksum(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        bytes
    }

    #[test]
    fn fields_at_odd_offsets() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        // NOP, TS, MSS, NOP: TSval at byte 23 of the header, TSecr at 27, the MSS at 33.
        let options = [1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 2, 4, 0xff, 0xf0, 1];
        let out = rewrite_and_check(&segment_with(&options), src, dst, &ALL_EDITS, sack_shift);
        assert_eq!(out[20..36], [1, 8, 10, 0x12, 0x24, 0x36, 0x48, 0x55, 0x65, 0x75, 0x84, 2, 4, 0x04, 0xb0, 1]);
        // NOP, SACK with one block, NOP: both edges at odd offsets.
        let options = [1, 5, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1];
        let out = rewrite_and_check(&segment_with(&options), src, dst, &ALL_EDITS, sack_shift);
        assert_eq!(out[20..32], [1, 5, 10, 0x80, 0, 0, 2, 0x80, 0, 0, 0, 1]);
    }

    #[test]
    fn malformed_options_are_left_alone() {
        let ts = [8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let cases: [&[u8]; 9] = [
            &ts[..9],                                                         // timestamps cut short
            &[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 3],                        // a good TS, then a cut window scale
            &[2, 4, 0xff],                                                    // MSS cut short
            &[2, 1, 0xff, 0xff],                                              // length below 2
            &[30, 0, 1, 1],                                                   // length 0 of an unknown kind
            &[8, 9, 1, 2, 3, 4, 5, 6, 7],                                     // wrong timestamp length
            &[1, 5, 6, 0, 0, 0, 1],                                           // SACK block cut short
            &[5, 2, 1, 1],                                                    // SACK without a block
            &[2, 4, 0xff, 0xff, 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 40], // unknown past the end
        ];
        for bad in cases {
            let mut bytes = bad.to_vec();
            assert!(read_options(&bytes).is_err(), "{bad:?}");
            assert!(rewrite_options(&mut bytes, &ALL_EDITS, sack_shift).is_err(), "{bad:?}");
            assert_eq!(bytes, bad);
        }
    }

    /// The bytes `option` emits.
    fn emitted(option: TcpOption<'_>) -> Vec<u8> {
        let mut bytes = vec![0; option.buffer_len()];
        option.emit(&mut bytes);
        bytes
    }

    /// One well-formed option, often a NOP: a single one moves what follows to odd offsets.
    fn any_option() -> impl Strategy<Value = Vec<u8>> {
        let sack = proptest::collection::vec(any::<(u32, u32)>(), 1..=4).prop_map(|blocks| {
            let mut ranges = [None; 4];
            for (range, block) in ranges.iter_mut().zip(blocks) {
                *range = Some(block);
            }
            emitted(TcpOption::SackRange(ranges))
        });
        prop_oneof![
            3 => Just(vec![option_kind::NOP]),
            1 => any::<u16>().prop_map(|mss| emitted(TcpOption::MaxSegmentSize(mss))),
            1 => any::<u8>().prop_map(|shift| emitted(TcpOption::WindowScale(shift))),
            1 => Just(emitted(TcpOption::SackPermitted)),
            2 => any::<(u32, u32)>().prop_map(|(tsval, tsecr)| emitted(TcpOption::Timestamp { tsval, tsecr })),
            2 => sack,
            1 => (9u8..=254, proptest::collection::vec(any::<u8>(), 0..6))
                .prop_map(|(kind, data)| emitted(TcpOption::Unknown { kind, data: &data })),
        ]
    }

    /// Well-formed options that fit in a header, padded to a multiple of four bytes with NOPs
    /// or with an end-of-list and zeros.
    fn any_options() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any_option(), 0..10), any::<bool>()).prop_map(|(options, eol)| {
            let mut out = Vec::new();
            for option in options.into_iter().filter(|o| o.len() <= 40) {
                if out.len() + option.len() <= 40 {
                    out.extend(option);
                }
            }
            if eol && !out.len().is_multiple_of(4) {
                out.push(option_kind::END);
            }
            while !out.len().is_multiple_of(4) {
                out.push(if eol { 0 } else { option_kind::NOP });
            }
            out
        })
    }

    /// A segment with random header fields, well-formed options and a payload, its checksum
    /// filled for the addresses that come with it.
    fn any_segment() -> impl Strategy<Value = (Vec<u8>, Ipv4Addr, Ipv4Addr)> {
        let payload = proptest::collection::vec(any::<u8>(), 0..64);
        (any::<[u8; 20]>(), any_options(), payload, any::<u32>(), any::<u32>()).prop_map(
            |(header, options, payload, src, dst)| {
                let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
                let mut bytes = [&header[..], &options, &payload].concat();
                let mut packet = Packet::new_unchecked(&mut bytes[..]);
                packet.set_header_len((HEADER_LEN + options.len()) as u8);
                packet.fill_checksum(src, dst);
                (bytes, src, dst)
            },
        )
    }

    fn any_edits() -> impl Strategy<Value = OptionEdits> {
        (any::<u32>(), any::<u32>(), proptest::option::of(any::<u16>()))
            .prop_map(|(ts_val_add, ts_ecr_add, mss_max)| OptionEdits { ts_val_add, ts_ecr_add, mss_max })
    }

    /// l4-curl/server-in.pcap frame 2 from the IPv4 header on: nginx's SYN-ACK (Linux)
    /// 198.18.1.10:80 -> 198.18.1.1:1024 with MSS 1460, SACK_PERM, TS, NOP, WS 10.
    static L4_SYN_ACK_IP: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xac, 0x8c, 0xc6, 0x12, 0x01, 0x0a, 0xc6, 0x12,
        0x01, 0x01, 0x00, 0x50, 0x04, 0x00, 0x6c, 0xcb, 0x84, 0x80, 0x6f, 0xa1, 0xb3, 0x55, 0xa0, 0x12, 0xfe, 0x88,
        0xee, 0x38, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xa6, 0xc1, 0xcf, 0xe3, 0x7e, 0x40,
        0xbf, 0x82, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// l4-curl/server-in.pcap frame 4, the TCP segment: nginx's response (PSH, NOP, NOP, TS),
    /// its header and its payload.
    static L4_RESPONSE_HEADER: [u8; 32] = [
        0x00, 0x50, 0x04, 0x00, 0x6c, 0xcb, 0x84, 0x81, 0x6f, 0xa1, 0xb3, 0xb7, 0x80, 0x18, 0x00, 0x40, 0x5b, 0xd1,
        0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xa6, 0xc1, 0xcf, 0xef, 0x7e, 0x40, 0xbf, 0x82,
    ];
    const L4_RESPONSE_PAYLOAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
        Date: Mon, 30 Nov 2026 06:56:40 GMT\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\
        Connection: close\r\n\r\nrs1 198.18.1.1\n";

    /// The SYN of the namespaces' connection with timestamps off: 198.19.250.2:45290 -> :5001,
    /// MSS 1460, NOP, NOP, SACK_PERM, NOP, WS 10.
    static NS_SYN: [u8; 32] = [
        0xb0, 0xea, 0x13, 0x89, 0xb0, 0x42, 0xb0, 0x55, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02, 0xfa, 0xf0, 0xce, 0xe5,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// Its SYN-ACK from the IPv4 header on, with the same options.
    static NS_SYN_ACK_IP: [u8; 52] = [
        0x45, 0x00, 0x00, 0x34, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xba, 0x98, 0xc6, 0x13, 0xfa, 0x01, 0xc6, 0x13,
        0xfa, 0x02, 0x13, 0x89, 0xb0, 0xea, 0xe8, 0x28, 0xad, 0xee, 0xb0, 0x42, 0xb0, 0x56, 0x80, 0x12, 0xfa, 0xf0,
        0x38, 0xbd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// Emits `repr` (TCP only) into a buffer of its length for `src` -> `dst`.
    fn emitted_segment(repr: &TcpRepr<'_>, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut bytes = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst);
        bytes
    }

    #[test]
    fn emit_linux_syn_acks() {
        let ts = Timestamps { tsval: 0xa6c1_cfe3, tsecr: 0x7e40_bf82 };
        let syn_ack = TcpRepr {
            src_port: 80,
            dst_port: 1024,
            seq_number: 0x6ccb_8480,
            ack_number: 0x6fa1_b355,
            flags: flags::SYN | flags::ACK,
            window_len: 65160,
            max_seg_size: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            timestamps: Some(ts),
            payload: &[],
        };
        let mut buf = [0xa5; 100];
        assert_eq!(syn_ack.emit_ipv4(L4_SERVER, L4_SWITCH, 64, &mut buf), Ok(60));
        assert_eq!(buf[..60], L4_SYN_ACK_IP);
        assert!(buf[60..].iter().all(|&b| b == 0xa5), "nothing written past the packet");

        let syn_ack = TcpRepr {
            src_port: 5001,
            dst_port: 45290,
            seq_number: 0xe828_adee,
            ack_number: 0xb042_b056,
            window_len: 64240,
            timestamps: None,
            ..syn_ack
        };
        assert_eq!(syn_ack.emit_ipv4(NS_RECEIVER, NS_SENDER, 64, &mut buf), Ok(52));
        assert_eq!(buf[..52], NS_SYN_ACK_IP);
    }

    #[test]
    fn emit_linux_syns_acks_and_data() {
        let syn = TcpRepr {
            src_port: 59896,
            dst_port: 81,
            seq_number: 0x6fa1_b354,
            flags: flags::SYN,
            window_len: 64240,
            max_seg_size: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            timestamps: Some(Timestamps { tsval: 0x7e40_bf82, tsecr: 0 }),
            ..Default::default()
        };
        assert_eq!(emitted_segment(&syn, L4_CLIENT, L4_VIP), LINUX_SYN);
        let syn = TcpRepr { src_port: 45290, dst_port: 5001, seq_number: 0xb042_b055, timestamps: None, ..syn };
        assert_eq!(emitted_segment(&syn, NS_SENDER, NS_RECEIVER), NS_SYN);

        let ack = TcpRepr {
            src_port: 80,
            dst_port: 1024,
            seq_number: 0x6ccb_8481,
            ack_number: 0x6fa1_b3b7,
            flags: flags::ACK,
            window_len: 64,
            timestamps: Some(Timestamps { tsval: 0xa6c1_cfe3, tsecr: 0x7e40_bf82 }),
            ..Default::default()
        };
        assert_eq!(emitted_segment(&ack, L4_SERVER, L4_SWITCH), TS_ACK);
        let data = TcpRepr {
            flags: flags::PSH | flags::ACK,
            timestamps: Some(Timestamps { tsval: 0xa6c1_cfef, tsecr: 0x7e40_bf82 }),
            payload: L4_RESPONSE_PAYLOAD,
            ..ack
        };
        assert_eq!(
            emitted_segment(&data, L4_SERVER, L4_SWITCH),
            [&L4_RESPONSE_HEADER[..], L4_RESPONSE_PAYLOAD].concat()
        );
    }

    #[test]
    fn emit_ipv4_errors() {
        let repr = TcpRepr { timestamps: Some(Timestamps::default()), payload: b"0123", ..Default::default() };
        let mut buf = [0xa5; 55];
        assert_eq!(repr.emit_ipv4(L4_SERVER, L4_SWITCH, 64, &mut buf), Err(Error::Truncated));
        assert!(buf.iter().all(|&b| b == 0xa5));
        let big = vec![0; 65535 - 40 + 1];
        let repr = TcpRepr { payload: &big, ..Default::default() };
        let mut buf = vec![0xa5; 70_000];
        assert_eq!(repr.emit_ipv4(L4_SERVER, L4_SWITCH, 64, &mut buf), Err(Error::Malformed));
        let repr = TcpRepr { payload: &big[1..], ..repr };
        assert_eq!(repr.emit_ipv4(L4_SERVER, L4_SWITCH, 64, &mut buf), Ok(65535));
    }

    fn any_repr(payload: &[u8]) -> impl Strategy<Value = TcpRepr<'_>> {
        let timestamps =
            proptest::option::of(any::<(u32, u32)>().prop_map(|(tsval, tsecr)| Timestamps { tsval, tsecr }));
        let options =
            (proptest::option::of(any::<u16>()), proptest::option::of(any::<u8>()), any::<bool>(), timestamps);
        (any::<(u16, u16, u32, u32, u8, u16)>(), options, 0..=payload.len()).prop_map(
            move |((src_port, dst_port, seq_number, ack_number, flags, window_len), options, len)| TcpRepr {
                src_port,
                dst_port,
                seq_number,
                ack_number,
                flags,
                window_len,
                max_seg_size: options.0,
                window_scale: options.1,
                sack_permitted: options.2,
                timestamps: options.3,
                payload: &payload[..len],
            },
        )
    }

    /// Arbitrary bytes, half of the time patched so that the length and type fields are
    /// plausible and `new_checked` gets past its first checks.
    fn arbitrary_or_plausible() -> impl Strategy<Value = Vec<u8>> {
        (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<u32>()).prop_map(
            |(mut bytes, tag, seed)| {
                if bytes.len() >= 13 && tag {
                    bytes[12] = (seed as u8 & 0xf0).max(0x50);
                }
                bytes
            },
        )
    }

    proptest! {
        #[test]
        fn linux_syn_options_read_as_the_option_loop_reads_them(mss: u16, tsval: u32, tsecr: u32, shift: u8) {
            let mut options = vec![2, 4];
            options.extend_from_slice(&mss.to_be_bytes());
            options.extend_from_slice(&[4, 2, 8, 10]);
            options.extend_from_slice(&tsval.to_be_bytes());
            options.extend_from_slice(&tsecr.to_be_bytes());
            options.extend_from_slice(&[1, 3, 3, shift]);
            let mut by_loop = OptionsSeen::default();
            for option in options_iter(&options) {
                match option.unwrap() {
                    TcpOption::MaxSegmentSize(m) => by_loop.mss = Some(m),
                    TcpOption::WindowScale(w) => by_loop.window_scale = Some(w),
                    TcpOption::SackPermitted => by_loop.sack_permitted = true,
                    TcpOption::Timestamp { tsval, tsecr } => by_loop.timestamps = Some(Timestamps { tsval, tsecr }),
                    _ => {}
                }
            }
            prop_assert_eq!(read_options(&options).unwrap(), by_loop);
        }

        #[test]
        fn rewrite_equals_recompute((segment, src, dst) in any_segment(), edits in any_edits(), add: u32) {
            rewrite_and_check(&segment, src, dst, &edits, |edge| edge.wrapping_add(add));
            rewrite_and_check(&segment, src, dst, &edits, sack_past_cookie);
        }

        #[test]
        fn real_segments_rewrite_equals_recompute(which in 0..REAL_SEGMENTS.len(), edits in any_edits(), add: u32) {
            let (segment, src, dst) = REAL_SEGMENTS[which];
            rewrite_and_check(segment, src, dst, &edits, |edge| edge.wrapping_add(add));
        }

        /// Options with one byte changed at random and cut anywhere: either well formed and
        /// rewritten with the right checksum, or refused and left as they were.
        #[test]
        fn damaged_options_are_rewritten_right_or_left_alone(
            (mut segment, src, dst) in any_segment(),
            damage: Option<(usize, u8)>,
            cut: usize,
            edits in any_edits(),
        ) {
            let mut packet = Packet::new_checked(&mut segment[..]).unwrap();
            let len = packet.options().len();
            if let (Some((at, value)), true) = (damage, len > 0) {
                packet.options_mut()[at % len] = value;
                packet.fill_checksum(src, dst);
            }
            let options = &mut packet.options_mut()[..cut % (len + 1)];
            let before = options.to_vec();
            match rewrite_options(options, &edits, sack_shift) {
                Ok(delta) => {
                    prop_assert!(read_options(&before).is_ok());
                    let sum = delta.apply(packet.checksum());
                    packet.set_checksum(sum);
                    prop_assert!(packet.verify_checksum(src, dst));
                }
                Err(err) => {
                    prop_assert_eq!(read_options(&before), Err(err));
                    prop_assert_eq!(options, &before[..]);
                }
            }
        }

        /// Whatever is emitted reads back as what was meant, both checksums right.
        #[test]
        fn emit_ipv4_reads_back(repr in any_repr(L4_RESPONSE_PAYLOAD), src: u32, dst: u32, ttl: u8) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let mut buf = [0u8; 256];
            let len = repr.emit_ipv4(src, dst, ttl, &mut buf).unwrap();
            let ip = ipv4::Packet::new_checked(&buf[..len]).unwrap();
            let ip_repr = ipv4::Ipv4Repr::parse(&ip).unwrap();
            prop_assert_eq!((ip_repr.src_addr, ip_repr.dst_addr, ip_repr.ttl), (src, dst, ttl));
            prop_assert_eq!(ip_repr.payload_len, repr.buffer_len());
            let packet = Packet::new_checked(ip.payload()).unwrap();
            prop_assert!(packet.verify_checksum(src, dst));
            prop_assert_eq!((packet.src_port(), packet.dst_port()), (repr.src_port, repr.dst_port));
            prop_assert_eq!((packet.seq_number(), packet.ack_number()), (repr.seq_number, repr.ack_number));
            prop_assert_eq!((packet.flags(), packet.window_len()), (repr.flags, repr.window_len));
            prop_assert_eq!(packet.payload(), repr.payload);
            prop_assert_eq!(usize::from(packet.header_len()), repr.header_len());
            let seen = read_options(packet.options()).unwrap();
            prop_assert_eq!(seen, OptionsSeen {
                mss: repr.max_seg_size,
                window_scale: repr.window_scale,
                sack_permitted: repr.sack_permitted,
                timestamps: repr.timestamps,
                sack_blocks: 0,
            });
        }

        #[test]
        fn never_panics(bytes in arbitrary_or_plausible(),
                        src: u32, dst: u32) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.src_port(), packet.dst_port(), packet.seq_number());
                let _ = (packet.ack_number(), packet.header_len(), packet.flags());
                let _ = (packet.fin(), packet.syn(), packet.rst(), packet.psh(), packet.ack());
                let _ = (packet.urg(), packet.ece(), packet.cwr(), packet.window_len());
                let _ = (packet.checksum(), packet.urgent_at(), packet.segment_len());
                prop_assert_eq!(packet.options().len() + packet.payload().len() + 20, bytes.len());
                for option in options_iter(packet.options()) {
                    let _ = option.map(|o| o.buffer_len());
                }
                let _ = packet.verify_checksum(src, dst);

                let mut copy = bytes.clone();
                let mut packet = Packet::new_checked(&mut copy[..]).unwrap();
                packet.set_flags(0xff);
                packet.set_seq_number(1);
                packet.fill_checksum(src, dst);
                prop_assert!(packet.verify_checksum(src, dst));
                let _ = (packet.options_mut().len(), packet.payload_mut().len());

                let before = packet.options().to_vec();
                match rewrite_options(packet.options_mut(), &ALL_EDITS, sack_shift) {
                    Ok(delta) => {
                        prop_assert!(read_options(&before).is_ok());
                        let sum = delta.apply(packet.checksum());
                        packet.set_checksum(sum);
                        prop_assert!(packet.verify_checksum(src, dst));
                    }
                    Err(_) => prop_assert_eq!(packet.options(), &before[..]),
                }
            }
        }

        #[test]
        fn option_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..60)) {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match TcpOption::parse(rest) {
                    Ok((next, option)) => {
                        prop_assert!(next.len() < rest.len());
                        prop_assert!(option.buffer_len() <= rest.len() - next.len());
                        let mut buf = [0u8; 64];
                        let left = option.emit(&mut buf).len();
                        prop_assert_eq!(64 - left, option.buffer_len());
                        let reparsed = TcpOption::parse(&buf[..option.buffer_len()]);
                        prop_assert_eq!(reparsed.map(|(_, o)| o), Ok(option));
                        rest = next;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
