//! The poll loop of one worker: receive a burst on each port, run every frame through the
//! engine, transmit what it produced. Generic over the port, so `run` (DPDK), `replay`
//! (captures) and the benchmarks (in-memory) all run this same code.

use std::time::Duration;

use crate::engine::{Engine, Output, Topology};
use crate::port::{Port, PortStats, BURST};
use crate::time::Instant;

/// One core's engine and its ports.
pub struct Worker<P: Port> {
    engine: Engine<P::Buf>,
    ports: Vec<P>,
    out: Output<P::Buf>,
    rx: Vec<P::Buf>,
    started: bool,
}

impl<P: Port> Worker<P> {
    /// A worker whose port `i` is the topology's port `i`.
    pub fn new(topology: Topology, ports: Vec<P>) -> Worker<P> {
        let out = Output::new(ports.len());
        Worker { engine: Engine::new(topology), ports, out, rx: Vec::with_capacity(BURST), started: false }
    }

    /// One turn of the loop at time `now`; returns how many frames were received.
    pub fn run_once(&mut self, now: Instant) -> usize {
        let Worker { engine, ports, out, rx, started } = self;
        if !*started {
            *started = true;
            engine.start(&mut || ports[0].alloc(), out);
        }
        let mut received = 0;
        for (i, port) in ports.iter_mut().enumerate() {
            port.rx_burst(now, rx, BURST);
            received += rx.len();
            for frame in rx.drain(..) {
                engine.process(i, frame, now, &mut || port.alloc(), out);
            }
        }
        engine.poll(now, &mut || ports[0].alloc(), out);
        for (port, frames) in ports.iter_mut().zip(out.tx.iter_mut()) {
            if !frames.is_empty() {
                port.tx_burst(now, frames);
            }
        }
        // Nothing on the control side consumes frames yet: they are counted and freed.
        out.control.clear();
        if !out.dropped.is_empty() {
            ports[0].free(&mut out.dropped);
        }
        received
    }

    pub fn engine(&self) -> &Engine<P::Buf> {
        &self.engine
    }

    pub fn ports(&self) -> &[P] {
        &self.ports
    }

    pub fn into_ports(self) -> Vec<P> {
        self.ports
    }

    /// The summed counters of this worker's ports.
    pub fn port_stats(&self) -> Vec<PortStats> {
        self.ports.iter().map(Port::stats).collect()
    }
}

/// Backs a busy-polling loop off when there is nothing to do, so that a small box running
/// clients and servers beside the switch is not starved: after `SPIN_POLLS` empty polls it
/// sleeps, starting at 1 µs and doubling up to `MAX_SLEEP`. Any traffic resets it.
#[derive(Debug, Default)]
pub struct IdleBackoff {
    empty_polls: u32,
    sleep: Duration,
    /// Times the loop slept, for stats.
    pub sleeps: u64,
}

impl IdleBackoff {
    pub const SPIN_POLLS: u32 = 256;
    pub const MAX_SLEEP: Duration = Duration::from_micros(500);

    /// Call after each turn of the loop with the number of frames it received.
    pub fn after_poll(&mut self, received: usize) {
        if received > 0 {
            self.empty_polls = 0;
            self.sleep = Duration::ZERO;
            return;
        }
        self.empty_polls = self.empty_polls.saturating_add(1);
        if self.empty_polls < Self::SPIN_POLLS {
            return;
        }
        self.sleep = (self.sleep * 2).clamp(Duration::from_micros(1), Self::MAX_SLEEP);
        self.sleeps += 1;
        std::thread::sleep(self.sleep);
    }

    /// The sleep the next idle poll would take (zero while spinning).
    pub fn current_sleep(&self) -> Duration {
        self.sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_sleeps_longer_then_resets() {
        let mut b = IdleBackoff::default();
        for _ in 0..IdleBackoff::SPIN_POLLS - 1 {
            b.after_poll(0);
        }
        assert_eq!(b.sleeps, 0);
        b.after_poll(0);
        b.after_poll(0);
        assert_eq!(b.sleeps, 2);
        assert_eq!(b.current_sleep(), Duration::from_micros(2));
        for _ in 0..20 {
            b.after_poll(0);
        }
        assert_eq!(b.current_sleep(), IdleBackoff::MAX_SLEEP);
        b.after_poll(3);
        assert_eq!(b.current_sleep(), Duration::ZERO);
    }
}
