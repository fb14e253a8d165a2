//! L4 server load balancing: new flows scheduled onto real servers (sticky table, then the
//! predictor), established flows found in the flow table from either direction and rewritten
//! in place (full NAT, gateway NAT or DSR), with incremental checksums, TTL and MSS clamping.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::flow::{
    Direction, Flow, FlowId, FlowKey, FlowState, FlowTable, InsertError, Segment, Timeouts, PROTO_TCP, PROTO_UDP,
};
use super::frame::{Ip, Parsed, Transport};
use super::hash;
use super::l7::decisions::{Decision, DecisionLog};
use super::l7::rules::Decided;
use super::l7::segment::{Options, Out};
use super::l7::L7;
use super::net::{Net, Output, Verdict};
use super::predictor::{Cursor, ServerState};
use super::service::{L7Policy, NatMode, Services};
use super::sticky::{StickyTable, StickyUpdate};
use super::sweep::SweepPace;
use super::topology::{prefix_mask, PortAddr};
use super::DropReason;
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::checksum::{self, Delta};
use crate::wire::{ipv4, tcp};

/// Largest TCP MSS the switch lets through: a 1500-byte MTU less the IPv4 and TCP headers.
pub const MSS_MAX: u16 = 1460;
/// Flows removed per expiry sweep at most: bounds the cost of one sweep.
const EXPIRE_PER_POLL: usize = 64;
/// Time between two sweeps: at most 64 flows per 50 µs is 1.28 M expiries a second per core,
/// and a busy loop does not pay for a sweep on every burst.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_micros(50);
/// Up to this many tracked flows (512 KiB of flow lines, half a typical L2 cache) the fast
/// path does not fetch flow lines ahead: they are in cache already.
const FLOWS_IN_CACHE: usize = 8192;
/// How long the flow table stays under pressure after half-open flows last passed the
/// threshold.
const PRESSURE_HOLD: std::time::Duration = std::time::Duration::from_secs(60);
/// Flow entries looked at for a half-open flow to evict when the table is full.
const EVICT_SCAN: usize = 256;
/// Which worker this is and how many there are: full-NAT local ports are chosen so that
/// their replies come back to this worker (`l4::local_port`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSlot {
    pub index: u16,
    pub count: u16,
}

impl Default for WorkerSlot {
    fn default() -> Self {
        WorkerSlot { index: 0, count: 1 }
    }
}

/// Counters of one VIP port on one core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    pub current: u64,
    pub total: u64,
    pub packets: u64,
    pub bytes: u64,
    pub refused: u64,
}

/// Counters of one real server on one core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub current: u64,
    pub total: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// The L4 counters of one core; summed over cores for printing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L4Stats {
    pub services: Vec<ServiceStats>,
    pub servers: Vec<ServerStats>,
    pub flows_created: u64,
    pub flows_expired: u64,
    /// SYNs refused with RST because the flow table was full.
    pub refused_table_full: u64,
    /// SYNs refused with RST because no server of the VIP port could take them.
    pub refused_no_server: u64,
    /// Client frames of flows whose server went down, answered with RST.
    pub reset_server_gone: u64,
    pub sticky_hits: u64,
    pub sticky_refused_full: u64,
    /// Half-open flows evicted to make room for a new one in a full table.
    pub evicted_half_open: u64,
    /// Full NAT's local ports taken from closed flows still lingering on them (every port
    /// tried was in use towards that server).
    pub local_ports_reused: u64,
    /// Servers that answered a client's SYN with an ACK of an old connection on the same
    /// tuple (one they still hold in TIME_WAIT): that connection was reset at the server and
    /// the ACK kept from the client, whose SYN, sent again, then opens the new one.
    pub server_stale: u64,
    /// Gauges, as of the moment the stats were taken: flows in the table, and how many of
    /// them are half-open (a SYN flood shows here, and its end).
    pub flows_in_table: u64,
    pub half_open: u64,
    /// The L7 ports' own counters.
    pub l7: super::l7::L7Stats,
}

