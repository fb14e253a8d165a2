//! `stickwire run`: the switch on DPDK ports, one pinned worker per data core, until
//! SIGINT or SIGTERM.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::control::admin::{AdminListen, AdminOptions, AdminServer};
use crate::control::config::{Config, Workers, MAX_WORKERS};
use crate::control::metrics::MetricsServer;
use crate::control::state::ControlState;
use crate::dpdk::{self, DpdkError, DpdkPort, Eal, EthPort, Mbuf, Mempool, QueueId, RxTimestamp};
use crate::engine::hash::Secrets;
use crate::engine::l4::{L4Stats, ReplySteering, WorkerSlot};
use crate::engine::sticky::StickyBus;
use crate::engine::{Counters, Engine};
use crate::port::pcap::CaptureWriter;
use crate::port::tap::Tap;
use crate::port::PortStats;
use crate::runtime::admin::AdminState;
use crate::runtime::arrivals::Arrivals;
use crate::runtime::auto;
use crate::runtime::control::{self, Reloader};
use crate::runtime::health::HealthHost;
use crate::runtime::metrics;
use crate::runtime::peers::HandoffPort;
use crate::runtime::relay::{RunPort, RELAY_RING};
use crate::runtime::report::{HealthSummary, Names};
use crate::runtime::snapshot::Control;
use crate::runtime::stats::StatsBoard;
use crate::runtime::steering::{self, PortSteering};
use crate::runtime::worker::Peers;
use crate::runtime::worker::{IdleBackoff, Worker};
use crate::time::MonotonicClock;
use crate::wire::MacAddr;
use crossbeam_channel::{Receiver, Sender};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("port `{0}` has no `device`: `run` needs a DPDK device for every port")]
    NoDevice(String),
    #[error("port `{port}` ({device}): {source}")]
    Port { port: String, device: String, source: DpdkError },
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error("worker {0} stopped abnormally")]
    WorkerPanicked(usize),
}

/// How to run, besides the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// EAL arguments, after the config's.
    pub eal_args: Vec<String>,
    /// Record what each port receives to `<dir>/<port>-in.pcap`, stamped with the worker's
    /// clock (`port::tap`): `replay` of those captures repeats the run. One worker only.
    pub record_rx: Option<PathBuf>,
    /// The worker's clock.
    pub clock: Clock,
    /// The config's file, read again by `reload` and SIGHUP.
    pub config_path: Option<PathBuf>,
}

/// Where a worker's time comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The machine's monotonic clock: a live switch.
    #[default]
    Monotonic,
    /// The frames' receive timestamps, as a device replaying a capture gives them (net_pcap:
    /// the capture's, in microseconds): the worker runs on the capture's clock, as `replay`
    /// does (`runtime::arrivals`). One worker only.
    Capture,
}

/// What a run did, printed when it stops.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub counters: Counters,
    pub l4: L4Stats,
    pub names: Names,
    pub ports: Vec<(String, PortStats)>,
    pub idle_sleeps: u64,
    /// Mbufs not back in the pool once the ports are closed: anything but 0 is a leak.
    pub mbufs_in_use_after_stop: u32,
    /// Each worker's own figures, in worker order.
    pub per_core: Vec<CoreReport>,
    /// The health checks per checked server.
    pub health: HealthSummary,
}

/// One worker's share of the work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreReport {
    pub rx_frames: u64,
    pub forwarded: u64,
    pub drops: u64,
    pub flows_created: u64,
    /// Frames received here and handed to the core that owns their flow.
    pub handed_off: u64,
    /// Frames for another core that its full hand-off ring refused.
    pub handoff_dropped: u64,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, s) in &self.ports {
            writeln!(
                f,
                "port {name}: rx {} frames {} bytes, tx {} frames {} bytes, tx dropped {}, rx missed {}, no mbuf {}",
                s.rx_frames, s.rx_bytes, s.tx_frames, s.tx_bytes, s.tx_dropped, s.rx_missed, s.alloc_failed
            )?;
        }
        for (core, c) in self.per_core.iter().enumerate() {
            writeln!(
                f,
                "worker {core}: rx {} forwarded {} dropped {} flows created {} handed off {} hand-off ring full {}",
                c.rx_frames, c.forwarded, c.drops, c.flows_created, c.handed_off, c.handoff_dropped
            )?;
        }
        writeln!(f, "idle back-off sleeps: {}", self.idle_sleeps)?;
        writeln!(f, "mbufs in use after stop: {}", self.mbufs_in_use_after_stop)?;
        write!(f, "{}", self.counters)?;
        write!(f, "{}", self.names.describe(&self.l4))?;
        if !self.health.servers.is_empty() {
            write!(f, "\n{}", self.health)?;
        }
        Ok(())
    }
}

