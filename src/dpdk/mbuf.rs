//! `Mbuf`: one owned DPDK packet buffer.

use std::fmt;
use std::ptr::NonNull;
use std::slice;

use super::sys;
use crate::wire::buffer::FrameBuf;

/// An owned DPDK packet buffer (`struct rte_mbuf`), freed back to its pool on drop.
///
/// The frame is the data of the mbuf's first segment. Mbufs this crate hands out are single
/// segment (receive queues linearise or drop chained mbufs), so that is the whole frame.
///
/// `Send` (an mbuf may be freed on any thread), not `Sync`.
#[repr(transparent)]
pub struct Mbuf {
    ptr: NonNull<sys::rte_mbuf>,
}

// SAFETY: an `Mbuf` owns its rte_mbuf exclusively; DPDK lets any thread read, write and free
// (to a thread-safe mempool) an mbuf it owns.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must be a valid mbuf from a live mempool that nothing else owns or uses, and it
    /// should be a single segment (or be linearised before its data is resized).
    #[inline]
    pub(crate) unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf { ptr }
    }

    /// Frees every mbuf in `bufs` with one `rte_pktmbuf_free_bulk` call, leaving it empty
    /// (what a driver does on transmit completion; cheaper than one free per mbuf).
    pub fn free_bulk(bufs: &mut Vec<Mbuf>) {
        let Ok(count) = u32::try_from(bufs.len()) else {
            bufs.clear();
            return;
        };
        // SAFETY: `Mbuf` is `repr(transparent)` over `NonNull<rte_mbuf>`, so the vector's
        // storage is `count` valid mbuf pointers we own; DPDK frees each exactly once, and
        // `set_len(0)` then forgets them without running `Drop` a second time.
        unsafe {
            sys::rte_pktmbuf_free_bulk(bufs.as_mut_ptr().cast::<*mut sys::rte_mbuf>(), count);
            bufs.set_len(0);
        }
    }

    /// Gives up ownership without freeing.
    #[inline]
    #[allow(dead_code)] // for hand-over rings between cores
    pub(crate) fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf; no one else writes it while we hold `&self`.
        unsafe { self.ptr.as_ref() }
    }

    /// The frame's length (the first segment's `data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.raw().data_len)
    }

    /// Whether the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw().data_len == 0
    }

    /// The total length over all segments (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// The number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Free bytes in front of the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(self.raw().data_off)
    }

    /// Free bytes after the data (in the last segment).
    #[inline]
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len).saturating_sub(usize::from(m.data_off) + usize::from(m.data_len))
    }

    /// The port the frame was received on (`mbuf->port`).
    #[inline]
    pub fn rx_port(&self) -> u16 {
        self.raw().port
    }

    /// Copies a chained mbuf into its first segment (`rte_pktmbuf_linearize`).
    /// Returns `false` if the first segment has no room; a single segment is left alone.
    pub fn linearize(&mut self) -> bool {
        if self.raw().nb_segs <= 1 {
            return true;
        }
        // SAFETY: we own the mbuf chain exclusively.
        unsafe { sys::rte_pktmbuf_linearize(self.ptr.as_ptr()) == 0 }
    }

    #[inline]
    fn data_ptr(&self) -> *mut u8 {
        let m = self.raw();
        // SAFETY: `buf_addr + data_off` is inside the mbuf's buffer (DPDK's invariant
        // `data_off <= buf_len`).
        unsafe { m.buf_addr.cast::<u8>().add(usize::from(m.data_off)) }
    }
}

/// Where a device puts each frame's receive timestamp: DPDK's dynamic mbuf field
/// `rte_dynfield_timestamp`, valid when the frame's `rte_dynflag_rx_timestamp` flag is set.
/// The unit is the device's: net_pcap gives the capture's timestamp in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxTimestamp {
    offset: usize,
    flag: u64,
}

