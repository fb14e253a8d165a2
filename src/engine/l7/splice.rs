//! The state of one spliced connection, beside its flow line, and the arithmetic that maps
//! sequence numbers between its two halves.
//!
//! The switch answers the client with an ISN of its own and later connects to the server
//! with the *client's* ISN, so the client's sequence numbers reach the server unchanged.
//! The server picks its own ISN: everything the server sends moves by a fixed delta
//! (`our_isn - server_isn`), and everything the client acknowledges moves back by it. When
//! the switch inserts a cookie into the first response head, the bytes from that point on
//! move by its length too. Timestamps work the same way: the client's pass through; the
//! server's move onto the switch's clock, which the client saw in the handshake.

use bytemuck::{Pod, Zeroable};

use crate::engine::flow::SteadySplice;

/// Where a spliced connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// The switch answered the SYN; the client's ACK is awaited.
    SynReceived = 0,
    /// Collecting the request head.
    Head = 1,
    /// A server was picked: its SYN-ACK is awaited.
    Connecting = 2,
    /// The held head went to the server: its acknowledgment is awaited.
    Sending = 3,
    /// Every frame is only rewritten now.
    Spliced = 4,
    /// The client closed before its request was whole: the switch answered its FIN with
    /// its own, and waits for the last ACK.
    Closing = 5,
}

impl Phase {
    const ALL: [Phase; 6] =
        [Phase::SynReceived, Phase::Head, Phase::Connecting, Phase::Sending, Phase::Spliced, Phase::Closing];
}

/// What the client offered and the server accepted (`Splice::options`).
pub mod opt {
    pub const CLIENT_SACK: u8 = 1;
    pub const CLIENT_TS: u8 = 1 << 1;
    pub const CLIENT_WS: u8 = 1 << 2;
    pub const SERVER_SACK: u8 = 1 << 3;
    pub const SERVER_TS: u8 = 1 << 4;
    pub const SERVER_WS: u8 = 1 << 5;
    /// A cookie is to go into the first response head (an `insert-cookie` port).
    pub const INSERT: u8 = 1 << 6;
    /// The first response segment was seen (cookies learned, the insertion placed).
    pub const RESPONSE_SEEN: u8 = 1 << 7;
}

/// One spliced connection: a cache line of its own, in an array beside the flow table,
/// indexed by the flow's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct Splice {
    /// The sequence number of the client's SYN.
    pub client_isn: u32,
    /// The sequence number of the switch's SYN-ACK to the client.
    pub our_isn: u32,
    /// The sequence number of the server's SYN-ACK.
    pub server_isn: u32,
    /// Added to the server's timestamps: the switch's clock at bind less the server's.
    pub ts_delta: u32,
    /// The client's latest timestamp value (what the switch echoes while it answers).
    pub ts_recent: u32,
    /// Server sequence number where inserted bytes go (when `inserted > 0`).
    pub insert_at: u32,
    /// Bytes of request the switch acknowledged to the client and holds.
    pub held: u32,
    /// Its head buffer, or `head::NO_HEAD`.
    pub head: u32,
    /// The timer generation: a fired timer of an older one is ignored.
    pub timer: u32,
    /// The index of the first server tried (for the next, on failure).
    pub first_server: u16,
    /// The MSS the client announced (what the switch uses towards it).
    pub client_mss: u16,
    /// The server's MSS.
    pub server_mss: u16,
    /// The client's last window field, as sent (scaled by its own factor).
    pub client_window: u16,
    /// Bytes inserted into the server's stream (the cookie line), once placed.
    pub inserted: u16,
    /// Its length once it goes in (known at bind).
    pub insert_len: u16,
    phase: u8,
    /// `opt` bits.
    pub options: u8,
    pub client_ws: u8,
    /// The window scale the switch announced to the client.
    pub our_ws: u8,
    pub server_ws: u8,
    /// Retransmissions of the current step.
    pub tries: u8,
    /// Servers tried.
    pub attempts: u8,
    /// Why it went to its server (`rules::Decided`).
    pub decided: u8,
    /// The server's timestamp value in its SYN-ACK (what the held head echoes).
    pub server_ts: u32,
    _spare: [u8; 4],
}

