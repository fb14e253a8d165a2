//! Arbitrary frame sequences through the whole per-frame pipeline: the engine of the
//! reference two-arm topology, with time moving on so ARP retries and expiries run too.
//! Input: records of [port byte][length u8][that many bytes]...
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stickwire::engine::{Engine, Output, PortAddr, StaticNeighbour, Topology, Vip};
use stickwire::time::Instant;
use stickwire::wire::MacAddr;

fn topology() -> Topology {
    let port = |name: &str, last: u8, ip: Ipv4Addr| PortAddr {
        name: name.into(),
        mac: MacAddr([0x02, 0x53, 0x57, 0, 0, last]),
        ip,
        prefix_len: 24,
        gateway: None,
    };
    Topology {
        ports: vec![port("client", 1, Ipv4Addr::new(198, 18, 0, 1)), port("server", 2, Ipv4Addr::new(198, 18, 1, 1))],
        vips: vec![Vip { name: "web".into(), ip: Ipv4Addr::new(198, 18, 0, 100) }],
        static_neighbours: vec![StaticNeighbour {
            port: 1,
            ip: Ipv4Addr::new(198, 18, 1, 10),
            mac: MacAddr([2, 0, 0, 0, 1, 10]),
        }],
    }
}

fuzz_target!(|data: &[u8]| {
    let mut engine: Engine<Vec<u8>> = Engine::new(topology());
    let mut out = Output::new(2);
    let mut alloc = || Some(Vec::new());
    engine.start(&mut alloc, &mut out);
    let mut now = 0u64;
    let mut rest = data;
    while let [port, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (frame, next) = tail.split_at(len);
        rest = next;
        now += 300_000_000; // 0.3 s per frame: retries and give-ups happen
        let t = Instant::from_nanos(now);
        engine.process(usize::from(port & 1), frame.to_vec(), t, &mut alloc, &mut out);
        engine.poll(t, &mut alloc, &mut out);
        for frames in &mut out.tx {
            frames.clear();
        }
    }
});
