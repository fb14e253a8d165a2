//! The health checker: real TCP connections and HTTP requests from the switch's own
//! server-side address to every real server, over smoltcp, and the up/down state they yield.
//!
//! Sans-IO, like the engine: the checker never touches a socket or a clock.
//! - [`Checker::receive`] takes an IPv4 packet the workers handed over (TCP to the checker's
//!   address and ports; anything else is counted and dropped);
//! - [`Checker::poll`] runs smoltcp and the checks at `now`;
//! - [`Checker::transmit`] gives the IPv4 packets to send (the engine wraps them in Ethernet
//!   and routes them: the interface is `Medium::Ip`, so ARP stays in the engine);
//! - [`Checker::poll_at`] says when `poll` must run next;
//! - [`Checker::events`] yields up/down transitions for the control side's next snapshot.
//!
//! Checks come from [`Local::addr`] and only from the ports of [`Local::ports`], which full NAT
//! must leave alone, so the workers can tell a check's answer from a client's flow by its
//! destination port. Only TCP is taken in: ICMP errors are not matched to checks (an
//! unreachable server shows as a timeout), and ARP stays in the engine.
//!
//! Each target has one smoltcp socket for its whole life, reconnected from a fresh local port
//! (taken in turn from [`Local::ports`]) at each check. A check ends with a verdict, or with a
//! timeout, which aborts the socket; the next check starts one interval after the previous
//! one was due, whatever the other targets do. Queues, sockets, response buffers and pending
//! events are all bounded, so no server (silent, unreachable, talking garbage or an endless
//! body) can stall the checker or make it grow.

#![forbid(unsafe_code)]

pub(crate) mod device;
mod http;
mod state;
mod target;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::time::Instant;
use crate::wire::{Ipv4Packet, TcpPacket};
use device::{Queues, MTU};
use http::ResponseReader;
use state::Health;

pub use state::{HealthEvent, LastCheck, Reason, ServerHealth, Verdict, Waiting};
pub use target::{Check, ConfigError, HttpCheck, Local, Target, Timing};

/// Packets each device queue holds; more are dropped (rx) or wait in smoltcp (tx).
const QUEUE_LIMIT: usize = 256;
/// Socket buffers: an HTTP check reads its response through `HTTP_RX` bytes at a time; a
/// TCP check reads nothing (smoltcp's ring buffers cannot be empty).
const HTTP_RX: usize = 4096;
const TCP_BUFFER: usize = 64;

/// What the checker counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounters {
    /// Packets queued for smoltcp.
    pub rx_packets: u64,
    /// Packets dropped as not TCP to the checker's address and ports (or over the MTU).
    pub rx_unwanted: u64,
    /// Packets dropped because the receive queue was full.
    pub rx_queue_full: u64,
    /// Packets handed to the caller.
    pub tx_packets: u64,
    /// Times smoltcp found the transmit queue full (it sends later).
    pub tx_blocked: u64,
    pub checks_started: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
}

/// One target and its check.
#[derive(Debug)]
struct Slot {
    target: Target,
    timing: Timing,
    /// The request of an HTTP check, built once.
    request: Vec<u8>,
    socket: SocketHandle,
    /// The local port of the socket's last connection.
    port: Option<u16>,
    /// When the next check starts.
    due: Instant,
    flight: Option<Flight>,
    health: Health,
}

/// A check in progress.
#[derive(Debug)]
struct Flight {
    started: Instant,
    deadline: Instant,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Connecting,
    Response(ResponseReader),
}

/// Checks one target's settings as [`Checker::new`] would (for config validation).
pub fn validate_target(target: &Target, timing: &Timing) -> Result<(), ConfigError> {
    let local = Local { addr: std::net::Ipv4Addr::new(198, 18, 0, 1), ports: 1..=1, seed: 0 };
    target::validate(&local, &[(target.clone(), *timing)])
}

