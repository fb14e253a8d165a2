//! The per-core flow table: every tracked L4 flow, found from both of its directions.
//!
//! A flow has two tuples. Its *client-side* key is what the client sends
//! (client ip:port -> VIP:port); its *server-side* key is what the real server sends back
//! (server ip:port -> the address the switch uses towards it: a full-NAT local ip:port, or
//! the client's own ip:port under gateway NAT). Both keys lead to the same [`Flow`], and
//! [`lookup`](FlowTable::lookup) says from which side the frame came.
//!
//! # Layout
//!
//! Two fixed arrays, allocated once in [`FlowTable::with_capacity`] and never resized:
//!
//! - `flows`: one [`Flow`] per tracked flow, exactly one 64-byte cache line each. The line
//!   holds both tuples (what a lookup compares and what a rewrite writes), the server index,
//!   the NAT mode tag, the TCP state, the expiry time, where each direction has sent to and
//!   the window it announced, and for a steady spliced connection what its frames are
//!   rewritten by (`SteadySplice`): a hit reads and writes this one line and nothing else.
//! - `buckets`: the index, 64-byte lines of 8 slots, each slot a 16-bit signature and a
//!   32-bit reference (flow index, direction, "lives in its alternate bucket" bit).
//!   A key hashes to a primary bucket and, cuckoo style, to an alternate one computed from the
//!   primary and the signature alone, so slots can be moved without their key. Each bucket
//!   counts the keys that hash to it but live in their alternate ("spilled"); when that is
//!   zero, a miss costs one bucket line. There are `next_power_of_two(ceil(capacity / 2))`
//!   buckets: the two keys of every flow fill at most half of the slots, so nearly every key
//!   sits in its primary bucket and displacement is rare.
//!
//! A hit therefore costs two cache lines (bucket, flow), and both can be fetched ahead for a
//! whole burst: [`FlowTable::lookup_burst`] first hashes the burst and prefetches every
//! bucket, then reads the buckets and prefetches every candidate flow, then compares keys, so
//! the DRAM misses of the 32 lookups overlap instead of queueing one after another.
//!
//! Memory per tracked flow (see [`FlowTable::bytes_per_flow`]): 64 bytes of flow, 4 bytes
//! of free list, and the index: 64-byte buckets, one per two flows before rounding up to a
//! power of two (32 bytes a flow, i.e. 16 per direction), at worst one per flow after
//! rounding (64 bytes). Worst case 64 + 64 + 4 = 132 bytes, typical 100; the budget is 256.
//!
//! # Time and expiry
//!
//! Time is passed in. Every flow carries the instant it expires; TCP segments move it
//! through a state machine in the spirit of LVS (`net/netfilter/ipvs/ip_vs_proto_tcp.c`)
//! and conntrack, each state with its own timeout ([`Timeouts`], LVS's defaults), and any
//! other protocol lives until it has been idle for the UDP timeout. [`FlowTable::expire`]
//! sweeps a bounded number of entries per call from a cursor, so the engine can call it once
//! per poll loop at a bounded cost.
//!
//! The table never allocates after construction; `#![forbid(unsafe_code)]` holds here.

#![forbid(unsafe_code)]

mod bench;
#[cfg(test)]
mod tests;

pub use bench::{bench_flow, bench_lookups, bench_lookups_with, LookupMode};

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::hash;
use crate::mem::HugeSlice;
use crate::time::Instant;

/// IP protocol numbers the state tracking tells apart.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// TCP flag bits as they sit in the header's flags byte (same values as `wire::tcp::flags`).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

/// The frames one flow direction carries: what a lookup is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

impl FlowKey {
    pub const fn new(src: Ipv4Addr, src_port: u16, dst: Ipv4Addr, dst_port: u16, proto: u8) -> FlowKey {
        FlowKey { src, dst, src_port, dst_port, proto }
    }

    /// The key of the frames going the other way between the same two endpoints.
    pub const fn reversed(&self) -> FlowKey {
        FlowKey { src: self.dst, dst: self.src, src_port: self.dst_port, dst_port: self.src_port, proto: self.proto }
    }

    /// The 13 bytes of the key hashed under `key` ([`hash::keyed`]; keep `key` secret, see
    /// [`Secrets`](super::hash::Secrets)).
    #[inline]
    pub fn hash(&self, key: u64) -> u64 {
        let a = (u64::from(u32::from(self.src)) << 32) | u64::from(u32::from(self.dst));
        let b = (u64::from(self.src_port) << 48) | (u64::from(self.dst_port) << 32) | u64::from(self.proto);
        hash::keyed(key, a, b)
    }
}

/// One direction's addresses and ports, as stored in a [`Flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Tuple {
    src: u32,
    dst: u32,
    /// Source port in the high half, destination port in the low half.
    ports: u32,
}

impl Tuple {
    #[inline(always)]
    fn of(key: &FlowKey) -> Tuple {
        Tuple {
            src: u32::from(key.src),
            dst: u32::from(key.dst),
            ports: (u32::from(key.src_port) << 16) | u32::from(key.dst_port),
        }
    }

    fn key(&self, proto: u8) -> FlowKey {
        FlowKey {
            src: Ipv4Addr::from(self.src),
            dst: Ipv4Addr::from(self.dst),
            src_port: (self.ports >> 16) as u16,
            dst_port: self.ports as u16,
            proto,
        }
    }
}

/// Which side of its flow a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client -> VIP: matched the flow's client-side key.
    FromClient = 0,
    /// Server -> the switch's address towards it: matched the flow's server-side key.
    FromServer = 1,
}

impl Direction {
    pub const fn reverse(self) -> Direction {
        match self {
            Direction::FromClient => Direction::FromServer,
            Direction::FromServer => Direction::FromClient,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A flow's place in its table: dense, below the table's capacity, so other per-flow data
/// can live in side arrays indexed by it. Valid until the flow is removed or expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(u32);

impl FlowId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of entry `index` (for side arrays and timers that give ids back).
    pub const fn from_index(index: usize) -> FlowId {
        FlowId(index as u32)
    }
}

/// Where a flow stands. TCP flows move through the first eight states; any other protocol
/// stays in [`FlowState::Udp`] and ends when idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FlowState {
    /// The client's SYN seen, nothing from the server yet.
    SynSent = 0,
    /// The server's SYN-ACK seen, waiting for the client's ACK.
    SynRecv = 1,
    Established = 2,
    /// A FIN seen from one side, not yet acknowledged.
    FinWait = 3,
    /// A FIN seen from one side and acknowledged; the other side may still send.
    CloseWait = 4,
    /// FINs seen both ways, waiting for the last ACK.
    LastAck = 5,
    /// Both sides closed: lingers so late segments still find their server.
    TimeWait = 6,
    /// Reset: lingers briefly.
    Close = 7,
    /// UDP (and any protocol but TCP): ends after an idle timeout.
    Udp = 8,
}

const N_STATES: usize = 9;

impl FlowState {
    /// Every state, by its number.
    const ALL: [FlowState; N_STATES] = [
        FlowState::SynSent,
        FlowState::SynRecv,
        FlowState::Established,
        FlowState::FinWait,
        FlowState::CloseWait,
        FlowState::LastAck,
        FlowState::TimeWait,
        FlowState::Close,
        FlowState::Udp,
    ];

    /// The state stored as `byte` in a flow line (only ever written from a `FlowState`).
    #[inline(always)]
    fn from_byte(byte: u8) -> FlowState {
        FlowState::ALL.get(usize::from(byte)).copied().unwrap_or(FlowState::Close)
    }