impl L4Stats {
    pub fn add(&mut self, other: &L4Stats) {
        fn add_vec<T: Copy + Default>(mine: &mut Vec<T>, theirs: &[T], f: impl Fn(&mut T, &T)) {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), T::default());
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                f(m, t);
            }
        }
        add_vec(&mut self.services, &other.services, |m, t| {
            m.current += t.current;
            m.total += t.total;
            m.packets += t.packets;
            m.bytes += t.bytes;
            m.refused += t.refused;
        });
        add_vec(&mut self.servers, &other.servers, |m, t| {
            m.current += t.current;
            m.total += t.total;
            m.packets += t.packets;
            m.bytes += t.bytes;
        });
        self.flows_created += other.flows_created;
        self.flows_expired += other.flows_expired;
        self.refused_table_full += other.refused_table_full;
        self.refused_no_server += other.refused_no_server;
        self.reset_server_gone += other.reset_server_gone;
        self.sticky_hits += other.sticky_hits;
        self.sticky_refused_full += other.sticky_refused_full;
        self.evicted_half_open += other.evicted_half_open;
        self.local_ports_reused += other.local_ports_reused;
        self.server_stale += other.server_stale;
        self.flows_in_table += other.flows_in_table;
        self.half_open += other.half_open;
        self.l7.add(&other.l7);
    }
}

/// Where a frame of the L4 path goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The flow it belongs to, and the side it came from.
    Flow(FlowId, Direction),
    /// The first frame of a flow to this VIP port (an index into the services).
    NewFlow(usize),
}

/// The L4 state of one core.
#[derive(Debug)]
pub struct L4 {
    /// The service snapshot this core runs on: shared, immutable, replaced whole by
    /// [`set_services`](Self::set_services).
    services: Arc<Services>,
    /// This core's predictor cursors, one per VIP port of `services`.
    cursors: Vec<Cursor>,
    flows: FlowTable,
    sticky: StickyTable,
    /// Flows this core has on each server.
    conns: Vec<u32>,
    /// Flows the other cores have on each server, as last published by the control side.
    others: Vec<u32>,
    stats: L4Stats,
    slot: WorkerSlot,
    /// How replies come back to this core, per port (`local_port`).
    reply_steering: Vec<ReplySteering>,
    next_local_port: u16,
    /// Which of the port's full-NAT source addresses the next flow tries first.
    next_local_ip: usize,
    /// Scratch for the expiry sweep (never grows past `EXPIRE_PER_POLL`).
    expired: Vec<Gone>,
    /// Sticky bindings made here, for the runtime to send to the other cores.
    pub sticky_out: Vec<StickyUpdate>,
    next_sweep: Instant,
    /// How many flow entries the next sweep looks at.
    pace: SweepPace,
    /// L7 ports: delayed binding's state (empty when no port is L7).
    l7: L7,
    /// Until when the flow table is under SYN-flood pressure.
    pressure_until: Instant,
}

impl L4 {
    pub fn new(services: Services, slot: WorkerSlot) -> L4 {
        let n_servers = services.servers.len();
        let stats = L4Stats {
            services: vec![ServiceStats::default(); services.services.len()],
            servers: vec![ServerStats::default(); n_servers],
            ..L4Stats::default()
        };
        // Delayed binding's state: L7 ports, and L4 ports that may proxy handshakes under a
        // SYN flood (they hold a client's first bytes while the server is reached).
        let proxies = services.services.iter().any(|s| s.l7.is_none() && s.can_proxy_handshakes());
        let head_limits = services.services.iter().filter_map(|s| s.l7.as_ref().map(|p: &L7Policy| p.head_limit));
        let l7 = match head_limits.chain(proxies.then_some(8192)).max() {
            Some(head_len) => L7::new(
                services.flow_capacity.max(2),
                services.head_buffers,
                head_len,
                services.sticky_capacity,
                &services.secrets,
                services.syn_cookie_threshold,
            ),
            None => L7::new(0, 0, 0, 0, &services.secrets, services.syn_cookie_threshold),
        };
        L4 {
            flows: FlowTable::new(services.flow_capacity.max(2), services.secrets.flow, Timeouts::default()),
            sticky: StickyTable::new(services.sticky_capacity.max(1), services.secrets.sticky),
            cursors: services.services.iter().map(|s| Cursor::new(&s.predictor)).collect(),
            services: Arc::new(services),
            conns: vec![0; n_servers],
            others: vec![0; n_servers],
            stats,
            slot,
            reply_steering: Vec::new(),
            next_local_port: LOCAL_PORT_MIN,
            next_local_ip: 0,
            expired: Vec::with_capacity(EXPIRE_PER_POLL),
            sticky_out: Vec::with_capacity(64),
            next_sweep: Instant::ZERO,
            pace: SweepPace::new(),
            l7,
            pressure_until: Instant::ZERO,
        }
    }

