//! A client and three servers around a real engine, in virtual time (quinn-proto's `Pair`,
//! grown to a small network): real TCP stacks (smoltcp) on both sides of the switch, so a
//! splice is tested against handshakes, windows, retransmissions and timestamps as a stack
//! produces them, frame by frame and deterministically.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::control::config::Config;
use crate::craft;
use crate::engine::hash::Secrets;
use crate::engine::{Engine, Output};
use crate::health::device::Queues;
use crate::health::{from_smol, smol};
use crate::time::Instant;
use crate::wire::{ethernet, MacAddr};

pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub const SERVER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);

pub fn server_ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 1, 10 + i)
}

/// The switch's config around the lab: two arms, rs1..rs3 on port 80, the VIP ports given.
pub fn config(vip_ports: &str) -> Config {
    let text = format!(
        r#"
workers = 1
[tables]
flows = 4096
head_buffers = 64

[[port]]
name = "client"
ip = "198.18.0.1/24"

[[port]]
name = "server"
ip = "198.18.1.1/24"

[[neighbour]]
port = "client"
ip = "198.18.0.2"
mac = "02:00:00:00:00:02"

[[neighbour]]
port = "server"
ip = "198.18.1.10"
mac = "02:00:00:00:01:10"

[[neighbour]]
port = "server"
ip = "198.18.1.11"
mac = "02:00:00:00:01:10"

[[neighbour]]
port = "server"
ip = "198.18.1.12"
mac = "02:00:00:00:01:10"

[[real_server]]
name = "rs1"
ip = "198.18.1.10"
port = 80
jvm_route = "node1"
domain = "a"

[[real_server]]
name = "rs2"
ip = "198.18.1.11"
port = 80
jvm_route = "node2"
domain = "a"

[[real_server]]
name = "rs3"
ip = "198.18.1.12"
port = 80
jvm_route = "node3"
domain = "b"

[[vip]]
name = "web"
ip = "198.18.0.100"
{vip_ports}
"#
    );
    Config::parse(&text).unwrap_or_else(|e| panic!("lab config: {e}"))
}

/// How the lab's servers answer a request head.
pub type Responder = fn(server: usize, head: &[u8], served: usize) -> Vec<u8>;

/// An answer naming the server, `Content-Length` set, kept alive.
pub fn name_server(server: usize, head: &[u8], served: usize) -> Vec<u8> {
    let body = format!("rs{} {}\n", server + 1, served);
    let cookie = if head.windows(4).any(|w| w == b"/sid") && !head.windows(4).any(|w| w == b"SID=") {
        format!("Set-Cookie: SID=opaque-{server}-{served}; Path=/\r\n")
    } else {
        String::new()
    };
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{cookie}Content-Type: text/plain\r\n\r\n{body}", body.len())
        .into_bytes()
}

/// Says which frames a lossy wire loses: called with each frame the switch sends (`true`:
/// towards the servers).
pub type Loss = Box<dyn FnMut(bool, &[u8]) -> bool>;

/// A TCP stack on one side of the switch.
pub struct Host {
    iface: Interface,
    device: Queues,
    pub sockets: SocketSet<'static>,
    /// Its MAC and the switch's on its side.
    mac: MacAddr,
    switch_mac: MacAddr,
}

impl Host {
    fn new(addrs: &[Ipv4Addr], gateway: Ipv4Addr, mac: MacAddr, switch_mac: MacAddr, seed: u64) -> Host {
        let mut device = Queues::new(4096);
        // smoltcp fills a segment to the MSS without counting its options: with timestamps
        // on, a full segment is 12 bytes over a 1500-byte MTU, which Linux never sends.
        device.mtu = 1500 + 12;
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, smol(Instant::ZERO));
        iface.update_ip_addrs(|a| {
            for ip in addrs {
                a.push(IpCidr::new(IpAddress::Ipv4(*ip), 24)).expect("room for addresses");
            }
        });
        iface.routes_mut().add_default_ipv4_route(gateway).expect("room for a route");
        Host { iface, device, sockets: SocketSet::new(Vec::new()), mac, switch_mac }
    }

    fn poll(&mut self, now: Instant) {
        self.iface.poll(smol(now), &mut self.device, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(smol(now), &self.sockets).map(from_smol)
    }

    pub fn socket(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// A TCP socket with timestamps on, as Linux has them, and buffers big enough for window
/// scaling.
pub fn socket(buffer: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; buffer]), tcp::SocketBuffer::new(vec![0; buffer]));
    s.set_tsval_generator(Some(|| 0x1000_0000));
    s.set_nagle_enabled(false);
    s
}

