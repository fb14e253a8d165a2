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
use crate::engine::service::{
    server_views, L7Policy, NatMode, Protocol, RealServer, Rule, RuleKind, Service, Services, StickyPolicy, SynCookies,
};
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
    /// Worker threads (data cores), or `"auto"` (`runtime::auto`). Each owns one rx/tx
    /// queue pair on every port.
    #[serde(default = "one_worker")]
    pub workers: Spanned<Workers>,
    /// What a worker does when its queues are empty (`runtime::worker::IdleBackoff`).
    #[serde(default)]
    pub idle: Idle,
    /// The workers' nice value (-20 to 19), or the switch's own when absent. On a box whose
    /// cores the switch shares with other programs, a worker below their nice value gets
    /// its core as soon as frames wait, as a kernel balancer's data path (softirq) does:
    /// -10 weighs about nine times a nice-0 program's (the kernel's weights 9548 and 1024).
    /// Lowering it needs CAP_SYS_NICE; without, the switch warns and runs at its own.
    #[serde(default)]
    pub worker_nice: Option<Spanned<i32>>,
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
    pub admin: Option<Spanned<AdminConfig>>,
    /// Prometheus metrics over HTTP; off when absent.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// Health checks of every real server (each may override any key in its own
    /// `[real_server.health]`); no checks when absent.
    #[serde(default)]
    pub health: Option<Spanned<HealthConfig>>,
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

/// A health check's settings. Every key is optional: a server's own settings take
/// precedence over `[health]`'s, which take precedence over the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// `http` (a request, judged on its status and body), `tcp` (the handshake) or `none`.
    #[serde(default)]
    pub check: Option<CheckKind>,
    /// The port checked; the server's own by default.
    #[serde(default)]
    pub port: Option<u16>,
    /// Seconds from one check's start to the next (default 2).
    #[serde(default)]
    pub interval: Option<f64>,
    /// Seconds a check may take (default half the interval).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Passes in a row that bring a down server up (default 2).
    #[serde(default)]
    pub rise: Option<u32>,
    /// Failures in a row that take an up server down (default 3).
    #[serde(default)]
    pub fall: Option<u32>,
    /// HTTP: the method (default GET), path (default `/`), `Host` (default the server's
    /// address), accepted status codes (default 200), a string the body must hold, and how
    /// much of the response is read at most (default 64 KiB).
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub expect_status: Option<Vec<u16>>,
    #[serde(default)]
    pub expect_body: Option<String>,
    #[serde(default)]
    pub max_response: Option<usize>,
    /// Seconds over which a server that comes back up (or is enabled) ramps up to its full
    /// share of new connections (ServerIron's slow start); 0, the default, for none.
    #[serde(default)]
    pub slow_start: Option<f64>,
    /// What happens to the flows of a server that goes down: `reset` (the default: a client
    /// frame is answered with RST, so the client reconnects at once) or `keep`.
    #[serde(default)]
    pub down_flows: Option<DownFlows>,
}

/// The kinds of health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Http,
    Tcp,
    None,
}

/// What becomes of a down server's flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownFlows {
    #[default]
    Reset,
    Keep,
}

/// One server's health settings, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerHealthConfig {
    /// `None`: not checked (always up).
    pub check: Option<(crate::health::Check, u16, crate::health::Timing)>,
    pub slow_start: std::time::Duration,
    pub down_flows: DownFlows,
}

/// Where the admin API listens: a TCP address, a Unix socket, or both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// A TCP address, e.g. `127.0.0.1:9900`.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// A Unix socket's path, e.g. `/run/stickwire/admin.sock`.
    #[serde(default)]
    pub socket: Option<Spanned<PathBuf>>,
    /// The socket file's mode, in octal (HAProxy's `mode 660`): who may run the switch.
    #[serde(default = "default_socket_mode")]
    pub socket_mode: Spanned<String>,
}

fn default_socket_mode() -> Spanned<String> {
    Spanned::new(0..0, "600".into())
}

impl AdminConfig {
    /// The socket's mode bits (validated).
    pub fn mode(&self) -> u32 {
        u32::from_str_radix(self.socket_mode.get_ref(), 8).unwrap_or(0o600)
    }
}