    /// Whether the flow counts as an active connection (least-connections predictors).
    pub const fn is_active(self) -> bool {
        matches!(self, FlowState::Established | FlowState::Udp)
    }
}

/// How long a flow lives in each state without traffic. Defaults are LVS's `tcp_timeouts`
/// (`net/netfilter/ipvs/ip_vs_proto_tcp.c`) and its UDP timeout of 5 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub syn_sent: Duration,
    pub syn_recv: Duration,
    pub established: Duration,
    pub fin_wait: Duration,
    pub close_wait: Duration,
    pub last_ack: Duration,
    pub time_wait: Duration,
    pub close: Duration,
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            syn_sent: Duration::from_secs(120),
            syn_recv: Duration::from_secs(60),
            established: Duration::from_secs(15 * 60),
            fin_wait: Duration::from_secs(120),
            close_wait: Duration::from_secs(60),
            last_ack: Duration::from_secs(30),
            time_wait: Duration::from_secs(120),
            close: Duration::from_secs(10),
            udp: Duration::from_secs(5 * 60),
        }
    }
}

impl Timeouts {
    pub fn of(&self, state: FlowState) -> Duration {
        match state {
            FlowState::SynSent => self.syn_sent,
            FlowState::SynRecv => self.syn_recv,
            FlowState::Established => self.established,
            FlowState::FinWait => self.fin_wait,
            FlowState::CloseWait => self.close_wait,
            FlowState::LastAck => self.last_ack,
            FlowState::TimeWait => self.time_wait,
            FlowState::Close => self.close,
            FlowState::Udp => self.udp,
        }
    }

    fn table(&self) -> [u64; N_STATES] {
        FlowState::ALL.map(|s| u64::try_from(self.of(s).as_nanos()).unwrap_or(u64::MAX))
    }
}

/// The addresses a frame leaves with after the rewrite (full NAT rewrites all four; gateway
/// NAT leaves the client's own address and port as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    pub src: Ipv4Addr,
    pub src_port: u16,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

// `Flow::bits`.
const LIVE: u8 = 1;
/// Only the client-side key is indexed (both keys were the same, e.g. DSR).
const ONE_WAY: u8 = 1 << 1;
const FIN_CLIENT: u8 = 1 << 2;
const FIN_SERVER: u8 = 1 << 3;
/// In `LastAck`: the last FIN came from the server, so the client's ACK ends the flow.
const LAST_FIN_SERVER: u8 = 1 << 4;
const SEEN_SERVER: u8 = 1 << 5;
/// Counted as a current connection (see [`FlowTable::set_open`]); set at insert.
const OPEN: u8 = 1 << 6;
/// Spliced by the switch (L7 delayed binding): the splice state says more.
const SPLICED: u8 = 1 << 7;

/// `Flow::seq_known` (not `bits`), shifted by the direction's index: its `window` came in a
/// SYN, unscaled.
const SEQ_UNSCALED: u8 = 1 << 2;

/// One tracked flow: exactly one cache line holding everything the fast path reads and
/// writes for a frame of either direction. Plain old data, so that it can live in a
/// [`HugeSlice`].
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub struct Flow {
    client: Tuple,   // 0..12
    server: Tuple,   // 12..24
    proto: u8,       // 24
    service: u8,     // 25
    state: u8,       // 26, a FlowState
    bits: u8,        // 27
    server_idx: u16, // 28
    /// The window scale each direction announced in its SYN: low nibble the client's,
    /// high nibble the server's.
    scales: u8, // 30
    /// Bit 0 (client), bit 1 (server): `seq_end` of that direction is known. Bits 2 and 3:
    /// its `window` came in a SYN (not scaled).
    seq_known: u8, // 31
    expires: u64,    // 32
    /// The highest sequence number each direction has sent up to (RFC 5961: an RST is
    /// believed only near it).
    seq_end: [u32; 2], // 40, per direction
    /// The window field each direction last announced, as sent (see `window_bytes`).
    window: [u16; 2], // 48, per direction
    steady: SteadySplice, // 52
}

const _: () = assert!(std::mem::size_of::<Flow>() == 64);

/// What a frame of a spliced connection is rewritten by once nothing else of the splice
/// changes (spliced, the first response seen, no cookie to insert or inserted): the part of
/// `l7::splice::Splice` the frames of most of a connection's life need, kept in the flow line
/// so that such a frame reads no other line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct SteadySplice {
    /// Added to the server's sequence numbers for the client (taken off the client's
    /// acknowledgments for the server).
    pub seq_delta: u32,
    /// Added to the server's timestamps for the client; 0 without timestamps end to end.
    pub ts_delta: u32,
    /// The window scale the server announced to the switch.
    pub server_ws: u8,
    /// The window scale the switch announced to the client.
    pub our_ws: u8,
    /// 1: the fields above are in force.
    on: u8,
    _spare: u8,
}

impl SteadySplice {
    const OFF: SteadySplice = SteadySplice { seq_delta: 0, ts_delta: 0, server_ws: 0, our_ws: 0, on: 0, _spare: 0 };

    pub fn new(seq_delta: u32, ts_delta: u32, server_ws: u8, our_ws: u8) -> SteadySplice {
        SteadySplice { seq_delta, ts_delta, server_ws, our_ws, on: 1, _spare: 0 }
    }
}

impl Flow {
    const EMPTY: Flow = Flow {
        client: Tuple { src: 0, dst: 0, ports: 0 },
        server: Tuple { src: 0, dst: 0, ports: 0 },
        proto: 0,
        service: 0,
        state: FlowState::Close as u8,
        bits: 0,
        server_idx: 0,
        scales: 0,
        seq_known: 0,
        expires: 0,
        seq_end: [0; 2],
        window: [0; 2],
        steady: SteadySplice::OFF,
    };

    /// Client ip:port -> VIP:port.
    pub fn client_key(&self) -> FlowKey {
        self.client.key(self.proto)
    }

    /// Server ip:port -> the switch's address towards the server.
    pub fn server_key(&self) -> FlowKey {
        self.server.key(self.proto)
    }

    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// The real server's index, as given to `insert`.
    pub fn server(&self) -> u16 {
        self.server_idx
    }

    /// The VIP port (service index) the flow belongs to, as given to `insert`.
    pub fn service(&self) -> u8 {
        self.service
    }

    /// Whether the switch splices this flow (L7): its frames need the splice state too, or
    /// once it is steady ([`steady`](Self::steady)) what the line keeps of it.
    #[inline(always)]
    pub fn is_spliced(&self) -> bool {
        self.bits & SPLICED != 0
    }

    /// Whether the flow has a server yet: a spliced flow is found by its client key alone
    /// until it binds.
    pub fn has_server(&self) -> bool {
        self.bits & (SPLICED | ONE_WAY) != SPLICED | ONE_WAY
    }

    pub fn state(&self) -> FlowState {
        FlowState::from_byte(self.state)
    }

    /// When the flow ends unless a frame refreshes it.
    pub fn expires(&self) -> Instant {
        Instant::from_nanos(self.expires)
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires <= now.as_nanos()
    }

    /// Whether the flow still counts as a current connection: not yet closed by FINs both
    /// ways or a RST (the owner of the counts says, with [`FlowTable::set_open`]).
    pub fn is_open(&self) -> bool {
        self.bits & OPEN != 0
    }

