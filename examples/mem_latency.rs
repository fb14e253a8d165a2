//! What this machine's memory costs the flow table: the latency of one dependent load at
//! growing working sets (where the caches end), then how many independent cache misses one
//! core keeps in flight (what a burst of prefetched lookups can overlap at best).
//!
//! `cargo run --release --example mem_latency`
//!
//! A fast-path frame of a table far larger than the cache costs two random lines (bucket,
//! then flow): at best `2 x` the last column's ns per miss, before any work on the frame.

use std::hint::black_box;
use std::time::Instant;

use stickwire::mem::HugeSlice;

const LINE: usize = 64;
/// `usize`s per cache line: each line holds the index of the next line to visit.
const STRIDE: usize = LINE / std::mem::size_of::<usize>();

/// One random cycle through `lines` cache lines (Sattolo's shuffle), on huge pages where the
/// kernel allows, as the flow table is: `next[i * STRIDE]` is the line after line `i`.
fn random_cycle(lines: usize, seed: u64) -> HugeSlice<usize> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut rng = seed;
    for i in (1..lines).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        order.swap(i, (rng % i as u64) as usize);
    }
    let mut next = HugeSlice::new(lines * STRIDE, 0usize);
    for w in 0..lines {
        next[order[w] * STRIDE] = order[(w + 1) % lines] * STRIDE;
    }
    next
}

/// Nanoseconds per step of `chains` independent walks through the same cycle, each step a
/// load whose address depends on the previous load of its own walk.
fn walk(next: &[usize], chains: usize, steps: usize) -> f64 {
    let lines = next.len() / STRIDE;
    let mut at: Vec<usize> = (0..chains).map(|c| (c * lines / chains) * STRIDE).collect();
    // Warm the TLB and whatever of the cycle fits in cache.
    for _ in 0..lines.min(1 << 20) {
        at[0] = next[at[0]];
    }
    let start = Instant::now();
    for _ in 0..steps / chains {
        for a in at.iter_mut() {
            *a = next[*a];
        }
    }
    black_box(&at);
    start.elapsed().as_nanos() as f64 / (steps / chains * chains) as f64
}

fn main() {
    println!("dependent loads (one walk): ns per load");
    for kib in [16usize, 48, 128, 256, 512, 1024, 2048, 8192, 32768, 131_072] {
        let next = random_cycle(kib * 1024 / LINE, 0x5717_0000 + kib as u64);
        println!("{:>8} KiB {:>8.1}", kib, walk(&next, 1, 20_000_000));
    }
    let big = random_cycle(128 << 20 >> 6, 0x5717);
    println!("independent walks over 128 MiB: ns per load (= ns per miss once the core is saturated)");
    for chains in [1usize, 2, 4, 8, 16, 32] {
        println!("{:>8} walks {:>8.1}", chains, walk(&big, chains, 20_000_000));
    }
}
