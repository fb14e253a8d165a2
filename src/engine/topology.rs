//! What the engine owns: its ports' addresses, the VIPs, static neighbours.
//!
//! Built once from the validated config by `control`; plain data, no I/O.

use std::net::Ipv4Addr;

use crate::wire::MacAddr;

/// Index of a port in the config (and in a worker's port list).
pub type PortIdx = usize;

/// One of the switch's ports as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAddr {
    pub name: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// Next hop for destinations outside every port's subnet.
    pub gateway: Option<Ipv4Addr>,
    /// More addresses of the switch on this port, for full NAT only: the sources it uses
    /// towards servers besides `ip` (LVS's and DPVS's local addresses). Each adds about 64 K
    /// local ports per real server, so full NAT can track more flows to one server.
    pub local_ips: Vec<Ipv4Addr>,
}

impl PortAddr {
    /// The addresses full NAT uses as sources on this port: `ip`, then `local_ips`.
    pub fn nat_sources(&self) -> usize {
        1 + self.local_ips.len()
    }

    /// The `i`-th of [`nat_sources`](Self::nat_sources) (wrapping).
    pub fn nat_source(&self, i: usize) -> Ipv4Addr {
        match i % self.nat_sources() {
            0 => self.ip,
            k => self.local_ips[k - 1],
        }
    }

    /// Whether `ip` is this port's address or one of its local addresses.
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.ip == ip || self.local_ips.contains(&ip)
    }

    /// Whether `addr` is on this port's subnet.
    pub fn on_link(&self, addr: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix_len);
        u32::from(addr) & mask == u32::from(self.ip) & mask
    }
}

/// The netmask of a prefix length (0..=32).
pub fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// A virtual IP the switch owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// A neighbour whose MAC address is configured, never resolved or aged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticNeighbour {
    pub port: PortIdx,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
}

/// Everything the engine needs to know about the switch's own addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub ports: Vec<PortAddr>,
    pub vips: Vec<Vip>,
    pub static_neighbours: Vec<StaticNeighbour>,
}

impl Topology {
    /// Whether `ip` is a VIP.
    pub fn is_vip(&self, ip: Ipv4Addr) -> bool {
        self.vips.iter().any(|v| v.ip == ip)
    }

    /// Whether `ip` is a port's own address (its main one, not a full-NAT local address):
    /// where the switch's own TCP stack (the health checker) lives.
    pub fn is_port_ip(&self, ip: Ipv4Addr) -> bool {
        self.ports.iter().any(|p| p.ip == ip)
    }

    /// Whether `ip` is one of the ports' own addresses (local addresses included).
    pub fn is_own_ip(&self, ip: Ipv4Addr) -> bool {
        self.ports.iter().any(|p| p.owns(ip))
    }

    /// Whether the switch answers ARP for `ip` on `port`: the port's own and local
    /// addresses, and every VIP on the port's subnet (or on every port when no port's subnet
    /// holds the VIP).
    pub fn answers_arp(&self, port: PortIdx, ip: Ipv4Addr) -> bool {
        let Some(p) = self.ports.get(port) else {
            return false;
        };
        p.owns(ip) || (self.is_vip(ip) && self.vip_ports(ip).any(|i| i == port))
    }

    /// The ports a VIP is announced and answered on.
    pub fn vip_ports(&self, vip: Ipv4Addr) -> impl Iterator<Item = PortIdx> + '_ {
        let any_on_link = self.ports.iter().any(|p| p.on_link(vip));
        self.ports.iter().enumerate().filter(move |(_, p)| !any_on_link || p.on_link(vip)).map(|(i, _)| i)
    }

    /// The port and next hop that reach `dst`: the first port whose subnet holds it, else the
    /// first port with a gateway.
    pub fn route(&self, dst: Ipv4Addr) -> Option<(PortIdx, Ipv4Addr)> {
        if let Some(i) = self.ports.iter().position(|p| p.on_link(dst)) {
            return Some((i, dst));
        }
        self.ports.iter().enumerate().find_map(|(i, p)| p.gateway.map(|gw| (i, gw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_arm() -> Topology {
        Topology {
            ports: vec![
                PortAddr {
                    name: "client".into(),
                    mac: MacAddr([2, 0, 0, 0, 0, 1]),
                    ip: Ipv4Addr::new(198, 18, 0, 1),
                    prefix_len: 24,
                    gateway: None,
                    local_ips: vec![],
                },
                PortAddr {
                    name: "server".into(),
                    mac: MacAddr([2, 0, 0, 0, 0, 2]),
                    ip: Ipv4Addr::new(198, 18, 1, 1),
                    prefix_len: 24,
                    gateway: Some(Ipv4Addr::new(198, 18, 1, 254)),
                    local_ips: vec![Ipv4Addr::new(198, 18, 1, 2)],
                },
            ],
            vips: vec![Vip { name: "web".into(), ip: Ipv4Addr::new(198, 18, 0, 100) }],
            static_neighbours: vec![],
        }
    }

    #[test]
    fn local_addresses_are_owned_and_answered_on_their_port_only() {
        let t = two_arm();
        let local = Ipv4Addr::new(198, 18, 1, 2);
        assert!(t.is_own_ip(local));
        assert!(t.answers_arp(1, local));
        assert!(!t.answers_arp(0, local));
        let p = &t.ports[1];
        assert_eq!(p.nat_sources(), 2);
        assert_eq!((p.nat_source(0), p.nat_source(1), p.nat_source(2)), (p.ip, local, p.ip));
    }

    #[test]
    fn vip_is_answered_on_its_subnet_only() {
        let t = two_arm();
        let vip = Ipv4Addr::new(198, 18, 0, 100);
        assert!(t.answers_arp(0, vip));
        assert!(!t.answers_arp(1, vip));
        assert!(t.answers_arp(1, Ipv4Addr::new(198, 18, 1, 1)));
        assert!(!t.answers_arp(0, Ipv4Addr::new(198, 18, 1, 1)));
        assert!(!t.answers_arp(7, vip));
    }

    #[test]
    fn vip_off_every_subnet_is_answered_everywhere() {
        let mut t = two_arm();
        t.vips[0].ip = Ipv4Addr::new(198, 19, 9, 9);
        assert_eq!(t.vip_ports(Ipv4Addr::new(198, 19, 9, 9)).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn routes_on_link_then_gateway() {
        let t = two_arm();
        let c = Ipv4Addr::new(198, 18, 0, 7);
        assert_eq!(t.route(c), Some((0, c)));
        assert_eq!(t.route(Ipv4Addr::new(8, 8, 8, 8)), Some((1, Ipv4Addr::new(198, 18, 1, 254))));
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(32), u32::MAX);
        assert_eq!(prefix_mask(24), 0xffff_ff00);
    }
}
