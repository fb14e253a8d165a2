//! Arbitrary bytes through `udp::Packet::new_checked`, every accessor and the checksum.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stickwire::wire::checksum;
use stickwire::wire::udp::Packet;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.src_port(), packet.dst_port(), packet.len(), packet.checksum());
    let _ = (packet.payload(), packet.verify_checksum(SRC, DST));

    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.fill_checksum(SRC, DST);
    assert!(packet.verify_checksum(SRC, DST));
    let old = packet.src_port();
    packet.update_checksum(|c| checksum::update16(c, old, 4242));
    packet.set_src_port(4242);
    assert!(packet.verify_checksum(SRC, DST));
    let _ = packet.payload_mut();
});