    /// Whether anything came back from the server yet.
    pub fn seen_from_server(&self) -> bool {
        self.bits & SEEN_SERVER != 0
    }

    /// What a steady spliced connection's frames are rewritten by, once the L7 layer put
    /// it here ([`FlowTable::set_steady`]).
    #[inline(always)]
    pub fn steady(&self) -> Option<&SteadySplice> {
        (self.steady.on != 0).then_some(&self.steady)
    }

    /// The receive window `dir` last announced, in bytes.
    fn window_bytes(&self, dir: Direction) -> u32 {
        let d = dir.index();
        let scale = if self.seq_known & (SEQ_UNSCALED << d) != 0 { 0 } else { (self.scales >> (4 * d)) & 0xf };
        u32::from(self.window[d]) << scale
    }

    /// How far (sequence number) `dir` has sent, once any segment of it was seen.
    pub fn seq_end(&self, dir: Direction) -> Option<u32> {
        (self.seq_known & (1 << dir.index()) != 0).then_some(self.seq_end[dir.index()])
    }

    /// What the flow keeps of the client's SYN while no answer from the server came
    /// (`SynSent`): its sequence number, window field and window scale (`None` when it
    /// announced none, or 0).
    pub fn client_syn(&self) -> Option<(u32, u16, Option<u8>)> {
        if self.state() != FlowState::SynSent {
            return None;
        }
        let isn = self.seq_end(Direction::FromClient)?.wrapping_sub(1);
        let scale = self.scales & 0xf;
        Some((isn, self.window[0], (scale > 0).then_some(scale)))
    }

    /// The addresses a frame that came from `dir` leaves with: from the client, to the
    /// server from the switch's server-side address; from the server, to the client from the
    /// VIP.
    #[inline]
    pub fn rewrite(&self, dir: Direction) -> Rewrite {
        let (from, to) = match dir {
            // Leaves as the reverse of the server-side key.
            Direction::FromClient => (self.server.dst, self.server.src),
            // Leaves as the reverse of the client-side key.
            Direction::FromServer => (self.client.dst, self.client.src),
        };
        let ports = match dir {
            Direction::FromClient => self.server.ports,
            Direction::FromServer => self.client.ports,
        };
        Rewrite {
            src: Ipv4Addr::from(from),
            src_port: ports as u16,
            dst: Ipv4Addr::from(to),
            dst_port: (ports >> 16) as u16,
        }
    }

    #[inline(always)]
    fn is_live(&self) -> bool {
        self.bits & LIVE != 0
    }

    /// Whether the flow has expired at `now` (nanoseconds); under `pressure`, a half-open
    /// one once [`HALF_OPEN_UNDER_PRESSURE`] has passed since it entered its state.
    #[inline(always)]
    fn expires_by(&self, now: u64, timeouts: &[u64; N_STATES], pressure: bool) -> bool {
        if self.expires <= now {
            return true;
        }
        let state = self.state();
        if !pressure || !is_half_open(state) {
            return false;
        }
        let short = HALF_OPEN_UNDER_PRESSURE.as_nanos() as u64;
        let cut = timeouts[state as usize].saturating_sub(short);
        self.expires.saturating_sub(cut) <= now
    }

    #[inline(always)]
    fn matches(&self, t: &Tuple, proto: u8, dir: usize) -> bool {
        let mine = if dir == 0 { &self.client } else { &self.server };
        (mine.src ^ t.src) | (mine.dst ^ t.dst) | (mine.ports ^ t.ports) | u32::from(self.proto ^ proto) == 0
    }
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("client", &self.client_key())
            .field("server", &self.server_key())
            .field("server_idx", &self.server_idx)
            .field("service", &self.service)
            .field("state", &self.state())
            .field("expires", &self.expires)
            .field("seq_end", &self.seq_end)
            .finish()
    }
}

/// The TCP state machine of one flow (see [`FlowTable::on_tcp_segment`]); any other
/// protocol only has its idle timeout refreshed.
#[inline(always)]
fn advance(
    f: &mut Flow,
    timeouts: &[u64; N_STATES],
    dir: Direction,
    flags: u8,
    seg: Option<&Segment>,
    now: Instant,
) -> Result<FlowState, OutOfWindow> {
    use tcp_flags::{ACK, FIN, RST, SYN};
    if f.state == FlowState::Udp as u8 {
        if dir == Direction::FromServer {
            f.bits |= SEEN_SERVER;
        }
        f.expires = now.as_nanos().saturating_add(timeouts[FlowState::Udp as usize]);
        return Ok(FlowState::Udp);
    }
    if let Some(seg) = seg {
        if flags & RST != 0 {
            if !rst_in_window(f, dir, flags, seg) {
                return Err(OutOfWindow);
            }
        } else {
            follow(f, dir, flags, seg);
        }
    }
    if dir == Direction::FromServer {
        f.bits |= SEEN_SERVER;
    }
    if flags & (SYN | FIN | RST | ACK) == 0 {
        return Ok(f.state());
    }
    // Nearly every segment: an established flow's ACK with data or without.
    if f.state == FlowState::Established as u8 && flags & (SYN | FIN | RST) == 0 {
        f.expires = now.as_nanos().saturating_add(timeouts[FlowState::Established as usize]);
        return Ok(FlowState::Established);
    }
    let from_client = dir == Direction::FromClient;
    let state = f.state();
    let next = if flags & RST != 0 {
        FlowState::Close
    } else if flags & SYN != 0 {
        match (from_client, state) {
            // The client reuses the tuple of a closed connection: a new connection.
            (true, FlowState::TimeWait | FlowState::Close) => {
                f.bits &= !(FIN_CLIENT | FIN_SERVER | LAST_FIN_SERVER);
                FlowState::SynSent
            }
            (false, FlowState::SynSent) if flags & ACK != 0 => FlowState::SynRecv,
            (_, s) => s,
        }
    } else if flags & FIN != 0 {
        let (mine, theirs) = if from_client { (FIN_CLIENT, FIN_SERVER) } else { (FIN_SERVER, FIN_CLIENT) };
        match state {
            FlowState::SynRecv | FlowState::Established | FlowState::FinWait | FlowState::CloseWait => {
                if f.bits & theirs != 0 {
                    f.bits |= mine;
                    f.bits = if from_client { f.bits & !LAST_FIN_SERVER } else { f.bits | LAST_FIN_SERVER };
                    FlowState::LastAck
                } else if f.bits & mine != 0 {
                    // A retransmitted FIN.
                    state
                } else {
                    f.bits |= mine;
                    FlowState::FinWait
                }
            }
            s => s,
        }
    } else {
        // A bare ACK.
        match state {
            FlowState::SynRecv if from_client => FlowState::Established,
            // The side that did not send the FIN acknowledges it.
            FlowState::FinWait if (f.bits & FIN_CLIENT != 0) != from_client => FlowState::CloseWait,
            // The side that did not send the last FIN acknowledges it.
            FlowState::LastAck if (f.bits & LAST_FIN_SERVER != 0) == from_client => FlowState::TimeWait,
            s => s,
        }
    };
    f.state = next as u8;
    f.expires = now.as_nanos().saturating_add(timeouts[next as usize]);
    Ok(next)
}

/// The smallest window an RST is checked against: before a side announced its window, and
/// for sides whose scale the switch did not see, a reset within 64 KiB of where the other
/// side has sent to is believed.
const RST_WINDOW_MIN: u32 = 65535;