/// One server connection: a listening socket, what it read, what it answered.
struct Served {
    handle: SocketHandle,
    server: usize,
    pending: Vec<u8>,
    /// Answer bytes not yet taken by the socket.
    unsent: VecDeque<u8>,
}

/// The network: a client host, a server host with rs1..rs3's addresses, the switch between.
pub struct Lab {
    pub engine: Engine<Vec<u8>>,
    out: Output<Vec<u8>>,
    pub client: Host,
    /// rs1..rs3, one stack each.
    pub servers: Vec<Host>,
    served: Vec<Served>,
    responder: Responder,
    /// Request heads each server received, in order.
    pub requests: Vec<Vec<Vec<u8>>>,
    pub now: Instant,
    /// Frames the switch sent to the client and to the servers (Ethernet), for inspection.
    pub to_client: Vec<Vec<u8>>,
    pub to_servers: Vec<Vec<u8>>,
    /// A lossy wire: called with each frame the switch sends (`true`: towards the servers),
    /// a frame it says yes to is lost.
    pub lose: Option<Loss>,
    /// Every byte each server received, connection after connection.
    pub received: Vec<Vec<u8>>,
    /// Servers that answer no SYN at all (their packets vanish).
    pub silent: Vec<usize>,
    /// Servers that refuse connections (no listener).
    refusing: Vec<usize>,
    /// Servers still holding an old connection on the tuple the switch opens (a Linux
    /// server's SYN_RECV or TIME_WAIT socket): they answer a SYN with that connection's ACK
    /// at `STALE_ACK` until a RST at that number clears it.
    pub stale: Vec<usize>,
    /// Servers whose old connection a RST cleared, in order.
    pub stale_cleared: Vec<usize>,
}

/// The acknowledgment number of a stale connection's answer to a SYN.
pub const STALE_ACK: u32 = 0x7777_0000;

impl Lab {
    pub fn new(config: &Config, responder: Responder) -> Lab {
        let macs = config.configured_macs();
        let topology = config.topology(&macs);
        let services = config.services(Secrets::from_seed(5));
        let engine = Engine::with_services(topology, services, Default::default());
        let client = Host::new(&[CLIENT], Ipv4Addr::new(198, 18, 0, 1), CLIENT_MAC, macs[0], 1);
        let servers = (0..3)
            .map(|i| Host::new(&[server_ip(i)], Ipv4Addr::new(198, 18, 1, 1), SERVER_MAC, macs[1], 2 + u64::from(i)))
            .collect();
        let mut lab = Lab {
            engine,
            out: Output::new(2),
            client,
            servers,
            served: Vec::new(),
            responder,
            requests: vec![Vec::new(); 3],
            now: Instant::from_millis(1),
            to_client: Vec::new(),
            to_servers: Vec::new(),
            lose: None,
            received: vec![Vec::new(); 3],
            silent: Vec::new(),
            refusing: Vec::new(),
            stale: Vec::new(),
            stale_cleared: Vec::new(),
        };
        for server in 0..3 {
            for _ in 0..8 {
                lab.listen(server);
            }
        }
        lab
    }

    fn listen(&mut self, server: usize) {
        let mut s = socket(1 << 18);
        s.listen(IpEndpoint::new(IpAddress::Ipv4(server_ip(server as u8)), 80)).expect("listen");
        let handle = self.servers[server].sockets.add(s);
        self.served.push(Served { handle, server, pending: Vec::new(), unsent: VecDeque::new() });
    }

    /// Server `server` takes no more connections: a SYN to it is answered with RST.
    pub fn refuse(&mut self, server: usize) {
        let gone: Vec<usize> = (0..self.served.len()).filter(|&i| self.served[i].server == server).collect();
        for i in gone.into_iter().rev() {
            let conn = self.served.remove(i);
            self.servers[server].sockets.remove(conn.handle);
        }
        self.refusing.push(server);
    }

    /// A client connection from `port` to the VIP's `vip_port`.
    pub fn connect(&mut self, port: u16, vip_port: u16) -> SocketHandle {
        let mut s = socket(1 << 18);
        let ctx = self.client.iface.context();
        s.connect(ctx, (IpAddress::Ipv4(VIP), vip_port), port).expect("connect");
        self.client.sockets.add(s)
    }

