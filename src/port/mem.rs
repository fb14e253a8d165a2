//! In-memory ports: no syscalls and no NIC, so what runs over them measures the engine's own
//! cost, and tests run the multi-core path without a device.
//!
//! - [`MemPort`]: one queue that receives copies of a fixed set of frames, round robin, as
//!   fast as they are asked for, and counts (then recycles) what it sends (benchmarks);
//!   [`spread`] splits such a set over several queues as a NIC's RSS would.
//! - [`MemDevice`]: a device of several queues fed frame by frame, each frame put on the
//!   queue RSS picks (the same Toeplitz key and redirection table as a DPDK port's,
//!   `wire::rss`), what each queue sends kept in order (tests).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::{Port, PortStats};
use crate::time::Instant;
use crate::wire::buffer::{FrameBuf, MAX_FRAME_LEN};
use crate::wire::rss::Rss;

/// Where an in-memory port gets its buffers and gives them back.
pub trait BufPool {
    type Buf: FrameBuf;
    /// An empty buffer, or `None` when the pool is exhausted.
    fn get(&mut self) -> Option<Self::Buf>;
    /// Takes a sent buffer back.
    fn recycle(&mut self, buf: Self::Buf);
    /// Takes back every buffer in `bufs`, leaving it empty.
    fn recycle_all(&mut self, bufs: &mut Vec<Self::Buf>) {
        for buf in bufs.drain(..) {
            self.recycle(buf);
        }
    }
    /// Appends up to `n` empty buffers to `out` (a pool may do this faster than `n` gets).
    fn get_bulk(&mut self, out: &mut Vec<Self::Buf>, n: usize) {
        out.extend(std::iter::from_fn(|| self.get()).take(n));
    }
}

/// A pool of `Vec<u8>` buffers that reuses what is sent.
#[derive(Debug, Default)]
pub struct VecPool {
    free: Vec<Vec<u8>>,
}

impl BufPool for VecPool {
    type Buf = Vec<u8>;

    fn get(&mut self) -> Option<Vec<u8>> {
        Some(self.free.pop().unwrap_or_else(|| Vec::with_capacity(MAX_FRAME_LEN)))
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.free.push(buf);
    }
}

/// The frames an in-memory port delivers, one after another in one buffer: delivering them
/// reads memory in order, as a NIC's DMA fills its ring, however the heap had scattered the
/// frames handed in (a second worker's set, built beside the first's, was spread so and
/// copied a third slower). Packed without padding: a NIC reads nothing to deliver a frame,
/// and the copy here should read no more than the frame (at 64-byte boundaries, a 66-byte
/// frame cost two lines and `l7-spliced-100k` read ~0.02 lower against its reference).
#[derive(Debug, Default)]
struct Templates {
    bytes: Vec<u8>,
    /// Each frame's start in `bytes` and length.
    spans: Vec<(usize, usize)>,
}

impl Templates {
    fn new(frames: Vec<Vec<u8>>) -> Templates {
        let mut t = Templates {
            bytes: Vec::with_capacity(frames.iter().map(Vec::len).sum()),
            spans: Vec::with_capacity(frames.len()),
        };
        for frame in &frames {
            t.spans.push((t.bytes.len(), frame.len()));
            t.bytes.extend_from_slice(frame);
        }
        t
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.bytes[start..start + len]
    }
}

/// The in-memory port.
pub struct MemPort<P: BufPool> {
    frames: Templates,
    next: usize,
    /// Frames still to deliver; `None` for no end.
    remaining: Option<u64>,
    /// Frames one `rx_burst` delivers at most, whatever the caller asks.
    burst: usize,
    pool: P,
    stats: PortStats,
}

impl<P: BufPool> MemPort<P> {
    /// A port that delivers `frames` round robin, `limit` frames in all (or without end).
    pub fn new(frames: Vec<Vec<u8>>, limit: Option<u64>, pool: P) -> MemPort<P> {
        MemPort {
            frames: Templates::new(frames),
            next: 0,
            remaining: limit,
            burst: usize::MAX,
            pool,
            stats: PortStats::default(),
        }
    }

