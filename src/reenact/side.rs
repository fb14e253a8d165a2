//! One end of a re-enacted conversation, the capture's client or its server, played towards
//! the switch.
//!
//! A side sends its captured segments in capture order, each no earlier than its capture time
//! and no earlier than the side has received what the segment acknowledges: a server answers
//! once the request reached it, whenever the switch let it through (on an L7 port the switch
//! connects to the server only once it has read the head, long after the capture's server
//! sent its SYN-ACK). Its own sequence numbers stay as captured; its acknowledgements and SACK
//! edges are moved onto the initial sequence number it actually received, and its timestamp
//! echo onto the last timestamp it received. Payloads are cut to what the peer's MSS allows.
//! Bytes the switch leaves unacknowledged are sent again after a timeout (from one second,
//! doubling), as a TCP stack would; the report counts them.
//!
//! What a side receives is checked byte for byte against what the other side sent
//! ([`Sent`]), put back in order and digested like the capture's own stream, for the
//! judgement at the end.

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::capture::{Reassembler, Segment, StreamDigest};
use super::frames::{max_payload, Outgoing, Received};
use super::outcome::SideOutcome;
use super::sent::Sent;
use crate::engine::PortIdx;
use crate::time::Instant;
use crate::wire::tcp::{self, flags, OptionEdits};
use crate::wire::MacAddr;

/// First retransmission timeout (RFC 6298's initial one), doubling.
const RTO: Duration = Duration::from_secs(1);
/// Retransmissions of one stretch before the side stops trying.
const TRIES: u8 = 6;
/// Payload bytes a side may hold waiting to be sent before it gives up on its conversation.
pub const QUEUE_CAP: usize = 8 << 20;

/// Which end of the conversation a side plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// A captured segment, waiting its turn.
#[derive(Debug, Clone)]
pub struct Planned {
    pub frame: u64,
    pub time: Instant,
    pub flags: u8,
    pub seq: u32,
    /// Relative to the sender's ISN: the SYN is 0, the first byte 1.
    pub rel_seq: i64,
    /// Relative to the peer's ISN, with ACK.
    pub rel_ack: Option<i64>,
    pub window: u16,
    pub options: Vec<u8>,
    /// As on the wire: a payload the snap length cut is made whole with zeros (its
    /// conversation is `incomplete-capture` anyway; the zeros keep it going).
    pub payload: Vec<u8>,
}

impl Planned {
    pub fn of(seg: &Segment<'_>, time: Instant) -> Planned {
        let mut payload = seg.payload.to_vec();
        let wire_len = usize::try_from(seg.wire_len).unwrap_or(usize::MAX);
        if wire_len > payload.len() && wire_len <= 65535 {
            payload.resize(wire_len, 0);
        }
        Planned {
            frame: seg.frame,
            time,
            flags: seg.flags,
            seq: seg.seq,
            rel_seq: seg.rel_seq,
            rel_ack: seg.rel_ack.filter(|_| seg.flags & flags::ACK != 0),
            window: seg.window,
            options: seg.options.to_vec(),
            payload,
        }
    }

    /// The stream offset of its first payload byte.
    fn data_at(&self) -> i64 {
        self.rel_seq - 1 + i64::from(self.flags & flags::SYN != 0)
    }
}

/// A reset the side received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GotReset {
    pub at: Instant,
    /// The peer had sent a reset itself (then it is the peer's, passed on); else the switch
    /// made it.
    pub from_peer: bool,
}