/// Whether an RST from `dir` is believable (RFC 5961, conntrack's `tcp_in_window`): its
/// sequence number within the receiver's window of where `dir` has sent to. In `SynSent`,
/// the server's refusal of the SYN must acknowledge it.
fn rst_in_window(f: &Flow, dir: Direction, flags: u8, seg: &Segment) -> bool {
    let d = dir.index();
    if f.seq_known & (1 << d) == 0 {
        return match (dir, f.state()) {
            // The server refuses the client's SYN: its RST acknowledges it.
            (Direction::FromServer, FlowState::SynSent) => {
                flags & tcp_flags::ACK != 0 && f.seq_known & 1 != 0 && seg.ack == f.seq_end[0]
            }
            // Nothing seen from that side to check against.
            _ => true,
        };
    }
    let window = f.window_bytes(dir.reverse()).max(RST_WINDOW_MIN);
    let distance = seg.seq.wrapping_sub(f.seq_end[d]) as i32;
    distance.unsigned_abs() < window
}

/// Follows where `dir` has sent to and the window it announces.
#[inline(always)]
fn follow(f: &mut Flow, dir: Direction, flags: u8, seg: &Segment) {
    let d = dir.index();
    let syn = flags & tcp_flags::SYN != 0;
    let end =
        seg.seq.wrapping_add(seg.len).wrapping_add(u32::from(syn)).wrapping_add(u32::from(flags & tcp_flags::FIN != 0));
    let known = f.seq_known & (1 << d) != 0;
    if !known || (end.wrapping_sub(f.seq_end[d]) as i32) > 0 {
        f.seq_end[d] = end;
        f.seq_known |= 1 << d;
    }
    let shift = if d == 0 { 0 } else { 4 };
    if syn {
        // A SYN's window is never scaled; the scale it announces counts from then on.
        let scale = seg.window_scale.unwrap_or(0).min(14);
        f.scales = (f.scales & !(0xf << shift)) | (scale << shift);
        f.seq_known |= SEQ_UNSCALED << d;
    } else {
        f.seq_known &= !(SEQ_UNSCALED << d);
    }
    f.window[d] = seg.window;
}

/// An RST whose sequence number is not in the window: not believed, the flow unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfWindow;

/// What the flow table follows of a TCP segment besides its flags: where it lies in its
/// sender's sequence space and the window it announces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Segment {
    pub seq: u32,
    pub ack: u32,
    /// Payload bytes.
    pub len: u32,
    pub window: u16,
    /// A SYN's window scale option.
    pub window_scale: Option<u8>,
}

/// What one frame did to its flow ([`FlowTable::on_frame`]).
#[derive(Debug)]
pub struct FrameSeen<'a> {
    /// The flow, as the frame left it.
    pub flow: &'a Flow,
    /// `Some(open)` when the frame closed the connection or opened it again.
    pub opened: Option<bool>,
}

/// What one [`FlowTable::expire_within`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired flows removed.
    pub removed: usize,
    /// Entries looked at.
    pub scanned: usize,
}

/// Why `insert` refused a flow. Either way the table is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// No free entry, or no room in the index for a key (the caller answers with RST).
    #[error("flow table full")]
    Full,
    /// One of the two keys already belongs to a tracked flow (e.g. a full-NAT local port
    /// still in use, or a gateway-NAT client ip:port already going to that server).
    #[error("flow key already tracked")]
    KeyInUse(FlowId, Direction),
}

/// The brief's name for a refused insert.
pub type TableFull = InsertError;

const SLOTS: usize = 8;
/// Slot reference: `flow index << 2 | in_alternate << 1 | direction`.
const REF_ALT: u32 = 2;
const REF_DIR: u32 = 1;
/// The largest capacity slot references can address.
pub const MAX_CAPACITY: usize = (u32::MAX >> 2) as usize;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Bucket {
    /// Slot i's signature is bits `16 * (i % 4)..` of word `i / 4` (compared four at a time).
    sigs: [u64; 2],
    refs: [u32; SLOTS],
    /// Bit i: slot i holds a key.
    used: u32,
    /// Keys whose primary bucket this is, living in their alternate bucket.
    spilled: u32,
    /// The rest of the line, named so that the type has no hidden padding.
    _unused: u64,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);

impl Bucket {
    const EMPTY: Bucket = Bucket { sigs: [0; 2], refs: [0; SLOTS], used: 0, spilled: 0, _unused: 0 };

    /// Bit i set: slot i is used and holds signature `sig`.
    #[inline(always)]
    fn matching(&self, sig: u16) -> u32 {
        (lanes_equal(self.sigs[0], sig) | (lanes_equal(self.sigs[1], sig) << 4)) & self.used
    }

    #[inline(always)]
    fn sig(&self, i: usize) -> u16 {
        (self.sigs[i / 4] >> (16 * (i % 4))) as u16
    }

    #[inline(always)]
    fn set_sig(&mut self, i: usize, sig: u16) {
        let shift = 16 * (i % 4);
        let w = &mut self.sigs[i / 4];
        *w = (*w & !(0xffff << shift)) | (u64::from(sig) << shift);
    }

    #[inline(always)]
    fn free_slot(&self) -> Option<usize> {
        let free = !self.used & ((1 << SLOTS) - 1);
        (free != 0).then(|| free.trailing_zeros() as usize)
    }
}

/// Bit i set: 16-bit lane i of `word` equals `sig` (SWAR, exact: no carry crosses lanes).
#[inline(always)]
fn lanes_equal(word: u64, sig: u16) -> u32 {
    const LOW: u64 = 0x7fff_7fff_7fff_7fff;
    const HIGH: u64 = 0x8000_8000_8000_8000;
    let x = word ^ (u64::from(sig) * 0x0001_0001_0001_0001);
    // Bit 15 of a lane is set iff the lane is not zero.
    let nonzero = (((x & LOW) + LOW) | x) & HIGH;
    let zero = (!nonzero & HIGH) >> 15;
    // Gathers bits 0, 16, 32, 48 into bits 45..49 (the partial products never overlap).
    (zero.wrapping_mul(1 | (1 << 15) | (1 << 30) | (1 << 45)) >> 45) as u32 & 0xf
}

#[inline(always)]
fn sig_of(h: u64) -> u16 {
    (h >> 48) as u16
}

/// The other bucket of a key, from either of its buckets and its signature alone.
#[inline(always)]
fn alt_bucket(b: usize, sig: u16, mask: usize) -> usize {
    let x = (u64::from(sig).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize;
    b ^ ((x & mask) | 1)
}

/// How far ahead of its cursor the expiry scan prefetches, in flows.
const SCAN_AHEAD: usize = 8;
/// Entries `expire` looks at per expired flow it may remove.
const SCAN_PER_EXPIRY: usize = 4;
/// Flows a burst lookup handles at once.
pub const BURST: usize = 32;

/// The per-core flow table. See the module documentation for the layout.
pub struct FlowTable {
    buckets: HugeSlice<Bucket>,
    mask: usize,
    flows: HugeSlice<Flow>,
    /// Free flow indices, a stack.
    free: Vec<u32>,
    seed: u64,
    timeouts: [u64; N_STATES],
    /// Where the next `expire` sweep starts.
    cursor: usize,
    /// Keys moved to make room (cuckoo displacement), for statistics.
    moves: u64,
    /// Tracked TCP flows in `SynSent` or `SynRecv`.
    half_open: usize,
    /// Under a SYN flood: half-open flows expire after `HALF_OPEN_UNDER_PRESSURE`.
    pressure: bool,
    /// Where the next search for a half-open flow to evict starts.
    evict_cursor: usize,
}

/// How long a half-open flow lives while half-open flows crowd the table (LVS's
/// `secure_tcp`): a client that does not finish its handshake in this time is gone.
pub const HALF_OPEN_UNDER_PRESSURE: Duration = Duration::from_secs(3);

/// The shortest time between two SYNs of one client connection the switch forwards: a
/// client retransmits its SYN after its initial RTO, at least 1 s (RFC 6298 2.1, Linux's
/// `TCP_TIMEOUT_INIT`); this leaves room for stacks that try sooner.
pub const SYN_REPEAT_MIN: Duration = Duration::from_millis(200);

fn is_half_open(state: FlowState) -> bool {
    matches!(state, FlowState::SynSent | FlowState::SynRecv)
}

impl fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowTable")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("buckets", &self.buckets.len())
            .field("moves", &self.moves)
            .finish_non_exhaustive()
    }
}

