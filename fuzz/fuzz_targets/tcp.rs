//! Arbitrary bytes through `tcp::Packet::new_checked`, every accessor, the options parser, the
//! splice's options reader and rewriter, the checksum, and the builder given what was read.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use stickwire::wire::ipv4;
use stickwire::wire::tcp::{
    options_iter, read_options, rewrite_options, OptionEdits, OptionsSeen, Packet, TcpOption, TcpRepr,
};

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

    // The rewriter on its own: all or nothing, whatever the bytes.
    let mut copy = data.to_vec();
    let edits = OptionEdits { ts_val_add: 0x0102_0304, ts_ecr_add: 0xfffe_fdfc, mss_max: Some(536) };
    match rewrite_options(&mut copy, &edits, |edge| edge ^ 0x8000_0001) {
        Ok(_) => assert!(read_options(data).is_ok()),
        Err(err) => {
            assert_eq!(read_options(data), Err(err));
            assert_eq!(copy, data);
        }
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

    // What was read, built again: it reads back the same, checksums right.
    if let Ok(seen) = read_options(packet.options()) {
        let repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            max_seg_size: seen.mss,
            window_scale: seen.window_scale,
            sack_permitted: seen.sack_permitted,
            timestamps: seen.timestamps,
            payload: packet.payload(),
        };
        let mut buf = vec![0u8; ipv4::HEADER_LEN + repr.buffer_len()];
        let Ok(len) = repr.emit_ipv4(SRC, DST, 64, &mut buf) else {
            assert!(buf.len() > 65535, "only a packet too long is refused");
            return;
        };
        let ip = ipv4::Packet::new_checked(&buf[..len]).expect("emitted");
        assert!(ip.verify_checksum());
        let built = Packet::new_checked(ip.payload()).expect("emitted");
        assert!(built.verify_checksum(SRC, DST));
        assert_eq!(built.payload(), packet.payload());
        assert_eq!(read_options(built.options()), Ok(OptionsSeen { sack_blocks: 0, ..seen }));
    }

    let mut copy = data.to_vec();
    let mut packet = Packet::new_checked(&mut copy[..]).expect("same bytes");
    packet.set_flags(0xff);
    packet.set_seq_number(1);
    packet.set_ack_number(2);
    packet.fill_checksum(SRC, DST);
    assert!(packet.verify_checksum(SRC, DST));
    let _ = (packet.options_mut().len(), packet.payload_mut().len());

    // In a segment, with edits from its bytes: the delta keeps the checksum right.
    let edits = OptionEdits {
        ts_val_add: packet.src_port().into(),
        ts_ecr_add: packet.window_len().into(),
        mss_max: Some(packet.urgent_at()),
    };
    let sack_add = u32::from(packet.dst_port()) << 16;
    let before = packet.options().to_vec();
    match rewrite_options(packet.options_mut(), &edits, |edge| edge.wrapping_add(sack_add)) {
        Ok(delta) => {
            let sum = delta.apply(packet.checksum());
            packet.set_checksum(sum);
            assert!(packet.verify_checksum(SRC, DST));
        }
        Err(_) => assert_eq!(packet.options(), &before[..]),
    }
});
