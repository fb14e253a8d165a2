//! Several workers on the in-memory multi-queue device, spread by RSS as a NIC spreads them
//! (the same Toeplitz key and redirection table): every frame of every flow is handled by the
//! core that owns the flow, none is handed off, and the switch sends the same frames as with
//! one worker, but for the local ports full NAT chose. Full NAT, gateway NAT and DSR, 2 and
//! 4 workers; then the kernel's fanout (af_packet) emulated, and a flood aimed at one core.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use stickwire::control::config::Config;
use stickwire::craft::{self, Segment};
use stickwire::engine::hash::{mix, Secrets};
use stickwire::engine::service::Services;
use stickwire::engine::Topology;
use stickwire::port::mem::{MemDevice, MemQueue};
use stickwire::port::Port;
use stickwire::runtime::cores;
use stickwire::runtime::steering::{fields_for, PortSteering};
use stickwire::runtime::worker::Worker;
use stickwire::time::Instant;
use stickwire::wire::rss::{Fields, Rss, KEY_LEN, SYMMETRIC_KEY};
use stickwire::wire::{ethernet, ipv4, tcp, MacAddr};

const CONFIG: &str = r#"
seed = 1
[tables]
flows = 1024
sticky = 1024
head_buffers = 64
[[port]]
name = "client"
ip = "198.18.0.1/24"
gateway = "198.18.0.254"
[[port]]
name = "server"
ip = "198.18.1.1/24"
[[neighbour]]
port = "client"
ip = "198.18.0.254"
mac = "02:cc:00:00:00:fe"
[[neighbour]]
port = "server"
ip = "198.18.1.10"
mac = "02:5e:00:00:01:0a"
[[neighbour]]
port = "server"
ip = "198.18.1.11"
mac = "02:5e:00:00:01:0b"
[[neighbour]]
port = "server"
ip = "198.18.1.12"
mac = "02:5e:00:00:01:0c"
[[vip]]
name = "web"
ip = "198.18.0.100"
[[vip.port]]
port = 81
nat = "full"
predictor = "maglev"
[[vip.port]]
port = 83
nat = "gateway"
predictor = "maglev"
[[vip]]
name = "direct"
ip = "198.18.0.101"
[[vip.port]]
port = 80
nat = "dsr"
predictor = "maglev"
[[real_server]]
name = "rs1"
ip = "198.18.1.10"
port = 80
[[real_server]]
name = "rs2"
ip = "198.18.1.11"
port = 80
[[real_server]]
name = "rs3"
ip = "198.18.1.12"
port = 80
"#;

const SW: [MacAddr; 2] = [MacAddr([2, 0x53, 0x57, 0, 0, 1]), MacAddr([2, 0x53, 0x57, 0, 0, 2])];
const ROUTER: MacAddr = MacAddr([2, 0xcc, 0, 0, 0, 0xfe]);
const FLOWS: usize = 96;
/// Client ISNs are `(i + 1) * ISN_STEP`, servers' that plus `ISN_STEP / 2`: a frame's
/// sequence number names its flow and side.
const ISN_STEP: u32 = 1_000_000;

fn setup() -> (Topology, Services) {
    let config = Config::parse(CONFIG).unwrap();
    (config.topology(&SW), config.services(Secrets::from_seed(1)))
}

/// A flow of the scenario: a client of one of the three VIP ports.
#[derive(Clone, Copy)]
struct Flow {
    client: Ipv4Addr,
    port: u16,
    vip: Ipv4Addr,
    vip_port: u16,
    dsr: bool,
}

fn flows(seed: u64) -> Vec<Flow> {
    (0..FLOWS)
        .map(|i| {
            let r = mix(seed, i as u64);
            let (vip, vip_port, dsr) = match i % 3 {
                0 => (Ipv4Addr::new(198, 18, 0, 100), 81, false),
                1 => (Ipv4Addr::new(198, 18, 0, 100), 83, false),
                _ => (Ipv4Addr::new(198, 18, 0, 101), 80, true),
            };
            Flow {
                client: Ipv4Addr::new(10, 1, (r >> 8) as u8, r as u8),
                port: 1024 + (r >> 16) as u16 % 60000,
                vip,
                vip_port,
                dsr,
            }
        })
        .collect()
}

