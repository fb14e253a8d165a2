//! The L4 path frame by frame: scheduling, NAT rewrites with valid checksums, replies,
//! refusals. Driven through the whole engine.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::craft::{self, Segment};
use crate::engine::hash::Secrets;
use crate::engine::predictor::{Predictor, PredictorKind, ServerState};
use crate::engine::service::{server_views, NatMode, RealServer, Service, Services, StickyPolicy, SynCookies};
use crate::engine::{DropReason, Engine, Output, PortAddr, StaticNeighbour, Topology, Verdict, Vip};
use crate::time::Instant;
use crate::wire::{ethernet, ipv4, tcp, MacAddr};

const SW0: MacAddr = MacAddr([2, 0x53, 0x57, 0, 0, 1]);
const SW1: MacAddr = MacAddr([2, 0x53, 0x57, 0, 0, 2]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0xcc, 0, 0, 0, 2]);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

fn server_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, 10 + i)
}
fn server_mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, 10 + i])
}

fn engine(nat: NatMode, sticky: bool, flows: usize) -> Engine<Vec<u8>> {
    engine_with_locals(nat, sticky, flows, vec![], SynCookies::Never)
}

/// `engine`, with `local_ips` as the server port's extra full-NAT sources and the port's
/// `syn_cookies`.
fn engine_with_locals(
    nat: NatMode,
    sticky: bool,
    flows: usize,
    local_ips: Vec<Ipv4Addr>,
    syn_cookies: SynCookies,
) -> Engine<Vec<u8>> {
    let port =
        |name: &str, mac, ip| PortAddr { name: name.into(), mac, ip, prefix_len: 24, gateway: None, local_ips: vec![] };
    let mut static_neighbours: Vec<StaticNeighbour> =
        (0..3).map(|i| StaticNeighbour { port: 1, ip: server_ip(i), mac: server_mac(i) }).collect();
    static_neighbours.push(StaticNeighbour { port: 0, ip: CLIENT, mac: CLIENT_MAC });
    let topology = Topology {
        ports: vec![
            port("client", SW0, Ipv4Addr::new(198, 18, 0, 1)),
            PortAddr { local_ips, ..port("server", SW1, LOCAL) },
        ],
        vips: vec![Vip { name: "web".into(), ip: VIP }],
        static_neighbours,
    };
    let servers: Vec<RealServer> = (0..3)
        .map(|i| RealServer::named(&format!("rs{}", i + 1), server_ip(i), if nat == NatMode::Dsr { 81 } else { 80 }))
        .collect();
    let ids = vec![0, 1, 2];
    let predictor = Predictor::new(PredictorKind::RoundRobin, &server_views(&servers, &ids), 65537, 1).unwrap();
    let service = Service {
        name: "web:81/tcp".into(),
        vip: VIP,
        port: 81,
        proto: 6,
        nat,
        sticky: sticky.then_some(StickyPolicy { age: Duration::from_secs(300), prefix_len: 32 }),
        servers: ids,
        predictor,
        l7: None,
        syn_cookies,
    };
    let services = Services {
        services: vec![service],
        servers,
        flow_capacity: flows,
        sticky_capacity: 64,
        secrets: Secrets::from_seed(3),
        ..Services::default()
    };
    Engine::with_services(topology, services, Default::default())
}

struct Run {
    engine: Engine<Vec<u8>>,
    out: Output<Vec<u8>>,
}

impl Run {
    fn new(engine: Engine<Vec<u8>>) -> Run {
        Run { engine, out: Output::new(2) }
    }
    fn send(&mut self, port: usize, frame: Vec<u8>) -> (Verdict, Option<Vec<u8>>) {
        self.send_at(port, frame, Instant::from_millis(1))
    }
    fn send_at(&mut self, port: usize, frame: Vec<u8>, now: Instant) -> (Verdict, Option<Vec<u8>>) {
        let v = self.engine.process(port, frame, now, &mut || Some(Vec::new()), &mut self.out);
        let sent = self.out.tx.iter_mut().find_map(|q| q.pop());
        self.out.tx.iter_mut().for_each(Vec::clear);
        (v, sent)
    }
}

fn from_client(src_port: u16, flags: u8, options: &[u8]) -> Vec<u8> {
    let s = Segment { src_port, dst_port: 81, seq: 1000, ack: 0, flags, window: 64240, options, payload: b"" };
    craft::tcp_frame(SW0, CLIENT_MAC, CLIENT, VIP, &s)
}

