//! The neighbour (ARP) table: IPv4 next hop -> MAC, per port, with a bounded queue of
//! frames waiting for an answer.
//!
//! Like Linux, an entry is created when a neighbour asks for one of our addresses or answers
//! our request, refreshed by any later ARP from it, and forgotten `REACHABLE_TIME` after it
//! was last confirmed. Static neighbours from the config never age.

use std::net::Ipv4Addr;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::topology::PortIdx;
use crate::time::Instant;
use crate::wire::MacAddr;

/// How long a learned neighbour stays usable without being confirmed again.
pub const REACHABLE_TIME: Duration = Duration::from_secs(300);
/// Interval between ARP requests for an unresolved next hop.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Requests sent before the frames waiting for an answer are dropped.
pub const MAX_REQUESTS: u8 = 3;
/// Frames held per unresolved next hop (Linux's `unres_qlen` is in this spirit).
pub const MAX_HELD_PER_HOP: usize = 16;
/// Next hops being resolved at once.
pub const MAX_UNRESOLVED: usize = 256;
/// Learned neighbours kept at once.
pub const MAX_ENTRIES: usize = 4096;
/// How long a next hop that never answered is not asked for again (Linux's FAILED state):
/// frames to it are dropped at once, and a flood of answers to spoofed sources costs one
/// round of ARP requests per source, not one per frame.
pub const FAILED_TIME: Duration = Duration::from_secs(20);
/// Failed next hops remembered at once.
pub const MAX_FAILED: usize = 4096;
/// A deadline that never comes.
const NEVER: Instant = Instant::from_nanos(u64::MAX);

#[derive(Debug, Clone, Copy)]
struct Entry {
    mac: MacAddr,
    /// `None` for a static neighbour.
    expires: Option<Instant>,
}

#[derive(Debug)]
struct Unresolved<B> {
    port: PortIdx,
    ip: Ipv4Addr,
    held: Vec<B>,
    requests_sent: u8,
    next_request: Instant,
}

/// What `hold` did with a frame.
#[derive(Debug)]
pub enum Held<B> {
    /// Queued; an ARP request should go out now (first frame for this next hop).
    QueuedSendRequest,
    /// Queued behind a request already sent.
    Queued,
    /// No room: the frame is handed back to be dropped.
    Full(B),
    /// The next hop did not answer a moment ago: the frame is handed back to be dropped.
    Failed(B),
}

/// Why a frame cannot wait for its next hop's MAC (see [`NeighbourTable::refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The next hop did not answer ARP a moment ago.
    Failed,
    /// Its queue, or the table of next hops being asked for, is full.
    Full,
}

/// Work the table asks for when polled.
#[derive(Debug)]
pub struct PollResult<B> {
    /// (port, next hop) to send an ARP request for.
    pub requests: Vec<(PortIdx, Ipv4Addr)>,
    /// Frames whose next hop never answered.
    pub unresolved: Vec<B>,
}

/// Slots of the lookup cache in front of the hash map (a power of two).
const CACHE_SLOTS: usize = 64;

/// A cached answer: `port + 1` (0 = empty slot), the address, its MAC and when it expires.
#[derive(Debug, Clone, Copy, Default)]
struct Cached {
    port: usize,
    ip: u32,
    mac: MacAddr,
    expires: Option<Instant>,
}

/// The neighbour table of one engine.
#[derive(Debug)]
pub struct NeighbourTable<B> {
    /// Direct-mapped cache of recent lookups: every forwarded frame asks for its next hop,
    /// and most ask for the same few (the real servers, a gateway).
    cache: [Cached; CACHE_SLOTS],
    /// Looked up for every answer and forwarded frame: a fast hash, not SipHash (the keys
    /// are bounded by `MAX_ENTRIES` and only created by ARP aimed at us).
    entries: FxHashMap<(PortIdx, Ipv4Addr), Entry>,
    unresolved: Vec<Unresolved<B>>,
    /// No request of `unresolved` is due before this: `poll`, called every turn of the
    /// loop, looks at them only then (a SYN flood from spoofed neighbours fills them).
    next_due: Instant,
    /// Next hops that never answered, until when they are not asked for again.
    failed: FxHashMap<(PortIdx, Ipv4Addr), Instant>,
    next_sweep: Instant,
}

