//! Flow-table lookup cost at 1k, 100k and 1M tracked flows, random flows in bursts of 32.
//!
//! `cargo run --release --example flow_bench [LOOKUPS]`

use stickwire::engine::flow::{bench_lookups_with, FlowTable, LookupMode};

fn main() {
    let lookups: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000_000);
    println!("flow table: {} bytes per flow at most; {lookups} random lookups per run", FlowTable::bytes_per_flow());
    println!("{:>10} {:>22} {:>12} {:>12}", "flows", "mode", "ns/lookup", "Mlookups/s");
    for flows in [1_000usize, 100_000, 1_000_000] {
        for mode in [LookupMode::Burst, LookupMode::PrefetchThenLookup, LookupMode::Plain] {
            let (ns, mlps) = bench_lookups_with(flows, lookups, 0x5eed, mode);
            println!("{flows:>10} {:>22} {ns:>12.2} {mlps:>12.1}", format!("{mode:?}"));
        }
    }
}
