//! Packet buffer pools (`rte_pktmbuf_pool_create`).

use std::ffi::CString;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use super::eal::{self, EalInner};
use super::error::DpdkError;
use super::mbuf::Mbuf;
use super::sys;

/// The default data room of an mbuf: 2048 bytes of frame after 128 bytes of headroom.
pub const DEFAULT_DATA_ROOM: u16 = sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// The headroom DPDK reserves at the front of every mbuf's data room.
pub const HEADROOM: u16 = sys::RTE_PKTMBUF_HEADROOM as u16;

/// A pool of packet buffers, shared by every thread that allocates or frees its mbufs.
///
/// Cloning is cheap (a reference count); the pool is freed when the last clone, and every
/// port whose receive queues fill from it, are gone. If mbufs from the pool are still out
/// at that point the pool is deliberately leaked rather than freed under them.
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<sys::rte_mempool>,
    name: String,
    /// EAL stays up while the pool exists.
    eal: Arc<EalInner>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe (`ring_mp_mc` ops, per-lcore
// caches only touched by their own lcore); the pointer is only used through DPDK's
// thread-safe get/put/count functions, and freed once, by the last owner.
unsafe impl Send for PoolInner {}
// SAFETY: as above: every operation through `&PoolInner` is a thread-safe DPDK call.
unsafe impl Sync for PoolInner {}

impl Mempool {
    /// `rte_pktmbuf_pool_create(name, n_mbufs, cache, 0, data_room, rte_socket_id())`.
    ///
    /// `data_room` is DPDK's `data_room_size`: it includes the [`HEADROOM`], so
    /// [`DEFAULT_DATA_ROOM`] leaves 2048 bytes for a frame. `cache` is the per-lcore cache
    /// size (at most 512, and at most `n_mbufs / 1.5`). Pool names are unique per process.
    pub fn new(name: &str, n_mbufs: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        const FUNC: &str = "rte_pktmbuf_pool_create";
        let eal = eal::live()?;
        let cname = CString::new(name).map_err(|_| DpdkError::invalid(FUNC, "NUL byte in pool name"))?;
        if data_room <= HEADROOM {
            return Err(DpdkError::invalid(FUNC, format!("data room {data_room} <= headroom")));
        }
        // SAFETY: EAL is initialised (we hold it); reads this thread's socket id
        // (SOCKET_ID_ANY, i.e. -1 as unsigned, for unregistered threads).
        let socket = unsafe { sys::rte_socket_id() } as i32;
        // SAFETY: `cname` is a valid NUL-terminated string for the duration of the call; DPDK
        // copies the name. The other arguments are plain values DPDK validates.
        let ptr = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache, 0, data_room, socket) };
        let ptr = NonNull::new(ptr).ok_or_else(|| DpdkError::from_rte_errno(FUNC))?;
        Ok(Mempool { inner: Arc::new(PoolInner { ptr, name: name.to_string(), eal }) })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Mbufs free in the pool, including those in per-lcore caches.
    pub fn avail_count(&self) -> u32 {
        // SAFETY: the pool is alive (we hold it); the count is a thread-safe read.
        unsafe { sys::rte_mempool_avail_count(self.inner.ptr.as_ptr()) }
    }

    /// Mbufs taken from the pool and not yet given back (held by the program or by a device).
    pub fn in_use_count(&self) -> u32 {
        // SAFETY: as in `avail_count`.
        unsafe { sys::rte_mempool_in_use_count(self.inner.ptr.as_ptr()) }
    }

    /// One empty mbuf (no data, default headroom), or `None` if the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is alive; `rte_pktmbuf_alloc` is thread-safe and returns a fresh,
        // reset mbuf owned by the caller, or NULL.
        let m = unsafe { sys::rte_pktmbuf_alloc(self.inner.ptr.as_ptr()) };
        // SAFETY: a non-NULL result is a single-segment mbuf we own exclusively.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Appends `n` empty mbufs to `out`, all or none (`rte_pktmbuf_alloc_bulk`).
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> Result<(), DpdkError> {
        const FUNC: &str = "rte_pktmbuf_alloc_bulk";
        if n == 0 {
            return Ok(());
        }
        let count = u32::try_from(n).map_err(|_| DpdkError::invalid(FUNC, "count too large"))?;
        out.reserve(n);
        let spare = out.spare_capacity_mut();
        // SAFETY: `spare` has room for at least `n` elements; `Mbuf` is `repr(transparent)`
        // over `NonNull<rte_mbuf>`, which has the layout of `*mut rte_mbuf`. The pool is alive.
        let ret = unsafe {
            sys::rte_pktmbuf_alloc_bulk(self.inner.ptr.as_ptr(), spare.as_mut_ptr().cast::<*mut sys::rte_mbuf>(), count)
        };
        if ret != 0 {
            return Err(DpdkError::from_ret(FUNC, ret));
        }
        // SAFETY: on success DPDK wrote `n` valid, non-NULL mbuf pointers, each now owned by
        // exactly one `Mbuf` in `out`.
        unsafe { out.set_len(out.len() + n) };
        Ok(())
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}

impl fmt::Debug for Mempool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("avail", &self.avail_count())
            .field("in_use", &self.in_use_count())
            .finish()
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool is alive until freed below.
        let in_use = unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) };
        if in_use != 0 {
            // Mbufs of this pool are still out (held by the program, or in another port's
            // transmit ring): freeing the pool would free memory under them. Leak the pool,
            // and keep EAL up for it.
            eprintln!("stickwire: mempool {} dropped with {in_use} mbufs in use; leaking it", self.name);
            std::mem::forget(Arc::clone(&self.eal));
            return;
        }
        // SAFETY: this is the last owner (no `Mempool` clone and no port refers to it) and
        // no mbuf of the pool is in use, so nothing can touch the pool after this.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