/// The eight segments of a connection: (from the server?, flags, payload).
const STEPS: [(bool, u8, &[u8]); 8] = {
    use tcp::flags::{ACK, FIN, PSH, SYN};
    [
        (false, SYN, b""),
        (true, SYN | ACK, b""),
        (false, ACK, b""),
        (false, PSH | ACK, b"GET / HTTP/1.0\r\n\r\n"),
        (true, PSH | ACK, b"HTTP/1.0 200 OK\r\n\r\n"),
        (false, FIN | ACK, b""),
        (true, FIN | ACK, b""),
        (false, ACK, b""),
    ]
};

/// Sequence and acknowledgment numbers of step `step` of flow `i`.
fn numbers(i: usize, step: usize) -> (u32, u32) {
    let (c, s) = ((i as u32 + 1) * ISN_STEP, (i as u32 + 1) * ISN_STEP + ISN_STEP / 2);
    let sent_by = |server: bool, upto: usize| -> u32 {
        STEPS[..upto]
            .iter()
            .filter(|(from_server, ..)| *from_server == server)
            .map(|(_, flags, payload)| {
                payload.len() as u32 + u32::from(flags & (tcp::flags::SYN | tcp::flags::FIN) != 0)
            })
            .sum()
    };
    let (client_next, server_next) = (c + sent_by(false, step), s + sent_by(true, step));
    if STEPS[step].0 {
        (server_next, client_next)
    } else {
        (client_next, if step == 0 { 0 } else { server_next })
    }
}

fn field(frame: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

fn ip_of(frame: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3])
}

/// An output frame of the scenario: which flow, which step it carries.
fn identify(frame: &[u8]) -> Option<(usize, bool)> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV4 || frame.len() < 54 || frame[23] != ipv4::protocol::TCP {
        return None;
    }
    let seq = u32::from_be_bytes([frame[38], frame[39], frame[40], frame[41]]);
    Some(((seq / ISN_STEP) as usize - 1, seq % ISN_STEP >= ISN_STEP / 2))
}

/// Everything the switch sent for each (flow, step), with the worker that sent it.
type Sent = BTreeMap<(usize, usize), Vec<(usize, Vec<u8>)>>;

struct Run {
    sent: Sent,
    handed_off: Vec<u64>,
    flows_created: Vec<u64>,
    drops: Vec<u64>,
}

/// Runs the scenario through `workers` workers on devices spread as `devices` say.
fn run(workers: usize, steering: [PortSteering; 2], device_rss: [Option<Arc<Rss>>; 2], flows: &[Flow]) -> Run {
    let (topology, services) = setup();
    let (mut client_dev, client_queues) = MemDevice::new(workers as u16, device_rss[0].clone());
    let (mut server_dev, server_queues) = MemDevice::new(workers as u16, device_rss[1].clone());
    let queues: Vec<Vec<MemQueue>> = client_queues.into_iter().zip(server_queues).map(|(c, s)| vec![c, s]).collect();
    let mut ws = cores::workers(&topology, &services, &steering, queues);
    let mut sent = Sent::new();
    // The last frame the switch sent each flow's server: the reply goes back to its source.
    let mut towards_server: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for (step, &(from_server, flags, payload)) in STEPS.iter().enumerate() {
        let now = Instant::from_millis(1000 + step as u64);
        for (i, f) in flows.iter().enumerate() {
            let (seq, ack) = numbers(i, step);
            if !from_server {
                let seg = Segment {
                    src_port: f.port,
                    dst_port: f.vip_port,
                    seq,
                    ack,
                    flags,
                    window: 64240,
                    options: &[],
                    payload,
                };
                client_dev.receive(craft::tcp_frame(SW[0], ROUTER, f.client, f.vip, &seg));
            } else if !f.dsr {
                let to = &towards_server[&i];
                let (local, local_port, server) = (ip_of(to, 26), field(to, 34), ip_of(to, 30));
                let seg = Segment {
                    src_port: 80,
                    dst_port: local_port,
                    seq,
                    ack,
                    flags,
                    window: 64240,
                    options: &[],
                    payload,
                };
                let server_mac = MacAddr(to[0..6].try_into().unwrap());
                server_dev.receive(craft::tcp_frame(SW[1], server_mac, server, local, &seg));
            }
        }
        // Every worker in turn until none has anything left (hand-offs included).
        loop {
            let mut busy = false;
            for (w, worker) in ws.iter_mut().enumerate() {
                while worker.run_once(now) > 0 {
                    busy = true;
                }
                for frame in client_dev.take_sent().into_iter().chain(server_dev.take_sent()) {
                    let Some((i, _)) = identify(&frame) else { continue };
                    if ip_of(&frame, 30) != flows[i].client {
                        towards_server.insert(i, frame.clone());
                    }
                    sent.entry((i, step)).or_default().push((w, frame));
                }
            }
            if !busy {
                break;
            }
        }
    }
    assert_eq!((client_dev.missed, server_dev.missed), (0, 0));
    Run {
        sent,
        handed_off: ws.iter().map(Worker::handed_off).collect(),
        flows_created: ws.iter().map(|w| w.engine().l4().stats().flows_created).collect(),
        drops: ws.iter().map(|w| w.engine().counters().total_drops()).collect(),
    }
}

