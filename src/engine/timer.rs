//! A per-core timer wheel: deadlines from a millisecond to seconds (a SYN-ACK to send again,
//! a SYN to a server, a held request head) for up to millions of connections, each armed and
//! fired in constant time.
//!
//! A hashed wheel of [`SLOTS`] slots of one [`TICK`] each: a timer goes into the slot of its
//! deadline's tick; one further away than the wheel's span waits in that slot for its turn to
//! come round again. Time only moves when the engine says (`expire(now)`), and
//! [`next_deadline`](TimerWheel::next_deadline) tells the caller when to come back, as
//! quinn-proto's `poll_timeout` does.
//!
//! Timers are not cancelled: each carries the generation its owner had when it was armed,
//! and the owner ignores a timer whose generation it has moved past (it re-armed or ended).
//! Such stale timers cost one slot entry until their tick, so the wheel holds at most the
//! timers armed within one span of time.

use std::time::Duration;

use super::flow::FlowId;
use crate::time::Instant;

/// The wheel's resolution.
pub const TICK: Duration = Duration::from_millis(1);
/// Slots: a span of about four seconds at one tick each.
pub const SLOTS: usize = 4096;

const TICK_NS: u64 = TICK.as_nanos() as u64;

/// A timer as the wheel hands it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    pub flow: FlowId,
    /// The owner's generation when the timer was armed.
    pub generation: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fired: Fired,
    tick: u64,
}

/// The timers of one core.
#[derive(Debug)]
pub struct TimerWheel {
    slots: Vec<Vec<Entry>>,
    /// The next tick whose slot has not been expired yet.
    next_tick: u64,
    len: usize,
}

impl Default for TimerWheel {
    fn default() -> TimerWheel {
        TimerWheel::new(Instant::ZERO)
    }
}

impl TimerWheel {
    /// An empty wheel whose time starts at `now`.
    pub fn new(now: Instant) -> TimerWheel {
        TimerWheel { slots: (0..SLOTS).map(|_| Vec::new()).collect(), next_tick: tick_of(now), len: 0 }
    }

    /// Timers armed and not yet fired (stale ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer for `flow` at `at` (rounded up to the next tick; a deadline already past
    /// fires at the next `expire`).
    pub fn schedule(&mut self, flow: FlowId, generation: u32, at: Instant) {
        let tick = tick_of(at).max(self.next_tick);
        self.slots[(tick % SLOTS as u64) as usize].push(Entry { fired: Fired { flow, generation }, tick });
        self.len += 1;
    }

    /// Moves the wheel's time to `now`, appending every timer whose deadline has come to
    /// `fired`, earliest first. Looks at one slot per tick passed, and at most one turn of
    /// the wheel when more time than that passed.
    pub fn expire(&mut self, now: Instant, fired: &mut Vec<Fired>) {
        let target = tick_of(now);
        if target < self.next_tick {
            return;
        }
        if self.len == 0 {
            self.next_tick = target + 1;
            return;
        }
        if target - self.next_tick >= SLOTS as u64 {
            // A long silence (replay jumps ahead): every slot once, against the target,
            // then in deadline order.
            let mut due = Vec::new();
            for slot in &mut self.slots {
                slot.retain(|e| {
                    let is_due = e.tick <= target;
                    if is_due {
                        due.push(*e);
                    }
                    !is_due
                });
            }
            due.sort_by_key(|e| e.tick);
            self.len -= due.len();
            fired.extend(due.iter().map(|e| e.fired));
        } else {
            while self.next_tick <= target {
                let tick = self.next_tick;
                self.len -= take_due(&mut self.slots[(tick % SLOTS as u64) as usize], tick, fired);
                self.next_tick += 1;
            }
        }
        self.next_tick = target + 1;
    }

    /// When the earliest armed timer falls due (at tick precision), for the caller to come
    /// back then. Scans at most one turn of the wheel.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let mut earliest = u64::MAX;
        for offset in 0..SLOTS as u64 {
            let tick = self.next_tick + offset;
            if let Some(t) = self.slots[(tick % SLOTS as u64) as usize].iter().map(|e| e.tick).min() {
                earliest = earliest.min(t.max(tick));
                if earliest <= tick {
                    break;
                }
            }
        }
        Some(Instant::from_nanos(earliest.saturating_mul(TICK_NS)))
    }
}