impl<B> Default for NeighbourTable<B> {
    fn default() -> Self {
        NeighbourTable {
            cache: [Cached::default(); CACHE_SLOTS],
            entries: FxHashMap::with_capacity_and_hasher(MAX_ENTRIES, Default::default()),
            unresolved: Vec::with_capacity(MAX_UNRESOLVED),
            next_due: NEVER,
            failed: FxHashMap::default(),
            next_sweep: Instant::ZERO,
        }
    }
}

impl<B> NeighbourTable<B> {
    /// Adds a neighbour that never ages.
    pub fn add_static(&mut self, port: PortIdx, ip: Ipv4Addr, mac: MacAddr) {
        self.entries.insert((port, ip), Entry { mac, expires: None });
        self.forget_cached(port, ip);
    }

    /// The MAC of `ip` on `port`, if known and not expired.
    #[inline]
    pub fn lookup(&mut self, port: PortIdx, ip: Ipv4Addr, now: Instant) -> Option<MacAddr> {
        let slot = cache_slot(port, ip);
        let c = self.cache[slot];
        if c.port == port + 1 && c.ip == u32::from(ip) && c.expires.is_none_or(|t| t > now) {
            return Some(c.mac);
        }
        let entry = *self.entries.get(&(port, ip))?;
        if entry.expires.is_some_and(|t| t <= now) {
            return None;
        }
        self.cache[slot] = Cached { port: port + 1, ip: u32::from(ip), mac: entry.mac, expires: entry.expires };
        Some(entry.mac)
    }

    fn forget_cached(&mut self, port: PortIdx, ip: Ipv4Addr) {
        self.cache[cache_slot(port, ip)] = Cached::default();
    }

    /// Whether `ip` on `port` has an entry (even expired): ARP from it then refreshes it.
    pub fn knows(&self, port: PortIdx, ip: Ipv4Addr) -> bool {
        self.entries.contains_key(&(port, ip)) || self.unresolved.iter().any(|u| u.port == port && u.ip == ip)
    }

    /// Records that `ip` on `port` has `mac`. Returns the frames that were waiting for it
    /// (their Ethernet destination still to be set) and whether the entry is new.
    pub fn learn(&mut self, port: PortIdx, ip: Ipv4Addr, mac: MacAddr, now: Instant) -> (Vec<B>, bool) {
        let key = (port, ip);
        self.forget_cached(port, ip);
        self.failed.remove(&key);
        let is_new = match self.entries.get_mut(&key) {
            Some(entry) if entry.expires.is_none() => false, // static wins
            Some(entry) => {
                *entry = Entry { mac, expires: Some(now + REACHABLE_TIME) };
                false
            }
            None => {
                if self.entries.len() >= MAX_ENTRIES {
                    self.sweep(now);
                }
                if self.entries.len() < MAX_ENTRIES {
                    self.entries.insert(key, Entry { mac, expires: Some(now + REACHABLE_TIME) });
                }
                true
            }
        };
        let held = match self.unresolved.iter().position(|u| u.port == port && u.ip == ip) {
            Some(i) => self.unresolved.swap_remove(i).held,
            None => Vec::new(),
        };
        (held, is_new)
    }

    /// Why [`hold`](Self::hold) would hand a frame for `ip` on `port` back now, if it would:
    /// the next hop did not answer a moment ago, or there is no room to queue for it. Lets a
    /// caller skip building a frame that cannot go out (a SYN cookie's answer to a spoofed
    /// source).
    pub fn refusal(&self, port: PortIdx, ip: Ipv4Addr, now: Instant) -> Option<Refusal> {
        if self.failed.get(&(port, ip)).is_some_and(|&until| until > now) {
            return Some(Refusal::Failed);
        }
        let full = match self.unresolved.iter().find(|u| u.port == port && u.ip == ip) {
            Some(u) => u.held.len() >= MAX_HELD_PER_HOP,
            None => self.unresolved.len() >= MAX_UNRESOLVED,
        };
        full.then_some(Refusal::Full)
    }

