//! The L4 load-balancing scenarios of `stickwire bench`: the worker loop and the engine's L4
//! path over DPDK mbufs on the in-memory port, one worker, one VIP port (round robin over 3
//! real servers), static neighbours only (no ARP on the way).
//!
//! - `l4-established-<n>`: `n` flows are first opened through the engine (client SYN, server
//!   SYN-ACK, client ACK: each flow Established), then the client port receives 60-byte
//!   client -> VIP ACKs of those flows in a random order over all `n` flows (a shuffled
//!   list, delivered round robin), each looked up, rewritten (addresses, ports, TTL,
//!   incremental checksums) and sent on the server port. Two arms: clients behind a router
//!   on port 0, servers on port 1. Full NAT at every size: the server port has
//!   [`LOCAL_ADDRESSES`] local addresses besides its own, room for 3 M server-side tuples.
//! - `l4-new`: whole connections on fresh client ports: client SYN (a new flow: schedule,
//!   insert, rewrite), server SYN-ACK, client ACK, client FIN, server FIN-ACK, client ACK,
//!   every frame through the engine in that order. One arm (clients and servers on the same
//!   port) so that a single in-memory port delivers the six frames in order in full bursts.
//!   Gateway NAT: under full NAT the switch's local ports would each stay in TIME_WAIT for
//!   two minutes after every connection and 64 K of them would run out, which says nothing
//!   about the engine's cost per connection. Closed flows must leave the table: the virtual
//!   clock advances [`NEW_TICK`] per loop turn, so a flow's 120 s TIME_WAIT ends about
//!   [`TIME_WAIT_TURNS`] turns after its last ACK and the engine's bounded expiry sweep (run
//!   every turn, as in production) removes it; the table holds a steady ~25 K flows.
//!
//! Each scenario prints the engine's counters over the measured part and refuses to report
//! (returns an error) when less than 99 % of the frames received were forwarded: a figure
//! for frames dropped early would flatter the fast path.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant as StdInstant};

use std::sync::Arc;

use super::{parallel, MbufPool, Scenario};
use crate::craft::{self, Segment};
use crate::dpdk::{Mbuf, Mempool};
use crate::engine::flow::{bench_flow, FlowTable};
use crate::engine::hash::Secrets;
use crate::engine::predictor::{Predictor, PredictorKind};
use crate::engine::service::{server_views, NatMode, RealServer, Service, Services, SynCookies};
use crate::engine::{Counters, Engine, Output, PortAddr, StaticNeighbour, Topology, Verdict, Vip};
use crate::port::mem::MemPort;
use crate::runtime::cores;
use crate::runtime::steering::{fields_for, PortSteering};
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::rss::{Rss, SYMMETRIC_KEY};
use crate::wire::{tcp, MacAddr};

mod rte_hash;
pub(super) use rte_hash::reference as rte_hash_reference;

pub(super) const SW0: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 1, 1]);
pub(super) const SW1: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 1, 2]);
/// The router the clients sit behind.
pub(super) const ROUTER_MAC: MacAddr = MacAddr([0x02, 0xcc, 0, 0, 0, 0xfe]);
pub(super) const ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
/// The switch's own address on the clients' side (the whole LAN when one-armed): full NAT's
/// source towards the servers when one-armed.
pub(super) const LAN_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub(super) const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub(super) const VIP_PORT: u16 = 80;
pub(super) const SERVER_PORT: u16 = 8080;
pub(super) const SERVERS: u8 = 3;

/// Local addresses of the server port besides its own (198.18.1.100 and up): with 3 servers,
/// 16 x 3 x 64512 = 3.1 M server-side tuples, room for the 1 M flows of the largest scenario.
pub const LOCAL_ADDRESSES: u8 = 15;

