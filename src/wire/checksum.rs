//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A checksum is built in three steps: [`sum`] the 16-bit big-endian words of each part (and
//! [`pseudo_header_v4`] for TCP and UDP), [`combine`] the partial sums, then [`fold`] the
//! carries back in and complement the result. [`data`] does all of it for one slice.
//!
//! A rewrite of a field (a NAT address, a port, a sequence number) does not need the whole
//! packet summed again: [`update16`], [`update32`] and [`update_addr`] apply RFC 1624's
//! equation 3, `HC' = ~(~HC + ~m + m')`, which gives the same checksum as a recomputation;
//! [`Delta`] sums several such changes and applies them with one fold.

use std::net::Ipv4Addr;

/// Masks the two low 16-bit lanes of a `u64` (bits 0..16 and 32..48).
const LANES: u64 = 0x0000_ffff_0000_ffff;

/// How many 8-byte chunks are summed into the two-lane accumulators before they are drained.
/// Each 32-bit lane gains at most `0xffff` per chunk, so 65536 chunks would be the limit.
const BLOCK_CHUNKS: usize = 4096;

/// Reduces a 64-bit sum into 32 bits with end-around carry. The result is the same sum in
/// ones'-complement arithmetic: same value modulo `0xffff`, and zero only if `sum` is zero.
#[inline]
fn reduce64(mut sum: u64) -> u32 {
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// Sums the big-endian 16-bit words of `data`; an odd trailing byte is padded with a zero
/// byte. The carries are not folded in (see [`fold`]).
///
/// The result is the exact word sum for any `data` up to 128 KiB (65537 words). Above that
/// it is reduced with end-around carry, which leaves [`fold`]'s result unchanged.
///
/// The bulk of the data is summed eight bytes at a time, two 16-bit words per 32-bit lane of
/// two `u64` accumulators, so the loop has no carries to handle and vectorises.
pub fn sum(data: &[u8]) -> u32 {
    let mut total: u64 = 0;

    let mut chunks = data.chunks_exact(8);
    loop {
        let mut lo: u64 = 0;
        let mut hi: u64 = 0;
        let mut n = 0;
        for chunk in chunks.by_ref().take(BLOCK_CHUNKS) {
            let word =
                u64::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
            lo += word & LANES;
            hi += (word >> 16) & LANES;
            n += 1;
        }
        total += (lo & 0xffff_ffff) + (lo >> 32) + (hi & 0xffff_ffff) + (hi >> 32);
        if n < BLOCK_CHUNKS {
            break;
        }
    }

    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(2);
    for word in words.by_ref() {
        total += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        total += u64::from(*last) << 8;
    }

    reduce64(total)
}

/// Folds the carries of a sum back into 16 bits. The result is **not** complemented.
#[inline]
pub fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Adds partial sums (from [`sum`] and [`pseudo_header_v4`]) together.
pub fn combine(sums: &[u32]) -> u32 {
    reduce64(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The Internet checksum of `data`: the complement of its folded word sum.
///
/// Filling a header's checksum field (zeroed first) with this value makes
/// `data(header) == 0`, which is how a received header is verified.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    !fold(reduce64(sum_wide(data)))
}

/// A sum congruent to [`sum`] modulo `0xffff` (so it folds to the same checksum), taken over
/// big-endian 32-bit words: `2^16 = 1 (mod 0xffff)`, so a 32-bit word adds the same as its
/// two 16-bit halves. Short and branch-free for headers, which is what [`data`] mostly sees.
#[inline]
fn sum_wide(data: &[u8]) -> u64 {
    let mut total: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in words.by_ref() {
        total += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    // The 0-3 trailing bytes, as the high bytes of one more big-endian word. Shifted in
    // registers: copying them into a stack array stalls on store forwarding.
    let tail = words.remainder().iter().enumerate().fold(0u64, |acc, (i, &b)| acc | u64::from(b) << (24 - 8 * i));
    total + tail
}

/// The (unfolded) sum of the IPv4 pseudo-header that TCP and UDP checksums cover.
/// `length` is the length of the TCP or UDP header and payload.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    u32::from(u16::from_be_bytes([s0, s1]))
        + u32::from(u16::from_be_bytes([s2, s3]))
        + u32::from(u16::from_be_bytes([d0, d1]))
        + u32::from(u16::from_be_bytes([d2, d3]))
        + u32::from(protocol)
        + u32::from(length)
}

/// Updates `checksum` after a 16-bit word of the data it covers changed from `old` to `new`
/// (RFC 1624, equation 3: `HC' = ~(~HC + ~m + m')`).
///
/// The result is what recomputing the checksum over the new data gives (for any data that
/// is not all zeros, which no IP, TCP or UDP header is), including when `old` or `new` is
/// `0x0000` or `0xffff`.
#[inline]
pub fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    let sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    !fold(sum)
}

/// Updates `checksum` after an aligned 32-bit field (two 16-bit words) changed from `old` to
/// `new`: a sequence or acknowledgement number, or an address (see [`update_addr`]).
#[inline]
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let sum =
        u32::from(!checksum) + u32::from(!(old >> 16) as u16) + u32::from(!(old as u16)) + (new >> 16) + (new & 0xffff);
    !fold(sum)
}

