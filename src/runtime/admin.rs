//! The admin API's commands applied to a running switch: each change becomes a new service
//! snapshot (`runtime::snapshot`), published to every worker; what the operator asks to see
//! comes from the control side's state and from the live counters the workers publish
//! (`runtime::stats`).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::control::admin::{AdminCommand, AdminReply, ServerStateArg, STICKY_LINES};
use crate::control::state::ControlState;
use crate::engine::predictor::{ServerState, RAMP_FULL};
use crate::engine::sticky::StickyEntry;
use crate::runtime::control::Reloader;
use crate::runtime::snapshot::{Control, Snapshot};
use crate::runtime::stats::{CoreStats, StatsBoard};

/// How long an admin call waits for every worker to run on the snapshot it made.
const APPLY_WAIT: Duration = Duration::from_secs(2);
/// How long `show sticky` waits for the workers' answers.
const DUMP_WAIT: Duration = Duration::from_secs(2);

/// The control side, as the admin API reaches it.
pub struct AdminState {
    control: Arc<Control>,
    reloader: Reloader,
    stats: Arc<StatsBoard>,
}

impl AdminState {
    pub fn new(control: Arc<Control>, reloader: Reloader, stats: Arc<StatsBoard>) -> AdminState {
        AdminState { control, reloader, stats }
    }

    /// Carries out one command.
    pub fn handle(&self, command: AdminCommand) -> AdminReply {
        match command {
            AdminCommand::ShowServers => AdminReply::Ok(self.show_servers()),
            AdminCommand::ShowVips => AdminReply::Ok(self.show_vips()),
            AdminCommand::ShowStats => AdminReply::Ok(self.show_stats()),
            AdminCommand::ShowSticky { limit } => AdminReply::Ok(self.show_sticky(limit.unwrap_or(STICKY_LINES))),
            AdminCommand::SetServerState { server, state } => {
                let state = match state {
                    ServerStateArg::Enabled => ServerState::Enabled,
                    ServerStateArg::Disabled => ServerState::Disabled,
                    ServerStateArg::Down => ServerState::Down,
                };
                self.apply(self.control.change(|st| st.set_admin_state(&server, state)).map(|()| "ok".into()))
            }
            AdminCommand::SetServerWeight { server, weight } => {
                self.apply(self.control.change(|st| st.set_weight(&server, weight)).map(|()| "ok".into()))
            }
            AdminCommand::Reload => self.apply(self.reloader.reload()),
            // The server answers these itself.
            AdminCommand::Help | AdminCommand::Quit => AdminReply::Ok(String::new()),
        }
    }

    /// The answer once every worker runs on the new snapshot.
    fn apply(&self, changed: Result<String, String>) -> AdminReply {
        match changed {
            Err(e) => AdminReply::Error(e),
            Ok(text) if self.control.wait_applied(APPLY_WAIT) => AdminReply::Ok(text),
            Ok(_) => AdminReply::Error("published, but not every worker took it within 2 s (stopped?)".into()),
        }
    }

    /// The workers' counters, summed.
    fn totals(&self) -> (Vec<CoreStats>, CoreStats) {
        let cores = self.stats.read();
        let mut sum = CoreStats::default();
        for c in &cores {
            sum.counters.add(&c.counters);
            sum.l4.add(&c.l4);
        }
        (cores, sum)
    }

    /// One line per real server: admin state, health and why, weight, connections.
    fn show_servers(&self) -> String {
        let snapshot = self.control.current();
        let (_, sum) = self.totals();
        let mut text = String::new();
        self.control.read(|st| {
            for (i, s) in snapshot.services.servers.iter().enumerate().filter(|(i, _)| st.is_live_server(*i)) {
                let stats = sum.l4.servers.get(i).copied().unwrap_or_default();
                let share = st.ramp_share(i);
                let ramp = if share < RAMP_FULL {
                    format!(" slow-start {}%", u32::from(share) * 100 / u32::from(RAMP_FULL))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    text,
                    "{} {}:{} admin {} health {} weight {}{ramp} current {} total {}",
                    s.name,
                    s.ip,
                    s.port,
                    state_word(st.admin_state(i).unwrap_or(s.state)),
                    health_words(st, i),
                    s.weight,
                    stats.current,
                    stats.total
                );
            }
        });
        text
    }