/// Virtual time per loop turn in `l4-new`.
pub const NEW_TICK: Duration = Duration::from_nanos(120_000_000_000 / TIME_WAIT_TURNS);
/// Loop turns a TIME_WAIT flow lingers in `l4-new`.
pub const TIME_WAIT_TURNS: u64 = 4096;
/// Connections in the `l4-new` frame list (a multiple of 3, so that round robin sends
/// connection `i` to server `i % 3` on every pass): one pass lasts ~1.4 virtual TIME_WAITs
/// and more, so a client tuple is reused only after its previous flow expired.
const NEW_CONNECTIONS: usize = 3 * 16_384;
/// Room for the steady state with slack: TIME_WAIT_TURNS turns of NEW_BATCH connections
/// (32 768) linger at once, plus those still open and those the paced sweep has not reached.
const NEW_CAPACITY: usize = 65_536;

pub(super) fn server_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, 10 + i)
}

pub(super) fn server_mac(i: u8) -> MacAddr {
    MacAddr([0x02, 0x5e, 0, 0, 1, 10 + i])
}

/// Two arms: port 0 towards the clients' router, port 1 on the servers' subnet. One arm:
/// everything on port 0 (a /16 that holds the servers' subnet too).
pub(super) fn topology(one_arm: bool) -> Topology {
    let port = |name: &str, mac, ip, prefix_len, gateway| PortAddr {
        name: name.into(),
        mac,
        ip,
        prefix_len,
        gateway,
        local_ips: vec![],
    };
    let server_port = usize::from(!one_arm);
    let mut static_neighbours: Vec<StaticNeighbour> =
        (0..SERVERS).map(|i| StaticNeighbour { port: server_port, ip: server_ip(i), mac: server_mac(i) }).collect();
    static_neighbours.push(StaticNeighbour { port: 0, ip: ROUTER, mac: ROUTER_MAC });
    let ports = if one_arm {
        vec![port("lan", SW0, LAN_IP, 16, Some(ROUTER))]
    } else {
        vec![
            port("client", SW0, LAN_IP, 24, Some(ROUTER)),
            PortAddr {
                local_ips: (0..LOCAL_ADDRESSES).map(|i| Ipv4Addr::new(198, 18, 1, 100 + i)).collect(),
                ..port("server", SW1, Ipv4Addr::new(198, 18, 1, 1), 24, None)
            },
        ]
    };
    Topology { ports, vips: vec![Vip { name: "bench".into(), ip: VIP }], static_neighbours }
}

pub(super) fn services(nat: NatMode, flow_capacity: usize) -> Result<Services, String> {
    let servers: Vec<RealServer> =
        (0..SERVERS).map(|i| RealServer::named(&format!("rs{}", i + 1), server_ip(i), SERVER_PORT)).collect();
    let ids: Vec<u16> = (0..u16::from(SERVERS)).collect();
    let predictor = Predictor::new(PredictorKind::RoundRobin, &server_views(&servers, &ids), 65537, 1)
        .map_err(|e| format!("bench predictor: {e:?}"))?;
    let service = Service {
        name: "bench:80/tcp".into(),
        vip: VIP,
        port: VIP_PORT,
        proto: 6,
        nat,
        sticky: None,
        servers: ids,
        predictor,
        l7: None,
        syn_cookies: SynCookies::Never,
    };
    Ok(Services {
        services: vec![service],
        servers,
        flow_capacity,
        sticky_capacity: 64,
        secrets: Secrets::from_seed(1),
        head_buffers: 0,
        syn_cookie_threshold: 1024,
    })
}

/// Client `i`'s address and port (distinct for every `i` below 2^32).
pub(super) fn client(i: usize) -> (Ipv4Addr, u16) {
    let key = bench_flow(i).0;
    (key.src, key.src_port)
}

/// A 60-byte TCP frame (64 on the wire).
fn tcp60(dst_mac: MacAddr, src_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, s: &Segment) -> Vec<u8> {
    let mut f = craft::tcp_frame(dst_mac, src_mac, src, dst, s);
    f.resize(60, 0);
    f
}