/// A frame with full NAT's local port (and the checksum that covers it) blanked, once the
/// checksum is checked.
fn without_local_port(frame: &[u8]) -> Vec<u8> {
    let seg = tcp::Packet::new_checked(&frame[34..]).unwrap();
    assert!(seg.verify_checksum(ip_of(frame, 26), ip_of(frame, 30)), "bad TCP checksum");
    let mut f = frame.to_vec();
    let server_side = f[30] == 198 && f[31] == 18 && f[32] == 1;
    if server_side && field(frame, 36) == 80 && ip_of(frame, 26) == Ipv4Addr::new(198, 18, 1, 1) {
        f[34..36].fill(0); // the local port: full NAT towards the server
        f[50..52].fill(0);
    }
    f
}

fn rss_devices(workers: u16, key: &[u8]) -> ([PortSteering; 2], [Option<Arc<Rss>>; 2]) {
    let (topology, services) = setup();
    let rss = |port| Arc::new(Rss::new(key, fields_for(&topology, &services, port), workers, 128));
    let (client, server) = (rss(0), rss(1));
    assert_eq!((client.fields(), server.fields()), (Fields::Source, Fields::Destination));
    ([PortSteering::Rss(Arc::clone(&client)), PortSteering::Rss(Arc::clone(&server))], [Some(client), Some(server)])
}

/// The one-worker run every multi-worker run must equal.
fn one_worker(flows: &[Flow]) -> Run {
    run(1, [PortSteering::Single, PortSteering::Single], [None, None], flows)
}

fn assert_same_frames(one: &Run, many: &Run, flows: &[Flow]) {
    for (i, f) in flows.iter().enumerate() {
        for (step, &(from_server, ..)) in STEPS.iter().enumerate() {
            let expected = one.sent.get(&(i, step)).map_or(0, Vec::len);
            let through = if f.dsr && from_server { 0 } else { 1 };
            assert_eq!(expected, through, "flow {i} step {step}: one worker sent {expected}");
            let a: Vec<Vec<u8>> =
                one.sent.get(&(i, step)).into_iter().flatten().map(|(_, f)| without_local_port(f)).collect();
            let b: Vec<Vec<u8>> =
                many.sent.get(&(i, step)).into_iter().flatten().map(|(_, f)| without_local_port(f)).collect();
            assert_eq!(a, b, "flow {i} ({}:{} -> {}:{}) step {step}", f.client, f.port, f.vip, f.vip_port);
        }
    }
}

/// Every frame of a flow sent by one worker: the flow's owner.
fn owners(run: &Run) -> BTreeMap<usize, usize> {
    let mut owner = BTreeMap::new();
    for ((i, step), sent) in &run.sent {
        for (w, _) in sent {
            let first = *owner.entry(*i).or_insert(*w);
            assert_eq!(first, *w, "flow {i} step {step} handled by worker {w}, its earlier frames by {first}");
        }
    }
    owner
}

#[test]
fn rss_puts_every_flow_on_one_core_with_no_hand_off_2_and_4_workers() {
    let flows = flows(11);
    let one = one_worker(&flows);
    assert_eq!(one.drops, vec![0]);
    for workers in [2u16, 4] {
        let (steering, devices) = rss_devices(workers, &SYMMETRIC_KEY);
        let many = run(usize::from(workers), steering, devices, &flows);
        assert_same_frames(&one, &many, &flows);
        let owner = owners(&many);
        assert_eq!(owner.len(), FLOWS);
        assert_eq!(many.handed_off, vec![0; usize::from(workers)], "no frame crosses cores");
        assert_eq!(many.drops, vec![0; usize::from(workers)]);
        // Each worker carried flows of every kind: RSS spread them.
        for w in 0..usize::from(workers) {
            let kinds: BTreeSet<u16> =
                owner.iter().filter(|&(_, &o)| o == w).map(|(&i, _)| flows[i].vip_port).collect();
            assert_eq!(kinds.len(), 3, "worker {w} of {workers}: {kinds:?}");
        }
        assert_eq!(many.flows_created.iter().sum::<u64>(), FLOWS as u64);
    }
}

