//! What workers share, by message only: frames that reached the wrong core, sticky
//! bindings, and how many flows each core has on each server.
//!
//! Each worker receives on its own queue of every port. A frame's *owner* is decided from
//! the frame and the port it came in on alone, the same way on every core, from how that
//! port's device spreads frames (`runtime::steering`): where the device delivers each flow
//! to its owner (RSS as modelled; a client's frames under the kernel's fanout) the frame is
//! this core's; where it cannot (one queue; replies under the kernel's fanout; gateway-NAT
//! replies no device steers) the owner is named by the frame: a full-NAT reply by its local
//! port (`port % workers`), a client's frame by a hash of its address and port. A frame that
//! lands on another core is handed to its owner through a bounded ring, counted. ARP frames
//! are processed where they land and copied to every other core to learn from, so every
//! core knows every neighbour.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rustc_hash::FxHashSet;

use crate::engine::hash;
use crate::engine::service::{NatMode, Services};
use crate::engine::Topology;
use crate::runtime::steering::{self, PortSteering};
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
    /// VIP ports under gateway NAT (their replies carry the client, not the switch).
    gateway: FxHashSet<(Ipv4Addr, u16)>,
    /// How each port's device spreads frames, by port index.
    ports: Vec<PortSteering>,
    /// Whether both directions of a gateway-NAT flow land on one queue.
    gateway_steered: bool,
    /// By port index: whether the device delivers every flow's frames to its owner, so that
    /// only ARP and the health checker's segments need a look (`owner_when_steered`).
    steered: Vec<bool>,
    workers: usize,
}

impl DispatchView {
    /// The view for `workers` cores on ports spread as `steering` says (a port not listed
    /// has one queue).
    pub fn new(topology: &Topology, services: &Services, workers: usize, steering: &[PortSteering]) -> DispatchView {
        let mut view = DispatchView {
            vips: topology.vips.iter().map(|v| v.ip).collect(),
            own_ips: topology
                .ports
                .iter()
                .flat_map(|p| std::iter::once(p.ip).chain(p.local_ips.iter().copied()))
                .collect(),
            servers: services.servers.iter().map(|s| (s.ip, s.port)).collect(),
            gateway: services.services.iter().filter(|s| s.nat == NatMode::Gateway).map(|s| (s.vip, s.port)).collect(),
            ports: steering.to_vec(),
            gateway_steered: steering::gateway_steered(steering),
            steered: Vec::new(),
            workers: workers.max(1),
        };
        // RSS as modelled delivers every flow to its owner, both ways (full NAT picks its
        // local ports so; gateway NAT, if any, is steered).
        let all_steered = view.gateway_steered || view.gateway.is_empty();
        view.steered = steering.iter().map(|s| matches!(s, PortSteering::Rss(_)) && all_steered).collect();
        view
    }

    /// Whether every frame port `port` delivers is its receiving core's but ARP and the
    /// health checker's segments: then [`owner_when_steered`](Self::owner_when_steered)
    /// tells a frame's owner at the cost of a few loads.
    pub fn steered(&self, port: usize) -> bool {
        self.steered.get(port).copied().unwrap_or(false)
    }

    /// [`owner`](Self::owner) on a [`steered`](Self::steered) port: reads the ethertype and,
    /// for IPv4, the destination port, and parses the frame only if that port is one of the
    /// local stack's (the health checker's replies, rare).
    pub fn owner_when_steered(&self, port: usize, frame: &[u8]) -> Owner {
        match frame.get(12..14) {
            Some([0x08, 0x06]) => Owner::Everyone,
            Some([0x08, 0x00]) => {
                let header_len = usize::from(frame.get(14).map_or(0, |b| b & 0x0f)) * 4;
                let at = ethernet::HEADER_LEN + header_len + 2;
                match frame.get(at..at + 2) {
                    Some(&[hi, lo]) if crate::engine::LOCAL_STACK_PORTS.contains(&u16::from_be_bytes([hi, lo])) => {
                        self.owner(port, frame)
                    }
                    _ => Owner::Here,
                }
            }
            Some([0x81, 0x00]) => self.owner(port, frame), // tagged: rare, parsed in full
            _ => Owner::Here,
        }
    }