impl FlowTable {
    /// A table for `n_flows` flows (at least 2) with a fixed hash key and LVS timeouts: for
    /// tests and benchmarks only (the engine's tables are keyed by its secrets).
    pub fn with_capacity(n_flows: usize) -> FlowTable {
        FlowTable::new(n_flows, 0x5717_c4a1_2e5d_0b1f, Timeouts::default())
    }

    /// A table for `n_flows` flows (at least 2, at most [`MAX_CAPACITY`]), hashing with
    /// `seed`. All memory is allocated here.
    pub fn new(n_flows: usize, seed: u64, timeouts: Timeouts) -> FlowTable {
        let n = n_flows.max(2);
        FlowTable::with_buckets(n, n.div_ceil(2), seed, timeouts)
    }

    /// `n_buckets` is rounded up to a power of two, at least 2.
    fn with_buckets(n_flows: usize, n_buckets: usize, seed: u64, timeouts: Timeouts) -> FlowTable {
        assert!(n_flows <= MAX_CAPACITY, "flow table capacity {n_flows} above {MAX_CAPACITY}");
        let n_buckets = n_buckets.max(2).next_power_of_two();
        FlowTable {
            buckets: HugeSlice::new(n_buckets, Bucket::EMPTY),
            mask: n_buckets - 1,
            flows: HugeSlice::new(n_flows, Flow::EMPTY),
            // Handed out from the end: flow 0 first.
            free: (0..n_flows as u32).rev().collect(),
            seed,
            timeouts: timeouts.table(),
            cursor: 0,
            moves: 0,
            half_open: 0,
            pressure: false,
            evict_cursor: 0,
        }
    }

    /// The most bytes one tracked flow costs, index of both directions included, for any
    /// capacity: a 64-byte flow line, a 4-byte free-list entry, and at most one 64-byte
    /// bucket per flow (one per two flows, doubled at worst by rounding up to a power of two).
    pub const fn bytes_per_flow() -> usize {
        std::mem::size_of::<Flow>() + std::mem::size_of::<u32>() + std::mem::size_of::<Bucket>()
    }

    /// What this table holds in memory, all told.
    pub fn memory_bytes(&self) -> usize {
        self.buckets.len() * std::mem::size_of::<Bucket>()
            + self.flows.len() * std::mem::size_of::<Flow>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + std::mem::size_of::<FlowTable>()
    }

    pub fn len(&self) -> usize {
        self.flows.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.flows.len()
    }

