//! The switch as a deterministic state machine, one instance per core.
//!
//! `process(port, frame, now, out)` takes one received frame and either forwards it, answers
//! it, holds it for an ARP answer, hands it to the control side, or drops it with a counted
//! reason. `start` and `poll` emit the frames the switch originates (gratuitous ARP, ARP
//! requests). The engine never does I/O and never reads a clock: the same frames at the
//! same times give the same output, which is what makes pcap replay exact.

pub mod answer;
pub mod counters;
pub mod flow;
pub mod hash;
pub mod l4;
pub mod maglev;
pub mod neighbour;
pub mod predictor;
pub mod service;
pub mod sticky;
pub mod sweep;
pub mod topology;

use std::net::Ipv4Addr;

pub use counters::{Counters, DropReason};
pub use topology::{PortAddr, PortIdx, StaticNeighbour, Topology, Vip};

use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::{arp, ethernet, icmpv4, ipv4, tcp, MacAddr};
use neighbour::{Held, NeighbourTable};

/// What became of one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent on, out of a port.
    Forward(PortIdx),
    /// Answered by the switch itself, out of a port.
    Answer(PortIdx),
    /// Taken in by the switch (an ARP answer learned) with nothing to send.
    Consumed,
    /// Queued until a next hop answers ARP.
    Held,
    /// Handed to the control side (health checks, admin).
    Control,
    /// Dropped and counted.
    Drop(DropReason),
}

/// Frames the engine wants sent, per port, and frames for the control side.
#[derive(Debug)]
pub struct Output<B> {
    pub tx: Vec<Vec<B>>,
    pub control: Vec<B>,
    /// Frames dropped this turn, for the port to free in one go (cheaper than one by one).
    pub dropped: Vec<B>,
}

impl<B> Output<B> {
    pub fn new(ports: usize) -> Output<B> {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(64)).collect(),
            control: Vec::new(),
            dropped: Vec::with_capacity(64),
        }
    }

    /// All frames queued for transmission, on every port.
    pub fn pending(&self) -> usize {
        self.tx.iter().map(Vec::len).sum()
    }
}

/// One core's switch.
#[derive(Debug)]
pub struct Engine<B> {
    topology: Topology,
    /// Only the first worker announces the addresses at start.
    announces: bool,
    l4: l4::L4,
    neighbours: NeighbourTable<B>,
    /// Frames an ARP answer just released, on their way out.
    released: Vec<B>,
    counters: Counters,
}

impl<B: FrameBuf> Engine<B> {
    /// An engine that owns its addresses and serves no VIP port.
    pub fn new(topology: Topology) -> Engine<B> {
        Engine::with_services(topology, service::Services::default(), l4::WorkerSlot::default())
    }

