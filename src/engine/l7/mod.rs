//! L7 delayed binding: what the switch needs to answer a client's handshake itself, read its
//! request head, pick the server from it, connect to that server and splice the two
//! connections. The state machine that drives it lives with the balancer
//! (`engine::l4::delayed`); the pieces are here:
//!
//! - [`syn`]: initial sequence numbers and SYN cookies;
//! - [`head`]: the buffers request heads are collected in;
//! - [`rules`]: which server a request names (cookies, jvmRoute, learned cookies);
//! - [`splice`]: the state of a spliced connection and its sequence arithmetic;
//! - [`segment`]: the TCP segments the switch writes, and the rewrite of spliced ones;
//! - [`decisions`]: why each connection went to its server, when a tool asks.

pub mod decisions;
pub mod head;
pub mod rules;
pub mod segment;
pub mod splice;
pub mod syn;

use std::fmt;

use super::hash::Secrets;
use super::service::L7Policy;
use super::sticky::StickyTable;
use super::timer::{Fired, TimerWheel};
use crate::mem::HugeSlice;
use crate::time::Instant;
use crate::wire::http::{self, RequestHead};
use decisions::DecisionLog;
use head::HeadPool;
use rules::Decided;
use splice::Splice;
use syn::SynKeys;

/// The counters of one core's L7 ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L7Stats {
    /// SYNs answered with a SYN-ACK that keeps state.
    pub syn_acks: u64,
    /// SYNs answered with a SYN cookie (no state).
    pub syn_cookies_sent: u64,
    /// ACKs whose cookie was good: connections made from them.
    pub syn_cookies_accepted: u64,
    /// ACKs to an L7 port with no connection and no good cookie (dropped).
    pub syn_cookies_refused: u64,
    /// Handshakes completed (the client's ACK of a SYN-ACK with state).
    pub handshakes: u64,
    /// Half-open connections given up (the client never acknowledged).
    pub half_open_expired: u64,
    /// Request heads read and parsed.
    pub heads: u64,
    /// Connections whose first bytes were not HTTP (bound by the predictor and spliced).
    pub not_http: u64,
    /// Request heads over the port's limit (reset).
    pub head_too_large: u64,
    /// Connections reset because every head buffer was in use.
    pub head_buffers_full: u64,
    /// Connections reset because the head did not come in time.
    pub head_timeouts: u64,
    /// Why connections went to their servers, by `Decided`.
    pub decided: [u64; 6],
    /// Connections a cookie named for a down server, taken by one of its domain.
    pub domain_failovers: u64,
    /// SYNs to servers answered with RST.
    pub server_refused: u64,
    /// SYNs to servers never answered.
    pub server_timeouts: u64,
    /// SYNs to servers answered by an old connection on the same tuple (one the server
    /// still holds in SYN_RECV or TIME_WAIT): reset, and the SYN sent again.
    pub server_stale: u64,
    /// Connections reset because no server could take them.
    pub no_server: u64,
    /// Connections reset because the server never acknowledged the held request.
    pub held_timeouts: u64,
    /// Cookies inserted into first responses.
    pub cookies_inserted: u64,
    /// First responses a cookie should have gone into but could not (no status line).
    pub cookie_insert_missed: u64,
    /// Cookie values learned from servers' Set-Cookie.
    pub cookies_learned: u64,
    /// Segments the switch sent again (SYN-ACKs, SYNs, held requests).
    pub retransmits: u64,
    /// Spliced connections.
    pub spliced: u64,
    /// Handshakes of L4 ports the switch answered itself under a SYN flood (SYN proxy).
    pub proxied: u64,
    /// Connections their client closed before a request head was whole.
    pub closed_before_head: u64,
}

impl L7Stats {
    pub fn add(&mut self, o: &L7Stats) {
        for (mine, theirs) in self.named_mut().into_iter().zip(o.named()) {
            *mine.1 += theirs.1;
        }
        for (m, t) in self.decided.iter_mut().zip(o.decided) {
            *m += t;
        }
    }

