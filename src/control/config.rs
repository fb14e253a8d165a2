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
    /// Seed for every random choice the switch makes.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub dpdk: DpdkConfig,
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
}

/// A virtual IP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipConfig {
    pub name: Spanned<String>,
    pub ip: Spanned<Ipv4Addr>,
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
        let _ = writeln!(s, "workers: {}   seed: {}", self.workers.get_ref(), self.seed);
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
            s.push('\n');
        }
        for v in &self.vips {
            let _ = writeln!(s, "vip `{}`: {}", v.name.get_ref(), v.ip.get_ref());
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
