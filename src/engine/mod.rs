//! The switch as a deterministic state machine, one instance per core.
//!
//! [`process_burst`](Engine::process_burst) takes the frames received on a port and, for
//! each, forwards it, answers it, holds it for an ARP answer, keeps it, or drops it with a
//! counted reason; [`process`](Engine::process) is a burst of one. Every frame takes the
//! same path: read once through the `wire` views ([`frame::Parsed`]), then decided from
//! those facts. `start` and `poll` emit the frames the switch originates (gratuitous ARP,
//! ARP requests). The engine never does I/O and never reads a clock: the same frames at the
//! same times give the same output, which is what makes pcap replay exact.

pub mod answer;
pub mod counters;
pub mod flow;
pub mod frame;
pub mod hash;
pub mod l4;
pub mod l7;
pub mod maglev;
pub mod neighbour;
pub mod net;
pub mod predictor;
pub mod service;
pub mod sticky;
pub mod sweep;
pub mod timer;
pub mod topology;

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

pub use counters::{Counters, DropReason};
pub use net::{Output, Verdict};
pub use topology::{PortAddr, PortIdx, StaticNeighbour, Topology, Vip};

use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::{arp, ethernet, icmpv4, ipv4, tcp, MacAddr};
use frame::{Ip, Parsed};
use net::Net;

/// The local ports of each port's own address that belong to the switch's own TCP stack (the
/// health checker): full NAT never takes them, so a frame to one of them is never a flow's.
pub const LOCAL_STACK_PORTS: RangeInclusive<u16> = 64512..=65535;

/// Frames one burst reads ahead at most; the rest of a longer burst is read in further
/// rounds of the same size.
pub const STAGE: usize = 64;

/// One core's switch.
#[derive(Debug)]
pub struct Engine<B> {
    net: Net<B>,
    /// Only the first worker announces the addresses at start.
    announces: bool,
    l4: l4::L4,
    /// The burst being handled, read ahead: each frame's facts. Taken out of the engine
    /// while its frames are handled and put back after (a move of three words: a copy of
    /// the array, ~4.6 KiB, cost every burst as much as its frames' parsing).
    staged: Vec<Parsed>,
    /// Whether TCP to [`LOCAL_STACK_PORTS`] of a port's address goes to [`Output::local`].
    local_stack: bool,
}

impl<B: FrameBuf> Engine<B> {
    /// An engine that owns its addresses and serves no VIP port.
    pub fn new(topology: Topology) -> Engine<B> {
        Engine::with_services(topology, service::Services::default(), l4::WorkerSlot::default())
    }

    /// An engine that also serves the VIP ports of `services`, as worker `slot`.
    pub fn with_services(topology: Topology, services: service::Services, slot: l4::WorkerSlot) -> Engine<B> {
        Engine {
            net: Net::new(topology),
            announces: slot.index == 0,
            l4: l4::L4::new(services, slot),
            staged: Vec::with_capacity(STAGE),
            local_stack: false,
        }
    }

    /// Hands TCP segments to a port's own address and [`LOCAL_STACK_PORTS`] to the caller's
    /// TCP stack through [`Output::local`] (else they are dropped as `tcp-to-switch`).
    pub fn set_local_stack(&mut self, on: bool) {
        self.local_stack = on;
    }

    /// Sends an IPv4 packet the switch's own TCP stack made: wrapped in Ethernet in a fresh
    /// buffer and routed like any frame the switch originates (ARP resolved, or held).
    pub fn send_local(
        &mut self,
        packet: &[u8],
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let Ok(ip) = ipv4::Packet::new_checked(packet) else {
            self.net.counters.count_drop(DropReason::Ipv4Malformed);
            return Verdict::Drop(DropReason::Ipv4Malformed);
        };
        let dst = ip.dst_addr();
        let Some(mut frame) = alloc() else {
            self.net.counters.count_drop(DropReason::NoBuffer);
            return Verdict::Drop(DropReason::NoBuffer);
        };
        let l2 = ethernet::HEADER_LEN;
        if !frame.try_resize(l2 + packet.len()) {
            return self.net.drop(frame, DropReason::NoBuffer, out);
        }
        let bytes = frame.as_mut();
        bytes[..l2 - 2].fill(0);
        bytes[l2 - 2..l2].copy_from_slice(&ethernet::ethertype::IPV4.to_be_bytes());
        bytes[l2..].copy_from_slice(packet);
        self.net.counters.local_sent += 1;
        // Outside any burst: next hops the last burst resolved may have changed since.
        self.net.hops.clear();
        let verdict = self.net.answer(frame, dst, now, out);
        self.net.send_arp_requests(alloc, out);
        verdict
    }

    pub fn topology(&self) -> &Topology {
        &self.net.topology
    }

