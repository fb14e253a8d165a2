//! What the control side knows of the servers and VIP ports, and the service snapshots it
//! builds from that: the config, the operator's admin calls, reloads.
//!
//! Every change makes a whole new [`Services`] (predictors and Maglev tables included) here,
//! on the control side's own thread; the workers only switch to it. Indices are stable for
//! the run's life, because flows and sticky bindings on every core name VIP ports and servers
//! by index: a reload keeps the index of a server (by name) and of a VIP port (by address,
//! port, protocol, NAT mode and mode); one it removes stays as a tombstone (no frame matches a
//! removed port, a removed server takes nothing new) so that the flows still on it go on; one
//! it adds takes the next free index.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

use super::config::{Config, PortMode, VipPortConfig};
use crate::engine::hash::Secrets;
use crate::engine::predictor::ServerState;
use crate::engine::service::{NatMode, RealServer, Services};

/// The most VIP ports over a run's life: flows name theirs in one byte.
pub const MAX_SERVICES: usize = 255;

/// A VIP port's identity across reloads: what its existing flows depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServiceKey {
    vip: Ipv4Addr,
    port: u16,
    proto: u8,
    nat: NatMode,
    l7: bool,
}

/// One real server over the run's life.
#[derive(Debug, Clone)]
struct ServerSlot {
    /// As the config says (its `state` is the config's admin state).
    base: RealServer,
    /// The operator's admin state (the config's until an admin call changes it).
    admin: ServerState,
    weight: u32,
    /// No longer in the config.
    removed: bool,
}

/// The control side's state, and the last snapshot built from it.
#[derive(Debug)]
pub struct ControlState {
    config: Config,
    secrets: Secrets,
    servers: Vec<ServerSlot>,
    keys: Vec<ServiceKey>,
    /// Whether each VIP port index is in the config now.
    live: Vec<bool>,
    /// The last snapshot built.
    snapshot: Services,
    generation: u64,
    /// What the engines were sized for at start: whether any port answers handshakes
    /// itself, and the largest request head an L7 port reads.
    head_capacity: Option<usize>,
}

impl ControlState {
    /// The state a validated config gives, and its first snapshot (generation 1).
    pub fn new(config: Config, secrets: Secrets) -> ControlState {
        let snapshot = config.services(secrets);
        let servers = snapshot
            .servers
            .iter()
            .map(|s| ServerSlot { base: s.clone(), admin: s.state, weight: s.weight, removed: false })
            .collect();
        let keys = service_keys(&config);
        let head_capacity = snapshot
            .services
            .iter()
            .filter(|s| s.l7.is_some() || s.can_proxy_handshakes())
            .map(|s| s.l7.as_ref().map_or(8192, |p| p.head_limit))
            .max();
        ControlState {
            live: vec![true; keys.len()],
            keys,
            servers,
            config,
            secrets,
            snapshot,
            generation: 1,
            head_capacity,
        }
    }

    /// The last snapshot built.
    pub fn services(&self) -> &Services {
        &self.snapshot
    }

    /// Counts the snapshots built: a worker on an older one has yet to switch.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The index of the server named `name`, if the config has it.
    pub fn server_index(&self, name: &str) -> Option<u16> {
        self.servers.iter().position(|s| !s.removed && s.base.name == name).map(|i| i as u16)
    }

    /// Whether server `i` is in the config (not a tombstone of a reload).
    pub fn is_live_server(&self, i: usize) -> bool {
        self.servers.get(i).is_some_and(|s| !s.removed)
    }

    /// Whether VIP port `i` is in the config.
    pub fn is_live_service(&self, i: usize) -> bool {
        self.live.get(i).copied().unwrap_or(false)
    }

    /// Server `i`'s admin state (the operator's).
    pub fn admin_state(&self, i: usize) -> Option<ServerState> {
        self.servers.get(i).map(|s| s.admin)
    }