    /// The counters, with the table's gauges as of now.
    pub fn stats(&self) -> L4Stats {
        let mut stats = L4Stats::default();
        self.stats_into(&mut stats);
        stats
    }

    /// [`L4::stats`] written into `into` (a worker publishes them every few milliseconds).
    pub fn stats_into(&self, into: &mut L4Stats) {
        into.clone_from(&self.stats);
        into.flows_in_table = self.flows.len() as u64;
        into.half_open = self.flows.half_open() as u64;
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The snapshot itself, to compare with a newer one.
    pub fn snapshot(&self) -> &Arc<Services> {
        &self.services
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    /// Why each new connection went to its server, once switched on (see
    /// [`DecisionLog`]); off on a live switch.
    pub fn decisions(&mut self) -> &mut DecisionLog {
        &mut self.l7.decisions
    }

    /// The source-IP bindings of this core.
    pub fn sticky(&self) -> &StickyTable {
        &self.sticky
    }

    /// The cookie values this core learned from servers (L7 ports).
    pub fn learned_cookies(&self) -> &StickyTable {
        &self.l7.cookies
    }

    /// Whether any VIP port is served (else the L4 path is skipped entirely).
    pub fn is_active(&self) -> bool {
        !self.services.services.is_empty()
    }

    /// Switches to a new service snapshot, built off the data path by the control side: the
    /// same VIP ports and servers at the same indices (a removed one stays as a tombstone),
    /// maybe more of them. Flows and sticky bindings are kept; counters grow with the
    /// snapshot. Nothing is rebuilt here.
    pub fn set_services(&mut self, services: Arc<Services>) {
        let (n_services, n_servers) = (services.services.len(), services.servers.len());
        if self.stats.services.len() < n_services {
            self.stats.services.resize(n_services, ServiceStats::default());
        }
        if self.stats.servers.len() < n_servers {
            self.stats.servers.resize(n_servers, ServerStats::default());
            self.conns.resize(n_servers, 0);
            self.others.resize(n_servers, 0);
        }
        self.cursors.truncate(n_services);
        for (i, svc) in services.services.iter().enumerate() {
            match self.cursors.get_mut(i) {
                Some(cursor) => cursor.fit(&svc.predictor),
                None => self.cursors.push(Cursor::new(&svc.predictor)),
            }
        }
        self.services = services;
    }

    /// The current snapshot with one server's state changed (tests, and tools without a
    /// control side: this builds the snapshot on the caller's thread).
    pub fn set_server_state(&mut self, server: u16, state: ServerState) {
        let mut next = Services::clone(&self.services);
        if let Some(s) = next.servers.get_mut(usize::from(server)) {
            s.state = state;
            next.refresh_predictors();
            self.set_services(Arc::new(next));
        }
    }

    /// The current snapshot with one server's weight changed (see `set_server_state`).
    pub fn set_server_weight(&mut self, server: u16, weight: u32) {
        let mut next = Services::clone(&self.services);
        if let Some(s) = next.servers.get_mut(usize::from(server)) {
            s.weight = weight;
            next.refresh_predictors();
            self.set_services(Arc::new(next));
        }
    }

    /// The other cores' flows per server, as the control side sums them.
    pub fn set_others_load(&mut self, load: &[u32]) {
        for (mine, theirs) in self.others.iter_mut().zip(load) {
            *mine = *theirs;
        }
    }

    /// Flows this core has on each server.
    pub fn load(&self) -> &[u32] {
        &self.conns
    }

    /// A sticky binding learned on another core.
    pub fn apply_sticky(&mut self, update: StickyUpdate, now: Instant) {
        if update.is_cookie() {
            self.apply_cookie(update, now);
            return;
        }
        if let Some(policy) = self.services.services.get(usize::from(update.service)).and_then(|s| s.sticky) {
            let _ = self.sticky.apply(update, now, policy.age);
        }
    }

    /// The first pass over a burst, for each frame as it is read: hashes the flow key of a
    /// TCP or UDP frame and starts fetching its bucket, so that the lookups of
    /// [`find`](Self::find) overlap their cache misses instead of waiting for each in turn.
    #[inline(always)]
    pub fn stage(&self, parsed: &mut Parsed) {
        if let Parsed::Ipv4(Ip { flow: Some(t), .. }) = parsed {
            if self.is_active() {
                t.hash = self.flows.prefetch(&t.key);
            }
        }
    }

    /// After [`stage`](Self::stage) of a whole burst: once the table outgrows the cache,
    /// starts fetching each bucket's candidate flow line too. Not the splice line of an L7
    /// flow: most of its frames need only the flow line (`Flow::steady`), and fetching
    /// a line per frame for the few that do costs them all.
    #[inline]
    pub fn stage_flows(&self, staged: &[Parsed]) {
        // A small table stays in the core's cache, where the extra pass only costs time.
        if self.flows.len() <= FLOWS_IN_CACHE {
            return;
        }
        for parsed in staged.iter() {
            if let Parsed::Ipv4(Ip { flow: Some(t), .. }) = parsed {
                self.flows.prefetch_flow_hashed(t.hash);
            }
        }
    }

    /// Whether a TCP or UDP frame ([`stage`](Self::stage)d) is the L4 path's: a frame of a
    /// tracked flow, or the first of a new one on a served VIP port. `None`: traffic for the
    /// switch itself.
    #[inline(always)]
    pub fn find(&self, t: &Transport) -> Option<Target> {
        if !self.is_active() {
            return None;
        }
        if let Some((id, dir)) = self.flows.lookup_hashed(&t.key, t.hash) {
            return Some(Target::Flow(id, dir));
        }
        self.services.find(t.key.dst, t.key.dst_port, t.key.proto).map(Target::NewFlow)
    }

    /// Handles a frame [`find`](Self::find) said is the L4 path's. `alloc` gives buffers
    /// for the frames L7 ports originate on the way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn handle<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        target: Target,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        match target {
            Target::Flow(id, dir) if self.flows.get(id).is_spliced() => {
                self.l7_frame(net, id, dir, frame, ip, t, now, alloc, out)
            }
            // Not in `forward`, which also takes the SYN that just opened the flow.
            Target::Flow(id, Direction::FromClient) if t.syn() && self.flows.syn_repeats_too_soon(id, now) => {
                net.drop(frame, DropReason::SynRepeat, out)
            }
            Target::Flow(id, dir) => self.forward(net, id, dir, frame, ip, t, now, alloc, out),
            Target::NewFlow(svc) if self.services.services[svc].l7.is_some() || self.syn_proxy(svc, t, now) => {
                self.l7_open(net, svc, frame, ip, t, now, alloc, out)
            }
            Target::NewFlow(svc) => self.open(net, svc, frame, ip, t, now, alloc, out),
        }
    }

