//! The buffer a frame lives in.
//!
//! Fast-path code is written against [`FrameBuf`], so the same engine runs on a DPDK `Mbuf`
//! and on a `Vec<u8>` in tests and in the software ports.

/// An owned, contiguous frame buffer: the bytes of one Ethernet frame.
pub trait FrameBuf: AsRef<[u8]> + AsMut<[u8]> + Send {
    /// Shortens the frame to `len` bytes; does nothing if it is not longer than that.
    fn truncate(&mut self, len: usize);

    /// Sets the frame's length to `len`, growing into the buffer's tailroom.
    /// Returns `false`, leaving the frame as it was, when the buffer has no room for `len`.
    fn try_resize(&mut self, len: usize) -> bool;

    /// Replaces the frame with a copy of `data`; `false` (frame unchanged) if it does not fit.
    fn try_copy_from(&mut self, data: &[u8]) -> bool {
        if !self.try_resize(data.len()) {
            return false;
        }
        self.as_mut().copy_from_slice(data);
        true
    }
}

/// The largest frame the software buffers grow to (an untagged 1500-byte MTU frame plus
/// one 802.1Q tag, without FCS), matching the DPDK mbuf data room we allocate.
pub const MAX_FRAME_LEN: usize = 1518;

impl FrameBuf for Vec<u8> {
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len)
    }

    fn try_resize(&mut self, len: usize) -> bool {
        if len > MAX_FRAME_LEN.max(self.len()) {
            return false;
        }
        self.resize(len, 0);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_resizes_within_max_frame() {
        let mut v = vec![1u8; 60];
        assert!(v.try_resize(100));
        assert_eq!(v.len(), 100);
        assert!(!v.try_resize(MAX_FRAME_LEN + 1));
        assert_eq!(v.len(), 100);
        FrameBuf::truncate(&mut v, 10);
        assert_eq!(v, vec![1u8; 10]);
    }
}
