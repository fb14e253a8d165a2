//! The admin API's commands applied to a running switch: server states and weights go to
//! every worker by message; what the control side knows is answered from its own copy and
//! from the load board the workers publish.

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use crate::control::admin::{AdminCommand, AdminReply, ServerStateArg};
use crate::engine::predictor::ServerState;
use crate::engine::service::RealServer;
use crate::runtime::peers::LoadBoard;
use crate::runtime::worker::ControlMsg;

/// The control side's view of the servers, and the way to the workers.
pub struct AdminState {
    servers: Mutex<Vec<RealServer>>,
    workers: Vec<Sender<ControlMsg>>,
    load: Arc<LoadBoard>,
}

impl AdminState {
    pub fn new(servers: Vec<RealServer>, workers: Vec<Sender<ControlMsg>>, load: Arc<LoadBoard>) -> AdminState {
        AdminState { servers: Mutex::new(servers), workers, load }
    }

    /// Carries out one command.
    pub fn handle(&self, command: AdminCommand) -> AdminReply {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        match command {
            AdminCommand::ShowServers | AdminCommand::ShowStats => {
                let mut text = String::new();
                for (i, s) in servers.iter().enumerate() {
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
                        self.load.total(i)
                    );
                }
                AdminReply::Ok(text)
            }
            AdminCommand::SetServerState { server, state } => {
                let Some(i) = servers.iter().position(|s| s.name == server) else {
                    return AdminReply::Error(format!("no real server is named `{server}`"));
                };
                let state = match state {
                    ServerStateArg::Enabled => ServerState::Enabled,
                    ServerStateArg::Disabled => ServerState::Disabled,
                    ServerStateArg::Down => ServerState::Down,
                };
                servers[i].state = state;
                self.send(ControlMsg::SetServerState { server: i as u16, state })
            }
            AdminCommand::SetServerWeight { server, weight } => {
                let Some(i) = servers.iter().position(|s| s.name == server) else {
                    return AdminReply::Error(format!("no real server is named `{server}`"));
                };
                servers[i].weight = weight;
                self.send(ControlMsg::SetServerWeight { server: i as u16, weight })
            }
            AdminCommand::ShowSticky => AdminReply::Error("show sticky is not available yet".into()),
            // The server answers these itself.
            AdminCommand::Help | AdminCommand::Quit => AdminReply::Ok(String::new()),
        }
    }

    fn send(&self, msg: ControlMsg) -> AdminReply {
        let missed = self.workers.iter().filter(|w| w.try_send(msg).is_err()).count();
        if missed == 0 {
            AdminReply::Ok("ok".into())
        } else {
            AdminReply::Error(format!("{missed} worker(s) did not take the change (busy or stopped); try again"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_reach_every_worker_and_the_view() {
        let servers = vec![RealServer::named("rs1", "198.18.1.10".parse().unwrap(), 80)];
        let (tx0, rx0) = crossbeam_channel::bounded(4);
        let (tx1, rx1) = crossbeam_channel::bounded(4);
        let load = LoadBoard::new(2, 1);
        load.publish(0, &[3]);
        load.publish(1, &[4]);
        let admin = AdminState::new(servers, vec![tx0, tx1], load);
        let set = AdminCommand::SetServerState { server: "rs1".into(), state: ServerStateArg::Down };
        assert_eq!(admin.handle(set), AdminReply::Ok("ok".into()));
        let want = ControlMsg::SetServerState { server: 0, state: ServerState::Down };
        assert_eq!((rx0.try_recv().unwrap(), rx1.try_recv().unwrap()), (want, want));
        let AdminReply::Ok(text) = admin.handle(AdminCommand::ShowServers) else { panic!() };
        assert_eq!(text, "rs1 198.18.1.10:80 state down weight 1 flows 7\n");
        let unknown = AdminCommand::SetServerWeight { server: "rs9".into(), weight: 2 };
        assert!(matches!(admin.handle(unknown), AdminReply::Error(e) if e.contains("rs9")));
    }
}
