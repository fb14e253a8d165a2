//! TCP conversations: segments grouped by connection, the client told from the server, each
//! direction's bytes reassembled, and what the capture cannot vouch for.

use std::fmt;
use std::net::SocketAddrV4;
use std::ops::Range;

use rustc_hash::FxHashMap;

use super::link::Frame;
use super::stream::{Hole, Holes, Reassembler, ReassemblyStats, StreamDigest};
use crate::time::Instant;
use crate::wire::ipv4::{self, protocol};
use crate::wire::tcp::{self, flags};
use crate::wire::{Ipv4Packet, TcpPacket};

/// What one conversation may hold in memory besides its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes at the start of each direction's stream kept as they are (the rest is only
    /// hashed); `usize::MAX` keeps streams whole, for tests and small captures.
    pub keep: usize,
    /// Bytes of each direction waiting behind a missing one before it is declared a hole.
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        // An HTTP request or response head fits in 4 KiB; a window of pending bytes in 8 MiB.
        Limits { keep: 4 * 1024, max_pending: 8 * 1024 * 1024 }
    }
}

/// A conversation's index in [`super::Scan::conversations`], the same on every walk of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConvId(pub u32);

/// Which way a segment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    ToServer,
    ToClient,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::ToServer => "client->server",
            Dir::ToClient => "server->client",
        })
    }
}

/// The control segments a conversation showed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// The client's SYN.
    pub syn: bool,
    /// The server's SYN-ACK.
    pub syn_ack: bool,
    pub client_fin: bool,
    pub server_fin: bool,
    /// A reset, from either side.
    pub rst: bool,
}

/// One direction of a conversation: the bytes its sender sent, as the capture shows them.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The bytes, in sequence order (holes are zeros in the head and left out of the hashes).
    pub digest: StreamDigest,
    /// The sender's initial sequence number, if its SYN was seen.
    pub isn: Option<u32>,
    /// The stream offset of the sender's FIN.
    pub fin_at: Option<u64>,
    pub holes: Holes,
    pub reassembly: ReassemblyStats,
    /// Segments sent this way.
    pub segments: u64,
    /// Payload bytes before the stream's start (possible only without a handshake), dropped.
    pub before_start: u64,
    /// The first frame of this direction whose payload the snap length cut.
    pub first_cut_frame: Option<u64>,
}

impl Stream {
    fn new(limits: Limits) -> Stream {
        Stream {
            digest: StreamDigest::new(limits.keep),
            isn: None,
            fin_at: None,
            holes: Holes::default(),
            reassembly: ReassemblyStats::default(),
            segments: 0,
            before_start: 0,
            first_cut_frame: None,
        }
    }
}

/// A TCP connection as the capture shows it.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConvId,
    /// The SYN's sender; without a SYN, the SYN-ACK's receiver, else the side with the higher
    /// port (servers listen low, ephemeral ports are high), else the first sender.
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    pub first_frame: u64,
    pub first: Instant,
    pub last: Instant,
    pub frames: u64,
    pub seen: Seen,
    /// The first frame of the conversation that was an IP fragment (not reassembled).
    pub first_fragment: Option<u64>,
    streams: [Stream; 2],
    /// The client acknowledged something: the handshake went on, seen or not.
    client_acked: bool,
}

impl Conversation {
    /// The bytes sent one way.
    pub fn stream(&self, dir: Dir) -> &Stream {
        &self.streams[dir.index()]
    }

    /// Why the capture cannot support a judgement of this conversation; empty if it can.
    /// The capture ending while the conversation goes on is not a reason, as long as every
    /// byte up to there was seen.
    pub fn incomplete(&self) -> Vec<Incomplete> {
        let mut why = Vec::new();
        if !self.seen.syn || (!self.seen.syn_ack && self.client_acked) {
            why.push(Incomplete::NoHandshake { syn: self.seen.syn });
        }
        for dir in [Dir::ToServer, Dir::ToClient] {
            let stream = self.stream(dir);
            if let Some(&hole) = stream.holes.first.first() {
                why.push(Incomplete::Hole { dir, hole, count: stream.holes.count });
            }
            if let Some(frame) = stream.first_cut_frame {
                why.push(Incomplete::SnapLength { dir, frame });
            }
            if let Some(at) = stream.reassembly.first_conflict {
                why.push(Incomplete::Conflict { dir, at });
            }
        }
        if let Some(frame) = self.first_fragment {
            why.push(Incomplete::Fragmented { frame });
        }
        why
    }