/// Parses a forwarded frame; asserts its IP and TCP checksums are right.
fn parsed(frame: &[u8]) -> (MacAddr, Ipv4Addr, u16, Ipv4Addr, u16, u8, Vec<u8>) {
    let eth = ethernet::Frame::new_checked(frame).unwrap();
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum(), "IP checksum");
    let seg = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert!(seg.verify_checksum(ip.src_addr(), ip.dst_addr()), "TCP checksum after rewrite");
    (eth.dst_addr(), ip.src_addr(), seg.src_port(), ip.dst_addr(), seg.dst_port(), ip.ttl(), seg.options().to_vec())
}

#[test]
fn full_nat_rewrites_both_ways_with_valid_checksums() {
    let mut run = Run::new(engine(NatMode::Full, false, 16));
    let mss_9000 = [2, 4, 0x23, 0x28];
    let (v, out) = run.send(0, from_client(40000, tcp::flags::SYN, &mss_9000));
    assert_eq!(v, Verdict::Forward(1));
    let (mac, src, local_port, dst, dport, ttl, opts) = parsed(&out.unwrap());
    assert_eq!((mac, dst, dport), (server_mac(0), server_ip(0), 80));
    assert_eq!(src, LOCAL, "full NAT: source is the switch's server-side address");
    assert_eq!(ttl, 63);
    assert_eq!(opts, [2, 4, 0x05, 0xb4], "MSS clamped to 1460");

    // The server's SYN-ACK comes back to the local port and leaves as the VIP.
    let reply = Segment {
        src_port: 80,
        dst_port: local_port,
        seq: 5,
        ack: 1001,
        flags: tcp::flags::SYN | tcp::flags::ACK,
        ..Default::default()
    };
    let (v, out) = run.send(1, craft::tcp_frame(SW1, server_mac(0), server_ip(0), LOCAL, &reply));
    assert_eq!(v, Verdict::Forward(0));
    let (mac, src, sport, dst, dport, _, _) = parsed(&out.unwrap());
    assert_eq!((mac, src, sport, dst, dport), (CLIENT_MAC, VIP, 81, CLIENT, 40000));

    // Established data from the client keeps going to the same server and local port.
    let (v, out) = run.send(0, from_client(40000, tcp::flags::ACK, &[]));
    assert_eq!(v, Verdict::Forward(1));
    let (_, src2, sport2, dst2, _, _, _) = parsed(&out.unwrap());
    assert_eq!((src2, sport2, dst2), (LOCAL, local_port, server_ip(0)));
    let stats = run.engine.l4().stats();
    assert_eq!((stats.flows_created, stats.servers[0].packets), (1, 3));
}

#[test]
fn full_nat_takes_turns_over_the_local_addresses_and_finds_replies_on_each() {
    let locals = [Ipv4Addr::new(198, 18, 1, 2), Ipv4Addr::new(198, 18, 1, 3)];
    let mut run = Run::new(engine_with_locals(NatMode::Full, false, 16, locals.to_vec(), SynCookies::Never));
    let mut seen = Vec::new();
    for i in 0..6u16 {
        let (v, out) = run.send(0, from_client(41000 + i, tcp::flags::SYN, &[]));
        assert_eq!(v, Verdict::Forward(1));
        let (_, src, local_port, dst, _, _, _) = parsed(&out.unwrap());
        seen.push((src, local_port, dst));
    }
    let sources: Vec<(Ipv4Addr, u16)> = seen.iter().map(|&(ip, port, _)| (ip, port)).collect();
    assert_eq!(
        sources,
        [(LOCAL, 1024), (locals[0], 1024), (locals[1], 1024), (LOCAL, 1025), (locals[0], 1025), (locals[1], 1025)]
    );
    // A reply to each source address finds its flow and goes back to the right client port.
    for (i, &(local, local_port, server)) in seen.iter().enumerate() {
        let reply = Segment {
            src_port: 80,
            dst_port: local_port,
            flags: tcp::flags::SYN | tcp::flags::ACK,
            ..Default::default()
        };
        let mac = server_mac(server.octets()[3] - 10);
        let (v, out) = run.send(1, craft::tcp_frame(SW1, mac, server, local, &reply));
        assert_eq!(v, Verdict::Forward(0), "reply {i} to {local}:{local_port}");
        let (_, src, sport, dst, dport, _, _) = parsed(&out.unwrap());
        assert_eq!((src, sport, dst, dport), (VIP, 81, CLIENT, 41000 + i as u16));
    }
}

