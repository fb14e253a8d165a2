//! One direction of a TCP conversation: its bytes put back in sequence order, and what a later
//! byte-for-byte comparison needs of them, in bounded memory.
//!
//! A stream is not kept whole: [`StreamDigest`] keeps its length, its first `keep` bytes as
//! they are, and a 64-bit hash of every 64 KiB chunk. Whoever receives the stream in the
//! re-enactment builds the same digest over what it received; equal digests mean equal streams
//! (with the certainty of a 64-bit hash per chunk), and a difference is placed exactly within
//! the kept bytes and to its chunk beyond them. A gigabyte stream costs `keep` bytes plus
//! 128 KiB of hashes.

use std::collections::BTreeMap;
use std::hash::Hasher;

use siphasher::sip::SipHasher13;

/// The span of one chunk hash.
pub const CHUNK: u64 = 64 * 1024;

/// Holes listed one by one; more are only counted.
const MAX_HOLES: usize = 16;

/// A stream's length, first bytes and chunk hashes.
#[derive(Debug, Clone)]
pub struct StreamDigest {
    len: u64,
    keep: usize,
    head: Vec<u8>,
    chunks: Vec<u64>,
    open: SipHasher13,
    /// Bytes of holes inside the stream: they count in `len`, are zeros in `head` and are left
    /// out of the hashes.
    gaps: u64,
}

impl StreamDigest {
    /// An empty stream that will keep its first `keep` bytes.
    pub fn new(keep: usize) -> StreamDigest {
        StreamDigest { len: 0, keep, head: Vec::new(), chunks: Vec::new(), open: chunk_hasher(), gaps: 0 }
    }

    /// Appends bytes to the stream.
    pub fn push(&mut self, mut data: &[u8]) {
        let room = self.keep.saturating_sub(self.head.len());
        self.head.extend_from_slice(&data[..room.min(data.len())]);
        while !data.is_empty() {
            let in_chunk = (CHUNK - self.len % CHUNK) as usize;
            let (now, rest) = data.split_at(in_chunk.min(data.len()));
            self.open.write(now);
            self.len += now.len() as u64;
            if self.len.is_multiple_of(CHUNK) {
                let done = std::mem::replace(&mut self.open, chunk_hasher());
                self.chunks.push(done.finish());
            }
            data = rest;
        }
    }

    /// Appends `len` bytes nobody saw (a hole): zeros in the kept head, nothing in the hashes.
    fn skip(&mut self, len: u64) {
        let room = self.keep.saturating_sub(self.head.len()) as u64;
        let zeros = usize::try_from(room.min(len)).unwrap_or(0);
        self.head.resize(self.head.len() + zeros, 0);
        self.len += len;
        self.gaps += len;
    }

    /// The stream's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first bytes of the stream, up to the `keep` it was made with.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Whether the head is the whole stream.
    pub fn is_whole(&self) -> bool {
        self.head.len() as u64 == self.len && self.gaps == 0
    }

    /// Whether the stream has holes (then no comparison with it means anything).
    pub fn has_gaps(&self) -> bool {
        self.gaps > 0
    }

    fn chunk_hashes(&self) -> impl Iterator<Item = u64> + '_ {
        let partial = (!self.len.is_multiple_of(CHUNK)).then(|| self.open.finish());
        self.chunks.iter().copied().chain(partial)
    }

    /// Where two streams first differ: exactly, within the bytes both kept; at the start of the
    /// first differing chunk beyond them. `None` when they are equal.
    pub fn first_difference(&self, other: &StreamDigest) -> Option<u64> {
        let common = self.head.len().min(other.head.len());
        if let Some(at) = self.head[..common].iter().zip(&other.head[..common]).position(|(a, b)| a != b) {
            return Some(at as u64);
        }
        let chunk = self.chunk_hashes().zip(other.chunk_hashes()).position(|(a, b)| a != b);
        let differs = chunk.map(|i| (i as u64 * CHUNK).max(common as u64));
        match differs {
            Some(at) => Some(at.min(self.len.min(other.len))),
            None if self.len != other.len => Some(self.len.min(other.len)),
            None => None,
        }
    }
}

impl PartialEq for StreamDigest {
    fn eq(&self, other: &StreamDigest) -> bool {
        self.gaps == other.gaps && self.first_difference(other).is_none()
    }
}

impl Eq for StreamDigest {}

/// A fixed key: the hashes compare two runs' streams, they guard no table.
fn chunk_hasher() -> SipHasher13 {
    SipHasher13::new_with_keys(0x7374_6963_6b77_6972, 0x6520_7265_656e_6163)
}

/// Bytes the capture never saw: `len` bytes of sequence space from stream offset `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    pub at: u64,
    pub len: u64,
}

/// The holes of a stream: the first few, and how many and how large in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holes {
    pub first: Vec<Hole>,
    pub count: u64,
    pub bytes: u64,
}

impl Holes {
    fn record(&mut self, hole: Hole) {
        if self.first.len() < MAX_HOLES {
            self.first.push(hole);
        }
        self.count += 1;
        self.bytes += hole.len;
    }
}