/// The Prometheus endpoint: `GET /metrics` on this address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
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
    /// Request heads each worker collects at once on L7 ports (each a buffer of the port's
    /// `head_limit`); a connection that finds none free is reset and counted.
    #[serde(default = "default_head_buffers")]
    pub head_buffers: Spanned<usize>,
    /// Half-open connections per worker past which L7 ports with `syn_cookies = "auto"`
    /// answer SYNs with SYN cookies instead of keeping state.
    #[serde(default = "default_syn_cookie_threshold")]
    pub syn_cookie_threshold: usize,
}

impl Default for TablesConfig {
    fn default() -> Self {
        TablesConfig {
            flows: default_flows(),
            sticky: 65536,
            maglev: default_maglev(),
            head_buffers: default_head_buffers(),
            syn_cookie_threshold: default_syn_cookie_threshold(),
        }
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
fn default_head_buffers() -> Spanned<usize> {
    Spanned::new(0..0, 4096)
}
fn default_syn_cookie_threshold() -> usize {
    1024
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
    /// `l4` (switching on addresses and ports) or `l7` (the switch answers the handshake,
    /// reads the request head, picks the server by its rules, splices the connections).
    #[serde(default)]
    pub mode: PortMode,
    /// `full` (source and destination rewritten), `gateway` (destination only; servers route
    /// back through the switch) or `dsr` (MAC only; servers hold the VIP on loopback).
    /// Needed on l4 ports; an l7 port is always `full`.
    #[serde(default)]
    pub nat: Option<Spanned<NatMode>>,
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
    /// L7: how a request picks its server, first match wins (`[[vip.port.rule]]`); the
    /// predictor (and source-IP stickiness) decides when none does.
    #[serde(rename = "rule", default)]
    pub rules: Vec<RuleConfig>,
    /// L7: the largest request head the switch reads before it picks a server; a longer one
    /// is reset and counted.
    #[serde(default = "default_head_limit")]
    pub head_limit: Spanned<usize>,
    /// `auto` (SYN cookies once `tables.syn_cookie_threshold` connections are half open),
    /// `always` or `never`. On an L4 port the switch then proxies the handshake (full and
    /// gateway NAT; DSR cannot: the switch never sees the server's side).
    #[serde(default = "default_syn_cookies")]
    pub syn_cookies: Spanned<SynCookies>,
}

/// The switching mode of a VIP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortMode {
    #[default]
    L4,
    L7,
}

/// One affinity rule of an L7 port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What the rule looks at: `server-id`, `jvm-route`, `learned-cookie`, `insert-cookie`.
    #[serde(rename = "match")]
    pub kind: Spanned<RuleKind>,
    /// The cookie's name: `ServerID` for `server-id` and `insert-cookie`, `JSESSIONID` for
    /// `jvm-route`; `learned-cookie` needs one.
    #[serde(default)]
    pub cookie: Option<Spanned<String>>,
}

fn default_syn_cookies() -> Spanned<SynCookies> {
    Spanned::new(0..0, SynCookies::Auto)
}

fn default_head_limit() -> Spanned<usize> {
    Spanned::new(0..0, 8192)
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
    /// The value a server-id cookie names this server by; its name by default.
    #[serde(default)]
    pub server_id: Option<Spanned<String>>,
    /// Tomcat's `jvmRoute` of this server: the suffix after the last `.` of the session ids
    /// it issues.
    #[serde(default)]
    pub jvm_route: Option<Spanned<String>>,
    /// Replication domain (mod_jk `domain`): servers that hold each other's sessions. When
    /// this server is down, clients bound to it (by cookie or source IP) go to an up server
    /// of its domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// This server's health check, over the `[health]` defaults.
    #[serde(default)]
    pub health: Option<Spanned<HealthConfig>>,
}

impl RuleConfig {
    /// The rule as the engine applies it, its cookie name filled in.
    pub fn rule(&self) -> Rule {
        let kind = *self.kind.get_ref();
        let cookie = match &self.cookie {
            Some(name) => name.get_ref().clone(),
            None => kind.default_cookie().unwrap_or_default().to_string(),
        };
        Rule { kind, cookie }
    }
}

impl RealServerConfig {
    /// The server as the engine sees it, in the state the config gives.
    pub fn real_server(&self) -> RealServer {
        RealServer {
            name: self.name.get_ref().clone(),
            ip: *self.ip.get_ref(),
            port: self.port,
            weight: *self.weight.get_ref(),
            max_connections: self.max_connections,
            state: self.state,
            server_id: self.server_id().to_string(),
            jvm_route: self.jvm_route.as_ref().map(|j| j.get_ref().clone()),
            domain: self.domain.clone(),
            reset_on_down: true,
            ramp: crate::engine::predictor::RAMP_FULL,
        }
    }