const _: () = assert!(std::mem::size_of::<Splice>() == 64);

impl Splice {
    pub const EMPTY: Splice = Splice {
        client_isn: 0,
        our_isn: 0,
        server_isn: 0,
        ts_delta: 0,
        ts_recent: 0,
        insert_at: 0,
        held: 0,
        head: u32::MAX,
        timer: 0,
        first_server: 0,
        client_mss: 0,
        server_mss: 0,
        client_window: 0,
        inserted: 0,
        insert_len: 0,
        phase: 0,
        options: 0,
        client_ws: 0,
        our_ws: 0,
        server_ws: 0,
        tries: 0,
        attempts: 0,
        decided: 0,
        server_ts: 0,
        _spare: [0; 4],
    };

    /// The state of a new connection in the slot where `previous` was: empty, except that
    /// the timer generation goes on from there, so that the timers the previous connection
    /// left in the wheel are not taken for the new one's.
    pub fn succeeding(previous: &Splice) -> Splice {
        Splice { timer: previous.timer, ..Splice::EMPTY }
    }

    pub fn phase(&self) -> Phase {
        Phase::ALL.get(usize::from(self.phase)).copied().unwrap_or(Phase::Spliced)
    }

    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase as u8;
    }

    pub fn has(&self, bits: u8) -> bool {
        self.options & bits == bits
    }

    /// Timestamps run end to end: both sides agreed to them.
    pub fn timestamps(&self) -> bool {
        self.has(opt::CLIENT_TS | opt::SERVER_TS)
    }

    /// The client's next sequence number after what the switch holds for the server.
    pub fn client_next(&self) -> u32 {
        self.client_isn.wrapping_add(1).wrapping_add(self.held)
    }

    /// What this connection's spliced frames are rewritten by.
    pub fn moves(&self) -> Moves {
        Moves {
            seq_delta: self.our_isn.wrapping_sub(self.server_isn),
            ts_delta: if self.timestamps() { self.ts_delta } else { 0 },
            insert_at: self.insert_at,
            inserted: self.inserted,
            server_ws: self.server_ws,
            our_ws: self.our_ws,
        }
    }

    /// What the flow line keeps for this connection's frames (`Flow::steady`), once
    /// nothing else of the splice changes for them: spliced, the first response seen (its
    /// cookies learned), and no cookie to insert or inserted (the map would need the
    /// insertion point).
    pub fn steady(&self) -> Option<SteadySplice> {
        let done = self.phase() == Phase::Spliced && self.has(opt::RESPONSE_SEEN);
        let m = self.moves();
        (done && !self.has(opt::INSERT) && m.inserted == 0)
            .then(|| SteadySplice::new(m.seq_delta, m.ts_delta, m.server_ws, m.our_ws))
    }
}

/// How the numbers of a spliced connection's frames move between its two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moves {
    /// From the server's sequence space to the client's.
    pub seq_delta: u32,
    /// Added to the server's timestamps; 0 without timestamps end to end.
    pub ts_delta: u32,
    /// Server sequence number where inserted bytes went (when `inserted > 0`).
    pub insert_at: u32,
    pub inserted: u16,
    pub server_ws: u8,
    pub our_ws: u8,
}

impl From<&SteadySplice> for Moves {
    #[inline(always)]
    fn from(s: &SteadySplice) -> Moves {
        Moves {
            seq_delta: s.seq_delta,
            ts_delta: s.ts_delta,
            insert_at: 0,
            inserted: 0,
            server_ws: s.server_ws,
            our_ws: s.our_ws,
        }
    }
}

impl Moves {
    /// Where a server segment starting at `seq` starts for the client. A segment that
    /// carries the insertion point keeps its start (the inserted bytes go inside it); one
    /// after it moves by the inserted length.
    #[inline]
    pub fn server_seq_to_client(&self, seq: u32) -> u32 {
        let past = self.inserted > 0 && seq_gt(seq, self.insert_at);
        seq.wrapping_add(self.seq_delta).wrapping_add(if past { u32::from(self.inserted) } else { 0 })
    }