pub(super) fn seg(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8) -> Segment<'static> {
    Segment { src_port, dst_port, seq, ack, flags, window: 64240, options: &[], payload: &[] }
}

/// IPv4 source and TCP source port of a frame with a 20-byte IP header.
fn source(frame: &[u8]) -> (Ipv4Addr, u16) {
    (Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]), u16::from_be_bytes([frame[34], frame[35]]))
}

fn destination_ip(frame: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33])
}

/// Drives frames straight through an engine (no port), for setting flows up.
struct Driver<'a> {
    engine: &'a mut Engine<Mbuf>,
    pool: &'a Mempool,
    out: Output<Mbuf>,
    now: Instant,
}

impl Driver<'_> {
    /// Processes `frame` received on `port`; returns the verdict and a copy of what was
    /// sent (when something was).
    fn send(&mut self, port: usize, frame: &[u8]) -> Result<(Verdict, Option<Vec<u8>>), String> {
        let mut m = self.pool.alloc().ok_or("bench mempool empty")?;
        if !m.try_copy_from(frame) {
            return Err("bench frame does not fit an mbuf".into());
        }
        let pool = self.pool;
        let v = self.engine.process(port, m, self.now, &mut || pool.alloc(), &mut self.out);
        let sent = self.out.tx.iter().find_map(|q| q.last()).map(|m| m.as_ref().to_vec());
        for q in &mut self.out.tx {
            Mbuf::free_bulk(q);
        }
        Mbuf::free_bulk(&mut self.out.dropped);
        Ok((v, sent))
    }
}

/// Opens flow `i` (SYN, SYN-ACK, ACK; then Established) and returns its 60-byte client
/// ACK, the frame the steady state is made of. `lands_right(synack)` says whether the
/// server's answer lands on this engine's worker (full NAT chose its local port for that).
fn establish(
    engine: &mut Engine<Mbuf>,
    pool: &Mempool,
    i: usize,
    now: Instant,
    lands_right: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, String> {
    let mut d = Driver { engine, pool, out: Output::new(2), now };
    let (cip, cport) = client(i);
    let syn = tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1000, 0, tcp::flags::SYN));
    let (v, sent) = d.send(0, &syn)?;
    let (Verdict::Forward(1), Some(sent)) = (v, sent) else {
        return Err(format!("flow {i}: SYN gave {v:?}, not a forward to the server port"));
    };
    let (local, local_port) = source(&sent);
    let server = destination_ip(&sent);
    let mac = server_mac(server.octets()[3] - 10);
    let synack =
        tcp60(SW1, mac, server, local, &seg(SERVER_PORT, local_port, 5000, 1001, tcp::flags::SYN | tcp::flags::ACK));
    if !lands_right(&synack) {
        return Err(format!("flow {i}: the server's answer to local port {local_port} lands on another worker"));
    }
    let (v, _) = d.send(1, &synack)?;
    if v != Verdict::Forward(0) {
        return Err(format!("flow {i}: SYN-ACK gave {v:?}"));
    }
    let ack = client_ack(i);
    let (v, _) = d.send(0, &ack)?;
    if v != Verdict::Forward(1) {
        return Err(format!("flow {i}: ACK gave {v:?}"));
    }
    Ok(ack)
}

/// The client ACK of flow `i` once established: the frame the steady state is made of.
fn client_ack(i: usize) -> Vec<u8> {
    let (cip, cport) = client(i);
    tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1001, 5001, tcp::flags::ACK))
}

/// The client ACKs of `n` flows in the order the port delivers them: shuffled (the same
/// order on every run for the same `n`), then copied in that order so that the templates
/// lie in memory in the order the port reads them. A NIC writes each frame into its mbuf,
/// so reading the template must not cost a cache miss of its own (60 MB of them at 1 M).
fn in_delivery_order(mut acks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let n = acks.len();
    shuffle(&mut acks, 0x5717_0000 ^ n as u64);
    acks.iter().map(|f| f.to_vec()).collect()
}