#[test]
fn gateway_nat_keeps_the_client_address() {
    let mut run = Run::new(engine(NatMode::Gateway, false, 16));
    let (_, out) = run.send(0, from_client(40001, tcp::flags::SYN, &[]));
    let (_, src, sport, dst, dport, _, _) = parsed(&out.unwrap());
    assert_eq!((src, sport, dst, dport), (CLIENT, 40001, server_ip(0), 80));
    let reply =
        Segment { src_port: 80, dst_port: 40001, flags: tcp::flags::SYN | tcp::flags::ACK, ..Default::default() };
    let (v, out) = run.send(1, craft::tcp_frame(SW1, server_mac(0), server_ip(0), CLIENT, &reply));
    assert_eq!(v, Verdict::Forward(0));
    let (_, src, sport, dst, dport, _, _) = parsed(&out.unwrap());
    assert_eq!((src, sport, dst, dport), (VIP, 81, CLIENT, 40001));
}

#[test]
fn dsr_changes_only_the_mac() {
    let mut run = Run::new(engine(NatMode::Dsr, false, 16));
    let syn = from_client(40002, tcp::flags::SYN, &[]);
    let (v, out) = run.send(0, syn.clone());
    assert_eq!(v, Verdict::Forward(1));
    let out = out.unwrap();
    let (mac, ..) = parsed(&out);
    assert_eq!(mac, server_mac(0));
    assert_eq!(&out[12..], &syn[12..], "IP packet untouched");
    assert_eq!(&out[6..12], &SW1.0);
}

#[test]
fn round_robin_spreads_and_sticky_keeps() {
    let mut run = Run::new(engine(NatMode::Full, false, 64));
    let servers: Vec<Ipv4Addr> =
        (0..6).map(|p| parsed(&run.send(0, from_client(41000 + p, tcp::flags::SYN, &[])).1.unwrap()).3).collect();
    assert_eq!(servers, [0, 1, 2, 0, 1, 2].map(server_ip));

    let mut run = Run::new(engine(NatMode::Full, true, 64));
    let servers: Vec<Ipv4Addr> =
        (0..6).map(|p| parsed(&run.send(0, from_client(42000 + p, tcp::flags::SYN, &[])).1.unwrap()).3).collect();
    assert!(servers.iter().all(|s| *s == servers[0]), "{servers:?}");
    assert_eq!(run.engine.l4().stats().sticky_hits, 5);
}

#[test]
fn full_table_refuses_new_flows_with_rst_and_keeps_the_old() {
    use tcp::flags::{ACK, SYN};
    // Gateway NAT: the servers answer the client's own port.
    let mut run = Run::new(engine(NatMode::Gateway, false, 2));
    for (port, server) in [(43000, 0), (43001, 1)] {
        let (v, _) = run.send(0, from_client(port, SYN, &[]));
        assert_eq!(v, Verdict::Forward(1));
        let s = Segment { src_port: 80, dst_port: port, seq: 5000, ack: 1001, flags: SYN | ACK, ..Default::default() };
        run.send(1, craft::tcp_frame(SW1, server_mac(server), server_ip(server), CLIENT, &s));
        run.send(0, from_client(port, ACK, &[]));
    }
    assert_eq!(run.engine.l4().flows().half_open(), 0, "both established");
    let (v, out) = run.send(0, from_client(43002, SYN, &[]));
    assert_eq!(v, Verdict::Answer(0));
    let out = out.unwrap();
    let eth = ethernet::Frame::new_checked(&out[..]).unwrap();
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    let rst = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert!(rst.rst() && rst.ack_number() == 1001);
    assert_eq!(run.engine.l4().stats().refused_table_full, 1);
    let (v, _) = run.send(0, from_client(43000, ACK, &[]));
    assert_eq!(v, Verdict::Forward(1), "existing flows untouched");
}

/// A table full of half-open flows (a SYN flood) makes room: a new SYN evicts one of them
/// (conntrack's early drop) instead of being refused.
#[test]
fn a_full_table_of_half_open_flows_makes_room_for_a_new_one() {
    let mut run = Run::new(engine(NatMode::Full, false, 2));
    for port in [43100, 43101, 43102, 43103] {
        let (v, _) = run.send(0, from_client(port, tcp::flags::SYN, &[]));
        assert_eq!(v, Verdict::Forward(1), "port {port}");
    }
    let stats = run.engine.l4().stats();
    assert_eq!((stats.refused_table_full, stats.evicted_half_open), (0, 2));
    assert_eq!(run.engine.l4().flows().len(), 2);
}

