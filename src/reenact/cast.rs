//! Who plays whom: each conversation of the capture given a place on the switch's network.
//!
//! The capture's server becomes the VIP port `--vip-map` names; its real server is whichever
//! the switch picks. The capture's client keeps its address where the switch can reach it
//! through the VIP's port: on that port's subnet, or beyond it through a gateway the
//! re-enactment adds there (when the config has none). A client whose address the switch
//! could not answer there (one of the switch's own, a real server's, one on another port's
//! subnet: a capture taken at a server shows the switch's own address as the client) stands
//! on a free address of the VIP port's subnet instead, one per captured address. Two
//! conversations that would share a client endpoint and a VIP at the same time (a client
//! talking to two captured servers that both map to one VIP) are told apart by the client
//! port.

use std::collections::hash_map::Entry;
use std::net::{Ipv4Addr, SocketAddrV4};

use rustc_hash::{FxHashMap, FxHashSet};

use super::capture::Scan;
use super::vipmap::{VipMap, VipMapping};
use crate::engine::service::{NatMode, Services};
use crate::engine::topology::prefix_mask;
use crate::engine::{PortIdx, Topology};
use crate::time::Instant;

/// How one conversation is re-enacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cast {
    /// The client's endpoint as the switch sees it.
    pub client: SocketAddrV4,
    pub vip: SocketAddrV4,
    /// The VIP port's index in the switch's services.
    pub service: usize,
    /// The switch port the client talks to.
    pub port: PortIdx,
    /// What was changed to fit the switch's network, for the report.
    pub notes: Vec<String>,
}

/// A conversation's part, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Casting {
    Cast(Cast),
    /// No `--vip-map` entry maps its server.
    Unmapped,
    /// It cannot be placed on the switch's network (the reason).
    Skipped(String),
}

/// A `--vip-map` the config cannot honour.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CastError {
    #[error("--vip-map {0}: the config serves no TCP port {1}")]
    NotServed(VipMapping, SocketAddrV4),
    #[error(
        "--vip-map {0}: {1} is a direct-server-return port: its servers answer the clients without the switch, \
         which a re-enactment through the switch cannot follow"
    )]
    Dsr(VipMapping, SocketAddrV4),
    #[error("--vip-map {0}: no port of the switch answers for {1}")]
    NoPort(VipMapping, SocketAddrV4),
}

/// Casts every conversation of `scan`; may give the client port a gateway (see the module).
pub fn cast(
    scan: &Scan,
    map: &VipMap,
    topology: &mut Topology,
    services: &Services,
) -> Result<Vec<Casting>, CastError> {
    let mut vips = FxHashMap::default();
    for entry in &map.entries {
        let vip = entry.vip;
        let service = services.find(*vip.ip(), vip.port(), 6).ok_or(CastError::NotServed(*entry, vip))?;
        if services.services[service].nat == NatMode::Dsr {
            return Err(CastError::Dsr(*entry, vip));
        }
        let port = topology.vip_ports(*vip.ip()).next().ok_or(CastError::NoPort(*entry, vip))?;
        vips.insert(vip, (service, port));
    }
    let servers: FxHashSet<Ipv4Addr> = services.servers.iter().map(|s| s.ip).collect();
    if let Some(&(_, port)) = map.entries.first().and_then(|e| vips.get(&e.vip)) {
        add_gateway(topology, port, &servers);
    }
    let mut addresses = Addresses::new(topology, servers);
    let placed: Vec<Option<(SocketAddrV4, usize, PortIdx)>> =
        scan.conversations.iter().map(|c| map.lookup(c.server).map(|vip| (vip, vips[&vip].0, vips[&vip].1))).collect();
    // Clients that keep their address first, so that no stand-in takes one of theirs.
    for (conv, place) in scan.conversations.iter().zip(&placed) {
        if let Some((_, _, port)) = place {
            addresses.keep_if_reachable(*conv.client.ip(), *port);
        }
    }
    let mut tuples = Tuples::default();
    let castings = scan.conversations.iter().zip(placed).map(|(conv, place)| {
        let Some((vip, service, port)) = place else { return Casting::Unmapped };
        let ip = match addresses.place(*conv.client.ip(), port) {
            Ok(ip) => ip,
            Err(why) => return Casting::Skipped(why),
        };
        let mut notes = Vec::new();
        if ip != *conv.client.ip() {
            let why = addresses.why(*conv.client.ip(), port);
            notes.push(format!("client {} stands as {ip}: {why}", conv.client.ip()));
        }
        let client_port = tuples.take(ip, conv.client.port(), vip, conv.first, conv.last);
        if client_port != conv.client.port() {
            notes.push(format!(
                "client port {} stands as {client_port}: another conversation held {ip}:{} -> {vip} then",
                conv.client.port(),
                conv.client.port()
            ));
        }
        Casting::Cast(Cast { client: SocketAddrV4::new(ip, client_port), vip, service, port, notes })
    });
    Ok(castings.collect())
}