    /// One line per VIP port.
    fn show_vips(&self) -> String {
        let snapshot = self.control.current();
        let (_, sum) = self.totals();
        let mut text = String::new();
        self.control.read(|st| {
            for (i, v) in snapshot.services.services.iter().enumerate().filter(|(i, _)| st.is_live_service(*i)) {
                let stats = sum.l4.services.get(i).copied().unwrap_or_default();
                let servers: Vec<&str> = v
                    .servers
                    .iter()
                    .filter_map(|&s| snapshot.services.servers.get(usize::from(s)))
                    .map(|s| s.name.as_str())
                    .collect();
                let mode = if v.l7.is_some() { "l7" } else { "l4" };
                let _ = writeln!(
                    text,
                    "{} {}:{} {mode} nat {} {} sticky {} servers {} current {} total {} refused {}",
                    v.name,
                    v.vip,
                    v.port,
                    nat_word(v.nat),
                    v.predictor.kind(),
                    if v.sticky.is_some() { "yes" } else { "no" },
                    servers.join(","),
                    stats.current,
                    stats.total,
                    stats.refused
                );
            }
        });
        text
    }

    /// Live counters per core, VIP port and real server, drops by reason, tables' fill.
    fn show_stats(&self) -> String {
        let snapshot = self.control.current();
        let (cores, sum) = self.totals();
        let mut t = String::new();
        let _ = writeln!(t, "snapshot generation {}", snapshot.generation);
        for (i, c) in cores.iter().enumerate() {
            let _ = writeln!(
                t,
                "core {i}: rx {} forwarded {} drops {} flows {}/{} sticky {}/{} cookies {}/{} idle-sleeps {} hand-off-dropped {}",
                c.counters.rx_frames,
                c.counters.forwarded,
                c.counters.total_drops(),
                c.flows,
                c.flow_capacity,
                c.sticky,
                c.sticky_capacity,
                c.cookies,
                c.cookie_capacity,
                c.idle_sleeps,
                c.handoff_dropped
            );
        }
        for (i, v) in snapshot.services.services.iter().enumerate() {
            let s = sum.l4.services.get(i).copied().unwrap_or_default();
            let _ = writeln!(
                t,
                "vip {} current {} total {} packets {} bytes {} refused {}",
                v.name, s.current, s.total, s.packets, s.bytes, s.refused
            );
        }
        for (i, r) in snapshot.services.servers.iter().enumerate() {
            let s = sum.l4.servers.get(i).copied().unwrap_or_default();
            let _ = writeln!(
                t,
                "server {} current {} total {} packets {} bytes {}",
                r.name, s.current, s.total, s.packets, s.bytes
            );
        }
        for (name, value) in sum.counters.nonzero() {
            let _ = writeln!(t, "counter {name} {value}");
        }
        if let Some(h) = cores.iter().find_map(|c| c.health) {
            let _ = writeln!(
                t,
                "health checks started {} passed {} failed {} packets in {} out {}",
                h.checks_started, h.checks_passed, h.checks_failed, h.rx_packets, h.tx_packets
            );
        }
        t
    }

    /// Every worker's source-IP and cookie bindings, at most `limit` lines.
    fn show_sticky(&self, limit: usize) -> String {
        let snapshot = self.control.current();
        let dumps = self.stats.dump_sticky(limit, DUMP_WAIT);
        let mut t = String::new();
        let (clients, cookies): (usize, usize) =
            dumps.iter().flatten().fold((0, 0), |(a, b), d| (a + d.client_total, b + d.cookie_total));
        let _ = writeln!(t, "source-ip bindings {clients}, cookie bindings {cookies} (each core keeps its own copy)");
        let mut shown = 0;
        for (core, dump) in dumps.iter().enumerate() {
            let Some(dump) = dump else {
                let _ = writeln!(t, "core {core}: did not answer in time");
                continue;
            };
            for e in dump.client.iter().chain(&dump.cookies) {
                if shown == limit {
                    break;
                }
                shown += 1;
                let _ = writeln!(t, "core {core} {}", binding(&snapshot, e));
            }
        }
        if shown < clients + cookies {
            let _ = writeln!(t, "({} more not shown; `show sticky N` shows up to N)", clients + cookies - shown);
        }
        t
    }
}