/// The health checker.
pub struct Checker {
    local: Local,
    /// The next local port to try.
    next_port: u16,
    iface: Interface,
    device: Queues,
    sockets: SocketSet<'static>,
    slots: Vec<Slot>,
    /// Local port -> the slot whose socket last used it: after each packet smoltcp takes in,
    /// only that slot is looked at, so no state change between two packets goes unseen.
    by_port: FxHashMap<u16, usize>,
    /// Sockets of removed targets, kept until their reset has gone out.
    retiring: Vec<SocketHandle>,
    /// At most one per server: a later transition replaces one not yet taken.
    events: VecDeque<HealthEvent>,
    /// smoltcp's own next deadline, as of the last poll.
    stack_at: Option<Instant>,
    counters: HealthCounters,
    /// Slots due in this poll (kept to avoid allocating per poll).
    due: Vec<usize>,
}

impl Checker {
    /// A checker at `local` for `targets`. The first checks start at the first poll.
    pub fn new(local: Local, targets: Vec<(Target, Timing)>, now: Instant) -> Result<Checker, ConfigError> {
        target::validate(&local, &targets)?;
        let mut device = Queues::new(QUEUE_LIMIT);
        let iface = interface(&local, &mut device, now);
        let mut sockets = SocketSet::new(Vec::new());
        let slots = targets.into_iter().map(|(t, timing)| new_slot(&mut sockets, t, timing, now)).collect();
        Ok(Checker {
            next_port: *local.ports.start(),
            local,
            iface,
            device,
            sockets,
            slots,
            by_port: FxHashMap::default(),
            retiring: Vec::new(),
            events: VecDeque::new(),
            stack_at: None,
            counters: HealthCounters::default(),
            due: Vec::new(),
        })
    }

    /// Takes an IPv4 packet from the workers: TCP to [`Local::addr`] with a destination port in
    /// [`Local::ports`]. Anything else, and anything over the queue's room, is counted and
    /// dropped.
    pub fn receive(&mut self, ip_packet: &[u8]) {
        let Some(len) = self.wanted(ip_packet) else {
            self.counters.rx_unwanted += 1;
            return;
        };
        match self.device.rx.push_with(len, |buf| buf.copy_from_slice(&ip_packet[..len])) {
            Ok(()) => self.counters.rx_packets += 1,
            Err(_) => self.counters.rx_queue_full += 1,
        }
    }

