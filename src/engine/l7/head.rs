//! Buffers for the request heads an L7 port reads before it binds a connection.
//!
//! A fixed pool per core: `slots` buffers of the largest head limit, allocated once (the
//! kernel backs pages only as heads are written). A connection takes a buffer with its first
//! data segment and gives it back once the server has acknowledged what it held. Segments
//! may come out of order: bytes beyond the contiguous part are kept at their offset, their
//! ranges noted (a few per head; more, and a segment waits for its retransmission).

/// Out-of-order ranges a head keeps at most.
const GAPS: usize = 4;

/// Where the bytes of one head stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ranges {
    /// `(start, end)` byte offsets received beyond the contiguous part, sorted, disjoint.
    ranges: [(u32, u32); GAPS],
    n: u8,
}

/// What storing a segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Bytes from the start of the head received without a hole.
    pub contiguous: u32,
    /// Part of the segment lay beyond the buffer (the head is over its limit).
    pub overflow: bool,
}

/// The head buffers of one core.
#[derive(Debug)]
pub struct HeadPool {
    bytes: Vec<u8>,
    slot_len: usize,
    free: Vec<u32>,
    ranges: Vec<Ranges>,
}

/// Names no buffer.
pub const NO_HEAD: u32 = u32::MAX;

impl HeadPool {
    /// `slots` buffers of `slot_len` bytes each.
    pub fn new(slots: usize, slot_len: usize) -> HeadPool {
        HeadPool {
            bytes: vec![0; slots * slot_len],
            slot_len,
            free: (0..slots as u32).rev().collect(),
            ranges: vec![Ranges::default(); slots],
        }
    }

    /// Buffers not in use.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    pub fn capacity(&self) -> usize {
        self.ranges.len()
    }

    /// A buffer, empty, or `None` when all are in use.
    pub fn take(&mut self) -> Option<u32> {
        let slot = self.free.pop()?;
        self.ranges[slot as usize] = Ranges::default();
        Some(slot)
    }

    /// Gives a buffer back (once; [`NO_HEAD`] is ignored).
    pub fn give_back(&mut self, slot: u32) {
        if slot != NO_HEAD && (slot as usize) < self.ranges.len() {
            debug_assert!(!self.free.contains(&slot), "head buffer given back twice");
            self.free.push(slot);
        }
    }

    /// The first `len` bytes of buffer `slot`.
    pub fn bytes(&self, slot: u32, len: u32) -> &[u8] {
        let start = slot as usize * self.slot_len;
        &self.bytes[start..start + (len as usize).min(self.slot_len)]
    }

    /// Stores `data`, the head's bytes from offset `at`, into buffer `slot` whose first
    /// `contiguous` bytes are already in; bytes up to `limit` (at most the buffer) are kept.
    pub fn store(&mut self, slot: u32, contiguous: u32, at: u32, data: &[u8], limit: usize) -> Stored {
        let limit = limit.min(self.slot_len) as u32;
        let end = at.saturating_add(data.len() as u32);
        let overflow = end > limit;
        let end = end.min(limit);
        if end <= at || end <= contiguous {
            return Stored { contiguous, overflow };
        }
        let ranges = &mut self.ranges[slot as usize];
        if at > contiguous && !note_range(ranges, at, end) {
            // Too many holes: the client sends it again.
            return Stored { contiguous, overflow };
        }
        let base = slot as usize * self.slot_len;
        let keep = &data[..(end - at) as usize];
        self.bytes[base + at as usize..base + end as usize].copy_from_slice(keep);
        let mut contiguous = if at <= contiguous { end } else { contiguous };
        // Ranges the new bytes reach join the contiguous part.
        while ranges.n > 0 && ranges.ranges[0].0 <= contiguous {
            contiguous = contiguous.max(ranges.ranges[0].1);
            ranges.ranges.copy_within(1.., 0);
            ranges.n -= 1;
        }
        Stored { contiguous, overflow }
    }
}

