//! What one re-enacted host sent of its stream, kept until it is no longer needed: to check
//! every byte the other side receives against it, exactly where it lies, and to send again
//! what the switch did not acknowledge.
//!
//! Bytes go once both the receiver has them and the switch acknowledged them. What a stalled
//! connection piles up is bounded by [`Sent::CAP`]: past it the oldest bytes go anyway,
//! counted as unchecked (they can be neither compared nor sent again).

use std::collections::{BTreeMap, VecDeque};

/// A sender's stream as it went out, from the oldest byte still needed.
#[derive(Debug, Default)]
pub struct Sent {
    /// The stream offset of `bytes[0]`.
    base: u64,
    /// Sent bytes from `base` on, without a gap.
    bytes: VecDeque<u8>,
    /// Pieces sent beyond the gapless part (a capture's out-of-order segments), by offset.
    ahead: BTreeMap<u64, Vec<u8>>,
    ahead_bytes: usize,
    /// Bytes let go over the cap before the receiver had them.
    pub unchecked: u64,
}

impl Sent {
    /// Bytes one direction keeps at most.
    pub const CAP: usize = 16 << 20;

    /// The offset after the gapless part: everything before it was sent.
    pub fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    /// Notes `data` sent at stream offset `at`. A byte sent again keeps its first value (the
    /// capture's reassembly does the same, and calls a difference a conflict).
    pub fn record(&mut self, at: u64, data: &[u8]) {
        let end = self.end();
        let skip = usize::try_from(end.saturating_sub(at)).unwrap_or(usize::MAX).min(data.len());
        if at > end {
            if !data.is_empty() && !self.ahead.contains_key(&at) {
                self.ahead_bytes += data.len();
                self.ahead.insert(at, data.to_vec());
            }
        } else {
            self.bytes.extend(&data[skip..]);
        }
        self.absorb_ahead();
        self.enforce_cap();
    }

    /// Moves pieces that now follow on into the gapless part.
    fn absorb_ahead(&mut self) {
        loop {
            let end = self.end();
            let Some(entry) = self.ahead.first_entry() else { break };
            let at = *entry.key();
            if at > end {
                break;
            }
            let piece = entry.remove();
            self.ahead_bytes -= piece.len();
            let skip = usize::try_from(end - at).unwrap_or(usize::MAX).min(piece.len());
            self.bytes.extend(&piece[skip..]);
        }
    }

    fn enforce_cap(&mut self) {
        let over = (self.bytes.len() + self.ahead_bytes).saturating_sub(Self::CAP).min(self.bytes.len());
        if over > 0 {
            self.bytes.drain(..over);
            self.base += over as u64;
            self.unchecked += over as u64;
        }
        // Pieces far ahead of a gap that never fills: the farthest go.
        while self.ahead_bytes > Self::CAP {
            let Some((_, piece)) = self.ahead.pop_last() else { break };
            self.ahead_bytes -= piece.len();
            self.unchecked += piece.len() as u64;
        }
    }

    /// Lets go of the bytes before `offset` (the receiver has them and the switch acknowledged
    /// them).
    pub fn release(&mut self, offset: u64) {
        let n = usize::try_from(offset.saturating_sub(self.base)).unwrap_or(usize::MAX).min(self.bytes.len());
        self.bytes.drain(..n);
        self.base += n as u64;
        if self.bytes.is_empty() && self.bytes.capacity() > 0 {
            // Nothing in flight: the room a burst took goes, so that a finished conversation
            // costs little.
            self.bytes = VecDeque::new();
        }
    }