    /// The length of `packet` without padding, if it is TCP for the checker.
    fn wanted(&self, packet: &[u8]) -> Option<usize> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        let len = usize::from(ip.total_len());
        let ours = ip.dst_addr() == self.local.addr && ip.protocol() == 6 && !ip.is_fragment() && len <= MTU;
        let port = dst_port(packet)?;
        (ours && self.local.ports.contains(&port)).then_some(len)
    }

    /// Runs smoltcp and the checks at `now`.
    pub fn poll(&mut self, now: Instant) {
        let at = smol(now);
        self.ingress(now);
        self.sweep(now);
        self.iface.poll_egress(at, &mut self.device, &mut self.sockets);
        // Their resets went out (or the queue was full: the remote end will time out).
        for handle in self.retiring.drain(..) {
            self.sockets.remove(handle);
        }
        if self.start_due(now) {
            self.iface.poll_egress(at, &mut self.device, &mut self.sockets);
        }
        self.stack_at = self.iface.poll_at(at, &self.sockets).map(from_smol);
    }

    /// Hands every queued IPv4 packet to `out`. Call it after every `poll`: while the queue
    /// is full smoltcp cannot send, and `poll_at` keeps saying "now".
    pub fn transmit(&mut self, mut out: impl FnMut(&[u8])) {
        while let Some(buf) = self.device.tx.pop() {
            self.counters.tx_packets += 1;
            out(&buf);
            self.device.tx.recycle(buf);
        }
    }

    /// When `poll` must run next: `now` if packets wait, else the earliest check start,
    /// check deadline or smoltcp timer. `None` without targets.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        if self.device.rx.len() > 0 || !self.retiring.is_empty() {
            return Some(now);
        }
        let checks = self.slots.iter().map(|s| s.flight.as_ref().map_or(s.due, |f| f.deadline));
        checks.chain(self.stack_at).min().map(|t| t.max(now))
    }

    /// The up/down transitions since the last call (dropping the iterator drops the rest).
    pub fn events(&mut self) -> impl Iterator<Item = HealthEvent> + '_ {
        self.events.drain(..)
    }

    /// Every target's health.
    pub fn status(&self) -> impl Iterator<Item = ServerHealth> + '_ {
        self.slots.iter().map(|s| ServerHealth {
            server: s.target.server,
            ip: s.target.ip,
            port: s.target.port,
            up: s.health.up,
            successes: s.health.successes,
            failures: s.health.failures,
            checks: s.health.checks,
            last: s.health.last.clone(),
        })
    }

    pub fn counters(&self) -> HealthCounters {
        HealthCounters { tx_blocked: self.device.tx_blocked, ..self.counters }
    }

    /// smoltcp sockets held: one per target, plus removed ones until the next poll.
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }

    /// Replaces the targets (config reload). A server that stays keeps its up/down state.
    /// If its target is unchanged its check and cadence go on; if its address or check
    /// changed, the check in flight is dropped, the runs start again (on probation, as at
    /// start) and the next check starts at once. New servers start up on probation; removed
    /// ones are forgotten without an event. On error nothing changes.
    pub fn set_targets(&mut self, targets: Vec<(Target, Timing)>, now: Instant) -> Result<(), ConfigError> {
        target::validate(&self.local, &targets)?;
        let mut old: FxHashMap<u16, Slot> = self.slots.drain(..).map(|s| (s.target.server, s)).collect();
        for (target, timing) in targets {
            let slot = match old.remove(&target.server) {
                Some(mut slot) if slot.target == target => {
                    slot.due = slot.due.min(now + timing.interval);
                    slot.timing = timing;
                    slot
                }
                Some(slot) => {
                    let mut fresh = new_slot(&mut self.sockets, target, timing, now);
                    fresh.health = Health { probation: true, ..slot.health };
                    fresh.health.restart_counts();
                    retire(&mut self.sockets, &mut self.retiring, slot.socket);
                    fresh
                }
                None => new_slot(&mut self.sockets, target, timing, now),
            };
            self.slots.push(slot);
        }
        for slot in old.into_values() {
            retire(&mut self.sockets, &mut self.retiring, slot.socket);
        }
        self.by_port = self.slots.iter().enumerate().filter_map(|(i, s)| Some((s.port?, i))).collect();
        Ok(())
    }

    /// Gives smoltcp the queued packets one at a time, looking at the owner after each.
    fn ingress(&mut self, now: Instant) {
        while let Some(front) = self.device.rx.front() {
            let port = dst_port(front);
            let done = self.iface.poll_ingress_single(smol(now), &mut self.device, &mut self.sockets);
            if done == PollIngressSingleResult::None {
                break; // the transmit queue is full: the rest waits for the caller
            }
            if let Some(&i) = port.and_then(|p| self.by_port.get(&p)) {
                self.observe(i, now);
            }
        }
    }

    /// Looks at every check in flight, and fails those past their deadline.
    fn sweep(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            self.observe(i, now);
            let slot = &self.slots[i];
            let Some(flight) = slot.flight.as_ref().filter(|f| now >= f.deadline) else { continue };
            let waiting = match &flight.stage {
                Stage::Connecting => Waiting::Connect,
                Stage::Response(reader) if reader.started() => Waiting::Reading,
                Stage::Response(_) => Waiting::Response,
            };
            let reason = Reason::Timeout { after: slot.timing.timeout, waiting };
            self.finish(i, Verdict::fail(reason), now);
        }
    }

    /// Moves slot `i`'s check on from what its socket shows.
    fn observe(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        let Some(flight) = &mut slot.flight else { return };
        let socket = self.sockets.get_mut::<tcp::Socket>(slot.socket);
        if let Some(verdict) = step(&slot.target.check, &slot.request, flight, socket) {
            self.finish(i, verdict, now);
        }
    }

    /// Ends slot `i`'s check with `verdict`: hangs up and counts it.
    fn finish(&mut self, i: usize, verdict: Verdict, now: Instant) {
        let slot = &mut self.slots[i];
        let started = slot.flight.take().map_or(now, |f| f.started);
        hang_up(self.sockets.get_mut::<tcp::Socket>(slot.socket), &slot.target.check);
        if verdict.passed {
            self.counters.checks_passed += 1;
        } else {
            self.counters.checks_failed += 1;
        }
        let reason = verdict.reason.to_string();
        let last = LastCheck { started, finished: now, verdict };
        if let Some(up) = slot.health.record(last, &slot.timing) {
            let server = slot.target.server;
            self.events.retain(|e| e.server != server);
            self.events.push_back(HealthEvent { server, up, reason });
        }
    }

    /// Starts the checks that are due; whether any started.
    fn start_due(&mut self, now: Instant) -> bool {
        self.due.clear();
        self.due
            .extend(self.slots.iter().enumerate().filter(|(_, s)| s.flight.is_none() && s.due <= now).map(|(i, _)| i));
        if self.due.is_empty() {
            return false;
        }
        // A socket still closing the last check's connection is reset first, so that its
        // reset goes out before the socket is reused.
        let mut reset = false;
        for &i in &self.due {
            let socket = self.sockets.get_mut::<tcp::Socket>(self.slots[i].socket);
            if socket.is_open() {
                socket.abort();
                reset = true;
            }
        }
        if reset {
            self.iface.poll_egress(smol(now), &mut self.device, &mut self.sockets);
        }
        let mut in_use = self.ports_in_use();
        let due = std::mem::take(&mut self.due);
        for &i in &due {
            self.start(i, &mut in_use, now);
        }
        self.due = due;
        true
    }

    /// Local ports smoltcp still holds (connections closing, resets not yet sent).
    fn ports_in_use(&self) -> FxHashSet<u16> {
        let handles = self.slots.iter().map(|s| s.socket).chain(self.retiring.iter().copied());
        handles.filter_map(|h| self.sockets.get::<tcp::Socket>(h).local_endpoint()).map(|e| e.port).collect()
    }

    fn start(&mut self, i: usize, in_use: &mut FxHashSet<u16>, now: Instant) {
        self.counters.checks_started += 1;
        let slot = &mut self.slots[i];
        // Keep the cadence: one interval after this check was due, unless polls fell a whole
        // interval behind.
        slot.due = slot.due + slot.timing.interval;
        if slot.due <= now {
            slot.due = now + slot.timing.interval;
        }
        let Some(port) = take_port(&self.local, &mut self.next_port, in_use) else {
            return self.finish(i, Verdict::fail(Reason::Local("no free local port")), now);
        };
        if let Some(old) = slot.port.replace(port) {
            if self.by_port.get(&old) == Some(&i) {
                self.by_port.remove(&old);
            }
        }
        self.by_port.insert(port, i);
        let remote = (IpAddress::Ipv4(slot.target.ip), slot.target.port);
        let local = (IpAddress::Ipv4(self.local.addr), port);
        let socket = self.sockets.get_mut::<tcp::Socket>(slot.socket);
        match socket.connect(self.iface.context(), remote, local) {
            Ok(()) => {
                let deadline = now + slot.timing.timeout;
                slot.flight = Some(Flight { started: now, deadline, stage: Stage::Connecting });
            }
            Err(_) => self.finish(i, Verdict::fail(Reason::Local("the TCP stack refused the connection")), now),
        }
    }
}