    /// Whether the capture supports a judgement of this conversation.
    pub fn is_complete(&self) -> bool {
        self.incomplete().is_empty()
    }
}

/// A reason the capture cannot support a judgement of a conversation (`incomplete-capture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    /// The client's SYN is not in the capture (`syn: false`), or the server's SYN-ACK is not
    /// although the client went on: the start of the conversation cannot be replayed.
    NoHandshake { syn: bool },
    /// Sequence space the capture never saw (capture loss): the first hole of a direction, and
    /// how many it has.
    Hole { dir: Dir, hole: Hole, count: u64 },
    /// A segment's payload was cut by the snap length (the frame's number).
    SnapLength { dir: Dir, frame: u64 },
    /// The sender retransmitted bytes that differ from the first copy (stream offset).
    Conflict { dir: Dir, at: u64 },
    /// Part of the conversation came in IP fragments, which are not reassembled.
    Fragmented { frame: u64 },
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Incomplete::NoHandshake { syn: false } => write!(f, "no handshake: the client's SYN is not in the capture"),
            Incomplete::NoHandshake { syn: true } => {
                write!(f, "no handshake: the server's SYN-ACK is not in the capture")
            }
            Incomplete::Hole { dir, hole, count } => {
                write!(f, "{dir}: {} bytes never captured at stream offset {}", hole.len, hole.at)?;
                if count > 1 {
                    write!(f, " ({count} holes)")?;
                }
                Ok(())
            }
            Incomplete::SnapLength { dir, frame } => write!(f, "{dir}: frame {frame} cut by the snap length"),
            Incomplete::Conflict { dir, at } => {
                write!(f, "{dir}: a retransmission differs from the first copy at stream offset {at}")
            }
            Incomplete::Fragmented { frame } => write!(f, "IP fragments from frame {frame} on, not reassembled"),
        }
    }
}

/// What the IP layer of the capture held besides TCP conversations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpStats {
    pub tcp: u64,
    /// IPv4 packets of other protocols (UDP, ICMP, ...).
    pub not_tcp: u64,
    /// TCP in IP fragments, not reassembled (the conversation is flagged when the first
    /// fragment names it).
    pub fragments: u64,
    /// Packets whose IPv4 or TCP header is malformed, or cut before the TCP ports.
    pub malformed: u64,
    /// TCP headers cut by the snap length (the conversation is flagged).
    pub cut_headers: u64,
}

/// One segment as the tracker placed it; the byte ranges are within the frame's IPv4 packet.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub conv: ConvId,
    pub dir: Dir,
    pub flags: u8,
    pub rel_seq: i64,
    pub rel_ack: Option<i64>,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub options: Range<usize>,
    pub payload: Range<usize>,
    pub wire_len: u32,
}

/// A TCP segment's fields, read from a frame.
struct Parsed {
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: Range<usize>,
    payload: Range<usize>,
    /// The payload length the IP header claims (more than `payload` when cut).
    wire_len: u32,
}

/// Why a packet is not a segment to track.
enum NotTracked {
    NotTcp,
    Malformed,
    /// The TCP header is cut; the ports may name a conversation to flag.
    CutHeader(Option<(SocketAddrV4, SocketAddrV4)>),
    Fragment(Option<(SocketAddrV4, SocketAddrV4)>),
}

/// One direction's tracking state beside its public [`Stream`].
#[derive(Debug, Clone)]
struct Track {
    /// The sequence number of stream offset 0.
    base: Option<u32>,
    /// The highest sequence offset the peer acknowledged.
    acked: Option<u64>,
    reasm: Reassembler,
}