/// What reassembly saw of one direction besides its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Payload bytes that came again after being seen once.
    pub retransmitted: u64,
    /// Segments that arrived ahead of a byte not yet seen.
    pub out_of_order: u64,
    /// Retransmitted bytes that differ from the first copy, where both were at hand (the first
    /// copy wins, as in Wireshark).
    pub conflicts: u64,
    /// The stream offset of the first such byte.
    pub first_conflict: Option<u64>,
}

/// Puts one direction's segments back in order. Segments are given by stream offset (the
/// caller unwraps sequence numbers); bytes ahead of a missing one wait, up to `max_pending`
/// bytes, after which the missing bytes are declared a hole.
#[derive(Debug, Clone)]
pub struct Reassembler {
    /// Every byte before it was delivered, or declared a hole.
    next: u64,
    /// Bytes ahead of `next`, in non-overlapping pieces.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    max_pending: usize,
    pub holes: Holes,
    pub stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new(max_pending: usize) -> Reassembler {
        Reassembler {
            next: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            max_pending,
            holes: Holes::default(),
            stats: ReassemblyStats::default(),
        }
    }

    /// The offset after the last byte delivered.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Takes the bytes `data` at stream offset `at`; what becomes contiguous goes to `out`.
    pub fn push(&mut self, mut at: u64, mut data: &[u8], out: &mut StreamDigest) {
        if at < self.next {
            let seen = (self.next - at).min(data.len() as u64) as usize;
            self.stats.retransmitted += seen as u64;
            self.compare(at, &data[..seen], out.head());
            data = &data[seen..];
            at = self.next;
        }
        if data.is_empty() {
            return;
        }
        if at == self.next && self.pending.is_empty() {
            out.push(data);
            self.next += data.len() as u64;
            return;
        }
        if at > self.next {
            self.stats.out_of_order += 1;
        }
        self.insert(at, data);
        self.drain(out);
        while self.pending_bytes > self.max_pending {
            self.skip_to_pending(out);
        }
    }

    /// Ends the stream: what still waits is delivered after holes, and sequence space up to
    /// `end` (from a FIN or the peer's acknowledgements) that nobody saw is a hole at the tail.
    pub fn finish(&mut self, end: u64, out: &mut StreamDigest) {
        while !self.pending.is_empty() {
            self.skip_to_pending(out);
        }
        if end > self.next {
            self.holes.record(Hole { at: self.next, len: end - self.next });
        }
    }

    /// Counts retransmitted bytes that differ from the first copy, where it is at hand.
    fn compare(&mut self, at: u64, again: &[u8], first: &[u8]) {
        // Bytes of a declared hole are zeros in the head, not a first copy.
        let end = at + again.len() as u64;
        if self.holes.first.iter().any(|h| h.at < end && at < h.at + h.len) {
            return;
        }
        let Ok(start) = usize::try_from(at) else { return };
        let Some(kept) = first.get(start..) else { return };
        let differ = again.iter().zip(kept).position(|(a, b)| a != b);
        if let Some(i) = differ {
            self.note_conflict(at + i as u64, again.iter().zip(kept).filter(|(a, b)| a != b).count());
        }
    }

    fn note_conflict(&mut self, at: u64, bytes: usize) {
        self.stats.conflicts += bytes as u64;
        self.stats.first_conflict.get_or_insert(at);
    }

    /// Adds the parts of `data` (at `at >= next`) that no waiting piece covers yet.
    fn insert(&mut self, at: u64, data: &[u8]) {
        let end = at + data.len() as u64;
        let mut cursor = at;
        let mut gaps = Vec::new();
        let (mut again_bytes, mut conflict) = (0, None::<(u64, usize)>);
        let before = self.pending.range(..=at).next_back().map(|(&k, v)| (k, v.as_slice()));
        let within = self.pending.range(at + 1..end).map(|(&k, v)| (k, v.as_slice()));
        for (start, piece) in before.into_iter().chain(within) {
            let piece_end = start + piece.len() as u64;
            if piece_end <= cursor {
                continue;
            }
            if start > cursor {
                gaps.push(cursor..start);
            }
            let (lo, hi) = (start.max(at), piece_end.min(end));
            let again = &data[(lo - at) as usize..(hi - at) as usize];
            let first = &piece[(lo - start) as usize..(hi - start) as usize];
            let differ = again.iter().zip(first).filter(|(a, b)| a != b).count();
            again_bytes += hi - lo;
            if differ > 0 {
                conflict = Some(conflict.map_or((lo, differ), |(first_at, n)| (first_at, n + differ)));
            }
            cursor = hi;
        }
        self.stats.retransmitted += again_bytes;
        if let Some((at, count)) = conflict {
            self.note_conflict(at, count);
        }
        if cursor < end {
            gaps.push(cursor..end);
        }
        for gap in gaps {
            let bytes = data[(gap.start - at) as usize..(gap.end - at) as usize].to_vec();
            self.pending_bytes += bytes.len();
            self.pending.insert(gap.start, bytes);
        }
    }

