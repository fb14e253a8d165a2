//! What the switch serves: VIP ports and the real servers behind them, as one worker sees
//! them (its predictors carry per-core state).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Deserialize;

use super::hash::Secrets;
use super::predictor::{name_key, Predictor, ServerState, ServerView, RAMP_FULL};

/// How frames of a VIP port are rewritten towards the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatMode {
    /// Destination to the server, source to the switch's own address and a local port:
    /// replies come back to the switch whatever the servers' routes.
    Full,
    /// Destination only: the client's address reaches the server, which must route its
    /// replies through the switch.
    Gateway,
    /// Direct server return: only the destination MAC changes; the servers hold the VIP on
    /// loopback and answer the client directly.
    Dsr,
}

/// The transport protocol of a VIP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

/// Source-IP stickiness of a VIP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickyPolicy {
    /// How long a client keeps its server after its last flow ends.
    pub age: Duration,
    /// Clients sharing this prefix share their server.
    pub prefix_len: u8,
}

/// A real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub name: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
    pub max_connections: Option<u32>,
    pub state: ServerState,
    /// The value a server-id cookie names it by (its name unless configured).
    pub server_id: String,
    /// Tomcat's `jvmRoute`: the suffix of the session ids it issues.
    pub jvm_route: Option<String>,
    /// Its replication domain (mod_jk): servers that share each other's sessions.
    pub domain: Option<String>,
    /// When down, a client frame of one of its flows is answered with RST (else the flows
    /// are left alone: they end or time out).
    pub reset_on_down: bool,
    /// Slow start: the share of its new flows it takes (out of [`RAMP_FULL`]).
    pub ramp: u16,
}

impl RealServer {
    /// Down, with its flows to be reset.
    #[inline]
    pub fn resets_flows(&self) -> bool {
        self.state == ServerState::Down && self.reset_on_down
    }

    /// A server known by its name alone (no jvmRoute, no domain), enabled, weight 1.
    pub fn named(name: &str, ip: Ipv4Addr, port: u16) -> RealServer {
        RealServer {
            name: name.to_string(),
            ip,
            port,
            weight: 1,
            max_connections: None,
            state: ServerState::Enabled,
            server_id: name.to_string(),
            jvm_route: None,
            domain: None,
            reset_on_down: true,
            ramp: RAMP_FULL,
        }
    }
}

/// What an affinity rule of an L7 port looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// `Cookie: ServerID=rs2`: the cookie names the server by its server id (ServerIron
    /// cookie switching).
    ServerId,
    /// A session id ending in `.<jvmRoute>`, from the cookie or a `;jsessionid=` path
    /// parameter (mod_jk).
    JvmRoute,
    /// A cookie value the switch saw a server set, and remembered (passive persistence).
    LearnedCookie,
    /// The switch's own server-id cookie: read like `server-id`, and inserted into the
    /// first response when the request had no usable one.
    InsertCookie,
}

impl RuleKind {
    /// The name the config and the counters use.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::ServerId => "server-id",
            RuleKind::JvmRoute => "jvm-route",
            RuleKind::LearnedCookie => "learned-cookie",
            RuleKind::InsertCookie => "insert-cookie",
        }
    }

    /// The cookie a rule reads when the config names none.
    pub fn default_cookie(self) -> Option<&'static str> {
        match self {
            RuleKind::ServerId | RuleKind::InsertCookie => Some("ServerID"),
            RuleKind::JvmRoute => Some("JSESSIONID"),
            RuleKind::LearnedCookie => None,
        }
    }
}

/// One affinity rule of an L7 port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub cookie: String,
}

/// When an L7 port answers SYNs with SYN cookies instead of keeping state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynCookies {
    /// Once the worker's half-open connections pass the threshold (ServerIron SYN-Defense).
    #[default]
    Auto,
    Always,
    Never,
}

/// How an L7 port reads requests and picks their servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L7Policy {
    /// First match wins; the predictor decides when none does.
    pub rules: Vec<Rule>,
    /// The largest request head read before a server is picked.
    pub head_limit: usize,
}

impl L7Policy {
    /// The cookie the switch inserts into first responses, if it does.
    pub fn inserted_cookie(&self) -> Option<&str> {
        self.rules.iter().find(|r| r.kind == RuleKind::InsertCookie).map(|r| r.cookie.as_str())
    }
}

