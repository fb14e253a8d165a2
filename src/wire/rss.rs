//! Receive side scaling as a NIC computes it: the Toeplitz hash of some of a frame's fields
//! under a key, and a redirection table (RETA) from the hash's low bits to a receive queue.
//!
//! The same computation as DPDK's `rte_softrss`, so the switch knows, without asking the
//! device, which queue (and so which core) a tuple lands on: the core that owns a flow, and
//! the full-NAT local ports whose replies come back to it. The in-memory port spreads its
//! frames with it too.
//!
//! The input is the fields in network order, as a NIC reads them: for IPv4 with ports,
//! source address, destination address, source port, destination port (`rte_softrss` over
//! `struct rte_ipv4_tuple`); without ports (ICMP, a fragment), the two addresses.
//! [`Fields::Source`] and [`Fields::Destination`] take one side's address and port only (DPDK's
//! `RTE_ETH_RSS_L3_SRC_ONLY | RTE_ETH_RSS_L4_SRC_ONLY` and the `DST_ONLY` pair): a client
//! arm hashing on the source and a server arm hashing on the destination both hash a
//! gateway-NAT flow on the client's address and port, so both directions land on one queue.
//!
//! With [`SYMMETRIC_KEY`] (0x6d5a repeated, period 16 bits) the hash depends only on the XOR
//! of the input's 16-bit words: swapping source and destination changes nothing, and neither
//! does where a field sits in the input (so a device that packs the selected fields and one
//! that zeroes the others agree).

use std::net::Ipv4Addr;

use super::{ethernet, ipv4};

/// The Toeplitz key length of most NICs (and of the key the switch configures).
pub const KEY_LEN: usize = 40;

/// The symmetric key: both directions of a tuple hash alike.
pub const SYMMETRIC_KEY: [u8; KEY_LEN] = {
    let mut key = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

/// The longest input hashed: IPv4 addresses and ports.
const MAX_INPUT: usize = 12;

/// The Toeplitz hash of `input` under `key`, bit by bit (the definition, for tests and for
/// keys too short for [`Toeplitz`]): for each set bit `i` of the input, most significant
/// first, the 32 key bits starting at bit `i` are XORed into the result.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let mut result = 0u32;
    for (byte_at, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= key_window(key, byte_at * 8 + bit);
            }
        }
    }
    result
}

/// The 32 bits of `key` starting at bit `at` (zeros past its end).
fn key_window(key: &[u8], at: usize) -> u32 {
    let mut window = 0u64;
    for k in 0..5 {
        window = (window << 8) | u64::from(key.get(at / 8 + k).copied().unwrap_or(0));
    }
    (window >> (8 - at % 8)) as u32
}

/// The Toeplitz hash under one key, a table lookup per input byte (12 for IPv4 with ports).
#[derive(Clone)]
pub struct Toeplitz {
    /// `table[i][b]`: what byte `b` at input offset `i` contributes.
    table: Box<[[u32; 256]; MAX_INPUT]>,
}

impl Toeplitz {
    /// The hash under `key` (at least 16 bytes: 12 of input and the 32-bit window).
    pub fn new(key: &[u8]) -> Toeplitz {
        let mut table = Box::new([[0u32; 256]; MAX_INPUT]);
        for (at, row) in table.iter_mut().enumerate() {
            for (byte, cell) in row.iter_mut().enumerate() {
                // The key from byte `at` on: its windows are those from bit 8 * at.
                *cell = toeplitz(&key[at..], &[byte as u8]);
            }
        }
        Toeplitz { table }
    }

    /// The hash of `input` (at most 12 bytes; the rest is ignored).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input.iter().zip(self.table.iter()).fold(0, |h, (&b, row)| h ^ row[usize::from(b)])
    }
}

impl std::fmt::Debug for Toeplitz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Toeplitz")
    }
}

/// Which fields of an IPv4 frame the device hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// Both addresses and, for TCP and UDP, both ports.
    Tuple,
    /// The source address and port only (a client arm: the client's).
    Source,
    /// The destination address and port only (a server arm: the client's under gateway
    /// NAT, the switch's local address and port under full NAT).
    Destination,
}

/// A device's receive side scaling: key, fields and redirection table.
#[derive(Debug, Clone)]
pub struct Rss {
    toeplitz: Toeplitz,
    key: Vec<u8>,
    fields: Fields,
    /// Queue per table entry; its length is a power of two.
    reta: Vec<u16>,
}

