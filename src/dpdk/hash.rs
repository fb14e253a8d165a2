//! DPDK's own hash table, `rte_hash` (cuckoo hashing, signatures in the buckets, keys and
//! data in a key store apart from them), for the benchmark's reference: the yardstick for
//! the flow table is a loop over `rte_hash_lookup_bulk_data` doing the same work.

use std::ffi::{c_void, CString};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use super::eal::{self, EalInner};
use super::{sys, DpdkError};

/// The most keys one `rte_hash_lookup_bulk_data` call takes (`RTE_HASH_LOOKUP_BULK_MAX`).
pub const LOOKUP_BULK_MAX: usize = 64;

/// An `rte_hash` of `N`-byte keys whose values are `u32` (stored in the data pointer, never
/// dereferenced). Single-writer, single-reader: created without DPDK's concurrency flags.
pub struct RteHash<const N: usize> {
    ptr: NonNull<sys::rte_hash>,
    /// EAL stays up while the table exists.
    _eal: Arc<EalInner>,
}

impl<const N: usize> RteHash<N> {
    /// A table with room for `entries` keys, hashed with DPDK's default function (CRC32C on
    /// x86), on this thread's NUMA socket.
    pub fn new(name: &str, entries: u32) -> Result<RteHash<N>, DpdkError> {
        const FUNC: &str = "rte_hash_create";
        let eal = eal::live()?;
        let cname = CString::new(name).map_err(|_| DpdkError::invalid(FUNC, "NUL byte in table name"))?;
        let key_len = u32::try_from(N).map_err(|_| DpdkError::invalid(FUNC, "key too long"))?;
        // SAFETY: EAL is initialised (we hold it); reads this thread's socket id.
        let socket = unsafe { sys::rte_socket_id() } as i32;
        let params = sys::rte_hash_parameters {
            name: cname.as_ptr(),
            entries,
            reserved: 0,
            key_len,
            hash_func: None,
            hash_func_init_val: 0,
            socket_id: socket,
            extra_flag: 0,
        };
        // SAFETY: `params` and the name it points to live for the call; DPDK copies the name.
        let ptr = unsafe { sys::rte_hash_create(&params) };
        let ptr = NonNull::new(ptr).ok_or_else(|| DpdkError::from_rte_errno(FUNC))?;
        Ok(RteHash { ptr, _eal: eal })
    }

    /// Adds `key` with `value` (or replaces its value).
    pub fn insert(&mut self, key: &[u8; N], value: u32) -> Result<(), DpdkError> {
        // The value rides in the data pointer; DPDK stores it and never dereferences it.
        let data = value as usize as *mut c_void;
        // SAFETY: the table is alive and ours alone (`&mut self`); `key` points to the `N`
        // bytes the table was created for, read during the call only.
        let ret = unsafe { sys::rte_hash_add_key_data(self.ptr.as_ptr(), key.as_ptr().cast(), data) };
        if ret < 0 {
            return Err(DpdkError::from_ret("rte_hash_add_key_data", ret));
        }
        Ok(())
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        // SAFETY: the table is alive; counting reads it only.
        let n = unsafe { sys::rte_hash_count(self.ptr.as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks up every key of `keys` (at most [`LOOKUP_BULK_MAX`]) with one bulk call; `out`
    /// (as long as `keys`) gets each key's value, `None` for a miss.
    pub fn lookup_bulk(&self, keys: &[[u8; N]], out: &mut [Option<u32>]) {
        assert!(keys.len() <= LOOKUP_BULK_MAX && out.len() == keys.len(), "lookup_bulk: bad lengths");
        let mut key_ptrs = [ptr::null::<c_void>(); LOOKUP_BULK_MAX];
        for (p, k) in key_ptrs.iter_mut().zip(keys) {
            *p = k.as_ptr().cast();
        }
        let mut data = [ptr::null_mut::<c_void>(); LOOKUP_BULK_MAX];
        let mut hits = 0u64;
        // SAFETY: the table is alive; `key_ptrs[..n]` point to `N`-byte keys borrowed for the
        // call; `data` has room for `n` results; `n` <= RTE_HASH_LOOKUP_BULK_MAX (checked).
        unsafe {
            sys::rte_hash_lookup_bulk_data(
                self.ptr.as_ptr(),
                key_ptrs.as_mut_ptr(),
                keys.len() as u32,
                &mut hits,
                data.as_mut_ptr(),
            );
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = (hits >> i & 1 == 1).then_some(data[i] as usize as u32);
        }
    }
}

impl<const N: usize> Drop for RteHash<N> {
    fn drop(&mut self) {
        // SAFETY: the table came from `rte_hash_create` and is freed once, here; EAL is still
        // up (we hold it until after this runs).
        unsafe { sys::rte_hash_free(self.ptr.as_ptr()) }
    }
}
