//! Engine tests: (what is sent in, the verdict, what comes out), frame by frame.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::craft::{self, Segment};
use crate::wire::{arp, ethernet, icmpv4, ipv4, tcp};

const SW0: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 0, 1]);
const SW1: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 0, 2]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0xcc, 0, 0, 0, 2]);
const OTHER_MAC: MacAddr = MacAddr([0x02, 0xcc, 0, 0, 0, 9]);
const OWN0: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const OWN1: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OTHER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);

fn topology() -> Topology {
    let port =
        |name: &str, mac, ip| PortAddr { name: name.into(), mac, ip, prefix_len: 24, gateway: None, local_ips: vec![] };
    Topology {
        ports: vec![port("client", SW0, OWN0), port("server", SW1, OWN1)],
        vips: vec![Vip { name: "web".into(), ip: VIP }],
        static_neighbours: vec![],
    }
}

struct Harness {
    engine: Engine<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Instant,
}

impl Harness {
    fn new() -> Harness {
        Harness { engine: Engine::new(topology()), out: Output::new(2), now: Instant::from_millis(1) }
    }

    fn send(&mut self, port: PortIdx, frame: Vec<u8>) -> Verdict {
        self.engine.process(port, frame, self.now, &mut || Some(Vec::new()), &mut self.out)
    }

    fn take(&mut self, port: PortIdx) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out.tx[port])
    }

    /// The client asks for `ip` by ARP (and so becomes a known neighbour).
    fn client_arps_for(&mut self, ip: Ipv4Addr) -> Verdict {
        self.send(0, craft::arp_request_frame(CLIENT_MAC, CLIENT, ip))
    }
}

fn arp_of(frame: &[u8]) -> arp::ArpRepr {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), ethernet::ethertype::ARP);
    arp::ArpRepr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap()
}

#[test]
fn answers_arp_for_the_vip_and_own_address_only_on_their_port() {
    let mut h = Harness::new();
    for target in [VIP, OWN0] {
        assert_eq!(h.client_arps_for(target), Verdict::Answer(0));
        let out = h.take(0);
        assert_eq!(out.len(), 1);
        let eth = ethernet::Frame::new_checked(&out[0][..]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, SW0));
        assert_eq!(out[0].len(), 42);
        let reply = arp_of(&out[0]);
        assert_eq!(reply.operation, arp::op::REPLY);
        assert_eq!((reply.sender_hw, reply.sender_ip), (SW0, target));
        assert_eq!((reply.target_hw, reply.target_ip), (CLIENT_MAC, CLIENT));
    }
    // The server-side address is not answered on the client side, nor a stranger's.
    assert_eq!(h.client_arps_for(OWN1), Verdict::Drop(DropReason::ArpNotForUs));
    assert_eq!(h.client_arps_for(OTHER), Verdict::Drop(DropReason::ArpNotForUs));
    assert!(h.take(0).is_empty());
    assert_eq!(h.engine.counters().arp_replies_sent, 2);
    assert_eq!(h.engine.counters().neighbours_learned, 1);
}

#[test]
fn arp_reply_keeps_a_vlan_tag_and_drops_padding() {
    let mut h = Harness::new();
    let mut payload = craft::arp(arp::op::REQUEST, CLIENT_MAC, CLIENT, MacAddr::ZERO, VIP);
    payload.extend_from_slice(&[0xee; 14]);
    let frame = craft::ethernet_tagged(MacAddr::BROADCAST, CLIENT_MAC, 7, ethernet::ethertype::ARP, &payload);
    assert_eq!(h.send(0, frame), Verdict::Answer(0));
    let out = h.take(0);
    let eth = ethernet::Frame::new_checked(&out[0][..]).unwrap();
    assert_eq!(eth.vlan_id(), Some(7));
    assert_eq!(out[0].len(), 18 + 28);
}

#[test]
fn echo_request_is_answered_with_a_valid_reply() {
    let mut h = Harness::new();
    h.client_arps_for(OWN0);
    h.take(0);
    for dst in [OWN0, VIP] {
        let request = craft::echo_frame(SW0, CLIENT_MAC, CLIENT, dst, 0x1234, 7);
        assert_eq!(h.send(0, request.clone()), Verdict::Answer(0));
        let out = h.take(0);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), request.len());
        let eth = ethernet::Frame::new_checked(&out[0][..]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, SW0));
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr(), ip.ttl()), (dst, CLIENT, 64));
        let icmp = icmpv4::Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), icmpv4::msg_type::ECHO_REPLY);
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x1234, 7));
        let req_icmp = &request[34..];
        assert_eq!(icmp.data(), &req_icmp[8..]);
    }
    assert_eq!(h.engine.counters().echo_replies_sent, 2);
}

