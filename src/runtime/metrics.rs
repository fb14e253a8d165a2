//! The Prometheus text of a running switch: what `show servers`, `show vips` and
//! `show stats` say, as metrics with HELP and TYPE lines.

use std::fmt::Write;

use crate::engine::predictor::ServerState;
use crate::runtime::snapshot::Control;
use crate::runtime::stats::{CoreStats, StatsBoard};

/// One metric family: its HELP and TYPE lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP stickwire_{name} {help}\n# TYPE stickwire_{name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        let _ = writeln!(self.out, "stickwire_{name}{labels} {value}");
    }
}

/// A metric read from one row of counters: name, type, help, how to read it.
type Reading<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The whole page.
pub fn render(control: &Control, stats: &StatsBoard) -> String {
    let snapshot = control.current();
    let cores = stats.read();
    let mut sum = CoreStats::default();
    for c in &cores {
        sum.counters.add(&c.counters);
        sum.l4.add(&c.l4);
    }
    let mut out = String::new();
    let servers = &snapshot.services.servers;
    let live: Vec<usize> = control.read(|st| (0..servers.len()).filter(|&i| st.is_live_server(i)).collect());

    let mut f =
        Family::new(&mut out, "server_up", "gauge", "Whether the real server's health checks pass (1) or not (0).");
    let health: Vec<(usize, bool, u64, u64)> =
        control.read(|st| live.iter().filter_map(|&i| st.health(i).map(|h| (i, h.up, h.passed, h.failed))).collect());
    for &(i, up, _, _) in &health {
        f.sample("server_up", &[("server", &servers[i].name)], u64::from(up));
    }
    let mut f = Family::new(&mut out, "server_state", "gauge", "The server's effective state: 1 for the one it is in.");
    for &i in &live {
        for (word, state) in
            [("enabled", ServerState::Enabled), ("disabled", ServerState::Disabled), ("down", ServerState::Down)]
        {
            f.sample(
                "server_state",
                &[("server", &servers[i].name), ("state", word)],
                u64::from(servers[i].state == state),
            );
        }
    }
    let mut f = Family::new(&mut out, "server_weight", "gauge", "The server's weight.");
    for &i in &live {
        f.sample("server_weight", &[("server", &servers[i].name)], u64::from(servers[i].weight));
    }
    let mut f = Family::new(&mut out, "health_checks_total", "counter", "Health checks finished, by result.");
    for &(i, _, passed, failed) in &health {
        f.sample("health_checks_total", &[("server", &servers[i].name), ("result", "passed")], passed);
        f.sample("health_checks_total", &[("server", &servers[i].name), ("result", "failed")], failed);
    }
    let per_server: [Reading<crate::engine::l4::ServerStats>; 4] = [
        ("server_connections", "gauge", "Connections open on the server.", |s| s.current),
        ("server_connections_total", "counter", "Connections the server was given.", |s| s.total),
        ("server_packets_total", "counter", "Packets of the server's connections.", |s| s.packets),
        ("server_bytes_total", "counter", "Bytes of the server's connections.", |s| s.bytes),
    ];
    for (name, kind, help, get) in per_server {
        let mut f = Family::new(&mut out, name, kind, help);
        for &i in &live {
            f.sample(name, &[("server", &servers[i].name)], sum.l4.servers.get(i).map_or(0, get));
        }
    }
    let services = &snapshot.services.services;
    let live_ports: Vec<usize> = control.read(|st| (0..services.len()).filter(|&i| st.is_live_service(i)).collect());
    let per_port: [Reading<crate::engine::l4::ServiceStats>; 5] = [
        ("vip_connections", "gauge", "Connections open on the VIP port.", |s| s.current),
        ("vip_connections_total", "counter", "Connections the VIP port took.", |s| s.total),
        ("vip_packets_total", "counter", "Packets of the VIP port's connections.", |s| s.packets),
        ("vip_bytes_total", "counter", "Bytes of the VIP port's connections.", |s| s.bytes),
        ("vip_refused_total", "counter", "Connections the VIP port refused.", |s| s.refused),
    ];
    for (name, kind, help, get) in per_port {
        let mut f = Family::new(&mut out, name, kind, help);
        for &i in &live_ports {
            f.sample(name, &[("vip_port", &services[i].name)], sum.l4.services.get(i).map_or(0, get));
        }
    }
    let per_core: [Reading<CoreStats>; 6] = [
        ("rx_frames_total", "counter", "Frames the worker received.", |c| c.counters.rx_frames),
        ("forwarded_total", "counter", "Frames the worker forwarded.", |c| c.counters.forwarded),
        ("flows", "gauge", "Flows the worker tracks.", |c| c.flows as u64),
        ("flow_capacity", "gauge", "Flows the worker can track.", |c| c.flow_capacity as u64),
        ("sticky_bindings", "gauge", "Source-IP bindings the worker holds.", |c| c.sticky as u64),
        ("idle_sleeps_total", "counter", "Times the worker's idle back-off slept.", |c| c.idle_sleeps),
    ];
    for (name, kind, help, get) in per_core {
        let mut f = Family::new(&mut out, name, kind, help);
        for (core, c) in cores.iter().enumerate() {
            f.sample(name, &[("core", &core.to_string())], get(c));
        }
    }
    let mut f = Family::new(&mut out, "drops_total", "counter", "Frames dropped, by reason.");
    for &reason in crate::engine::DropReason::ALL {
        f.sample("drops_total", &[("reason", reason.name())], sum.counters.drops(reason));
    }
    let mut f = Family::new(&mut out, "snapshot_generation", "gauge", "The service snapshot the switch runs on.");
    f.sample("snapshot_generation", &[], snapshot.generation);
    out
}