    /// Delivers at most `burst` frames per `rx_burst` (so that two ports' frames interleave
    /// in a set order, turn by turn).
    pub fn with_burst(mut self, burst: usize) -> MemPort<P> {
        self.burst = burst.max(1);
        self
    }
}

/// `frames` spread over `queues` queues as `rss` puts them, each queue's in their order.
pub fn spread(frames: Vec<Vec<u8>>, rss: &Rss, queues: u16) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![Vec::new(); usize::from(queues.max(1))];
    for frame in frames {
        let q = usize::from(rss.queue_of(&frame)) % out.len();
        out[q].push(frame);
    }
    out
}

/// Frames one queue of a [`MemDevice`] holds; past it frames are dropped and counted.
pub const DEVICE_RING: usize = 4096;

/// A device of several queues in memory, fed frame by frame (see the module's doc).
pub struct MemDevice {
    /// `None`: every frame on queue 0.
    rss: Option<Arc<Rss>>,
    queues: Vec<Sender<Vec<u8>>>,
    sent: Receiver<Vec<u8>>,
    /// Frames dropped because their queue's ring was full.
    pub missed: u64,
}

/// One queue of a [`MemDevice`], a worker's [`Port`].
pub struct MemQueue {
    rx: Receiver<Vec<u8>>,
    tx: Sender<Vec<u8>>,
    stats: PortStats,
}

impl MemDevice {
    /// A device of `queues` queues spread by `rss` (or all on queue 0), and its queues.
    pub fn new(queues: u16, rss: Option<Arc<Rss>>) -> (MemDevice, Vec<MemQueue>) {
        let (sent_tx, sent) = crossbeam_channel::unbounded();
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..queues.max(1)).map(|_| crossbeam_channel::bounded(DEVICE_RING)).unzip();
        let handles =
            rxs.into_iter().map(|rx| MemQueue { rx, tx: sent_tx.clone(), stats: PortStats::default() }).collect();
        (MemDevice { rss, queues: txs, sent, missed: 0 }, handles)
    }

    /// A frame arrives from the wire: it goes to the queue RSS picks, which is returned.
    pub fn receive(&mut self, frame: Vec<u8>) -> u16 {
        let q = self.rss.as_ref().map_or(0, |rss| rss.queue_of(&frame)) % self.queues.len() as u16;
        if self.queues[usize::from(q)].try_send(frame).is_err() {
            self.missed += 1;
        }
        q
    }

    /// What the queues sent since the last call, in order.
    pub fn take_sent(&self) -> Vec<Vec<u8>> {
        self.sent.try_iter().collect()
    }
}

