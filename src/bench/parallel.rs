//! Measures several workers at once, each on its own thread and core, as `run` runs them:
//! each owns its queue of every in-memory port and its engine, and they share nothing but
//! the hand-off rings and sticky messages of `runtime::cores`. One worker is measured the
//! same way, on a thread of its own.

use std::sync::Barrier;
use std::time::{Duration, Instant as StdInstant};

use super::{MbufPool, Meter};
use crate::dpdk;
use crate::engine::Counters;
use crate::port::mem::MemPort;
use crate::port::Port;
use crate::runtime::worker::Worker;
use crate::time::Instant;

/// A worker of the benchmarks.
pub(super) type BenchWorker = Worker<MemPort<MbufPool>>;

/// What the measured part of a run did, all workers together.
pub(super) struct Measured {
    pub meter: Meter,
    pub elapsed: Duration,
    /// Frames the ports delivered (every port, every worker).
    pub received: u64,
    /// Engine counters over the measured part, summed.
    pub before: Counters,
    pub after: Counters,
    /// Frames handed to another core, summed.
    pub handed_off: u64,
    /// The workers, for what the caller checks afterwards.
    pub workers: Vec<BenchWorker>,
}

/// Runs every worker on its own thread (worker `i` pinned to core `i`) through `warmup`
/// turns, then, all starting together, for `duration`; `clock(turn)` is the time of each
/// turn.
pub(super) fn measure(
    workers: Vec<BenchWorker>,
    warmup: u64,
    duration: Duration,
    clock: impl Fn(u64) -> Instant + Sync,
) -> Measured {
    let cores = dpdk::process_cores();
    let n = workers.len();
    let start_line = Barrier::new(n);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(i, mut worker)| {
                let (start_line, clock, core) = (&start_line, &clock, cores.get(i % cores.len().max(1)).copied());
                s.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    let lcore = dpdk::register_thread();
                    let mut turn = 0u64;
                    for _ in 0..warmup {
                        turn += 1;
                        worker.run_once(clock(turn));
                    }
                    let before = worker.engine().counters().clone();
                    let rx_before: u64 = worker.port_stats().iter().map(|s| s.rx_frames).sum();
                    let handed_before = worker.handed_off();
                    let mut meter = Meter::new();
                    start_line.wait();
                    meter.start();
                    let start = StdInstant::now();
                    while start.elapsed() < duration {
                        for _ in 0..1024 {
                            turn += 1;
                            let t = dpdk::tsc();
                            let got = worker.run_once(clock(turn));
                            meter.record(t, got);
                        }
                    }
                    let elapsed = start.elapsed();
                    meter.stop();
                    let received = worker.port_stats().iter().map(|s| s.rx_frames).sum::<u64>() - rx_before;
                    let handed = worker.handed_off() - handed_before;
                    if lcore.is_ok() {
                        dpdk::unregister_thread();
                    }
                    (worker, meter, elapsed, received, before, handed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench worker")).collect()
    });
    let mut m = Measured {
        meter: Meter::new(),
        elapsed: Duration::ZERO,
        received: 0,
        before: Counters::default(),
        after: Counters::default(),
        handed_off: 0,
        workers: Vec::with_capacity(n),
    };
    for (worker, meter, elapsed, received, before, handed) in results {
        m.meter.add(&meter);
        m.elapsed = m.elapsed.max(elapsed);
        m.received += received;
        m.before.add(&before);
        m.after.add(worker.engine().counters());
        m.handed_off += handed;
        m.workers.push(worker);
    }
    m
}

/// `count` per frame of `frames` (hand-offs per frame).
pub(super) fn per_frame(count: u64, frames: u64) -> f64 {
    if frames == 0 {
        0.0
    } else {
        count as f64 / frames as f64
    }
}

/// The ports' counters of every worker, summed per port.
pub(super) fn port_frames(workers: &[BenchWorker], port: usize) -> (u64, u64) {
    workers.iter().fold((0, 0), |(rx, tx), w| {
        let s = w.ports()[port].stats();
        (rx + s.rx_frames, tx + s.tx_frames)
    })
}
