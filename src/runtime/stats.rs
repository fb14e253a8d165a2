//! Live counters: each worker copies its own into its slot of a [`StatsBoard`] every
//! [`PUBLISH_EVERY`] of its clock (never waiting: a slot the control side holds is skipped
//! that time), and answers the operator's `show sticky` from its own tables. The control side
//! reads the slots for `show stats` and `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use crate::engine::l4::L4Stats;
use crate::engine::sticky::StickyEntry;
use crate::engine::Counters;
use crate::health::HealthCounters;
use crate::port::PortStats;
use crate::time::Instant;

/// How often a worker publishes its counters.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// One worker's counters, as of its last publication.
#[derive(Debug, Clone, Default)]
pub struct CoreStats {
    pub counters: Counters,
    pub l4: L4Stats,
    pub ports: Vec<PortStats>,
    pub flows: usize,
    pub flow_capacity: usize,
    pub sticky: usize,
    pub sticky_capacity: usize,
    pub cookies: usize,
    pub cookie_capacity: usize,
    pub idle_sleeps: u64,
    pub handoff_dropped: u64,
    /// The health checkers' counters, on the worker that hosts them.
    pub health: Option<HealthCounters>,
}

/// A `show sticky` asked of one worker: at most `limit` bindings, source-IP ones first.
#[derive(Debug, Default)]
pub struct StickyDump {
    pub limit: usize,
    /// Set by the worker once answered.
    pub done: bool,
    pub client: Vec<StickyEntry>,
    pub cookies: Vec<StickyEntry>,
    /// How many bindings of each kind the worker holds.
    pub client_total: usize,
    pub cookie_total: usize,
}

/// Every worker's slot.
#[derive(Debug)]
pub struct StatsBoard {
    cores: Vec<Mutex<CoreStats>>,
    dumps: Vec<Mutex<Option<StickyDump>>>,
}

impl StatsBoard {
    pub fn new(workers: usize) -> StatsBoard {
        StatsBoard {
            cores: (0..workers).map(|_| Mutex::new(CoreStats::default())).collect(),
            dumps: (0..workers).map(|_| Mutex::new(None)).collect(),
        }
    }

    pub fn workers(&self) -> usize {
        self.cores.len()
    }

    /// Worker `core` publishes, unless the slot is being read right now.
    pub fn publish(&self, core: usize, fill: impl FnOnce(&mut CoreStats)) {
        if let Some(Ok(mut slot)) = self.cores.get(core).map(Mutex::try_lock) {
            fill(&mut slot);
        }
    }

    /// A copy of every worker's last publication.
    pub fn read(&self) -> Vec<CoreStats> {
        self.cores.iter().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }

    /// Worker `core` answers a pending `show sticky`, if one waits (never waiting itself).
    pub fn answer_dump(&self, core: usize, answer: impl FnOnce(&mut StickyDump)) {
        if let Some(Ok(mut slot)) = self.dumps.get(core).map(Mutex::try_lock) {
            if let Some(dump) = slot.as_mut().filter(|d| !d.done) {
                answer(dump);
                dump.done = true;
            }
        }
    }

    /// Asks every worker for its bindings and waits for the answers, at most `timeout`.
    /// `None` for a worker that did not answer in time.
    pub fn dump_sticky(&self, limit: usize, timeout: Duration) -> Vec<Option<StickyDump>> {
        for slot in &self.dumps {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(StickyDump { limit, ..StickyDump::default() });
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let done = self.dumps.iter().all(|s| s.lock().map(|d| d.as_ref().is_none_or(|d| d.done)).unwrap_or(true));
            if done || std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.dumps.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take().filter(|d| d.done)).collect()
    }
}

/// When a worker publishes next.
#[derive(Debug, Default)]
pub struct Publisher {
    pub next: Instant,
}

impl Publisher {
    /// Whether it is time, and if so, when the next time is.
    pub fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + PUBLISH_EVERY;
        true
    }
}
