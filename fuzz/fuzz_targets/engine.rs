//! Arbitrary frame sequences through the whole per-frame pipeline: the engine of the
//! reference two-arm topology with its VIP ports, with time moving on so ARP retries and
//! flow and sticky expiries run too.
//! Input: records of [port byte][length u8][that many bytes]...; port byte bit 0 is the
//! port, bit 1 "same burst as the frame before".
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stickwire::control::config::Config;
use stickwire::engine::service::Services;
use stickwire::engine::{Engine, Output, Topology};
use stickwire::time::Instant;

/// The reference two-arm switch, with its VIP ports (full NAT sticky, round robin, gateway
/// NAT, DSR): every L4 path is reachable.
fn engine() -> Engine<Vec<u8>> {
    // Built once: Maglev tables take milliseconds; each input gets a fresh copy.
    static SETUP: OnceLock<(Topology, Services)> = OnceLock::new();
    let (topology, services) = SETUP.get_or_init(|| {
        let config = Config::parse(include_str!("../../examples/two-arm.toml")).expect("example config");
        let mut services = config.services(stickwire::engine::hash::Secrets::from_seed(1));
        services.flow_capacity = 64;
        services.sticky_capacity = 64;
        services.head_buffers = 8;
        (config.topology(&config.configured_macs()), services)
    });
    Engine::with_services(topology.clone(), services.clone(), Default::default())
}

fuzz_target!(|data: &[u8]| {
    let mut engine = engine();
    let mut out = Output::new(2);
    let mut alloc = || Some(Vec::new());
    engine.start(&mut alloc, &mut out);
    let mut now = 0u64;
    let mut rest = data;
    // Frames reach the engine in bursts, as from a port: a frame whose port byte has bit 1
    // set joins the burst before it (same port), so the burst path's staging is exercised.
    let (mut burst, mut burst_port) = (Vec::new(), 0usize);
    let mut flush = |burst: &mut Vec<Vec<u8>>, port: usize, engine: &mut Engine<Vec<u8>>| {
        now += 300_000_000; // 0.3 s per burst: retries and give-ups happen
        let t = Instant::from_nanos(now);
        engine.process_burst(port, burst, t, &mut alloc, &mut out);
        engine.poll(t, &mut alloc, &mut out);
        for frames in &mut out.tx {
            frames.clear();
        }
    };
    while let [port, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        let p = usize::from(port & 1);
        if !burst.is_empty() && (p != burst_port || port & 2 == 0) {
            flush(&mut burst, burst_port, &mut engine);
        }
        burst_port = p;
        burst.push(frame.to_vec());
    }
    if !burst.is_empty() {
        flush(&mut burst, burst_port, &mut engine);
    }
});