    /// Moves every packet once: hosts poll, their packets cross the switch, the switch's
    /// timers run. True when something moved.
    fn step(&mut self) -> bool {
        let now = self.now;
        self.client.poll(now);
        for s in &mut self.servers {
            s.poll(now);
        }
        self.serve();
        for s in &mut self.servers {
            s.poll(now);
        }
        let mut moved = false;
        for side in 0..2 {
            let hosts = if side == 0 { std::slice::from_mut(&mut self.client) } else { &mut self.servers[..] };
            let mut burst = Vec::new();
            for (i, host) in hosts.iter_mut().enumerate() {
                while let Some(packet) = host.device.tx.pop() {
                    // A silent server's packets never reach the switch.
                    if side == 0 || !self.silent.contains(&i) {
                        burst.push(craft::ethernet(host.switch_mac, host.mac, ethernet::ethertype::IPV4, &packet));
                    }
                }
            }
            if !burst.is_empty() {
                moved = true;
                self.engine.process_burst(side, &mut burst, now, &mut || Some(Vec::new()), &mut self.out);
            }
        }
        self.engine.poll(now, &mut || Some(Vec::new()), &mut self.out);
        for port in 0..2 {
            let frames: Vec<Vec<u8>> = self.out.tx[port].drain(..).collect();
            for frame in frames {
                moved = true;
                let to_servers = port == 1;
                if self.lose.as_mut().is_some_and(|lose| lose(to_servers, &frame)) {
                    continue;
                }
                let Ok(eth) = ethernet::Frame::new_checked(&frame[..]) else { continue };
                if eth.ethertype() != ethernet::ethertype::IPV4 {
                    continue;
                }
                let packet = eth.payload().to_vec();
                let host = if to_servers {
                    match (0..3).find(|&i| packet.get(16..20) == Some(&server_ip(i).octets()[..])) {
                        Some(i) if self.stale_answer(usize::from(i), &packet) => continue,
                        Some(i) => &mut self.servers[usize::from(i)],
                        None => continue,
                    }
                } else {
                    &mut self.client
                };
                let _ = host.device.rx.push_with(packet.len(), |b| b.copy_from_slice(&packet));
                if to_servers { &mut self.to_servers } else { &mut self.to_client }.push(frame);
            }
        }
        self.out.dropped.clear();
        moved
    }

    /// A stale server's part in `packet` (IPv4, towards it): a SYN is answered with the
    /// old connection's ACK, a RST at `STALE_ACK` clears it; true when the packet goes no
    /// further.
    fn stale_answer(&mut self, server: usize, packet: &[u8]) -> bool {
        if !self.stale.contains(&server) {
            return false;
        }
        let Ok(ip) = crate::wire::ipv4::Packet::new_checked(packet) else { return false };
        let Ok(seg) = crate::wire::tcp::Packet::new_checked(ip.payload()) else { return false };
        let flags = seg.flags();
        if flags & crate::wire::tcp::flags::RST != 0 && seg.seq_number() == STALE_ACK {
            self.stale.retain(|&s| s != server);
            self.stale_cleared.push(server);
            return true;
        }
        if flags & (crate::wire::tcp::flags::SYN | crate::wire::tcp::flags::ACK) == crate::wire::tcp::flags::SYN {
            let answer = craft::Segment {
                src_port: seg.dst_port(),
                dst_port: seg.src_port(),
                seq: 0x1234_5678,
                ack: STALE_ACK,
                flags: crate::wire::tcp::flags::ACK,
                window: 1024,
                ..Default::default()
            };
            let reply =
                craft::ipv4(ip.dst_addr(), ip.src_addr(), 6, &craft::tcp(ip.dst_addr(), ip.src_addr(), &answer));
            let _ = self.servers[server].device.tx.push_with(reply.len(), |b| b.copy_from_slice(&reply));
            return true;
        }
        false
    }