/// Updates `checksum` after an IPv4 address it covers changed from `old` to `new` (in the IP
/// header, or in the pseudo-header of a TCP or UDP checksum).
#[inline]
pub fn update_addr(checksum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update32(checksum, u32::from(old), u32::from(new))
}

/// Several field changes to one checksum, summed first and applied once: RFC 1624's
/// equation 3 over all of them, `HC' = ~(~HC + sum(~m) + sum(m'))`, which is what the
/// [`update16`] / [`update32`] calls one after another give, with one fold instead of one per
/// field. A NAT rewrite builds the address change once and applies it to both the IPv4 and
/// the TCP or UDP checksum (the pseudo-header covers the addresses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta(u64);

impl Delta {
    /// A 16-bit word went from `old` to `new`.
    #[inline]
    pub fn replace16(self, old: u16, new: u16) -> Delta {
        Delta(self.0 + u64::from(!old) + u64::from(new))
    }

    /// An aligned 32-bit field (an address, two ports) went from `old` to `new`.
    #[inline]
    pub fn replace32(self, old: u32, new: u32) -> Delta {
        self.replace16((old >> 16) as u16, (new >> 16) as u16).replace16(old as u16, new as u16)
    }

    /// Both changes.
    #[inline]
    pub fn and(self, other: Delta) -> Delta {
        Delta(self.0 + other.0)
    }