#[test]
fn down_servers_get_nothing_new_and_their_flows_are_reset() {
    let mut run = Run::new(engine(NatMode::Full, false, 16));
    let (_, out) = run.send(0, from_client(44000, tcp::flags::SYN, &[]));
    assert_eq!(parsed(&out.unwrap()).3, server_ip(0));
    run.engine.l4_mut().set_server_state(0, ServerState::Down);
    for p in 1..7 {
        let (_, out) = run.send(0, from_client(44000 + p, tcp::flags::SYN, &[]));
        assert_ne!(parsed(&out.unwrap()).3, server_ip(0));
    }
    // The flow on the dead server: the client gets a RST.
    let (v, out) = run.send(0, from_client(44000, tcp::flags::ACK, &[]));
    assert_eq!(v, Verdict::Answer(0));
    let out = out.unwrap();
    let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
    assert!(tcp::Packet::new_checked(ip.payload()).unwrap().rst());
    assert_eq!(run.engine.l4().stats().reset_server_gone, 1);
    // Every server down: SYNs are refused.
    for i in 1..3 {
        run.engine.l4_mut().set_server_state(i, ServerState::Down);
    }
    let (v, _) = run.send(0, from_client(44100, tcp::flags::SYN, &[]));
    assert_eq!(v, Verdict::Answer(0));
    assert_eq!(run.engine.l4().stats().refused_no_server, 1);
}

/// A SYN flood's spoofed sources on the client's subnet never answer ARP: once a source has
/// failed, its SYNs are dropped as their answers would be, with no cookie or segment built
/// for them; a source that resolves still gets its cookie.
#[test]
fn no_cookie_is_built_for_a_source_that_does_not_resolve() {
    let mut engine = engine_with_locals(NatMode::Full, false, 16, vec![], SynCookies::Always);
    let mut out = Output::new(2);
    let at = Instant::from_millis;
    let syn_from = |src, src_port| {
        let s = Segment { src_port, dst_port: 81, seq: 7, flags: tcp::flags::SYN, window: 64240, ..Default::default() };
        craft::tcp_frame(SW0, CLIENT_MAC, src, VIP, &s)
    };
    let spoofed = Ipv4Addr::new(198, 18, 0, 77);
    // Its first answer, a cookie, waits for ARP that never comes.
    let v = engine.process(0, syn_from(spoofed, 1000), at(1), &mut || Some(Vec::new()), &mut out);
    assert_eq!(v, Verdict::Held);
    for s in 1..=3 {
        engine.poll(at(1 + s * 1000), &mut || Some(Vec::new()), &mut out);
    }
    for p in 1001..1011 {
        let v = engine.process(0, syn_from(spoofed, p), at(3500), &mut || Some(Vec::new()), &mut out);
        assert_eq!(v, Verdict::Drop(DropReason::NeighbourFailed), "port {p}");
    }
    assert_eq!(engine.l4().stats().l7.syn_cookies_sent, 1, "no cookie for a source known not to resolve");
    assert_eq!(engine.counters().drops(DropReason::NeighbourFailed), 10);
    let v = engine.process(0, syn_from(CLIENT, 1000), at(3500), &mut || Some(Vec::new()), &mut out);
    assert_eq!(v, Verdict::Answer(0));
    assert_eq!(engine.l4().stats().l7.syn_cookies_sent, 2);
}

#[test]
fn segments_without_a_flow_are_dropped() {
    let mut run = Run::new(engine(NatMode::Full, false, 16));
    let (v, out) = run.send(0, from_client(45000, tcp::flags::ACK, &[]));
    assert_eq!(v, Verdict::Drop(crate::engine::DropReason::TcpNoFlow));
    assert!(out.is_none());
}

#[test]
fn udp_full_nat_keeps_the_checksum_right_both_ways() {
    let mut run = Run::new(udp_engine_with(NatMode::Full));
    let payload = b"query";
    let frame = craft::udp_frame(SW0, CLIENT_MAC, CLIENT, VIP, 5353, 81, payload);
    // craft leaves the UDP checksum 0 ("none"): fill one in so the rewrite must keep it right.
    let mut frame = frame;
    let (ip_start, udp_start) = (14, 34);
    let sum = udp_checksum(&frame[ip_start..], &frame[udp_start..]);
    frame[udp_start + 6..udp_start + 8].copy_from_slice(&sum.to_be_bytes());
    let (v, out) = run.send(0, frame);
    assert_eq!(v, Verdict::Forward(1));
    let out = out.unwrap();
    let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LOCAL, server_ip(0)));
    let udp = crate::wire::udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum(ip.src_addr(), ip.dst_addr()), "UDP checksum after the rewrite");
    assert_eq!(udp.dst_port(), 80);
    let local_port = udp.src_port();

    let reply = craft::udp_frame(SW1, server_mac(0), server_ip(0), LOCAL, 80, local_port, b"answer");
    let (v, out) = run.send(1, reply);
    assert_eq!(v, Verdict::Forward(0));
    let out = out.unwrap();
    let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
    let udp = crate::wire::udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((ip.src_addr(), udp.src_port(), ip.dst_addr(), udp.dst_port()), (VIP, 81, CLIENT, 5353));
    assert_eq!(udp.checksum(), 0, "no checksum stays no checksum");
}

