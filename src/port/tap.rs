//! A port that records what it receives: every frame the inner port delivers is written to a
//! capture, stamped with the time the worker passed to `rx_burst`, the engine's own clock.
//!
//! That clock is what makes a recording replayable. On an L7 port the switch's initial
//! sequence numbers tick with it (every 4 µs) and its TCP timestamps count its milliseconds,
//! so the client's ACKs in a capture acknowledge numbers made from the live switch's `now`.
//! A capture taken beside the switch (tcpdump on its arms) stamps each frame with the
//! kernel's time, microseconds away from the switch's and on another epoch: replayed, the
//! switch answers with other numbers and the conversation falls apart. Recorded here, each
//! frame carries the very `now` the engine saw it at, and `stickwire replay` (which runs the
//! engine on the captures' timestamps) hands it the same frames at the same times.

use super::pcap::{CaptureError, CaptureWriter};
use super::{Port, PortStats};
use crate::time::Instant;

/// A port whose received frames are also written to a capture.
pub struct Tap<P> {
    inner: P,
    writer: Option<CaptureWriter>,
    /// The first write error; recording stopped there.
    error: Option<CaptureError>,
    /// Frames written.
    pub recorded: u64,
}

impl<P: Port> Tap<P> {
    /// Records what `inner` receives to `writer`, if given (else passes everything through).
    pub fn new(inner: P, writer: Option<CaptureWriter>) -> Tap<P> {
        Tap { inner, writer, error: None, recorded: 0 }
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// Flushes the capture; the inner port back, and the first error recording met, if any.
    pub fn finish(self) -> (P, Result<(), CaptureError>) {
        let result = match (self.error, self.writer) {
            (Some(e), _) => Err(e),
            (None, Some(w)) => w.finish(),
            (None, None) => Ok(()),
        };
        (self.inner, result)
    }
}

impl<P: Port> Port for Tap<P> {
    type Buf = P::Buf;

    fn rx_burst(&mut self, now: Instant, out: &mut Vec<P::Buf>, max: usize) {
        let start = out.len();
        self.inner.rx_burst(now, out, max);
        let Some(writer) = &mut self.writer else { return };
        for frame in &out[start..] {
            if let Err(e) = writer.write(now, frame.as_ref()) {
                self.error = Some(e);
                self.writer = None;
                return;
            }
            self.recorded += 1;
        }
    }

    fn tx_burst(&mut self, now: Instant, frames: &mut Vec<P::Buf>) -> usize {
        self.inner.tx_burst(now, frames)
    }

    fn free(&mut self, frames: &mut Vec<P::Buf>) {
        self.inner.free(frames)
    }

    fn alloc(&mut self) -> Option<P::Buf> {
        self.inner.alloc()
    }

    fn stats(&self) -> PortStats {
        self.inner.stats()
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.inner.next_arrival()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::pcap::{CaptureReader, PcapPort};

    fn capture(path: &std::path::Path, frames: &[(u64, Vec<u8>)]) {
        let mut w = CaptureWriter::create(path).unwrap();
        for (t, f) in frames {
            w.write(Instant::from_nanos(*t), f).unwrap();
        }
        w.finish().unwrap();
    }

    /// Frames are recorded with the clock of the turn that received them, not their own.
    #[test]
    fn records_each_frame_at_the_time_it_was_taken() {
        let dir = std::env::temp_dir().join(format!("stickwire-tap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, recorded) = (dir.join("in.pcap"), dir.join("rec.pcap"));
        capture(&input, &[(10, vec![1; 60]), (20, vec![2; 60]), (30, vec![3; 60])]);
        let port = PcapPort::new(Some(CaptureReader::open(&input).unwrap()), None);
        let mut tap = Tap::new(port, Some(CaptureWriter::create(&recorded).unwrap()));
        assert_eq!(tap.next_arrival(), Some(Instant::from_nanos(10)));
        let mut out = Vec::new();
        tap.rx_burst(Instant::from_nanos(25), &mut out, 32);
        tap.rx_burst(Instant::from_nanos(27), &mut out, 32);
        tap.rx_burst(Instant::from_nanos(99), &mut out, 32);
        assert_eq!(out.len(), 3);
        assert_eq!(tap.recorded, 3);
        let (_, result) = tap.finish();
        result.unwrap();
        let got: Vec<(u64, u8)> = CaptureReader::open(&recorded)
            .unwrap()
            .read_all()
            .into_iter()
            .map(|f| (f.time.as_nanos(), f.data[0]))
            .collect();
        assert_eq!(got, [(25, 1), (25, 2), (99, 3)]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
