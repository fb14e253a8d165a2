//! The configuration file: one TOML document, validated at load.
//!
//! Every error names the file, the line, the key and the reason, and unknown keys are
//! errors, so a typo never silently falls back to a default.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::engine::hash::Secrets;
use crate::engine::predictor::{Predictor, PredictorKind, ServerState, DEFAULT_TABLE_SIZE};
use crate::engine::service::{server_views, NatMode, Protocol, RealServer, Service, Services, StickyPolicy};
use crate::engine::{PortAddr, StaticNeighbour, Topology, Vip};
use crate::wire::MacAddr;

/// A configuration error a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
        }
        if let Some(line) = self.line {
            write!(f, "{line}:")?;
        }
        if !self.key.is_empty() {
            write!(f, " {}:", self.key)?;
        }
        write!(f, " {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration, as validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Worker threads (data cores). Each owns one rx/tx queue pair on every port.
    #[serde(default = "one")]
    pub workers: Spanned<usize>,
    /// Fixes the switch's secrets (hash keys, SYN cookies, sequence numbers) for output that
    /// must be reproducible: `replay` uses it (0 when absent); `run` draws them from the
    /// operating system unless it is set, and then warns.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub dpdk: DpdkConfig,
    #[serde(default)]
    pub tables: TablesConfig,
    /// The admin API (`stickwire admin`), on the management network; off when absent.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    #[serde(rename = "port", default)]
    pub ports: Vec<PortConfig>,
    #[serde(rename = "vip", default)]
    pub vips: Vec<VipConfig>,
    #[serde(rename = "real_server", default)]
    pub real_servers: Vec<RealServerConfig>,
    #[serde(rename = "neighbour", default)]
    pub neighbours: Vec<NeighbourConfig>,
}

/// DPDK settings: EAL arguments and buffer sizing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpdkConfig {
    /// EAL arguments given before those on the command line after `--`.
    #[serde(default)]
    pub eal_args: Vec<String>,
    /// Mbufs in the packet pool.
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// Descriptors per rx and per tx queue.
    #[serde(default = "default_descriptors")]
    pub descriptors: u16,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig { eal_args: Vec::new(), mbufs: default_mbufs(), descriptors: default_descriptors() }
    }
}

/// Where the admin API listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// A TCP address, e.g. `127.0.0.1:9900`.
    pub listen: std::net::SocketAddr,
}

/// Table sizes, per worker: fixed at start, never grown on the packet path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesConfig {
    /// Flows each worker tracks at most; beyond it new flows are refused with RST.
    #[serde(default = "default_flows")]
    pub flows: Spanned<usize>,
    /// Sticky bindings each worker keeps at most.
    #[serde(default = "default_sticky")]
    pub sticky: usize,
    /// Maglev lookup table size (a prime, at least 100 per real server).
    #[serde(default = "default_maglev")]
    pub maglev: Spanned<usize>,
}

impl Default for TablesConfig {
    fn default() -> Self {
        TablesConfig { flows: default_flows(), sticky: 65536, maglev: default_maglev() }
    }
}

fn default_flows() -> Spanned<usize> {
    Spanned::new(0..0, 1 << 20)
}
fn default_sticky() -> usize {
    65536
}
fn default_maglev() -> Spanned<usize> {
    Spanned::new(0..0, DEFAULT_TABLE_SIZE)
}

/// One of the switch's ports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    pub name: Spanned<String>,
    /// A DPDK device: a vdev string (`net_af_packet0,iface=l0`) or a PCI address. Needed by
    /// `run`; `replay` does not use it.
    #[serde(default)]
    pub device: Option<String>,
    /// The switch's own address on this port, with its prefix (`198.18.0.1/24`).
    pub ip: Spanned<IpWithPrefix>,
    /// The port's MAC address; by default the device's (`run`) or 02:53:57:00:00:NN (`replay`).
    #[serde(default)]
    pub mac: Option<Spanned<ParsedMac>>,
    /// Next hop for destinations off every port's subnet.
    #[serde(default)]
    pub gateway: Option<Spanned<Ipv4Addr>>,
    /// More addresses on the port's subnet for full NAT to use as sources towards servers
    /// (LVS's local addresses): each adds about 64 K local ports per real server. The switch
    /// answers ARP for them.
    #[serde(default)]
    pub local_addresses: Vec<Spanned<Ipv4Addr>>,
}

/// A virtual IP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipConfig {
    pub name: Spanned<String>,
    pub ip: Spanned<Ipv4Addr>,
    /// The ports served on this VIP (`[[vip.port]]`); any other port is refused with RST.
    #[serde(rename = "port", default)]
    pub ports: Vec<VipPortConfig>,
}

