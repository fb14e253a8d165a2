//! A checker wired to smoltcp test servers, driven in virtual time (quinn-proto's `Pair`).
//!
//! Each server is a second smoltcp `Interface` on its own address with listening sockets that
//! answer as told. Packets move between the checker's queues and the servers' each step, with
//! no delay; time jumps to the next deadline any side asks for once nothing moves.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use super::super::device::Queues;
use super::super::{from_smol, smol, Checker, HealthEvent, Local, Target, Timing};
use crate::time::Instant;
use crate::wire::{Ipv4Packet, TcpPacket};

/// How a server's port answers.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Sends these bytes once the request head is in, then closes.
    Reply(Vec<u8>),
    /// The same, this long after the request head.
    ReplyAfter(Duration, Vec<u8>),
    /// Accepts and reads, never answers.
    Silent,
    /// Answers `200 OK` and then a body that never ends.
    Endless,
    /// Closes as soon as the connection is up.
    CloseAtOnce,
}

pub fn reply(status: &str, body: &str) -> Behaviour {
    Behaviour::Reply(format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n\r\n{body}").into_bytes())
}

/// Listening sockets per served port: more than the checks that can overlap.
const LISTENERS: usize = 4;
/// A request head longer than this is cut (the checker's are short).
const HEAD_CAP: usize = 4096;

struct Conn {
    handle: SocketHandle,
    port: u16,
    head: Vec<u8>,
    head_at: Option<Instant>,
    answered: bool,
}

/// A test server: an address, its ports and how they answer.
pub struct Server {
    pub ip: Ipv4Addr,
    iface: Interface,
    device: Queues,
    sockets: SocketSet<'static>,
    conns: Vec<Conn>,
    behaviour: HashMap<u16, Behaviour>,
    /// Request heads received, in order.
    pub requests: Vec<Vec<u8>>,
}

impl Server {
    pub fn new(ip: Ipv4Addr, ports: &[(u16, Behaviour)]) -> Server {
        let mut device = Queues::new(1 << 16);
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from(u32::from(ip));
        let mut iface = Interface::new(config, &mut device, smol(Instant::ZERO));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(ip), 32)).expect("room"));
        iface.routes_mut().add_default_ipv4_route(ip).expect("room");
        let mut server = Server {
            ip,
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            conns: Vec::new(),
            behaviour: HashMap::new(),
            requests: Vec::new(),
        };
        for (port, behaviour) in ports {
            server.behaviour.insert(*port, behaviour.clone());
            for _ in 0..LISTENERS {
                let mut socket =
                    tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 4096]), tcp::SocketBuffer::new(vec![0; 16384]));
                socket.listen(*port).expect("listen");
                let handle = server.sockets.add(socket);
                server.conns.push(Conn { handle, port: *port, head: Vec::new(), head_at: None, answered: false });
            }
        }
        server
    }

    /// Changes how `port` answers from the next connection on.
    pub fn set(&mut self, port: u16, behaviour: Behaviour) {
        self.behaviour.insert(port, behaviour);
    }

    fn poll(&mut self, now: Instant) {
        self.iface.poll(smol(now), &mut self.device, &mut self.sockets);
        self.serve(now);
        self.iface.poll(smol(now), &mut self.device, &mut self.sockets);
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let replies = self.conns.iter().filter(|c| !c.answered).filter_map(|c| match &self.behaviour[&c.port] {
            Behaviour::ReplyAfter(delay, _) => c.head_at.map(|t| t + *delay),
            _ => None,
        });
        let stack = self.iface.poll_at(smol(now), &self.sockets).map(from_smol);
        replies.chain(stack).min()
    }

    fn serve(&mut self, now: Instant) {
        for conn in &mut self.conns {
            let socket = self.sockets.get_mut::<tcp::Socket>(conn.handle);
            match socket.state() {
                State::Closed | State::TimeWait => {
                    socket.listen(conn.port).expect("listen");
                    conn.head.clear();
                    conn.head_at = None;
                    conn.answered = false;
                    continue;
                }
                State::Listen | State::SynReceived => continue,
                _ => {}
            }
            while socket.can_recv() {
                let _ = socket.recv(|d| {
                    let take = d.len().min(HEAD_CAP - conn.head.len());
                    conn.head.extend_from_slice(&d[..take]);
                    (d.len(), ())
                });
            }
            if conn.head_at.is_none() && conn.head.windows(4).any(|w| w == b"\r\n\r\n") {
                conn.head_at = Some(now);
                self.requests.push(conn.head.clone());
            }
            answer(socket, conn, &self.behaviour[&conn.port], now);
            if socket.state() == State::CloseWait {
                socket.close();
            }
        }
    }
}

fn answer(socket: &mut tcp::Socket, conn: &mut Conn, behaviour: &Behaviour, now: Instant) {
    let Some(head_at) = conn.head_at else {
        if let Behaviour::CloseAtOnce = behaviour {
            socket.close();
        }
        return;
    };
    match behaviour {
        Behaviour::Reply(bytes) if !conn.answered => send_and_close(socket, conn, bytes),
        Behaviour::ReplyAfter(delay, bytes) if !conn.answered && now >= head_at + *delay => {
            send_and_close(socket, conn, bytes)
        }
        Behaviour::Endless => {
            if !conn.answered {
                socket.send_slice(b"HTTP/1.1 200 OK\r\n\r\n").expect("room");
                conn.answered = true;
            }
            while socket.can_send() {
                let _ = socket.send(|buf| {
                    buf.fill(b'x');
                    (buf.len(), ())
                });
            }
        }
        Behaviour::CloseAtOnce => socket.close(),
        _ => {}
    }
}