/// Starts EAL and the ports, runs the workers until a signal, stops everything cleanly.
pub fn run(config: &Config, options: &RunOptions) -> Result<RunReport, RunError> {
    let devices: Vec<&str> = config.ports.iter().filter_map(|p| p.device.as_deref()).collect();
    let workers = config.workers.get_ref().resolve(|| {
        let n = auto::workers(auto::cores(), &devices, MAX_WORKERS);
        eprintln!("stickwire: workers = auto: {n} on {} core(s) (runtime::auto)", auto::cores());
        n
    });
    // Each worker has its own clock, and frames cross between cores: neither one capture
    // per port nor one clock could say in which order and at which time each core saw them.
    if options.record_rx.is_some() && workers != 1 {
        return Err(RunError::Config(format!(
            "recording what the ports receive needs workers = 1 (the config has {workers})"
        )));
    }
    if options.clock == Clock::Capture && workers != 1 {
        return Err(RunError::Config(format!("the capture's clock needs workers = 1 (the config has {workers})")));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(RunError::Signal)?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup)).map_err(RunError::Signal)?;
    let mut eal_args = config.dpdk.eal_args.clone();
    eal_args.extend_from_slice(&options.eal_args);
    let eal = Eal::init(&eal_args)?;

    let pool = Mempool::new("stickwire_pkts", config.dpdk.mbufs, 256, 2048 + 128)?;
    let mut ports = Vec::new();
    let mut macs = Vec::new();
    let mut steering = Vec::new();
    // What each port faces (clients, servers, both) decides what RSS hashes on it.
    let roles = (config.topology(&vec![MacAddr::ZERO; config.ports.len()]), config.services(Secrets::from_seed(0)));
    for (index, p) in config.ports.iter().enumerate() {
        let name = p.name.get_ref().clone();
        let device = p.device.as_deref().ok_or_else(|| RunError::NoDevice(name.clone()))?;
        // With `auto`, af_packet's queue pairs follow the workers chosen (a socket nobody
        // polls loses frames); a count the config fixed keeps the devices as written.
        let device = match config.workers.get_ref() {
            Workers::Auto => auto::devargs(device, workers),
            Workers::Count(_) => device.to_string(),
        };
        let port_err = |source| RunError::Port { port: name.clone(), device: device.clone(), source };
        let id = EthPort::find_or_probe(&device).map_err(port_err)?;
        // One queue pair per worker where the device has them (RSS, or the kernel's fanout
        // for af_packet with `qpairs=N`); else one, owned by worker 0, relaying for the rest.
        let queues = if EthPort::max_queues(id).map_err(port_err)? >= workers as u16 { workers as u16 } else { 1 };
        if queues < workers as u16 {
            eprintln!("stickwire: port `{name}`: one queue for {workers} workers: worker 0 receives and relays");
        }
        let fields = steering::fields_for(&roles.0, &roles.1, index);
        let mut port = EthPort::configure_rss(id, queues, config.dpdk.descriptors, &pool, fields).map_err(port_err)?;
        steering.push(port_steering(&port, workers));
        let mac = match &p.mac {
            Some(mac) => {
                let mac = mac.get_ref().0;
                if let Err(e) = port.set_mac(mac.0) {
                    eprintln!(
                        "stickwire: port `{name}`: cannot set MAC {mac} ({e}); receiving in promiscuous mode instead"
                    );
                }
                mac
            }
            None => MacAddr(port.mac().map_err(port_err)?),
        };
        // The engine filters on its own MAC; promiscuous mode lets a configured MAC work on
        // devices that cannot change theirs.
        let _ = port.promiscuous(true);
        port.start().map_err(port_err)?;
        eprintln!(
            "stickwire: port `{name}` on {device}: {}/{} mac {mac}, {} queue(s), {}",
            p.ip.get_ref().ip,
            p.ip.get_ref().prefix_len,
            port.n_queues(),
            steering[index].name()
        );
        macs.push(mac);
        ports.push(port);
    }
    let rx_timestamps = match options.clock {
        Clock::Monotonic => None,
        Clock::Capture => Some(RxTimestamp::lookup().ok_or_else(|| {
            RunError::Config("the capture's clock needs a device that gives receive timestamps (net_pcap)".into())
        })?),
    };
    let topology = config.topology(&macs);
    let secrets = match config.seed {
        Some(seed) => {
            eprintln!(
                "stickwire: secrets follow from the config's seed {seed}: reproducible but predictable, for tests only"
            );
            Secrets::from_seed(seed)
        }
        None => Secrets::from_os().map_err(|e| RunError::Config(format!("cannot draw secrets from the OS: {e}")))?,
    };
    eprintln!("stickwire: secrets fingerprint {:08x}", secrets.fingerprint());
    let control =
        Arc::new(Control::new(ControlState::new(config.clone(), secrets), topology.clone(), workers, steering.clone()));
    let reply_steering: Vec<ReplySteering> = steering.iter().map(PortSteering::reply_steering).collect();
    let (reports_tx, reports_rx) = crossbeam_channel::bounded(4096);
    let stats = Arc::new(StatsBoard::new(workers));

    let cores = dpdk::process_cores();
    // Several workers share frames, sticky bindings and load by message (runtime::peers).
    let mut handoffs = HandoffPort::ring(workers).into_iter();
    let mut sticky_ports = StickyBus::new(workers, 4096).into_iter();
    // Per single-queue port: the ring the other workers send through worker 0.
    let relays: Vec<Option<(Sender<Mbuf>, Receiver<Mbuf>)>> =
        ports.iter().map(|p| (p.n_queues() < workers as u16).then(|| crossbeam_channel::bounded(RELAY_RING))).collect();
    let mut handles = Vec::new();
    for w in 0..workers {
        let mut queues = Vec::new();
        for ((port, relay), p) in ports.iter().zip(&relays).zip(&config.ports) {
            let queue = match relay {
                Some((_, from)) if w == 0 => RunPort::queue(DpdkPort::new(port, QueueId(0))?, Some(from.clone())),
                Some((to, _)) => RunPort::relay(to.clone(), port.pool().clone()),
                None => RunPort::queue(DpdkPort::new(port, QueueId(w as u16))?, None),
            };
            let recording = match &options.record_rx {
                Some(dir) => Some(recording(dir, p.name.get_ref())?),
                None => None,
            };
            queues.push(Tap::new(Arrivals::new(queue, rx_timestamps), recording));
        }
        let topology = topology.clone();
        let reply_steering = reply_steering.clone();
        let first = control.current();
        let (services, view) = ((*first.services).clone(), Arc::clone(&first.dispatch));
        let (snapshots, applied, stats) = (control.snapshots(), control.applied(), Arc::clone(&stats));
        // Worker 0 hosts the health checkers. On the capture's clock it takes their results
        // into the control state itself, turn by turn, as `replay` does.
        let health = (w == 0).then(|| (HealthHost::new(Arc::clone(&first.health)), reports_tx.clone()));
        let capture_control = (w == 0 && rx_timestamps.is_some()).then(|| Arc::clone(&control));
        let slot = WorkerSlot { index: w as u16, count: workers as u16 };
        let peered = workers > 1;
        let handoff = handoffs.next().filter(|_| peered);
        let sticky = sticky_ports.next().filter(|_| peered);
        let stop = Arc::clone(&stop);
        let port_names: Vec<String> = config.ports.iter().map(|p| p.name.get_ref().clone()).collect();
        let recording = options.record_rx.is_some();
        let idle = config.idle;
        let nice = config.worker_nice.as_ref().map(|n| *n.get_ref());
        // Leave core 0 to the control thread and whatever else runs on the box, when there
        // is more than one core.
        let core = (!cores.is_empty()).then(|| cores[(w + 1) % cores.len()]);
        handles.push(
            std::thread::Builder::new()
                .name(format!("stickwire-w{w}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    if let Some(nice) = nice {
                        if let Err(e) = set_current_thread_nice(nice) {
                            eprintln!("stickwire: worker {w}: cannot take nice {nice} ({e}); runs at the switch's own");
                        }
                    }
                    let lcore = dpdk::register_thread();
                    if let Err(e) = &lcore {
                        eprintln!("stickwire: worker {w}: not registered with DPDK ({e}); mempool caches unused");
                    }
                    let mut engine = Engine::with_services(topology, services, slot);
                    engine.l4_mut().set_reply_steering(reply_steering);
                    let mut worker =
                        Worker::with_engine(engine, queues).with_snapshots(snapshots, applied, w).with_stats(stats, w);
                    if let Some((host, to_control)) = health {
                        let to_control = capture_control.is_none().then_some(to_control);
                        worker = worker.with_health(host, to_control);
                    }
                    if let (Some(handoff), Some(sticky)) = (handoff, sticky) {
                        worker = worker.with_peers(Peers { view, handoff, sticky });
                    }
                    let clock = MonotonicClock::new();
                    let mut backoff = IdleBackoff::new(idle);
                    while !stop.load(Ordering::Relaxed) {
                        let received = if rx_timestamps.is_some() {
                            for port in worker.ports_mut() {
                                port.inner_mut().fill();
                            }
                            let received = worker.run_to_next_arrival().unwrap_or(0);
                            if let Some(control) = &capture_control {
                                for transition in control::on_capture_clock(control, &mut worker) {
                                    control::log_transition(Some(transition));
                                }
                            }
                            received
                        } else {
                            worker.run_once(clock.now())
                        };
                        backoff.after_poll(received);
                        worker.idle_sleeps = backoff.sleeps;
                    }
                    let engine = worker.engine();
                    let result = (
                        engine.counters().clone(),
                        engine.l4().stats(),
                        worker.port_stats(),
                        backoff.sleeps,
                        worker.handoff_dropped(),
                        worker.handed_off(),
                    );
                    for (tap, name) in worker.into_ports().into_iter().zip(&port_names) {
                        let recorded = tap.recorded;
                        match tap.finish().1 {
                            Err(e) => eprintln!("stickwire: port `{name}`: recording stopped early: {e}"),
                            Ok(()) if recording => {
                                eprintln!("stickwire: port `{name}`: recorded {recorded} frames received")
                            }
                            Ok(()) => {}
                        }
                    }
                    if lcore.is_ok() {
                        dpdk::unregister_thread();
                    }
                    result
                })
                .map_err(RunError::Signal)?,
        );
    }
    let reloader = Reloader::new(Arc::clone(&control), options.config_path.clone());
    let admin = match &config.admin {
        Some(admin) => {
            let admin = admin.get_ref();
            let reloader = Reloader::new(Arc::clone(&control), options.config_path.clone());
            let state = AdminState::new(Arc::clone(&control), reloader, Arc::clone(&stats));
            let listen = AdminListen {
                tcp: admin.listen,
                unix: admin.socket.as_ref().map(|p| (p.get_ref().clone(), admin.mode())),
            };
            let server = AdminServer::spawn_on(&listen, AdminOptions::default(), move |command| state.handle(command))
                .map_err(|e| RunError::Config(format!("admin: {e}")))?;
            if let Some(addr) = admin.listen {
                eprintln!("stickwire: admin API on {addr}");
            }
            if let Some(path) = &admin.socket {
                eprintln!(
                    "stickwire: admin API on {} (mode {})",
                    path.get_ref().display(),
                    admin.socket_mode.get_ref()
                );
            }
            Some(server)
        }
        None => None,
    };
    let metrics = match &config.metrics {
        Some(m) => {
            let (control, stats) = (Arc::clone(&control), Arc::clone(&stats));
            let server = MetricsServer::spawn(m.listen, move || metrics::render(&control, &stats))
                .map_err(|e| RunError::Config(format!("metrics.listen {}: {e}", m.listen)))?;
            eprintln!("stickwire: metrics on http://{}/metrics", server.local_addr());
            Some(server)
        }
        None => None,
    };
    eprintln!("stickwire: running with {workers} worker(s); SIGINT or SIGTERM stops, SIGHUP reloads");
    drop(reports_tx);
    control::run(&control, &reloader, &reports_rx, &stop, &hup, options.clock == Clock::Monotonic);

    let mut report = RunReport {
        counters: Counters::default(),
        l4: L4Stats::default(),
        names: Names::default(),
        ports: Vec::new(),
        idle_sleeps: 0,
        mbufs_in_use_after_stop: 0,
        per_core: Vec::new(),
        health: HealthSummary::default(),
    };
    let mut port_stats = vec![PortStats::default(); ports.len()];
    for (w, handle) in handles.into_iter().enumerate() {
        let (counters, l4, stats, sleeps, handoff_dropped, handed_off) =
            handle.join().map_err(|_| RunError::WorkerPanicked(w))?;
        report.per_core.push(CoreReport {
            rx_frames: counters.rx_frames,
            forwarded: counters.forwarded,
            drops: counters.total_drops(),
            flows_created: l4.flows_created,
            handed_off,
            handoff_dropped,
        });
        report.counters.add(&counters);
        report.l4.add(&l4);
        report.idle_sleeps += sleeps;
        for (sum, s) in port_stats.iter_mut().zip(stats) {
            sum.add(&s);
        }
    }
    // Results the control thread had no time to take before it stopped: the report counts
    // every check the workers finished.
    for r in reports_rx.try_iter() {
        control::log_transition(control::apply_health(&control, r));
    }
    report.health = control.read(HealthSummary::of);
    if let Some(admin) = admin {
        admin.shutdown();
    }
    drop(metrics);
    report.names = Names::of(&control.current().services);
    for port in &mut ports {
        if let Err(e) = port.stop() {
            eprintln!("stickwire: port {}: {e}", port.name());
        }
    }
    report.ports = config.ports.iter().map(|p| p.name.get_ref().clone()).zip(port_stats).collect();
    // Frames still in the relay rings go back to the pool with them.
    drop(relays);
    drop(ports);
    report.mbufs_in_use_after_stop = pool.in_use_count();
    drop(pool);
    drop(eal);
    Ok(report)
}

