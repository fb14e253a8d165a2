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