#[test]
fn answer_to_an_unknown_neighbour_waits_for_arp() {
    let mut h = Harness::new();
    // OTHER never asked us anything: the reply must be held while we ask for its MAC.
    let request = craft::echo_frame(SW0, OTHER_MAC, OTHER, OWN0, 1, 1);
    assert_eq!(h.send(0, request), Verdict::Held);
    let out = h.take(0);
    assert_eq!(out.len(), 1);
    let ask = arp_of(&out[0]);
    assert_eq!(ask.operation, arp::op::REQUEST);
    assert_eq!((ask.sender_hw, ask.sender_ip, ask.target_ip), (SW0, OWN0, OTHER));
    assert_eq!(ethernet::Frame::new_checked(&out[0][..]).unwrap().dst_addr(), MacAddr::BROADCAST);
    // A second echo is queued behind the same request.
    assert_eq!(h.send(0, craft::echo_frame(SW0, OTHER_MAC, OTHER, OWN0, 1, 2)), Verdict::Held);
    assert!(h.take(0).is_empty());
    // The answer releases both replies, addressed to the MAC it gave.
    let answer = craft::ethernet(
        SW0,
        OTHER_MAC,
        ethernet::ethertype::ARP,
        &craft::arp(arp::op::REPLY, OTHER_MAC, OTHER, SW0, OWN0),
    );
    assert_eq!(h.send(0, answer), Verdict::Consumed);
    let out = h.take(0);
    assert_eq!(out.len(), 2);
    for f in &out {
        assert_eq!(ethernet::Frame::new_checked(&f[..]).unwrap().dst_addr(), OTHER_MAC);
    }
}

#[test]
fn unanswered_arp_is_retried_then_the_frames_dropped() {
    let mut h = Harness::new();
    assert_eq!(h.send(0, craft::echo_frame(SW0, OTHER_MAC, OTHER, OWN0, 1, 1)), Verdict::Held);
    h.take(0);
    for s in 1..=3 {
        h.engine.poll(Instant::from_millis(1 + s * 1000), &mut || Some(Vec::new()), &mut h.out);
    }
    assert_eq!(h.take(0).len(), 2, "two retries after the first request");
    assert_eq!(h.engine.counters().arp_requests_sent, 3);
    assert_eq!(h.engine.counters().drops(DropReason::NeighbourUnresolved), 1);
}

#[test]
fn syn_to_an_unconfigured_vip_port_gets_a_reset() {
    let mut h = Harness::new();
    h.client_arps_for(VIP);
    h.take(0);
    let mss = [2, 4, 0x05, 0xb4];
    let syn = Segment {
        src_port: 40000,
        dst_port: 8080,
        seq: 1000,
        flags: tcp::flags::SYN,
        window: 64240,
        options: &mss,
        ..Default::default()
    };
    assert_eq!(h.send(0, craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, VIP, &syn)), Verdict::Answer(0));
    let out = h.take(0);
    assert_eq!(out[0].len(), 14 + 40);
    let eth = ethernet::Frame::new_checked(&out[0][..]).unwrap();
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (VIP, CLIENT));
    let rst = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert!(rst.verify_checksum(VIP, CLIENT));
    assert_eq!((rst.src_port(), rst.dst_port()), (8080, 40000));
    assert!(rst.rst() && rst.ack() && !rst.syn());
    assert_eq!((rst.seq_number(), rst.ack_number()), (0, 1001));
    assert_eq!(h.engine.counters().resets_sent, 1);
}