impl RxTimestamp {
    /// The field and flag, once a device has registered them (net_pcap does when it is
    /// probed); `None` if none has.
    pub fn lookup() -> Option<RxTimestamp> {
        // SAFETY: both names are NUL-terminated constants; a null `params` asks for the
        // offset (bit) alone. The lookups only read DPDK's registry of dynamic fields.
        let (offset, bit) = unsafe {
            (
                sys::rte_mbuf_dynfield_lookup(
                    sys::RTE_MBUF_DYNFIELD_TIMESTAMP_NAME.as_ptr().cast(),
                    std::ptr::null_mut(),
                ),
                sys::rte_mbuf_dynflag_lookup(
                    sys::RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME.as_ptr().cast(),
                    std::ptr::null_mut(),
                ),
            )
        };
        let offset = usize::try_from(offset).ok()?;
        let bit = u32::try_from(bit).ok().filter(|&b| b < 64)?;
        // The field is a u64 inside the mbuf's dynamic area.
        let dynfield = std::mem::offset_of!(sys::rte_mbuf, dynfield1);
        let area = std::mem::size_of::<sys::rte_mbuf>();
        if offset < dynfield || offset + 8 > area {
            return None;
        }
        Some(RxTimestamp { offset, flag: 1 << bit })
    }
}

impl Mbuf {
    /// The frame's receive timestamp, in the device's unit, if the device gave one.
    pub fn rx_timestamp(&self, field: RxTimestamp) -> Option<u64> {
        if self.raw().ol_flags & field.flag == 0 {
            return None;
        }
        // SAFETY: `RxTimestamp::lookup` checked that the 8 bytes at `offset` lie inside
        // `struct rte_mbuf` (in its dynamic field area), which we own; DPDK does not align
        // dynamic fields for us to rely on, so read unaligned.
        Some(unsafe { std::ptr::read_unaligned(self.ptr.as_ptr().cast::<u8>().add(field.offset).cast::<u64>()) })
    }
}

impl AsRef<[u8]> for Mbuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first segment's `data_len` bytes at `buf_addr + data_off` are
        // initialised frame data inside the buffer, owned by us for the borrow of `self`.
        unsafe { slice::from_raw_parts(self.data_ptr(), self.len()) }
    }
}

impl AsMut<[u8]> for Mbuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`, and `&mut self` makes the access exclusive. (Mbufs with
        // refcnt > 1 are never created by this crate: no clone or indirect mbufs.)
        unsafe { slice::from_raw_parts_mut(self.data_ptr(), self.len()) }
    }
}

impl FrameBuf for Mbuf {
    fn truncate(&mut self, len: usize) {
        let cur = self.len();
        if len >= cur && self.raw().nb_segs <= 1 {
            return;
        }
        if !self.linearize() {
            return;
        }
        let cur = self.len();
        if len >= cur {
            return;
        }
        // `cur` came from a u16, so the difference fits.
        let cut = (cur - len) as u16;
        // SAFETY: single-segment mbuf we own; trimming `cut <= data_len` bytes cannot fail.
        unsafe { sys::rte_pktmbuf_trim(self.ptr.as_ptr(), cut) };
    }

    fn try_resize(&mut self, len: usize) -> bool {
        if !self.linearize() {
            return false;
        }
        let cur = self.len();
        if len <= cur {
            FrameBuf::truncate(self, len);
            return true;
        }
        let Ok(grow) = u16::try_from(len - cur) else {
            return false;
        };
        // SAFETY: single-segment mbuf we own; `rte_pktmbuf_append` returns NULL (changing
        // nothing) when the tailroom is short, else a pointer to `grow` new bytes at the end.
        let tail = unsafe { sys::rte_pktmbuf_append(self.ptr.as_ptr(), grow) };
        if tail.is_null() {
            return false;
        }
        // Zero the new bytes, as `Vec<u8>` does, so DPDK and software paths emit the same frames.
        // SAFETY: `tail` points to `grow` writable bytes inside the buffer.
        unsafe { std::ptr::write_bytes(tail.cast::<u8>(), 0, usize::from(grow)) };
        true
    }

    #[inline]
    fn try_copy_from(&mut self, data: &[u8]) -> bool {
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        if self.raw().nb_segs > 1 && !self.linearize() {
            return false;
        }
        if usize::from(len) > usize::from(self.raw().buf_len).saturating_sub(self.headroom()) {
            return false;
        }
        // SAFETY: a single-segment mbuf we own, with room for `len` bytes after `data_off`
        // (checked above): setting both lengths is what `rte_pktmbuf_reset` + `append` would
        // do, without two calls per frame, and every byte of the new data is then written.
        unsafe {
            let m = self.ptr.as_mut();
            m.data_len = len;
            m.pkt_len = u32::from(len);
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.data_ptr(), data.len());
        }
        true
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (chain); it goes back to its (live) pool exactly once.
        unsafe { sys::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf").field("len", &self.len()).field("segments", &self.segments()).finish()
    }
}
