//! The L7 scenarios of `stickwire bench`: delayed binding and the TCP splice on one worker,
//! over DPDK mbufs, with the VIP port of `bench::l4` in L7 mode ([`l7_services`]: a
//! `Cookie: ServerID=rsN` rule, then round robin over rs1..rs3). Every segment is laid out
//! as Linux sends it: SYNs and SYN-ACKs with MSS, SACK permitted, timestamps and window
//! scale 7; every later segment with NOP, NOP, timestamps.
//!
//! - `l7-spliced-<n>`: `n` connections are first spliced by driving crafted frames through
//!   the engine (client SYN, the client's ACK carrying its request head, the server's SYN-ACK
//!   to the switch's SYN, the server's ACK of the held head, the client's ACK: each
//!   connection then spliced and Established). Then, as in `l4-established-<n>`, the
//!   in-memory ports deliver established frames of connections chosen at random over all
//!   `n` (shuffled lists, delivered round robin), now from both sides: on the client port
//!   66-byte client ACKs (the splice translates their acknowledgment number into the
//!   server's sequence space and takes the timestamp delta off their TSecr), on the server
//!   port 130-byte server segments with 64 bytes of data (sequence number into the switch's
//!   space, window rescaled, TSval moved onto the switch's clock). Two arms as in `l4`; the
//!   rate is compared with `l4-established-<n>`'s in the same run.
//! - `l7-lifecycle`: whole connections on fresh client ports, four starting every loop turn,
//!   every frame through the worker loop in the order it crosses the switch: client SYN (the
//!   switch answers), the client's ACK, its request head (one segment, `GET /` with a
//!   `Cookie: ServerID=rsN` header on every other connection; the switch acknowledges it
//!   and connects to the server: its SYN), the server's SYN-ACK (the switch sends the held
//!   head), the server's response, the client's FIN, the server's FIN, the client's last
//!   ACK. The clients and servers are one port ([`peer::Peer`]) that learns the switch's ISN
//!   and local ports from what it sends; each connection spans three loop turns. One arm,
//!   the virtual clock running as in `l4-new`, so closed flows leave the table.
//! - `synflood`: spoofed SYNs (random source addresses, ports and ISNs, Linux's options) to
//!   the L7 port with `syn_cookies = "always"`, each answered with a SYN cookie, and among
//!   them legitimate connections (one per 64 frames, one SYN in 57) made as in
//!   `l7-lifecycle` but through the cookie: the ACK proves it, then the head.
//! - `synflood-l4`: the same plan against `bench::l4`'s L4 port (full NAT, round robin)
//!   with `syn_cookies = "always"`: the switch proxies each legitimate handshake (the ACK
//!   proves the cookie, the switch connects to the server, holds the client's first data
//!   until the server answers, then splices), the spoofed SYNs each cost a cookie.
//!
//! Each refuses to report (returns an error) when the engine dropped anything, and the last
//! two also when any connection did not complete or the switch sent anything but the frames
//! due (see [`peer`]).

mod peer;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant as StdInstant};

use super::l4::{
    self, client, server_ip, server_mac, LAN_IP, NEW_TICK, ROUTER_MAC, SERVER_PORT, SW0, SW1, TIME_WAIT_TURNS, VIP,
    VIP_PORT,
};
use super::{MbufPool, Meter, Scenario};
use crate::craft::{self, Segment};
use crate::dpdk::{self, Mbuf, Mempool};
use crate::engine::flow::FlowState;
use crate::engine::l7::L7Stats;
use crate::engine::service::{L7Policy, Rule, RuleKind, Services, SynCookies};
use crate::engine::{Engine, Output};
use crate::port::mem::{BufPool, MemPort};
use crate::port::Port;
use crate::runtime::worker::Worker;
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::{ethernet, ipv4, tcp, MacAddr};
use peer::{Entry, Fill, Kind, Peer, Plan, Tally, CONN_SHIFT};

