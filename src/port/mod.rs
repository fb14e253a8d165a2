//! Ports: where frames come from and go to.
//!
//! A [`Port`] is one queue pair of one device, owned by one worker. The DPDK ethdev port
//! lives in `crate::dpdk`; the software ports here are a pcap replay/capture port and an
//! in-memory port for benchmarks.

pub mod mem;
pub mod pcap;
pub mod tap;

use crate::time::Instant;
use crate::wire::buffer::FrameBuf;

/// The most frames one `rx_burst` returns by default.
pub const BURST: usize = 32;

/// Burst receive and transmit of frame buffers.
pub trait Port {
    type Buf: FrameBuf;

    /// Appends to `out` up to `max` frames that have arrived by `now`.
    ///
    /// Live devices ignore `now`; a capture port delivers the frames whose timestamp is not
    /// later than `now`, so replay runs on the capture's clock.
    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Self::Buf>, max: usize);

    /// Sends every frame in `frames`, leaving it empty. Frames the device cannot take are
    /// freed and counted in `tx_dropped`. Returns how many were sent.
    fn tx_burst(&mut self, now: Instant, frames: &mut Vec<Self::Buf>) -> usize;

    /// Frees every frame in `frames` (dropped ones), leaving it empty. Ports over a pool
    /// free them in bulk.
    fn free(&mut self, frames: &mut Vec<Self::Buf>) {
        frames.clear();
    }

    /// A fresh, empty buffer for a frame the switch originates (ARP requests, gratuitous ARP).
    fn alloc(&mut self) -> Option<Self::Buf>;

    /// The port's counters.
    fn stats(&self) -> PortStats;

    /// When the next frame arrives, for a port whose frames carry their own arrival times
    /// (a capture); `None` when it has none waiting, and always for a live device.
    fn next_arrival(&self) -> Option<Instant> {
        None
    }
}

/// Counters every port keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames handed to `tx_burst` that the device did not take (freed, not leaked).
    pub tx_dropped: u64,
    /// Frames the device itself dropped on receive (ring full), where it reports them.
    pub rx_missed: u64,
    /// Buffer allocations that failed (pool empty).
    pub alloc_failed: u64,
}

impl PortStats {
    /// Adds another queue's counters to these.
    pub fn add(&mut self, other: &PortStats) {
        self.rx_frames += other.rx_frames;
        self.rx_bytes += other.rx_bytes;
        self.tx_frames += other.tx_frames;
        self.tx_bytes += other.tx_bytes;
        self.tx_dropped += other.tx_dropped;
        self.rx_missed += other.rx_missed;
        self.alloc_failed += other.alloc_failed;
    }
}
