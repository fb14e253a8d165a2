//! The poll loop of one worker: receive a burst on each port, run every frame through the
//! engine, transmit what it produced. Generic over the port, so `run` (DPDK), `replay`
//! (captures) and the benchmarks (in-memory) all run this same code.

use std::time::Duration;

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::control::config::Idle;
use crate::control::state::HealthReport;
use crate::engine::sticky::StickyPort;
use crate::engine::{Engine, Output, Topology};
use crate::port::{Port, PortStats, BURST};
use crate::runtime::health::HealthHost;
use crate::runtime::peers::{DispatchView, Handoff, HandoffPort, LoadBoard, Owner};
use crate::runtime::snapshot::{Applied, Snapshots};
use crate::runtime::stats::{Publisher, StatsBoard};
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;

/// What a worker shares with the others when there are several (see `runtime::peers`).
pub struct Peers<B> {
    pub view: Arc<DispatchView>,
    pub handoff: HandoffPort<B>,
    pub sticky: StickyPort,
}

/// A worker's way to the control side: the snapshots it runs on, and the board where it
/// publishes its flows per server (and reads the other cores').
struct ControlLink {
    snapshots: Snapshots,
    /// The generation this worker runs on, told to the control side through `applied`.
    generation: u64,
    applied: Arc<Applied>,
    board: Arc<LoadBoard>,
    core: usize,
    others: Vec<u32>,
    turns: u32,
}

/// How many frames of the hand-off inbox one turn takes at most.
const INBOX_PER_TURN: usize = 4 * BURST;
/// Turns between two publications of this core's load.
const LOAD_EVERY: u32 = 64;

/// One core's engine and its ports.
pub struct Worker<P: Port> {
    engine: Engine<P::Buf>,
    ports: Vec<P>,
    out: Output<P::Buf>,
    rx: Vec<P::Buf>,
    /// The frames of a received burst this core owns, in their order (with peers).
    mine: Vec<P::Buf>,
    started: bool,
    peers: Option<Peers<P::Buf>>,
    control: Option<ControlLink>,
    health: Option<HealthLink>,
    stats: Option<StatsLink>,
    /// The idle back-off's sleeps so far, as the loop around this worker counts them.
    pub idle_sleeps: u64,
    /// The time of the last turn.
    now: Instant,
}

/// Where this worker publishes its live counters.
struct StatsLink {
    board: Arc<StatsBoard>,
    core: usize,
    publisher: Publisher,
}

/// The health checkers this worker hosts, and where their results go (the control side's
/// thread; none when the caller takes them itself, as `replay` does).
struct HealthLink {
    host: HealthHost,
    to_control: Option<Sender<HealthReport>>,
}

impl<P: Port> Worker<P> {
    /// A worker that owns its addresses and serves no VIP port; port `i` is the topology's
    /// port `i`.
    pub fn new(topology: Topology, ports: Vec<P>) -> Worker<P> {
        Worker::with_engine(Engine::new(topology), ports)
    }

    /// A worker around an engine built by the caller.
    pub fn with_engine(engine: Engine<P::Buf>, ports: Vec<P>) -> Worker<P> {
        let out = Output::new(ports.len());
        Worker {
            engine,
            ports,
            out,
            rx: Vec::with_capacity(BURST),
            mine: Vec::with_capacity(BURST),
            started: false,
            peers: None,
            control: None,
            health: None,
            stats: None,
            idle_sleeps: 0,
            now: Instant::ZERO,
        }
    }

    /// Shares frames, sticky bindings and load with the other workers.
    pub fn with_peers(mut self, peers: Peers<P::Buf>) -> Worker<P> {
        self.peers = Some(peers);
        self
    }

    /// Runs on the snapshots the control side publishes (switching at the start of the turn
    /// after one is published), and, as core `core`, publishes its flows per server and
    /// reads the other cores' for least-connections.
    pub fn with_snapshots(mut self, snapshots: Snapshots, applied: Arc<Applied>, core: usize) -> Worker<P> {
        let current = snapshots.load_full();
        self.engine.l4_mut().set_services(Arc::clone(&current.services));
        applied.mark(core, current.generation);
        let others = vec![0; current.load.servers()];
        let board = Arc::clone(&current.load);
        let generation = current.generation;
        self.control = Some(ControlLink { snapshots, generation, applied, board, core, others, turns: 0 });
        self
    }

