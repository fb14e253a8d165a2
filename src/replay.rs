//! `stickwire replay`: pushes captures through the same worker loop as `run`, with the
//! captures' timestamps as the clock, and records what the switch sends.
//!
//! As in `run`, the worker runs on the control side's snapshots and hosts the health
//! checkers (`runtime::health`): they start at the first turn, on the capture's clock, with
//! the config's seed (so their ISNs and local ports are the live switch's); what they send
//! goes out at the capture's times, the servers' recorded answers come back to them, and
//! each result goes into the control state as `run`'s control thread takes it (a server up
//! or down is a new snapshot, which the worker runs on from its next turn). Slow starts
//! step on the capture's clock.

use std::path::PathBuf;
use std::sync::Arc;

use crate::control::config::Config;
use crate::control::state::ControlState;
use crate::engine::hash::Secrets;
use crate::engine::l4::{L4Stats, WorkerSlot};
use crate::engine::{Counters, Engine};
use crate::port::pcap::{CaptureError, CaptureReader, CaptureWriter, PcapPort};
use crate::port::PortStats;
use crate::runtime::control::on_capture_clock;
use crate::runtime::health::HealthHost;
use crate::runtime::report::{HealthSummary, Names};
use crate::runtime::snapshot::Control;
use crate::runtime::steering::PortSteering;
use crate::runtime::worker::Worker;

/// The captures of one port: frames it receives and where to record what it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFiles {
    pub port: String,
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub counters: Counters,
    pub l4: L4Stats,
    /// VIP port and real server names, in the order of `l4`'s counters.
    pub names: Names,
    pub ports: Vec<(String, PortStats)>,
    /// Frames dropped on receive for being longer than a port carries.
    pub oversize: u64,
    /// Inputs that ended early at damage, with the reason.
    pub damaged: Vec<(PathBuf, String)>,
    /// The health checks per checked server.
    pub health: HealthSummary,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("--port {0}: the config has no port of that name")]
    UnknownPort(String),
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// Replays the captures in `files` through one engine built from `config`.
pub fn replay(config: &Config, files: &[PortFiles]) -> Result<ReplayReport, ReplayError> {
    let mut ports: Vec<PcapPort> = (0..config.ports.len()).map(|_| PcapPort::new(None, None)).collect();
    let mut inputs = Vec::new();
    for f in files {
        let index = config.port_index(&f.port).ok_or_else(|| ReplayError::UnknownPort(f.port.clone()))?;
        let input = f.input.as_deref().map(CaptureReader::open).transpose()?;
        let output = f.output.as_deref().map(CaptureWriter::create).transpose()?;
        ports[index] = PcapPort::new(input, output);
        inputs.push((index, f.input.clone()));
    }
    let topology = config.topology(&config.configured_macs());
    // Replay must give the same bytes every time: its secrets follow from the seed.
    let secrets = Secrets::from_seed(config.seed.unwrap_or(0));
    // One worker on the control side's snapshots, as `run` with `workers = 1`.
    let steering = vec![PortSteering::Single; config.ports.len()];
    let control = Control::new(ControlState::new(config.clone(), secrets), topology.clone(), 1, steering);
    let first = control.current();
    let engine = Engine::with_services(topology, (*first.services).clone(), WorkerSlot::default());
    let mut worker = Worker::with_engine(engine, ports)
        .with_snapshots(control.snapshots(), control.applied(), 0)
        .with_health(HealthHost::new(Arc::clone(&first.health)), None);
    drop(first);
    // The clock follows the captures, and stops at their last frame: between two frames it
    // also stops where the engine or a health check has a deadline (a retransmission, a
    // check's start), as a live switch would.
    while worker.run_to_next_arrival().is_some() {
        on_capture_clock(&control, &mut worker);
    }
    let counters = worker.engine().counters().clone();
    let l4 = worker.engine().l4().stats();
    let names = Names::of(&control.current().services);
    let port_stats = worker.port_stats();
    let mut report = ReplayReport {
        counters,
        l4,
        names,
        ports: config.ports.iter().map(|p| p.name.get_ref().clone()).zip(port_stats).collect(),
        oversize: worker.ports().iter().map(|p| p.rx_oversize).sum(),
        damaged: Vec::new(),
        health: control.read(HealthSummary::of),
    };
    for (index, port) in worker.into_ports().into_iter().enumerate() {
        if let (Some(reason), Some((_, Some(path)))) = (port.input_damage(), inputs.iter().find(|(i, _)| *i == index)) {
            report.damaged.push((path.clone(), reason.to_string()));
        }
        port.finish()?;
    }
    Ok(report)
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, s) in &self.ports {
            writeln!(
                f,
                "port {name}: rx {} frames {} bytes, tx {} frames {} bytes",
                s.rx_frames, s.rx_bytes, s.tx_frames, s.tx_bytes
            )?;
        }
        if self.oversize > 0 {
            writeln!(f, "frames too long for a port, dropped on receive: {}", self.oversize)?;
        }
        for (path, reason) in &self.damaged {
            writeln!(f, "warning: {} is damaged, read up to the damage: {reason}", path.display())?;
        }
        write!(f, "{}", self.counters)?;
        write!(f, "{}", self.names.describe(&self.l4))?;
        if !self.health.servers.is_empty() {
            write!(f, "\n{}", self.health)?;
        }
        Ok(())
    }
}
