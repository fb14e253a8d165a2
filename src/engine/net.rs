//! The switch's IP layer: its addresses, neighbours and counters, and the one way out for
//! every frame it sends (forwarded, answered or originated): route, resolve the next hop's
//! MAC (holding the frame while ARP asks), set the Ethernet addresses, queue it on a port.

use std::net::Ipv4Addr;

use super::answer;
use super::counters::{Counters, DropReason};
use super::frame::Ip;
use super::neighbour::{Held, NeighbourTable, Refusal};
use super::topology::{PortIdx, Topology};
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::{arp, ethernet, MacAddr};

/// What became of one received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent on, out of a port.
    Forward(PortIdx),
    /// Answered by the switch itself, out of a port.
    Answer(PortIdx),
    /// Taken in by the switch: an ARP answer learned, or data it holds for a connection it
    /// answers itself (L7), with nothing more to send now.
    Consumed,
    /// Queued until a next hop answers ARP.
    Held,
    /// Dropped and counted.
    Drop(DropReason),
}

/// Frames the engine wants sent, per port, and frames to free.
#[derive(Debug)]
pub struct Output<B> {
    pub tx: Vec<Vec<B>>,
    /// Frames for the switch's own TCP stack (see `Engine::set_local_stack`), whole.
    pub local: Vec<B>,
    /// Frames dropped this turn, for the port to free in one go (cheaper than one by one).
    pub dropped: Vec<B>,
}

impl<B> Output<B> {
    pub fn new(ports: usize) -> Output<B> {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(64)).collect(),
            local: Vec::new(),
            dropped: Vec::with_capacity(64),
        }
    }

    /// All frames queued for transmission, on every port.
    pub fn pending(&self) -> usize {
        self.tx.iter().map(Vec::len).sum()
    }
}

/// The IP layer of one core.
#[derive(Debug)]
pub struct Net<B> {
    pub topology: Topology,
    pub neighbours: NeighbourTable<B>,
    /// Frames an ARP answer just released, on their way out.
    pub released: Vec<B>,
    pub counters: Counters,
    /// Next hops resolved during the current burst (see [`HopCache`]).
    pub hops: HopCache,
    /// Next hops to ask for by ARP: the engine sends the requests once the frame that needed
    /// them is handled (it holds the buffer source).
    pub arp_wanted: Vec<(PortIdx, Ipv4Addr)>,
}

impl<B: FrameBuf> Net<B> {
    pub fn new(topology: Topology) -> Net<B> {
        let mut neighbours = NeighbourTable::default();
        for n in &topology.static_neighbours {
            neighbours.add_static(n.port, n.ip, n.mac);
        }
        Net {
            topology,
            neighbours,
            released: Vec::new(),
            counters: Counters::default(),
            hops: HopCache::default(),
            arp_wanted: Vec::new(),
        }
    }

    /// Counts a drop and gives the frame back to the port.
    pub fn drop(&mut self, frame: B, reason: DropReason, out: &mut Output<B>) -> Verdict {
        out.dropped.push(frame);
        self.counters.count_drop(reason);
        Verdict::Drop(reason)
    }

    /// Sends on a frame the switch forwards (an IPv4 packet after a 14-byte Ethernet header,
    /// already rewritten) towards `route_to`.
    #[inline(always)]
    pub fn forward(&mut self, frame: B, route_to: Ipv4Addr, now: Instant, out: &mut Output<B>) -> Verdict {
        match self.send_ip(frame, route_to, now, out) {
            Ok(port) => {
                self.counters.forwarded += 1;
                Verdict::Forward(port)
            }
            Err(verdict) => verdict,
        }
    }

    /// Sends a frame the switch answered or originated towards `dst`.
    pub fn answer(&mut self, frame: B, dst: Ipv4Addr, now: Instant, out: &mut Output<B>) -> Verdict {
        match self.send_ip(frame, dst, now, out) {
            Ok(port) => Verdict::Answer(port),
            Err(verdict) => verdict,
        }
    }

    /// Why an answer to `dst` would be dropped now for want of its next hop's MAC, if it
    /// would (see [`NeighbourTable::refusal`]): a SYN flood's spoofed sources that do not
    /// resolve then cost no cookie and no segment. The drop is counted as sending would.
    pub fn unanswerable(&mut self, dst: Ipv4Addr, now: Instant) -> Option<DropReason> {
        if self.hops.get(dst).is_some() {
            return None;
        }
        let (port, next_hop) = self.topology.route(dst)?;
        if let Some(mac) = self.neighbours.lookup(port, next_hop, now) {
            // Where the answer goes: sending it finds the hop here and looks up nothing again.
            self.hops.put(dst, Hop { port, src: self.topology.ports[port].mac, dst: mac });
            return None;
        }
        Some(match self.neighbours.refusal(port, next_hop, now)? {
            Refusal::Failed => DropReason::NeighbourFailed,
            Refusal::Full => DropReason::NeighbourQueueFull,
        })
    }

