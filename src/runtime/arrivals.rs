//! `run --clock capture`: the worker's clock taken from the frames' receive timestamps
//! instead of the machine's, for a device that replays a capture (net_pcap, whose timestamps
//! are the capture's, in microseconds).
//!
//! net_pcap hands out a capture's frames as fast as the worker takes them. On the machine's
//! clock the whole capture then arrives within a few milliseconds, and an L7 port's ISNs and
//! TCP timestamps (which tick with the clock) come out other than when the capture was
//! made: the recorded client acknowledges numbers the switch never sent. On the frames' own
//! clock the worker runs as `replay` does ([`Worker::run_to_next_arrival`]): each frame at its
//! time, the engine's deadlines between frames at theirs, and the clock stops at the last
//! frame.
//!
//! [`Worker::run_to_next_arrival`]: crate::runtime::worker::Worker::run_to_next_arrival

use std::collections::VecDeque;

use crate::dpdk::{Mbuf, RxTimestamp};
use crate::port::{Port, PortStats, BURST};
use crate::time::Instant;

/// A port whose frames are delivered at their receive timestamps (when `field` is given),
/// else as they come.
pub struct Arrivals<P> {
    inner: P,
    field: Option<RxTimestamp>,
    /// Frames taken from the device, with their arrival times (never decreasing).
    waiting: VecDeque<(Instant, Mbuf)>,
    scratch: Vec<Mbuf>,
    last: Instant,
}

impl<P: Port<Buf = Mbuf>> Arrivals<P> {
    /// Delivers `inner`'s frames at their receive timestamps (in microseconds) if `field` is
    /// given, else passes everything through on the caller's clock.
    pub fn new(inner: P, field: Option<RxTimestamp>) -> Arrivals<P> {
        Arrivals { inner, field, waiting: VecDeque::new(), scratch: Vec::with_capacity(BURST), last: Instant::ZERO }
    }

    /// Takes what the device has, so that [`Port::next_arrival`] knows the next frame: call
    /// before each turn. A frame without a timestamp, or with one earlier than the frame
    /// before it, arrives with the one before (the clock never goes back).
    pub fn fill(&mut self) {
        let Some(field) = self.field else { return };
        if self.waiting.len() >= BURST {
            return;
        }
        self.inner.rx_burst(self.last, &mut self.scratch, BURST);
        for frame in self.scratch.drain(..) {
            let time = frame.rx_timestamp(field).map_or(self.last, |us| Instant::from_nanos(us.saturating_mul(1000)));
            self.last = self.last.max(time);
            self.waiting.push_back((self.last, frame));
        }
    }
}

impl<P: Port<Buf = Mbuf>> Port for Arrivals<P> {
    type Buf = Mbuf;

    fn rx_burst(&mut self, now: Instant, out: &mut Vec<Mbuf>, max: usize) {
        if self.field.is_none() {
            return self.inner.rx_burst(now, out, max);
        }
        for _ in 0..max {
            match self.waiting.front() {
                Some((time, _)) if *time <= now => {}
                _ => return,
            }
            if let Some((_, frame)) = self.waiting.pop_front() {
                out.push(frame);
            }
        }
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut Vec<Mbuf>) -> usize {
        self.inner.tx_burst(now, frames)
    }

    fn free(&mut self, frames: &mut Vec<Mbuf>) {
        self.inner.free(frames)
    }

    fn alloc(&mut self) -> Option<Mbuf> {
        self.inner.alloc()
    }

    fn stats(&self) -> PortStats {
        self.inner.stats()
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.waiting.front().map(|(time, _)| *time)
    }
}