fn udp_checksum(ip: &[u8], udp: &[u8]) -> u16 {
    let ip = ipv4::Packet::new_checked(ip).unwrap();
    let mut p = udp.to_vec();
    crate::wire::udp::Packet::new_unchecked(&mut p).fill_checksum(ip.src_addr(), ip.dst_addr());
    u16::from_be_bytes([p[6], p[7]])
}

fn udp_engine_with(nat: NatMode) -> Engine<Vec<u8>> {
    let mut e = engine(nat, false, 16);
    let services = e.l4().services().clone();
    let mut udp = services.services[0].clone();
    udp.proto = 17;
    udp.name = "web:81/udp".into();
    let mut all = services.clone();
    all.services = vec![udp];
    let topology = e.topology().clone();
    e = Engine::with_services(topology, all, Default::default());
    e
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Valid L4 frames (new flows, replies, established segments, UDP) with random bytes
    /// changed, through engines serving each NAT mode: never a panic, and each frame is
    /// accounted for exactly once: dropped under a counted reason with nothing sent, or sent
    /// on as one frame with a good IPv4 header (checksum, TTL decremented on the way).
    #[test]
    fn mutated_l4_frames_are_dropped_with_a_reason_or_sent_whole(
        mode in 0u8..3,
        mutations in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 0..6),
        kind in 0u8..4,
    ) {
        let nat = [NatMode::Full, NatMode::Gateway, NatMode::Dsr][usize::from(mode)];
        let mut run = Run::new(engine(nat, true, 8));
        // Open a flow first so replies and established segments have something to hit.
        let _ = run.send(0, from_client(46000, tcp::flags::SYN, &[2, 4, 5, 0xb4]));
        let mut frame = match kind {
            0 => from_client(46001, tcp::flags::SYN, &[2, 4, 0x23, 0x28, 1, 3, 3, 7]),
            1 => from_client(46000, tcp::flags::ACK | tcp::flags::FIN, &[]),
            2 => {
                let s = Segment { src_port: 80, dst_port: 1024, flags: tcp::flags::ACK, ..Default::default() };
                craft::tcp_frame(SW1, server_mac(0), server_ip(0), LOCAL, &s)
            }
            _ => craft::udp_frame(SW0, CLIENT_MAC, CLIENT, VIP, 1, 81, b"x"),
        };
        for (at, value) in mutations {
            let i = usize::from(at) % frame.len();
            frame[i] = value;
        }
        let before = run.engine.counters().clone();
        let (verdict, sent) = run.send(usize::from(kind == 2), frame);
        let after = run.engine.counters();
        proptest::prop_assert_eq!(after.rx_frames, before.rx_frames + 1);
        match verdict {
            Verdict::Drop(reason) => {
                proptest::prop_assert!(sent.is_none(), "a dropped frame sent something");
                proptest::prop_assert_eq!(after.drops(reason), before.drops(reason) + 1);
                proptest::prop_assert_eq!(after.total_drops(), before.total_drops() + 1);
            }
            Verdict::Forward(_) | Verdict::Answer(_) => {
                let sent = sent.expect("a sent frame");
                let eth = ethernet::Frame::new_checked(&sent[..]).expect("an Ethernet frame");
                let ip = ipv4::Packet::new_checked(eth.payload()).expect("an IPv4 packet");
                proptest::prop_assert!(ip.verify_checksum(), "IPv4 header checksum");
                proptest::prop_assert!(ip.ttl() > 0);
                proptest::prop_assert_eq!(after.total_drops(), before.total_drops());
            }
            Verdict::Held | Verdict::Consumed => proptest::prop_assert!(sent.is_none()),
        }
    }
}

