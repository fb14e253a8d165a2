//! How each device spreads frames over the workers' queues, and what follows for the core
//! that owns a flow.
//!
//! The owner of a flow is the core whose queue the device delivers the client's frames to.
//! What the switch can know of that depends on the device:
//! - [`PortSteering::Rss`]: a NIC spreading by RSS with a key and table the switch set and
//!   read back, so it computes where any tuple lands (`wire::rss`). A two-armed switch hashes
//!   the client arm on the source address and port and the server arm on the destination
//!   ([`fields_for`]): a gateway-NAT or DSR flow's two directions both hash on the client's
//!   address and port, and a full-NAT reply on the local address and port, which each core
//!   chooses so that it lands on itself. No frame crosses cores. One arm (clients and
//!   servers on the same port) hashes the whole tuple, symmetric: full NAT still lands
//!   right; a gateway-NAT reply cannot, and is handed off.
//! - [`PortSteering::Flows`]: the kernel's fanout over af_packet sockets (`qpairs=N`), a
//!   symmetric hash under a secret of the kernel's: a client's frames stay on one socket,
//!   unknowable in advance. The core that receives a client's first frame owns the flow;
//!   full-NAT replies find it by their local port (`port % workers`), by hand-off.
//! - [`PortSteering::Single`]: one queue (net_pcap, af_packet without `qpairs`), or several
//!   with nothing spreading them: worker 0 receives everything and hands each flow to the
//!   core a hash of the client's address and port names.
//!
//! Gateway-NAT flows whose two directions no device puts on one queue are owned by that
//! same hash of the client, on every device: the server's reply carries the client's
//! address and port, not the core that saw its first frame.

use std::sync::Arc;

use crate::engine::l4::ReplySteering;
use crate::engine::service::Services;
use crate::engine::Topology;
use crate::wire::rss::{Fields, Rss};

/// How one port's device spreads frames over the workers' queues.
#[derive(Debug, Clone)]
pub enum PortSteering {
    /// RSS as modelled: worker `i` owns queue `i`.
    Rss(Arc<Rss>),
    /// Each flow's frames stay on one queue, which cannot be computed (af_packet fanout).
    Flows,
    /// Worker 0 receives every frame (one queue, or nothing spreading them).
    Single,
}

impl PortSteering {
    /// What the engine needs for choosing full NAT's local ports on this port.
    pub fn reply_steering(&self) -> ReplySteering {
        match self {
            PortSteering::Rss(rss) => ReplySteering::Rss(Arc::clone(rss)),
            PortSteering::Flows | PortSteering::Single => ReplySteering::ByPort,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            PortSteering::Rss(rss) => match rss.fields() {
                Fields::Tuple => "rss (addresses and ports)",
                Fields::Source => "rss (source address and port)",
                Fields::Destination => "rss (destination address and port)",
            },
            PortSteering::Flows => "kernel fanout (per flow)",
            PortSteering::Single => "one queue",
        }
    }
}

/// The fields RSS should hash on port `port`: the source on a port that faces only
/// clients (VIPs are on its subnet), the destination on one that faces only servers (their
/// route goes through it), the whole tuple on a port that faces both.
pub fn fields_for(topology: &Topology, services: &Services, port: usize) -> Fields {
    let clients = topology.vips.iter().any(|v| topology.answers_arp(port, v.ip));
    let servers = services.servers.iter().any(|s| topology.route(s.ip).is_some_and(|(p, _)| p == port));
    match (clients, servers) {
        (true, false) => Fields::Source,
        (false, true) => Fields::Destination,
        _ => Fields::Tuple,
    }
}

/// Whether both directions of a gateway-NAT flow land on one queue: every port spreads by
/// RSS on one side's address and port only.
pub fn gateway_steered(ports: &[PortSteering]) -> bool {
    !ports.is_empty() && ports.iter().all(|p| matches!(p, PortSteering::Rss(rss) if rss.fields() != Fields::Tuple))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::engine::service::RealServer;
    use crate::engine::{PortAddr, Vip};
    use crate::wire::rss::SYMMETRIC_KEY;
    use crate::wire::MacAddr;

    fn port(name: &str, ip: [u8; 4], prefix_len: u8) -> PortAddr {
        PortAddr { name: name.into(), mac: MacAddr::ZERO, ip: ip.into(), prefix_len, gateway: None, local_ips: vec![] }
    }

    #[test]
    fn client_arm_hashes_the_source_server_arm_the_destination_one_arm_both() {
        let services = Services {
            servers: vec![RealServer::named("rs1", Ipv4Addr::new(198, 18, 1, 10), 80)],
            ..Services::default()
        };
        let vips = vec![Vip { name: "v".into(), ip: Ipv4Addr::new(198, 18, 0, 100) }];
        let two = Topology {
            ports: vec![port("c", [198, 18, 0, 1], 24), port("s", [198, 18, 1, 1], 24)],
            vips: vips.clone(),
            static_neighbours: vec![],
        };
        assert_eq!(fields_for(&two, &services, 0), Fields::Source);
        assert_eq!(fields_for(&two, &services, 1), Fields::Destination);
        let one = Topology { ports: vec![port("lan", [198, 18, 0, 1], 16)], vips, static_neighbours: vec![] };
        assert_eq!(fields_for(&one, &services, 0), Fields::Tuple);

        let rss = |fields| PortSteering::Rss(Arc::new(Rss::new(&SYMMETRIC_KEY, fields, 2, 128)));
        assert!(gateway_steered(&[rss(Fields::Source), rss(Fields::Destination)]));
        assert!(!gateway_steered(&[rss(Fields::Tuple)]));
        assert!(!gateway_steered(&[rss(Fields::Source), PortSteering::Flows]));
        assert!(!gateway_steered(&[]));
    }
}