    /// An engine that also serves the VIP ports of `services`, as worker `slot`.
    pub fn with_services(topology: Topology, services: service::Services, slot: l4::WorkerSlot) -> Engine<B> {
        let mut neighbours = NeighbourTable::default();
        for n in &topology.static_neighbours {
            neighbours.add_static(n.port, n.ip, n.mac);
        }
        Engine {
            topology,
            announces: slot.index == 0,
            l4: l4::L4::new(services, slot),
            neighbours,
            released: Vec::new(),
            counters: Counters::default(),
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The L4 load balancing state (flows, counters, server states).
    pub fn l4(&self) -> &l4::L4 {
        &self.l4
    }

    pub fn l4_mut(&mut self) -> &mut l4::L4 {
        &mut self.l4
    }

    /// Announces every owned address with a gratuitous ARP on the ports that answer for it
    /// (on the first worker only).
    pub fn start(&mut self, alloc: &mut impl FnMut() -> Option<B>, out: &mut Output<B>) {
        if !self.announces {
            return;
        }
        for (port, p) in self.topology.ports.iter().enumerate() {
            let vips = self.topology.vips.iter().map(|v| v.ip);
            for ip in std::iter::once(p.ip).chain(p.local_ips.iter().copied()).chain(vips) {
                if !self.topology.answers_arp(port, ip) {
                    continue;
                }
                let request = arp::ArpRepr {
                    operation: arp::op::REQUEST,
                    sender_hw: p.mac,
                    sender_ip: ip,
                    target_hw: MacAddr::ZERO,
                    target_ip: ip,
                };
                match answer::arp_frame(alloc, p.mac, MacAddr::BROADCAST, &request) {
                    Some(frame) => {
                        out.tx[port].push(frame);
                        self.counters.gratuitous_arps_sent += 1;
                    }
                    None => self.counters.count_drop(DropReason::NoBuffer),
                }
            }
        }
    }

    /// Timers: ARP retries, frames whose next hop never answered.
    pub fn poll(&mut self, now: Instant, alloc: &mut impl FnMut() -> Option<B>, out: &mut Output<B>) {
        self.l4.poll(now);
        let work = self.neighbours.poll(now);
        for (port, ip) in work.requests {
            self.send_arp_request(port, ip, alloc, out);
        }
        for frame in work.unresolved {
            self.counters.count_drop(DropReason::NeighbourUnresolved);
            out.dropped.push(frame);
        }
    }

    /// Takes a burst of frames received on `port`, leaving `frames` empty: the same as
    /// [`process`](Self::process) on each in turn, but frames of tracked L4 flows take the
    /// fast path. The burst is read once ahead (facts parsed, keys hashed, flow-table lines
    /// fetched for all of it), then each frame of a tracked flow is looked up, rewritten and
    /// queued without being parsed again; every other frame goes through `process`.
    pub fn process_burst(
        &mut self,
        port: PortIdx,
        frames: &mut Vec<B>,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        if !self.l4.is_active() {
            for frame in frames.drain(..) {
                self.process(port, frame, now, alloc, out);
            }
            return;
        }
        self.l4.stage_burst(frames.iter().map(|f| f.as_ref()), self.topology.ports[port].mac);
        let mut hops = HopCache::default();
        for (i, mut frame) in frames.drain(..).enumerate() {
            match self.l4.forward_staged(i, frame.as_mut(), now) {
                Some(l4::L4Action::Forward { route_to }) => {
                    self.counters.rx_frames += 1;
                    self.forward(frame, route_to, &mut hops, now, alloc, out);
                }
                Some(action) => {
                    self.counters.rx_frames += 1;
                    self.act(port, frame, Action::from_l4(action, ethernet::HEADER_LEN), now, alloc, out);
                }
                None => {
                    // The general path may learn or change a neighbour.
                    hops = HopCache::default();
                    self.process(port, frame, now, alloc, out);
                }
            }
        }
    }

    /// Takes one frame received on `port`. `alloc` gives buffers for frames the switch must
    /// originate on the way (an ARP request for an unknown next hop).
    pub fn process(
        &mut self,
        port: PortIdx,
        mut frame: B,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        self.counters.rx_frames += 1;
        let action = self.classify(port, frame.as_mut(), now);
        self.act(port, frame, action, now, alloc, out)
    }

    /// Carries out what `classify` (or the fast path) decided for a frame from `port`.
    fn act(
        &mut self,
        port: PortIdx,
        mut frame: B,
        action: Action,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        match action {
            Action::Drop(reason) => {
                out.dropped.push(frame);
                self.drop(reason)
            }
            Action::Learned { ip, otherwise_unused } => {
                self.release_held(port, ip, now, out);
                match otherwise_unused {
                    Some(reason) => self.drop(reason),
                    None => Verdict::Consumed,
                }
            }
            Action::ArpReply { len, learned } => {
                frame.truncate(len);
                self.counters.arp_replies_sent += 1;
                out.tx[port].push(frame);
                if let Some(ip) = learned {
                    self.release_held(port, ip, now, out);
                }
                Verdict::Answer(port)
            }
            Action::Forward { route_to } => self.forward(frame, route_to, &mut HopCache::default(), now, alloc, out),
            Action::Reset { l2_len } => {
                let ip = ipv4::Packet::new_unchecked(&frame.as_ref()[l2_len..]);
                let (src, header_len, total_len) =
                    (ip.src_addr(), usize::from(ip.header_len()), usize::from(ip.total_len()));
                let len = answer::reset_in_place(&mut frame.as_mut()[l2_len..l2_len + total_len], header_len);
                let answer = Action::IpAnswer { l2_len, len, dst: src, kind: Answered::Reset };
                self.act(port, frame, answer, now, alloc, out)
            }
            Action::IpAnswer { l2_len, len, dst, kind } => {
                frame.truncate(l2_len + len);
                match kind {
                    Answered::Echo => self.counters.echo_replies_sent += 1,
                    Answered::Reset => self.counters.resets_sent += 1,
                }
                match self.send_ip(frame, dst, now, alloc, out) {
                    Ok((out_port, _)) => Verdict::Answer(out_port),
                    Err(verdict) => verdict,
                }
            }
        }
    }

    /// Learns from an ARP frame another core received and answered (see
    /// `runtime::peers`): neighbours and the frames waiting for them, nothing sent back.
    pub fn learn_from_arp(&mut self, port: PortIdx, mut frame: B, now: Instant, out: &mut Output<B>) {
        let bytes = frame.as_mut();
        let Ok(eth) = ethernet::Frame::new_checked(&*bytes) else { return };
        if eth.ethertype() != ethernet::ethertype::ARP {
            return;
        }
        let l2_len = eth.header_len();
        if let Action::Learned { ip, .. } | Action::ArpReply { learned: Some(ip), .. } =
            self.handle_arp(port, bytes, l2_len, now, false)
        {
            self.release_held(port, ip, now, out);
        }
        out.dropped.push(frame);
    }

    /// Sends on a frame the L4 path rewrote, towards `route_to`: through the next hop
    /// `hops` already holds for it, else resolved by `send_ip` and remembered there.
    #[inline]
    fn forward(
        &mut self,
        mut frame: B,
        route_to: Ipv4Addr,
        hops: &mut HopCache,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let port = match hops.get(route_to) {
            Some(hop) => {
                set_eth_addrs(frame.as_mut(), hop.src, hop.dst);
                out.tx[hop.port].push(frame);
                hop.port
            }
            None => match self.send_ip(frame, route_to, now, alloc, out) {
                Ok((port, mac)) => {
                    hops.put(route_to, Hop { port, src: self.topology.ports[port].mac, dst: mac });
                    port
                }
                Err(verdict) => return verdict,
            },
        };
        self.counters.forwarded += 1;
        Verdict::Forward(port)
    }

    /// Sends an IPv4 frame to `dst`: picks the port and next hop, resolves its MAC (holding
    /// the frame while ARP asks), sets the Ethernet addresses. Returns the port and the next
    /// hop's MAC, or the verdict when the frame could not go out now.
    fn send_ip(
        &mut self,
        mut frame: B,
        dst: Ipv4Addr,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Result<(PortIdx, MacAddr), Verdict> {
        let Some((port, next_hop)) = self.topology.route(dst) else {
            return Err(self.drop(DropReason::NoRoute));
        };
        let Some(mac) = self.neighbours.lookup(port, next_hop, now) else {
            return Err(match self.neighbours.hold(port, next_hop, frame, now) {
                Held::QueuedSendRequest => {
                    self.send_arp_request(port, next_hop, alloc, out);
                    Verdict::Held
                }
                Held::Queued => Verdict::Held,
                Held::Full(frame) => {
                    out.dropped.push(frame);
                    self.drop(DropReason::NeighbourQueueFull)
                }
            });
        };
        set_eth_addrs(frame.as_mut(), self.topology.ports[port].mac, mac);
        out.tx[port].push(frame);
        Ok((port, mac))
    }

    /// Sends the frames that waited for `ip` on `port`, now that it answered.
    fn release_held(&mut self, port: PortIdx, ip: Ipv4Addr, now: Instant, out: &mut Output<B>) {
        if self.released.is_empty() {
            return;
        }
        let Some(mac) = self.neighbours.lookup(port, ip, now) else {
            return;
        };
        let src = self.topology.ports[port].mac;
        for mut frame in self.released.drain(..) {
            set_eth_addrs(frame.as_mut(), src, mac);
            out.tx[port].push(frame);
        }
    }

    fn send_arp_request(
        &mut self,
        port: PortIdx,
        ip: Ipv4Addr,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let p = &self.topology.ports[port];
        let request = arp::ArpRepr {
            operation: arp::op::REQUEST,
            sender_hw: p.mac,
            sender_ip: p.ip,
            target_hw: MacAddr::ZERO,
            target_ip: ip,
        };
        match answer::arp_frame(alloc, p.mac, MacAddr::BROADCAST, &request) {
            Some(frame) => {
                out.tx[port].push(frame);
                self.counters.arp_requests_sent += 1;
            }
            None => self.counters.count_drop(DropReason::NoBuffer),
        }
    }

    fn drop(&mut self, reason: DropReason) -> Verdict {
        self.counters.count_drop(reason);
        Verdict::Drop(reason)
    }

    /// Looks at a frame's bytes and rewrites them in place when the switch answers.
    fn classify(&mut self, port: PortIdx, bytes: &mut [u8], now: Instant) -> Action {
        let Ok(eth) = ethernet::Frame::new_checked(&*bytes) else {
            return Action::Drop(DropReason::Runt);
        };
        let port_mac = self.topology.ports[port].mac;
        let dst_mac = eth.dst_addr();
        if dst_mac != port_mac && !dst_mac.is_broadcast() {
            return Action::Drop(DropReason::NotOurMac);
        }
        let l2_len = eth.header_len();
        match eth.ethertype() {
            ethernet::ethertype::ARP => self.handle_arp(port, bytes, l2_len, now, true),
            ethernet::ethertype::IPV4 if dst_mac == port_mac => self.handle_ipv4(bytes, l2_len, now),
            ethernet::ethertype::IPV4 => Action::Drop(DropReason::NotOurMac),
            ethernet::ethertype::IPV6 => Action::Drop(DropReason::Ipv6),
            _ => Action::Drop(DropReason::UnknownEthertype),
        }
    }

    fn handle_arp(&mut self, port: PortIdx, bytes: &mut [u8], l2_len: usize, now: Instant, answer: bool) -> Action {
        let repr = match arp::Packet::new_checked(&bytes[l2_len..]).and_then(|p| arp::ArpRepr::parse(&p)) {
            Ok(repr) => repr,
            Err(crate::wire::Error::Truncated) => return Action::Drop(DropReason::ArpTruncated),
            Err(_) => return Action::Drop(DropReason::ArpUnsupported),
        };
        let for_us = self.topology.answers_arp(port, repr.target_ip);
        // Learn, as Linux does, from ARP aimed at us, and refresh what we already know.
        let sender_ok = repr.sender_ip != Ipv4Addr::UNSPECIFIED && repr.sender_hw.is_unicast();
        let mut learned = None;
        if sender_ok && (for_us || self.neighbours.knows(port, repr.sender_ip)) {
            let (held, is_new) = self.neighbours.learn(port, repr.sender_ip, repr.sender_hw, now);
            self.released.extend(held);
            if is_new {
                self.counters.neighbours_learned += 1;
            }
            learned = Some(repr.sender_ip);
        }
        if answer && repr.operation == arp::op::REQUEST && for_us && repr.sender_ip != repr.target_ip {
            let len = answer::arp_reply_in_place(bytes, l2_len, self.topology.ports[port].mac, &repr);
            return Action::ArpReply { len, learned };
        }
        // A request for someone else only refreshed what we knew: as a frame, it is dropped.
        let otherwise_unused = (repr.operation == arp::op::REQUEST).then_some(DropReason::ArpNotForUs);
        match learned {
            Some(ip) => Action::Learned { ip, otherwise_unused },
            None => Action::Drop(otherwise_unused.unwrap_or(DropReason::ArpIgnored)),
        }
    }

    fn handle_ipv4(&mut self, bytes: &mut [u8], l2_len: usize, now: Instant) -> Action {
        let ip = match ipv4::Packet::new_checked(&bytes[l2_len..]) {
            Ok(ip) => ip,
            Err(_) => return Action::Drop(DropReason::Ipv4Malformed),
        };
        if !ip.verify_checksum() {
            return Action::Drop(DropReason::Ipv4BadChecksum);
        }
        let protocol = ip.protocol();
        let l4_frame = (protocol == ipv4::protocol::TCP || protocol == ipv4::protocol::UDP) && !ip.is_fragment();
        if l4_frame && self.l4.is_active() {
            match self.l4.handle(&self.topology, bytes, l2_len, now) {
                l4::L4Action::NotMine => {}
                action => return Action::from_l4(action, l2_len),
            }
        }
        let ip = ipv4::Packet::new_unchecked(&bytes[l2_len..]);
        let dst = ip.dst_addr();
        let to_vip = self.topology.is_vip(dst);
        if !to_vip && !self.topology.is_own_ip(dst) {
            return Action::Drop(DropReason::NotForUs);
        }
        if ip.is_fragment() {
            return Action::Drop(DropReason::Ipv4Fragment);
        }
        let (header_len, total_len, protocol) = (ip.header_len() as usize, usize::from(ip.total_len()), ip.protocol());
        let l4 = l2_len + header_len..l2_len + total_len;
        match protocol {
            ipv4::protocol::ICMP => {
                let Ok(icmp) = icmpv4::Packet::new_checked(&bytes[l4.clone()]) else {
                    return Action::Drop(DropReason::IcmpMalformed);
                };
                if !icmp.verify_checksum() {
                    return Action::Drop(DropReason::IcmpMalformed);
                }
                if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST || icmp.code() != 0 {
                    return Action::Drop(DropReason::IcmpUnhandled);
                }
                let src = ip.src_addr();
                answer::echo_reply_in_place(&mut bytes[l2_len..l2_len + total_len]);
                Action::IpAnswer { l2_len, len: total_len, dst: src, kind: Answered::Echo }
            }
            ipv4::protocol::TCP => {
                let (src_ip, dst_ip) = (ip.src_addr(), dst);
                let Ok(seg) = tcp::Packet::new_checked(&bytes[l4.clone()]) else {
                    return Action::Drop(DropReason::TcpMalformed);
                };
                if !seg.verify_checksum(src_ip, dst_ip) {
                    return Action::Drop(DropReason::TcpMalformed);
                }
                if !to_vip {
                    return Action::Drop(DropReason::TcpToSwitch);
                }
                if !seg.syn() || seg.ack() || seg.rst() {
                    return Action::Drop(DropReason::TcpClosedPort);
                }
                // No VIP port is served yet: every SYN to a VIP is refused at once.
                let len = answer::reset_in_place(&mut bytes[l2_len..l2_len + total_len], header_len);
                Action::IpAnswer { l2_len, len, dst: src_ip, kind: Answered::Reset }
            }
            ipv4::protocol::UDP => Action::Drop(DropReason::UdpNoService),
            _ => Action::Drop(DropReason::UnknownProtocol),
        }
    }
}

/// Where frames to one destination leave: port and Ethernet addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    port: PortIdx,
    src: MacAddr,
    dst: MacAddr,
}

/// The next hops one burst's fast path resolved, by destination (direct-mapped, a few
/// entries: a burst's frames go to a handful of servers and client gateways). Lives for
/// one burst only, and is emptied whenever a frame goes the general way: the time does not
/// move within a burst and only the general path changes neighbours, so an entry is what
/// `send_ip` would find again.
#[derive(Debug, Default)]
struct HopCache {
    entries: [Option<(Ipv4Addr, Hop)>; 8],
}

impl HopCache {
    fn slot(dst: Ipv4Addr) -> usize {
        (u32::from(dst) as usize) & 7
    }

    #[inline]
    fn get(&self, dst: Ipv4Addr) -> Option<Hop> {
        match self.entries[Self::slot(dst)] {
            Some((ip, hop)) if ip == dst => Some(hop),
            _ => None,
        }
    }

    fn put(&mut self, dst: Ipv4Addr, hop: Hop) {
        self.entries[Self::slot(dst)] = Some((dst, hop));
    }
}

/// What `classify` decided, after any in-place rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Drop(DropReason),
    /// ARP taught us `ip`: frames waiting for it can go. The frame itself is then consumed,
    /// or dropped for the reason given.
    Learned {
        ip: Ipv4Addr,
        otherwise_unused: Option<DropReason>,
    },
    /// The frame is now an ARP reply of `len` bytes, back out of the port it came in on.
    ArpReply {
        len: usize,
        learned: Option<Ipv4Addr>,
    },
    /// Rewritten for an L4 flow: send it towards `route_to`.
    Forward {
        route_to: Ipv4Addr,
    },
    /// Refused by the L4 path: the frame (IPv4 at `l2_len`, already checked) becomes a RST
    /// to its sender.
    Reset {
        l2_len: usize,
    },
    /// The frame is now an IPv4 answer of `len` bytes after `l2_len`, to be routed to `dst`.
    IpAnswer {
        l2_len: usize,
        len: usize,
        dst: Ipv4Addr,
        kind: Answered,
    },
}

impl Action {
    /// What an L4 decision means for a frame whose IPv4 header starts at `l2_len`.
    fn from_l4(action: l4::L4Action, l2_len: usize) -> Action {
        match action {
            l4::L4Action::Forward { route_to } => Action::Forward { route_to },
            l4::L4Action::Drop(reason) => Action::Drop(reason),
            l4::L4Action::Reset => Action::Reset { l2_len },
            // Not produced for a tracked flow; traffic for the switch itself is `classify`'s.
            l4::L4Action::NotMine => Action::Drop(DropReason::NotForUs),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    Echo,
    Reset,
}

fn set_eth_addrs(bytes: &mut [u8], src: MacAddr, dst: MacAddr) {
    let mut eth = ethernet::Frame::new_unchecked(bytes);
    eth.set_src_addr(src);
    eth.set_dst_addr(dst);
}

#[cfg(test)]
mod tests;
