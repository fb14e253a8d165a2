//! Arbitrary bytes through `tcp::Packet::new_checked`, every accessor, the options parser and
//! the checksum.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stickwire::wire::tcp::{options_iter, Packet, TcpOption};

const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fuzz_target!(|data: &[u8]| {
    // The option parser on its own, over any bytes.
    let mut rest = data;
    while let Ok((next, option)) = TcpOption::parse(rest) {
        assert!(next.len() < rest.len());
        let mut buf = [0u8; 256];
        let len = option.buffer_len();
        assert_eq!(256 - option.emit(&mut buf).len(), len);
        rest = next;
    }

    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.src_port(), packet.dst_port(), packet.seq_number());
    let _ = (packet.ack_number(), packet.header_len(), packet.flags());
    let _ = (packet.fin(), packet.syn(), packet.rst(), packet.psh());
    let _ = (packet.ack(), packet.urg(), packet.ece(), packet.cwr());
    let _ = (packet.window_len(), packet.checksum(), packet.urgent_at());
    let _ = (packet.payload(), packet.segment_len(), packet.verify_checksum(SRC, DST));
    for option in options_iter(packet.options()) {
        let _ = option.map(|o| o.buffer_len());
    }

    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.set_flags(0xff);
    packet.set_seq_number(1);
    packet.set_ack_number(2);
    packet.fill_checksum(SRC, DST);
    assert!(packet.verify_checksum(SRC, DST));
    let _ = (packet.options_mut().len(), packet.payload_mut().len());
});