    /// An acknowledgment (or SACK edge) of the client, of server data, in the server's
    /// sequence space. An edge inside the inserted bytes maps to the insertion point: the
    /// server sent none of them.
    #[inline]
    pub fn client_ack_to_server(&self, ack: u32) -> u32 {
        let plain = ack.wrapping_sub(self.seq_delta);
        if self.inserted == 0 || !seq_gt(plain, self.insert_at) {
            return plain;
        }
        let after = plain.wrapping_sub(u32::from(self.inserted));
        if seq_gt(after, self.insert_at) {
            after
        } else {
            self.insert_at
        }
    }

    /// Rescales a server window field for the client (the two may have agreed on different
    /// scale factors with the switch), saturating at the field's maximum.
    #[inline]
    pub fn server_window_to_client(&self, window: u16) -> u16 {
        if self.server_ws == self.our_ws {
            return window;
        }
        let bytes = u64::from(window) << self.server_ws;
        (bytes >> self.our_ws).min(u64::from(u16::MAX)) as u16
    }
}

/// `a` comes after `b` in sequence space (RFC 1982 arithmetic).
#[inline]
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `a` comes at or after `b` in sequence space.
#[inline]
pub fn seq_ge(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spliced() -> Splice {
        let mut s = Splice::EMPTY;
        s.our_isn = 1000;
        s.server_isn = u32::MAX - 10; // the delta wraps
        s
    }

    #[test]
    fn without_insertion_one_delta_maps_both_ways() {
        let s = spliced();
        for seq in [u32::MAX - 9, 0, 5, 123_456] {
            let client = s.moves().server_seq_to_client(seq);
            assert_eq!(client, seq.wrapping_add(1011));
            assert_eq!(s.moves().client_ack_to_server(client), seq);
        }
    }

    #[test]
    fn inserted_bytes_shift_what_follows_and_only_that() {
        let mut s = spliced();
        s.insert_at = 50; // server sequence numbers
        s.inserted = 30;
        // Before and at the insertion point: plain delta (the segment carrying it keeps its
        // start; the inserted bytes are inside).
        assert_eq!(s.moves().server_seq_to_client(10), 10 + 1011);
        assert_eq!(s.moves().server_seq_to_client(50), 50 + 1011);
        // After it: 30 more.
        assert_eq!(s.moves().server_seq_to_client(51), 51 + 1011 + 30);
        // The client acknowledges in its space: inside the inserted bytes means "up to the
        // insertion point" for the server; past them, 30 less.
        assert_eq!(s.moves().client_ack_to_server(50 + 1011), 50);
        assert_eq!(s.moves().client_ack_to_server(50 + 1011 + 10), 50);
        assert_eq!(s.moves().client_ack_to_server(50 + 1011 + 30), 50);
        assert_eq!(s.moves().client_ack_to_server(80 + 1011 + 30), 80);
        assert_eq!(s.moves().client_ack_to_server(20 + 1011), 20);
    }

    #[test]
    fn windows_rescale_and_saturate() {
        let mut s = spliced();
        s.server_ws = 7;
        s.our_ws = 7;
        assert_eq!(s.moves().server_window_to_client(501), 501);
        s.server_ws = 9;
        assert_eq!(s.moves().server_window_to_client(501), 2004);
        s.our_ws = 0;
        assert_eq!(s.moves().server_window_to_client(501), u16::MAX);
        s.server_ws = 2;
        s.our_ws = 5;
        assert_eq!(s.moves().server_window_to_client(800), 100);
    }

    #[test]
    fn sequence_comparisons_wrap() {
        assert!(seq_gt(5, u32::MAX - 5));
        assert!(!seq_gt(u32::MAX - 5, 5));
        assert!(seq_ge(7, 7) && !seq_gt(7, 7));
    }
}