pub(super) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fisher-Yates with a fixed seed: the same order on every run.
pub(super) fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = seed;
    for i in (1..items.len()).rev() {
        let j = (splitmix(&mut rng) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// What the engine counted over the measured part.
pub(super) struct Delta {
    pub rx: u64,
    pub forwarded: u64,
    pub drops: u64,
    /// Every counter that moved, by name.
    pub detail: Vec<(&'static str, u64)>,
}

pub(super) fn delta(before: &Counters, after: &Counters) -> Delta {
    let before_named = before.nonzero();
    let detail = after
        .nonzero()
        .into_iter()
        .map(|(name, v)| (name, v - before_named.iter().find(|(n, _)| *n == name).map_or(0, |(_, b)| *b)))
        .filter(|(_, v)| *v != 0)
        .collect();
    Delta {
        rx: after.rx_frames - before.rx_frames,
        forwarded: after.forwarded - before.forwarded,
        drops: after.total_drops() - before.total_drops(),
        detail,
    }
}

/// Refuses figures for frames the fast path did not carry.
pub(super) fn check(name: &str, d: &Delta, received: u64) -> Result<(), String> {
    if d.rx != received || (d.forwarded as f64) < 0.99 * received as f64 {
        return Err(format!(
            "{name}: only {} of {received} frames received were forwarded (engine rx {}, drops {}: {:?}); not reporting",
            d.forwarded, d.rx, d.drops, d.detail
        ));
    }
    Ok(())
}

pub(super) fn table_memory(t: &FlowTable) -> String {
    format!(
        "{} B/flow max (FlowTable::bytes_per_flow), {:.0} B/flow measured (memory_bytes/capacity = {:.1} MiB/{})",
        FlowTable::bytes_per_flow(),
        t.memory_bytes() as f64 / t.capacity() as f64,
        t.memory_bytes() as f64 / (1 << 20) as f64,
        t.capacity()
    )
}

/// The RSS each arm of the two-armed bench topology has with `workers` queues: the client
/// arm on the source, the server arm on the destination (`runtime::steering::fields_for`).
fn two_arm_rss(workers: usize, services: &Services) -> [Arc<Rss>; 2] {
    let topology = topology(false);
    [0, 1].map(|port| Arc::new(Rss::new(&SYMMETRIC_KEY, fields_for(&topology, services, port), workers as u16, 128)))
}

/// How the bench's two ports spread frames over `workers` workers.
fn two_arm_steering(workers: usize, rss: &[Arc<Rss>; 2]) -> Vec<PortSteering> {
    if workers == 1 {
        return vec![PortSteering::Single, PortSteering::Single];
    }
    rss.iter().map(|r| PortSteering::Rss(Arc::clone(r))).collect()
}

/// `l4-established-<label>` over `n` flows on `workers` workers.
pub(super) fn established(
    label: &str,
    n: usize,
    workers: usize,
    pool: &Mempool,
    duration: Duration,
    reference: f64,
) -> Result<Scenario, String> {
    let name = format!("l4-established-{label}");
    let nat = NatMode::Full;
    // Each worker's share, with room for RSS spreading unevenly.
    let capacity = n / workers + n / workers / 4 + 1024;
    let probe = services(nat, capacity)?;
    let rss = two_arm_rss(workers, &probe);
    let steering = two_arm_steering(workers, &rss);
    let empty = || MemPort::new(vec![], None, MbufPool(pool.clone()));
    let queues = (0..workers).map(|_| vec![empty(), empty()]).collect();
    let mut ws = cores::workers(&topology(false), &probe, &steering, queues);
    let now = Instant::from_millis(1000);
    let built = StdInstant::now();
    // Each flow opened by the worker its client lands on; its server side lands there too.
    let mut acks = vec![Vec::new(); workers];
    for i in 0..n {
        let q = if workers == 1 { 0 } else { usize::from(rss[0].queue_of(&client_ack(i))) };
        let ack = establish(ws[q].engine_mut(), pool, i, now, |synack| {
            workers == 1 || usize::from(rss[1].queue_of(synack)) == q
        })?;
        acks[q].push(ack);
    }
    let build_time = built.elapsed();
    let tracked: usize = ws.iter().map(|w| w.engine().l4().flows().len()).sum();
    let memory = table_memory(ws[0].engine().l4().flows());
    for (w, acks) in ws.iter_mut().zip(acks) {
        w.ports_mut()[0] = MemPort::new(in_delivery_order(acks), None, MbufPool(pool.clone()));
    }
    // Warm-up: the gratuitous ARPs of the first turn, the templates' first pass for small n.
    let m = parallel::measure(ws, 4096, duration, |_| now);
    let d = delta(&m.before, &m.after);
    let (_, sent) = parallel::port_frames(&m.workers, 1);
    println!(
        "{name} x{workers}: {n} flows ({nat:?} NAT, {tracked} tracked, capacity {capacity} per worker) set up in {:.2} s; {memory}",
        build_time.as_secs_f64()
    );
    println!(
        "{name} x{workers}: engine over the run: rx {} forwarded {} drops {}; handed off {}; server port sent {sent} (whole run){}",
        d.rx,
        d.forwarded,
        d.drops,
        m.handed_off,
        if d.drops > 0 { format!(" {:?}", d.detail) } else { String::new() }
    );
    check(&name, &d, m.received)?;
    let mut s = m.meter.scenario(&name, m.elapsed, Some(reference));
    s.workers = workers;
    s.handoffs_per_frame = Some(parallel::per_frame(m.handed_off, m.received));
    Ok(s)
}

/// Connections per turn of `l4-new`, per worker: a turn's client port delivers
/// `4 * NEW_BATCH` frames, its server port `2 * NEW_BATCH`.
const NEW_BATCH: usize = 8;

/// The six frames of connection `i` served by server `s` (gateway NAT, two arms: the server
/// answers the client's own address through the switch): the client's four, the server's two.
fn connection(i: usize, s: u8) -> ([Vec<u8>; 4], [Vec<u8>; 2]) {
    use tcp::flags::{ACK, FIN, SYN};
    let (cip, cport) = client(i);
    let (sip, smac) = (server_ip(s), server_mac(s));
    (
        [
            tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1000, 0, SYN)),
            tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1001, 5001, ACK)),
            tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1001, 5001, FIN | ACK)),
            tcp60(SW0, ROUTER_MAC, cip, VIP, &seg(cport, VIP_PORT, 1002, 5002, ACK)),
        ],
        [
            tcp60(SW1, smac, sip, cip, &seg(SERVER_PORT, cport, 5000, 1001, SYN | ACK)),
            tcp60(SW1, smac, sip, cip, &seg(SERVER_PORT, cport, 5001, 1002, FIN | ACK)),
        ],
    )
}