impl Track {
    /// The stream offset of a sequence number, unwrapped around the reassembly point.
    fn offset(&self, seq: u32) -> Option<i64> {
        let next = self.reasm.next();
        let reference = self.base?.wrapping_add(next as u32);
        Some(next as i64 + i64::from(seq.wrapping_sub(reference) as i32))
    }
}

struct State {
    conv: Conversation,
    tracks: [Track; 2],
}

impl State {
    fn closed(&self) -> bool {
        self.conv.seen.rst || (self.conv.seen.client_fin && self.conv.seen.server_fin)
    }

    /// Whether a SYN from `src` opens a new conversation on this one's 4-tuple: anything but a
    /// retransmission of this conversation's own SYN does.
    fn starts_anew(&self, src: SocketAddrV4, seq: u32) -> bool {
        self.closed() || self.conv.client != src || self.conv.stream(Dir::ToServer).isn != Some(seq)
    }
}

/// Groups the TCP segments of a capture into conversations, in capture order.
pub(super) struct Tracker {
    limits: Limits,
    /// The newest conversation of each 4-tuple (endpoints in order).
    live: FxHashMap<(SocketAddrV4, SocketAddrV4), ConvId>,
    states: Vec<State>,
    stats: IpStats,
}

impl Tracker {
    pub fn new(limits: Limits) -> Tracker {
        Tracker { limits, live: FxHashMap::default(), states: Vec::new(), stats: IpStats::default() }
    }

    /// Takes one IPv4 packet; returns where its segment went, if it is one.
    pub fn push(&mut self, frame: &Frame<'_>) -> Option<Placed> {
        match parse(frame.ipv4) {
            Ok(seg) => {
                self.stats.tcp += 1;
                Some(self.track(frame, &seg))
            }
            Err(why) => {
                self.skip(frame.number, why);
                None
            }
        }
    }

    pub fn stats(&self) -> IpStats {
        self.stats
    }

    /// Ends every conversation (holes at their tails found) and hands them over.
    pub fn finish(self) -> Vec<Conversation> {
        self.states.into_iter().map(finish_conversation).collect()
    }

    fn skip(&mut self, frame: u64, why: NotTracked) {
        match why {
            NotTracked::NotTcp => self.stats.not_tcp += 1,
            NotTracked::Malformed => self.stats.malformed += 1,
            NotTracked::CutHeader(ends) => {
                self.stats.cut_headers += 1;
                if let Some((state, dir)) = ends.and_then(|(src, dst)| self.find(src, dst)) {
                    state.conv.streams[dir.index()].first_cut_frame.get_or_insert(frame);
                }
            }
            NotTracked::Fragment(ends) => {
                self.stats.fragments += 1;
                if let Some((state, _)) = ends.and_then(|(src, dst)| self.find(src, dst)) {
                    state.conv.first_fragment.get_or_insert(frame);
                }
            }
        }
    }

    fn find(&mut self, src: SocketAddrV4, dst: SocketAddrV4) -> Option<(&mut State, Dir)> {
        let id = *self.live.get(&key(src, dst))?;
        let state = &mut self.states[id.0 as usize];
        let dir = if state.conv.client == src { Dir::ToServer } else { Dir::ToClient };
        Some((state, dir))
    }

    /// The conversation a segment belongs to, opened if it is new.
    fn conversation(&mut self, frame: &Frame<'_>, seg: &Parsed) -> ConvId {
        let opening = seg.flags & (flags::SYN | flags::ACK) == flags::SYN;
        let existing = self.live.get(&key(seg.src, seg.dst)).copied();
        match existing {
            Some(id) if !(opening && self.states[id.0 as usize].starts_anew(seg.src, seg.seq)) => id,
            _ => {
                let id = ConvId(self.states.len() as u32);
                let (client, server) = client_and_server(seg, opening);
                let state = State { conv: self.open(id, client, server, frame), tracks: self.tracks() };
                self.states.push(state);
                self.live.insert(key(seg.src, seg.dst), id);
                id
            }
        }
    }