/// One end, played.
#[derive(Debug)]
pub struct Side {
    pub role: Role,
    /// This side's endpoint and its peer's as the switch sees them (a server's once the
    /// switch connects to it), and the switch port between them.
    pub ends: Option<(SocketAddrV4, SocketAddrV4, PortIdx)>,
    /// This side's ISN as captured (it keeps its sequence numbers).
    own_isn: Option<u32>,
    /// The peer's ISN as captured, for SACK edges.
    peer_captured_isn: Option<u32>,
    /// How far the peer's captured stream can be waited for, in acknowledgement terms (1 is
    /// the SYN): its length, or its first hole, plus its FIN.
    peer_reach: i64,
    queue: VecDeque<Planned>,
    queued_bytes: usize,
    pub sent: Sent,
    pub sent_syn: bool,
    pub sent_fin: Option<u64>,
    pub sent_rst: bool,
    /// The SYN (or SYN-ACK) frame last sent, to answer a SYN the switch sends again, and the
    /// segment it came from, to answer another server's.
    syn_frame: Option<Vec<u8>>,
    syn_planned: Option<Planned>,
    /// The peer's ISN as this side received it.
    pub peer_isn: Option<u32>,
    recv: Reassembler,
    /// What arrived, digested as the capture's streams are, for the comparison at the end.
    /// It keeps no bytes: each was checked against the sender's as it arrived, so the
    /// digest's hashes are enough, and a conversation costs no more than its summary.
    pub received: StreamDigest,
    /// The stream offset of the peer's FIN, once received.
    pub fin: Option<u64>,
    /// The first received byte that differs from what the peer sent there.
    pub first_difference: Option<u64>,
    pub reset: Option<GotReset>,
    ts_recent: Option<u32>,
    last_ts: Option<u32>,
    peer_mss: Option<u16>,
    /// Retransmission: what the switch acknowledged of this side's stream.
    acked: u64,
    fin_acked: bool,
    rto: Duration,
    tries: u8,
    deadline: Option<Instant>,
    /// Segments this side sent again because the switch left them unacknowledged.
    pub resent: u64,
    /// Why this side stopped playing before the capture's end.
    pub gave_up: Option<String>,
    /// Received segments that fit no sequence space this side knows (before any SYN).
    pub strays: u64,
    /// Captured segments given up unsent (after a reset, or over the cap).
    dropped: usize,
}

impl Side {
    /// A side whose own ISN and whose peer's are as captured (`None` when not seen), and whose
    /// peer's stream can be waited for up to `peer_reach`.
    pub fn new(role: Role, own_isn: Option<u32>, peer_captured_isn: Option<u32>, peer_reach: i64) -> Side {
        Side {
            role,
            ends: None,
            own_isn,
            peer_captured_isn,
            peer_reach,
            queue: VecDeque::new(),
            queued_bytes: 0,
            sent: Sent::default(),
            sent_syn: false,
            sent_fin: None,
            sent_rst: false,
            syn_frame: None,
            syn_planned: None,
            peer_isn: None,
            recv: Reassembler::new(8 << 20),
            received: StreamDigest::new(0),
            fin: None,
            first_difference: None,
            reset: None,
            ts_recent: None,
            last_ts: None,
            peer_mss: None,
            acked: 0,
            fin_acked: false,
            rto: RTO,
            tries: 0,
            deadline: None,
            resent: 0,
            gave_up: None,
            strays: 0,
            dropped: 0,
        }
    }

    /// A fresh connection for the same end, with the segments it has yet to send: the
    /// switch gave up on one server and connects to another.
    pub fn restarted(&mut self) -> Side {
        let mut fresh = Side::new(self.role, self.own_isn, self.peer_captured_isn, self.peer_reach);
        fresh.queue = std::mem::take(&mut self.queue);
        fresh.queued_bytes = std::mem::take(&mut self.queued_bytes);
        if let Some(syn) = self.syn_planned.take() {
            fresh.queued_bytes += syn.payload.len();
            fresh.queue.push_front(syn);
        }
        fresh
    }

    /// Whether the side still plays: it neither reset nor was reset, nor gave up.
    pub fn playing(&self) -> bool {
        !self.sent_rst && self.reset.is_none() && self.gave_up.is_none()
    }

    /// Queues a captured segment.
    pub fn push(&mut self, planned: Planned) {
        if !self.playing() {
            return;
        }
        self.queued_bytes += planned.payload.len();
        self.queue.push_back(planned);
        if self.queued_bytes > QUEUE_CAP {
            let waiting = self.queue.front().and_then(|p| p.rel_ack).unwrap_or(0);
            self.gave_up = Some(format!(
                "the {} waited for the other side's byte {} (relative acknowledgement {waiting}), which never came, \
                 while {QUEUE_CAP} bytes of its own piled up",
                self.role_name(),
                (waiting - 1).max(0),
            ));
            self.drop_queue();
        }
    }