    /// Keys moved between buckets to make room so far (expected to stay near zero).
    pub fn displacements(&self) -> u64 {
        self.moves
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Starts fetching the bucket `key` hashes to, so a lookup a little later finds it in
    /// cache. Returns the hash for [`lookup_hashed`](Self::lookup_hashed).
    #[inline]
    pub fn prefetch(&self, key: &FlowKey) -> u64 {
        let h = key.hash(self.seed);
        self.prefetch_hashed(h);
        h
    }

    #[inline]
    pub fn prefetch_hashed(&self, h: u64) {
        crate::mem::prefetch(&self.buckets[h as usize & self.mask]);
    }

    /// Starts fetching the flow line of the first key in `h`'s bucket whose signature
    /// matches (call after [`prefetch_hashed`](Self::prefetch_hashed) had time to land).
    #[inline]
    pub fn prefetch_flow_hashed(&self, h: u64) {
        let bucket = &self.buckets[h as usize & self.mask];
        let m = bucket.matching(sig_of(h));
        if m != 0 {
            crate::mem::prefetch(&self.flows[(bucket.refs[m.trailing_zeros() as usize] >> 2) as usize]);
        }
    }

    /// The flow a frame with `key` belongs to, and the side it came from. Expired flows not
    /// yet swept are still found (check [`Flow::is_expired`] if it matters).
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(FlowId, Direction)> {
        self.lookup_hashed(key, key.hash(self.seed))
    }

    /// `lookup` with the key's hash already known (`FlowKey::hash(table.seed())`).
    #[inline]
    pub fn lookup_hashed(&self, key: &FlowKey, h: u64) -> Option<(FlowId, Direction)> {
        let t = Tuple::of(key);
        let b = h as usize & self.mask;
        let sig = sig_of(h);
        let bucket = &self.buckets[b];
        if let Some(found) = self.search(bucket, &t, key.proto, sig) {
            return Some(found);
        }
        if bucket.spilled == 0 {
            return None;
        }
        self.search(&self.buckets[alt_bucket(b, sig, self.mask)], &t, key.proto, sig)
    }

    #[inline(always)]
    fn search(&self, bucket: &Bucket, t: &Tuple, proto: u8, sig: u16) -> Option<(FlowId, Direction)> {
        let mut m = bucket.matching(sig);
        while m != 0 {
            let r = bucket.refs[m.trailing_zeros() as usize];
            let dir = (r & REF_DIR) as usize;
            if self.flows[(r >> 2) as usize].matches(t, proto, dir) {
                return Some((FlowId(r >> 2), if dir == 0 { Direction::FromClient } else { Direction::FromServer }));
            }
            m &= m - 1;
        }
        None
    }

    /// Looks up every key of `keys`, answers in `out` (same length). Overlaps the cache
    /// misses of up to [`BURST`] lookups at a time: hashes and touches every bucket first,
    /// then touches every candidate flow, then compares.
    pub fn lookup_burst(&self, keys: &[FlowKey], out: &mut [Option<(FlowId, Direction)>]) {
        assert_eq!(keys.len(), out.len(), "lookup_burst: keys and out differ in length");
        for (keys, out) in keys.chunks(BURST).zip(out.chunks_mut(BURST)) {
            self.lookup_chunk(keys, out);
        }
    }

    #[inline]
    fn lookup_chunk(&self, keys: &[FlowKey], out: &mut [Option<(FlowId, Direction)>]) {
        let n = keys.len().min(BURST);
        let mut hashes = [0u64; BURST];
        for (h, k) in hashes[..n].iter_mut().zip(keys) {
            *h = k.hash(self.seed);
        }
        for &h in &hashes[..n] {
            crate::mem::prefetch(&self.buckets[h as usize & self.mask]);
        }
        // The first candidate of each key: its slot reference, or u32::MAX.
        let mut cand = [u32::MAX; BURST];
        for (c, &h) in cand[..n].iter_mut().zip(&hashes[..n]) {
            let bucket = &self.buckets[h as usize & self.mask];
            let m = bucket.matching(sig_of(h));
            if m != 0 {
                *c = bucket.refs[m.trailing_zeros() as usize];
            }
        }
        for &c in &cand[..n] {
            if c != u32::MAX {
                crate::mem::prefetch(&self.flows[(c >> 2) as usize]);
            }
        }
        for i in 0..n {
            let (k, c) = (&keys[i], cand[i]);
            if c != u32::MAX {
                let dir = (c & REF_DIR) as usize;
                if self.flows[(c >> 2) as usize].matches(&Tuple::of(k), k.proto, dir) {
                    out[i] =
                        Some((FlowId(c >> 2), if dir == 0 { Direction::FromClient } else { Direction::FromServer }));
                    continue;
                }
            }
            // No candidate, or a signature collision: the full lookup settles it.
            out[i] = if c == u32::MAX && self.buckets[hashes[i] as usize & self.mask].spilled == 0 {
                None
            } else {
                self.lookup_hashed(k, hashes[i])
            };
        }
    }

    /// The flow `id` names. An id whose flow was removed gives a stale entry.
    #[inline]
    pub fn get(&self, id: FlowId) -> &Flow {
        &self.flows[id.index()]
    }

    #[inline]
    pub fn get_mut(&mut self, id: FlowId) -> &mut Flow {
        &mut self.flows[id.index()]
    }

    /// Whether `id` names a tracked flow.
    pub fn contains(&self, id: FlowId) -> bool {
        self.flows.get(id.index()).is_some_and(Flow::is_live)
    }

    /// Tracks a new flow, found from then on by `client` (client -> VIP) and by `server`
    /// (server -> the switch's address towards it). Pass the same key twice for a flow only
    /// ever seen from the client (DSR). `server.proto` must equal `client.proto`.
    ///
    /// A TCP flow starts in `SynSent`, anything else in `Udp`. Refuses, leaving the table
    /// unchanged, when it is full or a key is already tracked.
    pub fn insert(
        &mut self,
        client: FlowKey,
        server: FlowKey,
        server_idx: u16,
        service: u8,
        now: Instant,
    ) -> Result<FlowId, InsertError> {
        debug_assert_eq!(client.proto, server.proto, "a flow has one protocol");
        let one_way = client == server;
        let hc = client.hash(self.seed);
        if let Some((id, dir)) = self.lookup_hashed(&client, hc) {
            return Err(InsertError::KeyInUse(id, dir));
        }
        let hs = server.hash(self.seed);
        if !one_way {
            if let Some((id, dir)) = self.lookup_hashed(&server, hs) {
                return Err(InsertError::KeyInUse(id, dir));
            }
        }
        let Some(&id) = self.free.last() else {
            return Err(InsertError::Full);
        };
        let client_ref = id << 2;
        if !self.place(hc, client_ref) {
            return Err(InsertError::Full);
        }
        if !one_way && !self.place(hs, (id << 2) | REF_DIR) {
            self.unplace(hc, client_ref);
            return Err(InsertError::Full);
        }
        self.free.pop();
        let state = if client.proto == PROTO_TCP { FlowState::SynSent } else { FlowState::Udp };
        self.half_open += usize::from(state == FlowState::SynSent);
        self.flows[id as usize] = Flow {
            client: Tuple::of(&client),
            server: Tuple::of(&server),
            proto: client.proto,
            service,
            state: state as u8,
            bits: LIVE | OPEN | if one_way { ONE_WAY } else { 0 },
            server_idx,
            scales: 0,
            seq_known: 0,
            expires: self.expiry(state, now),
            seq_end: [0; 2],
            window: [0; 2],
            steady: SteadySplice::OFF,
        };
        Ok(FlowId(id))
    }

    /// Tracks a connection the switch answers itself before it picks a server (L7 delayed
    /// binding), found by its client key alone until [`attach_server`](Self::attach_server)
    /// gives it one. It starts in `SynRecv`: the switch has sent the SYN-ACK.
    pub fn insert_spliced(&mut self, client: FlowKey, service: u8, now: Instant) -> Result<FlowId, InsertError> {
        let hc = client.hash(self.seed);
        if let Some((id, dir)) = self.lookup_hashed(&client, hc) {
            return Err(InsertError::KeyInUse(id, dir));
        }
        let Some(&id) = self.free.last() else {
            return Err(InsertError::Full);
        };
        if !self.place(hc, id << 2) {
            return Err(InsertError::Full);
        }
        self.free.pop();
        let state = FlowState::SynRecv;
        self.half_open += 1;
        self.flows[id as usize] = Flow {
            client: Tuple::of(&client),
            server: Tuple::default(),
            proto: client.proto,
            service,
            state: state as u8,
            bits: LIVE | OPEN | ONE_WAY | SPLICED,
            server_idx: 0,
            scales: 0,
            seq_known: 0,
            expires: self.expiry(state, now),
            seq_end: [0; 2],
            window: [0; 2],
            steady: SteadySplice::OFF,
        };
        Ok(FlowId(id))
    }

    /// Binds spliced flow `id` to real server `server_idx`: from now on frames with
    /// `server_key` (server -> the switch's address towards it) find it too. Refuses,
    /// leaving the flow as it was, when the key is in use or the index has no room.
    pub fn attach_server(&mut self, id: FlowId, server_key: FlowKey, server_idx: u16) -> Result<(), InsertError> {
        let hs = server_key.hash(self.seed);
        if let Some((other, dir)) = self.lookup_hashed(&server_key, hs) {
            return Err(InsertError::KeyInUse(other, dir));
        }
        if !self.place(hs, (id.0 << 2) | REF_DIR) {
            return Err(InsertError::Full);
        }
        let f = &mut self.flows[id.index()];
        f.server = Tuple::of(&server_key);
        f.server_idx = server_idx;
        f.bits &= !ONE_WAY;
        Ok(())
    }

    /// Takes spliced flow `id`'s server away again (it refused or never answered), so that
    /// another can be attached.
    pub fn detach_server(&mut self, id: FlowId) {
        let f = self.flows[id.index()];
        if f.bits & (SPLICED | ONE_WAY) != SPLICED {
            return;
        }
        self.unplace(f.server_key().hash(self.seed), (id.0 << 2) | REF_DIR);
        let f = &mut self.flows[id.index()];
        f.server = Tuple::default();
        f.bits |= ONE_WAY;
    }

    /// A spliced flow's handshake with its client is complete (the switch answered it): it is
    /// no longer half open.
    pub fn established(&mut self, id: FlowId, now: Instant) {
        let expires = self.expiry(FlowState::Established, now);
        let f = &mut self.flows[id.index()];
        if is_half_open(f.state()) {
            self.half_open -= 1;
        }
        f.state = FlowState::Established as u8;
        f.expires = expires;
    }

    /// Tracked TCP flows whose handshake is not complete.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Whether a client's SYN on flow `id` repeats the SYN of a connection still waiting for
    /// its server's answer (`SynSent`) sooner than [`SYN_REPEAT_MIN`] after the last one the
    /// flow took: not a retransmission but a flood repeating its tuples, which would
    /// otherwise reach the servers once per repeat on every half-open flow it opened.
    pub fn syn_repeats_too_soon(&self, id: FlowId, now: Instant) -> bool {
        let f = &self.flows[id.index()];
        if f.state() != FlowState::SynSent {
            return false;
        }
        // A flow in `SynSent` was last refreshed by the client's last SYN (any answer moves it
        // on; a DSR flow, which never sees one, by the client's last segment, after which a
        // SYN is no retransmission either): that refresh set `expires` one state timeout ahead.
        let last_syn = f.expires.saturating_sub(self.timeouts[FlowState::SynSent as usize]);
        now.as_nanos().saturating_sub(last_syn) < SYN_REPEAT_MIN.as_nanos() as u64
    }

    /// Under pressure (a SYN flood), half-open flows expire after
    /// [`HALF_OPEN_UNDER_PRESSURE`] instead of their state's timeout.
    pub fn set_pressure(&mut self, on: bool) {
        self.pressure = on;
    }

    pub fn under_pressure(&self) -> bool {
        self.pressure
    }

    /// Makes room for a new flow in a full table (conntrack's `early_drop`): looks at up
    /// to `scan` entries from where the last search stopped for a half-open flow, removes
    /// the first and gives it back (for its counts). `None` when none was found.
    pub fn evict_half_open(&mut self, scan: usize) -> Option<(FlowId, Flow)> {
        let cap = self.flows.len();
        for _ in 0..scan.min(cap) {
            let i = self.evict_cursor;
            self.evict_cursor = if i + 1 == cap { 0 } else { i + 1 };
            let f = self.flows[i];
            if f.is_live() && is_half_open(f.state()) {
                let id = FlowId(i as u32);
                self.remove(id);
                return Some((id, f));
            }
        }
        None
    }

    /// Sets when flow `id` ends unless a frame refreshes it (the splice's own phases keep
    /// their own timeouts).
    pub fn set_expiry(&mut self, id: FlowId, at: Instant) {
        self.flows[id.index()].expires = at.as_nanos();
    }

    /// Stops tracking the flow: both of its keys miss from now on. False if it was not
    /// tracked.
    pub fn remove(&mut self, id: FlowId) -> bool {
        if !self.contains(id) {
            return false;
        }
        let f = &self.flows[id.index()];
        let (hc, hs) = (f.client_key().hash(self.seed), f.server_key().hash(self.seed));
        self.remove_hashed(id, hc, hs);
        true
    }

    /// `remove` of a tracked flow whose keys hash to `hc` (client side) and `hs`.
    fn remove_hashed(&mut self, id: FlowId, hc: u64, hs: u64) {
        let one_way = self.flows[id.index()].bits & ONE_WAY != 0;
        if is_half_open(self.flows[id.index()].state()) {
            self.half_open -= 1;
        }
        self.unplace(hc, id.0 << 2);
        if !one_way {
            self.unplace(hs, (id.0 << 2) | REF_DIR);
        }
        self.flows[id.index()].bits = 0;
        self.free.push(id.0);
    }

    #[inline]
    fn expiry(&self, state: FlowState, now: Instant) -> u64 {
        now.as_nanos().saturating_add(self.timeouts[state as usize])
    }

    /// Advances a TCP flow's state with a segment's flags (the header's flags byte) coming
    /// from `dir`, and sets its expiry from the new state's timeout. A segment with none of
    /// SYN, FIN, RST, ACK changes nothing. On a flow of another protocol, refreshes its idle
    /// timeout. Returns the new state.
    /// Without the segment's sequence facts, every RST is believed (for callers that have
    /// none; [`on_frame`](Self::on_frame) checks them).
    #[inline]
    pub fn on_tcp_segment(&mut self, id: FlowId, dir: Direction, flags: u8, now: Instant) -> FlowState {
        let f = &mut self.flows[id.index()];
        let before = is_half_open(f.state());
        let state = advance(f, &self.timeouts, dir, flags, None, now).unwrap_or(FlowState::Close);
        self.half_open = self.half_open + usize::from(is_half_open(state)) - usize::from(before);
        state
    }

    /// One frame of flow `id` from `dir`: a TCP segment's `flags` move the state machine
    /// ([`on_tcp_segment`](Self::on_tcp_segment)) and its sequence facts `seg` are followed,
    /// any other protocol's datagram refreshes its idle timeout, and the flow stops (or starts again) counting as a current connection when the segment
    /// closed it (FINs both ways, a RST) or reopened it (a new SYN on its tuple). An RST
    /// outside the window changes nothing (`Err`). The fast path's one call per frame: the
    /// flow line is taken once.
    #[inline(always)]
    pub fn on_frame(
        &mut self,
        id: FlowId,
        dir: Direction,
        flags: u8,
        seg: &Segment,
        now: Instant,
    ) -> Result<FrameSeen<'_>, OutOfWindow> {
        let timeouts = &self.timeouts;
        let f = &mut self.flows[id.index()];
        let before = f.state;
        let state = advance(f, timeouts, dir, flags, Some(seg), now)?;
        if before != state as u8 {
            let was = is_half_open(FlowState::from_byte(before));
            self.half_open = self.half_open + usize::from(is_half_open(state)) - usize::from(was);
        }
        let open = !matches!(state, FlowState::TimeWait | FlowState::Close);
        let changed = open != f.is_open();
        if changed {
            f.bits = if open { f.bits | OPEN } else { f.bits & !OPEN };
        }
        Ok(FrameSeen { flow: f, opened: changed.then_some(open) })
    }

