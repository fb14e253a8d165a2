//! A DPDK queue pair as a [`Port`].

use super::error::DpdkError;
use super::ethdev::{EthPort, PortId, QueueId, RxTxQueue};
use super::mbuf::Mbuf;
use super::mempool::Mempool;
use crate::port::{Port, PortStats};
use crate::time::Instant;

/// One queue pair of a DPDK port, for one worker thread: the live data path's [`Port`].
#[derive(Debug)]
pub struct DpdkPort {
    queue: RxTxQueue,
    pool: Mempool,
    alloc_failed: u64,
}

impl DpdkPort {
    /// Queue pair `queue` of `port`; frames the switch originates come from the port's pool.
    pub fn new(port: &EthPort, queue: QueueId) -> Result<DpdkPort, DpdkError> {
        let queue = port.queue(queue)?;
        let pool = queue.pool().clone();
        Ok(DpdkPort { queue, pool, alloc_failed: 0 })
    }

    /// A port over a queue handle, allocating from `pool`.
    pub fn from_queue(queue: RxTxQueue, pool: Mempool) -> DpdkPort {
        DpdkPort { queue, pool, alloc_failed: 0 }
    }

    pub fn port_id(&self) -> PortId {
        self.queue.port_id()
    }

    pub fn queue_id(&self) -> QueueId {
        self.queue.queue_id()
    }

    pub fn queue(&self) -> &RxTxQueue {
        &self.queue
    }
}

impl Port for DpdkPort {
    type Buf = Mbuf;

    #[inline]
    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Mbuf>, max: usize) {
        self.queue.rx_burst(out, max);
    }

    #[inline]
    fn tx_burst(&mut self, _now: Instant, frames: &mut Vec<Mbuf>) -> usize {
        self.queue.tx_burst(frames)
    }

    fn free(&mut self, frames: &mut Vec<Mbuf>) {
        Mbuf::free_bulk(frames);
    }

    fn alloc(&mut self) -> Option<Mbuf> {
        let m = self.pool.alloc();
        if m.is_none() {
            self.alloc_failed += 1;
        }
        m
    }

    /// This queue's counters. `rx_missed` adds the device's `imissed + rx_nombuf`, which are
    /// per port: only queue 0 reports them, so summing over queues counts them once.
    fn stats(&self) -> PortStats {
        let mut s = self.queue.counters();
        s.alloc_failed = self.alloc_failed;
        if self.queue.queue_id().0 == 0 {
            if let Ok(dev) = self.queue.device_stats() {
                s.rx_missed += dev.imissed + dev.rx_nombuf;
            }
        }
        s
    }
}
