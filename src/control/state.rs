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
use std::sync::Arc;
use std::time::Duration;

use super::config::{Config, PortMode, VipPortConfig};
use crate::engine::hash::{self, Secrets};
use crate::engine::predictor::{ServerState, RAMP_FULL};
use crate::engine::service::{NatMode, RealServer, Services};
use crate::engine::LOCAL_STACK_PORTS;
use crate::health::{Local, Target, Timing};
use crate::time::Instant;

/// Steps of a slow start's ramp: a new snapshot each, at most.
const RAMP_STEPS: u64 = 16;

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

/// What the health checks of one switch port (one smoltcp interface) run: from the port's
/// own address, on [`LOCAL_STACK_PORTS`], to the servers it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChecks {
    pub port: usize,
    pub local: Local,
    pub targets: Vec<(Target, Timing)>,
}

/// Every port's health checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthPlan {
    pub ports: Vec<PortChecks>,
}

/// One finished check of a server, as the checker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub server: u16,
    /// The server's health after this check (rise and fall counted).
    pub up: bool,
    pub passed: bool,
    /// The check's reason: `HTTP 200`, `connection refused`, `timeout after 1.0 s connecting`.
    pub reason: String,
    /// Checks finished since the target was configured.
    pub checks: u64,
}

/// A server's health as the control side last heard it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthView {
    /// Whether a check runs for it (else it counts as up).
    pub checked: bool,
    pub up: bool,
    /// The last check's reason (empty before the first).
    pub reason: String,
    pub checks: u64,
    pub passed: u64,
    pub failed: u64,
    /// Times it went down, and up again.
    pub downs: u64,
    pub ups: u64,
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
    health: HealthView,
    /// Slow start: how long a ramp takes, when the current one started (`None` with a ramp
    /// asked for: at the next tick), and the share it is at.
    slow_start: Duration,
    ramp: Option<Option<Instant>>,
    share: u16,
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
    plan: Arc<HealthPlan>,
}