    /// Hosts the health checkers: TCP to their ports of the switch's own addresses goes to
    /// them, what they send goes out through the engine; each check's result goes to
    /// `to_control` (or waits for [`take_health_reports`](Self::take_health_reports)).
    pub fn with_health(mut self, host: HealthHost, to_control: Option<Sender<HealthReport>>) -> Worker<P> {
        self.engine.set_local_stack(true);
        self.health = Some(HealthLink { host, to_control });
        self
    }

    /// Publishes live counters on `board` as core `core`, and answers `show sticky` there.
    pub fn with_stats(mut self, board: Arc<StatsBoard>, core: usize) -> Worker<P> {
        self.stats = Some(StatsLink { board, core, publisher: Publisher::default() });
        self
    }

    /// The health checks' results since the last call (when no channel takes them).
    pub fn take_health_reports(&mut self) -> Vec<HealthReport> {
        self.health.as_mut().map(|h| h.host.take_reports().collect()).unwrap_or_default()
    }

    /// The hosted health checkers.
    pub fn health(&self) -> Option<&HealthHost> {
        self.health.as_ref().map(|h| &h.host)
    }

    /// One turn of the loop at time `now`; returns how many frames were received.
    pub fn run_once(&mut self, now: Instant) -> usize {
        self.now = now;
        let Worker { engine, ports, out, rx, mine, started, peers, control, health, stats, idle_sleeps, now: _ } = self;
        if !*started {
            *started = true;
            engine.start(&mut || ports[0].alloc(), out);
        }
        if let Some(link) = control.as_mut() {
            link.follow(engine, peers.as_mut(), health.as_mut().map(|h| &mut h.host), now);
        }
        let mut received = 0;
        for (i, port) in ports.iter_mut().enumerate() {
            port.rx_burst(now, rx, BURST);
            received += rx.len();
            let Some(p) = peers.as_mut() else {
                engine.process_burst(i, rx, now, &mut || port.alloc(), out);
                continue;
            };
            // A device that steers every flow to its owner (RSS as modelled): unless the burst
            // holds ARP or the health checker's segments, all of it is this core's, as it is.
            if p.view.steered(i) && rx.iter().all(|f| p.view.owner_when_steered(i, f.as_ref()) == Owner::Here) {
                engine.process_burst(i, rx, now, &mut || port.alloc(), out);
                continue;
            }
            // Frames of flows another core owns go to it, ARP is copied to every core, and the
            // rest keeps its order for this core.
            let me = p.handoff.core;
            for frame in rx.drain(..) {
                match p.view.owner(i, frame.as_ref()) {
                    Owner::Core(core) if core != me => {
                        p.handoff.send(core, Handoff { port: i, frame, learn_only: false });
                        continue;
                    }
                    Owner::Everyone => {
                        for core in (0..p.handoff.to.len()).filter(|&c| c != me) {
                            let Some(mut copy) = port.alloc() else { break };
                            if copy.try_copy_from(frame.as_ref()) {
                                p.handoff.send(core, Handoff { port: i, frame: copy, learn_only: true });
                            }
                        }
                    }
                    _ => {}
                }
                mine.push(frame);
            }
            engine.process_burst(i, mine, now, &mut || port.alloc(), out);
        }
        if let Some(p) = peers.as_mut() {
            for h in p.handoff.inbox.try_iter().take(INBOX_PER_TURN) {
                received += 1;
                if h.learn_only {
                    engine.learn_from_arp(h.port, h.frame, now, out);
                } else {
                    engine.process(h.port, h.frame, now, &mut || ports[h.port].alloc(), out);
                }
            }
        }
        engine.poll(now, &mut || ports[0].alloc(), out);
        // Segments for the health checkers: copied to them, the frames freed with the rest.
        for frame in out.local.drain(..) {
            if let Some(h) = health.as_mut() {
                h.host.receive(frame.as_ref());
            }
            out.dropped.push(frame);
        }
        if let Some(h) = health.as_mut() {
            h.host.poll(now, |packet| {
                engine.send_local(packet, now, &mut || ports[0].alloc(), out);
            });
            if let Some(to) = &h.to_control {
                for report in h.host.take_reports() {
                    // The control side reads all the time; a full channel loses a result,
                    // and the next check says the same again.
                    let _ = to.try_send(report);
                }
            }
        }
        if let Some(p) = peers.as_mut() {
            let l4 = engine.l4_mut();
            for update in l4.sticky_out.drain(..) {
                p.sticky.publish(update);
            }
            for update in p.sticky.drain(256) {
                l4.apply_sticky(update, now);
            }
        } else {
            engine.l4_mut().sticky_out.clear();
        }
        if let Some(link) = control.as_mut() {
            link.turns = link.turns.wrapping_add(1);
            if link.turns % LOAD_EVERY == 0 {
                let l4 = engine.l4_mut();
                link.board.publish(link.core, l4.load());
                link.board.others(link.core, &mut link.others);
                l4.set_others_load(&link.others);
            }
        }
        for (port, frames) in ports.iter_mut().zip(out.tx.iter_mut()) {
            if !frames.is_empty() {
                port.tx_burst(now, frames);
            }
        }
        if !out.dropped.is_empty() {
            ports[0].free(&mut out.dropped);
        }
        if let Some(st) = stats.as_mut() {
            if st.publisher.due(now) {
                let handoff_dropped = peers.as_ref().map_or(0, |p| p.handoff.dropped);
                publish(st, engine, ports, health.as_ref().map(|h| &h.host), *idle_sleeps, handoff_dropped);
            }
        }
        received
    }