/// The frames of a few connections on ports 46000.. (SYN, the server's SYN-ACK, ACKs, data,
/// FIN, RST) and UDP, for `nat`: what `process_burst` and `process` are compared on.
fn mixed_traffic(nat: NatMode, picks: &[(u8, u8)]) -> Vec<(usize, Vec<u8>)> {
    use tcp::flags::{ACK, FIN, RST, SYN};
    picks
        .iter()
        .map(|&(conn, what)| {
            let conn = conn % 6;
            let client_port = 46000 + u16::from(conn);
            // Round robin in SYN order; full NAT local ports count up from 1024 likewise.
            let (server, local_port) = (conn % 3, 1024 + u16::from(conn));
            let (reply_dst, reply_port) = match nat {
                NatMode::Full => (LOCAL, local_port),
                _ => (CLIENT, client_port),
            };
            let from_server = |flags| {
                let s = Segment { src_port: 80, dst_port: reply_port, seq: 7, ack: 1001, flags, ..Default::default() };
                (1, craft::tcp_frame(SW1, server_mac(server), server_ip(server), reply_dst, &s))
            };
            match what % 8 {
                0 => (0, from_client(client_port, SYN, &[2, 4, 0x23, 0x28])),
                1 => from_server(SYN | ACK),
                2 => (0, from_client(client_port, ACK, &[])),
                3 => from_server(ACK),
                4 => (0, from_client(client_port, FIN | ACK, &[])),
                5 => from_server(FIN | ACK),
                6 => (0, from_client(client_port, RST, &[])),
                _ => (0, craft::udp_frame(SW0, CLIENT_MAC, CLIENT, VIP, client_port, 81, b"datagram")),
            }
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// The burst path (frames of tracked flows parsed once, looked up ahead) sends the same
    /// frames, drops the same and counts the same as taking each frame through `process`,
    /// for any mix of new, established, closing, reset, mutated and foreign frames.
    #[test]
    fn process_burst_is_process_frame_by_frame(
        mode in 0u8..3,
        picks in proptest::collection::vec((0u8..6, proptest::prelude::any::<u8>()), 1..80),
        mutations in proptest::collection::vec(
            (proptest::prelude::any::<usize>(), proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()),
            0..8,
        ),
        cuts in proptest::collection::vec(1usize..40, 1..10),
    ) {
        let nat = [NatMode::Full, NatMode::Gateway, NatMode::Dsr][usize::from(mode)];
        let mut frames = mixed_traffic(nat, &picks);
        for (which, at, value) in mutations {
            let n = frames.len();
            let frame = &mut frames[which % n].1;
            let i = usize::from(at) % frame.len();
            frame[i] = value;
        }
        let now = Instant::from_millis(1);
        let (mut one, mut burst) = (Run::new(engine(nat, true, 8)), Run::new(engine(nat, true, 8)));
        let mut sent_one: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 2];
        for (port, frame) in frames.iter().cloned() {
            one.engine.process(port, frame, now, &mut || Some(Vec::new()), &mut one.out);
        }
        // The same frames in bursts of the sizes `cuts` gives, each burst from one port.
        let mut sent_burst: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 2];
        let mut rest = &frames[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let port = rest[0].0;
            let n = rest.iter().take(*cut.next().unwrap()).take_while(|(p, _)| *p == port).count();
            let mut batch: Vec<Vec<u8>> = rest[..n].iter().map(|(_, f)| f.clone()).collect();
            burst.engine.process_burst(port, &mut batch, now, &mut || Some(Vec::new()), &mut burst.out);
            proptest::prop_assert!(batch.is_empty());
            rest = &rest[n..];
        }
        for (p, q) in one.out.tx.iter_mut().enumerate() {
            sent_one[p].append(q);
        }
        for (p, q) in burst.out.tx.iter_mut().enumerate() {
            sent_burst[p].append(q);
        }
        proptest::prop_assert_eq!(sent_one, sent_burst);
        proptest::prop_assert_eq!(one.out.dropped.len(), burst.out.dropped.len());
        proptest::prop_assert_eq!(one.engine.counters(), burst.engine.counters());
        proptest::prop_assert_eq!(one.engine.l4().stats(), burst.engine.l4().stats());
    }
}

#[test]
fn closed_connections_stop_counting_before_they_expire() {
    use tcp::flags::{ACK, FIN, RST, SYN};
    let mut run = Run::new(engine(NatMode::Gateway, false, 16));
    let current = |run: &Run| (run.engine.l4().stats().services[0].current, run.engine.l4().load().iter().sum::<u32>());
    let from_server = |flags| {
        let s = Segment { src_port: 80, dst_port: 47000, flags, ..Default::default() };
        craft::tcp_frame(SW1, server_mac(0), server_ip(0), CLIENT, &s)
    };
    run.send(0, from_client(47000, SYN, &[]));
    run.send(1, from_server(SYN | ACK));
    run.send(0, from_client(47000, ACK, &[]));
    assert_eq!(current(&run), (1, 1));
    run.send(0, from_client(47000, FIN | ACK, &[]));
    run.send(1, from_server(FIN | ACK));
    assert_eq!(current(&run), (1, 1), "LAST_ACK: not closed yet");
    run.send(0, from_client(47000, ACK, &[]));
    assert_eq!(current(&run), (0, 0), "TIME_WAIT: closed, no longer current");
    assert_eq!(run.engine.l4().flows().len(), 1, "but still tracked for late segments");

    // A new SYN on the same tuple is a new connection; a RST closes it.
    run.send(0, from_client(47000, SYN, &[]));
    assert_eq!(current(&run), (1, 1));
    run.send(0, from_client(47000, RST, &[]));
    assert_eq!(current(&run), (0, 0));

    // Expiry removes the flow without counting it closed twice.
    run.engine.poll(Instant::from_millis(3_600_000), &mut || Some(Vec::new()), &mut run.out);
    let l4 = run.engine.l4();
    assert_eq!(l4.flows().len(), 0);
    assert_eq!((l4.stats().services[0].current, l4.stats().services[0].total, l4.stats().flows_expired), (0, 1, 1));
}

