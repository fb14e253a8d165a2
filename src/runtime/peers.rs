//! What workers share, by message only: frames that reached the wrong core, sticky
//! bindings, and how many flows each core has on each server.
//!
//! Each worker receives on its own queue of every port (RSS on a NIC, the kernel's fanout
//! on af_packet). A frame's *owner* is decided from the frame alone, the same way on every
//! core: client -> VIP frames by a hash of the client's address and port; full-NAT replies
//! by their local port (each core allocates ports with `port % workers == core`); gateway
//! NAT replies by a hash of the client's address and port, as their first frame was. A frame
//! that lands on another core is handed to its owner through a bounded ring. ARP frames are
//! processed where they land and copied to every other core to learn from, so every core
//! knows every neighbour.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rustc_hash::FxHashSet;

use crate::engine::hash;
use crate::engine::service::Services;
use crate::engine::Topology;
use crate::wire::{ethernet, ipv4};

/// Frames waiting in one core's hand-off ring at most: enough for a few milliseconds of a
/// busy port while the owner core is descheduled.
pub const HANDOFF_RING: usize = 16384;

/// A frame handed to its owner.
pub struct Handoff<B> {
    pub port: usize,
    pub frame: B,
    /// A copy of an ARP frame another core answered: learn from it, send nothing.
    pub learn_only: bool,
}

/// Where a received frame is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    /// By any core: the one that received it.
    Here,
    /// By this core.
    Core(usize),
    /// ARP: here, and a copy to every other core.
    Everyone,
}

/// The facts needed to find a frame's owner, the same on every core.
#[derive(Debug, Clone)]
pub struct DispatchView {
    vips: Vec<Ipv4Addr>,
    own_ips: Vec<Ipv4Addr>,
    servers: FxHashSet<(Ipv4Addr, u16)>,
    workers: usize,
}

impl DispatchView {
    pub fn new(topology: &Topology, services: &Services, workers: usize) -> DispatchView {
        DispatchView {
            vips: topology.vips.iter().map(|v| v.ip).collect(),
            own_ips: topology
                .ports
                .iter()
                .flat_map(|p| std::iter::once(p.ip).chain(p.local_ips.iter().copied()))
                .collect(),
            servers: services.servers.iter().map(|s| (s.ip, s.port)).collect(),
            workers: workers.max(1),
        }
    }

    /// The owner of a frame.
    pub fn owner(&self, frame: &[u8]) -> Owner {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else { return Owner::Here };
        match eth.ethertype() {
            ethernet::ethertype::ARP => return Owner::Everyone,
            ethernet::ethertype::IPV4 => {}
            _ => return Owner::Here,
        }
        let Ok(ip) = ipv4::Packet::new_checked(&frame[eth.header_len()..]) else { return Owner::Here };
        let proto = ip.protocol();
        if (proto != ipv4::protocol::TCP && proto != ipv4::protocol::UDP) || ip.is_fragment() {
            return Owner::Here;
        }
        let l4 = ip.payload();
        if l4.len() < 4 {
            return Owner::Here;
        }
        let (src_port, dst_port) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let n = self.workers;
        if self.vips.contains(&dst) {
            return Owner::Core(client_core(src, src_port, n));
        }
        // The health checker lives on worker 0, on ports full NAT never takes.
        if crate::engine::LOCAL_STACK_PORTS.contains(&dst_port) && self.own_ips.contains(&dst) {
            return Owner::Core(0);
        }
        if self.servers.contains(&(src, src_port)) {
            return if self.own_ips.contains(&dst) {
                Owner::Core(usize::from(dst_port) % n) // full NAT: the local port names the core
            } else {
                Owner::Core(client_core(dst, dst_port, n)) // gateway NAT: back to the client's core
            };
        }
        Owner::Here
    }
}

/// The core that owns a client's flow.
pub fn client_core(client: Ipv4Addr, port: u16, workers: usize) -> usize {
    (hash::mix(u64::from(u32::from(client)), u64::from(port)) % workers as u64) as usize
}

/// One core's hand-off rings: its inbox and a sender to every core (itself included, unused).
pub struct HandoffPort<B> {
    pub core: usize,
    pub inbox: Receiver<Handoff<B>>,
    pub to: Vec<Sender<Handoff<B>>>,
    /// Frames a full ring refused (freed, counted).
    pub dropped: u64,
}

impl<B> HandoffPort<B> {
    /// The rings of `workers` cores.
    pub fn ring(workers: usize) -> Vec<HandoffPort<B>> {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers).map(|_| crossbeam_channel::bounded(HANDOFF_RING)).unzip();
        rxs.into_iter()
            .enumerate()
            .map(|(core, inbox)| HandoffPort { core, inbox, to: txs.clone(), dropped: 0 })
            .collect()
    }

    /// Hands `frame` to `core`; a full ring drops it (counted).
    pub fn send(&mut self, core: usize, handoff: Handoff<B>) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.to[core].try_send(handoff) {
            self.dropped += 1;
        }
    }
}