    /// One turn on the frames' own clock (`replay`, and `run --clock capture`): the clock
    /// moves to the earliest next arrival of any port, or to the engine's next deadline if
    /// that comes first, so a retransmission due between two frames goes out at its time as
    /// on a live switch. `None`, and no turn, when no port has a frame waiting: the clock
    /// stops at the last frame.
    pub fn run_to_next_arrival(&mut self) -> Option<usize> {
        let arrival = self.ports.iter().filter_map(Port::next_arrival).min()?;
        let mut now = self.engine.poll_timeout().map_or(arrival, |deadline| deadline.min(arrival));
        if let Some(at) = self.health.as_ref().and_then(|h| h.host.poll_at()) {
            now = now.min(at);
        }
        Some(self.run_once(now))
    }

    /// The time of the last turn (`ZERO` before the first).
    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn engine(&self) -> &Engine<P::Buf> {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine<P::Buf> {
        &mut self.engine
    }

    pub fn ports(&self) -> &[P] {
        &self.ports
    }

    pub fn ports_mut(&mut self) -> &mut [P] {
        &mut self.ports
    }

    pub fn into_ports(self) -> Vec<P> {
        self.ports
    }

    /// Frames a full hand-off ring refused.
    pub fn handoff_dropped(&self) -> u64 {
        self.peers.as_ref().map_or(0, |p| p.handoff.dropped)
    }

    /// Frames this worker received and handed to the core that owns them.
    pub fn handed_off(&self) -> u64 {
        self.peers.as_ref().map_or(0, |p| p.handoff.sent)
    }

    /// The summed counters of this worker's ports.
    pub fn port_stats(&self) -> Vec<PortStats> {
        self.ports.iter().map(Port::stats).collect()
    }
}

/// Copies this worker's counters to its slot, and answers a pending `show sticky`.
fn publish<P: Port>(
    st: &StatsLink,
    engine: &Engine<P::Buf>,
    ports: &[P],
    health: Option<&HealthHost>,
    idle_sleeps: u64,
    handoff_dropped: u64,
) {
    let l4 = engine.l4();
    st.board.publish(st.core, |slot| {
        slot.counters.clone_from(engine.counters());
        l4.stats_into(&mut slot.l4);
        slot.ports.clear();
        slot.ports.extend(ports.iter().map(Port::stats));
        (slot.flows, slot.flow_capacity) = (l4.flows().len(), l4.flows().capacity());
        (slot.sticky, slot.sticky_capacity) = (l4.sticky().len(), l4.sticky().capacity());
        (slot.cookies, slot.cookie_capacity) = (l4.learned_cookies().len(), l4.learned_cookies().capacity());
        slot.idle_sleeps = idle_sleeps;
        slot.handoff_dropped = handoff_dropped;
        slot.health = health.map(HealthHost::counters);
    });
    // An operator's request: a scan of the tables, bounded by their fixed size.
    st.board.answer_dump(st.core, |dump| {
        dump.client_total = l4.sticky().len();
        dump.cookie_total = l4.learned_cookies().len();
        dump.client.extend(l4.sticky().iter().take(dump.limit));
        let left = dump.limit - dump.client.len();
        dump.cookies.extend(l4.learned_cookies().iter().take(left));
    });
}

impl ControlLink {
    /// Switches to the snapshot published last, if it is newer than the one this worker
    /// runs on: one atomic load when nothing changed.
    fn follow<B: FrameBuf>(
        &mut self,
        engine: &mut Engine<B>,
        peers: Option<&mut Peers<B>>,
        health: Option<&mut HealthHost>,
        now: Instant,
    ) {
        let current = self.snapshots.load();
        if current.generation == self.generation {
            return;
        }
        self.generation = current.generation;
        engine.l4_mut().set_services(Arc::clone(&current.services));
        if let Some(h) = health {
            h.set_plan(Arc::clone(&current.health), now);
        }
        if let Some(p) = peers {
            p.view = Arc::clone(&current.dispatch);
        }
        if !Arc::ptr_eq(&self.board, &current.load) {
            self.board = Arc::clone(&current.load);
            self.others.resize(self.board.servers(), 0);
        }
        self.applied.mark(self.core, self.generation);
    }
}

/// Backs a busy-polling loop off when it is not behind, so that a small box running clients
/// and servers beside the switch is not starved: after `SPIN_POLLS` empty polls it sleeps,
/// starting at 1 µs and doubling up to `MAX_SLEEP`. Only a full burst (the queues may hold
/// more: the worker is behind) resets it. A shorter burst means the worker emptied its
/// queues, so it goes on sleeping between polls and takes what gathered meanwhile, as a NIC
/// coalesces its interrupts: a trickle of frames, such as a SYN flood's or a few clients',
/// no longer keeps the core spinning. With `idle = "poll"` it never sleeps.
#[derive(Debug, Default)]
pub struct IdleBackoff {
    idle: Idle,
    empty_polls: u32,
    sleep: Duration,
    /// Times the loop slept, for stats.
    pub sleeps: u64,
}

impl IdleBackoff {
    pub const SPIN_POLLS: u32 = 8;
    pub const MAX_SLEEP: Duration = Duration::from_micros(50);

