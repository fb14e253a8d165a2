//! A micro benchmark of established-flow lookups, for `stickwire bench` and
//! `examples/flow_bench.rs`. It reads the wall clock, which the engine proper never does.

use std::hint::black_box;
use std::net::Ipv4Addr;

use super::{FlowId, FlowKey, FlowTable, Timeouts, BURST, PROTO_TCP};
use crate::time::Instant;

/// How the benchmark looks keys up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupMode {
    /// [`FlowTable::lookup_burst`]: buckets, then flows, fetched ahead for 32 keys.
    Burst,
    /// [`FlowTable::prefetch`] for 32 keys, then [`FlowTable::lookup_hashed`] for each.
    PrefetchThenLookup,
    /// [`FlowTable::lookup`] one after another, nothing fetched ahead.
    Plain,
}

/// The `i`th synthetic flow: client 10.x.y.z:port -> VIP 198.18.0.100:80, server
/// 198.18.1.{10,11,12}:80 -> local 198.19.a.b:port (full NAT). Distinct for every `i`
/// below 2^32.
pub fn bench_flow(i: usize) -> (FlowKey, FlowKey) {
    let i = i as u32;
    let client = FlowKey::new(
        Ipv4Addr::from(0x0a00_0000 | (i >> 14)),
        1024 + (i & 0x3fff) as u16,
        Ipv4Addr::new(198, 18, 0, 100),
        80,
        PROTO_TCP,
    );
    let server = FlowKey::new(
        Ipv4Addr::new(198, 18, 1, 10 + (i % 3) as u8),
        80,
        Ipv4Addr::from(0xc613_0000 | (i >> 16)),
        i as u16,
        PROTO_TCP,
    );
    (client, server)
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills a table with `table_flows` flows, then times `lookups` (rounded up to bursts of
/// 32) lookups of flows chosen at random, half from the client side, half from the server
/// side, with [`LookupMode::Burst`]. Returns (ns per lookup, million lookups per second).
pub fn bench_lookups(table_flows: usize, lookups: usize, seed: u64) -> (f64, f64) {
    bench_lookups_with(table_flows, lookups, seed, LookupMode::Burst)
}

/// [`bench_lookups`] with the lookup style chosen.
pub fn bench_lookups_with(table_flows: usize, lookups: usize, seed: u64, mode: LookupMode) -> (f64, f64) {
    let table_flows = table_flows.max(1);
    let mut table = FlowTable::new(table_flows, seed, Timeouts::default());
    for i in 0..table_flows {
        let (client, server) = bench_flow(i);
        table.insert(client, server, (i % 3) as u16, 0, Instant::ZERO).expect("bench table has room for its flows");
    }
    // The keys to look up, generated ahead so the timed loop only streams through them.
    let ring = lookups.clamp(BURST, 1 << 20).div_ceil(BURST) * BURST;
    let mut rng = seed ^ 0x6a09_e667_f3bc_c909;
    let keys: Vec<FlowKey> = (0..ring)
        .map(|_| {
            let r = splitmix(&mut rng);
            let (client, server) = bench_flow((r % table_flows as u64) as usize);
            if r >> 63 == 0 {
                client
            } else {
                server
            }
        })
        .collect();
    let run = |count: usize| -> (u64, u64) {
        let mut out: [Option<(FlowId, super::Direction)>; BURST] = [None; BURST];
        let (mut hits, mut sum, mut done) = (0u64, 0u64, 0usize);
        'outer: loop {
            for burst in keys.chunks_exact(BURST) {
                if done >= count {
                    break 'outer;
                }
                match mode {
                    LookupMode::Burst => table.lookup_burst(burst, &mut out),
                    LookupMode::PrefetchThenLookup => {
                        let mut hashes = [0u64; BURST];
                        for (h, k) in hashes.iter_mut().zip(burst) {
                            *h = table.prefetch(k);
                        }
                        for ((o, k), &h) in out.iter_mut().zip(burst).zip(&hashes) {
                            *o = table.lookup_hashed(k, h);
                        }
                    }
                    LookupMode::Plain => {
                        for (o, k) in out.iter_mut().zip(burst) {
                            *o = table.lookup(k);
                        }
                    }
                }
                for (id, _) in out.iter().flatten() {
                    hits += 1;
                    sum += u64::from(table.get(*id).server());
                }
                done += BURST;
            }
        }
        (hits, black_box(sum))
    };
    // Warm up (page tables, branch predictors), then measure.
    run(ring.min(1 << 16));
    let lookups = lookups.max(1).div_ceil(BURST) * BURST;
    let start = std::time::Instant::now();
    let (hits, _) = run(lookups);
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(hits, lookups as u64, "every benchmark lookup must hit");
    let ns = elapsed * 1e9 / lookups as f64;
    (ns, 1e3 / ns)
}