    /// A datagram of a non-TCP flow from `dir`: refreshes its idle timeout.
    pub fn on_datagram(&mut self, id: FlowId, dir: Direction, now: Instant) {
        let expires = self.expiry(FlowState::Udp, now);
        let f = &mut self.flows[id.index()];
        if dir == Direction::FromServer {
            f.bits |= SEEN_SERVER;
        }
        f.expires = expires;
    }

    /// Marks flow `id` open (counted as a current connection) or closed.
    #[inline]
    pub fn set_open(&mut self, id: FlowId, open: bool) {
        let f = &mut self.flows[id.index()];
        f.bits = if open { f.bits | OPEN } else { f.bits & !OPEN };
    }

    /// Puts into spliced flow `id`'s line what its frames are rewritten by from now on, or
    /// (`None`) takes it out: its frames then read the splice state again.
    #[inline]
    pub fn set_steady(&mut self, id: FlowId, steady: Option<SteadySplice>) {
        self.flows[id.index()].steady = steady.unwrap_or(SteadySplice::OFF);
    }

    /// Removes up to `max` flows that expired by `now`, calling `on_expired` for each before
    /// it goes. Looks at no more than `4 * max` entries (and never more than the capacity)
    /// from where the previous call stopped, so the cost per call is bounded; a call with
    /// `max >= capacity` sweeps the whole table. Returns how many it removed.
    pub fn expire(&mut self, now: Instant, max: usize, on_expired: impl FnMut(FlowId, &Flow)) -> usize {
        self.expire_within(now, max, max.saturating_mul(SCAN_PER_EXPIRY), on_expired).removed
    }

