//! Arbitrary bytes through `arp::Packet::new_checked`, every accessor and `ArpRepr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stickwire::wire::arp::{ArpRepr, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.hardware_type(), packet.protocol_type());
    let _ = (packet.hardware_len(), packet.protocol_len(), packet.operation());
    let _ = (packet.sender_hw_addr(), packet.sender_ip_addr());
    let _ = (packet.target_hw_addr(), packet.target_ip_addr());
    let repr = ArpRepr::parse(&packet).expect("parse after new_checked");

    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    repr.emit(&mut packet);
    assert_eq!(&copy[..], data);
});