#[test]
fn other_segments_and_tcp_to_the_switch_are_dropped() {
    let mut h = Harness::new();
    let ack = Segment { src_port: 1, dst_port: 80, seq: 5, ack: 9, flags: tcp::flags::ACK, ..Default::default() };
    assert_eq!(
        h.send(0, craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, VIP, &ack)),
        Verdict::Drop(DropReason::TcpClosedPort)
    );
    let syn = Segment { src_port: 1, dst_port: 22, seq: 5, flags: tcp::flags::SYN, ..Default::default() };
    assert_eq!(
        h.send(0, craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, OWN0, &syn)),
        Verdict::Drop(DropReason::TcpToSwitch)
    );
    let mut bad = craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, VIP, &syn);
    bad[14 + 20 + 16] ^= 0x01; // the TCP checksum
    assert_eq!(h.send(0, bad), Verdict::Drop(DropReason::TcpMalformed));
    assert!(h.take(0).is_empty());
}

#[test]
fn garbage_is_dropped_by_name() {
    let mut h = Harness::new();
    let echo = craft::echo_frame(SW0, CLIENT_MAC, CLIENT, OWN0, 1, 1);
    let mut bad_ihl = echo.clone();
    bad_ihl[14] = 0x44;
    let mut long_total = echo.clone();
    long_total[16..18].copy_from_slice(&1400u16.to_be_bytes());
    let mut bad_sum = echo.clone();
    bad_sum[24] ^= 0xff;
    let fragment = craft::ethernet(SW0, CLIENT_MAC, 0x0800, &{
        let mut ip = craft::ipv4(CLIENT, OWN0, 1, &craft::icmp_echo_request(1, 1, b"x"));
        ip[6] = 0x20; // MF
        let mut p = ipv4::Packet::new_unchecked(&mut ip);
        p.fill_checksum();
        ip
    });
    let truncated_arp = craft::arp_request_frame(CLIENT_MAC, CLIENT, VIP)[..30].to_vec();
    let mut rarp = craft::arp_request_frame(CLIENT_MAC, CLIENT, VIP);
    rarp[14] = 0x00;
    rarp[15] = 0x06; // hardware type IEEE 802
    let cases: Vec<(&str, PortIdx, Vec<u8>, DropReason)> = vec![
        ("empty", 0, vec![], DropReason::Runt),
        ("runt", 0, vec![0xff; 13], DropReason::Runt),
        ("tag without type", 0, craft::ethernet(SW0, CLIENT_MAC, 0x8100, &[0, 1]), DropReason::Runt),
        (
            "unicast to another MAC",
            0,
            craft::echo_frame(OTHER_MAC, CLIENT_MAC, CLIENT, OWN0, 1, 1),
            DropReason::NotOurMac,
        ),
        ("ipv6", 0, craft::ethernet(SW0, CLIENT_MAC, 0x86dd, &[0x60; 40]), DropReason::Ipv6),
        ("lldp", 0, craft::ethernet(SW0, CLIENT_MAC, 0x88cc, &[0; 46]), DropReason::UnknownEthertype),
        ("bad ihl", 0, bad_ihl, DropReason::Ipv4Malformed),
        ("total length beyond frame", 0, long_total, DropReason::Ipv4Malformed),
        ("bad ip checksum", 0, bad_sum, DropReason::Ipv4BadChecksum),
        ("fragment", 0, fragment, DropReason::Ipv4Fragment),
        ("truncated arp", 0, truncated_arp, DropReason::ArpTruncated),
        ("arp for another hardware", 0, rarp, DropReason::ArpUnsupported),
        ("to a stranger", 0, craft::echo_frame(SW0, CLIENT_MAC, CLIENT, OTHER, 1, 1), DropReason::NotForUs),
        ("udp to the vip", 0, craft::udp_frame(SW0, CLIENT_MAC, CLIENT, VIP, 5, 53, b"q"), DropReason::UdpNoService),
        (
            "gre to the vip",
            0,
            craft::ethernet(SW0, CLIENT_MAC, 0x0800, &craft::ipv4(CLIENT, VIP, 47, &[0; 8])),
            DropReason::UnknownProtocol,
        ),
        (
            "icmp reply",
            0,
            {
                let mut f = craft::echo_frame(SW0, CLIENT_MAC, CLIENT, OWN0, 1, 1);
                f[34] = 0;
                f[36..38].fill(0);
                let sum = crate::wire::checksum::data(&f[34..]);
                f[36..38].copy_from_slice(&sum.to_be_bytes());
                f
            },
            DropReason::IcmpUnhandled,
        ),
    ];
    for (name, port, frame, reason) in cases {
        assert_eq!(h.send(port, frame), Verdict::Drop(reason), "{name}");
        assert_eq!(h.out.pending(), 0, "{name} produced output");
    }
    assert_eq!(h.engine.counters().total_drops(), 16);
}