/// Gives port `port` a gateway on its subnet when no port has one, so that clients off every
/// subnet are reached through the VIP's port.
fn add_gateway(topology: &mut Topology, port: PortIdx, servers: &FxHashSet<Ipv4Addr>) {
    if topology.ports.iter().any(|p| p.gateway.is_some()) {
        return;
    }
    let taken = |ip: Ipv4Addr| topology.is_own_ip(ip) || topology.is_vip(ip) || servers.contains(&ip);
    let gateway = hosts_of(topology, port).rev().find(|&ip| !taken(ip));
    topology.ports[port].gateway = gateway;
}

/// The host addresses of `port`'s subnet, lowest first.
fn hosts_of(topology: &Topology, port: PortIdx) -> impl DoubleEndedIterator<Item = Ipv4Addr> {
    let p = &topology.ports[port];
    let mask = prefix_mask(p.prefix_len);
    let network = u32::from(p.ip) & mask;
    // Without the network and broadcast addresses (none left on a /31 or /32).
    let last = if p.prefix_len < 31 { (network | !mask) - 1 } else { network };
    (network.saturating_add(1)..=last).map(Ipv4Addr::from)
}

/// The addresses clients stand on.
struct Addresses<'t> {
    topology: &'t Topology,
    servers: FxHashSet<Ipv4Addr>,
    /// Captured address -> the address it stands on (the same when kept).
    placed: FxHashMap<Ipv4Addr, Ipv4Addr>,
    /// Addresses in use (kept or stand-ins).
    used: FxHashSet<Ipv4Addr>,
}

impl<'t> Addresses<'t> {
    fn new(topology: &'t Topology, servers: FxHashSet<Ipv4Addr>) -> Addresses<'t> {
        let mut used = FxHashSet::default();
        used.extend(topology.ports.iter().filter_map(|p| p.gateway));
        Addresses { topology, servers, placed: FxHashMap::default(), used }
    }

    /// Whether the switch can reach `ip` as a client through `port`.
    fn reachable(&self, ip: Ipv4Addr, port: PortIdx) -> Result<(), &'static str> {
        let t = self.topology;
        if t.is_own_ip(ip) || t.is_vip(ip) {
            return Err("the switch owns that address");
        }
        if self.servers.contains(&ip) {
            return Err("a real server has that address");
        }
        if t.ports.iter().any(|p| p.gateway == Some(ip)) {
            return Err("the client side's gateway has that address");
        }
        match t.route(ip) {
            Some((p, _)) if p == port => Ok(()),
            _ => Err("the switch would not reach it through the VIP's port"),
        }
    }

    fn keep_if_reachable(&mut self, ip: Ipv4Addr, port: PortIdx) {
        if self.reachable(ip, port).is_ok() {
            self.placed.insert(ip, ip);
            self.used.insert(ip);
        }
    }

    fn why(&self, ip: Ipv4Addr, port: PortIdx) -> &'static str {
        self.reachable(ip, port).err().unwrap_or("")
    }

    /// The address captured client `ip` stands on.
    fn place(&mut self, ip: Ipv4Addr, port: PortIdx) -> Result<Ipv4Addr, String> {
        if let Some(&placed) = self.placed.get(&ip) {
            return Ok(placed);
        }
        let t = self.topology;
        let free = hosts_of(t, port)
            .find(|&a| !self.used.contains(&a) && !t.is_own_ip(a) && !t.is_vip(a) && !self.servers.contains(&a));
        let Some(free) = free else {
            return Err(format!(
                "client {ip} cannot be reached through port {} and its subnet has no free address to stand on",
                t.ports[port].name
            ));
        };
        self.placed.insert(ip, free);
        self.used.insert(free);
        Ok(free)
    }
}

/// Which client endpoint talks to which VIP until when.
#[derive(Default)]
struct Tuples {
    last_use: FxHashMap<(SocketAddrV4, SocketAddrV4), Instant>,
}