/// Moves a check on; a verdict once one is reached.
fn step(check: &Check, request: &[u8], flight: &mut Flight, socket: &mut tcp::Socket) -> Option<Verdict> {
    if let Stage::Connecting = flight.stage {
        match socket.state() {
            State::SynSent => return None,
            // Only a reset closes a socket in SYN-SENT before our own deadline.
            State::Closed => return Some(Verdict::fail(Reason::Refused)),
            _ => {} // the handshake completed
        }
        let Check::Http(_) = check else { return Some(Verdict::pass(Reason::Connected)) };
        // The transmit buffer was sized to the request.
        if socket.send_slice(request) != Ok(request.len()) {
            return Some(Verdict::fail(Reason::Local("the request did not fit the socket")));
        }
        flight.stage = Stage::Response(ResponseReader::new());
    }
    let (Stage::Response(reader), Check::Http(http)) = (&mut flight.stage, check) else { return None };
    while socket.can_recv() {
        if let Ok(Some(verdict)) = socket.recv(|data| (data.len(), reader.feed(http, data))) {
            return Some(verdict);
        }
    }
    if socket.may_recv() {
        return None;
    }
    // All read and no more to come: a FIN ends the response, a reset breaks it.
    Some(if socket.state() == State::Closed { Verdict::fail(Reason::Reset) } else { reader.end(http) })
}