/// Moves the entries of `slot` due by `tick` (armed for it or, late, for an earlier one) to
/// `fired`; returns how many.
fn take_due(slot: &mut Vec<Entry>, tick: u64, fired: &mut Vec<Fired>) -> usize {
    let before = slot.len();
    slot.retain(|e| {
        if e.tick <= tick {
            fired.push(e.fired);
            false
        } else {
            true
        }
    });
    before - slot.len()
}

/// The tick holding `at`, rounded up: a timer never fires before its deadline.
fn tick_of(at: Instant) -> u64 {
    at.as_nanos().div_ceil(TICK_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> FlowId {
        FlowId::from_index(i as usize)
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn fire(w: &mut TimerWheel, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        w.expire(now, &mut out);
        out.iter().map(|f| f.flow.index() as u32).collect()
    }

    #[test]
    fn timers_fire_at_their_deadline_never_before() {
        let mut w = TimerWheel::new(ms(0));
        w.schedule(id(1), 0, ms(200));
        w.schedule(id(2), 0, ms(5));
        w.schedule(id(3), 7, Instant::from_nanos(5_000_001)); // rounds up to 6 ms
        assert_eq!(w.next_deadline(), Some(ms(5)));
        assert_eq!(fire(&mut w, ms(4)), Vec::<u32>::new());
        assert_eq!(fire(&mut w, ms(5)), vec![2]);
        assert_eq!(w.next_deadline(), Some(ms(6)));
        let mut out = Vec::new();
        w.expire(ms(6), &mut out);
        assert_eq!(out, vec![Fired { flow: id(3), generation: 7 }]);
        assert_eq!(fire(&mut w, ms(199)), Vec::<u32>::new());
        assert_eq!(fire(&mut w, ms(300)), vec![1]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn deadlines_beyond_a_turn_wait_for_theirs() {
        let mut w = TimerWheel::new(ms(0));
        w.schedule(id(1), 0, ms(10_000)); // 2.4 turns away
        w.schedule(id(2), 0, ms(10));
        assert_eq!(fire(&mut w, ms(10)), vec![2]);
        assert_eq!(w.next_deadline(), Some(ms(10_000)));
        for t in (100..10_000).step_by(100) {
            assert_eq!(fire(&mut w, ms(t)), Vec::<u32>::new(), "at {t} ms");
        }
        assert_eq!(fire(&mut w, ms(10_000)), vec![1]);
        // Far deadlines are not late after a long silence either.
        w.schedule(id(3), 0, ms(15_000));
        w.schedule(id(4), 0, ms(30_000));
        w.schedule(id(5), 0, ms(90_000));
        assert_eq!(fire(&mut w, ms(40_000)), vec![3, 4]);
        assert_eq!(fire(&mut w, ms(89_999)), Vec::<u32>::new());
        assert_eq!(fire(&mut w, ms(90_000)), vec![5]);
    }

    #[test]
    fn a_long_silence_fires_everything_due_once() {
        let mut w = TimerWheel::new(ms(0));
        for i in 0..100 {
            w.schedule(id(i), 0, ms(u64::from(i) * 37));
        }
        let mut fired = fire(&mut w, ms(60_000));
        fired.sort();
        assert_eq!(fired, (0..100).collect::<Vec<_>>());
        assert!(w.is_empty());
        // Time went on: a timer armed in the past fires at once.
        w.schedule(id(7), 0, ms(1));
        assert_eq!(fire(&mut w, ms(60_001)), vec![7]);
    }

    #[test]
    fn arming_many_stays_bounded_by_what_is_pending() {
        let mut w = TimerWheel::new(ms(0));
        for round in 0..50u64 {
            for i in 0..1000 {
                w.schedule(id(i), round as u32, ms(round * 100 + 250));
            }
            fire(&mut w, ms(round * 100));
            assert!(w.len() <= 3000, "{} timers pending", w.len());
        }
    }
}
