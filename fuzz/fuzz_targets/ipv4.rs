//! Arbitrary bytes through `ipv4::Packet::new_checked`, every accessor, `Ipv4Repr` and the
//! checksum.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stickwire::wire::checksum;
use stickwire::wire::ipv4::{Ipv4Repr, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.version(), packet.header_len(), packet.dscp_ecn());
    let _ = (packet.dscp(), packet.ecn(), packet.total_len(), packet.ident());
    let _ = (packet.dont_frag(), packet.more_frags(), packet.frag_offset());
    let _ = (packet.is_fragment(), packet.ttl(), packet.protocol(), packet.checksum());
    let _ = (packet.src_addr(), packet.dst_addr(), packet.header(), packet.options());
    let _ = (packet.payload(), packet.verify_checksum());
    let _ = Ipv4Repr::parse(&packet);

    // A NAT rewrite with an incremental checksum update must verify like a recomputation.
    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.fill_checksum();
    assert!(packet.verify_checksum());
    let old = packet.dst_addr();
    let new = Ipv4Addr::new(10, 0, 0, 1);
    let updated = checksum::update_addr(packet.checksum(), old, new);
    packet.set_dst_addr(new);
    packet.set_checksum(updated);
    assert!(packet.verify_checksum());
    packet.set_ttl(0);
    packet.set_frag_offset(0xffff);
    let _ = (packet.options_mut().len(), packet.payload_mut().len());
});
