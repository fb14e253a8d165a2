//! The other end of every L7 connection in `l7-lifecycle` and `synflood`: one in-memory
//! port that plays all the clients and all the servers around the switch.
//!
//! It delivers the frames of a [`Plan`] made in advance, in order, as the in-memory port
//! delivers its templates, and fills in the two numbers only the switch's own frames can
//! tell: the switch's initial sequence number (or SYN cookie), which every later client
//! segment acknowledges, and the local port the switch connected to the server from, which
//! every server segment is addressed to. It learns both from what the switch sends
//! (`tx_burst`), as real peers do, and rewrites the acknowledgment number or destination port
//! of the copied template with an incremental checksum update.
//!
//! So a frame can only depend on what the switch sent in an earlier loop turn: a plan lays
//! each connection out in three waves, one turn apart: the client's SYN; its ACK and request
//! head (they need the switch's ISN); then everything else (the server's SYN-ACK needs the
//! local port; the rest follows in order within the burst: the response, the client's FIN,
//! the server's FIN, the client's last ACK).
//!
//! It also checks every frame the switch sends: each of a connection's eight (the SYN-ACK,
//! the ACK of the head, the SYN to the server, the held head, the response, both FINs, the
//! last ACK) is counted against the connection, found from its sequence numbers (the
//! client's ISN is its index shifted by [`CONN_SHIFT`]), and the last ACK reaching the
//! server closes the count: [`Tally::completed`] when all eight went out, else
//! [`Tally::broken`].

use std::net::Ipv4Addr;

use crate::dpdk;
use crate::port::mem::BufPool;
use crate::port::{Port, PortStats, BURST};
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::checksum::Delta;
use crate::wire::{ethernet, ipv4, tcp};

/// A planned connection's client ISN is its index shifted by this much: its frames' sequence
/// numbers say which connection they belong to (heads are shorter than `1 << CONN_SHIFT`).
pub const CONN_SHIFT: u32 = 12;
/// Connections a plan may hold: their ISNs leave the top bit clear, which flood SYNs set.
pub const MAX_CONNS: usize = 1 << (31 - CONN_SHIFT);
/// Frames the switch sends for one whole connection.
pub const ANSWERS_PER_CONNECTION: u8 = 8;
/// Where the TCP header of every planned frame starts (untagged Ethernet, 20-byte IPv4).
const L4: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// What a planned frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client's SYN.
    Syn,
    /// A spoofed SYN, from nobody who will answer.
    FloodSyn,
    /// The client's ACK of the switch's SYN-ACK.
    Ack,
    /// The client's request head, one segment.
    Head,
    /// The server's SYN-ACK to the switch.
    ServerSynAck,
    /// The server's response, one segment (it acknowledges the head).
    Response,
    /// The client's FIN (it acknowledges the response).
    ClientFin,
    /// The server's FIN (it acknowledges the client's).
    ServerFin,
    /// The client's ACK of the server's FIN.
    LastAck,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Syn,
        Kind::FloodSyn,
        Kind::Ack,
        Kind::Head,
        Kind::ServerSynAck,
        Kind::Response,
        Kind::ClientFin,
        Kind::ServerFin,
        Kind::LastAck,
    ];

    /// Frames the switch sends for one of these: a head is acknowledged to the client and
    /// opens the server connection; the handshake's ACK is taken in; every other frame is
    /// answered or forwarded once.
    pub fn answers(self) -> u64 {
        match self {
            Kind::Ack => 0,
            Kind::Head => 2,
            _ => 1,
        }
    }
}

/// What the peer fills in when it delivers a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Nothing,
    /// A client segment of connection `n`: its ACK number is relative to the switch's ISN,
    /// which is added.
    ClientAck(u32),
    /// A server segment of connection `n`: addressed to the switch's local port.
    ServerPort(u32),
}

/// One frame of a plan, as its builder gives it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub fill: Fill,
    pub frame: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Planned {
    at: usize,
    len: usize,
    kind: Kind,
    fill: Fill,
}

/// Every frame the peer delivers, in delivery order, [`BURST`] to a loop turn; delivered
/// round and round.
#[derive(Debug)]
pub struct Plan {
    /// The frames' bytes one after the other, in the order they are read.
    bytes: Vec<u8>,
    frames: Vec<Planned>,
    /// Each connection's server, where its SYN must go.
    servers: Vec<Ipv4Addr>,
    /// The VIP's port: frames from it go to clients.
    vip_port: u16,
}

