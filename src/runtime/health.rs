//! The health checkers' host: worker 0 runs them in its loop, on its own clock.
//!
//! One [`Checker`] (a smoltcp interface) per switch port that faces real servers, on the
//! port's own address. The engine hands over the TCP segments addressed to it
//! ([`Output::local`](crate::engine::Output), on ports full NAT never takes; the other
//! workers hand such frames to worker 0 like any frame of a flow it owns), and what smoltcp
//! sends goes out through the engine's routing and ARP (`Engine::send_local`). Each check's
//! result goes to the control side, which makes a new snapshot when a server goes up or down.
//!
//! Why worker 0 and not a thread of its own: the checks then run on the data path's clock
//! and turns, so a run recorded with `--record-rx` replays with its health checks exactly,
//! and a check never waits for a thread the OS put aside while the workers keep the cores
//! busy. It costs the worker a look at one deadline per turn.

use std::sync::Arc;

use crate::control::state::{HealthPlan, HealthReport};
use crate::health::{Checker, HealthCounters};
use crate::time::Instant;
use crate::wire::{ethernet, ipv4};

/// One port's checker and what was last reported of its targets.
struct PortChecker {
    port: usize,
    addr: std::net::Ipv4Addr,
    checker: Checker,
    /// Per target (in the checker's order): checks finished when last reported.
    reported: Vec<u64>,
}

/// The checkers of one switch, hosted by one worker.
pub struct HealthHost {
    plan: Arc<HealthPlan>,
    checkers: Vec<PortChecker>,
    /// Results not yet taken by the control side.
    reports: Vec<HealthReport>,
    /// When the checkers next need a poll (`ZERO` before the first: as soon as possible).
    next_poll: Instant,
    /// Whether frames arrived since the last poll.
    received: bool,
    started: bool,
    /// Packets that were not for any checker's address.
    pub stray: u64,
}

impl HealthHost {
    /// Hosts the checks of `plan`; they start at the first poll.
    pub fn new(plan: Arc<HealthPlan>) -> HealthHost {
        HealthHost {
            plan,
            checkers: Vec::new(),
            reports: Vec::new(),
            next_poll: Instant::ZERO,
            received: false,
            started: false,
            stray: 0,
        }
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.plan.ports.is_empty()
    }

    /// Follows a new plan (a reload): a checker per port, its targets replaced (a server
    /// whose check is unchanged keeps its state and cadence).
    pub fn set_plan(&mut self, plan: Arc<HealthPlan>, now: Instant) {
        if Arc::ptr_eq(&plan, &self.plan) {
            return;
        }
        self.plan = plan;
        if self.started {
            self.apply_plan(now);
        }
    }

    fn apply_plan(&mut self, now: Instant) {
        let mut next = Vec::with_capacity(self.plan.ports.len());
        for checks in &self.plan.ports {
            let kept = self.checkers.iter().position(|c| c.port == checks.port && c.addr == checks.local.addr);
            let built = match kept {
                Some(i) => {
                    let mut c = self.checkers.swap_remove(i);
                    // Validated with the config: the targets fit the local end.
                    let _ = c.checker.set_targets(checks.targets.clone(), now);
                    Some(c)
                }
                None => Checker::new(checks.local.clone(), checks.targets.clone(), now).ok().map(|checker| {
                    PortChecker { port: checks.port, addr: checks.local.addr, checker, reported: Vec::new() }
                }),
            };
            next.extend(built);
        }
        for c in &mut next {
            c.reported = c.checker.status().map(|s| s.checks).collect();
        }
        self.checkers = next;
        self.next_poll = now;
    }

    /// Takes a frame the engine handed over: its IPv4 packet goes to the checker of its
    /// destination address.
    pub fn receive(&mut self, frame: &[u8]) {
        let packet = ethernet::Frame::new_checked(frame).ok().map(|eth| &frame[eth.header_len()..]);
        let dst = packet.and_then(|p| ipv4::Packet::new_checked(p).ok()).map(|ip| ip.dst_addr());
        match (packet, self.checkers.iter_mut().find(|c| Some(c.addr) == dst)) {
            (Some(packet), Some(c)) => {
                c.checker.receive(packet);
                self.received = true;
            }
            _ => self.stray += 1,
        }
    }

