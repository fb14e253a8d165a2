//! `rte-hash-<n>`: the reference the issue measures the flow table against, run in the same
//! process as `l4-established-<n>`: a bare loop over DPDK's own `rte_hash` doing the same
//! work per frame, on the same in-memory ports, mbufs and frames.
//!
//! Per burst of 32: read each frame's 5-tuple at fixed offsets, one
//! `rte_hash_lookup_bulk_data` (CRC32C hashing, signatures in the buckets, keys and values
//! in a key store apart from them), then for each hit read the flow's NAT record (an array
//! of 32-byte records indexed by the value, as a C program would keep its connections),
//! count the frame, rewrite both MACs, both addresses, both ports and the TTL with
//! incremental checksums, and send it on the server port. The table holds both keys of
//! every flow (client side and server side) like the engine's, sized the same.
//!
//! What it leaves out, and the engine does: the MAC and header-checksum checks on receive,
//! TCP state tracking and expiry times, per-service and per-server counters, routing and
//! the neighbour table, the hand-off view. So it is a floor for the work, not an equal.

use std::net::Ipv4Addr;
use std::sync::Barrier;
use std::time::{Duration, Instant as StdInstant};

use super::{client, client_ack, in_delivery_order, server_ip, server_mac, SERVERS, SERVER_PORT, SW1, VIP, VIP_PORT};
use crate::bench::{MbufPool, Meter, Scenario};
use crate::dpdk::{self, Mbuf, Mempool, RteHash};
use crate::port::mem::MemPort;
use crate::port::{Port, BURST};
use crate::time::Instant;
use crate::wire::checksum::Delta;

/// An IPv4 5-tuple as `rte_hash` compares it: addresses, ports, protocol, zero padding.
type Key = [u8; 16];

fn key(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16) -> Key {
    let mut k = [0u8; 16];
    k[0..4].copy_from_slice(&src.octets());
    k[4..8].copy_from_slice(&dst.octets());
    k[8..10].copy_from_slice(&src_port.to_be_bytes());
    k[10..12].copy_from_slice(&dst_port.to_be_bytes());
    k[12] = 6;
    k
}

/// What a frame of the flow leaves with, and the flow's counters.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct NatRecord {
    src: u32,
    dst: u32,
    src_port: u16,
    dst_port: u16,
    server: u8,
    packets: u64,
    bytes: u64,
}

/// The key of a frame with a 20-byte IPv4 header and TCP, read at fixed offsets.
fn frame_key(f: &[u8]) -> Option<Key> {
    if f.len() < 38 || f[12..14] != [0x08, 0x00] || f[14] != 0x45 || f[23] != 6 {
        return None;
    }
    let mut k = [0u8; 16];
    k[0..8].copy_from_slice(&f[26..34]);
    k[8..12].copy_from_slice(&f[34..38]);
    k[12] = 6;
    Some(k)
}

/// Rewrites a frame of the flow as the engine's full NAT does; false if its TTL ran out.
fn rewrite(f: &mut [u8], nat: &NatRecord) -> bool {
    let ttl = f[22];
    if ttl <= 1 {
        return false;
    }
    let be32 = |f: &[u8], i: usize| u32::from_be_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
    let be16 = |f: &[u8], i: usize| u16::from_be_bytes([f[i], f[i + 1]]);
    f[0..6].copy_from_slice(&server_mac(nat.server).0);
    f[6..12].copy_from_slice(&SW1.0);
    let addrs = Delta::default().replace32(be32(f, 26), nat.src).replace32(be32(f, 30), nat.dst);
    let ip_sum = addrs.replace16(u16::from_be_bytes([ttl, 6]), u16::from_be_bytes([ttl - 1, 6])).apply(be16(f, 24));
    let ports = Delta::default().replace16(be16(f, 34), nat.src_port).replace16(be16(f, 36), nat.dst_port);
    let tcp_sum = addrs.and(ports).apply(be16(f, 50));
    f[22] = ttl - 1;
    f[24..26].copy_from_slice(&ip_sum.to_be_bytes());
    f[26..30].copy_from_slice(&nat.src.to_be_bytes());
    f[30..34].copy_from_slice(&nat.dst.to_be_bytes());
    f[34..36].copy_from_slice(&nat.src_port.to_be_bytes());
    f[36..38].copy_from_slice(&nat.dst_port.to_be_bytes());
    f[50..52].copy_from_slice(&tcp_sum.to_be_bytes());
    true
}

