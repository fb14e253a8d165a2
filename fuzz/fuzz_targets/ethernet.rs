//! Arbitrary bytes through `ethernet::Frame::new_checked`, every accessor and `EthernetRepr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stickwire::wire::ethernet::{EthernetRepr, Frame};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::new_checked(data) else {
        return;
    };
    let _ = (frame.dst_addr(), frame.src_addr(), frame.outer_ethertype());
    let _ = (frame.is_tagged(), frame.vlan_tci(), frame.vlan_id());
    let _ = (frame.ethertype(), frame.header_len());
    assert_eq!(frame.header_len() + frame.payload().len(), data.len());
    let repr = EthernetRepr::parse(&frame).expect("parse after new_checked");

    let mut copy = data.to_vec();
    let mut frame = Frame::new_checked(&mut copy[..]).expect("same bytes");
    frame.set_src_addr(repr.dst_addr);
    frame.set_dst_addr(repr.src_addr);
    frame.set_ethertype(repr.ethertype);
    frame.set_vlan_id(42);
    let _ = frame.payload_mut();
    repr.emit(&mut frame);
});