    /// A frame of a tracked flow.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn forward<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        dir: Direction,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let flow = self.flows.get(id);
        let (svc, server) = (usize::from(flow.service()), flow.server());
        if dir == Direction::FromClient && self.services.servers[usize::from(server)].resets_flows() {
            // The server is gone: its flows cannot move (the new server knows nothing of
            // them), so the client is told at once instead of timing out.
            self.end_flow(id, now);
            self.stats.reset_server_gone += 1;
            return if t.is_tcp() && !t.rst() {
                net.reset(frame, ip, now, out)
            } else {
                net.drop(frame, DropReason::ServerDown, out)
            };
        }
        let stale = dir == Direction::FromServer && t.is_tcp() && t.ack() && !t.syn() && !t.rst();
        if stale && self.flows.get(id).state() == FlowState::SynSent {
            return self.reset_old_connection(net, id, frame, ip, now, alloc, out);
        }
        let len = (frame.as_ref().len() - ip.l2_len) as u32;
        let seg = segment_of(frame.as_ref(), ip, t);
        let Ok(seen) = self.flows.on_frame(id, dir, t.flags, &seg, now) else {
            return net.drop(frame, DropReason::RstOutOfWindow, out);
        };
        let (rw, opened) = (seen.flow.rewrite(dir), seen.opened);
        // A connection stops counting once closed (it lingers in TIME_WAIT or CLOSE), and
        // counts again when a new SYN reuses its tuple.
        if let Some(open) = opened {
            self.count_open(svc, server, open);
        }
        let (svc_stats, srv_stats) = (&mut self.stats.services[svc], &mut self.stats.servers[usize::from(server)]);
        svc_stats.packets += 1;
        svc_stats.bytes += u64::from(len);
        srv_stats.packets += 1;
        srv_stats.bytes += u64::from(len);
        let route_to = match self.services.services[svc].nat {
            NatMode::Dsr => self.services.servers[usize::from(server)].ip,
            NatMode::Full | NatMode::Gateway => {
                if let Err(reason) = rewrite(frame.as_mut(), ip, t, rw.src, rw.src_port, rw.dst, rw.dst_port) {
                    return net.drop(frame, reason, out);
                }
                rw.dst
            }
        };
        net.forward(frame, route_to, now, out)
    }

    /// A server's ACK to a flow whose SYN it has not answered: not an answer to this SYN but
    /// an old connection's, one the server still holds on the tuple (in TIME_WAIT: full NAT
    /// reuses local ports, and a client's timestamps, from another clock, fail the server's
    /// PAWS check). Forwarded, the client would answer it with a RST carrying the old
    /// numbers, which the window check cannot believe, and each SYN it sent again would meet
    /// the same ACK until the server's TIME_WAIT ended. The switch resets the old
    /// connection itself, as the client would (RFC 9293 3.10.7.3), and sends the SYN again
    /// at once: with the client's sequence number, window and scale, MSS 1460 and SACK,
    /// without timestamps (the flow keeps no more of the client's SYN; the server's SYN-ACK
    /// then offers only what both sides can use).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn reset_old_connection<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        frame: B,
        ip: &Ip,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        self.stats.server_stale += 1;
        let flow = *self.flows.get(id);
        let verdict = net.reset(frame, ip, now, out);
        if let Some((isn, window, window_scale)) = flow.client_syn() {
            let to = flow.server_key().reversed();
            let syn = Out {
                src: to.src,
                dst: to.dst,
                src_port: to.src_port,
                dst_port: to.dst_port,
                seq: isn,
                ack: 0,
                flags: tcp::flags::SYN,
                window,
                options: Options { mss: Some(MSS_MAX), window_scale, sack_permitted: true, timestamps: None },
                payload: b"",
            };
            delayed::send_new(net, &syn, now, alloc, out);
        }
        verdict
    }

    /// The first frame of a flow to a served VIP port: schedule, track, forward.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn open<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        svc: usize,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        if t.is_tcp() && !(t.syn() && !t.ack() && !t.rst()) {
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        let client = t.key.src;
        let Some((server, sticky)) = self.schedule(svc, &t.key, now) else {
            self.stats.refused_no_server += 1;
            self.stats.services[svc].refused += 1;
            return self.refuse(net, frame, ip, t, now, out);
        };
        self.make_room(now);
        let s = &self.services.servers[usize::from(server)];
        let (server_ip, server_port) = (s.ip, s.port);
        let nat = self.services.services[svc].nat;
        let inserted = match nat {
            NatMode::Dsr => self.flows.insert(t.key, t.key, server, svc as u8, now),
            NatMode::Gateway => {
                let back = FlowKey::new(server_ip, server_port, client, t.key.src_port, t.key.proto);
                self.flows.insert(t.key, back, server, svc as u8, now)
            }
            NatMode::Full => {
                let Some((port, _)) = net.topology.route(server_ip) else {
                    return net.drop(frame, DropReason::NoRoute, out);
                };
                let sources = &net.topology.ports[port];
                self.insert_full_nat(t.key, server_ip, server_port, port, sources, server, svc as u8, now)
            }
        };
        let id = match inserted {
            Ok(id) => id,
            Err(_) => {
                self.stats.refused_table_full += 1;
                self.stats.services[svc].refused += 1;
                return self.refuse(net, frame, ip, t, now, out);
            }
        };
        self.stats.flows_created += 1;
        self.count_open(svc, server, true);
        self.stats.services[svc].total += 1;
        self.stats.servers[usize::from(server)].total += 1;
        if let Some(policy) = self.services.services[svc].sticky {
            self.sticky.flow_started(svc as u16, client, policy.prefix_len);
        }
        if self.l7.decisions.is_on() {
            let decided = if sticky { Decided::Sticky } else { Decided::Predictor };
            let d =
                Decision { client: t.key, server, decided, rule: None, value: None, in_path: false, failover: false };
            self.l7.decisions.record(d);
        }
        self.forward(net, id, Direction::FromClient, frame, ip, t, now, alloc, out)
    }

    /// Whether the first segment `t` of a connection to L4 port `svc` is the SYN proxy's: a
    /// SYN while the port answers with SYN cookies, or an ACK that may prove one.
    fn syn_proxy(&self, svc: usize, t: &Transport, now: Instant) -> bool {
        if !t.is_tcp() || t.rst() {
            return false;
        }
        match (t.syn(), t.ack()) {
            (true, false) => self.syn_cookies_now(svc),
            (false, true) => self.may_prove_a_cookie(svc, now),
            _ => false,
        }
    }

    /// Refuses a new flow: a RST for TCP, a counted drop for anything else. Under a SYN flood
    /// the RST is not sent: its source is most likely spoofed, and the answer would cost an
    /// ARP request for an address nobody holds.
    fn refuse<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        out: &mut Output<B>,
    ) -> Verdict {
        match (t.is_tcp(), self.flows.under_pressure()) {
            (true, false) => net.reset(frame, ip, now, out),
            (true, true) => net.drop(frame, DropReason::RefusedUnderFlood, out),
            (false, _) => net.drop(frame, DropReason::NoServer, out),
        }
    }

    /// Makes room in a full flow table for a new flow by evicting a half-open one
    /// (conntrack's early drop): a flood of SYNs never crowds out established connections.
    fn make_room(&mut self, now: Instant) {
        if self.flows.len() < self.flows.capacity() {
            return;
        }
        if let Some((id, flow)) = self.flows.evict_half_open(EVICT_SCAN) {
            self.stats.evicted_half_open += 1;
            self.flow_gone(Gone::of(id, &flow), now);
        }
    }

    /// Chooses the server of a new flow: the client's sticky server if it has one that can
    /// take it, else (sticky ports) Maglev over the servers that are up, so every core makes
    /// the same first choice, else the port's predictor.
    /// Says too whether the server came from the client's sticky binding.
    fn schedule(&mut self, svc: usize, key: &FlowKey, now: Instant) -> Option<(u16, bool)> {
        let service = &self.services.services[svc];
        let servers = &self.services.servers;
        let (conns, others) = (&self.conns, &self.others);
        let load = |id: u16| conns[usize::from(id)] + others[usize::from(id)];
        let Some(policy) = service.sticky else {
            let h = key.hash(self.services.secrets.client);
            return self.services.services[svc].predictor.pick(&mut self.cursors[svc], h, &load).map(|s| (s, false));
        };
        let prefix = u32::from(key.src) & prefix_mask(policy.prefix_len);
        let client_hash = hash::keyed(self.services.secrets.client, u64::from(prefix), svc as u64);
        let mut moved = None;
        if let Some(server) = self.sticky.lookup(svc as u16, key.src, policy.prefix_len, now) {
            let s = &servers[usize::from(server)];
            // A draining server keeps its sticky clients (their sessions live there); a
            // server that is down or full does not.
            let usable = s.state != ServerState::Down && s.max_connections.is_none_or(|max| load(server) < max);
            if usable {
                self.stats.sticky_hits += 1;
                return Some((server, true));
            }
            // Down: a server of its replication domain holds the session too.
            if s.state == ServerState::Down {
                moved = self.services.domain_buddy(svc, server, client_hash, &load);
            }
        }
        let server = match moved {
            Some(buddy) => buddy,
            None => service.predictor.pick_consistent(client_hash, &load)?,
        };
        match self.sticky.bind(svc as u16, key.src, policy.prefix_len, server, now, policy.age) {
            Ok(()) => self.sticky_out.push(StickyUpdate { service: svc as u16, key: u64::from(prefix), server }),
            Err(_) => self.stats.sticky_refused_full += 1,
        }
        Some((server, false))
    }

    /// Tracks a full-NAT flow, its server side from one of `sources`' addresses (the port
    /// towards the server) and a local port of this core. The addresses take turns, and the
    /// port moves on once every address had it: flow after flow spreads over all of them.
    #[allow(clippy::too_many_arguments)]
    fn insert_full_nat(
        &mut self,
        client: FlowKey,
        server_ip: Ipv4Addr,
        server_port: u16,
        port: usize,
        sources: &PortAddr,
        server: u16,
        svc: u8,
        now: Instant,
    ) -> Result<FlowId, InsertError> {
        self.with_local_port(port, sources, (server_ip, server_port), client.proto, now, |flows, local_ip, port| {
            let back = FlowKey::new(server_ip, server_port, local_ip, port, client.proto);
            flows.insert(client, back, server, svc, now)
        })
    }

    /// Forgets a flow now, with its counts.
    fn end_flow(&mut self, id: FlowId, now: Instant) {
        let gone = Gone::of(id, self.flows.get(id));
        self.flows.remove(id);
        self.flow_gone(gone, now);
    }

    /// Counts a connection of VIP port `svc` on `server` as opened or closed.
    fn count_open(&mut self, svc: usize, server: u16, open: bool) {
        let server = usize::from(server);
        let (conns, svc_current, srv_current) =
            (&mut self.conns[server], &mut self.stats.services[svc].current, &mut self.stats.servers[server].current);
        if open {
            *conns += 1;
            *svc_current += 1;
            *srv_current += 1;
        } else {
            *conns = conns.saturating_sub(1);
            *svc_current = svc_current.saturating_sub(1);
            *srv_current = srv_current.saturating_sub(1);
        }
    }

    fn flow_gone(&mut self, gone: Gone, now: Instant) {
        let svc = usize::from(gone.svc);
        if gone.spliced {
            self.l7_release(gone.id);
        }
        if gone.open {
            self.count_open(svc, gone.server, false);
        }
        if let (Some(policy), true) = (self.services.services[svc].sticky, gone.sticky) {
            self.sticky.flow_ended(u16::from(gone.svc), gone.client, policy.prefix_len, now, policy.age);
        }
    }

    /// Timers: L7 retransmissions and deadlines, and a bounded sweep of expired flows and
    /// sticky bindings.
    pub fn poll<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        if !self.l7.timers.is_empty() {
            self.l7_poll(net, now, alloc, out);
        }
        if now < self.next_sweep {
            return;
        }
        // A SYN flood: half-open flows past the threshold shorten their own lives, and keep
        // doing so for a while after (else those left at the end would live their minutes).
        if self.flows.half_open() >= self.l7.cookie_threshold.max(1) {
            self.pressure_until = now + PRESSURE_HOLD;
        }
        self.flows.set_pressure(now < self.pressure_until);
        self.next_sweep = now + SWEEP_EVERY;
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        let swept = self
            .flows
            .expire_within(now, EXPIRE_PER_POLL, self.pace.scan(), |id, flow| expired.push(Gone::of(id, flow)));
        let capped = swept.removed == EXPIRE_PER_POLL;
        self.pace.after_sweep(swept.scanned, swept.removed, capped, self.flows.len(), self.flows.capacity());
        for &gone in &expired {
            self.flow_gone(gone, now);
        }
        self.stats.flows_expired += expired.len() as u64;
        self.expired = expired;
        self.sticky.expire(now, EXPIRE_PER_POLL);
    }
}

