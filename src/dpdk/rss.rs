//! DPDK's own software Toeplitz hash (`rte_softrss`), the reference `wire::rss` is checked
//! against.

use super::sys;

/// `rte_softrss` of `tuple` (host-order 32-bit words, as `struct rte_ipv4_tuple` holds them:
/// source address, destination address, `source port << 16 | destination port`) under `key`.
/// `None` when the key is too short for the tuple (DPDK reads `4 * (words + 1)` key bytes).
pub fn softrss(tuple: &[u32], key: &[u8]) -> Option<u32> {
    if key.len() < 4 * (tuple.len() + 1) {
        return None;
    }
    let mut words = tuple.to_vec();
    // SAFETY: `words` holds `tuple.len()` u32s, and `key` the `4 * (len + 1)` bytes the
    // function reads (checked above; it reads them as possibly unaligned u32s, which x86
    // allows). Neither is kept past the call; `words` is a copy the function may not write.
    Some(unsafe { sys::rte_softrss(words.as_mut_ptr(), words.len() as u32, key.as_ptr()) })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::rss::{Fields, Rss, Tuple, KEY_LEN, SYMMETRIC_KEY};

    /// The switch's Toeplitz against DPDK's on random keys and tuples, every field choice.
    #[test]
    fn the_switchs_toeplitz_is_dpdks() {
        let mut state = 0x5eed_u64;
        let mut next = || {
            state = crate::engine::hash::mix(state, 0x9e37_79b9);
            state
        };
        for round in 0..200 {
            let key: Vec<u8> =
                if round == 0 { SYMMETRIC_KEY.to_vec() } else { (0..KEY_LEN).map(|_| next() as u8).collect() };
            let tuple_rss = Rss::new(&key, Fields::Tuple, 1, 1);
            let source_rss = Rss::new(&key, Fields::Source, 1, 1);
            let destination_rss = Rss::new(&key, Fields::Destination, 1, 1);
            for _ in 0..50 {
                let r = next();
                let (src, dst, sp, dp) = (r as u32, (r >> 32) as u32, next() as u16, next() as u16);
                let t = Tuple { src: Ipv4Addr::from(src), dst: Ipv4Addr::from(dst), ports: Some((sp, dp)) };
                let ports = u32::from(sp) << 16 | u32::from(dp);
                assert_eq!(Some(tuple_rss.hash(&t)), softrss(&[src, dst, ports], &key), "{t:?}");
                // One side only: the selected fields packed at the start, as a device packs them.
                assert_eq!(Some(source_rss.hash(&t)), softrss(&[src, u32::from(sp) << 16], &key), "{t:?}");
                assert_eq!(Some(destination_rss.hash(&t)), softrss(&[dst, u32::from(dp) << 16], &key), "{t:?}");
                let addresses_only = Tuple { ports: None, ..t };
                assert_eq!(Some(tuple_rss.hash(&addresses_only)), softrss(&[src, dst], &key), "{t:?}");
            }
        }
        assert_eq!(softrss(&[1, 2, 3], &[0; 15]), None);
    }
}