    /// Where `data`, received at stream offset `at`, first differs from what was sent there.
    /// A byte that was never sent differs; one already let go is not checked.
    pub fn first_difference(&self, at: u64, data: &[u8]) -> Option<u64> {
        let end = at + data.len() as u64;
        // Bytes before `base`: let go, not checked.
        let start = at.max(self.base);
        // The gapless part.
        let upto = end.min(self.end());
        if start < upto {
            let (from, to) = ((start - self.base) as usize, (upto - self.base) as usize);
            let got = &data[(start - at) as usize..(upto - at) as usize];
            if let Some(i) = self.bytes.range(from..to).zip(got).position(|(a, b)| a != b) {
                return Some(start + i as u64);
            }
        }
        // Beyond it: only what was sent ahead.
        let mut at_ = upto.max(start);
        while at_ < end {
            let piece = self.ahead.range(..=at_).next_back().filter(|(&k, v)| k + v.len() as u64 > at_);
            let Some((&k, piece)) = piece else { return Some(at_) };
            let stop = end.min(k + piece.len() as u64);
            let sent = &piece[(at_ - k) as usize..(stop - k) as usize];
            let got = &data[(at_ - at) as usize..(stop - at) as usize];
            if let Some(i) = sent.iter().zip(got).position(|(a, b)| a != b) {
                return Some(at_ + i as u64);
            }
            at_ = stop;
        }
        None
    }

    /// Up to `len` bytes from `offset`, if still kept and gapless (to send again).
    pub fn get(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let from = usize::try_from(offset.checked_sub(self.base)?).ok()?;
        let to = self.bytes.len().min(from.saturating_add(len));
        (from < to).then(|| self.bytes.range(from..to).copied().collect())
    }

    /// Bytes kept now (for the memory bound).
    pub fn kept(&self) -> usize {
        self.bytes.len() + self.ahead_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_received_are_checked_where_they_lie_even_out_of_order() {
        let mut s = Sent::default();
        s.record(0, b"GET / HTTP/1.1\r\n");
        s.record(20, b"Cookie: a=b\r\n");
        s.record(16, b"Host");
        assert_eq!(s.end(), 33);
        assert_eq!(s.first_difference(0, b"GET / HTTP/1.1\r\nHost"), None);
        assert_eq!(s.first_difference(4, b"/ HTTP/1.0"), Some(13));
        // Sent again with other bytes: the first copy stands.
        s.record(0, b"PUT");
        assert_eq!(s.first_difference(0, b"GET"), None);
        // Beyond what was sent: a difference where it starts.
        assert_eq!(s.first_difference(31, b"\r\nXY"), Some(33));
        s.record(40, b"tail");
        assert_eq!(s.first_difference(40, b"tail"), None);
        assert_eq!(s.first_difference(38, b"..ta"), Some(38));
    }

    #[test]
    fn released_bytes_are_not_checked_and_cannot_be_sent_again() {
        let mut s = Sent::default();
        s.record(0, b"0123456789");
        s.release(4);
        assert_eq!(s.first_difference(0, b"xxxx45"), None);
        assert_eq!(s.first_difference(0, b"xxxx4x"), Some(5));
        assert_eq!(s.get(2, 4), None);
        assert_eq!(s.get(4, 3).as_deref(), Some(&b"456"[..]));
        assert_eq!(s.kept(), 6);
    }

    #[test]
    fn pieces_ahead_of_a_gap_that_never_fills_are_bounded_too() {
        let mut s = Sent::default();
        let chunk = vec![7u8; 1 << 20];
        for i in 1..20u64 {
            s.record(i << 21, &chunk);
        }
        assert_eq!((s.end(), s.kept()), (0, Sent::CAP));
        assert_eq!(s.unchecked, 3 << 20);
        assert_eq!(s.first_difference(1 << 21, &chunk), None);
    }

    #[test]
    fn a_stalled_stream_keeps_at_most_the_cap() {
        let mut s = Sent::default();
        let chunk = vec![7u8; 1 << 20];
        for i in 0..20u64 {
            s.record(i << 20, &chunk);
        }
        assert_eq!(s.kept(), Sent::CAP);
        assert_eq!(s.unchecked, 4 << 20);
        assert_eq!(s.end(), 20 << 20);
    }
}
