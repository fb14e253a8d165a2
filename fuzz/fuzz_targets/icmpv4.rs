//! Arbitrary bytes through `icmpv4::Packet::new_checked`, every accessor and the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stickwire::wire::icmpv4::Packet;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.msg_type(), packet.code(), packet.checksum());
    let _ = (packet.rest_of_header(), packet.echo_ident(), packet.echo_seq_no());
    let _ = (packet.next_hop_mtu(), packet.data(), packet.verify_checksum());

    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.set_msg_type(0);
    packet.fill_checksum();
    assert!(packet.verify_checksum());
    let _ = packet.data_mut();
});