    /// The owner of a frame received on port `port`.
    pub fn owner(&self, port: usize, frame: &[u8]) -> Owner {
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
        let steering = self.ports.get(port).unwrap_or(&PortSteering::Single);
        // The health checker lives on worker 0, on ports full NAT never takes.
        if crate::engine::LOCAL_STACK_PORTS.contains(&dst_port) && self.own_ips.contains(&dst) {
            return Owner::Core(0);
        }
        if self.steered(port) {
            return Owner::Here; // the device put it on its owner's queue
        }
        if self.vips.contains(&dst) {
            let by_client = matches!(steering, PortSteering::Single)
                || (!self.gateway_steered && self.gateway.contains(&(dst, dst_port)));
            return if by_client { Owner::Core(client_core(src, src_port, n)) } else { Owner::Here };
        }
        if self.servers.contains(&(src, src_port)) {
            return if self.own_ips.contains(&dst) {
                // Full NAT: the local port was chosen to land on its owner, or names it.
                match steering {
                    PortSteering::Rss(_) => Owner::Here,
                    _ => Owner::Core(usize::from(dst_port) % n),
                }
            } else if self.gateway_steered {
                Owner::Here
            } else {
                Owner::Core(client_core(dst, dst_port, n)) // gateway NAT: the client's core
            };
        }
        Owner::Here
    }
}

/// The core that owns a client's flow where no device says: a hash of its address and port.
pub fn client_core(client: Ipv4Addr, port: u16, workers: usize) -> usize {
    (hash::mix(u64::from(u32::from(client)), u64::from(port)) % workers as u64) as usize
}

/// One core's hand-off rings: its inbox and a sender to every core (itself included, unused).
pub struct HandoffPort<B> {
    pub core: usize,
    pub inbox: Receiver<Handoff<B>>,
    pub to: Vec<Sender<Handoff<B>>>,
    /// Frames handed to another core (ARP copies not counted).
    pub sent: u64,
    /// Frames a full ring refused (freed, counted).
    pub dropped: u64,
}