    /// Turns a TCP segment the switch refuses (checked, described by `ip`) into the RST that
    /// answers it, and sends that back to its sender.
    pub fn reset(&mut self, mut frame: B, ip: &Ip, now: Instant, out: &mut Output<B>) -> Verdict {
        let len = answer::reset_in_place(&mut frame.as_mut()[ip.l2_len..ip.end], ip.l4 - ip.l2_len);
        frame.truncate(ip.l2_len + len);
        self.counters.resets_sent += 1;
        self.answer(frame, ip.src, now, out)
    }

    /// Routes an IPv4 frame to `dst`: picks the port and next hop, resolves its MAC (holding
    /// the frame while ARP asks), sets the Ethernet addresses and queues it. Returns the
    /// port, or the verdict when the frame could not go out now.
    #[inline(always)]
    pub fn send_ip(
        &mut self,
        mut frame: B,
        dst: Ipv4Addr,
        now: Instant,
        out: &mut Output<B>,
    ) -> Result<PortIdx, Verdict> {
        if let Some(hop) = self.hops.get(dst) {
            set_eth_addrs(frame.as_mut(), hop.src, hop.dst);
            out.tx[hop.port].push(frame);
            return Ok(hop.port);
        }
        self.route_and_send(frame, dst, now, out)
    }

    /// `send_ip` for a destination the burst has not resolved yet.
    #[inline(never)]
    fn route_and_send(
        &mut self,
        mut frame: B,
        dst: Ipv4Addr,
        now: Instant,
        out: &mut Output<B>,
    ) -> Result<PortIdx, Verdict> {
        let Some((port, next_hop)) = self.topology.route(dst) else {
            return Err(self.drop(frame, DropReason::NoRoute, out));
        };
        let Some(mac) = self.neighbours.lookup(port, next_hop, now) else {
            return Err(match self.neighbours.hold(port, next_hop, frame, now) {
                Held::QueuedSendRequest => {
                    self.arp_wanted.push((port, next_hop));
                    Verdict::Held
                }
                Held::Queued => Verdict::Held,
                Held::Full(frame) => self.drop(frame, DropReason::NeighbourQueueFull, out),
                Held::Failed(frame) => self.drop(frame, DropReason::NeighbourFailed, out),
            });
        };
        let src = self.topology.ports[port].mac;
        self.hops.put(dst, Hop { port, src, dst: mac });
        set_eth_addrs(frame.as_mut(), src, mac);
        out.tx[port].push(frame);
        Ok(port)
    }

    /// Sends the frames that waited for `ip` on `port`, now that it answered.
    pub fn release_held(&mut self, port: PortIdx, ip: Ipv4Addr, now: Instant, out: &mut Output<B>) {
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

    /// Sends the ARP requests the frames just handled asked for.
    pub fn send_arp_requests(&mut self, alloc: &mut impl FnMut() -> Option<B>, out: &mut Output<B>) {
        for (port, ip) in self.arp_wanted.drain(..) {
            match arp_request(&self.topology, port, ip, alloc) {
                Some(frame) => {
                    out.tx[port].push(frame);
                    self.counters.arp_requests_sent += 1;
                }
                None => self.counters.count_drop(DropReason::NoBuffer),
            }
        }
    }
}

/// Where frames to one destination leave: port and Ethernet addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    port: PortIdx,
    src: MacAddr,
    dst: MacAddr,
}

/// The next hops resolved during one burst, by destination (direct-mapped, a few entries: a
/// burst's frames go to a handful of servers and client gateways). Emptied at the start of
/// every burst and whenever an ARP frame may change a neighbour: the time does not move
/// within a burst, so an entry is what a full lookup would find again.
#[derive(Debug, Default)]
pub struct HopCache {
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

    pub fn clear(&mut self) {
        self.entries = Default::default();
    }
}

pub fn set_eth_addrs(bytes: &mut [u8], src: MacAddr, dst: MacAddr) {
    let mut eth = ethernet::Frame::new_unchecked(bytes);
    eth.set_src_addr(src);
    eth.set_dst_addr(dst);
}

/// An ARP request from `port` asking for `ip`, in a fresh buffer.
pub fn arp_request<B: FrameBuf>(
    topology: &Topology,
    port: PortIdx,
    ip: Ipv4Addr,
    alloc: &mut impl FnMut() -> Option<B>,
) -> Option<B> {
    let p = &topology.ports[port];
    let request = arp::ArpRepr {
        operation: arp::op::REQUEST,
        sender_hw: p.mac,
        sender_ip: p.ip,
        target_hw: MacAddr::ZERO,
        target_ip: ip,
    };
    answer::arp_frame(alloc, p.mac, MacAddr::BROADCAST, &request)
}