    fn open(&self, id: ConvId, client: SocketAddrV4, server: SocketAddrV4, frame: &Frame<'_>) -> Conversation {
        Conversation {
            id,
            client,
            server,
            first_frame: frame.number,
            first: frame.time,
            last: frame.time,
            frames: 0,
            seen: Seen::default(),
            first_fragment: None,
            streams: [Stream::new(self.limits), Stream::new(self.limits)],
            client_acked: false,
        }
    }

    fn tracks(&self) -> [Track; 2] {
        let track = Track { base: None, acked: None, reasm: Reassembler::new(self.limits.max_pending) };
        [track.clone(), track]
    }

    fn track(&mut self, frame: &Frame<'_>, seg: &Parsed) -> Placed {
        let id = self.conversation(frame, seg);
        let state = &mut self.states[id.0 as usize];
        let dir = if state.conv.client == seg.src { Dir::ToServer } else { Dir::ToClient };
        note_control(&mut state.conv, dir, seg, frame);
        let (rel_seq, rel_ack) = place(state, dir, seg, frame);
        Placed {
            conv: id,
            dir,
            flags: seg.flags,
            rel_seq,
            rel_ack,
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            options: seg.options.clone(),
            payload: seg.payload.clone(),
            wire_len: seg.wire_len,
        }
    }
}

fn key(a: SocketAddrV4, b: SocketAddrV4) -> (SocketAddrV4, SocketAddrV4) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Who is the client of a conversation whose first segment is `seg`.
fn client_and_server(seg: &Parsed, opening: bool) -> (SocketAddrV4, SocketAddrV4) {
    let syn_ack = seg.flags & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK;
    let src_is_client = if opening {
        true
    } else if syn_ack {
        false
    } else if seg.src.port() != seg.dst.port() {
        // Servers listen on the lower port: ephemeral ports are high.
        seg.src.port() > seg.dst.port()
    } else {
        true
    };
    if src_is_client {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    }
}

/// Records the segment's control flags and counts it.
fn note_control(conv: &mut Conversation, dir: Dir, seg: &Parsed, frame: &Frame<'_>) {
    conv.frames += 1;
    conv.last = conv.last.max(frame.time);
    conv.streams[dir.index()].segments += 1;
    let (syn, ack) = (seg.flags & flags::SYN != 0, seg.flags & flags::ACK != 0);
    let seen = &mut conv.seen;
    match dir {
        Dir::ToServer => {
            seen.syn |= syn && !ack;
            seen.client_fin |= seg.flags & flags::FIN != 0;
            conv.client_acked |= ack && !syn;
        }
        Dir::ToClient => {
            seen.syn_ack |= syn && ack;
            seen.server_fin |= seg.flags & flags::FIN != 0;
        }
    }
    seen.rst |= seg.flags & flags::RST != 0;
}

/// Places a segment in its sender's stream and its acknowledgement in the peer's; returns the
/// relative sequence and acknowledgement numbers (the ISN is 0, the first byte 1).
fn place(state: &mut State, dir: Dir, seg: &Parsed, frame: &Frame<'_>) -> (i64, Option<i64>) {
    let (syn, ack) = (seg.flags & flags::SYN != 0, seg.flags & flags::ACK != 0);
    let [to_server, to_client] = &mut state.tracks;
    let (me, peer) = if dir == Dir::ToServer { (to_server, to_client) } else { (to_client, to_server) };
    let stream = &mut state.conv.streams[dir.index()];
    if syn {
        stream.isn.get_or_insert(seg.seq);
    }
    // Offset 0 is after the SYN; without one, where this side was first seen.
    me.base.get_or_insert(seg.seq.wrapping_add(u32::from(syn)));
    if ack {
        peer.base.get_or_insert(seg.ack);
    }
    let seq_at = me.offset(seg.seq).unwrap_or(0);
    let ack_at = if ack { peer.offset(seg.ack) } else { None };
    if let (Some(at), false) = (ack_at, seg.flags & flags::RST != 0) {
        peer.acked = peer.acked.max(u64::try_from(at).ok());
    }
    let data_at = seq_at + i64::from(syn);
    let payload = &frame.ipv4[seg.payload.clone()];
    if seg.flags & flags::FIN != 0 && data_at >= 0 {
        stream.fin_at.get_or_insert(data_at as u64 + u64::from(seg.wire_len));
    }
    if (payload.len() as u32) < seg.wire_len {
        stream.first_cut_frame.get_or_insert(frame.number);
    }
    if seg.flags & flags::RST == 0 && !is_keepalive(me, data_at, payload) {
        feed(me, stream, data_at, payload);
    }
    (seq_at + 1, ack_at.map(|a| a + 1))
}