/// Notes `[start, end)` among the ranges, merging the ones it touches; false when that
/// would take more ranges than there is room for.
fn note_range(r: &mut Ranges, start: u32, end: u32) -> bool {
    let (mut merged, mut out, mut m) = ((start, end), [(0u32, 0u32); GAPS + 1], 0);
    for &(s, e) in &r.ranges[..usize::from(r.n)] {
        if e < merged.0 {
            out[m] = (s, e);
            m += 1;
        } else if s > merged.1 {
            // Past the new range: it goes before this one (and the rest follow).
            if merged.0 != u32::MAX {
                out[m] = merged;
                m += 1;
                merged = (u32::MAX, u32::MAX);
            }
            out[m] = (s, e);
            m += 1;
        } else {
            merged = (merged.0.min(s), merged.1.max(e));
        }
        if m > GAPS {
            return false;
        }
    }
    if merged.0 != u32::MAX {
        out[m] = merged;
        m += 1;
    }
    if m > GAPS {
        return false;
    }
    r.ranges[..m].copy_from_slice(&out[..m]);
    r.n = m as u8;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_segments_add_up() {
        let mut p = HeadPool::new(2, 64);
        let s = p.take().unwrap();
        assert_eq!(p.store(s, 0, 0, b"GET / HT", 64), Stored { contiguous: 8, overflow: false });
        assert_eq!(p.store(s, 8, 8, b"TP/1.1\r\n", 64).contiguous, 16);
        assert_eq!(p.bytes(s, 16), b"GET / HTTP/1.1\r\n");
        // A retransmission of what is in changes nothing.
        assert_eq!(p.store(s, 16, 0, b"GET / HT", 64).contiguous, 16);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        let mut p = HeadPool::new(1, 64);
        let s = p.take().unwrap();
        assert_eq!(p.store(s, 0, 10, b"klmno", 64).contiguous, 0);
        assert_eq!(p.store(s, 0, 20, b"uvw", 64).contiguous, 0);
        assert_eq!(p.store(s, 0, 0, b"abcde", 64).contiguous, 5);
        assert_eq!(p.store(s, 5, 5, b"fghij", 64).contiguous, 15, "the hole filled, 10..15 joins");
        assert_eq!(p.store(s, 15, 15, b"pqrst", 64).contiguous, 23);
        assert_eq!(p.bytes(s, 23), b"abcdefghijklmnopqrstuvw");
    }

    #[test]
    fn too_many_holes_and_overlong_heads() {
        let mut p = HeadPool::new(1, 64);
        let s = p.take().unwrap();
        for i in 0..4 {
            assert_eq!(p.store(s, 0, 10 + 4 * i, b"x", 64).contiguous, 0);
        }
        // A fifth hole is not kept...
        p.store(s, 0, 40, b"y", 64);
        // ...but a segment joining two ranges is.
        assert_eq!(p.store(s, 0, 0, &[b'a'; 11], 64).contiguous, 11);
        let over = p.store(s, 11, 11, &[b'b'; 60], 32);
        assert_eq!(over, Stored { contiguous: 32, overflow: true });
    }

    #[test]
    fn buffers_are_taken_and_given_back() {
        let mut p = HeadPool::new(2, 16);
        let (a, b) = (p.take().unwrap(), p.take().unwrap());
        assert_ne!(a, b);
        assert_eq!(p.take(), None);
        p.give_back(a);
        p.give_back(NO_HEAD);
        assert_eq!(p.available(), 1);
        assert_eq!(p.take(), Some(a));
    }

    proptest::proptest! {
        /// Whatever the order and overlap of the segments, once every byte came the head is
        /// whole and right.
        #[test]
        fn any_segment_order_gives_the_head(cuts in proptest::collection::vec(1usize..40, 1..12), order in proptest::collection::vec(0usize..100, 12)) {
            let head: Vec<u8> = (0..cuts.iter().sum::<usize>()).map(|i| (i * 7) as u8).collect();
            let mut segs = Vec::new();
            let mut at = 0;
            for c in &cuts {
                segs.push((at, &head[at..at + c]));
                at += c;
            }
            let mut shuffled = segs.clone();
            let n = shuffled.len();
            for (i, o) in order.iter().enumerate().take(n) {
                shuffled.swap(i % n, o % n);
            }
            let mut p = HeadPool::new(1, 512);
            let s = p.take().unwrap();
            let mut contiguous = 0;
            // Unkept segments come again, as a client retransmits them.
            for _ in 0..shuffled.len() {
                for &(at, data) in &shuffled {
                    contiguous = p.store(s, contiguous, at as u32, data, 512).contiguous;
                }
            }
            proptest::prop_assert_eq!(contiguous as usize, head.len());
            proptest::prop_assert_eq!(p.bytes(s, contiguous), &head[..]);
        }
    }
}