impl Plan {
    /// Lays out `servers.len()` connections over `turns` loop turns: connection `c`'s three
    /// waves (`waves(c)`) in turns `turn_of(c)`, `+1` and `+2` (round the end of the plan,
    /// which is delivered again and again), each turn's waves oldest first, then `flood` fills
    /// every turn up to [`BURST`] frames (without one, every turn must be full already).
    pub fn build(
        turns: usize,
        servers: Vec<Ipv4Addr>,
        vip_port: u16,
        turn_of: impl Fn(usize) -> usize,
        waves: impl Fn(usize) -> [Vec<Entry>; 3],
        mut flood: Option<&mut dyn FnMut() -> Entry>,
    ) -> Result<Plan, String> {
        if servers.len() > MAX_CONNS {
            return Err(format!("a plan holds at most {MAX_CONNS} connections"));
        }
        let mut by_turn: Vec<[Vec<Entry>; 3]> = (0..turns).map(|_| Default::default()).collect();
        for c in 0..servers.len() {
            for (w, entries) in waves(c).into_iter().enumerate() {
                // Wave 2 goes first in its turn, wave 0 last.
                by_turn[(turn_of(c) + w) % turns][2 - w].extend(entries);
            }
        }
        let mut plan = Plan { bytes: Vec::new(), frames: Vec::with_capacity(turns * BURST), servers, vip_port };
        for (t, waves) in by_turn.into_iter().enumerate() {
            let planned: Vec<Entry> = waves.into_iter().flatten().collect();
            if planned.len() > BURST {
                return Err(format!("turn {t} of the plan has {} frames, more than a burst", planned.len()));
            }
            let fill = BURST - planned.len();
            let flood_frames: Vec<Entry> = match flood.as_mut() {
                Some(flood) => (0..fill).map(|_| flood()).collect(),
                None if fill == 0 => Vec::new(),
                None => return Err(format!("turn {t} of the plan has {} frames and nothing to fill it", BURST - fill)),
            };
            for e in planned.into_iter().chain(flood_frames) {
                plan.frames.push(Planned { at: plan.bytes.len(), len: e.frame.len(), kind: e.kind, fill: e.fill });
                plan.bytes.extend_from_slice(&e.frame);
            }
        }
        Ok(plan)
    }

    /// Loop turns one pass of the plan takes.
    pub fn turns(&self) -> usize {
        self.frames.len() / BURST
    }

    pub fn connections(&self) -> usize {
        self.servers.len()
    }

    /// Bytes of frames in the plan.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// What the peer delivered and what the switch sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Frames delivered, by [`Kind`].
    pub delivered: [u64; Kind::ALL.len()],
    /// Frames the switch sent.
    pub sent: u64,
    /// SYN-ACKs to flood sources.
    pub flood_answers: u64,
    /// Connections whose last ACK reached the server after every frame of theirs went out.
    pub completed: u64,
    /// Connections whose last ACK reached the server with frames of theirs missing.
    pub broken: u64,
    /// SYNs that went to another server than the plan expected.
    pub misrouted: u64,
    /// RSTs the switch sent.
    pub resets: u64,
    /// TCP frames of no planned connection, other than answers to flood SYNs.
    pub strays: u64,
    /// Frames that are not TCP (the gratuitous ARPs of the first turn).
    pub other: u64,
}

impl Tally {
    pub fn delivered(&self, kind: Kind) -> u64 {
        self.delivered[kind as usize]
    }

    /// Frames the switch must have sent for what was delivered.
    pub fn answers_due(&self) -> u64 {
        Kind::ALL.iter().map(|&k| self.delivered(k) * k.answers()).sum()
    }

    /// What changed since `before`.
    pub fn since(&self, before: &Tally) -> Tally {
        let mut delivered = self.delivered;
        for (d, b) in delivered.iter_mut().zip(before.delivered) {
            *d -= b;
        }
        Tally {
            delivered,
            sent: self.sent - before.sent,
            flood_answers: self.flood_answers - before.flood_answers,
            completed: self.completed - before.completed,
            broken: self.broken - before.broken,
            misrouted: self.misrouted - before.misrouted,
            resets: self.resets - before.resets,
            strays: self.strays - before.strays,
            other: self.other - before.other,
        }
    }
}

/// The port that plays every peer of the switch (see the module).
pub struct Peer<P: BufPool> {
    plan: Plan,
    next: usize,
    pool: P,
    stats: PortStats,
    /// Per connection: the switch's ISN towards the client, its local port towards the
    /// server, and how many of the connection's frames it has sent so far.
    our_isn: Vec<u32>,
    local_port: Vec<u16>,
    answers: Vec<u8>,
    tally: Tally,
    /// TSC cycles spent filling in and reading frames: the peer's own work, beyond what
    /// the in-memory port does (copying templates in, counting frames out).
    cycles: u64,
    /// Scratch: the planned frames of the burst being delivered.
    delivered: Vec<Planned>,
}