impl<B> HandoffPort<B> {
    /// The rings of `workers` cores.
    pub fn ring(workers: usize) -> Vec<HandoffPort<B>> {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers).map(|_| crossbeam_channel::bounded(HANDOFF_RING)).unzip();
        rxs.into_iter()
            .enumerate()
            .map(|(core, inbox)| HandoffPort { core, inbox, to: txs.clone(), sent: 0, dropped: 0 })
            .collect()
    }

    /// Hands `frame` to `core`; a full ring drops it (counted).
    pub fn send(&mut self, core: usize, handoff: Handoff<B>) {
        let copy = handoff.learn_only;
        match self.to[core].try_send(handoff) {
            Ok(()) => self.sent += u64::from(!copy),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped += 1,
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
    use crate::wire::rss::{Fields, Rss, SYMMETRIC_KEY};
    use crate::wire::MacAddr;

    const CONFIG: &str = r#"
        [[port]]
        name = "client"
        ip = "198.18.0.1/24"
        [[port]]
        name = "server"
        ip = "198.18.1.1/24"
        [[vip]]
        name = "v"
        ip = "198.18.0.100"
        [[vip.port]]
        port = 81
        nat = "full"
        [[vip.port]]
        port = 83
        nat = "gateway"
        [[real_server]]
        name = "rs1"
        ip = "198.18.1.10"
        port = 80
    "#;

    fn view(workers: usize, steering: &[PortSteering]) -> DispatchView {
        let config = crate::control::config::Config::parse(CONFIG).unwrap();
        let topology = config.topology(&[MacAddr::ZERO, MacAddr::ZERO]);
        let services = config.services(crate::engine::hash::Secrets::from_seed(1));
        DispatchView::new(&topology, &services, workers, steering)
    }

    fn rss(fields: Fields) -> PortSteering {
        PortSteering::Rss(Arc::new(Rss::new(&SYMMETRIC_KEY, fields, 2, 128)))
    }

    fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let s = Segment { src_port: sport, dst_port: dport, flags: 0x10, ..Default::default() };
        craft::tcp_frame(MacAddr::ZERO, MacAddr::ZERO, Ipv4Addr::from(src), Ipv4Addr::from(dst), &s)
    }

    const CLIENT: [u8; 4] = [198, 18, 0, 7];
    const VIP: [u8; 4] = [198, 18, 0, 100];
    const SERVER: [u8; 4] = [198, 18, 1, 10];
    const OWN: [u8; 4] = [198, 18, 1, 1];

    /// One queue: worker 0 receives everything and hands each flow, both ways, to one core.
    #[test]
    fn one_queue_both_directions_of_a_flow_have_one_owner() {
        let v = view(2, &[PortSteering::Single, PortSteering::Single]);
        for client_port in 40000..40100u16 {
            let owner = v.owner(0, &tcp(CLIENT, client_port, VIP, 83));
            assert!(matches!(owner, Owner::Core(_)));
            // Gateway NAT: the server answers the client directly.
            assert_eq!(v.owner(1, &tcp(SERVER, 80, CLIENT, client_port)), owner);
            // Full NAT: the local port says which core.
            assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 1025)), Owner::Core(1));
            assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 1024)), Owner::Core(0));
            // A health check's answer: worker 0, whatever the port's parity.
            assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 65001)), Owner::Core(0));
        }
        let spread: std::collections::BTreeSet<_> = (1..200u16).map(|p| v.owner(0, &tcp(CLIENT, p, VIP, 81))).collect();
        assert_eq!(spread.len(), 2, "clients spread over both cores");
    }

    /// The kernel's fanout keeps a client's frames on one queue: they stay where they land,
    /// except on a gateway-NAT port, whose replies only a hash of the client can find.
    #[test]
    fn kernel_fanout_keeps_client_frames_and_hands_replies_off() {
        let v = view(2, &[PortSteering::Flows, PortSteering::Flows]);
        for client_port in 40000..40100u16 {
            assert_eq!(v.owner(0, &tcp(CLIENT, client_port, VIP, 81)), Owner::Here);
            let owner = v.owner(0, &tcp(CLIENT, client_port, VIP, 83));
            assert_eq!(owner, Owner::Core(client_core(CLIENT.into(), client_port, 2)));
            assert_eq!(v.owner(1, &tcp(SERVER, 80, CLIENT, client_port)), owner);
        }
        assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 1025)), Owner::Core(1));
        assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 1024)), Owner::Core(0));
    }

    /// RSS on the client's side of each arm: every frame is where the device put it, but a
    /// health check's answer, which belongs to worker 0. One arm hashing the whole tuple
    /// cannot steer gateway-NAT replies: those go by the client's hash.
    #[test]
    fn rss_keeps_every_flow_frame_where_it_lands() {
        let v = view(2, &[rss(Fields::Source), rss(Fields::Destination)]);
        for client_port in 40000..40100u16 {
            assert_eq!(v.owner(0, &tcp(CLIENT, client_port, VIP, 81)), Owner::Here);
            assert_eq!(v.owner(0, &tcp(CLIENT, client_port, VIP, 83)), Owner::Here);
            assert_eq!(v.owner(1, &tcp(SERVER, 80, CLIENT, client_port)), Owner::Here);
            assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, client_port)), Owner::Here);
        }
        assert_eq!(v.owner(1, &tcp(SERVER, 80, OWN, 65001)), Owner::Core(0));
        let one_arm = view(2, &[rss(Fields::Tuple), rss(Fields::Tuple)]);
        assert_eq!(one_arm.owner(0, &tcp(CLIENT, 40000, VIP, 81)), Owner::Here);
        assert_eq!(one_arm.owner(1, &tcp(SERVER, 80, OWN, 40000)), Owner::Here);
        let owner = Owner::Core(client_core(CLIENT.into(), 40000, 2));
        assert_eq!(one_arm.owner(0, &tcp(CLIENT, 40000, VIP, 83)), owner);
        assert_eq!(one_arm.owner(1, &tcp(SERVER, 80, CLIENT, 40000)), owner);
    }

    #[test]
    fn arp_goes_everywhere_and_the_rest_stays() {
        let v = view(2, &[PortSteering::Single, PortSteering::Single]);
        let arp = craft::arp_request_frame(
            MacAddr([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
        );
        assert_eq!(v.owner(0, &arp), Owner::Everyone);
        let echo = craft::echo_frame(
            MacAddr::ZERO,
            MacAddr::ZERO,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            1,
            1,
        );
        assert_eq!(v.owner(0, &echo), Owner::Here);
        assert_eq!(v.owner(0, &[1, 2, 3]), Owner::Here);
    }

    /// The few loads of `owner_when_steered` give what `owner` gives on a steered port, for
    /// every kind of frame: flows both ways, ARP, a health check's answer, tagged frames,
    /// fragments, truncated frames and noise.
    #[test]
    fn a_steered_port_needs_only_a_look_and_gets_the_same_owners() {
        use proptest::prelude::*;
        let v = view(2, &[rss(Fields::Source), rss(Fields::Destination)]);
        assert!(v.steered(0) && v.steered(1) && !v.steered(2));
        assert!(!view(2, &[PortSteering::Flows, PortSteering::Flows]).steered(0));
        let one_arm = view(2, &[rss(Fields::Tuple), rss(Fields::Tuple)]);
        assert!(!one_arm.steered(0), "gateway-NAT replies are not steered on one arm");
        let arp = craft::arp_request_frame(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(198, 18, 0, 2), OWN.into());
        let mut tagged_arp = arp[..12].to_vec();
        tagged_arp.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        tagged_arp.extend_from_slice(&arp[12..]);
        let health = tcp(SERVER, 80, OWN, 65001);
        let mut fragment = tcp(SERVER, 80, OWN, 65001);
        fragment[20] |= 0x20; // more fragments
        let mut known = vec![
            arp,
            tagged_arp,
            health.clone(),
            fragment,
            tcp(SERVER, 80, SERVER, 65001),
            tcp(CLIENT, 40000, VIP, 81),
            tcp(SERVER, 80, CLIENT, 40000),
            health[..37].to_vec(),
            health[..13].to_vec(),
            vec![],
        ];
        for k in 0..known.len() {
            let mut tagged = known[k].clone();
            if tagged.len() >= 12 {
                tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
                known.push(tagged);
            }
        }
        assert_eq!(v.owner_when_steered(1, &health), Owner::Core(0));
        for frame in &known {
            for port in 0..2 {
                assert_eq!(v.owner_when_steered(port, frame), v.owner(port, frame), "{frame:02x?}");
            }
        }
        proptest!(|(mut bytes in proptest::collection::vec(any::<u8>(), 0..80), kind in 0..3u8, port in 0..2usize)| {
            // Noise, and noise under an IPv4 or ARP ethertype with a local-stack port.
            if bytes.len() >= 40 && kind > 0 {
                bytes[12..14].copy_from_slice(if kind == 1 { &[0x08, 0x00] } else { &[0x08, 0x06] });
                bytes[14] = 0x45;
                bytes[36] = 0xfd;
            }
            prop_assert_eq!(v.owner_when_steered(port, &bytes), v.owner(port, &bytes));
        });
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
