//! The poll loop of one worker: receive a burst on each port, run every frame through the
//! engine, transmit what it produced. Generic over the port, so `run` (DPDK), `replay`
//! (captures) and the benchmarks (in-memory) all run this same code.

use std::time::Duration;

use std::sync::Arc;

use crate::engine::sticky::StickyPort;
use crate::engine::{Engine, Output, Topology};
use crate::port::{Port, PortStats, BURST};
use crate::runtime::peers::{DispatchView, Handoff, HandoffPort, LoadBoard, Owner};
use crate::runtime::snapshot::{Applied, Snapshots};
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

    /// One turn of the loop at time `now`; returns how many frames were received.
    pub fn run_once(&mut self, now: Instant) -> usize {
        let Worker { engine, ports, out, rx, mine, started, peers, control } = self;
        if !*started {
            *started = true;
            engine.start(&mut || ports[0].alloc(), out);
        }
        if let Some(link) = control.as_mut() {
            link.follow(engine, peers.as_mut());
        }
        let mut received = 0;
        for (i, port) in ports.iter_mut().enumerate() {
            port.rx_burst(now, rx, BURST);
            received += rx.len();
            let Some(p) = peers.as_mut() else {
                engine.process_burst(i, rx, now, &mut || port.alloc(), out);
                continue;
            };
            // Frames of flows another core owns go to it, ARP is copied to every core, and the
            // rest keeps its order for this core.
            let me = p.handoff.core;
            for frame in rx.drain(..) {
                match p.view.owner(frame.as_ref()) {
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
        received
    }

    /// One turn on the frames' own clock (`replay`, and `run --clock capture`): the clock
    /// moves to the earliest next arrival of any port, or to the engine's next deadline if
    /// that comes first, so a retransmission due between two frames goes out at its time as
    /// on a live switch. `None`, and no turn, when no port has a frame waiting: the clock
    /// stops at the last frame.
    pub fn run_to_next_arrival(&mut self) -> Option<usize> {
        let arrival = self.ports.iter().filter_map(Port::next_arrival).min()?;
        let now = self.engine.poll_timeout().map_or(arrival, |deadline| deadline.min(arrival));
        Some(self.run_once(now))
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

    /// The summed counters of this worker's ports.
    pub fn port_stats(&self) -> Vec<PortStats> {
        self.ports.iter().map(Port::stats).collect()
    }
}

impl ControlLink {
    /// Switches to the snapshot published last, if it is newer than the one this worker
    /// runs on: one atomic load when nothing changed.
    fn follow<B: FrameBuf>(&mut self, engine: &mut Engine<B>, peers: Option<&mut Peers<B>>) {
        let current = self.snapshots.load();
        if current.generation == self.generation {
            return;
        }
        self.generation = current.generation;
        engine.l4_mut().set_services(Arc::clone(&current.services));
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

/// Backs a busy-polling loop off when there is nothing to do, so that a small box running
/// clients and servers beside the switch is not starved: after `SPIN_POLLS` empty polls it
/// sleeps, starting at 1 µs and doubling up to `MAX_SLEEP`. Any traffic resets it.
#[derive(Debug, Default)]
pub struct IdleBackoff {
    empty_polls: u32,
    sleep: Duration,
    /// Times the loop slept, for stats.
    pub sleeps: u64,
}

impl IdleBackoff {
    pub const SPIN_POLLS: u32 = 256;
    pub const MAX_SLEEP: Duration = Duration::from_micros(50);

    /// Call after each turn of the loop with the number of frames it received.
    pub fn after_poll(&mut self, received: usize) {
        if received > 0 {
            self.empty_polls = 0;
            self.sleep = Duration::ZERO;
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
        b.after_poll(3);
        assert_eq!(b.current_sleep(), Duration::ZERO);
    }
}