/// Flows per server on every core, written by each core for itself and read by the others
/// (least-connections sees the whole box). Relaxed atomics: a slightly stale count is fine.
#[derive(Debug)]
pub struct LoadBoard {
    servers: usize,
    counts: Vec<AtomicU32>,
}

impl LoadBoard {
    pub fn new(workers: usize, servers: usize) -> Arc<LoadBoard> {
        Arc::new(LoadBoard { servers, counts: (0..workers * servers).map(|_| AtomicU32::new(0)).collect() })
    }

    /// How many servers the board has a row for.
    pub fn servers(&self) -> usize {
        self.servers
    }

    /// Publishes core `core`'s flows per server.
    pub fn publish(&self, core: usize, load: &[u32]) {
        for (slot, &n) in self.counts[core * self.servers..].iter().take(self.servers).zip(load) {
            slot.store(n, Ordering::Relaxed);
        }
    }

    /// The flows on server `server`, all cores together.
    pub fn total(&self, server: usize) -> u32 {
        self.counts.iter().skip(server).step_by(self.servers.max(1)).map(|n| n.load(Ordering::Relaxed)).sum()
    }

    /// The flows per server of every core but `core`, into `out`.
    pub fn others(&self, core: usize, out: &mut [u32]) {
        out.iter_mut().for_each(|o| *o = 0);
        for (c, row) in self.counts.chunks(self.servers.max(1)).enumerate() {
            if c != core {
                for (o, n) in out.iter_mut().zip(row) {
                    *o += n.load(Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::craft::{self, Segment};
    use crate::engine::service::RealServer;
    use crate::engine::{PortAddr, Vip};
    use crate::wire::MacAddr;

    fn view(workers: usize) -> DispatchView {
        let port = |ip| PortAddr {
            name: "p".into(),
            mac: MacAddr::ZERO,
            ip,
            prefix_len: 24,
            gateway: None,
            local_ips: vec![],
        };
        let topology = Topology {
            ports: vec![port(Ipv4Addr::new(198, 18, 0, 1)), port(Ipv4Addr::new(198, 18, 1, 1))],
            vips: vec![Vip { name: "v".into(), ip: Ipv4Addr::new(198, 18, 0, 100) }],
            static_neighbours: vec![],
        };
        let services = Services {
            servers: vec![RealServer::named("rs1", Ipv4Addr::new(198, 18, 1, 10), 80)],
            ..Services::default()
        };
        DispatchView::new(&topology, &services, workers)
    }

    fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let s = Segment { src_port: sport, dst_port: dport, flags: 0x10, ..Default::default() };
        craft::tcp_frame(MacAddr::ZERO, MacAddr::ZERO, Ipv4Addr::from(src), Ipv4Addr::from(dst), &s)
    }

    #[test]
    fn both_directions_of_a_flow_have_one_owner() {
        let v = view(2);
        for client_port in 40000..40100u16 {
            let client = [198, 18, 0, 7];
            let owner = v.owner(&tcp(client, client_port, [198, 18, 0, 100], 81));
            // Gateway NAT: the server answers the client directly.
            assert_eq!(v.owner(&tcp([198, 18, 1, 10], 80, client, client_port)), owner);
            // Full NAT: the local port says which core.
            assert_eq!(v.owner(&tcp([198, 18, 1, 10], 80, [198, 18, 1, 1], 1025)), Owner::Core(1));
            assert_eq!(v.owner(&tcp([198, 18, 1, 10], 80, [198, 18, 1, 1], 1024)), Owner::Core(0));
            // A health check's answer: worker 0, whatever the port's parity.
            assert_eq!(v.owner(&tcp([198, 18, 1, 10], 80, [198, 18, 1, 1], 65001)), Owner::Core(0));
        }
        let spread: std::collections::BTreeSet<_> =
            (1..200u16).map(|p| v.owner(&tcp([198, 18, 0, 7], p, [198, 18, 0, 100], 81))).collect();
        assert_eq!(spread.len(), 2, "clients spread over both cores");
    }

    #[test]
    fn arp_goes_everywhere_and_the_rest_stays() {
        let v = view(2);
        let arp = craft::arp_request_frame(
            MacAddr([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
        );
        assert_eq!(v.owner(&arp), Owner::Everyone);
        let echo = craft::echo_frame(
            MacAddr::ZERO,
            MacAddr::ZERO,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            1,
            1,
        );
        assert_eq!(v.owner(&echo), Owner::Here);
        assert_eq!(v.owner(&[1, 2, 3]), Owner::Here);
    }

    #[test]
    fn load_board_sums_the_other_cores() {
        let b = LoadBoard::new(3, 2);
        b.publish(0, &[1, 2]);
        b.publish(1, &[10, 20]);
        b.publish(2, &[100, 200]);
        let mut out = [0; 2];
        b.others(1, &mut out);
        assert_eq!(out, [101, 202]);
    }
}