    /// The counters by name (the decision counts apart), for printing.
    pub fn named(&self) -> [(&'static str, u64); 24] {
        [
            ("syn-acks", self.syn_acks),
            ("syn-cookies-sent", self.syn_cookies_sent),
            ("syn-cookies-accepted", self.syn_cookies_accepted),
            ("syn-cookies-refused", self.syn_cookies_refused),
            ("handshakes", self.handshakes),
            ("half-open-expired", self.half_open_expired),
            ("heads", self.heads),
            ("not-http", self.not_http),
            ("head-too-large", self.head_too_large),
            ("head-buffers-full", self.head_buffers_full),
            ("head-timeouts", self.head_timeouts),
            ("domain-failovers", self.domain_failovers),
            ("server-refused", self.server_refused),
            ("server-timeouts", self.server_timeouts),
            ("server-stale", self.server_stale),
            ("no-server", self.no_server),
            ("held-timeouts", self.held_timeouts),
            ("cookies-inserted", self.cookies_inserted),
            ("cookie-insert-missed", self.cookie_insert_missed),
            ("cookies-learned", self.cookies_learned),
            ("retransmits", self.retransmits),
            ("spliced", self.spliced),
            ("syn-proxied", self.proxied),
            ("closed-before-head", self.closed_before_head),
        ]
    }

    fn named_mut(&mut self) -> [(&'static str, &mut u64); 24] {
        [
            ("syn-acks", &mut self.syn_acks),
            ("syn-cookies-sent", &mut self.syn_cookies_sent),
            ("syn-cookies-accepted", &mut self.syn_cookies_accepted),
            ("syn-cookies-refused", &mut self.syn_cookies_refused),
            ("handshakes", &mut self.handshakes),
            ("half-open-expired", &mut self.half_open_expired),
            ("heads", &mut self.heads),
            ("not-http", &mut self.not_http),
            ("head-too-large", &mut self.head_too_large),
            ("head-buffers-full", &mut self.head_buffers_full),
            ("head-timeouts", &mut self.head_timeouts),
            ("domain-failovers", &mut self.domain_failovers),
            ("server-refused", &mut self.server_refused),
            ("server-timeouts", &mut self.server_timeouts),
            ("server-stale", &mut self.server_stale),
            ("no-server", &mut self.no_server),
            ("held-timeouts", &mut self.held_timeouts),
            ("cookies-inserted", &mut self.cookies_inserted),
            ("cookie-insert-missed", &mut self.cookie_insert_missed),
            ("cookies-learned", &mut self.cookies_learned),
            ("retransmits", &mut self.retransmits),
            ("spliced", &mut self.spliced),
            ("syn-proxied", &mut self.proxied),
            ("closed-before-head", &mut self.closed_before_head),
        ]
    }

    /// How many connections went to their server by `decided`.
    pub fn decided_by(&self, decided: Decided) -> u64 {
        self.decided[decided as usize]
    }
}

impl fmt::Display for L7Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "l7:")?;
        for (name, value) in self.named() {
            if value != 0 {
                writeln!(f, "  {name:<26} {value}")?;
            }
        }
        for d in Decided::ALL {
            writeln!(f, "  decided by {:<15} {}", d.name(), self.decided_by(d))?;
        }
        Ok(())
    }
}

/// What one core keeps for its L7 ports.
pub struct L7 {
    /// A spliced connection's state, beside its flow line (indexed by `FlowId`).
    pub splices: HugeSlice<Splice>,
    pub heads: HeadPool,
    pub timers: TimerWheel,
    /// Scratch for the timers that fire in one poll.
    pub fired: Vec<Fired>,
    pub keys: SynKeys,
    /// Past this many half-open connections, `auto` ports answer with SYN cookies.
    pub cookie_threshold: usize,
    /// Until when a SYN cookie this core sent may come back (ACKs without a connection are
    /// checked for one only until then).
    pub cookies_until: Instant,
    /// Cookie values learned from the servers (`sticky::cookie_key`), this core's copy.
    pub cookies: StickyTable,
    /// Why each connection went to its server, when switched on (`stickwire reenact`).
    pub decisions: DecisionLog,
    /// The origin of the switch's timestamp clock (random, so that it says nothing of the
    /// machine's uptime).
    ts_origin: u32,
}

impl fmt::Debug for L7 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L7").field("heads_free", &self.heads.available()).finish_non_exhaustive()
    }
}

impl L7 {
    /// The L7 state of a core: `flows` splice entries (the flow table's capacity), `heads`
    /// head buffers of `head_len` bytes, `cookies` learned cookie bindings. All zero when
    /// no port is L7.
    pub fn new(flows: usize, heads: usize, head_len: usize, cookies: usize, secrets: &Secrets, threshold: usize) -> L7 {
        L7 {
            splices: HugeSlice::new(flows, Splice::EMPTY),
            heads: HeadPool::new(heads, head_len),
            timers: TimerWheel::new(Instant::ZERO),
            fired: Vec::new(),
            keys: SynKeys::new(secrets.syn),
            cookie_threshold: threshold,
            cookies_until: Instant::ZERO,
            cookies: StickyTable::new(cookies.max(1), secrets.sticky ^ 0x0c00_c1e5),
            decisions: DecisionLog::default(),
            ts_origin: secrets.syn[0..4].iter().fold(0u32, |a, &b| a << 8 | u32::from(b)),
        }
    }

    /// What rule `rule` of `policy` read in the head `sp` holds, for the decision log: parsed
    /// again, since the rules keep nothing of it.
    pub fn value_read(&self, policy: &L7Policy, sp: &Splice, rule: u8) -> Option<(Vec<u8>, bool)> {
        let rule = policy.rules.get(usize::from(rule))?;
        let mut headers = [http::EMPTY_HEADER; http::MAX_HEADERS];
        let head = RequestHead::parse(self.heads.bytes(sp.head, sp.held), &mut headers).ok()?;
        rules::value_read(rule, &head).map(|read| (read.value.to_vec(), read.in_path))
    }

    /// The switch's TCP timestamp clock at `now`: milliseconds, from a random origin.
    pub fn ts_now(&self, now: Instant) -> u32 {
        ((now.as_nanos() / 1_000_000) as u32).wrapping_add(self.ts_origin)
    }
}

#[cfg(test)]
mod tests;