impl Tuples {
    /// A client port for `ip` towards `vip` from `first` to `last`: `port` unless another
    /// conversation holds that tuple then.
    fn take(&mut self, ip: Ipv4Addr, port: u16, vip: SocketAddrV4, first: Instant, last: Instant) -> u16 {
        let mut candidate = port;
        for _ in 0..=u16::MAX {
            match self.last_use.entry((SocketAddrV4::new(ip, candidate), vip)) {
                Entry::Vacant(e) => {
                    e.insert(last);
                    return candidate;
                }
                Entry::Occupied(mut e) if *e.get() < first => {
                    e.insert(last);
                    return candidate;
                }
                Entry::Occupied(_) => candidate = candidate.checked_add(1).unwrap_or(1024),
            }
        }
        port
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::config::Config;
    use crate::engine::hash::Secrets;
    use crate::reenact::capture::{scan_reader, Limits};

    fn two_arm() -> Config {
        Config::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/two-arm.toml")).unwrap()
    }

    /// A capture of SYNs from `clients` (ip:port, server ip:port, time in ms).
    fn syns(conversations: &[(&str, &str, u64)]) -> Scan {
        let frames: Vec<(std::time::Duration, Vec<u8>)> = conversations
            .iter()
            .map(|(c, s, ms)| {
                let (c, s): (SocketAddrV4, SocketAddrV4) = (c.parse().unwrap(), s.parse().unwrap());
                let seg = crate::craft::Segment {
                    src_port: c.port(),
                    dst_port: s.port(),
                    seq: 1,
                    flags: crate::wire::tcp::flags::SYN,
                    window: 1000,
                    ..Default::default()
                };
                let frame = crate::craft::tcp_frame(
                    crate::wire::MacAddr([2, 0, 0, 0, 0, 1]),
                    crate::wire::MacAddr([2, 0, 0, 0, 0, 2]),
                    *c.ip(),
                    *s.ip(),
                    &seg,
                );
                (std::time::Duration::from_millis(*ms), frame)
            })
            .collect();
        let mut bytes = Vec::new();
        let mut w = pcap_file::pcap::PcapWriter::new(&mut bytes).unwrap();
        for (t, f) in &frames {
            w.write_packet(&pcap_file::pcap::PcapPacket::new(*t, f.len() as u32, f)).unwrap();
        }
        w.into_writer();
        scan_reader(&bytes[..], Limits::default()).unwrap()
    }

    fn casts(scan: &Scan, map: &[&str]) -> (Vec<Casting>, Topology) {
        let config = two_arm();
        let mut topology = config.topology(&config.configured_macs());
        let services = config.services(Secrets::from_seed(0));
        let map = VipMap::new(map.iter().map(|m| m.parse().unwrap()).collect());
        (cast(scan, &map, &mut topology, &services).unwrap(), topology)
    }

    fn client(c: &Casting) -> String {
        match c {
            Casting::Cast(c) => c.client.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn clients_keep_their_address_where_the_switch_reaches_them_and_stand_in_elsewhere() {
        let scan = syns(&[
            ("10.1.2.3:40000", "10.9.9.9:80", 0),     // off every subnet: through the gateway
            ("198.18.0.7:40001", "10.9.9.9:80", 1),   // on the client side: kept
            ("198.18.1.1:1024", "198.18.1.10:80", 2), // the switch's own (a capture at a server)
            ("198.18.1.2:1024", "198.18.1.11:80", 3),
            ("198.18.1.1:1025", "198.18.1.12:80", 4),
            ("10.1.2.3:40002", "10.9.9.9:443", 5), // not mapped
        ]);
        let (castings, topology) = casts(&scan, &["*:80=198.18.0.100:80"]);
        let got: Vec<String> = castings.iter().map(client).collect();
        assert_eq!(
            got,
            ["10.1.2.3:40000", "198.18.0.7:40001", "198.18.0.2:1024", "198.18.0.3:1024", "198.18.0.2:1025", "Unmapped"]
        );
        assert_eq!(topology.ports[0].gateway, Some(Ipv4Addr::new(198, 18, 0, 254)));
        let Casting::Cast(c) = &castings[2] else { panic!() };
        assert_eq!((c.vip.to_string(), c.port), ("198.18.0.100:80".to_string(), 0));
        assert_eq!(c.notes, ["client 198.18.1.1 stands as 198.18.0.2: the switch owns that address"]);
    }

    #[test]
    fn one_client_endpoint_to_two_servers_mapped_to_one_vip_at_once_gets_another_port() {
        // At the same time: each SYN is a conversation still going on when the next starts.
        let scan = syns(&[
            ("10.1.2.3:40000", "10.9.9.1:80", 0),
            ("10.1.2.3:40000", "10.9.9.2:80", 0),
            ("10.1.2.3:40001", "10.9.9.2:80", 0),
        ]);
        let (castings, _) = casts(&scan, &["*:80=198.18.0.100:80"]);
        let got: Vec<String> = castings.iter().map(client).collect();
        assert_eq!(got, ["10.1.2.3:40000", "10.1.2.3:40001", "10.1.2.3:40002"]);
    }

    #[test]
    fn a_map_the_config_cannot_honour_is_an_error_naming_it() {
        let scan = syns(&[]);
        let config = two_arm();
        let topology = config.topology(&config.configured_macs());
        let services = config.services(Secrets::from_seed(0));
        let err = |m: &str| cast(&scan, &VipMap::new(vec![m.parse().unwrap()]), &mut topology.clone(), &services);
        assert_eq!(
            err("*:80=198.18.0.100:90").unwrap_err().to_string(),
            "--vip-map *:80=198.18.0.100:90: the config serves no TCP port 198.18.0.100:90"
        );
        assert!(err("*:80=198.18.0.101:80").unwrap_err().to_string().contains("direct-server-return"));
        assert!(err("*:80=198.18.0.100:81").is_ok());
    }
}