/// The kernel's fanout over af_packet sockets is a symmetric hash under a secret: emulated by
/// a symmetric key nobody tells the switch. A client's frames stay where they land; the only
/// hand-offs are replies (full NAT by local port; gateway NAT, both ways, by the client's
/// hash), counted, and the frames are the same as with one worker.
#[test]
fn kernel_fanout_hands_off_only_what_it_cannot_steer() {
    let flows = flows(12);
    let one = one_worker(&flows);
    let secret: Vec<u8> = [0x3c, 0xa7].iter().copied().cycle().take(KEY_LEN).collect();
    let fanout = |_| Some(Arc::new(Rss::new(&secret, Fields::Tuple, 2, 128)));
    let many = run(2, [PortSteering::Flows, PortSteering::Flows], [fanout(0), fanout(1)], &flows);
    assert_same_frames(&one, &many, &flows);
    owners(&many);
    assert_eq!(many.drops, vec![0, 0]);
    let handed: u64 = many.handed_off.iter().sum();
    // DSR flows never cross; every hand-off is counted.
    let could_cross = flows.iter().filter(|f| !f.dsr).count() as u64 * STEPS.len() as u64;
    assert!(handed > 0 && handed < could_cross, "hand-offs {:?}", many.handed_off);
}

/// SYNs from sources that all land on worker 0's queue fill its flow table: worker 0 goes
/// over to SYN cookies (counted), and worker 1's clients get flows of their own, untouched.
#[test]
fn a_flood_aimed_at_one_core_degrades_that_core_only() {
    let (topology, services) = setup();
    let (steering, devices) = rss_devices(2, &SYMMETRIC_KEY);
    let client_rss = devices[0].clone().unwrap();
    let (mut client_dev, client_queues) = MemDevice::new(2, devices[0].clone());
    let (_server_dev, server_queues) = MemDevice::new(2, devices[1].clone());
    let queues: Vec<Vec<MemQueue>> = client_queues.into_iter().zip(server_queues).map(|(c, s)| vec![c, s]).collect();
    let mut ws = cores::workers(&topology, &services, &steering, queues);
    let vip = Ipv4Addr::new(198, 18, 0, 100);
    let syn = |src: Ipv4Addr, port: u16| {
        let seg = Segment {
            src_port: port,
            dst_port: 81,
            seq: 1,
            flags: tcp::flags::SYN,
            window: 1024,
            ..Default::default()
        };
        craft::tcp_frame(SW[0], ROUTER, src, vip, &seg)
    };
    // 4 x the flow table of a core, every one on queue 0.
    let mut flood = Vec::new();
    let mut k = 0u64;
    while flood.len() < 4096 {
        k += 1;
        let r = mix(k, 99);
        let frame = syn(Ipv4Addr::from(0x0b00_0000 | (r as u32 & 0xffffff)), (r >> 32) as u16 | 1024);
        if client_rss.queue_of(&frame) == 0 {
            flood.push(frame);
        }
    }
    let legit: Vec<Vec<u8>> = (0..200u64)
        .map(|i| syn(Ipv4Addr::new(10, 9, 0, i as u8), 2000 + i as u16))
        .filter(|f| client_rss.queue_of(f) == 1)
        .collect();
    assert!(legit.len() > 50);
    for chunk in flood.chunks(1024) {
        for f in chunk {
            client_dev.receive(f.clone());
        }
        while ws[0].run_once(Instant::from_millis(1)) > 0 {}
    }
    for f in &legit {
        client_dev.receive(f.clone());
    }
    while ws[1].run_once(Instant::from_millis(1)) > 0 {}
    let (w0, w1) = (ws[0].engine().l4().stats(), ws[1].engine().l4().stats());
    assert_eq!(w0.half_open, 1024, "the flood filled worker 0's table: {w0:?}");
    assert!(w0.l7.syn_cookies_sent >= 3000, "and worker 0 answers the rest with cookies: {w0:?}");
    assert_eq!(w1.l7.syn_cookies_sent, 0, "worker 1 never felt it: {w1:?}");
    assert_eq!(w1.flows_created, legit.len() as u64, "worker 1's clients all got a flow");
    assert_eq!((w1.evicted_half_open, w1.refused_table_full, ws[1].engine().counters().total_drops()), (0, 0, 0));
    assert_eq!(ws[0].ports()[0].stats().rx_frames, flood.len() as u64, "the flood reached worker 0 only");
    assert_eq!(ws.iter().map(Worker::handed_off).sum::<u64>(), 0);
}
