//! Ports for a device with fewer queues than workers (a single-queue vdev such as net_pcap
//! or af_packet without `qpairs`): worker 0 owns the device's one queue pair, receives
//! everything and hands each frame to its owner (`runtime::peers`); the other workers send
//! through worker 0, over a bounded ring it drains into the device every turn.

use crossbeam_channel::{Receiver, Sender};

use crate::dpdk::{DpdkPort, Mbuf, Mempool};
use crate::port::{Port, PortStats};
use crate::time::Instant;

/// Frames one turn of worker 0 takes from a relay ring at most.
const RELAY_PER_TURN: usize = 256;
/// Frames a relay ring holds.
pub const RELAY_RING: usize = 4096;

/// One worker's port on one device.
pub enum RunPort {
    /// A queue pair this worker owns; `relayed` brings what other workers send on it.
    Queue { port: DpdkPort, relayed: Option<Receiver<Mbuf>>, scratch: Vec<Mbuf> },
    /// A device whose queue another worker owns: frames to send go to that worker.
    Relay { to: Sender<Mbuf>, pool: Mempool, stats: PortStats },
}

impl RunPort {
    pub fn queue(port: DpdkPort, relayed: Option<Receiver<Mbuf>>) -> RunPort {
        RunPort::Queue { port, relayed, scratch: Vec::with_capacity(RELAY_PER_TURN) }
    }

    pub fn relay(to: Sender<Mbuf>, pool: Mempool) -> RunPort {
        RunPort::Relay { to, pool, stats: PortStats::default() }
    }
}

impl Port for RunPort {
    type Buf = Mbuf;

    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Mbuf>, max: usize) {
        let RunPort::Queue { port, relayed, scratch } = self else { return };
        // Every turn passes here: the moment to send what the other workers relayed.
        if let Some(relayed) = relayed {
            scratch.extend(relayed.try_iter().take(RELAY_PER_TURN));
            if !scratch.is_empty() {
                port.tx_burst(now, scratch);
            }
        }
        port.rx_burst(now, out, max);
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut Vec<Mbuf>) -> usize {
        match self {
            RunPort::Queue { port, .. } => port.tx_burst(now, frames),
            RunPort::Relay { to, stats, .. } => {
                let mut sent = 0;
                for frame in frames.drain(..) {
                    stats.tx_bytes += frame.len() as u64;
                    match to.try_send(frame) {
                        Ok(()) => sent += 1,
                        Err(_) => stats.tx_dropped += 1, // the frame comes back and is freed
                    }
                }
                stats.tx_frames += sent as u64;
                sent
            }
        }
    }

    fn free(&mut self, frames: &mut Vec<Mbuf>) {
        match self {
            RunPort::Queue { port, .. } => port.free(frames),
            RunPort::Relay { .. } => Mbuf::free_bulk(frames),
        }
    }

    fn alloc(&mut self) -> Option<Mbuf> {
        match self {
            RunPort::Queue { port, .. } => port.alloc(),
            RunPort::Relay { pool, stats, .. } => {
                let m = pool.alloc();
                if m.is_none() {
                    stats.alloc_failed += 1;
                }
                m
            }
        }
    }

    fn stats(&self) -> PortStats {
        match self {
            RunPort::Queue { port, .. } => port.stats(),
            RunPort::Relay { stats, .. } => *stats,
        }
    }
}
