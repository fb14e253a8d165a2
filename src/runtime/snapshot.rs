//! The service snapshot every worker runs on, and where it is published.
//!
//! The control side builds a whole [`Snapshot`] for every change (a server's state or weight,
//! a health result, a reload), off the data path, and stores it in one [`ArcSwap`]; each
//! worker loads it at the start of its next turn (one atomic load when nothing changed) and
//! switches to it whole. So no worker rebuilds a table, and no two cores run on different
//! server sets for longer than a turn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::control::state::{ControlState, HealthPlan};
use crate::engine::service::Services;
use crate::engine::Topology;
use crate::runtime::peers::{DispatchView, LoadBoard};

/// Everything the workers take from the control side, as of one generation.
#[derive(Debug)]
pub struct Snapshot {
    /// Counts the snapshots built; a worker switches when it sees a new one.
    pub generation: u64,
    pub services: Arc<Services>,
    /// Which core owns a frame, for these servers and VIP ports.
    pub dispatch: Arc<DispatchView>,
    /// Where the workers publish their flows per server (replaced when servers are added).
    pub load: Arc<LoadBoard>,
    /// The health checks worker 0 runs.
    pub health: Arc<HealthPlan>,
}

/// Where snapshots are published.
pub type Snapshots = Arc<ArcSwap<Snapshot>>;

/// The generation each worker runs on, as each last said.
#[derive(Debug)]
pub struct Applied(Vec<AtomicU64>);

impl Applied {
    pub fn new(workers: usize) -> Arc<Applied> {
        Arc::new(Applied((0..workers).map(|_| AtomicU64::new(0)).collect()))
    }

    /// Worker `core` runs on `generation` from now on.
    pub fn mark(&self, core: usize, generation: u64) {
        if let Some(g) = self.0.get(core) {
            g.store(generation, Ordering::Release);
        }
    }

    /// Whether every worker runs on `generation` or a later one.
    pub fn all_at(&self, generation: u64) -> bool {
        self.0.iter().all(|g| g.load(Ordering::Acquire) >= generation)
    }
}

/// The control side's state behind a lock, and the snapshots it publishes: whoever changes
/// the state (an admin call, a health result, a reload) publishes the snapshot it makes
/// before letting go of the lock, so snapshots go out in the order of the changes.
pub struct Control {
    state: Mutex<ControlState>,
    published: Snapshots,
    applied: Arc<Applied>,
    topology: Topology,
    workers: usize,
}

impl Control {
    /// Publishes `state`'s snapshot as the first.
    pub fn new(state: ControlState, topology: Topology, workers: usize) -> Control {
        let first = snapshot(&state, &topology, workers, None);
        let published = Arc::new(ArcSwap::from_pointee(first));
        Control { state: Mutex::new(state), published, applied: Applied::new(workers), topology, workers }
    }

    /// Where the workers say which generation they run on.
    pub fn applied(&self) -> Arc<Applied> {
        Arc::clone(&self.applied)
    }

    /// Waits until every worker runs on the snapshot published last (a turn each), at most
    /// `timeout`; whether they all did.
    pub fn wait_applied(&self, timeout: Duration) -> bool {
        let generation = self.published.load().generation;
        let deadline = std::time::Instant::now() + timeout;
        while !self.applied.all_at(generation) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Where the workers load snapshots from.
    pub fn snapshots(&self) -> Snapshots {
        Arc::clone(&self.published)
    }

    /// The snapshot published last.
    pub fn current(&self) -> Arc<Snapshot> {
        self.published.load_full()
    }

    /// Runs `change` on the state; if it built a new snapshot, publishes it.
    pub fn change<R>(&self, change: impl FnOnce(&mut ControlState) -> R) -> R {
        let mut state = self.lock();
        let result = change(&mut state);
        let current = self.published.load();
        if state.generation() != current.generation {
            let next = snapshot(&state, &self.topology, self.workers, Some(&current.load));
            drop(current);
            self.published.store(Arc::new(next));
        }
        result
    }

    /// Reads the state (answers to the operator).
    pub fn read<R>(&self, read: impl FnOnce(&ControlState) -> R) -> R {
        read(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn snapshot(state: &ControlState, topology: &Topology, workers: usize, load: Option<&Arc<LoadBoard>>) -> Snapshot {
    let services = state.services();
    let load = match load {
        Some(board) if board.servers() == services.servers.len() => Arc::clone(board),
        _ => LoadBoard::new(workers, services.servers.len()),
    };
    Snapshot {
        generation: state.generation(),
        dispatch: Arc::new(DispatchView::new(topology, services, workers)),
        services: Arc::new(services.clone()),
        load,
        health: state.health_plan(),
    }
}
