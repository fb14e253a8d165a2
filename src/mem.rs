//! Memory for the engine's big tables and the CPU's prefetch hint: the two things the data
//! path needs from below the language, here in safe code over `memmap2` (an anonymous
//! mapping, `madvise`) and `safe_arch` (the SSE prefetch instruction), so that the engine
//! depends on `wire` and this module alone.

#![forbid(unsafe_code)]

use bytemuck::Pod;
use memmap2::{Advice, MmapMut};

/// Starts fetching the cache line holding `value` into every cache level, without waiting
/// for it (DPDK's `rte_prefetch0`). A no-op where SSE is not there.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_feature = "sse")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_feature = "sse"))]
    let _ = value;
}

/// 2 MiB: the huge page size the big tables are aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// `len` copies of a value, for the big tables looked up at random (the flow table): with
/// 4 KiB pages nearly every lookup in a table of hundreds of megabytes also misses the TLB.
///
/// From 2 MiB up, the values live in memory of their own: mapped fresh from the kernel,
/// 2 MiB aligned, and advised for transparent huge pages (`MADV_HUGEPAGE`) before the first
/// write touches it. Not a `Vec`: the allocator hands back memory that earlier, freed
/// allocations already touched, and pages already in place stay 4 KiB whatever they are
/// advised afterwards (seen in `stickwire bench`: the flow table's 64 MiB bucket array,
/// allocated after the rte_hash reference freed its frames, got 4 MiB of huge pages out of
/// 64). Where the kernel says no (THP disabled), the memory stays on normal pages.
///
/// Such a mapping is kept for the life of the process: it is viewed as `[T]` once, by a
/// checked cast of its bytes, and that view is what every access then indexes, at no more
/// cost than a `Vec`'s. The engines hold their tables until the process ends; a smaller
/// table (tests, fuzzing, small configs) is an ordinary `Vec`, freed when dropped.
pub struct HugeSlice<T: Pod> {
    elements: Elements<T>,
}

enum Elements<T: 'static> {
    Heap(Vec<T>),
    Mapped(&'static mut [T]),
}

impl<T: Pod> HugeSlice<T> {
    pub fn new(len: usize, value: T) -> HugeSlice<T> {
        let size = std::mem::size_of::<T>();
        assert!(std::mem::align_of::<T>() <= HUGE_PAGE && size > 0, "HugeSlice: unsupported element type");
        let bytes = len.checked_mul(size).expect("HugeSlice: length overflows the address space");
        if bytes < HUGE_PAGE {
            // One huge page would cost more memory than the table and save no TLB misses.
            return HugeSlice { elements: Elements::Heap(vec![value; len]) };
        }
        // One huge page more than needed, so that a 2 MiB-aligned start fits inside.
        let map_len = bytes.next_multiple_of(HUGE_PAGE) + HUGE_PAGE;
        let map = MmapMut::map_anon(map_len).unwrap_or_else(|e| panic!("HugeSlice: mmap of {map_len} bytes: {e}"));
        let start = (map.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - map.as_ptr() as usize;
        // Failure is harmless: the table stays on normal pages.
        let _ = map.advise_range(Advice::HugePage, start, map_len - start);
        let map: &'static mut MmapMut = Box::leak(Box::new(map));
        let elements: &'static mut [T] = bytemuck::cast_slice_mut(&mut map[start..start + bytes]);
        elements.fill(value);
        HugeSlice { elements: Elements::Mapped(elements) }
    }
}

impl<T: Pod> std::ops::Deref for HugeSlice<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        match &self.elements {
            Elements::Heap(v) => v,
            Elements::Mapped(s) => s,
        }
    }
}

impl<T: Pod> std::ops::DerefMut for HugeSlice<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.elements {
            Elements::Heap(v) => v,
            Elements::Mapped(s) => s,
        }
    }
}

impl<T: Pod> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeSlice").field("len", &self.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_slice_holds_its_values_aligned_and_writable() {
        for len in [0usize, 1, 1000, (4 << 20) / 8 + 3] {
            let mut s = HugeSlice::new(len, 7u64);
            assert_eq!(s.len(), len);
            assert!(s.iter().all(|&v| v == 7));
            if len * 8 >= HUGE_PAGE {
                assert_eq!(s.as_ptr() as usize % HUGE_PAGE, 0, "2 MiB aligned");
            }
            if let Some(last) = s.last_mut() {
                *last = 9;
                assert_eq!(s[len - 1], 9);
            }
        }
    }

    /// The `VmFlags` and `AnonHugePages` (KiB) of the mapping holding `addr`, from smaps.
    fn mapping_of(addr: usize) -> (String, u64) {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
        let mut inside = false;
        let (mut flags, mut huge) = (String::new(), 0);
        for line in smaps.lines() {
            let range = line.split_whitespace().next().and_then(|r| r.split_once('-'));
            if let Some((lo, hi)) = range.filter(|_| !line.ends_with(':') && !line.contains(": ")) {
                let (lo, hi) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16));
                inside = matches!((lo, hi), (Ok(lo), Ok(hi)) if lo <= addr && addr < hi);
            } else if inside {
                if let Some(v) = line.strip_prefix("AnonHugePages:") {
                    huge = v.trim().trim_end_matches(" kB").parse().unwrap_or(0);
                } else if let Some(v) = line.strip_prefix("VmFlags:") {
                    flags = v.trim().to_string();
                }
            }
        }
        (flags, huge)
    }

    #[test]
    fn big_tables_are_advised_for_huge_pages_small_ones_are_not() {
        let big = HugeSlice::new((8 << 20) / 64, [1u64; 8]);
        let (flags, huge_kib) = mapping_of(big.as_ptr() as usize);
        assert!(flags.split(' ').any(|f| f == "hg"), "8 MiB table not advised (VmFlags: {flags})");
        // Where the kernel hands out transparent huge pages at all, the fresh mapping gets them.
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if thp.contains("[always]") || thp.contains("[madvise]") {
            assert!(huge_kib >= 4096, "8 MiB table on {huge_kib} KiB of huge pages (THP: {})", thp.trim());
        }
        let small = HugeSlice::new(1000, 0u64);
        let (flags, _) = mapping_of(small.as_ptr() as usize);
        assert!(!flags.split(' ').any(|f| f == "hg"), "8 KB table advised (VmFlags: {flags})");
    }
}
