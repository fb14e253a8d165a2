//! Full NAT's local ports: each core takes those whose replies come back to it.
//!
//! A server answers a full-NAT flow at the switch's local address and port, so that tuple
//! decides where the reply lands. On a device that spreads frames by RSS the core computes
//! the queue a candidate's reply lands on (the same Toeplitz and table as the device,
//! `wire::rss`) and takes only ports that land on its own queue: replies need no hand-off
//! (DPVS does the same with flow-director rules per core, `rte_thash` with predictable
//! RSS). On a device that cannot be steered (af_packet's kernel fanout, a single queue) the
//! core takes the ports with `port % workers == core`, and the core a reply reaches hands it
//! to that one (`runtime::peers`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::super::flow::{Direction, FlowState, FlowTable, InsertError};
use super::super::topology::PortAddr;
use super::{WorkerSlot, L4};
use crate::time::Instant;
use crate::wire::rss::{Rss, Tuple};

/// The lowest local port full NAT uses.
pub(super) const LOCAL_PORT_MIN: u16 = 1024;
/// Local ports tried for one new flow (taken by another flow) before it is refused.
const LOCAL_PORT_TRIES: usize = 64;
/// Candidates looked at for one new flow, at most, per worker: a redirection table that
/// gives this core no entry must not make the search endless.
const CANDIDATES_PER_WORKER: usize = 8 * LOCAL_PORT_TRIES;

/// How replies reach the core on one port towards the servers.
#[derive(Debug, Clone, Default)]
pub enum ReplySteering {
    /// The device cannot be steered: a reply to local port `p` belongs to core
    /// `p % workers`, and reaches it by hand-off if it lands elsewhere.
    #[default]
    ByPort,
    /// The device spreads by RSS; worker `i` owns queue `i`.
    Rss(Arc<Rss>),
}

impl ReplySteering {
    /// Whether a reply from `server` to `local` lands on worker `slot`.
    #[inline]
    pub fn comes_back(&self, slot: WorkerSlot, server: (Ipv4Addr, u16), local: (Ipv4Addr, u16), proto: u8) -> bool {
        if slot.count <= 1 {
            return true;
        }
        match self {
            ReplySteering::ByPort => local.1 % slot.count == slot.index,
            ReplySteering::Rss(rss) => {
                let tuple = Tuple { src: server.0, dst: local.0, ports: Some((server.1, local.1)) };
                let _ = proto; // TCP and UDP hash alike
                rss.queue_of_tuple(&tuple) == slot.index
            }
        }
    }
}

impl L4 {
    /// How replies reach this core on each port (by the topology's port index); ports not
    /// listed cannot be steered.
    pub fn set_reply_steering(&mut self, steering: Vec<ReplySteering>) {
        self.reply_steering = steering;
    }

    /// Tries local addresses and ports of this core, in turn, until `attempt` takes one: the
    /// addresses of port `port` (`sources`) take turns, and the port moves on once every
    /// address had it, so flow after flow spreads over all of them. Only pairs whose reply
    /// from `server` comes back to this core are offered.
    ///
    /// A pair held by a closed flow (lingering in TIME_WAIT or CLOSE for late segments) is
    /// taken from it, as Linux's `tcp_tw_reuse` and IPVS do: at thousands of connections a
    /// second, closed flows would otherwise hold every port towards a server for their two
    /// minutes and new clients would be refused. A server still holding the old connection
    /// answers the SYN with its ACK; the switch resets that connection and sends the SYN
    /// again (`L4::reset_old_connection`, and its L7 counterpart).
    pub(super) fn with_local_port<T>(
        &mut self,
        port: usize,
        sources: &PortAddr,
        server: (Ipv4Addr, u16),
        proto: u8,
        now: Instant,
        mut attempt: impl FnMut(&mut FlowTable, Ipv4Addr, u16) -> Result<T, InsertError>,
    ) -> Result<T, InsertError> {
        let n_sources = sources.nat_sources();
        let steering = self.reply_steering.get(port).cloned().unwrap_or_default();
        let mut tries = 0;
        for _ in 0..CANDIDATES_PER_WORKER * usize::from(self.slot.count.max(1)) {
            let (local_port, local_ip) = (self.next_local_port, sources.nat_source(self.next_local_ip));
            self.next_local_ip += 1;
            if self.next_local_ip >= n_sources {
                self.next_local_ip = 0;
                // The top of the range is the switch's own TCP stack's (health checks).
                self.next_local_port = match local_port.checked_add(1) {
                    Some(p) if p < *crate::engine::LOCAL_STACK_PORTS.start() => p,
                    _ => LOCAL_PORT_MIN,
                };
            }
            if !steering.comes_back(self.slot, server, (local_ip, local_port), proto) {
                continue;
            }
            match attempt(&mut self.flows, local_ip, local_port) {
                Err(InsertError::KeyInUse(other, Direction::FromServer))
                    if matches!(self.flows.get(other).state(), FlowState::TimeWait | FlowState::Close) =>
                {
                    self.stats.local_ports_reused += 1;
                    self.end_flow(other, now);
                    return attempt(&mut self.flows, local_ip, local_port);
                }
                Err(InsertError::KeyInUse(_, Direction::FromServer)) => {
                    tries += 1;
                    if tries >= LOCAL_PORT_TRIES {
                        break;
                    }
                }
                other => return other,
            }
        }
        Err(InsertError::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rss::{Fields, SYMMETRIC_KEY};

    const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 18, 1, 10), 80);

    #[test]
    fn by_port_takes_every_workers_share() {
        let slot = |index| WorkerSlot { index, count: 3 };
        let local = |p| (Ipv4Addr::new(198, 18, 1, 1), p);
        for p in 1024..1100u16 {
            let owners: Vec<u16> =
                (0..3).filter(|&i| ReplySteering::ByPort.comes_back(slot(i), SERVER, local(p), 6)).collect();
            assert_eq!(owners, vec![p % 3]);
        }
    }

    #[test]
    fn rss_takes_the_ports_whose_replies_land_on_this_queue() {
        for fields in [Fields::Tuple, Fields::Destination] {
            let rss = Arc::new(Rss::new(&SYMMETRIC_KEY, fields, 4, 128));
            let steering = ReplySteering::Rss(Arc::clone(&rss));
            let mut share = [0; 4];
            for p in 1024..5120u16 {
                let local = (Ipv4Addr::new(198, 18, 1, 2), p);
                let reply = Tuple { src: SERVER.0, dst: local.0, ports: Some((SERVER.1, p)) };
                let owners: Vec<u16> = (0..4)
                    .filter(|&index| steering.comes_back(WorkerSlot { index, count: 4 }, SERVER, local, 6))
                    .collect();
                assert_eq!(owners, vec![rss.queue_of_tuple(&reply)], "{fields:?} port {p}");
                share[usize::from(owners[0])] += 1;
            }
            assert!(share.iter().all(|&n| n > 800), "{fields:?}: {share:?}");
        }
    }
}