impl Port for MemQueue {
    type Buf = Vec<u8>;

    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>, max: usize) {
        for frame in self.rx.try_iter().take(max) {
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += frame.len() as u64;
            out.push(frame);
        }
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut Vec<Vec<u8>>) -> usize {
        let mut sent = 0;
        for frame in frames.drain(..) {
            let len = frame.len() as u64;
            match self.tx.send(frame) {
                Ok(()) => {
                    sent += 1;
                    self.stats.tx_bytes += len;
                }
                Err(_) => self.stats.tx_dropped += 1,
            }
        }
        self.stats.tx_frames += sent as u64;
        sent
    }

    fn alloc(&mut self) -> Option<Vec<u8>> {
        Some(Vec::with_capacity(MAX_FRAME_LEN))
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

impl<P: BufPool> Port for MemPort<P> {
    type Buf = P::Buf;

    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<P::Buf>, max: usize) {
        if self.frames.len() == 0 {
            return;
        }
        let mut n = max.min(self.burst) as u64;
        if let Some(left) = &mut self.remaining {
            n = n.min(*left);
            *left -= n;
        }
        let first = out.len();
        self.pool.get_bulk(out, n as usize);
        self.stats.alloc_failed += n - (out.len() - first) as u64;
        let mut i = first;
        while i < out.len() {
            let frame = self.frames.get(self.next);
            self.next = (self.next + 1) % self.frames.len();
            if out[i].try_copy_from(frame) {
                self.stats.rx_frames += 1;
                self.stats.rx_bytes += frame.len() as u64;
                i += 1;
            } else {
                self.stats.rx_missed += 1;
                out.swap_remove(i);
            }
        }
    }

    fn tx_burst(&mut self, _now: Instant, frames: &mut Vec<P::Buf>) -> usize {
        let sent = frames.len();
        self.stats.tx_frames += sent as u64;
        self.stats.tx_bytes += frames.iter().map(|b| b.as_ref().len() as u64).sum::<u64>();
        self.pool.recycle_all(frames);
        sent
    }

    fn free(&mut self, frames: &mut Vec<P::Buf>) {
        self.pool.recycle_all(frames);
    }

    fn alloc(&mut self) -> Option<P::Buf> {
        let buf = self.pool.get();
        if buf.is_none() {
            self.stats.alloc_failed += 1;
        }
        buf
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_round_robin_up_to_the_limit_and_counts_sends() {
        let mut port = MemPort::new(vec![vec![1; 60], vec![2; 64]], Some(5), VecPool::default());
        let mut rx = Vec::new();
        port.rx_burst(Instant::ZERO, &mut rx, 4);
        assert_eq!(rx.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![1, 2, 1, 2]);
        assert_eq!(port.tx_burst(Instant::ZERO, &mut rx), 4);
        assert!(rx.is_empty());
        port.rx_burst(Instant::ZERO, &mut rx, 4);
        assert_eq!(rx.len(), 1);
        port.rx_burst(Instant::ZERO, &mut rx, 4);
        assert_eq!(rx.len(), 1);
        let stats = port.stats();
        assert_eq!((stats.rx_frames, stats.tx_frames, stats.tx_bytes), (5, 4, 248));
    }

    fn frame(src: [u8; 4], sport: u16) -> Vec<u8> {
        let s = crate::craft::Segment { src_port: sport, dst_port: 80, flags: 0x02, ..Default::default() };
        let (src, dst) = (std::net::Ipv4Addr::from(src), std::net::Ipv4Addr::new(198, 18, 0, 100));
        crate::craft::tcp_frame(crate::wire::MacAddr::ZERO, crate::wire::MacAddr::ZERO, src, dst, &s)
    }

    #[test]
    fn frames_spread_over_queues_by_rss_in_order() {
        use crate::wire::rss::{Fields, SYMMETRIC_KEY};
        let rss = Arc::new(Rss::new(&SYMMETRIC_KEY, Fields::Source, 4, 128));
        let random = |i: u64| crate::engine::hash::mix(i, 7);
        let frames: Vec<Vec<u8>> =
            (0..400).map(|i| frame((random(i) as u32).to_be_bytes(), (random(i) >> 32) as u16)).collect();
        let queues = spread(frames.clone(), &rss, 4);
        assert!(queues.iter().all(|q| q.len() > 50), "{:?}", queues.iter().map(Vec::len).collect::<Vec<_>>());
        let (mut device, mut ports) = MemDevice::new(4, Some(Arc::clone(&rss)));
        for f in &frames {
            let q = device.receive(f.clone());
            assert_eq!(q, rss.queue_of(f));
        }
        for (q, port) in ports.iter_mut().enumerate() {
            let mut got = Vec::new();
            port.rx_burst(Instant::ZERO, &mut got, usize::MAX);
            assert_eq!(got, queues[q], "queue {q} holds its frames in order");
            assert_eq!(port.tx_burst(Instant::ZERO, &mut got), queues[q].len());
        }
        assert_eq!(device.take_sent().len(), 400);
        assert_eq!(device.missed, 0);
    }

    #[test]
    fn a_full_device_ring_drops_and_counts() {
        let (mut device, _ports) = MemDevice::new(1, None);
        for i in 0..DEVICE_RING + 3 {
            device.receive(frame([10, 0, 0, 1], i as u16));
        }
        assert_eq!(device.missed, 3);
    }
}