    pub fn new(idle: Idle) -> Self {
        IdleBackoff { idle, ..Default::default() }
    }

    /// Call after each turn of the loop with the number of frames it received.
    pub fn after_poll(&mut self, received: usize) {
        if received >= BURST || self.idle == Idle::Poll {
            self.empty_polls = 0;
            self.sleep = Duration::ZERO;
            return;
        }
        if received > 0 {
            return;
        }
        self.empty_polls = self.empty_polls.saturating_add(1);
        if self.empty_polls < Self::SPIN_POLLS {
            return;
        }
        self.sleep = (self.sleep * 2).clamp(Duration::from_micros(1), Self::MAX_SLEEP);
        self.sleeps += 1;
        std::thread::sleep(self.sleep);
    }

    /// The sleep the next idle poll would take (zero while spinning).
    pub fn current_sleep(&self) -> Duration {
        self.sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_sleeps_longer_then_resets() {
        let mut b = IdleBackoff::default();
        for _ in 0..IdleBackoff::SPIN_POLLS - 1 {
            b.after_poll(0);
        }
        assert_eq!(b.sleeps, 0);
        b.after_poll(0);
        b.after_poll(0);
        assert_eq!(b.sleeps, 2);
        assert_eq!(b.current_sleep(), Duration::from_micros(2));
        for _ in 0..20 {
            b.after_poll(0);
        }
        assert_eq!(b.current_sleep(), IdleBackoff::MAX_SLEEP);
        b.after_poll(BURST);
        assert_eq!(b.current_sleep(), Duration::ZERO);
    }

    #[test]
    fn a_trickle_of_frames_does_not_stop_the_sleeps() {
        let mut b = IdleBackoff::default();
        for _ in 0..IdleBackoff::SPIN_POLLS + 20 {
            b.after_poll(0);
        }
        let asleep = b.sleeps;
        // A flood's few frames per poll: each empty poll after them sleeps again at once.
        for _ in 0..10 {
            b.after_poll(3);
            b.after_poll(0);
        }
        assert_eq!((b.sleeps, b.current_sleep()), (asleep + 10, IdleBackoff::MAX_SLEEP));
        // A full burst: the worker is behind, it spins again.
        b.after_poll(BURST);
        b.after_poll(0);
        assert_eq!((b.sleeps, b.current_sleep()), (asleep + 10, Duration::ZERO));
    }

    #[test]
    fn a_polling_worker_never_sleeps() {
        let mut b = IdleBackoff::new(Idle::Poll);
        for _ in 0..10 * IdleBackoff::SPIN_POLLS {
            b.after_poll(0);
        }
        assert_eq!((b.sleeps, b.current_sleep()), (0, Duration::ZERO));
    }
}