    /// Delivers the waiting pieces that now follow on.
    fn drain(&mut self, out: &mut StreamDigest) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            let piece = entry.remove();
            self.pending_bytes -= piece.len();
            out.push(&piece);
            self.next += piece.len() as u64;
        }
    }

    /// Declares the bytes before the first waiting piece a hole, and delivers from there.
    fn skip_to_pending(&mut self, out: &mut StreamDigest) {
        let Some((&start, _)) = self.pending.first_key_value() else { return };
        let len = start - self.next;
        self.holes.record(Hole { at: self.next, len });
        out.skip(len);
        self.next = start;
        self.drain(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(data: &[u8], keep: usize) -> StreamDigest {
        let mut d = StreamDigest::new(keep);
        d.push(data);
        d
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn digest_does_not_depend_on_how_the_bytes_are_split() {
        let data = bytes(3 * CHUNK as usize + 1234);
        let whole = digest_of(&data, 100);
        let mut pieces = StreamDigest::new(100);
        for piece in data.chunks(1000) {
            pieces.push(piece);
        }
        assert_eq!(whole, pieces);
        assert_eq!(whole.len(), data.len() as u64);
        assert_eq!(whole.head(), &data[..100]);
        assert!(!whole.is_whole());
        assert!(digest_of(&data, usize::MAX).is_whole());
    }

    #[test]
    fn first_difference_is_exact_in_the_head_and_per_chunk_beyond() {
        let data = bytes(3 * CHUNK as usize);
        let mut other = data.clone();
        other[50] ^= 1;
        assert_eq!(digest_of(&data, 100).first_difference(&digest_of(&other, 100)), Some(50));
        let mut other = data.clone();
        other[2 * CHUNK as usize + 5] ^= 1;
        assert_eq!(digest_of(&data, 100).first_difference(&digest_of(&other, 100)), Some(2 * CHUNK));
        // A stream and its prefix differ where the prefix ends.
        let short = &data[..CHUNK as usize + 10];
        assert_eq!(digest_of(&data, 100).first_difference(&digest_of(short, 100)), Some(CHUNK));
        assert_eq!(digest_of(&data, 0).first_difference(&digest_of(&data[..1000], 0)), Some(0));
        assert_eq!(digest_of(&data, 0).first_difference(&digest_of(&data, 0)), None);
    }

    fn reassemble(segments: &[(u64, &[u8])], max_pending: usize) -> (Reassembler, StreamDigest) {
        let mut r = Reassembler::new(max_pending);
        let mut out = StreamDigest::new(usize::MAX);
        for &(at, data) in segments {
            r.push(at, data, &mut out);
        }
        (r, out)
    }

    #[test]
    fn out_of_order_and_overlapping_segments_come_out_in_order() {
        let data = bytes(100);
        let segments: [(u64, &[u8]); 6] = [
            (0, &data[..10]),
            (30, &data[30..50]),
            (20, &data[20..40]),
            (5, &data[5..25]),
            (60, &data[60..100]),
            (45, &data[45..70]),
        ];
        let (mut r, mut out) = reassemble(&segments, 1 << 20);
        r.finish(100, &mut out);
        assert_eq!(out.head(), &data[..]);
        assert_eq!(r.holes, Holes::default());
        assert_eq!(r.stats.out_of_order, 3);
        // 30..40, 5..10, 20..25, 45..50 and 60..70 came twice.
        assert_eq!(r.stats.retransmitted, 10 + 5 + 5 + 5 + 10);
        assert_eq!(r.stats.conflicts, 0);
    }

    #[test]
    fn a_retransmission_with_other_bytes_is_a_conflict_and_the_first_copy_wins() {
        let data = bytes(40);
        let mut changed = data.clone();
        changed[12] ^= 0xff;
        changed[33] ^= 0xff;
        let (r, out) = reassemble(&[(0, &data[..20]), (30, &data[30..40]), (10, &changed[10..35])], 1 << 20);
        assert_eq!(out.head(), &data[..]);
        assert_eq!(r.stats.conflicts, 2);
        assert_eq!(r.stats.first_conflict, Some(12));
    }

    #[test]
    fn holes_are_placed_and_the_bytes_after_them_kept() {
        let data = bytes(100);
        let (mut r, mut out) = reassemble(&[(0, &data[..10]), (20, &data[20..30]), (50, &data[50..60])], 1 << 20);
        assert_eq!(r.next(), 10);
        r.finish(70, &mut out);
        let holes = [Hole { at: 10, len: 10 }, Hole { at: 30, len: 20 }, Hole { at: 60, len: 10 }];
        assert_eq!(r.holes, Holes { first: holes.to_vec(), count: 3, bytes: 40 });
        assert_eq!(out.len(), 60);
        assert_eq!(&out.head()[20..30], &data[20..30]);
        assert_eq!(&out.head()[10..20], &[0; 10]);
        assert!(out.has_gaps());
    }

    #[test]
    fn too_much_waiting_declares_a_hole() {
        let data = bytes(100);
        let (r, out) = reassemble(&[(0, &data[..10]), (20, &data[20..30]), (30, &data[30..45])], 20);
        assert_eq!(r.holes.first, [Hole { at: 10, len: 10 }]);
        assert_eq!(r.next(), 45);
        assert_eq!(out.len(), 45);
    }
}