    pub fn role_name(&self) -> &'static str {
        match self.role {
            Role::Client => "client",
            Role::Server => "server",
        }
    }

    /// Bytes held now: waiting segments, sent bytes kept.
    pub fn held_bytes(&self) -> usize {
        self.queued_bytes + self.sent.kept()
    }

    /// Captured segments waiting to be sent.
    pub fn unsent_now(&self) -> usize {
        self.queue.len()
    }

    /// Whether this side received everything `sender` (the other side) sent, its FIN too.
    pub fn has_all_of(&self, sender: &Side) -> bool {
        self.contiguous() >= sender.sent.end() && (sender.sent_fin.is_none() || self.fin.is_some())
    }

    /// What the judge needs of this side, its buffers gone.
    pub fn into_outcome(self) -> SideOutcome {
        SideOutcome {
            role: self.role_name(),
            contiguous: self.contiguous(),
            received: self.received,
            fin: self.fin,
            first_difference: self.first_difference,
            reset: self.reset,
            sent_rst: self.sent_rst,
            sent_end: self.sent.end(),
            sent_fin: self.sent_fin,
            resent: self.resent,
            unsent: self.queue.len() + self.dropped,
            unchecked: self.sent.unchecked,
            strays: self.strays,
            gave_up: self.gave_up,
        }
    }

    /// How far this side has received, in acknowledgement terms: 0 before the peer's SYN,
    /// then 1 + the gapless bytes + 1 for a FIN right after them.
    pub fn received_point(&self) -> i64 {
        if self.peer_isn.is_none() {
            return 0;
        }
        let got = self.contiguous();
        1 + got as i64 + i64::from(self.fin == Some(got))
    }

    /// The bytes received without a gap from the stream's start.
    pub fn contiguous(&self) -> u64 {
        self.recv.holes.first.first().map_or(self.recv.next(), |h| h.at)
    }

    /// The next segment, if it may go now: the side is addressed and has received what the
    /// segment acknowledges.
    pub fn next_due(&mut self) -> Option<Planned> {
        if !self.playing() || self.ends.is_none() {
            return None;
        }
        let front = self.queue.front()?;
        let need = front.rel_ack.map_or(0, |a| a.min(self.peer_reach));
        if need > self.received_point() {
            return None;
        }
        let p = self.queue.pop_front()?;
        self.queued_bytes -= p.payload.len();
        if self.queue.is_empty() && self.queue.capacity() > 0 {
            // A burst that piled up is over: its room goes too.
            self.queue = VecDeque::new();
        }
        Some(p)
    }

    /// The frames that send `p` to the switch port whose MAC is `port_mac`.
    pub fn emit(&mut self, p: &Planned, now: Instant, port_mac: MacAddr) -> Vec<Vec<u8>> {
        let Some((me, peer, _)) = self.ends else { return Vec::new() };
        let ack = match (p.rel_ack, self.peer_isn) {
            (Some(rel), Some(isn)) => isn.wrapping_add(rel as u32),
            _ => 0,
        };
        let options = self.options_for(p);
        let room = max_payload(options.len());
        let room = match self.peer_mss {
            Some(mss) => room.min(usize::from(mss).saturating_sub(options.len()).max(64)),
            None => room,
        };
        let syn = u32::from(p.flags & flags::SYN != 0);
        let chunks: Vec<&[u8]> = if p.payload.is_empty() { vec![&[]] } else { p.payload.chunks(room).collect() };
        let last = chunks.len() - 1;
        let mut frames = Vec::with_capacity(chunks.len());
        let mut offset = 0u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut f = p.flags;
            if i != last {
                f &= !(flags::FIN | flags::PSH | flags::RST);
            }
            if i != 0 {
                f &= !flags::SYN;
            }
            let seq = if i == 0 { p.seq } else { p.seq.wrapping_add(syn).wrapping_add(offset) };
            let out = Outgoing {
                src: me,
                dst: peer,
                seq,
                ack,
                flags: f,
                window: p.window,
                options: &options,
                payload: chunk,
            };
            frames.push(out.frame(port_mac));
            offset += chunk.len() as u32;
        }
        self.note_sent(p, now);
        if p.flags & flags::SYN != 0 {
            self.syn_frame = frames.first().cloned();
            self.syn_planned = Some(p.clone());
        }
        frames
    }

    fn note_sent(&mut self, p: &Planned, now: Instant) {
        let at = p.data_at();
        if let Ok(at) = u64::try_from(at) {
            self.sent.record(at, &p.payload);
            if p.flags & flags::FIN != 0 {
                self.sent_fin.get_or_insert(at + p.payload.len() as u64);
            }
        }
        self.sent_syn |= p.flags & flags::SYN != 0;
        if p.flags & flags::RST != 0 {
            self.sent_rst = true;
            // What the capture shows after its own reset (a RST again) is not needed.
            self.queue = VecDeque::new();
            self.queued_bytes = 0;
            self.deadline = None;
        } else if self.deadline.is_none() && self.outstanding() {
            self.deadline = Some(now + self.rto);
        }
    }

    /// The captured options, moved onto what this side received: the timestamp echo and
    /// the SACK edges. Options that do not parse go (the capture's, not the switch's fault).
    fn options_for(&mut self, p: &Planned) -> Vec<u8> {
        let mut options = p.options.clone();
        let Ok(seen) = tcp::read_options(&options) else { return Vec::new() };
        let has_ack = p.flags & flags::ACK != 0;
        let ts_ecr_add = match (seen.timestamps, has_ack, self.ts_recent) {
            (Some(ts), true, Some(recent)) => recent.wrapping_sub(ts.tsecr),
            _ => 0,
        };
        if let Some(ts) = seen.timestamps {
            self.last_ts = Some(ts.tsval);
        }
        let (isn, captured) = (self.peer_isn.unwrap_or(0), self.peer_captured_isn.unwrap_or(0));
        let edits = OptionEdits { ts_val_add: 0, ts_ecr_add, mss_max: None };
        match tcp::rewrite_options(&mut options, &edits, |edge| isn.wrapping_add(edge.wrapping_sub(captured))) {
            Ok(_) => options,
            Err(_) => Vec::new(),
        }
    }

    /// Whether bytes or a FIN this side sent wait for the switch's acknowledgement.
    pub fn outstanding(&self) -> bool {
        self.sent.end() > self.acked || (self.sent_fin.is_some() && !self.fin_acked)
    }

    /// Takes a segment the switch sent this side. `peer_sent` is what the other side sent, to
    /// check the bytes against; `peer_reset` whether the other side sent a reset. Returns a
    /// frame to send back at once (the SYN-ACK again, for a SYN the switch repeats).
    pub fn receive(
        &mut self,
        r: &Received,
        frame: &[u8],
        peer_sent: &Sent,
        peer_reset: bool,
        now: Instant,
    ) -> Option<Vec<u8>> {
        let (syn, ack) = (r.flags & flags::SYN != 0, r.flags & flags::ACK != 0);
        let options = frame.get(r.options.clone()).and_then(|o| tcp::read_options(o).ok()).unwrap_or_default();
        if syn {
            match self.peer_isn {
                None => {
                    self.peer_isn = Some(r.seq);
                    self.peer_mss = options.mss;
                }
                // The switch asks again: our answer was lost or late.
                Some(isn) if isn == r.seq && self.role == Role::Server && self.sent_syn => {
                    return self.syn_frame.clone();
                }
                Some(_) => {}
            }
        }
        if r.flags & flags::RST != 0 && self.peer_isn.is_none() {
            // Refused before any handshake (the switch's table full, no server up).
            self.on_reset(peer_reset, now);
            return None;
        }
        let Some(isn) = self.peer_isn else {
            self.strays += 1;
            return None;
        };
        if let Some(ts) = options.timestamps {
            if self.ts_recent.is_none_or(|recent| (ts.tsval.wrapping_sub(recent) as i32) >= 0) {
                self.ts_recent = Some(ts.tsval);
            }
        }
        if ack {
            self.on_ack(r.ack, now);
        }
        if r.flags & flags::RST != 0 {
            self.on_reset(peer_reset, now);
            return None;
        }
        let payload = frame.get(r.payload.clone()).unwrap_or_default();
        let first = isn.wrapping_add(1);
        // Unwrapped around what was received so far.
        let point = self.recv.next();
        let at = point as i64 + i64::from(r.seq.wrapping_sub(first.wrapping_add(point as u32)) as i32);
        let at = at + i64::from(syn);
        if let Ok(at) = u64::try_from(at) {
            if !payload.is_empty() {
                if let Some(d) = peer_sent.first_difference(at, payload) {
                    self.first_difference = Some(self.first_difference.map_or(d, |f| f.min(d)));
                }
                self.recv.push(at, payload, &mut self.received);
            }
            if r.flags & flags::FIN != 0 {
                self.fin.get_or_insert(at + payload.len() as u64);
            }
        }
        None
    }

    /// A reset: the side stops; what it had yet to send is not sent.
    fn on_reset(&mut self, from_peer: bool, now: Instant) {
        if self.reset.is_none() {
            self.reset = Some(GotReset { at: now, from_peer });
        }
        self.drop_queue();
        self.deadline = None;
    }

    /// Gives up the segments this side has yet to send (it will never send them).
    pub fn drop_queue(&mut self) {
        self.dropped += self.queue.len();
        self.queue = VecDeque::new();
        self.queued_bytes = 0;
    }

    fn on_ack(&mut self, ack: u32, now: Instant) {
        let Some(isn) = self.own_isn else { return };
        let rel = i64::from(ack.wrapping_sub(isn.wrapping_add(1)) as i32);
        let Ok(acked) = u64::try_from(rel) else { return };
        let fin_acked = self.sent_fin.is_some_and(|fin| acked > fin);
        let acked = self.sent_fin.map_or(acked, |fin| acked.min(fin));
        if acked > self.acked || (fin_acked && !self.fin_acked) {
            self.acked = self.acked.max(acked);
            self.fin_acked |= fin_acked;
            self.rto = RTO;
            self.tries = 0;
            self.deadline = self.outstanding().then(|| now + self.rto);
        }
    }

    /// Lets go of sent bytes the switch acknowledged and the peer received (`peer_has`).
    pub fn release(&mut self, peer_has: u64) {
        self.sent.release(self.acked.min(peer_has));
    }

    /// When this side next wants to send again.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.filter(|_| self.playing())
    }

    /// At its deadline: the first unacknowledged stretch (or the FIN) again.
    pub fn on_timeout(&mut self, now: Instant, port_mac: MacAddr) -> Option<Vec<u8>> {
        if self.deadline.is_none_or(|d| d > now) {
            return None;
        }
        if !self.outstanding() || !self.playing() || self.tries >= TRIES {
            self.deadline = None;
            return None;
        }
        let (me, peer, _) = self.ends?;
        let (own, peer_isn) = (self.own_isn?, self.peer_isn?);
        self.tries += 1;
        self.rto *= 2;
        self.deadline = Some(now + self.rto);
        let options: Vec<u8> = match (self.last_ts, self.ts_recent) {
            (Some(val), recent) => {
                let mut o = vec![1, 1, 8, 10];
                o.extend_from_slice(&val.to_be_bytes());
                o.extend_from_slice(&recent.unwrap_or(0).to_be_bytes());
                o
            }
            _ => Vec::new(),
        };
        let room = max_payload(options.len()).min(self.peer_mss.map_or(usize::MAX, |m| usize::from(m).max(64)));
        let data = self.sent.get(self.acked, room).unwrap_or_default();
        let at_fin = self.sent_fin == Some(self.acked + data.len() as u64);
        if data.is_empty() && !at_fin {
            // Let go already (over the cap): it cannot be sent again.
            self.deadline = None;
            return None;
        }
        let f = flags::ACK | if at_fin { flags::FIN } else { flags::PSH };
        let seq = own.wrapping_add(1).wrapping_add(self.acked as u32);
        let ack = peer_isn.wrapping_add(self.received_point() as u32);
        self.resent += 1;
        let out = Outgoing { src: me, dst: peer, seq, ack, flags: f, window: 65535, options: &options, payload: &data };
        Some(out.frame(port_mac))
    }
}
