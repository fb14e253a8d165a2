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

/// A vector of `len` copies of `value` whose memory the kernel is asked to back with 2 MiB
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`, before the first write touches a page).
/// For the big tables looked up at random (the flow table): with 4 KiB pages nearly every
/// lookup in a table of hundreds of megabytes also misses the TLB. Where the kernel says no
/// (THP disabled), the memory stays on normal pages and nothing else changes.
pub fn vec_on_huge_pages<T: Clone>(len: usize, value: T) -> Vec<T> {
    const HUGE: usize = 2 << 20;
    let mut v: Vec<T> = Vec::with_capacity(len);
    let bytes = len * std::mem::size_of::<T>();
    if bytes >= HUGE {
        // Only whole 4 KiB pages inside the allocation, as madvise requires.
        let start = v.as_mut_ptr() as usize;
        let first = start.next_multiple_of(4096);
        let end = (start + bytes) & !4095;
        if end > first {
            // SAFETY: [first, end) lies inside the allocation `v` owns and nothing else uses;
            // MADV_HUGEPAGE only changes how the kernel backs those pages, never their
            // contents, and its failure is harmless (normal pages).
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(len, value);
    v
}