    /// Servers answer each complete request head they read (keep-alive: several per
    /// connection), and listen again once a connection is over.
    fn serve(&mut self) {
        let mut relisten = Vec::new();
        for (i, conn) in self.served.iter_mut().enumerate() {
            let socket = self.servers[conn.server].sockets.get_mut::<tcp::Socket>(conn.handle);
            while socket.can_recv() {
                let _ = socket.recv(|d| {
                    conn.pending.extend_from_slice(d);
                    self.received[conn.server].extend_from_slice(d);
                    (d.len(), ())
                });
            }
            while let Some(end) = conn.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = conn.pending.drain(..end + 4).collect();
                let served = self.requests[conn.server].len();
                self.requests[conn.server].push(head.clone());
                conn.unsent.extend((self.responder)(conn.server, &head, served));
            }
            while !conn.unsent.is_empty() && socket.can_send() {
                let (front, _) = conn.unsent.as_slices();
                match socket.send_slice(front) {
                    Ok(n) if n > 0 => drop(conn.unsent.drain(..n)),
                    _ => break,
                }
            }
            if socket.state() == State::CloseWait {
                socket.close();
            }
            if matches!(socket.state(), State::Closed | State::TimeWait) {
                relisten.push(i);
            }
        }
        for i in relisten.into_iter().rev() {
            let conn = self.served.remove(i);
            self.servers[conn.server].sockets.remove(conn.handle);
            if !self.refusing.contains(&conn.server) {
                self.listen(conn.server);
            }
        }
    }

    /// Runs until `done` says so (or `limit` of virtual time passes: then false).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Lab) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step() {
                // Nothing moved: time jumps to the next deadline anyone has.
                let now = self.now;
                let next = std::iter::once(self.client.poll_at(now))
                    .chain(self.servers.iter_mut().map(|s| s.poll_at(now)))
                    .chain(std::iter::once(self.engine.poll_timeout()))
                    .flatten()
                    .min()
                    .unwrap_or(self.now + Duration::from_millis(10));
                self.now = next.max(self.now + Duration::from_micros(100)).min(end);
            }
        }
        done(self)
    }

    /// One request on a new connection from `port`: the response bytes, once complete
    /// (`Content-Length`), and the connection closed by the client.
    pub fn get(&mut self, port: u16, vip_port: u16, request: &[u8]) -> Option<Vec<u8>> {
        let h = self.connect(port, vip_port);
        let mut sent = false;
        let mut response = Vec::new();
        let ok = self.run_until(Duration::from_secs(10), |lab| {
            let s = lab.client.socket(h);
            if !sent && s.may_send() {
                sent = s.send_slice(request).is_ok();
            }
            while s.can_recv() {
                let _ = s.recv(|d| {
                    response.extend_from_slice(d);
                    (d.len(), ())
                });
            }
            complete(&response)
        });
        let s = self.client.socket(h);
        s.close();
        self.run_until(Duration::from_secs(5), |lab| {
            matches!(lab.client.socket(h).state(), State::Closed | State::TimeWait)
        });
        self.client.sockets.remove(h);
        ok.then_some(response)
    }
}

impl Lab {
    /// A connection from `port` that sends `chunks` one after the other (each once the
    /// previous went out), then reads until `done(response)` or the connection ends. The
    /// response and the client socket's last state.
    pub fn exchange(
        &mut self,
        port: u16,
        vip_port: u16,
        chunks: &[&[u8]],
        done: fn(&[u8]) -> bool,
    ) -> (Vec<u8>, State) {
        let h = self.connect(port, vip_port);
        let (mut next, mut at, mut response) = (0, 0, Vec::new());
        self.run_until(Duration::from_secs(20), |lab| {
            let s = lab.client.socket(h);
            if next < chunks.len() && s.may_send() {
                match s.send_slice(&chunks[next][at..]) {
                    Ok(n) => at += n,
                    Err(_) => return true,
                }
                if at == chunks[next].len() {
                    (next, at) = (next + 1, 0);
                }
            }
            while s.can_recv() {
                let _ = s.recv(|d| {
                    response.extend_from_slice(d);
                    (d.len(), ())
                });
            }
            done(&response) || !s.is_open() || matches!(s.state(), State::Closed | State::CloseWait)
        });
        let state = self.client.socket(h).state();
        self.client.socket(h).abort();
        self.run_until(Duration::from_millis(10), |_| false);
        self.client.sockets.remove(h);
        (response, state)
    }
}

/// Whether `response` holds a whole HTTP response (head and `Content-Length` of body).
pub fn complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    response.len() >= end + 4 + len
}

/// The body of a response.
pub fn body(response: &[u8]) -> &[u8] {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |e| e + 4);
    &response[end..]
}