/// A client sends its SYN again after its initial RTO (a second or more); a flood that
/// repeats its tuples sooner gets through once per retransmission time, not once per repeat.
#[test]
fn a_syn_repeated_sooner_than_a_client_retransmits_is_dropped() {
    use tcp::flags::{ACK, SYN};
    let mut run = Run::new(engine(NatMode::Full, false, 16));
    let syn_at = |run: &mut Run, ms| run.send_at(0, from_client(47000, SYN, &[]), Instant::from_millis(ms));
    let (v, syn) = syn_at(&mut run, 1);
    assert_eq!(v, Verdict::Forward(1));
    let (_, local, local_port, server, ..) = parsed(&syn.unwrap());
    for ms in [2, 50, 200] {
        assert_eq!(syn_at(&mut run, ms), (Verdict::Drop(DropReason::SynRepeat), None), "repeat at {ms} ms");
    }
    assert_eq!(syn_at(&mut run, 1001).0, Verdict::Forward(1), "the client's retransmission goes on");
    assert_eq!(syn_at(&mut run, 1100).0, Verdict::Drop(DropReason::SynRepeat));
    assert_eq!(run.engine.counters().drops(DropReason::SynRepeat), 4);

    // Once the server answered, the flow is no longer waiting: segments go on as before.
    let s =
        Segment { src_port: 80, dst_port: local_port, seq: 5000, ack: 1001, flags: SYN | ACK, ..Default::default() };
    let from_server = craft::tcp_frame(SW1, server_mac(server.octets()[3] - 10), server, local, &s);
    let (_, sent) = run.send_at(1, from_server, Instant::from_millis(1101));
    assert!(sent.is_some(), "the server's SYN-ACK reaches the client");
    assert_eq!(run.send_at(0, from_client(47000, ACK, &[]), Instant::from_millis(1102)).0, Verdict::Forward(1));
}

/// When every local port tried towards a server is held by a closed connection (lingering in
/// TIME_WAIT for late segments), a new client takes one of those ports rather than a RST.
#[test]
fn closed_connections_give_their_local_ports_to_new_ones() {
    use tcp::flags::{ACK, FIN, SYN};
    let mut run = Run::new(engine(NatMode::Full, true, 256));
    let from_server = |server: u8, local_port: u16, flags| {
        let s = Segment { src_port: 80, dst_port: local_port, flags, ..Default::default() };
        craft::tcp_frame(SW1, server_mac(server), server_ip(server), LOCAL, &s)
    };
    let mut sticky_server = None;
    let mut closed = Vec::new();
    for client_port in 40000..40070 {
        let (_, syn) = run.send(0, from_client(client_port, SYN, &[]));
        let (_, _, local_port, dst, _, _, _) = parsed(&syn.expect("the SYN to the server"));
        let server = (0..3).find(|&i| server_ip(i) == dst).expect("a real server");
        assert_eq!(*sticky_server.get_or_insert(server), server, "sticky: one server");
        run.send(1, from_server(server, local_port, SYN | ACK));
        run.send(0, from_client(client_port, ACK, &[]));
        run.send(0, from_client(client_port, FIN | ACK, &[]));
        run.send(1, from_server(server, local_port, FIN | ACK));
        run.send(0, from_client(client_port, ACK, &[]));
        closed.push(local_port);
    }
    assert_eq!(run.engine.l4().flows().len(), 70, "closed, still tracked");
    // The port counter comes round to the closed connections' ports (as it does after
    // 64 K connections).
    run.engine.l4_mut().next_local_port = closed[0];
    run.engine.l4_mut().next_local_ip = 0;
    let (v, syn) = run.send(0, from_client(41000, SYN, &[]));
    assert_eq!(v, Verdict::Forward(1), "a new client is not refused");
    let (_, _, local_port, _, _, _, _) = parsed(&syn.unwrap());
    assert_eq!(local_port, closed[0]);
    let stats = run.engine.l4().stats();
    assert_eq!((stats.local_ports_reused, stats.refused_table_full), (1, 0));
    assert_eq!(run.engine.l4().flows().len(), 70, "the closed flow made way for the new one");
}