fn send_and_close(socket: &mut tcp::Socket, conn: &mut Conn, bytes: &[u8]) {
    assert_eq!(socket.send_slice(bytes), Ok(bytes.len()), "a canned answer fits the buffer");
    socket.close();
    conn.answered = true;
}

/// What went from the checker to one server address and port.
#[derive(Debug, Default)]
pub struct Flow {
    /// The start of each connection attempt (first SYN of a new local port and sequence).
    pub attempts: Vec<Instant>,
    seen: BTreeSet<(u16, u32)>,
    pub fins: u32,
    pub resets: u32,
    /// Bytes of payload the server sent back.
    pub bytes_back: u64,
}

fn note_back(flows: &mut HashMap<(Ipv4Addr, u16), Flow>, packet: &[u8]) {
    let ip = Ipv4Packet::new_checked(packet).expect("smoltcp sends valid IPv4");
    let tcp = TcpPacket::new_checked(ip.payload()).expect("and TCP");
    let payload = ip.payload().len() - usize::from(tcp.header_len());
    flows.entry((ip.src_addr(), tcp.src_port())).or_default().bytes_back += payload as u64;
}

/// The checker, its servers and the wire between them.
pub struct Pair {
    pub now: Instant,
    pub checker: Checker,
    pub servers: Vec<Server>,
    pub flows: HashMap<(Ipv4Addr, u16), Flow>,
    /// Packets to addresses without a server.
    pub lost: u64,
    pub events: Vec<(Instant, HealthEvent)>,
    /// Whether each step takes the checker's events (into `events`).
    pub drain_events: bool,
}

pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

pub fn local() -> Local {
    Local { addr: LOCAL, ports: 40000..=40999, seed: 7 }
}

pub fn timing(interval_ms: u64, timeout_ms: u64, rise: u32, fall: u32) -> Timing {
    Timing { interval: Duration::from_millis(interval_ms), timeout: Duration::from_millis(timeout_ms), rise, fall }
}

impl Pair {
    pub fn new(targets: Vec<(Target, Timing)>, servers: Vec<Server>) -> Pair {
        let checker = Checker::new(local(), targets, Instant::ZERO).expect("valid targets");
        Pair {
            now: Instant::ZERO,
            checker,
            servers,
            flows: HashMap::new(),
            lost: 0,
            events: Vec::new(),
            drain_events: true,
        }
    }

    pub fn server(&mut self, ip: Ipv4Addr) -> &mut Server {
        self.servers.iter_mut().find(|s| s.ip == ip).expect("a server at that address")
    }

    pub fn flow(&self, ip: Ipv4Addr, port: u16) -> &Flow {
        &self.flows[&(ip, port)]
    }

    /// One exchange at `now`; whether any packet moved.
    fn step(&mut self) -> bool {
        let now = self.now;
        self.checker.poll(now);
        let mut out = Vec::new();
        self.checker.transmit(|p| out.push(p.to_vec()));
        let mut moved = !out.is_empty();
        for packet in out {
            self.deliver(packet);
        }
        for server in &mut self.servers {
            server.poll(now);
            while let Some(packet) = server.device.tx.pop() {
                moved = true;
                note_back(&mut self.flows, &packet);
                self.checker.receive(&packet);
            }
        }
        if self.drain_events {
            self.events.extend(self.checker.events().map(|e| (now, e)));
        }
        moved
    }

    fn deliver(&mut self, packet: Vec<u8>) {
        let ip = Ipv4Packet::new_checked(&packet[..]).expect("smoltcp sends valid IPv4");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("and TCP");
        let flow = self.flows.entry((ip.dst_addr(), tcp.dst_port())).or_default();
        if tcp.syn() && flow.seen.insert((tcp.src_port(), tcp.seq_number())) {
            flow.attempts.push(self.now);
        }
        flow.fins += u32::from(tcp.fin());
        flow.resets += u32::from(tcp.rst());
        match self.servers.iter_mut().find(|s| s.ip == ip.dst_addr()) {
            Some(server) => assert!(server.device.rx.push_with(packet.len(), |b| b.copy_from_slice(&packet)).is_ok()),
            None => self.lost += 1,
        }
    }

    /// Runs until `end`, jumping from one deadline to the next.
    pub fn drive_until(&mut self, end: Instant) {
        loop {
            let mut rounds = 0;
            while self.step() {
                rounds += 1;
                assert!(rounds < 100_000, "packets still moving after {rounds} rounds at {:?}", self.now);
            }
            let now = self.now;
            let servers = self.servers.iter_mut().filter_map(|s| s.poll_at(now));
            let next = self.checker.poll_at(now).into_iter().chain(servers).min().unwrap_or(end);
            // Nothing moved at `now`; whatever still says "now" waits a millisecond.
            let next = if next <= now { now + Duration::from_millis(1) } else { next };
            if next > end {
                self.now = end;
                while self.step() {}
                return;
            }
            self.now = next;
        }
    }

    /// The last check's reason for `server`.
    pub fn reason(&self, server: u16) -> String {
        let health = self.checker.status().find(|h| h.server == server).expect("a target");
        health.last.expect("a finished check").verdict.reason.to_string()
    }

    pub fn is_up(&self, server: u16) -> bool {
        self.checker.status().find(|h| h.server == server).expect("a target").up
    }

    /// `(time, up, reason)` of `server`'s transitions.
    pub fn transitions(&self, server: u16) -> Vec<(Instant, bool, String)> {
        self.events.iter().filter(|(_, e)| e.server == server).map(|(t, e)| (*t, e.up, e.reason.clone())).collect()
    }
}