/// What the counts need of a flow that ends.
#[derive(Debug, Clone, Copy)]
struct Gone {
    id: FlowId,
    spliced: bool,
    svc: u8,
    server: u16,
    client: Ipv4Addr,
    /// Still counted as a current connection.
    open: bool,
    /// Holds its client's sticky binding.
    sticky: bool,
}

impl Gone {
    fn of(id: FlowId, flow: &Flow) -> Gone {
        // A spliced flow counts once it is bound to a server; its client holds a sticky
        // binding from then on too.
        let bound = !flow.is_spliced() || flow.has_server();
        Gone {
            id,
            spliced: flow.is_spliced(),
            svc: flow.service(),
            server: flow.server(),
            client: flow.client_key().src,
            open: flow.is_open() && bound,
            sticky: bound,
        }
    }
}

/// The sequence facts of a TCP segment the flow table follows (nothing for UDP).
#[inline(always)]
pub(super) fn segment_of(frame: &[u8], ip: &Ip, t: &Transport) -> Segment {
    if !t.is_tcp() {
        return Segment::default();
    }
    let seg = tcp::Packet::new_unchecked(&frame[ip.l4..ip.end]);
    let window_scale = if t.syn() { tcp::read_options(seg.options()).ok().and_then(|o| o.window_scale) } else { None };
    Segment {
        seq: seg.seq_number(),
        ack: seg.ack_number(),
        len: seg.payload().len() as u32,
        window: seg.window_len(),
        window_scale,
    }
}

