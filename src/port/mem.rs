//! An in-memory port for benchmarks: it receives copies of a fixed set of frames, round
//! robin, as fast as they are asked for, and counts (then recycles) what it sends. No
//! syscalls and no NIC, so a benchmark over it measures the engine's own cost.

use super::{Port, PortStats};
use crate::time::Instant;
use crate::wire::buffer::{FrameBuf, MAX_FRAME_LEN};

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

/// The in-memory port.
pub struct MemPort<P: BufPool> {
    frames: Vec<Vec<u8>>,
    next: usize,
    /// Frames still to deliver; `None` for no end.
    remaining: Option<u64>,
    pool: P,
    stats: PortStats,
}

impl<P: BufPool> MemPort<P> {
    /// A port that delivers `frames` round robin, `limit` frames in all (or without end).
    pub fn new(frames: Vec<Vec<u8>>, limit: Option<u64>, pool: P) -> MemPort<P> {
        MemPort { frames, next: 0, remaining: limit, pool, stats: PortStats::default() }
    }
}

impl<P: BufPool> Port for MemPort<P> {
    type Buf = P::Buf;

    fn rx_burst(&mut self, _now: Instant, out: &mut Vec<P::Buf>, max: usize) {
        if self.frames.is_empty() {
            return;
        }
        let mut n = max as u64;
        if let Some(left) = &mut self.remaining {
            n = n.min(*left);
            *left -= n;
        }
        let first = out.len();
        self.pool.get_bulk(out, n as usize);
        self.stats.alloc_failed += n - (out.len() - first) as u64;
        let mut i = first;
        while i < out.len() {
            let frame = &self.frames[self.next];
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
}