    pub fn counters(&self) -> &Counters {
        &self.net.counters
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
        let topology = &self.net.topology;
        for (port, p) in topology.ports.iter().enumerate() {
            let vips = topology.vips.iter().map(|v| v.ip);
            for ip in std::iter::once(p.ip).chain(p.local_ips.iter().copied()).chain(vips) {
                if !topology.answers_arp(port, ip) {
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
                        self.net.counters.gratuitous_arps_sent += 1;
                    }
                    None => self.net.counters.count_drop(DropReason::NoBuffer),
                }
            }
        }
    }

    /// Timers: ARP retries, frames whose next hop never answered, flow expiry.
    pub fn poll(&mut self, now: Instant, alloc: &mut impl FnMut() -> Option<B>, out: &mut Output<B>) {
        self.l4.poll(&mut self.net, now, alloc, out);
        let work = self.net.neighbours.poll(now);
        self.net.arp_wanted.extend(work.requests);
        self.net.send_arp_requests(alloc, out);
        for frame in work.unresolved {
            self.net.drop(frame, DropReason::NeighbourUnresolved, out);
        }
    }

    /// When the engine wants `poll` called next at the latest (a retransmission or a
    /// deadline on an L7 port, an ARP request to repeat), as quinn-proto's `poll_timeout`;
    /// `None`: only when frames come. The flow sweep needs no deadline: it sends nothing.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.l4.l7_next_deadline(), self.net.neighbours.next_retry()].into_iter().flatten().min()
    }

    /// Takes a burst of frames received on `port`, leaving `frames` empty. The burst is read
    /// once ahead ([`Parsed::read`], flow keys hashed and their flow-table lines fetched for
    /// all of it, so the lookups overlap their cache misses), then each frame is handled in
    /// turn from those facts.
    pub fn process_burst(
        &mut self,
        port: PortIdx,
        frames: &mut Vec<B>,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        self.net.hops.clear();
        let port_mac = self.net.topology.ports[port].mac;
        let mut staged = std::mem::take(&mut self.staged);
        while !frames.is_empty() {
            let n = frames.len().min(STAGE);
            staged.clear();
            for frame in &frames[..n] {
                let mut parsed = Parsed::read(frame.as_ref(), port_mac);
                self.l4.stage(&mut parsed);
                staged.push(parsed);
            }
            self.l4.stage_flows(&staged);
            for (frame, parsed) in frames.drain(..n).zip(&staged) {
                self.handle(port, frame, parsed, now, alloc, out);
                if !self.net.arp_wanted.is_empty() {
                    self.net.send_arp_requests(alloc, out);
                }
            }
        }
        self.staged = staged;
    }

    /// Takes one frame received on `port`: a burst of one. `alloc` gives buffers for frames
    /// the switch must originate on the way (an ARP request for an unknown next hop).
    pub fn process(
        &mut self,
        port: PortIdx,
        frame: B,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        self.net.hops.clear();
        let mut parsed = Parsed::read(frame.as_ref(), self.net.topology.ports[port].mac);
        self.l4.stage(&mut parsed);
        let verdict = self.handle(port, frame, &parsed, now, alloc, out);
        self.net.send_arp_requests(alloc, out);
        verdict
    }

    /// Learns from an ARP frame another core received and answered (see
    /// `runtime::peers`): neighbours and the frames waiting for them, nothing sent back.
    pub fn learn_from_arp(&mut self, port: PortIdx, frame: B, now: Instant, out: &mut Output<B>) {
        self.net.hops.clear();
        let bytes = frame.as_ref();
        if let Ok(eth) = ethernet::Frame::new_checked(bytes) {
            let repr = arp::Packet::new_checked(&bytes[eth.header_len()..]).and_then(|p| arp::ArpRepr::parse(&p));
            if let (ethernet::ethertype::ARP, Ok(repr)) = (eth.ethertype(), repr) {
                if let Some(ip) = self.learn(port, &repr, now) {
                    self.net.release_held(port, ip, now, out);
                }
            }
        }
        out.dropped.push(frame);
    }

    /// The one way every frame is decided, from the facts its first reading found.
    #[inline(always)]
    fn handle(
        &mut self,
        port: PortIdx,
        frame: B,
        parsed: &Parsed,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        self.net.counters.rx_frames += 1;
        match parsed {
            Parsed::Drop(reason) => self.net.drop(frame, *reason, out),
            Parsed::Arp { l2_len } => self.handle_arp(port, frame, *l2_len, now, out),
            Parsed::Ipv4(ip) => self.handle_ipv4(frame, ip, now, alloc, out),
        }
    }

    fn handle_arp(&mut self, port: PortIdx, mut frame: B, l2_len: usize, now: Instant, out: &mut Output<B>) -> Verdict {
        // A neighbour may change: next hops resolved earlier in this burst are not kept.
        self.net.hops.clear();
        let repr = match arp::Packet::new_checked(&frame.as_ref()[l2_len..]).and_then(|p| arp::ArpRepr::parse(&p)) {
            Ok(repr) => repr,
            Err(crate::wire::Error::Truncated) => return self.net.drop(frame, DropReason::ArpTruncated, out),
            Err(_) => return self.net.drop(frame, DropReason::ArpUnsupported, out),
        };
        let for_us = self.net.topology.answers_arp(port, repr.target_ip);
        let learned = self.learn(port, &repr, now);
        let verdict = if repr.operation == arp::op::REQUEST && for_us && repr.sender_ip != repr.target_ip {
            let port_mac = self.net.topology.ports[port].mac;
            let len = answer::arp_reply_in_place(frame.as_mut(), l2_len, port_mac, &repr);
            frame.truncate(len);
            self.net.counters.arp_replies_sent += 1;
            out.tx[port].push(frame);
            Verdict::Answer(port)
        } else if repr.operation == arp::op::REQUEST {
            // A request for someone else only refreshed what we knew: as a frame, it is dropped.
            self.net.drop(frame, DropReason::ArpNotForUs, out)
        } else if learned.is_some() {
            out.dropped.push(frame);
            Verdict::Consumed
        } else {
            self.net.drop(frame, DropReason::ArpIgnored, out)
        };
        if let Some(ip) = learned {
            self.net.release_held(port, ip, now, out);
        }
        verdict
    }

    /// Learns, as Linux does, from ARP aimed at us, and refreshes what we already know.
    /// Returns the address learned; the frames that waited for it are in `net.released`.
    fn learn(&mut self, port: PortIdx, repr: &arp::ArpRepr, now: Instant) -> Option<Ipv4Addr> {
        let net = &mut self.net;
        let for_us = net.topology.answers_arp(port, repr.target_ip);
        let sender_ok = repr.sender_ip != Ipv4Addr::UNSPECIFIED && repr.sender_hw.is_unicast();
        if !sender_ok || !(for_us || net.neighbours.knows(port, repr.sender_ip)) {
            return None;
        }
        let (held, is_new) = net.neighbours.learn(port, repr.sender_ip, repr.sender_hw, now);
        net.released.extend(held);
        if is_new {
            net.counters.neighbours_learned += 1;
        }
        Some(repr.sender_ip)
    }

    #[inline(always)]
    fn handle_ipv4(
        &mut self,
        frame: B,
        ip: &Ip,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        if let Some(t) = &ip.flow {
            if let Some(target) = self.l4.find(t) {
                return self.l4.handle(&mut self.net, target, frame, ip, t, now, alloc, out);
            }
        }
        self.handle_own(frame, ip, now, out)
    }

    /// IPv4 that no flow or VIP port takes: the switch's own traffic, or a stranger's.
    #[inline(never)]
    fn handle_own(&mut self, frame: B, ip: &Ip, now: Instant, out: &mut Output<B>) -> Verdict {
        let to_vip = self.net.topology.is_vip(ip.dst);
        if !to_vip && !self.net.topology.is_own_ip(ip.dst) {
            return self.net.drop(frame, DropReason::NotForUs, out);
        }
        if ip.fragment {
            return self.net.drop(frame, DropReason::Ipv4Fragment, out);
        }
        match ip.protocol {
            ipv4::protocol::ICMP => self.answer_icmp(frame, ip, now, out),
            ipv4::protocol::TCP => {
                let bytes = &frame.as_ref()[ip.l4..ip.end];
                let good = tcp::Packet::new_checked(bytes).ok().filter(|seg| seg.verify_checksum(ip.src, ip.dst));
                let Some(seg) = good else {
                    return self.net.drop(frame, DropReason::TcpMalformed, out);
                };
                if !to_vip {
                    let local = self.local_stack
                        && LOCAL_STACK_PORTS.contains(&seg.dst_port())
                        && self.net.topology.is_port_ip(ip.dst);
                    if !local {
                        return self.net.drop(frame, DropReason::TcpToSwitch, out);
                    }
                    self.net.counters.to_control += 1;
                    out.local.push(frame);
                    return Verdict::Consumed;
                }
                if !seg.syn() || seg.ack() || seg.rst() {
                    return self.net.drop(frame, DropReason::TcpClosedPort, out);
                }
                // A SYN to a VIP port no service answers: refused at once.
                self.net.reset(frame, ip, now, out)
            }
            ipv4::protocol::UDP => self.net.drop(frame, DropReason::UdpNoService, out),
            _ => self.net.drop(frame, DropReason::UnknownProtocol, out),
        }
    }

    fn answer_icmp(&mut self, mut frame: B, ip: &Ip, now: Instant, out: &mut Output<B>) -> Verdict {
        let good = icmpv4::Packet::new_checked(&frame.as_ref()[ip.l4..ip.end]).ok().filter(|p| p.verify_checksum());
        let Some(icmp) = good else {
            return self.net.drop(frame, DropReason::IcmpMalformed, out);
        };
        if icmp.msg_type() != icmpv4::msg_type::ECHO_REQUEST || icmp.code() != 0 {
            return self.net.drop(frame, DropReason::IcmpUnhandled, out);
        }
        answer::echo_reply_in_place(&mut frame.as_mut()[ip.l2_len..ip.end]);
        frame.truncate(ip.end);
        self.net.counters.echo_replies_sent += 1;
        self.net.answer(frame, ip.src, now, out)
    }
}

#[cfg(test)]
mod tests;