/// The longest request head the port reads, and head buffers per core.
const HEAD_LIMIT: usize = 4096;
const HEAD_BUFFERS: usize = 256;
/// Connections in the `l7-lifecycle` plan, four starting every loop turn: a pass lasts three
/// virtual TIME_WAITs, so a client tuple is used again only after its flow expired (a
/// multiple of 6: half the connections name their server, the round robin sends the other
/// half the same way on every pass).
const LIFECYCLE_CONNECTIONS: usize = 4 * 3 * TIME_WAIT_TURNS as usize;
const LIFECYCLE_CAPACITY: usize = 32_768;
/// Legitimate connections in the `synflood` plan, one every two loop turns (three virtual
/// TIME_WAITs per pass too).
const FLOOD_CONNECTIONS: usize = 3 * TIME_WAIT_TURNS as usize / 2;
const FLOOD_CAPACITY: usize = 8192;
/// The data in each server segment of `l7-spliced-<n>`.
const SPLICED_DATA: usize = 64;
/// The window fields of established segments (scaled by 7 both ways).
const CLIENT_WINDOW: u16 = 502;
const SERVER_WINDOW: u16 = 509;
/// The clients' and servers' timestamp clocks (constant: nothing checks them for PAWS).
const CLIENT_TS: u32 = 0x0100_0000;
const SERVER_TS: u32 = 0x0200_0000;
/// What the clients echo of the switch's timestamp: a SYN cookie's timestamp carries the
/// client's window scale and SACK offer in its low bits (7 and yes), the rest is never read.
const TS_ECHO: u32 = 7 | 0x10;

/// The L7 port every scenario here uses: `bench::l4`'s VIP port (VIP:80 over rs1..rs3, round
/// robin) in L7 mode, a server-id rule first (`Cookie: ServerID=rsN`), SYN cookies as
/// `syn_cookies` says.
fn l7_services(flow_capacity: usize, syn_cookies: SynCookies) -> Result<Services, String> {
    let mut services = l4::services(crate::engine::service::NatMode::Full, flow_capacity)?;
    services.services[0].l7 = Some(L7Policy {
        rules: vec![Rule { kind: RuleKind::ServerId, cookie: "ServerID".into() }],
        head_limit: HEAD_LIMIT,
    });
    services.services[0].syn_cookies = syn_cookies;
    services.head_buffers = HEAD_BUFFERS;
    services.syn_cookie_threshold = 1024;
    Ok(services)
}

/// A Linux SYN's (or SYN-ACK's) options: MSS 1460, SACK permitted and timestamps, NOP,
/// window scale 7.
fn syn_options(tsval: u32, tsecr: u32) -> [u8; 20] {
    let mut o = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7];
    o[8..12].copy_from_slice(&tsval.to_be_bytes());
    o[12..16].copy_from_slice(&tsecr.to_be_bytes());
    o
}

/// Every later Linux segment's options: NOP, NOP, timestamps.
fn ts_options(tsval: u32, tsecr: u32) -> [u8; 12] {
    let mut o = [1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0];
    o[4..8].copy_from_slice(&tsval.to_be_bytes());
    o[8..12].copy_from_slice(&tsecr.to_be_bytes());
    o
}

/// Who sends the segments built with it to whom (Ethernet and IPv4 addresses).
struct Link {
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl Link {
    #[allow(clippy::too_many_arguments)]
    fn frame(
        &self,
        ports: (u16, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        options: &[u8],
        payload: &[u8],
    ) -> Vec<u8> {
        let s = Segment { src_port: ports.0, dst_port: ports.1, seq, ack, flags, window, options, payload };
        craft::tcp_frame(self.dst_mac, self.src_mac, self.src, self.dst, &s)
    }
}

/// The request head of a connection: curl's, with a cookie naming `server` when given.
fn request(server: Option<u8>) -> Vec<u8> {
    let cookie = server.map(|s| format!("Cookie: ServerID=rs{}\r\n", s + 1)).unwrap_or_default();
    format!("GET / HTTP/1.1\r\nHost: {VIP}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n{cookie}\r\n").into_bytes()
}

/// Every server's response (nginx's, to the head above).
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nrs1\n";

/// Connection `c`'s client ISN: its index, shifted (see `peer`).
fn client_isn(c: usize) -> u32 {
    (c as u32) << CONN_SHIFT
}

fn server_isn(c: usize) -> u32 {
    (c as u32).wrapping_mul(0x9e37_79b9) ^ 0x5e5e_0000
}

/// The server of connection `c` in the plans: every even connection names it by cookie, the
/// odd ones get it from the round robin in the same turn.
fn server_of(c: usize) -> u8 {
    (c / 2 % 3) as u8
}

/// The server of connection `c` on an L4 port: the round robin's, every connection binding
/// in its own turn and in order (a plan's connections are a multiple of 3).
fn l4_server_of(c: usize) -> u8 {
    (c % 3) as u8
}

fn named(c: usize) -> Option<u8> {
    c.is_multiple_of(2).then(|| server_of(c))
}

/// What a frame the switch sent says, for the set-up's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    port: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: usize,
    tsval: u32,
}

fn sent(port: usize, frame: &[u8]) -> Option<Sent> {
    let ip = ipv4::Packet::new_checked(frame.get(ethernet::HEADER_LEN..)?).ok()?;
    let seg = tcp::Packet::new_checked(ip.payload()).ok()?;
    if !(ip.verify_checksum() && seg.verify_checksum(ip.src_addr(), ip.dst_addr())) {
        return None;
    }
    let tsval = tcp::read_options(seg.options()).ok()?.timestamps.map_or(0, |ts| ts.tsval);
    Some(Sent {
        port,
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        src_port: seg.src_port(),
        dst_port: seg.dst_port(),
        seq: seg.seq_number(),
        ack: seg.ack_number(),
        flags: seg.flags(),
        payload: seg.payload().len(),
        tsval,
    })
}

/// Drives frames straight through an engine (no port), as the peers would, and hands back
/// what the switch sent for each.
struct Driver<'a, B, A> {
    engine: &'a mut Engine<B>,
    alloc: A,
    out: Output<B>,
    now: Instant,
}