    /// `set server NAME state ...`.
    pub fn set_admin_state(&mut self, name: &str, state: ServerState) -> Result<(), String> {
        let i = self.named(name)?;
        self.servers[i].admin = state;
        self.rebuild();
        Ok(())
    }

    /// `set server NAME weight N`.
    pub fn set_weight(&mut self, name: &str, weight: u32) -> Result<(), String> {
        let i = self.named(name)?;
        self.servers[i].weight = weight;
        self.rebuild();
        Ok(())
    }

    fn named(&self, name: &str) -> Result<usize, String> {
        self.server_index(name).map(usize::from).ok_or_else(|| format!("no real server is named `{name}`"))
    }

    /// Takes a new config (already validated): servers and VIP ports added, changed or
    /// removed, the rest as it was. An operator's admin state or weight stays unless the
    /// new config changes that server's. A config that changes what only a restart can
    /// change is refused, and nothing changes. Returns what changed, for the log.
    pub fn reload(&mut self, config: Config) -> Result<String, String> {
        fixed_parts_unchanged(&self.config, &config)?;
        self.check_head_capacity(&config)?;
        // Servers by name: the same index for the same name.
        let mut servers = self.servers.clone();
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        let mut index = Vec::with_capacity(config.real_servers.len());
        for r in &config.real_servers {
            let base = r.real_server();
            let i = match servers.iter().position(|s| s.base.name == base.name) {
                Some(i) => {
                    let slot = &mut servers[i];
                    let was = &slot.base;
                    // The operator's call stands unless the file says something new.
                    if slot.removed || was.state != base.state {
                        slot.admin = base.state;
                    }
                    if slot.removed || was.weight != base.weight {
                        slot.weight = base.weight;
                    }
                    if slot.removed {
                        added.push(base.name.clone());
                    }
                    slot.removed = false;
                    slot.base = base;
                    i
                }
                None => {
                    added.push(base.name.clone());
                    servers.push(ServerSlot { admin: base.state, weight: base.weight, removed: false, base });
                    servers.len() - 1
                }
            };
            index.push(i as u16);
        }
        if servers.len() > usize::from(u16::MAX) {
            return Err("real_server: too many real servers over the run's life; restart".into());
        }
        for (i, s) in servers.iter_mut().enumerate() {
            if !s.removed && !index.contains(&(i as u16)) {
                s.removed = true;
                removed.push(s.base.name.clone());
            }
        }
        // VIP ports by identity.
        let mut keys = self.keys.clone();
        let mut live = vec![false; keys.len()];
        let mut placed = Vec::new();
        for (vip, p) in config.vips.iter().flat_map(|v| v.ports.iter().map(move |p| (v, p))) {
            let key = service_key(vip.ip.get_ref(), p);
            let i = match keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    keys.push(key);
                    live.push(false);
                    keys.len() - 1
                }
            };
            if i >= MAX_SERVICES {
                return Err(format!(
                    "vip.port: more than {MAX_SERVICES} VIP ports over the run's life (removed ones keep their \
                     place while their flows may live); restart to add more"
                ));
            }
            if !self.is_live_service(i) {
                added.push(format!("{}:{}", vip.name.get_ref(), p.port.get_ref()));
            }
            live[i] = true;
            placed.push((i, vip, p));
        }
        for (i, was) in self.live.iter().enumerate() {
            if *was && !live[i] {
                removed.push(self.snapshot.services[i].name.clone());
            }
        }
        // The new snapshot: every server at its index, every port at its own.
        let mut snapshot = self.snapshot.clone();
        snapshot.servers = servers.iter().map(|s| s.base.clone()).collect();
        let mut services = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let service = match placed.iter().find(|(j, _, _)| *j == i) {
                Some((_, vip, p)) => {
                    let ids: Vec<u16> = config
                        .real_servers
                        .iter()
                        .zip(&index)
                        .filter(|(r, _)| config.serves(p, r))
                        .map(|(_, &id)| id)
                        .collect();
                    config.service(vip, p, ids, &snapshot.servers, &self.secrets)
                }
                None => {
                    // A tombstone: protocol 0 matches no frame; its flows still find it.
                    let mut old = self.snapshot.services[i].clone();
                    old.proto = 0;
                    old.servers.clear();
                    let _ = old.predictor.set_servers(&[]);
                    old
                }
            };
            services.push(service);
        }
        snapshot.services = services;
        self.servers = servers;
        self.keys = keys;
        self.live = live;
        self.snapshot = snapshot;
        self.config = config;
        self.rebuild();
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        Ok(format!("reloaded: added {}; removed {}", list(&added), list(&removed)))
    }

    /// An L7 port (or a handshake-proxying L4 port) needs the engines' head buffers, sized at
    /// start for the largest head then.
    fn check_head_capacity(&self, config: &Config) -> Result<(), String> {
        for (v, vip) in config.vips.iter().enumerate() {
            for (i, p) in vip.ports.iter().enumerate() {
                let service = config.service(vip, p, Vec::new(), &[], &self.secrets);
                let needs = match (&service.l7, service.can_proxy_handshakes()) {
                    (Some(l7), _) => Some(l7.head_limit),
                    (None, true) => Some(8192),
                    (None, false) => None,
                };
                if let Some(needs) = needs {
                    if self.head_capacity.is_none_or(|has| needs > has) {
                        return Err(format!(
                            "vip[{v}].port[{i}]: its request heads of {needs} bytes need buffers the switch did \
                             not allocate at start; restart to apply"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Builds the next snapshot from the current states and weights.
    fn rebuild(&mut self) {
        for (s, slot) in self.snapshot.servers.iter_mut().zip(&self.servers) {
            s.state = if slot.removed { ServerState::Down } else { slot.admin };
            s.weight = slot.weight;
        }
        self.snapshot.refresh_predictors();
        self.generation += 1;
    }
}

fn service_key(vip: &Ipv4Addr, p: &VipPortConfig) -> ServiceKey {
    ServiceKey {
        vip: *vip,
        port: *p.port.get_ref(),
        proto: p.protocol.number(),
        nat: p.nat.as_ref().map_or(NatMode::Full, |n| *n.get_ref()),
        l7: p.mode == PortMode::L7,
    }
}

fn service_keys(config: &Config) -> Vec<ServiceKey> {
    config.vips.iter().flat_map(|v| v.ports.iter().map(move |p| service_key(v.ip.get_ref(), p))).collect()
}

/// What a reload cannot change: the engines, ports and tables were built for it at start.
fn fixed_parts_unchanged(old: &Config, new: &Config) -> Result<(), String> {
    let checks: [(&str, String, String); 7] = [
        ("workers", old.workers.get_ref().to_string(), new.workers.get_ref().to_string()),
        ("seed", format!("{:?}", old.seed), format!("{:?}", new.seed)),
        ("dpdk", format!("{:?}", old.dpdk), format!("{:?}", new.dpdk)),
        ("tables", tables(old), tables(new)),
        ("vip", vips(old), vips(new)),
        ("port", topology(old), topology(new)),
        ("port.device", devices(old), devices(new)),
    ];
    for (key, was, is) in checks {
        if was != is {
            return Err(format!("{key}: cannot change on reload; restart to apply"));
        }
    }
    Ok(())
}

fn topology(c: &Config) -> String {
    format!("{:?}", c.topology(&c.configured_macs()))
}

fn tables(c: &Config) -> String {
    let t = &c.tables;
    format!(
        "{} {} {} {} {}",
        t.flows.get_ref(),
        t.sticky,
        t.maglev.get_ref(),
        t.head_buffers.get_ref(),
        t.syn_cookie_threshold
    )
}

fn vips(c: &Config) -> String {
    c.vips.iter().map(|v| format!("{}={} ", v.name.get_ref(), v.ip.get_ref())).collect()
}

fn devices(c: &Config) -> String {
    c.ports.iter().map(|p| format!("{:?} ", p.device)).collect()
}

#[cfg(test)]
mod tests;