    /// Queues `frame` until `ip` on `port` answers.
    pub fn hold(&mut self, port: PortIdx, ip: Ipv4Addr, frame: B, now: Instant) -> Held<B> {
        match self.refusal(port, ip, now) {
            Some(Refusal::Failed) => return Held::Failed(frame),
            Some(Refusal::Full) => return Held::Full(frame),
            None => {}
        }
        if let Some(u) = self.unresolved.iter_mut().find(|u| u.port == port && u.ip == ip) {
            u.held.push(frame);
            return Held::Queued;
        }
        let next_request = now + RETRY_INTERVAL;
        self.next_due = self.next_due.min(next_request);
        self.unresolved.push(Unresolved { port, ip, held: vec![frame], requests_sent: 1, next_request });
        Held::QueuedSendRequest
    }

    /// Retries requests that are due, gives up on next hops that never answered, and now and
    /// then forgets expired entries.
    pub fn poll(&mut self, now: Instant) -> PollResult<B> {
        let mut result = PollResult { requests: Vec::new(), unresolved: Vec::new() };
        if now >= self.next_due {
            let mut i = 0;
            while i < self.unresolved.len() {
                let u = &mut self.unresolved[i];
                if u.next_request > now {
                    i += 1;
                } else if u.requests_sent >= MAX_REQUESTS {
                    let gone = self.unresolved.swap_remove(i);
                    if self.failed.len() < MAX_FAILED {
                        self.failed.insert((gone.port, gone.ip), now + FAILED_TIME);
                    }
                    result.unresolved.extend(gone.held);
                } else {
                    u.requests_sent += 1;
                    u.next_request = now + RETRY_INTERVAL;
                    result.requests.push((u.port, u.ip));
                    i += 1;
                }
            }
            self.next_due = self.next_retry().unwrap_or(NEVER);
        }
        if now >= self.next_sweep {
            self.sweep(now);
        }
        result
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires.is_none_or(|t| t > now));
        self.failed.retain(|_, &mut until| until > now);
        self.next_sweep = now + RETRY_INTERVAL;
    }

    /// When `poll` next has an ARP request to repeat or a next hop to give up on.
    pub fn next_retry(&self) -> Option<Instant> {
        self.unresolved.iter().map(|u| u.next_request).min()
    }

    /// Frames currently held, for tests and stats.
    pub fn held_frames(&self) -> usize {
        self.unresolved.iter().map(|u| u.held.len()).sum()
    }
}