/// A served port of a VIP: how new flows are spread and how frames are rewritten.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipPortConfig {
    pub port: Spanned<u16>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Only `l4` so far: switching on addresses and ports.
    #[serde(default)]
    pub mode: L4Mode,
    /// `full` (source and destination rewritten), `gateway` (destination only; servers route
    /// back through the switch) or `dsr` (MAC only; servers hold the VIP on loopback).
    pub nat: Spanned<NatMode>,
    #[serde(default)]
    pub predictor: PredictorKind,
    /// Keep a client (prefix) on its server for `sticky_age` after its last flow ends.
    #[serde(default)]
    pub sticky: bool,
    /// Seconds.
    #[serde(default = "default_sticky_age")]
    pub sticky_age: u64,
    /// Clients sharing this prefix share their server (ServerIron's client subnet).
    #[serde(default = "default_prefix")]
    pub sticky_prefix_len: Spanned<u8>,
    /// Real servers by name; all of them by default.
    #[serde(default)]
    pub servers: Option<Spanned<Vec<String>>>,
}

/// The switching mode of a VIP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4Mode {
    #[default]
    L4,
}

fn default_sticky_age() -> u64 {
    300
}
fn default_prefix() -> Spanned<u8> {
    Spanned::new(0..0, 32)
}

/// A real server behind the switch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServerConfig {
    pub name: Spanned<String>,
    pub ip: Spanned<Ipv4Addr>,
    pub port: u16,
    #[serde(default = "one_u32")]
    pub weight: Spanned<u32>,
    /// Connections this server takes at most (all workers together); none by default.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// `enabled`, `disabled` (draining: keeps its flows, gets no new ones) or `down`.
    #[serde(default)]
    pub state: ServerState,
    /// The value a server-id cookie names this server by (later issues); its name by default.
    #[serde(default)]
    pub server_id: Option<String>,
    /// Tomcat's `jvmRoute` of this server (later issues).
    #[serde(default)]
    pub jvm_route: Option<String>,
    /// Replication domain (mod_jk `domain`) for failover (later issues).
    #[serde(default)]
    pub domain: Option<String>,
}

/// A neighbour with a fixed MAC address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourConfig {
    /// The name of the port it is on.
    pub port: Spanned<String>,
    pub ip: Spanned<Ipv4Addr>,
    pub mac: ParsedMac,
}

/// `a.b.c.d/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpWithPrefix {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
}

impl FromStr for IpWithPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, len) = s.split_once('/').ok_or_else(|| format!("`{s}` needs a prefix length, as in 198.18.0.1/24"))?;
        let ip = ip.parse().map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix_len = match len.parse::<u8>() {
            Ok(n) if (1..=32).contains(&n) => n,
            _ => return Err(format!("prefix length `{len}` is not between 1 and 32")),
        };
        Ok(IpWithPrefix { ip, prefix_len })
    }
}

impl<'de> Deserialize<'de> for IpWithPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A MAC address read from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedMac(pub MacAddr);

impl<'de> Deserialize<'de> for ParsedMac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<MacAddr>()
            .map(ParsedMac)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a MAC address (aa:bb:cc:dd:ee:ff)")))
    }
}

fn one() -> Spanned<usize> {
    Spanned::new(0..0, 1)
}
fn one_u32() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn default_mbufs() -> u32 {
    8191
}
fn default_descriptors() -> u16 {
    1024
}