    /// The value a server-id cookie names this server by.
    pub fn server_id(&self) -> &str {
        self.server_id.as_ref().map_or(self.name.get_ref(), |id| id.get_ref())
    }
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

/// What a worker does when its queues come back empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Idle {
    /// Back off into short sleeps: for a box whose cores the switch shares with others
    /// (clients and servers on a test box, the OS on a small one).
    #[default]
    Sleep,
    /// Never sleep: DPDK's busy poll, for workers that have their cores to themselves. A
    /// sleeping core answers late when traffic comes back (its wake-up, on a VM the
    /// hypervisor's too); a polling one does not.
    Poll,
}

/// How many workers a config asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WorkersText")]
pub enum Workers {
    /// What is fastest on the box it runs on (`runtime::auto`).
    Auto,
    Count(usize),
}

/// `workers` as written: a number or `"auto"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum WorkersText {
    Count(usize),
    Name(String),
}

impl TryFrom<WorkersText> for Workers {
    type Error = String;
    fn try_from(text: WorkersText) -> Result<Workers, String> {
        match text {
            WorkersText::Count(n) => Ok(Workers::Count(n)),
            WorkersText::Name(name) if name == "auto" => Ok(Workers::Auto),
            WorkersText::Name(name) => Err(format!("`{name}` is neither a number nor \"auto\"")),
        }
    }
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workers::Auto => f.write_str("auto"),
            Workers::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Workers {
    /// The count, `auto` resolved by `auto` (called only then).
    pub fn resolve(self, auto: impl FnOnce() -> usize) -> usize {
        match self {
            Workers::Auto => auto(),
            Workers::Count(n) => n,
        }
    }
}

fn one_worker() -> Spanned<Workers> {
    Spanned::new(0..0, Workers::Count(1))
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
        validate::Checker::new(self, text).all()
    }