fn nat_word(n: crate::engine::service::NatMode) -> &'static str {
    use crate::engine::service::NatMode;
    match n {
        NatMode::Full => "full",
        NatMode::Gateway => "gateway",
        NatMode::Dsr => "dsr",
    }
}

fn state_word(s: ServerState) -> &'static str {
    match s {
        ServerState::Enabled => "enabled",
        ServerState::Disabled => "disabled",
        ServerState::Down => "down",
    }
}

/// `up (HTTP 200)`, `down (connection refused)`, `up (not checked)`.
fn health_words(st: &ControlState, i: usize) -> String {
    match st.health(i) {
        Some(h) if !h.checked => "up (not checked)".into(),
        Some(h) if h.reason.is_empty() => format!("{} (no check finished yet)", if h.up { "up" } else { "down" }),
        Some(h) => format!("{} ({})", if h.up { "up" } else { "down" }, h.reason),
        None => "unknown".into(),
    }
}

/// One binding: `web:81/tcp 198.18.0.7/32 -> rs2 active 1`, or a learned cookie's hash.
fn binding(snapshot: &Snapshot, e: &StickyEntry) -> String {
    let services = &snapshot.services;
    let service = services.services.get(usize::from(e.service));
    let name = service.map_or("?", |s| s.name.as_str());
    let server = services.servers.get(usize::from(e.server)).map_or("?", |s| s.name.as_str());
    if e.key & 1 << 63 != 0 {
        return format!("{name} cookie #{:016x} -> {server}", e.key & !(1 << 63));
    }
    let len = service.and_then(|s| s.sticky).map_or(32, |p| p.prefix_len);
    let client = std::net::Ipv4Addr::from(e.key as u32);
    format!("{name} {client}/{len} -> {server} active {}", e.active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::config::Config;
    use crate::engine::hash::Secrets;

    #[test]
    fn commands_publish_a_snapshot_every_worker_takes() {
        let config = Config::parse(
            "[[port]]\nname = \"s\"\nip = \"198.18.1.1/24\"\n[[real_server]]\nname = \"rs1\"\nip = \"198.18.1.10\"\nport = 80\n",
        )
        .unwrap();
        let topology = config.topology(&config.configured_macs());
        let control = Arc::new(Control::new(ControlState::new(config, Secrets::from_seed(1)), topology, 2));
        let applied = control.applied();
        let reloader = Reloader::new(Arc::clone(&control), None);
        let admin = AdminState::new(Arc::clone(&control), reloader, Arc::new(StatsBoard::new(2)));
        // No worker takes it: the call says so.
        let set = AdminCommand::SetServerState { server: "rs1".into(), state: ServerStateArg::Down };
        let start = std::time::Instant::now();
        let reply = admin.handle(set.clone());
        assert!(matches!(&reply, AdminReply::Error(e) if e.contains("not every worker")), "{reply:?}");
        assert!(start.elapsed() >= APPLY_WAIT);
        // Two workers that follow: `ok`.
        let snapshots = control.snapshots();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let followers: Vec<_> = (0..2)
            .map(|core| {
                let (snapshots, applied, stop) = (Arc::clone(&snapshots), Arc::clone(&applied), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        applied.mark(core, snapshots.load().generation);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        let enable = AdminCommand::SetServerState { server: "rs1".into(), state: ServerStateArg::Enabled };
        assert_eq!(admin.handle(enable), AdminReply::Ok("ok".into()));
        assert_eq!(admin.handle(set), AdminReply::Ok("ok".into()));
        assert_eq!(control.current().services.servers[0].state, ServerState::Down);
        let AdminReply::Ok(text) = admin.handle(AdminCommand::ShowServers) else { panic!() };
        assert_eq!(text, "rs1 198.18.1.10:80 admin down health up (not checked) weight 1 current 0 total 0\n");
        let unknown = AdminCommand::SetServerWeight { server: "rs9".into(), weight: 2 };
        assert!(matches!(admin.handle(unknown), AdminReply::Error(e) if e.contains("rs9")));
        let reload = admin.handle(AdminCommand::Reload);
        assert!(matches!(&reload, AdminReply::Error(e) if e.contains("not started from a config file")), "{reload:?}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        followers.into_iter().for_each(|f| f.join().unwrap());
    }
}