/// `rte-hash-<label>` over `n` flows: the same frames as `l4-established-<label>`, on
/// `threads` threads (each pinned to a core of its own, as the engine's workers are, with its
/// share of the flows in a table of its own: share nothing), all measured at once.
pub(in crate::bench) fn reference(
    label: &str,
    n: usize,
    threads: usize,
    pool: &Mempool,
    duration: Duration,
    io_fwd: f64,
) -> Result<Scenario, String> {
    let name = format!("rte-hash-{label}");
    if n > 16 * 64_512 {
        return Err(format!("{name}: at most {} flows have server-side tuples of their own", 16 * 64_512));
    }
    let threads = threads.max(1);
    let cores = dpdk::process_cores();
    let start_line = Barrier::new(threads);
    let results: Vec<Result<Measured, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (name, start_line, core) = (&name, &start_line, cores.get(t % cores.len().max(1)).copied());
                s.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    let lcore = dpdk::register_thread();
                    // Built on its own thread (the table on that core's socket); the start line
                    // is met even when the build fails, so that no other thread waits forever.
                    let built = build(name, t, threads, n, pool);
                    start_line.wait();
                    let measured = built.map(|mut bench| bench.measure(duration));
                    if lcore.is_ok() {
                        dpdk::unregister_thread();
                    }
                    measured
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(format!("{name}: a thread panicked")))).collect()
    });
    let (mut meter, mut elapsed, mut received, mut sent, mut keys) = (Meter::new(), Duration::ZERO, 0, 0, 0);
    for m in results {
        let m = m?;
        meter.add(&m.meter);
        elapsed = elapsed.max(m.elapsed);
        (received, sent, keys) = (received + m.received, sent + m.sent, keys + m.keys);
    }
    println!("{name} x{threads}: {n} flows ({keys} keys in rte_hash); received {received}, sent {sent}");
    if sent != received {
        return Err(format!("{name}: sent {sent} of {received} frames received; not reporting"));
    }
    let mut scenario = meter.scenario(&name, elapsed, Some(io_fwd));
    scenario.workers = threads;
    Ok(scenario)
}

/// What one thread of the reference measured.
struct Measured {
    meter: Meter,
    elapsed: Duration,
    received: u64,
    sent: u64,
    keys: usize,
}

/// The loop of thread `t` of `threads`: the flows `i` with `i % threads == t`, both keys of each
/// in its table.
fn build(name: &str, t: usize, threads: usize, n: usize, pool: &Mempool) -> Result<Loop, String> {
    let mine: Vec<usize> = (t..n).step_by(threads).collect();
    let capacity = mine.len() + mine.len() / 4;
    let entries = u32::try_from(2 * capacity).map_err(|_| format!("{name}: too many flows"))?;
    let mut table = RteHash::<16>::new(&format!("{name}-{t}"), entries).map_err(|e| format!("{name}: {e}"))?;
    let mut records = vec![NatRecord::default(); mine.len()];
    for (value, (&i, record)) in mine.iter().zip(records.iter_mut()).enumerate() {
        let (cip, cport) = client(i);
        let server = (i % usize::from(SERVERS)) as u8;
        // A full-NAT local address and port of its own for each flow (16 x 64512 of them).
        let local = Ipv4Addr::new(198, 18, 1, 100 + (i / 64_512 % 16) as u8);
        let local_port = 1024 + (i % 64_512) as u16;
        *record = NatRecord {
            src: u32::from(local),
            dst: u32::from(server_ip(server)),
            src_port: local_port,
            dst_port: SERVER_PORT,
            server,
            ..NatRecord::default()
        };
        let value = value as u32;
        table.insert(&key(cip, VIP, cport, VIP_PORT), value).map_err(|e| format!("{name}: flow {i}: {e}"))?;
        table
            .insert(&key(server_ip(server), local, SERVER_PORT, local_port), value)
            .map_err(|e| format!("{name}: flow {i}: {e}"))?;
    }
    let keys = table.len();
    if keys != 2 * mine.len() {
        return Err(format!("{name}: {keys} keys in rte_hash for {} flows, not two per flow", mine.len()));
    }
    let frames = in_delivery_order(mine.iter().map(|&i| client_ack(i)).collect());
    Ok(Loop {
        rx: MemPort::new(frames, None, MbufPool(pool.clone())),
        tx: MemPort::new(vec![], None, MbufPool(pool.clone())),
        table,
        records,
        burst: Vec::with_capacity(BURST),
        out: Vec::with_capacity(BURST),
        dropped: Vec::with_capacity(BURST),
    })
}