    /// The checksum after the changes.
    #[inline]
    pub fn apply(self, checksum: u16) -> u16 {
        !fold(reduce64(u64::from(!checksum) + self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A delta of several fields gives what updating them one by one gives, which is what
        /// recomputing gives.
        #[test]
        fn delta_equals_field_by_field_updates(
            mut words in proptest::collection::vec(any::<u16>(), 4..32),
            changes in proptest::collection::vec((any::<usize>(), any::<u16>()), 1..6),
        ) {
            words[0] |= 1; // never all zeros
            let bytes = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
            let before = data(&bytes(&words));
            let (mut one_by_one, mut delta) = (before, Delta::default());
            for (at, new) in changes {
                let at = 1 + at % (words.len() - 1);
                one_by_one = update16(one_by_one, words[at], new);
                delta = delta.replace16(words[at], new);
                words[at] = new;
            }
            prop_assert_eq!(delta.apply(before), one_by_one);
            prop_assert_eq!(delta.apply(before), data(&bytes(&words)));
        }
    }

    /// The IPv4 header example from Wikipedia's "IPv4 header checksum" article.
    const WIKIPEDIA_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
        0x00, 0xc7,
    ];

    /// A straightforward word-by-word reference.
    fn naive_sum(data: &[u8]) -> u64 {
        data.chunks(2).map(|w| u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0))).sum()
    }

    #[test]
    fn wikipedia_ipv4_header() {
        let mut header = WIKIPEDIA_HEADER;
        assert_eq!(data(&header), 0);
        header[10] = 0;
        header[11] = 0;
        assert_eq!(data(&header), 0xb861);
        assert_eq!(sum(&header), 0x2479c);
        assert_eq!(fold(sum(&header)), 0x479e);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071, section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 2ddf0, folded ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes), 0x2ddf0);
        assert_eq!(fold(sum(&bytes)), 0xddf2);
        assert_eq!(data(&bytes), !0xddf2);
    }

    #[test]
    fn odd_lengths_and_edges() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(data(&[]), 0xffff);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x00, 0x01, 0x02]), 0x0201);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
        assert_eq!(fold(0), 0);
        assert_eq!(combine(&[]), 0);
        assert_eq!(combine(&[u32::MAX, 1]), 1);
    }

    #[test]
    fn large_buffers_fold_like_naive() {
        // Longer than one block and than the 65537 words where the u32 sum would overflow.
        for len in [BLOCK_CHUNKS * 8 - 1, BLOCK_CHUNKS * 8 + 9, 200_001] {
            let buf = vec![0xffu8; len];
            let naive = naive_sum(&buf);
            if naive <= u64::from(u32::MAX) {
                assert_eq!(u64::from(sum(&buf)), naive);
            }
            assert_eq!(fold(sum(&buf)), fold(reduce64(naive)));
        }
    }

    #[test]
    fn pseudo_header() {
        // 10.2.2.101 -> 10.2.2.104, TCP, 44 bytes (the SYN in tcp.rs's tests).
        let s = pseudo_header_v4(Ipv4Addr::new(10, 2, 2, 101), Ipv4Addr::new(10, 2, 2, 104), 6, 44);
        assert_eq!(s, 0x0a02 + 0x0265 + 0x0a02 + 0x0268 + 6 + 44);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624, section 4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    /// Builds a header-like buffer whose first word is never zero (as in every IP header),
    /// with a valid checksum at bytes 10..12.
    fn with_checksum(mut header: Vec<u8>) -> Vec<u8> {
        header[0] = 0x45;
        header[10] = 0;
        header[11] = 0;
        let c = data(&header);
        header[10..12].copy_from_slice(&c.to_be_bytes());
        header
    }

    fn word() -> impl Strategy<Value = u16> {
        prop_oneof![Just(0u16), Just(0xffff), Just(1), Just(0xfffe), any::<u16>()]
    }

    proptest! {
        #[test]
        fn sum_matches_naive(buf in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(u64::from(sum(&buf)), naive_sum(&buf));
        }

        #[test]
        fn sum_is_split_invariant(buf in proptest::collection::vec(any::<u8>(), 0..300),
                                  at in 0usize..150) {
            let at = (at * 2).min(buf.len() & !1);
            let (a, b) = buf.split_at(at);
            prop_assert_eq!(fold(combine(&[sum(a), sum(b)])), fold(sum(&buf)));
        }

        #[test]
        fn update16_equals_recompute(header in proptest::collection::vec(any::<u8>(), 20..=60),
                                     at in 1usize..30, new in word()) {
            let header = with_checksum(header);
            let words = header.len() / 2;
            // Not word 0 (version/IHL) or word 5 (the checksum itself).
            let at = match at % words {
                0 | 5 => 1,
                at => at,
            };
            let old = u16::from_be_bytes([header[2 * at], header[2 * at + 1]]);
            let checksum = u16::from_be_bytes([header[10], header[11]]);
            let incremental = update16(checksum, old, new);

            let mut rewritten = header.clone();
            rewritten[2 * at..2 * at + 2].copy_from_slice(&new.to_be_bytes());
            let full = with_checksum(rewritten);
            prop_assert_eq!(incremental, u16::from_be_bytes([full[10], full[11]]));
        }

        #[test]
        fn update32_equals_recompute(header in proptest::collection::vec(any::<u8>(), 20..=60),
                                     hi in word(), lo in word(), src in any::<bool>()) {
            let header = with_checksum(header);
            // The source or destination address of an IPv4 header.
            let at = if src { 12 } else { 16 };
            let old = Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
            let new = Ipv4Addr::from(u32::from(hi) << 16 | u32::from(lo));
            let checksum = u16::from_be_bytes([header[10], header[11]]);
            let incremental = update_addr(checksum, old, new);

            let mut rewritten = header.clone();
            rewritten[at..at + 4].copy_from_slice(&new.octets());
            let full = with_checksum(rewritten);
            prop_assert_eq!(incremental, u16::from_be_bytes([full[10], full[11]]));
            prop_assert_eq!(data(&full), 0);
        }

        #[test]
        fn update_with_pseudo_header_equals_recompute(
            payload in proptest::collection::vec(any::<u8>(), 8..100),
            src: u32, dst: u32, new_src in word(), new_port in word(),
        ) {
            // A UDP-like checksum at bytes 6..8 over a pseudo-header and the segment; rewrite
            // the source address (pseudo-header) and the source port (bytes 0..2), as SNAT does.
            let full_checksum = |src: Ipv4Addr, seg: &[u8]| -> u16 {
                let mut seg = seg.to_vec();
                seg[6] = 0;
                seg[7] = 0;
                let len = seg.len() as u16;
                !fold(combine(&[pseudo_header_v4(src, Ipv4Addr::from(dst), 17, len), sum(&seg)]))
            };
            let src = Ipv4Addr::from(src);
            let mut seg = payload;
            let c = full_checksum(src, &seg);
            seg[6..8].copy_from_slice(&c.to_be_bytes());

            let new_src_addr = Ipv4Addr::from(u32::from(new_src) << 16 | u32::from(new_src));
            let old_port = u16::from_be_bytes([seg[0], seg[1]]);
            let c2 = update16(update_addr(c, src, new_src_addr), old_port, new_port);
            seg[0..2].copy_from_slice(&new_port.to_be_bytes());
            prop_assert_eq!(c2, full_checksum(new_src_addr, &seg));
        }
    }
}