/// Rewrites addresses and ports in place, with RFC 1624 checksum updates, decrements the
/// TTL and clamps a SYN's MSS. Never sums the payload.
#[inline(always)]
fn rewrite(
    bytes: &mut [u8],
    ip: &Ip,
    t: &Transport,
    src: Ipv4Addr,
    src_port: u16,
    dst: Ipv4Addr,
    dst_port: u16,
) -> Result<(), DropReason> {
    let (key, flags, seg_range) = (t.key, t.flags, ip.l4..ip.end);
    let mut ip = ipv4::Packet::new_unchecked(&mut bytes[ip.l2_len..ip.end]);
    let ttl = ip.ttl();
    if ttl <= 1 {
        return Err(DropReason::TtlExpired);
    }
    let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
    // The addresses are in both checksums (the TCP and UDP pseudo-header covers them).
    let addrs =
        Delta::default().replace32(u32::from(old_src), u32::from(src)).replace32(u32::from(old_dst), u32::from(dst));
    let ttl_word = |ttl: u8| u16::from_be_bytes([ttl, ip.protocol()]);
    let ip_sum = addrs.replace16(ttl_word(ttl), ttl_word(ttl - 1)).apply(ip.checksum());
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.set_ttl(ttl - 1);
    ip.set_checksum(ip_sum);

    let seg = &mut bytes[seg_range];
    let (old_sport, old_dport) = (key.src_port, key.dst_port);
    seg[0..2].copy_from_slice(&src_port.to_be_bytes());
    seg[2..4].copy_from_slice(&dst_port.to_be_bytes());
    let at = if key.proto == PROTO_TCP { 16 } else { 6 };
    let old = u16::from_be_bytes([seg[at], seg[at + 1]]);
    if key.proto == PROTO_UDP && old == 0 {
        return Ok(()); // no UDP checksum to keep right
    }
    let ports = Delta::default().replace16(old_sport, src_port).replace16(old_dport, dst_port);
    let mut sum = addrs.and(ports).apply(old);
    if key.proto == PROTO_UDP && sum == 0 {
        sum = 0xffff;
    }
    seg[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    if key.proto == PROTO_TCP && flags & tcp::flags::SYN != 0 {
        clamp_mss(seg, MSS_MAX);
    }
    Ok(())
}

/// Lowers a SYN's MSS option to `max` if it is larger, updating the checksum.
fn clamp_mss(seg: &mut [u8], max: u16) {
    let header_len = usize::from(seg[12] >> 4) * 4;
    let mut i = tcp::HEADER_LEN;
    while i + 1 < header_len.min(seg.len()) {
        match seg[i] {
            0 => return,
            1 => i += 1,
            kind => {
                let len = usize::from(seg[i + 1]);
                if len < 2 || i + len > header_len {
                    return;
                }
                if kind == 2 && len == 4 {
                    let mss = u16::from_be_bytes([seg[i + 2], seg[i + 3]]);
                    if mss > max {
                        seg[i + 2..i + 4].copy_from_slice(&max.to_be_bytes());
                        let sum = checksum::update16(u16::from_be_bytes([seg[16], seg[17]]), mss, max);
                        seg[16..18].copy_from_slice(&sum.to_be_bytes());
                    }
                    return;
                }
                i += len;
            }
        }
    }
}

mod delayed;
mod local_port;
pub use local_port::ReplySteering;
use local_port::LOCAL_PORT_MIN;
#[cfg(test)]
mod tests;