#[test]
fn start_announces_every_owned_address_on_its_port() {
    let mut h = Harness::new();
    h.engine.start(&mut || Some(Vec::new()), &mut h.out);
    let on0: Vec<_> = h.take(0).iter().map(|f| arp_of(f)).collect();
    let on1: Vec<_> = h.take(1).iter().map(|f| arp_of(f)).collect();
    assert_eq!(on0.iter().map(|a| a.target_ip).collect::<Vec<_>>(), vec![OWN0, VIP]);
    assert_eq!(on1.iter().map(|a| a.target_ip).collect::<Vec<_>>(), vec![OWN1]);
    for a in on0.iter().chain(&on1) {
        assert_eq!(a.sender_ip, a.target_ip, "gratuitous");
    }
    assert_eq!(h.engine.counters().gratuitous_arps_sent, 3);
}

#[test]
fn static_neighbours_need_no_arp() {
    let mut t = topology();
    t.static_neighbours.push(StaticNeighbour { port: 0, ip: OTHER, mac: OTHER_MAC });
    let mut engine = Engine::new(t);
    let mut out = Output::new(2);
    let v = engine.process(
        0,
        craft::echo_frame(SW0, OTHER_MAC, OTHER, OWN0, 1, 1),
        Instant::ZERO,
        &mut || Some(Vec::new()),
        &mut out,
    );
    assert_eq!(v, Verdict::Answer(0));
    assert_eq!(ethernet::Frame::new_checked(&out.tx[0][0][..]).unwrap().dst_addr(), OTHER_MAC);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Any bytes at all: one verdict, no panic, and the output matches the verdict.
    #[test]
    fn any_frame_gets_exactly_one_verdict(port in 0usize..2, bytes in proptest::collection::vec(any::<u8>(), 0..200), to_us in any::<bool>()) {
        let mut h = Harness::new();
        let mut frame = bytes;
        if to_us && frame.len() >= 14 {
            frame[..6].copy_from_slice(&[SW0, SW1][port].0);
        }
        let v = h.send(port, frame);
        let sent = h.out.pending();
        match v {
            Verdict::Answer(_) | Verdict::Forward(_) => prop_assert!(sent >= 1),
            Verdict::Held => prop_assert!(sent <= 1),
            Verdict::Drop(_) | Verdict::Consumed => prop_assert_eq!(sent, 0),
        }
        prop_assert_eq!(h.engine.counters().rx_frames, 1);
    }

    /// Valid headers with random contents after them: each frame counted once and either
    /// dropped under the reason its verdict names, or answered with one frame.
    #[test]
    fn mutated_valid_frames_get_one_counted_verdict(seed in proptest::collection::vec(any::<(u16, u8)>(), 1..8), kind in 0u8..4) {
        let mut h = Harness::new();
        let mut frame = match kind {
            0 => craft::echo_frame(SW0, CLIENT_MAC, CLIENT, OWN0, 1, 1),
            1 => craft::arp_request_frame(CLIENT_MAC, CLIENT, VIP),
            2 => craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, VIP, &Segment { flags: tcp::flags::SYN, dst_port: 81, options: &[1, 1, 1, 0], ..Default::default() }),
            _ => craft::udp_frame(SW0, CLIENT_MAC, CLIENT, VIP, 1, 2, b"abc"),
        };
        for (at, value) in seed {
            let i = usize::from(at) % frame.len();
            frame[i] = value;
        }
        let v = h.send(0, frame);
        let c = h.engine.counters();
        prop_assert_eq!(c.rx_frames, 1);
        match v {
            Verdict::Drop(reason) => {
                prop_assert_eq!((c.drops(reason), c.total_drops(), h.out.pending()), (1, 1, 0));
            }
            Verdict::Answer(_) => prop_assert_eq!((c.total_drops(), h.out.pending()), (0, 1)),
            Verdict::Forward(_) | Verdict::Held | Verdict::Consumed => {
                prop_assert_eq!(c.total_drops(), 0);
                prop_assert!(h.out.pending() <= 1);
            }
        }
    }
}