    /// The VIP ports and real servers, each port with its predictor (and Maglev table) built,
    /// keyed by `secrets`: the first service snapshot.
    pub fn services(&self, secrets: Secrets) -> Services {
        let servers: Vec<RealServer> = self.real_servers.iter().map(|r| self.real_server(r)).collect();
        let mut services = Vec::new();
        for vip in &self.vips {
            for p in &vip.ports {
                let ids: Vec<u16> = self
                    .real_servers
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| self.serves(p, r))
                    .map(|(i, _)| i as u16)
                    .collect();
                services.push(self.service(vip, p, ids, &servers, &secrets));
            }
        }
        Services {
            services,
            servers,
            flow_capacity: *self.tables.flows.get_ref(),
            sticky_capacity: self.tables.sticky,
            secrets,
            head_buffers: *self.tables.head_buffers.get_ref(),
            syn_cookie_threshold: self.tables.syn_cookie_threshold,
        }
    }

    /// VIP port `p` of `vip` over the servers `ids` (indices into `servers`), its predictor
    /// built.
    pub fn service(
        &self,
        vip: &VipConfig,
        p: &VipPortConfig,
        ids: Vec<u16>,
        servers: &[RealServer],
        secrets: &Secrets,
    ) -> Service {
        let views = server_views(servers, &ids);
        // Validated at load: the table size fits the servers and ids are distinct.
        let predictor = Predictor::new(p.predictor, &views, *self.tables.maglev.get_ref(), secrets.maglev)
            .expect("validated predictor config");
        Service {
            name: format!("{}:{}/{}", vip.name.get_ref(), p.port.get_ref(), p.protocol.name()),
            vip: *vip.ip.get_ref(),
            port: *p.port.get_ref(),
            proto: p.protocol.number(),
            nat: p.nat.as_ref().map_or(NatMode::Full, |n| *n.get_ref()),
            sticky: p.sticky.then(|| StickyPolicy {
                age: std::time::Duration::from_secs(p.sticky_age),
                prefix_len: *p.sticky_prefix_len.get_ref(),
            }),
            servers: ids,
            predictor,
            l7: (p.mode == PortMode::L7).then(|| L7Policy {
                rules: p.rules.iter().map(RuleConfig::rule).collect(),
                head_limit: *p.head_limit.get_ref(),
            }),
            // DSR cannot splice (validation refuses `always` there): never.
            syn_cookies: match p.nat.as_ref().map(|n| *n.get_ref()) {
                Some(NatMode::Dsr) => SynCookies::Never,
                _ => *p.syn_cookies.get_ref(),
            },
        }
    }

    /// Real server `r` as the engine sees it: as the config says, its health settings in.
    pub fn real_server(&self, r: &RealServerConfig) -> RealServer {
        let mut s = r.real_server();
        s.reset_on_down = self.server_health(r).down_flows == DownFlows::Reset;
        s
    }

    /// Whether VIP port `p` spreads over real server `r`.
    pub fn serves(&self, p: &VipPortConfig, r: &RealServerConfig) -> bool {
        match &p.servers {
            Some(names) => names.get_ref().iter().any(|n| n == r.name.get_ref()),
            None => true,
        }
    }

    /// Real server `r`'s health settings: its own, then `[health]`'s, then the defaults.
    /// Numbers that cannot make a duration read as zero (validation refuses them).
    pub fn server_health(&self, r: &RealServerConfig) -> ServerHealthConfig {
        let empty = HealthConfig::default();
        let own = r.health.as_ref().map_or(&empty, |h| h.get_ref());
        let all = self.health.as_ref().map_or(&empty, |h| h.get_ref());
        macro_rules! pick {
            ($field:ident) => {
                own.$field.clone().or_else(|| all.$field.clone())
            };
        }
        let secs = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or_default();
        let defaults = crate::health::Timing::default();
        let interval = pick!(interval).map_or(defaults.interval, secs);
        let timing = crate::health::Timing {
            interval,
            timeout: pick!(timeout).map_or(interval / 2, secs),
            rise: pick!(rise).unwrap_or(defaults.rise),
            fall: pick!(fall).unwrap_or(defaults.fall),
        };
        let kind = pick!(check).unwrap_or(if self.health.is_some() || r.health.is_some() {
            CheckKind::Http
        } else {
            CheckKind::None
        });
        let check = match kind {
            CheckKind::None => None,
            CheckKind::Tcp => Some(crate::health::Check::Tcp),
            CheckKind::Http => {
                let base = crate::health::HttpCheck::default();
                Some(crate::health::Check::Http(crate::health::HttpCheck {
                    method: pick!(method).unwrap_or(base.method),
                    path: pick!(path).unwrap_or(base.path),
                    host: pick!(host),
                    expect_status: pick!(expect_status).unwrap_or(base.expect_status),
                    expect_body: pick!(expect_body),
                    max_response: pick!(max_response).unwrap_or(base.max_response),
                }))
            }
        };
        ServerHealthConfig {
            check: check.map(|c| (c, pick!(port).unwrap_or(r.port), timing)),
            slow_start: pick!(slow_start).map_or(std::time::Duration::ZERO, secs),
            down_flows: pick!(down_flows).unwrap_or_default(),
        }
    }

    /// The real servers a VIP port spreads over.
    pub fn service_servers<'a>(&'a self, p: &'a VipPortConfig) -> impl Iterator<Item = &'a RealServerConfig> + 'a {
        self.real_servers.iter().filter(move |r| self.serves(p, r))
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
                let nat = p.nat.as_ref().map_or(NatMode::Full, |n| *n.get_ref());
                let mode = if p.mode == PortMode::L7 { "l7" } else { "l4" };
                let _ = write!(
                    s,
                    "  port {}/{}: {mode}, {nat:?} NAT, {} over {}",
                    p.port.get_ref(),
                    p.protocol.name(),
                    p.predictor,
                    servers.join(", ")
                );
                if p.sticky {
                    let _ = write!(s, ", sticky /{} for {} s", p.sticky_prefix_len.get_ref(), p.sticky_age);
                }
                if p.mode == PortMode::L7 {
                    let rules: Vec<String> = p
                        .rules
                        .iter()
                        .map(RuleConfig::rule)
                        .map(|r| format!("{} {}", r.kind.name(), r.cookie))
                        .collect();
                    let _ = write!(s, "; rules: {}", if rules.is_empty() { "none".into() } else { rules.join(", ") });
                    let _ = write!(s, "; heads up to {} bytes", p.head_limit.get_ref());
                }
                if p.nat.as_ref().map(|n| *n.get_ref()) != Some(NatMode::Dsr) && p.protocol == Protocol::Tcp {
                    let _ = write!(s, "; SYN cookies {:?}", p.syn_cookies.get_ref());
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
mod validate;