/// One worker's frames for `l4-new`, client port and server port, in lockstep: turn `t`
/// delivers on the client port the SYNs of batch `t`, the ACK and FIN of batch `t - 1` and
/// the last ACK of batch `t - 2`, and then on the server port the SYN-ACKs of batch `t` and
/// the FIN-ACKs of batch `t - 1`: every connection's six frames in their order. The k-th
/// connection is answered by server `k % 3`, as the worker's round robin picks.
fn lockstep(conns: &[usize]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let frames: Vec<_> = conns.iter().enumerate().map(|(k, &i)| connection(i, (k % 3) as u8)).collect();
    let batches = frames.len() / NEW_BATCH;
    let batch = |t: usize| &frames[(t % batches) * NEW_BATCH..][..NEW_BATCH];
    let (mut client_side, mut server_side) = (Vec::new(), Vec::new());
    for t in batches..2 * batches {
        client_side.extend(batch(t).iter().map(|c| c.0[0].clone()));
        for c in batch(t - 1) {
            client_side.extend([c.0[1].clone(), c.0[2].clone()]);
        }
        client_side.extend(batch(t - 2).iter().map(|c| c.0[3].clone()));
        server_side.extend(batch(t).iter().map(|c| c.1[0].clone()));
        server_side.extend(batch(t - 1).iter().map(|c| c.1[1].clone()));
    }
    (client_side, server_side)
}

