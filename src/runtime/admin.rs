//! The admin API's commands applied to a running switch: each change becomes a new service
//! snapshot (`runtime::snapshot`), published to every worker; what the control side knows
//! is answered from its own state and from the board the workers publish their flows on.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::control::admin::{AdminCommand, AdminReply, ServerStateArg};
use crate::engine::predictor::ServerState;
use crate::runtime::snapshot::Control;

/// How long an admin call waits for every worker to run on the snapshot it made.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// The control side, as the admin API reaches it.
pub struct AdminState {
    control: Arc<Control>,
}

impl AdminState {
    pub fn new(control: Arc<Control>) -> AdminState {
        AdminState { control }
    }

    /// Carries out one command.
    pub fn handle(&self, command: AdminCommand) -> AdminReply {
        match command {
            AdminCommand::ShowServers | AdminCommand::ShowStats => AdminReply::Ok(self.show_servers()),
            AdminCommand::SetServerState { server, state } => {
                let state = match state {
                    ServerStateArg::Enabled => ServerState::Enabled,
                    ServerStateArg::Disabled => ServerState::Disabled,
                    ServerStateArg::Down => ServerState::Down,
                };
                self.apply(self.control.change(|st| st.set_admin_state(&server, state)))
            }
            AdminCommand::SetServerWeight { server, weight } => {
                self.apply(self.control.change(|st| st.set_weight(&server, weight)))
            }
            AdminCommand::ShowSticky => AdminReply::Error("show sticky is not available yet".into()),
            // The server answers these itself.
            AdminCommand::Help | AdminCommand::Quit => AdminReply::Ok(String::new()),
        }
    }

    /// `ok` once every worker runs on the new snapshot.
    fn apply(&self, changed: Result<(), String>) -> AdminReply {
        match changed {
            Err(e) => AdminReply::Error(e),
            Ok(()) if self.control.wait_applied(APPLY_WAIT) => AdminReply::Ok("ok".into()),
            Ok(()) => AdminReply::Error("published, but not every worker took it within 2 s (stopped?)".into()),
        }
    }

    fn show_servers(&self) -> String {
        let snapshot = self.control.current();
        let mut text = String::new();
        self.control.read(|st| {
            for (i, s) in snapshot.services.servers.iter().enumerate().filter(|(i, _)| st.is_live_server(*i)) {
                let state = match s.state {
                    ServerState::Enabled => "enabled",
                    ServerState::Disabled => "disabled",
                    ServerState::Down => "down",
                };
                let _ = writeln!(
                    text,
                    "{} {}:{} state {state} weight {} flows {}",
                    s.name,
                    s.ip,
                    s.port,
                    s.weight,
                    snapshot.load.total(i)
                );
            }
        });
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::config::Config;
    use crate::control::state::ControlState;
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
        let admin = AdminState::new(Arc::clone(&control));
        // No worker takes it: the call says so.
        let set = AdminCommand::SetServerState { server: "rs1".into(), state: ServerStateArg::Down };
        let (reply, took) = {
            let start = std::time::Instant::now();
            (admin.handle(set.clone()), start.elapsed())
        };
        assert!(matches!(&reply, AdminReply::Error(e) if e.contains("not every worker")), "{reply:?}");
        assert!(took >= APPLY_WAIT);
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
        assert_eq!(text, "rs1 198.18.1.10:80 state down weight 1 flows 0\n");
        let unknown = AdminCommand::SetServerWeight { server: "rs9".into(), weight: 2 };
        assert!(matches!(admin.handle(unknown), AdminReply::Error(e) if e.contains("rs9")));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        followers.into_iter().for_each(|f| f.join().unwrap());
    }
}