impl ControlState {
    /// The state a validated config gives, and its first snapshot (generation 1).
    pub fn new(config: Config, secrets: Secrets) -> ControlState {
        let snapshot = config.services(secrets);
        let plan = Arc::new(health_plan(&config, &secrets, &(0..config.real_servers.len() as u16).collect::<Vec<_>>()));
        let servers = snapshot
            .servers
            .iter()
            .zip(&config.real_servers)
            .map(|(s, r)| ServerSlot {
                base: s.clone(),
                admin: s.state,
                weight: s.weight,
                removed: false,
                health: HealthView::fresh(config.server_health(r).check.is_some()),
                slow_start: config.server_health(r).slow_start,
                ramp: None,
                share: RAMP_FULL,
            })
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
            plan,
        }
    }

    /// The health checks to run.
    pub fn health_plan(&self) -> Arc<HealthPlan> {
        Arc::clone(&self.plan)
    }

    /// Server `i`'s health.
    pub fn health(&self, i: usize) -> Option<&HealthView> {
        self.servers.get(i).map(|s| &s.health)
    }

    /// Takes a check's result; a new snapshot when the server went up or down.
    pub fn health_report(&mut self, report: HealthReport) {
        let Some(slot) = self.servers.get_mut(usize::from(report.server)) else { return };
        let h = &mut slot.health;
        let changed = h.up != report.up;
        h.checks = report.checks;
        if report.passed {
            h.passed += 1;
        } else {
            h.failed += 1;
        }
        h.reason = report.reason;
        if changed {
            h.up = report.up;
            if report.up {
                h.ups += 1;
            } else {
                h.downs += 1;
            }
            self.rebuild();
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
            let base = config.real_server(r);
            let checked = config.server_health(r).check.is_some();
            let slow_start = config.server_health(r).slow_start;
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
                    if slot.health.checked != checked || slot.removed {
                        slot.health = HealthView::fresh(checked);
                    }
                    slot.removed = false;
                    slot.base = base;
                    slot.slow_start = slow_start;
                    i
                }
                None => {
                    added.push(base.name.clone());
                    let health = HealthView::fresh(checked);
                    let (admin, weight) = (base.state, base.weight);
                    let ramp = None;
                    let share = RAMP_FULL;
                    servers.push(ServerSlot { admin, weight, removed: false, base, health, slow_start, ramp, share });
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
        let plan = health_plan(&config, &self.secrets, &index);
        if plan != *self.plan {
            self.plan = Arc::new(plan);
        }
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

    /// Moves slow starts on at `now`: a ramp asked for starts, one under way steps up (a
    /// new snapshot per step, [`RAMP_STEPS`] at most), one done ends.
    pub fn tick(&mut self, now: Instant) {
        let mut changed = false;
        for slot in &mut self.servers {
            let Some(ramp) = &mut slot.ramp else { continue };
            let started = *ramp.get_or_insert(now);
            let total = slot.slow_start.as_nanos().max(1);
            let step = (u128::from(RAMP_STEPS) * now.saturating_since(started).as_nanos() / total) as u64 + 1;
            let share = if step >= RAMP_STEPS {
                slot.ramp = None;
                RAMP_FULL
            } else {
                (u64::from(RAMP_FULL) * step / RAMP_STEPS) as u16
            };
            if share != slot.share {
                slot.share = share;
                changed = true;
            }
        }
        if changed {
            self.rebuild();
        }
    }

    /// Server `i`'s slow-start share (out of [`RAMP_FULL`]).
    pub fn ramp_share(&self, i: usize) -> u16 {
        self.servers.get(i).map_or(RAMP_FULL, |s| s.share)
    }

    /// Builds the next snapshot from the current states and weights.
    fn rebuild(&mut self) {
        for (s, slot) in self.snapshot.servers.iter_mut().zip(self.servers.iter_mut()) {
            // Health is apart from the operator's state: either can take a server down.
            let state = match (slot.removed, slot.health.up) {
                (false, true) => slot.admin,
                _ => ServerState::Down,
            };
            // Back to taking new flows: a ramp, if the server has one (from the next tick).
            if state != ServerState::Enabled {
                (slot.ramp, slot.share) = (None, RAMP_FULL);
            } else if s.state != ServerState::Enabled && !slot.slow_start.is_zero() {
                (slot.ramp, slot.share) = (Some(None), (u64::from(RAMP_FULL) / RAMP_STEPS) as u16);
            }
            s.state = state;
            s.ramp = slot.share;
            // A removed server's flows go on; they end or expire.
            s.reset_on_down = slot.base.reset_on_down && !slot.removed;
            s.weight = slot.weight;
        }
        self.snapshot.refresh_predictors();
        self.generation += 1;
    }
}

impl HealthView {
    /// Up until a check says otherwise (the checker's probation: a dead server goes down at
    /// its first failed check).
    fn fresh(checked: bool) -> HealthView {
        HealthView { checked, up: true, reason: String::new(), checks: 0, passed: 0, failed: 0, downs: 0, ups: 0 }
    }
}

/// The checks of `config`'s servers (`index[k]`: the index of its `k`-th server), grouped by
/// the switch port that reaches each.
fn health_plan(config: &Config, secrets: &Secrets, index: &[u16]) -> HealthPlan {
    let topology = config.topology(&config.configured_macs());
    let mut plan = HealthPlan::default();
    for (r, &server) in config.real_servers.iter().zip(index) {
        let Some((check, port, timing)) = config.server_health(r).check else { continue };
        let ip = *r.ip.get_ref();
        let Some((via, _)) = topology.route(ip) else { continue };
        let at = match plan.ports.iter().position(|p| p.port == via) {
            Some(at) => at,
            None => {
                let addr = topology.ports[via].ip;
                let local = Local {
                    addr,
                    ports: LOCAL_STACK_PORTS,
                    // The initial sequence numbers follow from it: secret, as the tables' keys;
                    // and from the checker's address, not the port's place in the config, so
                    // that a recording replays with its checks on a switch wired otherwise
                    // (one arm instead of two, tests/dpdk_pcap.rs).
                    seed: hash::mix(secrets.sticky, 0x6865_616c_7468 ^ u64::from(u32::from(addr))),
                };
                plan.ports.push(PortChecks { port: via, local, targets: Vec::new() });
                plan.ports.len() - 1
            }
        };
        plan.ports[at].targets.push((Target { server, ip, port, check }, timing));
    }
    plan
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
    let nice = |c: &Config| format!("{:?}", c.worker_nice.as_ref().map(|n| *n.get_ref()));
    let checks: [(&str, String, String); 9] = [
        ("workers", old.workers.get_ref().to_string(), new.workers.get_ref().to_string()),
        ("idle", format!("{:?}", old.idle), format!("{:?}", new.idle)),
        ("worker_nice", nice(old), nice(new)),
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