    /// [`expire`](Self::expire) looking at no more than `scan` entries (and never more than
    /// the capacity); says how many it removed and how many it looked at.
    pub fn expire_within(
        &mut self,
        now: Instant,
        max: usize,
        scan: usize,
        mut on_expired: impl FnMut(FlowId, &Flow),
    ) -> Swept {
        if self.is_empty() {
            return Swept::default();
        }
        let cap = self.flows.len();
        let scan = scan.min(cap);
        let mut budget = scan;
        let now = now.as_nanos();
        let mut removed = 0;
        // In rounds: find up to `BURST` expired flows and start fetching their index lines,
        // then remove them, so the removals overlap their cache misses.
        let mut found = [(FlowId(0), 0u64, 0u64); BURST];
        while budget > 0 && removed < max {
            let mut n = 0;
            while budget > 0 && n < BURST && removed + n < max {
                budget -= 1;
                let i = self.cursor;
                self.cursor = if i + 1 == cap { 0 } else { i + 1 };
                // The scan reads lines in order: fetch a few ahead of it.
                crate::mem::prefetch(&self.flows[(i + SCAN_AHEAD) % cap]);
                let f = &self.flows[i];
                if f.is_live() && f.expires_by(now, &self.timeouts, self.pressure) {
                    let (hc, hs) = (f.client_key().hash(self.seed), f.server_key().hash(self.seed));
                    self.prefetch_hashed(hc);
                    self.prefetch_hashed(hs);
                    found[n] = (FlowId(i as u32), hc, hs);
                    n += 1;
                }
            }
            for &(id, hc, hs) in &found[..n] {
                on_expired(id, &self.flows[id.index()]);
                self.remove_hashed(id, hc, hs);
            }
            removed += n;
        }
        Swept { removed, scanned: scan - budget }
    }

    /// Every tracked flow, in index order (for the control side and tests; not a fast path).
    pub fn iter(&self) -> impl Iterator<Item = (FlowId, &Flow)> {
        self.flows.iter().enumerate().filter(|(_, f)| f.is_live()).map(|(i, f)| (FlowId(i as u32), f))
    }

    /// Puts a key reference in the key's primary bucket, else its alternate, else makes
    /// room by moving other keys to their other buckets. False if no room could be made.
    fn place(&mut self, h: u64, r: u32) -> bool {
        let b1 = h as usize & self.mask;
        let sig = sig_of(h);
        if let Some(i) = self.buckets[b1].free_slot() {
            self.set(b1, i, sig, r);
            return true;
        }
        let b2 = alt_bucket(b1, sig, self.mask);
        if let Some(i) = self.buckets[b2].free_slot() {
            self.set(b2, i, sig, r | REF_ALT);
            self.buckets[b1].spilled += 1;
            return true;
        }
        match self.make_room(b1, b2) {
            Some((b, i)) if b == b1 => self.set(b1, i, sig, r),
            Some((b, i)) => {
                self.set(b, i, sig, r | REF_ALT);
                self.buckets[b1].spilled += 1;
            }
            None => return false,
        }
        true
    }

    #[inline]
    fn set(&mut self, b: usize, i: usize, sig: u16, r: u32) {
        let bucket = &mut self.buckets[b];
        bucket.set_sig(i, sig);
        bucket.refs[i] = r;
        bucket.used |= 1 << i;
    }

    /// Takes the key reference `r` (without its alternate bit) out of the index.
    fn unplace(&mut self, h: u64, r: u32) {
        let b1 = h as usize & self.mask;
        let sig = sig_of(h);
        for (b, alt) in [(b1, false), (alt_bucket(b1, sig, self.mask), true)] {
            let bucket = &mut self.buckets[b];
            let mut m = bucket.matching(sig);
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                if bucket.refs[i] & !REF_ALT == r {
                    bucket.used &= !(1 << i);
                    if alt {
                        self.buckets[b1].spilled -= 1;
                    }
                    return;
                }
                m &= m - 1;
            }
        }
        debug_assert!(false, "flow table index lost a key");
    }

    /// Breadth-first search for a chain of moves ending in a free slot, starting from a slot
    /// of `b1` or `b2` (both full); performs the moves and returns the freed slot.
    fn make_room(&mut self, b1: usize, b2: usize) -> Option<(usize, usize)> {
        const QUEUE: usize = 512;
        // (bucket, parent node or u16::MAX, slot of the parent that moves here)
        let mut nodes = [(0u32, u16::MAX, 0u8); QUEUE];
        nodes[0] = (b1 as u32, u16::MAX, 0);
        nodes[1] = (b2 as u32, u16::MAX, 0);
        let (mut head, mut tail) = (0usize, 2usize);
        while head < tail {
            let b = nodes[head].0 as usize;
            for i in 0..SLOTS {
                let target = alt_bucket(b, self.buckets[b].sig(i), self.mask);
                if self.on_path(&nodes, head, target) {
                    continue;
                }
                if let Some(free) = self.buckets[target].free_slot() {
                    // Move along the chain, from the free end back to the root.
                    let (mut node, mut slot, mut to, mut to_slot) = (head, i, target, free);
                    loop {
                        let from = nodes[node].0 as usize;
                        self.move_slot(from, slot, to, to_slot);
                        let (_, parent, parent_slot) = nodes[node];
                        if parent == u16::MAX {
                            return Some((from, slot));
                        }
                        (to, to_slot) = (from, slot);
                        node = parent as usize;
                        slot = parent_slot as usize;
                    }
                }
                if tail < QUEUE {
                    nodes[tail] = (target as u32, head as u16, i as u8);
                    tail += 1;
                }
            }
            head += 1;
        }
        None
    }

    /// Whether `bucket` is already on the chain from a root to `node`.
    fn on_path(&self, nodes: &[(u32, u16, u8)], mut node: usize, bucket: usize) -> bool {
        loop {
            if nodes[node].0 as usize == bucket {
                return true;
            }
            match nodes[node].1 {
                u16::MAX => return false,
                parent => node = parent as usize,
            }
        }
    }

    /// Moves slot `i` of bucket `from` to free slot `j` of `to`, its other bucket.
    fn move_slot(&mut self, from: usize, i: usize, to: usize, j: usize) {
        let (sig, r) = (self.buckets[from].sig(i), self.buckets[from].refs[i]);
        self.buckets[from].used &= !(1 << i);
        if r & REF_ALT == 0 {
            // Primary -> alternate.
            self.buckets[from].spilled += 1;
        } else {
            // Alternate -> primary.
            self.buckets[to].spilled -= 1;
        }
        self.set(to, j, sig, r ^ REF_ALT);
        self.moves += 1;
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let mut spilled = vec![0u32; self.buckets.len()];
        let mut keys = 0;
        for (b, bucket) in self.buckets.iter().enumerate() {
            for i in 0..SLOTS {
                if bucket.used & (1 << i) == 0 {
                    continue;
                }
                keys += 1;
                let r = bucket.refs[i];
                let f = &self.flows[(r >> 2) as usize];
                assert!(f.is_live(), "index points at a free flow");
                let key = if r & REF_DIR == 0 { f.client_key() } else { f.server_key() };
                let h = key.hash(self.seed);
                assert_eq!(sig_of(h), bucket.sig(i));
                let primary = h as usize & self.mask;
                if r & REF_ALT == 0 {
                    assert_eq!(primary, b);
                } else {
                    assert_eq!(alt_bucket(primary, bucket.sig(i), self.mask), b);
                    spilled[primary] += 1;
                }
            }
        }
        for (b, bucket) in self.buckets.iter().enumerate() {
            assert_eq!(bucket.spilled, spilled[b], "spill count of bucket {b}");
        }
        let expected: usize = self.iter().map(|(_, f)| if f.bits & ONE_WAY != 0 { 1 } else { 2 }).sum();
        assert_eq!(keys, expected);
        assert_eq!(self.iter().filter(|(_, f)| is_half_open(f.state())).count(), self.half_open, "half-open count");
        assert_eq!(self.iter().count(), self.len());
    }
}
