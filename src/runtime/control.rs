//! The control side's thread while the switch runs: it takes the health checks' results,
//! reloads the config on SIGHUP (and for the admin API's `reload`), and steps slow starts
//! (on its own clock: slow starts are a matter of seconds);
//! every change becomes a snapshot published to the workers (`runtime::snapshot`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::control::config::Config;
use crate::control::state::HealthReport;
use crate::port::Port;
use crate::runtime::snapshot::Control;
use crate::runtime::worker::Worker;
use crate::time::MonotonicClock;

/// How often the thread looks at its flags when nothing comes.
const TICK: Duration = Duration::from_millis(100);

/// Reloads the config file into the running switch.
pub struct Reloader {
    control: Arc<Control>,
    path: Option<PathBuf>,
}

impl Reloader {
    pub fn new(control: Arc<Control>, path: Option<PathBuf>) -> Reloader {
        Reloader { control, path }
    }

    /// Reads the file again; a new snapshot if it is valid and changes only what a running
    /// switch can change. On error the running config stays, and the error names the file,
    /// line, key and reason.
    pub fn reload(&self) -> Result<String, String> {
        let Some(path) = &self.path else { return Err("this switch was not started from a config file".into()) };
        let config = Config::load(path).map_err(|e| e.to_string())?;
        self.control.change(|st| st.reload(config)).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Runs until `stop`: health results into the state (a server up or down is a new
/// snapshot, and a line in the log), `hup` (SIGHUP) into a reload. Slow starts step here on
/// the machine's clock if `slow_starts`; else the worker steps them on its own
/// ([`on_capture_clock`]).
pub fn run(
    control: &Control,
    reloader: &Reloader,
    reports: &Receiver<HealthReport>,
    stop: &AtomicBool,
    hup: &AtomicBool,
    slow_starts: bool,
) {
    let clock = MonotonicClock::new();
    while !stop.load(Ordering::Relaxed) {
        if slow_starts {
            control.change(|st| st.tick(clock.now()));
        }
        match reports.recv_timeout(TICK) {
            Ok(report) => log_transition(apply_health(control, report)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(TICK),
        }
        if hup.swap(false, Ordering::Relaxed) {
            match reloader.reload() {
                Ok(summary) => eprintln!("stickwire: SIGHUP: {summary}"),
                Err(e) => eprintln!("stickwire: SIGHUP: reload refused, running config kept: {e}"),
            }
        }
    }
}

/// Takes a health check's result into the state (a server up or down is a new snapshot);
/// when the server went up or down, its name, its new health and the check's reason. `run`'s
/// control thread and `replay` both take results this way.
pub fn apply_health(control: &Control, report: HealthReport) -> Option<(String, bool, String)> {
    let (server, up, reason) = (report.server, report.up, report.reason.clone());
    let changed = control.change(|st| {
        let was = st.health(usize::from(server)).map(|h| h.up);
        st.health_report(report);
        (was != Some(up)).then(|| st.services().servers.get(usize::from(server)).map(|s| s.name.clone()))
    });
    changed.flatten().map(|name| (name, up, reason))
}

/// After a turn on a capture's clock (`replay`, and `run --clock capture`, whose worker goes
/// through a capture as fast as it can): the health results of that turn go into the
/// control state at once, and slow starts step on the worker's clock, so that the next turn
/// runs on the snapshot they make, as the capture's time says, and not when another thread
/// got round to it. The servers that went up or down.
pub fn on_capture_clock<P: Port>(control: &Control, worker: &mut Worker<P>) -> Vec<(String, bool, String)> {
    let transitions = worker.take_health_reports().into_iter().filter_map(|r| apply_health(control, r)).collect();
    let now = worker.now();
    control.change(|st| st.tick(now));
    transitions
}

/// Says in the log that a server went up or down.
pub fn log_transition(transition: Option<(String, bool, String)>) {
    if let Some((name, up, reason)) = transition {
        eprintln!("stickwire: health: {name} is {} ({reason})", if up { "up" } else { "down" });
    }
}
