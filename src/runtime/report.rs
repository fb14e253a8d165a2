//! Printing the L4 counters by VIP port and real server name.

use std::fmt::Write;

use crate::control::state::{ControlState, HealthView};
use crate::engine::l4::L4Stats;
use crate::engine::service::Services;

/// The names of the VIP ports and real servers, in counter order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub services: Vec<String>,
    pub servers: Vec<String>,
}

impl Names {
    pub fn of(services: &Services) -> Names {
        Names {
            services: services.services.iter().map(|s| s.name.clone()).collect(),
            servers: services.servers.iter().map(|s| s.name.clone()).collect(),
        }
    }

    /// One line per VIP port and per real server, then the L4 totals; empty when nothing
    /// is served.
    pub fn describe(&self, stats: &L4Stats) -> String {
        let mut s = String::new();
        if self.services.is_empty() {
            return s;
        }
        let _ = writeln!(s, "\nvip ports:");
        for (name, v) in self.services.iter().zip(&stats.services) {
            let _ = writeln!(
                s,
                "  {name:<20} current {} total {} packets {} bytes {} refused {}",
                v.current, v.total, v.packets, v.bytes, v.refused
            );
        }
        let _ = writeln!(s, "real servers:");
        for (name, v) in self.servers.iter().zip(&stats.servers) {
            let _ = writeln!(
                s,
                "  {name:<20} current {} total {} packets {} bytes {}",
                v.current, v.total, v.packets, v.bytes
            );
        }
        let _ = write!(
            s,
            "flows created {} expired {}; refused: table full {}, no server {}; reset (server gone) {}; sticky hits {}; half-open evicted {}",
            stats.flows_created,
            stats.flows_expired,
            stats.refused_table_full,
            stats.refused_no_server,
            stats.reset_server_gone,
            stats.sticky_hits,
            stats.evicted_half_open,
        );
        // Only when it happened: reports recorded before it existed still compare equal.
        if stats.local_ports_reused > 0 {
            let _ = write!(s, "; local ports reused {}", stats.local_ports_reused);
        }
        if stats.server_stale > 0 {
            let _ = write!(s, "; old connections reset at servers {}", stats.server_stale);
        }
        let _ = write!(s, "\nflows in table {}, half-open {}", stats.flows_in_table, stats.half_open);
        if stats.l7 != Default::default() {
            let _ = write!(s, "\n{}", stats.l7);
        }
        s
    }
}

/// The health checks' counts per checked server, as the control side took them: printed at
/// the end of `run`'s and `replay`'s reports, the same way, so that a recording's replay can
/// be compared with the live switch's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSummary {
    pub servers: Vec<(String, HealthView)>,
}

impl HealthSummary {
    /// The checked servers of `state`, in server order.
    pub fn of(state: &ControlState) -> HealthSummary {
        let servers = state
            .services()
            .servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| state.health(i).filter(|h| h.checked).map(|h| (s.name.clone(), h.clone())))
            .collect();
        HealthSummary { servers }
    }

    /// The server named `name`'s health.
    pub fn server(&self, name: &str) -> Option<&HealthView> {
        self.servers.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }
}

/// Nothing without health checks (reports recorded before they existed still compare
/// equal); else a line per checked server.
impl std::fmt::Display for HealthSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.servers.is_empty() {
            return Ok(());
        }
        writeln!(f, "health checks:")?;
        for (name, h) in &self.servers {
            writeln!(
                f,
                "  {name:<20} {:<4} checks {} passed {} failed {} went down {} came up {}; last: {}",
                if h.up { "up" } else { "down" },
                h.checks,
                h.passed,
                h.failed,
                h.downs,
                h.ups,
                if h.reason.is_empty() { "-" } else { &h.reason },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_lines_only_with_checks_one_per_server() {
        assert_eq!(HealthSummary::default().to_string(), "");
        let view = |up, checks, failed, downs, ups, reason: &str| HealthView {
            checked: true,
            up,
            reason: reason.into(),
            checks,
            passed: checks - failed,
            failed,
            downs,
            ups,
        };
        let summary = HealthSummary {
            servers: vec![
                ("rs1".into(), view(true, 0, 0, 0, 0, "")),
                ("rs3".into(), view(false, 4, 2, 1, 0, "connection refused")),
            ],
        };
        assert_eq!(
            summary.to_string(),
            "health checks:\n\
             \x20 rs1                  up   checks 0 passed 0 failed 0 went down 0 came up 0; last: -\n\
             \x20 rs3                  down checks 4 passed 2 failed 2 went down 1 came up 0; last: connection refused\n"
        );
        assert_eq!(summary.server("rs3").map(|h| h.downs), Some(1));
        assert!(summary.server("rs2").is_none());
    }
}