impl<P: BufPool> Peer<P> {
    pub fn new(plan: Plan, pool: P) -> Peer<P> {
        let n = plan.connections();
        Peer {
            plan,
            next: 0,
            pool,
            stats: PortStats::default(),
            our_isn: vec![0; n],
            local_port: vec![0; n],
            answers: vec![0; n],
            tally: Tally::default(),
            cycles: 0,
            delivered: Vec::with_capacity(BURST),
        }
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// TSC cycles the peer spent on its own work so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Loop turns one pass of its plan takes.
    pub fn plan_turns(&self) -> usize {
        self.plan.turns()
    }

    /// Fills in what the switch told connection `fill` names.
    fn fill(&self, frame: &mut [u8], fill: Fill) {
        let mut seg = tcp::Packet::new_unchecked(&mut frame[L4..]);
        let delta = match fill {
            Fill::Nothing => return,
            Fill::ClientAck(n) => {
                let (old, new) = (seg.ack_number(), seg.ack_number().wrapping_add(self.our_isn[n as usize]));
                seg.set_ack_number(new);
                Delta::default().replace32(old, new)
            }
            Fill::ServerPort(n) => {
                let (old, new) = (seg.dst_port(), self.local_port[n as usize]);
                seg.set_dst_port(new);
                Delta::default().replace16(old, new)
            }
        };
        let sum = delta.apply(seg.checksum());
        seg.set_checksum(sum);
    }

    /// Reads a frame the switch sent: learns what later frames need, counts it against its
    /// connection.
    fn learn(&mut self, frame: &[u8]) {
        use tcp::flags::{ACK, FIN, RST, SYN};
        self.tally.sent += 1;
        let Some((dst, seg)) = tcp_segment(frame) else {
            self.tally.other += 1;
            return;
        };
        let (flags, to_client) = (seg.flags() & (SYN | ACK | FIN | RST), seg.src_port() == self.plan.vip_port);
        if flags & RST != 0 {
            self.tally.resets += 1;
            return;
        }
        // The client's sequence numbers name the connection: acknowledged towards the client
        // (the SYN-ACK acknowledges the ISN itself), carried towards the server.
        let conn = if to_client { seg.ack_number().wrapping_sub(1) } else { seg.seq_number() } >> CONN_SHIFT;
        let conn = conn as usize;
        if conn >= self.our_isn.len() {
            if to_client && flags == SYN | ACK {
                self.tally.flood_answers += 1;
            } else {
                self.tally.strays += 1;
            }
            return;
        }
        if to_client && flags == SYN | ACK {
            self.our_isn[conn] = seg.seq_number();
            self.answers[conn] = 0;
        } else if !to_client && flags == SYN {
            if dst != self.plan.servers[conn] {
                self.tally.misrouted += 1;
            }
            self.local_port[conn] = seg.src_port();
        }
        self.answers[conn] = self.answers[conn].saturating_add(1);
        // The connection's last frame: the only bare ACK the switch sends a server.
        if !to_client && flags == ACK && seg.payload().is_empty() {
            if self.answers[conn] == ANSWERS_PER_CONNECTION {
                self.tally.completed += 1;
            } else {
                self.tally.broken += 1;
            }
            self.answers[conn] = 0;
        }
    }
}

/// The destination and TCP segment of an Ethernet/IPv4/TCP frame.
fn tcp_segment(frame: &[u8]) -> Option<(Ipv4Addr, tcp::Packet<&[u8]>)> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(&frame[eth.header_len()..]).ok()?;
    if ip.protocol() != ipv4::protocol::TCP {
        return None;
    }
    let l4 = eth.header_len() + usize::from(ip.header_len());
    let end = eth.header_len() + usize::from(ip.total_len());
    Some((ip.dst_addr(), tcp::Packet::new_checked(frame.get(l4..end)?).ok()?))
}

impl<P: BufPool> Port for Peer<P> {
    type Buf = P::Buf;

    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<P::Buf>, max: usize) {
        let first = out.len();
        self.pool.get_bulk(out, max);
        self.stats.alloc_failed += (max - (out.len() - first)) as u64;
        // Copied in first, as the in-memory port does; then filled in, timed apart.
        let mut delivered = std::mem::take(&mut self.delivered);
        delivered.clear();
        let mut i = first;
        while i < out.len() {
            let p = self.plan.frames[self.next];
            self.next = (self.next + 1) % self.plan.frames.len();
            if !out[i].try_copy_from(&self.plan.bytes[p.at..p.at + p.len]) {
                // Never with frames up to 1518 bytes; the frame's turn is lost.
                self.stats.rx_missed += 1;
                out.swap_remove(i);
                continue;
            }
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += p.len as u64;
            delivered.push(p);
            i += 1;
        }
        let t = dpdk::tsc();
        for (buf, p) in out[first..].iter_mut().zip(&delivered) {
            self.fill(buf.as_mut(), p.fill);
            self.tally.delivered[p.kind as usize] += 1;
        }
        self.cycles += dpdk::tsc() - t;
        self.delivered = delivered;
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut Vec<P::Buf>) -> usize {
        let sent = frames.len();
        let t = dpdk::tsc();
        for f in frames.iter() {
            self.learn(f.as_ref());
        }
        self.cycles += dpdk::tsc() - t;
        self.stats.tx_bytes += frames.iter().map(|f| f.as_ref().len() as u64).sum::<u64>();
        self.stats.tx_frames += sent as u64;
        self.pool.recycle_all(frames);
        sent
    }

    fn free(&mut self, frames: &mut Vec<P::Buf>) {
        self.pool.recycle_all(frames);
    }

    fn alloc(&mut self) -> Option<P::Buf> {
        let buf = self.pool.get();
        if buf.is_none() {
            self.stats.alloc_failed += 1;
        }
        buf
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}
