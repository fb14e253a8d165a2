//! Arbitrary bytes as a capture through the whole re-enactment (read, cast, played through the
//! engine of the example config with small tables, judged): a report or an error, never a
//! panic, and every conversation accounted for once.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stickwire::control::config::Config;
use stickwire::reenact::{self, vipmap::VipMap};

fuzz_target!(|data: &[u8]| {
    let text = include_str!("../../examples/two-arm.toml")
        .replace("flows = 65536     # per worker", "flows = 256\nhead_buffers = 8")
        .replace("sticky = 65536", "sticky = 256");
    let config = Config::parse(&text).expect("the example config");
    let map = VipMap::new(vec!["*:80=198.18.0.100:80".parse().unwrap(), "*:81=198.18.0.100:81".parse().unwrap()]);
    let options = reenact::Options::new(Path::new("fuzz.pcap"), map);
    if let Ok(report) = reenact::reenact_bytes(&config, data, &options) {
        let unmapped: usize = report.unmapped.iter().map(|u| u.conversations).sum();
        assert_eq!(report.connections.len() + unmapped + report.skipped.len(), report.capture.tcp_conversations);
        let _ = report.to_json();
        let _ = report.to_string();
    }
});