/// Ends a check's connection. A TCP check, or a server that has closed its side with nothing
/// left unread, gets a FIN, so the server sees an orderly close. Anything else (a SYN not
/// answered, a server still sending) is reset: that stops the server and frees the socket.
fn hang_up(socket: &mut tcp::Socket, check: &Check) {
    let orderly = socket.recv_queue() == 0
        && match socket.state() {
            State::CloseWait => true,
            State::Established => matches!(check, Check::Tcp),
            _ => false,
        };
    if orderly {
        socket.close();
    } else if socket.is_open() {
        socket.abort();
    }
}

/// The next local port no socket holds, taken in turn through the range so that a
/// four-tuple comes back as late as possible.
fn take_port(local: &Local, next: &mut u16, in_use: &mut FxHashSet<u16>) -> Option<u16> {
    let (start, end) = (*local.ports.start(), *local.ports.end());
    for _ in 0..=u32::from(end - start) {
        let port = *next;
        *next = if port >= end { start } else { port + 1 };
        if in_use.insert(port) {
            return Some(port);
        }
    }
    None
}

fn new_slot(sockets: &mut SocketSet<'static>, target: Target, timing: Timing, now: Instant) -> Slot {
    let (request, rx) = match &target.check {
        Check::Http(http) => (target::http_request(http, target.ip, target.port), HTTP_RX),
        Check::Tcp => (Vec::new(), TCP_BUFFER),
    };
    let tx = request.len().max(TCP_BUFFER);
    let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rx]), tcp::SocketBuffer::new(vec![0; tx]));
    let socket = sockets.add(socket);
    Slot { target, timing, request, socket, port: None, due: now, flight: None, health: Health::new() }
}

/// Aborts a socket that is no longer wanted; `poll` removes it once the reset is out.
fn retire(sockets: &mut SocketSet<'static>, retiring: &mut Vec<SocketHandle>, handle: SocketHandle) {
    let socket = sockets.get_mut::<tcp::Socket>(handle);
    if socket.is_open() {
        socket.abort();
    }
    retiring.push(handle);
}

/// smoltcp on the switch's address. `Medium::Ip` resolves no next hop: the default route
/// (via the address itself) only tells smoltcp every server is reachable; the engine routes.
fn interface(local: &Local, device: &mut Queues, now: Instant) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = local.seed;
    let mut iface = Interface::new(config, device, smol(now));
    iface.update_ip_addrs(|addrs| {
        // A fresh interface has room for an address and a route; nothing to handle.
        let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(local.addr), 32));
    });
    let _ = iface.routes_mut().add_default_ipv4_route(local.addr);
    iface
}

/// The TCP destination port of an IPv4 packet.
fn dst_port(packet: &[u8]) -> Option<u16> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    TcpPacket::new_checked(ip.payload()).ok().map(|tcp| tcp.dst_port())
}

pub(crate) fn smol(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(t.as_nanos() / 1000).unwrap_or(i64::MAX))
}

pub(crate) fn from_smol(t: smoltcp::time::Instant) -> Instant {
    Instant::from_nanos(u64::try_from(t.total_micros()).unwrap_or(0).saturating_mul(1000))
}