impl<B: FrameBuf, A: FnMut() -> Option<B>> Driver<'_, B, A> {
    /// Processes `frame` received on `port`; every frame the switch sent for it, parsed.
    fn send(&mut self, port: usize, frame: &[u8]) -> Result<Vec<Sent>, String> {
        let mut buf = (self.alloc)().ok_or("no buffer for a set-up frame")?;
        if !buf.try_copy_from(frame) {
            return Err("a set-up frame does not fit a buffer".into());
        }
        self.engine.process(port, buf, self.now, &mut self.alloc, &mut self.out);
        let mut all = Vec::new();
        for (p, q) in self.out.tx.iter_mut().enumerate() {
            for f in q.drain(..) {
                all.push(sent(p, f.as_ref()).ok_or("the switch sent a frame that is not good TCP")?);
            }
        }
        self.out.dropped.clear();
        Ok(all)
    }
}

/// Checks that a frame sent exactly `expected` (port, TCP flags) in that order.
fn expect(what: &str, sent: &[Sent], expected: &[(usize, u8)]) -> Result<(), String> {
    let got: Vec<(usize, u8)> = sent.iter().map(|s| (s.port, s.flags)).collect();
    if got != expected {
        return Err(format!("{what}: the switch sent {sent:?}, not frames with (port, flags) {expected:?}"));
    }
    Ok(())
}

/// The two established frames of a spliced connection the scenario is made of: a client ACK
/// (client port), a server data segment (server port).
struct Established {
    client_ack: Vec<u8>,
    server_data: Vec<u8>,
}

/// Splices connection `i` of `l7-spliced-<n>` (two arms) through the engine, checking every
/// answer, and returns its established frames.
fn splice_one<B: FrameBuf, A: FnMut() -> Option<B>>(d: &mut Driver<B, A>, i: usize) -> Result<Established, String> {
    use tcp::flags::{ACK, PSH, SYN};
    let (cip, cport) = client(i);
    let from_client = Link { dst_mac: SW0, src_mac: ROUTER_MAC, src: cip, dst: VIP };
    let ports = (cport, VIP_PORT);
    let c_isn = (i as u32).wrapping_mul(0x2545_f491);
    let head = request(named(i));
    let hlen = head.len() as u32;

    let syn = from_client.frame(ports, c_isn, 0, SYN, 64240, &syn_options(CLIENT_TS, 0), b"");
    let out = d.send(0, &syn)?;
    expect("SYN", &out, &[(0, SYN | ACK)])?;
    let (our_isn, our_ts) = (out[0].seq, out[0].tsval);

    let opts = ts_options(CLIENT_TS, our_ts);
    let data = from_client.frame(ports, c_isn.wrapping_add(1), our_isn.wrapping_add(1), PSH | ACK, 502, &opts, &head);
    let out = d.send(0, &data)?;
    expect("ACK and head", &out, &[(0, ACK), (1, SYN)])?;
    let to_server = out[1];
    let s = to_server.dst.octets()[3].wrapping_sub(10);
    if to_server.seq != c_isn || s >= l4::SERVERS {
        return Err(format!("the switch's SYN {to_server:?}"));
    }
    let from_server = Link { dst_mac: SW1, src_mac: server_mac(s), src: to_server.dst, dst: to_server.src };
    let back = (SERVER_PORT, to_server.src_port);
    let s_isn = server_isn(i);
    let (c_next, s_next) = (c_isn.wrapping_add(1 + hlen), s_isn.wrapping_add(1));

    let syn_ack = from_server.frame(
        back,
        s_isn,
        c_isn.wrapping_add(1),
        SYN | ACK,
        65160,
        &syn_options(SERVER_TS, to_server.tsval),
        b"",
    );
    let out = d.send(1, &syn_ack)?;
    expect("server SYN-ACK", &out, &[(1, PSH | ACK)])?;
    if out[0].payload != head.len() {
        return Err(format!("the held head went out as {:?}", out[0]));
    }
    let opts = ts_options(SERVER_TS, CLIENT_TS);
    let out = d.send(1, &from_server.frame(back, s_next, c_next, ACK, SERVER_WINDOW, &opts, b""))?;
    expect("server ACK", &out, &[(0, ACK)])?;
    let opts = ts_options(CLIENT_TS, out[0].tsval);
    let ack = from_client.frame(ports, c_next, our_isn.wrapping_add(1), ACK, CLIENT_WINDOW, &opts, b"");
    let out = d.send(0, &ack)?;
    expect("client ACK", &out, &[(1, ACK)])?;

    let data = [0x61u8; SPLICED_DATA];
    let opts = ts_options(SERVER_TS + 1, CLIENT_TS);
    let server_data = from_server.frame(back, s_next, c_next, PSH | ACK, SERVER_WINDOW, &opts, &data);
    // The client acknowledges that data.
    let opts = ts_options(CLIENT_TS + 1, out[0].tsval);
    let client_ack =
        from_client.frame(ports, c_next, our_isn.wrapping_add(1 + SPLICED_DATA as u32), ACK, CLIENT_WINDOW, &opts, b"");
    Ok(Established { client_ack, server_data })
}