/// A server still holding an old connection on the tuple full NAT picked (TIME_WAIT, after a
/// restart of the switch or a reused local port) answers the SYN with that connection's
/// ACK. The switch resets the old connection at the server itself and sends the SYN again at
/// once, keeping the ACK from the client (whose RST, carrying the old numbers, would not pass
/// the window check, and whose own SYN would come a second later to meet the same ACK).
#[test]
fn an_old_connection_a_server_holds_on_the_tuple_is_reset_and_the_syn_sent_again() {
    use tcp::flags::{ACK, SYN};
    let mut run = Run::new(engine(NatMode::Full, false, 64));
    // The client's SYN: window 64240, scale 7 (the window scale option, padded).
    let (_, syn) = run.send(0, from_client(40000, SYN, &[1, 3, 3, 7]));
    let (_, _, local_port, server, _, _, _) = parsed(&syn.expect("the SYN to the server"));
    let s = (0..3).find(|&i| server_ip(i) == server).expect("a real server");
    let old_ack = 0x5150_0000;
    let stale =
        Segment { src_port: 80, dst_port: local_port, seq: 777, ack: old_ack, flags: ACK, ..Default::default() };
    let v = run.engine.process(
        1,
        craft::tcp_frame(SW1, server_mac(s), server, LOCAL, &stale),
        Instant::from_millis(1),
        &mut || Some(Vec::new()),
        &mut run.out,
    );
    assert_eq!(v, Verdict::Answer(1), "answered on the server's port");
    assert!(run.out.tx[0].is_empty(), "nothing to the client");
    let sent: Vec<_> = run.out.tx[1].drain(..).collect();
    assert_eq!(sent.len(), 2, "a RST, then the SYN again");
    let segment = |frame: &[u8]| {
        let eth = ethernet::Frame::new_checked(frame).unwrap();
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        let seg = tcp::Packet::new_checked(ip.payload()).unwrap();
        assert!(seg.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!((ip.src_addr(), seg.src_port(), ip.dst_addr(), seg.dst_port()), (LOCAL, local_port, server, 80));
        let options = tcp::read_options(seg.options()).unwrap();
        (seg.rst(), seg.syn(), seg.ack(), seg.seq_number(), seg.window_len(), options)
    };
    let (rst, syn, ack, seq, _, _) = segment(&sent[0]);
    assert_eq!(
        (rst, syn, ack, seq),
        (true, false, false, old_ack),
        "RST at the number the old connection acknowledged"
    );
    let (rst, syn, ack, seq, window, options) = segment(&sent[1]);
    assert_eq!(
        (rst, syn, ack, seq, window),
        (false, true, false, 1000, 64240),
        "the client's SYN: its ISN, its window"
    );
    assert_eq!((options.window_scale, options.mss), (Some(7), Some(1460)));
    assert_eq!(run.engine.l4().stats().server_stale, 1);
    assert_eq!(run.engine.l4().flows().half_open(), 1, "the client's connection still waits for its answer");

    // The server's SYN-ACK to it reaches the client as the answer to its own SYN.
    let syn_ack =
        Segment { src_port: 80, dst_port: local_port, seq: 5000, ack: 1001, flags: SYN | ACK, ..Default::default() };
    let (v, to_client) = run.send(1, craft::tcp_frame(SW1, server_mac(s), server, LOCAL, &syn_ack));
    assert_eq!(v, Verdict::Forward(0));
    assert_eq!(parsed(&to_client.unwrap()).4, 40000);
    // The client's own retransmission of the SYN, crossing it, still takes the same tuple.
    let (v, again) = run.send(0, from_client(40000, SYN, &[1, 3, 3, 7]));
    assert_eq!(v, Verdict::Forward(1));
    assert_eq!(parsed(&again.unwrap()).2, local_port);
    // An ACK of the server's after its SYN-ACK is no old connection's: it passes.
    let ack = Segment { src_port: 80, dst_port: local_port, seq: 5001, ack: 1001, flags: ACK, ..Default::default() };
    assert_eq!(run.send(1, craft::tcp_frame(SW1, server_mac(s), server, LOCAL, &ack)).0, Verdict::Forward(0));
}
