//! CPU hints the data path uses. They live here because the intrinsics are `unsafe`.

/// Starts fetching the cache line holding `value` into every cache level, without waiting
/// for it (DPDK's `rte_prefetch0`). A no-op on other architectures.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it never faults, even on a bad address, and
    // `value` is a valid reference anyway. SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// 2 MiB: the huge page size the big tables are aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// `len` copies of a value in memory of their own: mapped fresh from the kernel, 2 MiB
/// aligned and, from 2 MiB up, advised for transparent huge pages (`madvise(MADV_HUGEPAGE)`)
/// before the first write touches it. For the big tables looked up at random (the flow table): with
/// 4 KiB pages nearly every lookup in a table of hundreds of megabytes also misses the TLB.
///
/// Not a `Vec`: the allocator hands back memory that earlier, freed allocations already
/// touched, and pages already in place stay 4 KiB whatever they are advised afterwards
/// (seen in `stickwire bench`: the flow table's 64 MiB bucket array, allocated after the
/// rte_hash reference freed its frames, got 4 MiB of huge pages out of 64). Where the
/// kernel says no (THP disabled), the memory stays on normal pages and nothing else changes.
pub struct HugeSlice<T: Copy> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// The whole mapping, for `munmap`.
    map: *mut libc::c_void,
    map_len: usize,
}

// SAFETY: a `HugeSlice` owns its mapping outright, like a `Box<[T]>`; sending or sharing it
// is safe exactly when sending or sharing the `T`s is.
unsafe impl<T: Copy + Send> Send for HugeSlice<T> {}
// SAFETY: as above; `&HugeSlice` only gives `&[T]`.
unsafe impl<T: Copy + Sync> Sync for HugeSlice<T> {}

impl<T: Copy> HugeSlice<T> {
    pub fn new(len: usize, value: T) -> HugeSlice<T> {
        let size = std::mem::size_of::<T>();
        let layout = std::alloc::Layout::array::<T>(len).expect("HugeSlice: length overflows the address space");
        assert!(std::mem::align_of::<T>() <= HUGE_PAGE && size > 0, "HugeSlice: unsupported element type");
        // One huge page more than needed, so that a 2 MiB-aligned start fits inside.
        let map_len = (len * size).next_multiple_of(HUGE_PAGE) + HUGE_PAGE;
        // SAFETY: a private anonymous mapping asks nothing of existing memory; the result is
        // checked against MAP_FAILED before use.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(layout);
        }
        let start = (map as usize).next_multiple_of(HUGE_PAGE);
        // A table smaller than a huge page stays on 4 KiB pages: one huge page would cost
        // more memory than the table and save no TLB misses worth having.
        if len * size >= HUGE_PAGE {
            // SAFETY: [start, start + map_len - HUGE_PAGE) lies inside the fresh mapping we
            // own; MADV_HUGEPAGE only changes how the kernel backs those pages, never their
            // contents, and its failure is harmless (normal pages).
            unsafe {
                libc::madvise(start as *mut libc::c_void, map_len - HUGE_PAGE, libc::MADV_HUGEPAGE);
            }
        }
        let ptr = start as *mut T;
        for i in 0..len {
            // SAFETY: `start` is 2 MiB aligned (so aligned for `T`) and the mapping holds
            // `len` elements from it; the writes initialise them before any read.
            unsafe { ptr.add(i).write(value) };
        }
        // SAFETY: `start` is inside a successful mapping, so not null.
        let ptr = unsafe { std::ptr::NonNull::new_unchecked(ptr) };
        HugeSlice { ptr, len, map, map_len }
    }
}

impl<T: Copy> std::ops::Deref for HugeSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements live at `ptr`, owned by `self` for this borrow.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> std::ops::DerefMut for HugeSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeSlice<T> {
    fn drop(&mut self) {
        // SAFETY: `map`/`map_len` are the mapping `new` made, unmapped once, here; `T: Copy`
        // has no destructor to run first.
        unsafe {
            libc::munmap(self.map, self.map_len);
        }
    }
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for HugeSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeSlice").field("len", &self.len).finish_non_exhaustive()
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
            assert_eq!(s.as_ptr() as usize % HUGE_PAGE, 0, "2 MiB aligned");
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