/// Splices `n` connections; their established frames.
fn splice_all<B: FrameBuf>(
    engine: &mut Engine<B>,
    alloc: impl FnMut() -> Option<B>,
    n: usize,
    now: Instant,
) -> Result<Vec<Established>, String> {
    let mut d = Driver { engine, alloc, out: Output::new(2), now };
    let all = (0..n)
        .map(|i| splice_one(&mut d, i).map_err(|e| format!("connection {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let spliced = d.engine.l4().l7_stats().spliced;
    let flows = d.engine.l4().flows();
    let established = flows.iter().filter(|(_, f)| f.state() == FlowState::Established).count();
    if spliced != n as u64 || established != n {
        return Err(format!("{spliced} of {n} connections spliced, {established} flows established"));
    }
    Ok(all)
}

/// `l7-spliced-<label>` over `n` spliced connections.
pub(super) fn spliced(
    label: &str,
    n: usize,
    pool: &Mempool,
    duration: Duration,
    reference: f64,
) -> Result<Scenario, String> {
    let name = format!("l7-spliced-{label}");
    let capacity = n + n / 4;
    let mut engine =
        Engine::with_services(l4::topology(false), l7_services(capacity, SynCookies::Auto)?, Default::default());
    let now = Instant::from_millis(1000);
    let built = StdInstant::now();
    let spliced = splice_all(&mut engine, || pool.alloc(), n, now)?;
    let build_time = built.elapsed();
    let (mut clients, mut servers): (Vec<_>, Vec<_>) =
        spliced.into_iter().map(|e| (e.client_ack, e.server_data)).unzip();
    l4::shuffle(&mut clients, 0x1750_0000 ^ n as u64);
    l4::shuffle(&mut servers, 0x1751_0000 ^ n as u64);
    // Copied in delivery order, so that reading the templates streams (see `bench::l4`).
    let (clients, servers): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        (clients.iter().map(|f| f.to_vec()).collect(), servers.iter().map(|f| f.to_vec()).collect());
    let tracked = engine.l4().flows().len();
    let memory = l4::table_memory(engine.l4().flows());

    let ports =
        vec![MemPort::new(clients, None, MbufPool(pool.clone())), MemPort::new(servers, None, MbufPool(pool.clone()))];
    let mut worker = Worker::with_engine(engine, ports);
    for _ in 0..4096 {
        worker.run_once(now);
    }
    let before = worker.engine().counters().clone();
    let stats_before = worker.port_stats();
    let (meter, elapsed) = super::run_for(&mut worker, now, duration);
    let d = l4::delta(&before, worker.engine().counters());
    let stats = worker.port_stats();
    let received = (0..2).map(|p| stats[p].rx_frames - stats_before[p].rx_frames).sum::<u64>();
    let sent: Vec<u64> = (0..2).map(|p| stats[p].tx_frames - stats_before[p].tx_frames).collect();
    println!(
        "{name}: {n} connections spliced ({tracked} flows, capacity {capacity}) in {:.2} s; {memory}; {} B of splice \
         state per flow",
        build_time.as_secs_f64(),
        std::mem::size_of::<crate::engine::l7::splice::Splice>()
    );
    println!(
        "{name}: engine over the run: rx {} forwarded {} drops {}; sent to clients {}, to servers {}{}",
        d.rx,
        d.forwarded,
        d.drops,
        sent[0],
        sent[1],
        if d.drops > 0 { format!(" {:?}", d.detail) } else { String::new() }
    );
    l4::check(&name, &d, received)?;
    Ok(meter.scenario(&name, elapsed, Some(reference)))
}

/// The frames of planned connection `c` served by server `s` (one arm: clients behind the
/// router, servers on the LAN), in its three waves.
fn connection_waves(c: usize, s: u8) -> [Vec<Entry>; 3] {
    use tcp::flags::{ACK, FIN, PSH, SYN};
    let (cip, cport) = client(c);
    let from_client = Link { dst_mac: SW0, src_mac: ROUTER_MAC, src: cip, dst: VIP };
    let from_server = Link { dst_mac: SW0, src_mac: server_mac(s), src: server_ip(s), dst: LAN_IP };
    let (ports, back) = ((cport, VIP_PORT), (SERVER_PORT, 0));
    let (c_isn, s_isn) = (client_isn(c), server_isn(c));
    let head = request(named(c));
    let (hlen, rlen) = (head.len() as u32, RESPONSE.len() as u32);
    let n = c as u32;
    let entry = |kind, fill, frame| Entry { kind, fill, frame };
    // Client acknowledgment numbers are relative to the switch's ISN, which the peer adds.
    let client = |kind, seq: u32, ack: u32, flags, tsval, payload: &[u8]| {
        let opts = ts_options(tsval, TS_ECHO);
        let f = from_client.frame(ports, c_isn.wrapping_add(seq), ack, flags, CLIENT_WINDOW, &opts, payload);
        entry(kind, Fill::ClientAck(n), f)
    };
    let server = |kind, seq: u32, ack: u32, flags, tsval, payload: &[u8]| {
        let opts = ts_options(tsval, CLIENT_TS);
        let f = from_server.frame(
            back,
            s_isn.wrapping_add(seq),
            c_isn.wrapping_add(ack),
            flags,
            SERVER_WINDOW,
            &opts,
            payload,
        );
        entry(kind, Fill::ServerPort(n), f)
    };
    let syn = from_client.frame(ports, c_isn, 0, SYN, 64240, &syn_options(CLIENT_TS, 0), b"");
    let syn_ack = from_server.frame(
        back,
        s_isn,
        c_isn.wrapping_add(1),
        SYN | ACK,
        65160,
        &syn_options(SERVER_TS, CLIENT_TS),
        b"",
    );
    [
        vec![entry(Kind::Syn, Fill::Nothing, syn)],
        vec![client(Kind::Ack, 1, 1, ACK, CLIENT_TS, b""), client(Kind::Head, 1, 1, PSH | ACK, CLIENT_TS, &head)],
        vec![
            entry(Kind::ServerSynAck, Fill::ServerPort(n), syn_ack),
            server(Kind::Response, 1, 1 + hlen, PSH | ACK, SERVER_TS + 1, RESPONSE),
            client(Kind::ClientFin, 1 + hlen, 1 + rlen, FIN | ACK, CLIENT_TS + 1, b""),
            server(Kind::ServerFin, 1 + rlen, 2 + hlen, FIN | ACK, SERVER_TS + 2, b""),
            client(Kind::LastAck, 2 + hlen, 2 + rlen, ACK, CLIENT_TS + 2, b""),
        ],
    ]
}

/// A spoofed SYN: a random source address (routed through the clients' router: neither
/// 10/8, where the plans' clients are, nor the switch's 198.18/15), port and ISN (its top
/// bit set, so that no planned connection has it).
fn flood_syn(rng: &mut u64) -> Entry {
    let r = l4::splitmix(rng);
    let octets = (r as u32).to_be_bytes();
    let src = Ipv4Addr::new(11 + octets[0] % 116, octets[1], octets[2], octets[3]);
    let port = 1024 + ((r >> 32) as u16 % 64512);
    let isn = (r >> 48) as u32 | (l4::splitmix(rng) as u32 & 0xffff_0000) | 0x8000_0000;
    let from = Link { dst_mac: SW0, src_mac: ROUTER_MAC, src, dst: VIP };
    let frame = from.frame((port, VIP_PORT), isn, 0, tcp::flags::SYN, 64240, &syn_options(r as u32, 0), b"");
    Entry { kind: Kind::FloodSyn, fill: Fill::Nothing, frame }
}

/// The `l7-lifecycle` plan: `conns` connections, four starting every turn.
fn lifecycle_plan(conns: usize) -> Result<Plan, String> {
    let servers = (0..conns).map(|c| server_ip(server_of(c))).collect();
    Plan::build(conns / 4, servers, VIP_PORT, |c| c / 4, |c| connection_waves(c, server_of(c)), None)
}

/// The `synflood` and `synflood-l4` plan: `conns` legitimate connections, one starting every
/// other turn, the rest of every turn spoofed SYNs. The same frames on both ports (an L4
/// port carries the request and response as data); only who picks the server differs.
fn synflood_plan(conns: usize, handshakes: Handshakes) -> Result<Plan, String> {
    let server = if handshakes == Handshakes::Proxied { l4_server_of } else { server_of };
    let servers = (0..conns).map(|c| server_ip(server(c))).collect();
    let mut rng = 0x5f10_0d00_u64;
    let waves = |c| connection_waves(c, server(c));
    Plan::build(2 * conns, servers, VIP_PORT, |c| 2 * c, waves, Some(&mut || flood_syn(&mut rng)))
}

/// How the port a plan runs against answers SYNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Handshakes {
    /// An L7 port, with state (a SYN-ACK per SYN, the half-open flow tracked).
    Stateful,
    /// An L7 port with SYN cookies: no state until the ACK proves one.
    Cookies,
    /// An L4 port with SYN cookies (`L4::syn_proxy`): the ACK proving the cookie makes the
    /// switch connect to the server at once; the client's first data is held (and
    /// acknowledged) until the server answers, then sent, and the flow spliced. The same
    /// eight frames out per connection as on an L7 port, no head read.
    Proxied,
}

/// The services of the port a plan runs against: the L7 port, or `bench::l4`'s L4 port
/// with `syn_cookies = "always"`.
fn flood_services(flow_capacity: usize, handshakes: Handshakes) -> Result<Services, String> {
    match handshakes {
        Handshakes::Stateful => l7_services(flow_capacity, SynCookies::Auto),
        Handshakes::Cookies => l7_services(flow_capacity, SynCookies::Always),
        Handshakes::Proxied => {
            let mut services = l4::services(crate::engine::service::NatMode::Full, flow_capacity)?;
            services.services[0].syn_cookies = SynCookies::Always;
            services.head_buffers = HEAD_BUFFERS;
            Ok(services)
        }
    }
}

/// A worker around the peer port, on the virtual clock of `l4-new`: it moves [`NEW_TICK`]
/// every loop turn, so a flow's TIME_WAIT ends [`TIME_WAIT_TURNS`] turns after its last
/// ACK and the engine's expiry sweep removes it.
struct Clocked<P: BufPool> {
    worker: Worker<Peer<P>>,
    turn: u64,
}

impl<P: BufPool> Clocked<P> {
    fn new(engine: Engine<P::Buf>, plan: Plan, pool: P) -> Clocked<P> {
        Clocked { worker: Worker::with_engine(engine, vec![Peer::new(plan, pool)]), turn: 1 }
    }

    /// One loop turn; the frames received.
    fn turn(&mut self) -> usize {
        self.turn += 1;
        self.worker.run_once(Instant::from_nanos(self.turn * NEW_TICK.as_nanos() as u64))
    }

    /// Turns enough for the steady state: one pass of the plan (its first turns carry the
    /// ends of connections that never started there, which the switch drops), and at least
    /// two TIME_WAITs more, for the table to fill with closed flows as far as it will.
    fn warm_up(&mut self) {
        let pass = self.worker.ports()[0].plan_turns() as u64;
        for _ in 0..pass + 2 * TIME_WAIT_TURNS {
            self.turn();
        }
    }

    fn snapshot(&self) -> Snapshot {
        let (engine, peer) = (self.worker.engine(), &self.worker.ports()[0]);
        Snapshot {
            counters: engine.counters().clone(),
            l4: engine.l4().stats().clone(),
            tally: *peer.tally(),
            alloc_failed: peer.stats().alloc_failed,
        }
    }
}

/// The counters a plan's run is judged by, at one moment.
struct Snapshot {
    counters: crate::engine::Counters,
    l4: crate::engine::l4::L4Stats,
    tally: Tally,
    alloc_failed: u64,
}

/// What changed between two snapshots.
struct Outcome {
    tally: Tally,
    engine: l4::Delta,
    resets_sent: u64,
    /// The L7 counters that moved, by name.
    l7: Vec<(&'static str, u64)>,
    alloc_failed: u64,
    expired: u64,
    refused: u64,
    /// Connections still counted open at the end.
    open: u64,
}

impl Outcome {
    fn between(before: &Snapshot, after: &Snapshot) -> Outcome {
        let l7 = after
            .l4
            .l7
            .named()
            .into_iter()
            .zip(before.l4.l7.named())
            .map(|((name, a), (_, b))| (name, a - b))
            .filter(|(_, v)| *v != 0)
            .collect();
        Outcome {
            tally: after.tally.since(&before.tally),
            engine: l4::delta(&before.counters, &after.counters),
            resets_sent: after.counters.resets_sent - before.counters.resets_sent,
            l7,
            alloc_failed: after.alloc_failed - before.alloc_failed,
            expired: after.l4.flows_expired - before.l4.flows_expired,
            refused: after.l4.refused_table_full - before.l4.refused_table_full,
            open: after.l4.services[0].current,
        }
    }

    /// How far the L7 counter `name` moved (`L7Stats::named`); a name it does not have is
    /// an error, not a zero.
    fn l7(&self, name: &str) -> Result<u64, String> {
        if !L7Stats::default().named().iter().any(|(n, _)| *n == name) {
            return Err(format!("no L7 counter is called {name}"));
        }
        Ok(self.l7.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v))
    }
}

/// Connections a plan's run may leave open at the end of a turn: those bound in the last
/// turn (four at most), whose server has not answered yet.
const OPEN_AT_MOST: u64 = 8;

/// Refuses figures unless every frame was carried and every connection completed: nothing
/// dropped or reset, exactly the frames due sent, every connection's eight frames out
/// before its last, each SYN to its server, every step counted once by the engine, and the
/// flows closed.
fn judge(name: &str, o: &Outcome, handshakes: Handshakes) -> Result<(), String> {
    let t = &o.tally;
    let mut faults = Vec::new();
    if o.engine.drops > 0 || o.resets_sent > 0 || o.refused > 0 {
        faults.push(format!(
            "{} frames dropped, {} RSTs sent, {} SYNs refused (table full): {:?}",
            o.engine.drops, o.resets_sent, o.refused, o.engine.detail
        ));
    }
    if o.alloc_failed > 0 {
        faults.push(format!("{} buffers the pool did not have", o.alloc_failed));
    }
    if t.sent != t.answers_due() || t.flood_answers != t.delivered(Kind::FloodSyn) {
        faults.push(format!(
            "the switch sent {} frames ({} answers to flood SYNs) where {} were due ({} flood SYNs)",
            t.sent,
            t.flood_answers,
            t.answers_due(),
            t.delivered(Kind::FloodSyn)
        ));
    }
    if t.broken + t.misrouted + t.resets + t.strays > 0 || t.completed != t.delivered(Kind::LastAck) {
        faults.push(format!(
            "{} of {} connections completed, {} with frames missing, {} SYNs to the wrong server, {} RSTs, {} \
             frames of no connection",
            t.completed,
            t.delivered(Kind::LastAck),
            t.broken,
            t.misrouted,
            t.resets,
            t.strays
        ));
    }
    let syns = t.delivered(Kind::Syn) + t.delivered(Kind::FloodSyn);
    let (stateful, proxied) = (handshakes == Handshakes::Stateful, handshakes == Handshakes::Proxied);
    let (acks, heads) = (t.delivered(Kind::Ack), t.delivered(Kind::Head));
    let due = [
        ("syn-acks", if stateful { syns } else { 0 }),
        ("syn-cookies-sent", if stateful { 0 } else { syns }),
        ("syn-cookies-accepted", if stateful { 0 } else { acks }),
        ("syn-cookies-refused", 0),
        ("syn-proxied", if proxied { acks } else { 0 }),
        ("handshakes", acks),
        ("heads", if proxied { 0 } else { heads }),
        ("spliced", t.delivered(Kind::Response)),
        ("retransmits", 0),
        ("half-open-expired", 0),
        ("head-timeouts", 0),
        ("server-timeouts", 0),
        ("held-timeouts", 0),
        ("no-server", 0),
        ("head-buffers-full", 0),
    ];
    for (counter, expected) in due {
        let got = o.l7(counter)?;
        if got != expected {
            faults.push(format!("L7 counter {counter} moved by {got}, not {expected}"));
        }
    }
    if o.open > OPEN_AT_MOST {
        faults.push(format!("{} connections still open at the end", o.open));
    }
    if faults.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {}; not reporting", faults.join("; ")))
    }
}

/// A plan run through the worker loop for `duration` after its warm-up.
struct Measured {
    meter: Meter,
    elapsed: Duration,
    outcome: Outcome,
    /// Flows tracked at the end and at most while measured, and the table's capacity.
    tracked: usize,
    peak: usize,
    capacity: usize,
    /// The share of the time the peer itself took (filling in and reading frames).
    peer_share: f64,
}

fn measure(engine: Engine<Mbuf>, plan: Plan, pool: &Mempool, duration: Duration) -> Measured {
    let mut run = Clocked::new(engine, plan, MbufPool(pool.clone()));
    run.warm_up();
    let before = run.snapshot();
    let peer_before = run.worker.ports()[0].cycles();
    let mut peak = 0;
    let mut meter = Meter::new();
    let start_tsc = dpdk::tsc();
    let start = StdInstant::now();
    while start.elapsed() < duration {
        for _ in 0..1024 {
            let t = dpdk::tsc();
            let got = run.turn();
            meter.record(t, got);
        }
        peak = peak.max(run.worker.engine().l4().flows().len());
    }
    let elapsed = start.elapsed();
    let total_cycles = dpdk::tsc() - start_tsc;
    let peer_cycles = run.worker.ports()[0].cycles() - peer_before;
    let outcome = Outcome::between(&before, &run.snapshot());
    let flows = run.worker.engine().l4().flows();
    Measured {
        meter,
        elapsed,
        outcome,
        tracked: flows.len(),
        peak,
        capacity: flows.capacity(),
        peer_share: peer_cycles as f64 / total_cycles.max(1) as f64,
    }
}

/// What both plan scenarios print about their run.
fn describe(name: &str, plan_bytes: usize, conns: usize, built: Duration, m: &Measured) {
    let (o, t) = (&m.outcome, &m.outcome.tally);
    println!(
        "{name}: plan of {conns} connections ({:.1} MiB of frames) built in {:.2} s; over the run: {} connections \
         completed, {} flows expired, flows tracked at the end {} (peak {}, capacity {}); the peer took {:.1} % of \
         the time",
        plan_bytes as f64 / (1 << 20) as f64,
        built.as_secs_f64(),
        t.completed,
        o.expired,
        m.tracked,
        m.peak,
        m.capacity,
        100.0 * m.peer_share
    );
    println!(
        "{name}: engine over the run: rx {} forwarded {} drops {}; the switch sent {} frames ({} due); L7 {:?}",
        o.engine.rx,
        o.engine.forwarded,
        o.engine.drops,
        t.sent,
        t.answers_due(),
        o.l7
    );
}

/// `l7-lifecycle`: whole L7 connections per second.
pub(super) fn lifecycle(pool: &Mempool, duration: Duration, reference: f64) -> Result<Scenario, String> {
    let name = "l7-lifecycle";
    let built = StdInstant::now();
    let plan = lifecycle_plan(LIFECYCLE_CONNECTIONS)?;
    let built = built.elapsed();
    let plan_bytes = plan.bytes();
    let services = l7_services(LIFECYCLE_CAPACITY, SynCookies::Auto)?;
    let engine = Engine::with_services(l4::topology(true), services, Default::default());
    let m = measure(engine, plan, pool, duration);
    describe(name, plan_bytes, LIFECYCLE_CONNECTIONS, built, &m);
    judge(name, &m.outcome, Handshakes::Stateful)?;
    let mut s = m.meter.scenario(name, m.elapsed, Some(reference));
    s.cps = Some(m.outcome.tally.completed as f64 / m.elapsed.as_secs_f64());
    Ok(s)
}

/// `synflood` (`Handshakes::Cookies`, the L7 port) and `synflood-l4` (`Handshakes::Proxied`,
/// the L4 port): SYNs answered with cookies per second, legitimate connections among them.
pub(super) fn synflood(
    handshakes: Handshakes,
    pool: &Mempool,
    duration: Duration,
    reference: f64,
) -> Result<Scenario, String> {
    let name = if handshakes == Handshakes::Proxied { "synflood-l4" } else { "synflood" };
    let built = StdInstant::now();
    let plan = synflood_plan(FLOOD_CONNECTIONS, handshakes)?;
    let built = built.elapsed();
    let plan_bytes = plan.bytes();
    let services = flood_services(FLOOD_CAPACITY, handshakes)?;
    let engine = Engine::with_services(l4::topology(true), services, Default::default());
    let m = measure(engine, plan, pool, duration);
    describe(name, plan_bytes, FLOOD_CONNECTIONS, built, &m);
    judge(name, &m.outcome, handshakes)?;
    let t = &m.outcome.tally;
    let mut s = m.meter.scenario(name, m.elapsed, Some(reference));
    s.syns_per_s = Some(m.outcome.l7("syn-cookies-sent")? as f64 / m.elapsed.as_secs_f64());
    s.legit_started = Some(t.delivered(Kind::Syn));
    s.legit_completed = Some(t.completed);
    Ok(s)
}

#[cfg(test)]
mod tests;