/// The reference's state: what a C program's main loop would hold.
struct Loop {
    rx: MemPort<MbufPool>,
    tx: MemPort<MbufPool>,
    table: RteHash<16>,
    records: Vec<NatRecord>,
    burst: Vec<Mbuf>,
    out: Vec<Mbuf>,
    dropped: Vec<Mbuf>,
}

impl Loop {
    /// Warms up, then turns for `duration`.
    fn measure(&mut self, duration: Duration) -> Measured {
        for _ in 0..4096 {
            self.turn();
        }
        let (rx_before, tx_before) = (self.rx.stats().rx_frames, self.tx.stats().tx_frames);
        let mut meter = Meter::new();
        meter.start();
        let start = StdInstant::now();
        while start.elapsed() < duration {
            for _ in 0..1024 {
                let t = dpdk::tsc();
                let got = self.turn();
                meter.record(t, got);
            }
        }
        let elapsed = start.elapsed();
        meter.stop();
        let (received, sent) = (self.rx.stats().rx_frames - rx_before, self.tx.stats().tx_frames - tx_before);
        Measured { meter, elapsed, received, sent, keys: self.table.len() }
    }

    /// One poll: a burst received, looked up in bulk, rewritten and sent. Returns the
    /// frames received.
    fn turn(&mut self) -> usize {
        let now = Instant::ZERO;
        self.rx.rx_burst(now, &mut self.burst, BURST);
        let got = self.burst.len();
        let mut keys = [[0u8; 16]; BURST];
        for (k, m) in keys.iter_mut().zip(&self.burst) {
            *k = frame_key(m.as_ref()).unwrap_or_default();
        }
        let mut found = [None; BURST];
        self.table.lookup_bulk(&keys[..got], &mut found[..got]);
        for (mut m, hit) in self.burst.drain(..).zip(found) {
            let Some(record) = hit.and_then(|v| self.records.get_mut(v as usize)) else {
                self.dropped.push(m);
                continue;
            };
            record.packets += 1;
            record.bytes += m.as_ref().len() as u64;
            if rewrite(m.as_mut(), record) {
                self.out.push(m);
            } else {
                self.dropped.push(m);
            }
        }
        self.tx.tx_burst(now, &mut self.out);
        Mbuf::free_bulk(&mut self.dropped);
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ipv4, tcp};

    /// The reference rewrites a frame into a valid one for the server: the same work as the
    /// engine's full NAT, or its figure would flatter it.
    #[test]
    fn rewrite_gives_valid_checksums_and_the_nat_tuple() {
        let mut frame = client_ack(7);
        assert_eq!(frame_key(&frame), Some(key(client(7).0, VIP, client(7).1, VIP_PORT)));
        let nat = NatRecord {
            src: u32::from(Ipv4Addr::new(198, 18, 1, 101)),
            dst: u32::from(server_ip(1)),
            src_port: 40000,
            dst_port: SERVER_PORT,
            server: 1,
            ..NatRecord::default()
        };
        assert!(rewrite(&mut frame, &nat));
        assert_eq!(&frame[0..6], &server_mac(1).0);
        let ip = ipv4::Packet::new_checked(&frame[14..]).expect("valid IPv4");
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (Ipv4Addr::new(198, 18, 1, 101), server_ip(1), 63));
        let seg = tcp::Packet::new_checked(&frame[34..54]).expect("valid TCP");
        assert!(seg.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!((seg.src_port(), seg.dst_port()), (40000, SERVER_PORT));
    }
}