/// A served VIP port.
#[derive(Debug, Clone)]
pub struct Service {
    /// `vip-name:port/proto`, for counters.
    pub name: String,
    pub vip: Ipv4Addr,
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
    pub nat: NatMode,
    pub sticky: Option<StickyPolicy>,
    /// Indices into the real server list.
    pub servers: Vec<u16>,
    /// Chooses servers for new flows; its state (round-robin cursors) is this core's own.
    pub predictor: Predictor,
    /// L7 ports: the switch answers, reads the request head and splices.
    pub l7: Option<L7Policy>,
    /// When the switch answers this TCP port's SYNs itself with SYN cookies: on an L4 port
    /// (full or gateway NAT) it then proxies the handshake and splices like an L7 port
    /// with no head to read (DPVS's synproxy).
    pub syn_cookies: SynCookies,
}

impl Service {
    /// Whether the switch can answer this port's handshakes itself: TCP, and not DSR (the
    /// switch never sees the server's side of a DSR connection, so it could not splice it).
    pub fn can_proxy_handshakes(&self) -> bool {
        self.proto == 6 && self.nat != NatMode::Dsr && self.syn_cookies != SynCookies::Never
    }
}

/// Everything served, as built from the config.
#[derive(Debug, Clone)]
pub struct Services {
    pub services: Vec<Service>,
    pub servers: Vec<RealServer>,
    /// Flows each worker tracks at most.
    pub flow_capacity: usize,
    /// Sticky bindings each worker keeps at most.
    pub sticky_capacity: usize,
    /// The keys of the tables and hashes an outsider can aim at; the same on every core.
    pub secrets: Secrets,
    /// Request heads each worker collects at once on L7 ports.
    pub head_buffers: usize,
    /// Half-open connections per worker past which `auto` L7 ports answer with SYN cookies.
    pub syn_cookie_threshold: usize,
}

impl Default for Services {
    /// Nothing served; secrets from seed 0.
    fn default() -> Services {
        Services {
            services: Vec::new(),
            servers: Vec::new(),
            flow_capacity: 0,
            sticky_capacity: 0,
            secrets: Secrets::from_seed(0),
            head_buffers: 0,
            syn_cookie_threshold: 1024,
        }
    }
}

impl Services {
    /// Rebuilds every port's predictor from the servers' current states and weights (the
    /// Maglev tables only where the set they hold changed): the control side's step from
    /// one snapshot to the next.
    pub fn refresh_predictors(&mut self) {
        let Services { services, servers, .. } = self;
        for svc in services.iter_mut() {
            let views = server_views(servers, &svc.servers);
            // The server set was valid when the port was built; states and weights keep it so.
            let _ = svc.predictor.set_servers(&views);
        }
    }

    /// A server of `server`'s replication domain that can take a client of VIP port `svc`
    /// it held (mod_jk's failover): enabled, with weight, under its limit. Several: the
    /// highest rendezvous rank for `client_hash`, so every core picks the same one.
    pub fn domain_buddy(&self, svc: usize, server: u16, client_hash: u64, load: &dyn Fn(u16) -> u32) -> Option<u16> {
        let domain = self.servers.get(usize::from(server))?.domain.as_deref()?;
        let service = self.services.get(svc)?;
        service
            .servers
            .iter()
            .copied()
            .filter(|&id| id != server)
            .filter(|&id| {
                let b = &self.servers[usize::from(id)];
                b.domain.as_deref() == Some(domain)
                    && b.state == ServerState::Enabled
                    && b.weight > 0
                    && b.max_connections.is_none_or(|max| load(id) < max)
            })
            .max_by_key(|&id| {
                super::hash::keyed(client_hash, name_key(self.servers[usize::from(id)].name.as_bytes()), 0)
            })
    }

    /// The service of `vip:port` over `proto`, if served.
    pub fn find(&self, vip: Ipv4Addr, port: u16, proto: u8) -> Option<usize> {
        self.services.iter().position(|s| s.vip == vip && s.port == port && s.proto == proto)
    }
}

/// What a predictor sees of the servers `ids` (indices into `servers`).
pub fn server_views(servers: &[RealServer], ids: &[u16]) -> Vec<ServerView> {
    ids.iter()
        .map(|&id| {
            let s = &servers[usize::from(id)];
            ServerView {
                id,
                key: name_key(s.name.as_bytes()),
                weight: s.weight,
                max_connections: s.max_connections,
                state: s.state,
                ramp: s.ramp,
            }
        })
        .collect()
}