/// A keep-alive probe: one byte (or none) just before what was already sent, not data.
fn is_keepalive(track: &Track, at: i64, payload: &[u8]) -> bool {
    payload.len() <= 1 && track.reasm.next() > 0 && at == track.reasm.next() as i64 - 1
}

fn feed(track: &mut Track, stream: &mut Stream, at: i64, payload: &[u8]) {
    let skip = usize::try_from(at.saturating_neg()).unwrap_or(0).min(payload.len());
    stream.before_start += skip as u64;
    let at = at.max(0) as u64;
    track.reasm.push(at, &payload[skip..], &mut stream.digest);
}

fn finish_conversation(mut state: State) -> Conversation {
    for (track, stream) in state.tracks.iter_mut().zip(&mut state.conv.streams) {
        // An acknowledgement just past the FIN covers the FIN, not a byte.
        let acked = match (track.acked, stream.fin_at) {
            (Some(a), Some(fin)) if a > fin => fin,
            (acked, _) => acked.unwrap_or(0),
        };
        let end = acked.max(stream.fin_at.unwrap_or(0));
        track.reasm.finish(end, &mut stream.digest);
        stream.holes = std::mem::take(&mut track.reasm.holes);
        stream.reassembly = track.reasm.stats;
    }
    state.conv
}

/// Reads a TCP segment out of an IPv4 packet, cut or whole.
fn parse(data: &[u8]) -> Result<Parsed, NotTracked> {
    let ip = Ipv4Packet::new_unchecked(data);
    if data.len() < ipv4::HEADER_LEN || ip.version() != 4 {
        return Err(NotTracked::Malformed);
    }
    let header = usize::from(ip.header_len());
    // A total length of 0 is a segmentation-offload packet captured before the NIC split it.
    let total = match usize::from(ip.total_len()) {
        0 => data.len(),
        n => n,
    };
    if header < ipv4::HEADER_LEN || header > data.len() || total < header {
        return Err(NotTracked::Malformed);
    }
    let seg = &data[header..total.min(data.len())];
    let ends = ports(&ip, seg);
    if ip.protocol() != protocol::TCP {
        return Err(NotTracked::NotTcp);
    }
    if ip.is_fragment() {
        return Err(NotTracked::Fragment(if ip.frag_offset() == 0 { ends } else { None }));
    }
    let tcp = match TcpPacket::new_checked(seg) {
        Ok(tcp) => tcp,
        Err(_) if total > data.len() => return Err(NotTracked::CutHeader(ends)),
        Err(_) => return Err(NotTracked::Malformed),
    };
    let tcp_header = usize::from(tcp.header_len());
    let payload_at = header + tcp_header;
    Ok(Parsed {
        src: SocketAddrV4::new(ip.src_addr(), tcp.src_port()),
        dst: SocketAddrV4::new(ip.dst_addr(), tcp.dst_port()),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        flags: tcp.flags(),
        window: tcp.window_len(),
        options: header + tcp::HEADER_LEN..payload_at,
        payload: payload_at..header + seg.len(),
        wire_len: u32::try_from(total - payload_at.min(total)).unwrap_or(u32::MAX),
    })
}

/// The endpoints of a segment whose first four bytes (the ports) were captured.
fn ports(ip: &Ipv4Packet<&[u8]>, seg: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4)> {
    // The two port fields are all a view of four bytes may read.
    let tcp = TcpPacket::new_unchecked(seg.get(..4)?);
    Some((SocketAddrV4::new(ip.src_addr(), tcp.src_port()), SocketAddrV4::new(ip.dst_addr(), tcp.dst_port())))
}