/// A frame's fields as RSS sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// `None`: not TCP or UDP, or a fragment (the device hashes the addresses alone).
    pub ports: Option<(u16, u16)>,
}

impl Rss {
    /// RSS with `key` on `fields`, spreading over `queues` queues through a table of
    /// `reta_size` entries (rounded up to a power of two) filled `0, 1, .., queues - 1, 0, ..`
    /// as DPDK fills it by default.
    pub fn new(key: &[u8], fields: Fields, queues: u16, reta_size: usize) -> Rss {
        let size = reta_size.max(1).next_power_of_two();
        let reta = (0..size).map(|i| (i % usize::from(queues.max(1))) as u16).collect();
        Rss::with_reta(key, fields, reta)
    }

    /// RSS with an explicit redirection table (as read back from a device). A table whose
    /// length is not a power of two is cut to the largest power of two it holds.
    pub fn with_reta(key: &[u8], fields: Fields, mut reta: Vec<u16>) -> Rss {
        if reta.is_empty() {
            reta.push(0);
        }
        let size = 1usize << (usize::BITS - 1 - reta.len().leading_zeros());
        reta.truncate(size);
        let mut padded = key.to_vec();
        padded.resize(padded.len().max(MAX_INPUT + 4), 0);
        Rss { toeplitz: Toeplitz::new(&padded), key: key.to_vec(), fields, reta }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn fields(&self) -> Fields {
        self.fields
    }

    pub fn reta(&self) -> &[u16] {
        &self.reta
    }

    /// The hash of a tuple, over the fields this device takes.
    #[inline]
    pub fn hash(&self, t: &Tuple) -> u32 {
        let mut input = [0u8; MAX_INPUT];
        let len = match (self.fields, t.ports) {
            (Fields::Tuple, Some((sp, dp))) => {
                input[..4].copy_from_slice(&t.src.octets());
                input[4..8].copy_from_slice(&t.dst.octets());
                input[8..10].copy_from_slice(&sp.to_be_bytes());
                input[10..12].copy_from_slice(&dp.to_be_bytes());
                12
            }
            (Fields::Tuple, None) => {
                input[..4].copy_from_slice(&t.src.octets());
                input[4..8].copy_from_slice(&t.dst.octets());
                8
            }
            (Fields::Source, ports) => one_side(&mut input, t.src, ports.map(|p| p.0)),
            (Fields::Destination, ports) => one_side(&mut input, t.dst, ports.map(|p| p.1)),
        };
        self.toeplitz.hash(&input[..len])
    }

    /// The queue a hash selects.
    #[inline]
    pub fn queue_of_hash(&self, hash: u32) -> u16 {
        self.reta[hash as usize & (self.reta.len() - 1)]
    }

    /// The queue a tuple lands on.
    #[inline]
    pub fn queue_of_tuple(&self, t: &Tuple) -> u16 {
        self.queue_of_hash(self.hash(t))
    }

    /// The queue a frame lands on: frames RSS does not hash (not IPv4, or too short to
    /// read) land on the queue of hash 0, as on a NIC.
    pub fn queue_of(&self, frame: &[u8]) -> u16 {
        match tuple_of(frame) {
            Some(t) => self.queue_of_tuple(&t),
            None => self.reta[0],
        }
    }
}

fn one_side(input: &mut [u8; MAX_INPUT], addr: Ipv4Addr, port: Option<u16>) -> usize {
    input[..4].copy_from_slice(&addr.octets());
    match port {
        Some(p) => {
            input[4..6].copy_from_slice(&p.to_be_bytes());
            6
        }
        None => 4,
    }
}

/// The IPv4 tuple of an Ethernet frame, if it has one.
pub fn tuple_of(frame: &[u8]) -> Option<Tuple> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(&frame[eth.header_len()..]).ok()?;
    let proto = ip.protocol();
    let l4 = ip.payload();
    let ports = (matches!(proto, ipv4::protocol::TCP | ipv4::protocol::UDP) && !ip.is_fragment() && l4.len() >= 4)
        .then(|| (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]])));
    Some(Tuple { src: ip.src_addr(), dst: ip.dst_addr(), ports })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{self, Segment};
    use crate::wire::MacAddr;

    /// Microsoft's RSS verification suite (the key and IPv4/TCP vectors every NIC datasheet
    /// quotes): 66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca,
        0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b,
        0xbe, 0xac, 0x01, 0xfa,
    ];

    fn t(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Tuple {
        Tuple { src: Ipv4Addr::from(src), dst: Ipv4Addr::from(dst), ports: Some((sp, dp)) }
    }

    #[test]
    fn microsoft_verification_vectors() {
        // (source, destination, source port, destination port, IPv4 only, with TCP)
        let vectors = [
            ([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766, 0x323e_8fc2, 0x51cc_c178),
            ([199, 92, 111, 2], [65, 69, 140, 83], 14230, 4739, 0xd718_262a, 0xc626_b0ea),
            ([24, 19, 198, 95], [12, 22, 207, 184], 12898, 38024, 0xd2d0_a5de, 0x5c2b_394a),
            ([38, 27, 205, 30], [209, 142, 163, 6], 48228, 2217, 0x8298_9176, 0xafc7_327f),
            ([153, 39, 163, 191], [202, 188, 127, 2], 44251, 1303, 0x5d18_09c5, 0x10e8_28a2),
        ];
        let rss = Rss::new(&MS_KEY, Fields::Tuple, 1, 1);
        for (src, dst, sp, dp, l3, l4) in vectors {
            let mut tuple = t(src, dst, sp, dp);
            assert_eq!(rss.hash(&tuple), l4, "{tuple:?}");
            let mut input = [0u8; 12];
            input[..4].copy_from_slice(&src);
            input[4..8].copy_from_slice(&dst);
            input[8..10].copy_from_slice(&sp.to_be_bytes());
            input[10..].copy_from_slice(&dp.to_be_bytes());
            assert_eq!(toeplitz(&MS_KEY, &input), l4);
            tuple.ports = None;
            assert_eq!(rss.hash(&tuple), l3, "{tuple:?}");
        }
    }

    #[test]
    fn the_symmetric_key_hashes_both_directions_alike() {
        let rss = Rss::new(&SYMMETRIC_KEY, Fields::Tuple, 4, 128);
        let mut seed = 7u64;
        for _ in 0..1000 {
            let r = crate::engine::hash::mix(seed, 1);
            seed = r;
            let (a, b) = (Ipv4Addr::from(r as u32), Ipv4Addr::from((r >> 32) as u32));
            let (pa, pb) = (r as u16, (r >> 16) as u16);
            assert_eq!(rss.hash(&t(a.octets(), b.octets(), pa, pb)), rss.hash(&t(b.octets(), a.octets(), pb, pa)));
        }
    }

    /// A client arm hashing on the source and a server arm on the destination put a gateway
    /// NAT flow's two directions on one queue; the server's address and port do not matter.
    #[test]
    fn source_on_one_arm_and_destination_on_the_other_meet_on_the_client() {
        let client_arm = Rss::new(&SYMMETRIC_KEY, Fields::Source, 4, 128);
        let server_arm = Rss::new(&SYMMETRIC_KEY, Fields::Destination, 4, 128);
        let mut queues = [0usize; 4];
        for port in 1024..3072u16 {
            let client = [198, 18, 0, (port % 200) as u8];
            let q = client_arm.queue_of_tuple(&t(client, [198, 18, 0, 100], port, 80));
            assert_eq!(q, server_arm.queue_of_tuple(&t([198, 18, 1, 10], client, 80, port)));
            assert_eq!(q, server_arm.queue_of_tuple(&t([198, 18, 1, 11], client, 8080, port)));
            queues[usize::from(q)] += 1;
        }
        assert!(queues.iter().all(|&n| n > 300), "spread over every queue: {queues:?}");
    }

    #[test]
    fn frames_are_read_as_tuples_and_others_go_to_the_first_entry() {
        let rss = Rss::with_reta(&SYMMETRIC_KEY, Fields::Tuple, vec![3, 1, 2, 0, 1, 1]);
        assert_eq!(rss.reta().len(), 4, "cut to a power of two");
        let seg = Segment { src_port: 40000, dst_port: 81, flags: 0x02, ..Default::default() };
        let (c, v) = (Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 100));
        let frame = craft::tcp_frame(MacAddr::ZERO, MacAddr::ZERO, c, v, &seg);
        assert_eq!(tuple_of(&frame), Some(t(c.octets(), v.octets(), 40000, 81)));
        assert_eq!(rss.queue_of(&frame), rss.queue_of_tuple(&t(c.octets(), v.octets(), 40000, 81)));
        let arp = craft::arp_request_frame(MacAddr([2, 0, 0, 0, 0, 1]), c, v);
        assert_eq!(rss.queue_of(&arp), 3);
        assert_eq!(rss.queue_of(&[0u8; 7]), 3);
    }
}