    /// When the checkers want a poll next; `None` with nothing to check. Before the first
    /// poll: the clock's start. A live worker's first turn (where its checkers start, before
    /// any frame came) is at the start of its clock, and `--record-rx` stamps frames on that
    /// clock, so a replay of the recording (or `run --clock capture`) starts them at that
    /// time too, and not at the first frame.
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.started {
            return (!self.is_empty()).then_some(Instant::ZERO);
        }
        (!self.checkers.is_empty()).then_some(self.next_poll)
    }

    /// Runs the checkers if a deadline passed or packets came; hands every packet they send
    /// to `send`.
    pub fn poll(&mut self, now: Instant, mut send: impl FnMut(&[u8])) {
        if !self.started {
            self.started = true;
            self.apply_plan(now);
        }
        if now < self.next_poll && !self.received {
            return;
        }
        self.received = false;
        let mut next = None::<Instant>;
        for c in &mut self.checkers {
            c.checker.poll(now);
            c.checker.transmit(&mut send);
            for (i, s) in c.checker.status().enumerate() {
                let Some(seen) = c.reported.get_mut(i) else { continue };
                if s.checks == *seen {
                    continue;
                }
                *seen = s.checks;
                let (passed, reason) =
                    s.last.as_ref().map_or((true, String::new()), |l| (l.verdict.passed, l.verdict.reason.to_string()));
                self.reports.push(HealthReport { server: s.server, up: s.up, passed, reason, checks: s.checks });
            }
            // Drained: smoltcp's own next deadline decides.
            let at = c.checker.poll_at(now);
            next = match (next, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // With nothing to check, look again in a second (a reload may add checks).
        self.next_poll = next.unwrap_or(now + std::time::Duration::from_secs(1)).max(now);
        if self.next_poll == now {
            // A checker that still has packets queued: next turn.
            self.received = true;
        }
    }

    /// The results since the last call.
    pub fn take_reports(&mut self) -> std::vec::Drain<'_, HealthReport> {
        self.reports.drain(..)
    }

    /// Every checker's counters, summed.
    pub fn counters(&self) -> HealthCounters {
        let mut sum = HealthCounters::default();
        for c in &self.checkers {
            let x = c.checker.counters();
            sum.rx_packets += x.rx_packets;
            sum.rx_unwanted += x.rx_unwanted;
            sum.rx_queue_full += x.rx_queue_full;
            sum.tx_packets += x.tx_packets;
            sum.tx_blocked += x.tx_blocked;
            sum.checks_started += x.checks_started;
            sum.checks_passed += x.checks_passed;
            sum.checks_failed += x.checks_failed;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::state::PortChecks;
    use crate::engine::LOCAL_STACK_PORTS;
    use crate::health::{Check, Local, Target, Timing};
    use std::net::Ipv4Addr;

    fn plan() -> Arc<HealthPlan> {
        let local = Local { addr: Ipv4Addr::new(198, 18, 1, 1), ports: LOCAL_STACK_PORTS, seed: 7 };
        let target = Target { server: 0, ip: Ipv4Addr::new(198, 18, 1, 10), port: 80, check: Check::Tcp };
        Arc::new(HealthPlan { ports: vec![PortChecks { port: 1, local, targets: vec![(target, Timing::default())] }] })
    }

    /// A live worker's checkers start at its first turn, at the start of the clock its
    /// recording is stamped with: a replay starts them there too, not at the first frame.
    #[test]
    fn checks_start_at_the_start_of_the_clock_and_keep_their_cadence() {
        assert_eq!(HealthHost::new(Arc::new(HealthPlan::default())).poll_at(), None, "nothing to check");
        let mut host = HealthHost::new(plan());
        assert_eq!(host.poll_at(), Some(Instant::ZERO));
        let mut sent = Vec::new();
        host.poll(Instant::ZERO, |p| sent.push(p.to_vec()));
        assert_eq!(sent.len(), 1, "the first check's SYN at once");
        assert_eq!(host.counters().checks_started, 1);
        // Unanswered: the check times out at 1 s, and the next one starts at 2 s.
        let timeout = host.poll_at().unwrap();
        assert!(timeout > Instant::ZERO && timeout <= Instant::from_millis(1000), "{timeout:?}");
        let mut t = timeout;
        while t < Instant::from_millis(2000) {
            host.poll(t, |_| {});
            t = host.poll_at().unwrap().max(t + std::time::Duration::from_millis(1));
        }
        host.poll(Instant::from_millis(2000), |_| {});
        assert_eq!(host.counters().checks_started, 2);
        let reports: Vec<HealthReport> = host.take_reports().collect();
        assert_eq!(reports.len(), 1);
        assert!(!reports[0].passed && !reports[0].up, "{:?}", reports[0]);
    }
}