fn cache_slot(port: PortIdx, ip: Ipv4Addr) -> usize {
    let x = u32::from(ip) ^ (port as u32).rotate_left(16);
    (x.wrapping_mul(0x9e37_79b1) >> 26) as usize & (CACHE_SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
    const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);

    fn secs(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }

    #[test]
    fn learned_entry_expires_static_does_not() {
        let mut t = NeighbourTable::<u32>::default();
        // Asked once before the expiry (cached), the answer must still expire on time.
        t.learn(0, IP, MAC, secs(0));
        assert_eq!(t.lookup(0, IP, secs(1)), Some(MAC));
        t.learn(0, IP, MAC, secs(0));
        t.add_static(1, IP, MAC);
        assert_eq!(t.lookup(0, IP, secs(299)), Some(MAC));
        assert_eq!(t.lookup(0, IP, secs(300)), None);
        assert_eq!(t.lookup(1, IP, secs(10_000)), Some(MAC));
        assert_eq!(t.lookup(1, Ipv4Addr::new(1, 2, 3, 4), secs(0)), None);
    }

    #[test]
    fn held_frames_are_released_by_the_answer() {
        let mut t = NeighbourTable::default();
        assert!(matches!(t.hold(0, IP, 1u32, secs(0)), Held::QueuedSendRequest));
        assert!(matches!(t.hold(0, IP, 2u32, secs(0)), Held::Queued));
        assert_eq!(t.held_frames(), 2);
        let (released, new) = t.learn(0, IP, MAC, secs(0));
        assert_eq!(released, vec![1, 2]);
        assert!(new);
        assert_eq!(t.held_frames(), 0);
    }

    #[test]
    fn queue_is_bounded_per_hop_and_in_hops() {
        let mut t = NeighbourTable::default();
        for i in 0..MAX_HELD_PER_HOP {
            assert!(!matches!(t.hold(0, IP, i, secs(0)), Held::Full(_)));
        }
        assert!(matches!(t.hold(0, IP, 99, secs(0)), Held::Full(99)));
        for i in 1..MAX_UNRESOLVED {
            let ip = Ipv4Addr::from(0x0a00_0000 + i as u32);
            assert!(matches!(t.hold(0, ip, i, secs(0)), Held::QueuedSendRequest));
        }
        assert!(matches!(t.hold(0, Ipv4Addr::new(9, 9, 9, 9), 7, secs(0)), Held::Full(7)));
    }

    #[test]
    fn the_refusal_is_what_hold_would_answer() {
        let mut t = NeighbourTable::default();
        assert_eq!(t.refusal(0, IP, secs(0)), None);
        for i in 0..MAX_HELD_PER_HOP {
            assert_eq!(t.refusal(0, IP, secs(0)), None, "frame {i}");
            t.hold(0, IP, i, secs(0));
        }
        assert_eq!(t.refusal(0, IP, secs(0)), Some(Refusal::Full));
        assert!(matches!(t.hold(0, IP, 99, secs(0)), Held::Full(99)));
        for s in 1..=3 {
            t.poll(secs(s));
        }
        assert_eq!(t.refusal(0, IP, secs(4)), Some(Refusal::Failed));
        assert!(matches!(t.hold(0, IP, 5, secs(4)), Held::Failed(5)));
        assert_eq!(t.refusal(0, IP, secs(3 + 20)), None, "asked for again later");
    }

    #[test]
    fn retries_then_gives_up() {
        let mut t = NeighbourTable::default();
        t.hold(0, IP, 5u32, secs(0));
        assert!(t.poll(Instant::from_millis(500)).requests.is_empty());
        assert_eq!(t.poll(secs(1)).requests, vec![(0, IP)]);
        assert_eq!(t.poll(secs(2)).requests, vec![(0, IP)]);
        let last = t.poll(secs(3));
        assert!(last.requests.is_empty());
        assert_eq!(last.unresolved, vec![5]);
        assert_eq!(t.held_frames(), 0);
    }

    #[test]
    fn a_next_hop_that_never_answered_is_not_asked_again_for_a_while() {
        let mut t = NeighbourTable::default();
        t.hold(0, IP, 1u32, secs(0));
        for s in 1..=3 {
            t.poll(secs(s));
        }
        assert!(matches!(t.hold(0, IP, 2u32, secs(4)), Held::Failed(2)));
        assert!(t.poll(secs(5)).requests.is_empty(), "no request for it");
        // Later it is asked for again; an answer in between clears it at once.
        assert!(matches!(t.hold(0, IP, 3u32, secs(3 + 20)), Held::QueuedSendRequest));
        let other = Ipv4Addr::new(198, 18, 0, 10);
        t.hold(0, other, 4u32, secs(30));
        for s in 31..=33 {
            t.poll(secs(s));
        }
        t.learn(0, other, MAC, secs(34));
        assert!(matches!(t.hold(0, other, 5u32, secs(35)), Held::QueuedSendRequest | Held::Queued));
    }

    #[test]
    fn a_new_answer_replaces_the_cached_one() {
        let mut t = NeighbourTable::<u32>::default();
        t.learn(0, IP, MAC, secs(0));
        assert_eq!(t.lookup(0, IP, secs(1)), Some(MAC));
        let moved = MacAddr([2, 0, 0, 0, 0, 0x99]);
        t.learn(0, IP, moved, secs(2));
        assert_eq!(t.lookup(0, IP, secs(3)), Some(moved));
        assert_eq!(t.lookup(1, IP, secs(3)), None, "another port is another neighbour");
    }
}