/// `l4-new` on `workers` workers: connections per second, each a new flow from SYN to expiry.
pub(super) fn new_connections(
    workers: usize,
    pool: &Mempool,
    duration: Duration,
    reference: f64,
) -> Result<Scenario, String> {
    let name = "l4-new";
    let svc = services(NatMode::Gateway, NEW_CAPACITY)?;
    let rss = two_arm_rss(workers, &svc);
    let steering = two_arm_steering(workers, &rss);
    // NEW_CONNECTIONS per worker: clients sorted by the worker their SYN lands on.
    let mut conns = vec![Vec::with_capacity(NEW_CONNECTIONS); workers];
    let mut i = 0;
    while conns.iter().any(|c| c.len() < NEW_CONNECTIONS) {
        let (syn, answers) = connection(i, 0);
        let q = if workers == 1 { 0 } else { usize::from(rss[0].queue_of(&syn[0])) };
        if workers > 1 && usize::from(rss[1].queue_of(&answers[0])) != q {
            return Err(format!("{name}: connection {i}'s two directions land on different queues"));
        }
        if conns[q].len() < NEW_CONNECTIONS {
            conns[q].push(i);
        }
        i += 1;
    }
    let queues = conns
        .iter()
        .map(|c| {
            let (client_side, server_side) = lockstep(c);
            vec![
                MemPort::new(client_side, None, MbufPool(pool.clone())).with_burst(4 * NEW_BATCH),
                MemPort::new(server_side, None, MbufPool(pool.clone())).with_burst(2 * NEW_BATCH),
            ]
        })
        .collect();
    let ws = cores::workers(&topology(false), &svc, &steering, queues);
    let tick = NEW_TICK.as_nanos() as u64;
    // Warm-up to the steady state: flows now expire as fast as they are opened.
    let m = parallel::measure(ws, 3 * TIME_WAIT_TURNS, duration, |turn| Instant::from_nanos((turn + 1) * tick));
    let d = delta(&m.before, &m.after);
    let l4: Vec<_> = m.workers.iter().map(|w| w.engine().l4().stats()).collect();
    let created: u64 = l4.iter().map(|s| s.flows_created).sum();
    let refused: u64 = l4.iter().map(|s| s.refused_table_full).sum();
    let table = m.workers[0].engine().l4().flows();
    println!(
        "{name} x{workers}: {created} connections opened in all, {refused} refused (table full); worker 0 tracks {} flows \
         at the end (capacity {}); virtual clock {} ms/turn (TIME_WAIT = {TIME_WAIT_TURNS} turns); handed off {}",
        table.len(),
        table.capacity(),
        NEW_TICK.as_secs_f64() * 1e3,
        m.handed_off
    );
    println!(
        "{name} x{workers}: engine over the run: rx {} forwarded {} drops {}{}",
        d.rx,
        d.forwarded,
        d.drops,
        if d.drops > 0 { format!(" {:?}", d.detail) } else { String::new() }
    );
    check(name, &d, m.received)?;
    if refused > 0 {
        return Err(format!("{name}: {refused} SYNs refused with the table full; not reporting"));
    }
    let mut s = m.meter.scenario(name, m.elapsed, Some(reference));
    // Six frames per connection, each received once.
    s.cps = Some(d.rx as f64 / 6.0 / m.elapsed.as_secs_f64());
    s.workers = workers;
    s.handoffs_per_frame = Some(parallel::per_frame(m.handed_off, m.received));
    Ok(s)
}