/// How a configured port spreads frames over `workers` workers: one queue (or a device that
/// spreads nothing) is worker 0's; af_packet's sockets share the kernel's fanout; a device
/// with RSS is modelled from what it says it does.
fn port_steering(port: &EthPort, workers: usize) -> PortSteering {
    if usize::from(port.n_queues()) < workers || workers == 1 {
        return PortSteering::Single;
    }
    if port.driver().contains("af_packet") {
        return PortSteering::Flows;
    }
    match port.rss_model() {
        Some(rss) => PortSteering::Rss(Arc::new(rss.clone())),
        None => PortSteering::Single,
    }
}

/// The capture a port's received frames are recorded to: `<dir>/<port>-in.pcap`.
fn recording(dir: &std::path::Path, port: &str) -> Result<CaptureWriter, RunError> {
    std::fs::create_dir_all(dir).map_err(|e| RunError::Config(format!("--record-rx {}: {e}", dir.display())))?;
    CaptureWriter::create(&dir.join(format!("{port}-in.pcap")))
        .map_err(|e| RunError::Config(format!("--record-rx: {e}")))
}

/// Gives the calling thread (not the whole process) nice value `nice`: Linux keeps one per
/// thread, and only the workers take the config's.
fn set_current_thread_nice(nice: i32) -> std::io::Result<()> {
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    Ok(())
}