/// The most workers a config may ask for.
pub const MAX_WORKERS: usize = 64;

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            line: None,
            key: String::new(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Config::parse(&text).map_err(|e| ConfigError { file: Some(path.to_owned()), ..e })
    }

    /// Parses and validates a config from its text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            // Spanned values add a private segment to the path: users know the key without it.
            let key = e.path().to_string().replace(".$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            ConfigError {
                file: None,
                line: inner.span().map(|s| line_of(text, s.start)),
                key: if key == "." { String::new() } else { key },
                reason: inner.message().to_string(),
            }
        })?;
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, key: String, reason: String| ConfigError {
            file: None,
            line: (span.end > 0).then(|| line_of(text, span.start)),
            key,
            reason,
        };
        let workers = *self.workers.get_ref();
        if workers == 0 || workers > MAX_WORKERS {
            return Err(err(
                self.workers.span(),
                "workers".into(),
                format!("must be between 1 and {MAX_WORKERS}, not {workers}"),
            ));
        }
        if self.ports.is_empty() {
            return Err(err(0..0, "port".into(), "at least one [[port]] is needed".into()));
        }
        for (i, p) in self.ports.iter().enumerate() {
            if p.name.get_ref().is_empty() {
                return Err(err(p.name.span(), format!("port[{i}].name"), "must not be empty".into()));
            }
            if let Some(j) = self.ports[..i].iter().position(|q| q.name.get_ref() == p.name.get_ref()) {
                return Err(err(
                    p.name.span(),
                    format!("port[{i}].name"),
                    format!("`{}` is already the name of port[{j}]", p.name.get_ref()),
                ));
            }
            if let Some(j) = self.ports[..i].iter().position(|q| q.ip.get_ref().ip == p.ip.get_ref().ip) {
                return Err(err(
                    p.ip.span(),
                    format!("port[{i}].ip"),
                    format!("{} is already port[{j}]'s address", p.ip.get_ref().ip),
                ));
            }
            if let Some(mac) = &p.mac {
                if !mac.get_ref().0.is_unicast() {
                    return Err(err(mac.span(), format!("port[{i}].mac"), "must be a unicast address".into()));
                }
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            for (k, a) in p.local_addresses.iter().enumerate() {
                let ip = *a.get_ref();
                let key = format!("port[{i}].local_addresses[{k}]");
                if !on_link(p, ip) {
                    return Err(err(a.span(), key, format!("{ip} is not on the port's subnet")));
                }
                let taken = self.ports.iter().any(|q| q.ip.get_ref().ip == ip)
                    || self.vips.iter().any(|v| *v.ip.get_ref() == ip)
                    || self.ports.iter().enumerate().any(|(j, q)| {
                        q.local_addresses.iter().enumerate().any(|(l, b)| (j, l) < (i, k) && *b.get_ref() == ip)
                    });
                if taken {
                    return Err(err(a.span(), key, format!("{ip} is already a port's, a VIP's or a local address")));
                }
            }
        }
        for (i, v) in self.vips.iter().enumerate() {
            let ip = *v.ip.get_ref();
            if self.ports.iter().any(|p| p.ip.get_ref().ip == ip) {
                return Err(err(v.ip.span(), format!("vip[{i}].ip"), format!("{ip} is a port's own address")));
            }
            if let Some(j) =
                self.vips[..i].iter().position(|w| *w.ip.get_ref() == ip || w.name.get_ref() == v.name.get_ref())
            {
                return Err(err(v.ip.span(), format!("vip[{i}]"), format!("same name or address as vip[{j}]")));
            }
        }
        for (i, r) in self.real_servers.iter().enumerate() {
            if let Some(j) = self.real_servers[..i].iter().position(|s| s.name.get_ref() == r.name.get_ref()) {
                return Err(err(
                    r.name.span(),
                    format!("real_server[{i}].name"),
                    format!("`{}` is already the name of real_server[{j}]", r.name.get_ref()),
                ));
            }
            if !self.ports.iter().any(|p| on_link(p, *r.ip.get_ref()))
                && !self.ports.iter().any(|p| p.gateway.is_some())
            {
                return Err(err(
                    r.ip.span(),
                    format!("real_server[{i}].ip"),
                    format!("{} is on no port's subnet and no port has a gateway", r.ip.get_ref()),
                ));
            }
        }
        let flows = *self.tables.flows.get_ref();
        if !(2..=crate::engine::flow::MAX_CAPACITY).contains(&flows) {
            return Err(err(
                self.tables.flows.span(),
                "tables.flows".into(),
                format!("must be between 2 and {}", crate::engine::flow::MAX_CAPACITY),
            ));
        }
        if let Err(e) =
            crate::engine::maglev::validate_table_size(*self.tables.maglev.get_ref(), self.real_servers.len())
        {
            return Err(err(self.tables.maglev.span(), "tables.maglev".into(), e.to_string()));
        }
        let n_services: usize = self.vips.iter().map(|v| v.ports.len()).sum();
        if n_services > 255 {
            return Err(err(0..0, "vip.port".into(), format!("{n_services} VIP ports; at most 255 are served")));
        }
        if self.real_servers.len() > usize::from(u16::MAX) {
            return Err(err(0..0, "real_server".into(), "too many real servers".into()));
        }
        for (v, vip) in self.vips.iter().enumerate() {
            for (i, p) in vip.ports.iter().enumerate() {
                let key = |k: &str| format!("vip[{v}].port[{i}].{k}");
                if let Some(j) =
                    vip.ports[..i].iter().position(|q| q.port.get_ref() == p.port.get_ref() && q.protocol == p.protocol)
                {
                    return Err(err(
                        p.port.span(),
                        key("port"),
                        format!("{} is already served by vip[{v}].port[{j}]", p.port.get_ref()),
                    ));
                }
                let len = *p.sticky_prefix_len.get_ref();
                if !(1..=32).contains(&len) {
                    return Err(err(
                        p.sticky_prefix_len.span(),
                        key("sticky_prefix_len"),
                        format!("must be between 1 and 32, not {len}"),
                    ));
                }
                if self.real_servers.is_empty() {
                    return Err(err(p.port.span(), key("port"), "no [[real_server]] to serve it".into()));
                }
                if let Some(names) = &p.servers {
                    if names.get_ref().is_empty() {
                        return Err(err(names.span(), key("servers"), "must name at least one real server".into()));
                    }
                    for name in names.get_ref() {
                        if !self.real_servers.iter().any(|r| r.name.get_ref() == name) {
                            return Err(err(names.span(), key("servers"), format!("no real server is named `{name}`")));
                        }
                    }
                }
                if *p.nat.get_ref() == NatMode::Dsr {
                    let bad = self.service_servers(p).find(|r| r.port != *p.port.get_ref());
                    if let Some(r) = bad {
                        return Err(err(
                            p.nat.span(),
                            key("nat"),
                            format!(
                                "dsr cannot change the port: real server `{}` listens on {}, the VIP port is {}",
                                r.name.get_ref(),
                                r.port,
                                p.port.get_ref()
                            ),
                        ));
                    }
                }
                if *p.nat.get_ref() == NatMode::Full {
                    let unroutable =
                        self.service_servers(p).find(|r| !self.ports.iter().any(|port| on_link(port, *r.ip.get_ref())));
                    if let Some(r) = unroutable {
                        return Err(err(p.nat.span(), key("nat"), format!("full NAT needs real server `{}` on a port's subnet (the switch's address there is the source towards it)", r.name.get_ref())));
                    }
                }
            }
        }
        for (i, n) in self.neighbours.iter().enumerate() {
            let Some(port) = self.ports.iter().find(|p| p.name.get_ref() == n.port.get_ref()) else {
                return Err(err(
                    n.port.span(),
                    format!("neighbour[{i}].port"),
                    format!("no port is named `{}`", n.port.get_ref()),
                ));
            };
            if !on_link(port, *n.ip.get_ref()) {
                return Err(err(
                    n.ip.span(),
                    format!("neighbour[{i}].ip"),
                    format!("{} is not on port `{}`'s subnet", n.ip.get_ref(), n.port.get_ref()),
                ));
            }
        }
        Ok(())
    }

    /// The VIP ports and real servers, with a fresh predictor per port (one per worker), keyed
    /// by `secrets`.
    pub fn services(&self, secrets: Secrets) -> Services {
        let servers: Vec<RealServer> = self
            .real_servers
            .iter()
            .map(|r| RealServer {
                name: r.name.get_ref().clone(),
                ip: *r.ip.get_ref(),
                port: r.port,
                weight: *r.weight.get_ref(),
                max_connections: r.max_connections,
                state: r.state,
            })
            .collect();
        let mut services = Vec::new();
        for vip in &self.vips {
            for p in &vip.ports {
                let ids: Vec<u16> = self
                    .real_servers
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| self.service_servers(p).any(|s| s.name.get_ref() == r.name.get_ref()))
                    .map(|(i, _)| i as u16)
                    .collect();
                let views = server_views(&servers, &ids);
                // Validated at load: the table size fits the servers and ids are distinct.
                let predictor = Predictor::new(p.predictor, &views, *self.tables.maglev.get_ref(), secrets.maglev)
                    .expect("validated predictor config");
                services.push(Service {
                    name: format!("{}:{}/{}", vip.name.get_ref(), p.port.get_ref(), p.protocol.name()),
                    vip: *vip.ip.get_ref(),
                    port: *p.port.get_ref(),
                    proto: p.protocol.number(),
                    nat: *p.nat.get_ref(),
                    sticky: p.sticky.then(|| StickyPolicy {
                        age: std::time::Duration::from_secs(p.sticky_age),
                        prefix_len: *p.sticky_prefix_len.get_ref(),
                    }),
                    servers: ids,
                    predictor,
                });
            }
        }
        Services {
            services,
            servers,
            flow_capacity: *self.tables.flows.get_ref(),
            sticky_capacity: self.tables.sticky,
            secrets,
        }
    }

    /// The real servers a VIP port spreads over.
    pub fn service_servers<'a>(&'a self, p: &'a VipPortConfig) -> impl Iterator<Item = &'a RealServerConfig> + 'a {
        self.real_servers.iter().filter(move |r| match &p.servers {
            Some(names) => names.get_ref().iter().any(|n| n == r.name.get_ref()),
            None => true,
        })
    }

    /// The MAC a port uses when the config does not give one and no device supplies one.
    pub fn default_mac(port: usize) -> MacAddr {
        MacAddr([0x02, 0x53, 0x57, 0x00, 0x00, (port + 1) as u8])
    }

    /// The engine's view of the addresses, given each port's MAC as finally chosen.
    pub fn topology(&self, macs: &[MacAddr]) -> Topology {
        let ports = self
            .ports
            .iter()
            .zip(macs)
            .map(|(p, mac)| PortAddr {
                name: p.name.get_ref().clone(),
                mac: *mac,
                ip: p.ip.get_ref().ip,
                prefix_len: p.ip.get_ref().prefix_len,
                gateway: p.gateway.as_ref().map(|g| *g.get_ref()),
                local_ips: p.local_addresses.iter().map(|a| *a.get_ref()).collect(),
            })
            .collect();
        let vips = self.vips.iter().map(|v| Vip { name: v.name.get_ref().clone(), ip: *v.ip.get_ref() }).collect();
        let static_neighbours = self
            .neighbours
            .iter()
            .filter_map(|n| {
                let port = self.ports.iter().position(|p| p.name.get_ref() == n.port.get_ref())?;
                Some(StaticNeighbour { port, ip: *n.ip.get_ref(), mac: n.mac.0 })
            })
            .collect();
        Topology { ports, vips, static_neighbours }
    }

    /// The port MACs from the config alone (for replay): configured, else the default.
    pub fn configured_macs(&self) -> Vec<MacAddr> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| p.mac.as_ref().map(|m| m.get_ref().0).unwrap_or_else(|| Config::default_mac(i)))
            .collect()
    }

    /// The index of the port named `name`.
    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name.get_ref() == name)
    }

    /// A readable summary of what the config says, for `stickwire check`.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let seed = self.seed.map_or("none (secrets from the OS)".to_string(), |s| s.to_string());
        let _ = writeln!(s, "workers: {}   seed: {seed}", self.workers.get_ref());
        if !self.dpdk.eal_args.is_empty() {
            let _ = writeln!(s, "dpdk: eal args {:?}", self.dpdk.eal_args);
        }
        let _ = writeln!(s, "dpdk: {} mbufs, {} descriptors per queue", self.dpdk.mbufs, self.dpdk.descriptors);
        for (i, p) in self.ports.iter().enumerate() {
            let ip = p.ip.get_ref();
            let mac = p.mac.as_ref().map(|m| m.get_ref().0.to_string()).unwrap_or_else(|| "from the device".into());
            let _ = write!(
                s,
                "port {i} `{}`: {}/{} mac {} device {}",
                p.name.get_ref(),
                ip.ip,
                ip.prefix_len,
                mac,
                p.device.as_deref().unwrap_or("(none: replay only)")
            );
            if let Some(gw) = &p.gateway {
                let _ = write!(s, " gateway {}", gw.get_ref());
            }
            if !p.local_addresses.is_empty() {
                let locals: Vec<String> = p.local_addresses.iter().map(|a| a.get_ref().to_string()).collect();
                let _ = write!(s, " local addresses {}", locals.join(", "));
            }
            s.push('\n');
        }
        for v in &self.vips {
            let _ = writeln!(s, "vip `{}`: {}", v.name.get_ref(), v.ip.get_ref());
            for p in &v.ports {
                let servers: Vec<&str> = self.service_servers(p).map(|r| r.name.get_ref().as_str()).collect();
                let _ = write!(
                    s,
                    "  port {}/{}: l4, {:?} NAT, {} over {}",
                    p.port.get_ref(),
                    p.protocol.name(),
                    p.nat.get_ref(),
                    p.predictor,
                    servers.join(", ")
                );
                if p.sticky {
                    let _ = write!(s, ", sticky /{} for {} s", p.sticky_prefix_len.get_ref(), p.sticky_age);
                }
                s.push('\n');
            }
        }
        for r in &self.real_servers {
            let _ = writeln!(
                s,
                "real server `{}`: {}:{} weight {}",
                r.name.get_ref(),
                r.ip.get_ref(),
                r.port,
                r.weight.get_ref()
            );
        }
        for n in &self.neighbours {
            let _ = writeln!(s, "static neighbour {} is {} on `{}`", n.ip.get_ref(), n.mac.0, n.port.get_ref());
        }
        s
    }
}

fn on_link(port: &PortConfig, ip: Ipv4Addr) -> bool {
    let p = port.ip.get_ref();
    let mask = crate::engine::topology::prefix_mask(p.prefix_len);
    u32::from(ip) & mask == u32::from(p.ip) & mask
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests;
