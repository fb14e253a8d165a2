//! Several workers built together, sharing nothing but messages: each its own engine (worker
//! `i` of `n`, its full-NAT local ports chosen for how the devices steer replies), its own
//! queue of every port, a hand-off ring and a sticky-binding inbox. What `run` does on DPDK
//! queues, for the in-memory ports of the benchmarks and tests.

use std::sync::Arc;

use crate::engine::l4::WorkerSlot;
use crate::engine::service::Services;
use crate::engine::sticky::StickyBus;
use crate::engine::{Engine, Topology};
use crate::port::Port;
use crate::runtime::peers::{DispatchView, HandoffPort};
use crate::runtime::steering::PortSteering;
use crate::runtime::worker::{Peers, Worker};

/// Sticky updates one core's inbox holds.
const STICKY_INBOX: usize = 4096;

/// One worker per element of `queues` (worker `i` gets `queues[i]`, its queue of each port in
/// the topology's order), on ports spread as `steering` says.
pub fn workers<P: Port>(
    topology: &Topology,
    services: &Services,
    steering: &[PortSteering],
    queues: Vec<Vec<P>>,
) -> Vec<Worker<P>> {
    let n = queues.len();
    let view = Arc::new(DispatchView::new(topology, services, n, steering));
    let reply_steering: Vec<_> = steering.iter().map(PortSteering::reply_steering).collect();
    let mut handoffs = HandoffPort::ring(n).into_iter();
    let mut sticky = StickyBus::new(n, STICKY_INBOX).into_iter();
    queues
        .into_iter()
        .enumerate()
        .map(|(i, ports)| {
            let slot = WorkerSlot { index: i as u16, count: n as u16 };
            let mut engine = Engine::with_services(topology.clone(), services.clone(), slot);
            engine.l4_mut().set_reply_steering(reply_steering.clone());
            let worker = Worker::with_engine(engine, ports);
            match (handoffs.next(), sticky.next()) {
                (Some(handoff), Some(sticky)) if n > 1 => {
                    worker.with_peers(Peers { view: Arc::clone(&view), handoff, sticky })
                }
                _ => worker,
            }
        })
        .collect()
}
