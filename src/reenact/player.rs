//! The re-enactment itself: the capture's segments played into one engine, both ends of every
//! conversation at once, on one clock.
//!
//! The clock follows the capture: it moves to the next captured segment's time, or to an
//! earlier deadline (the switch's own retransmissions and timeouts, a side's retransmission),
//! so the switch sees the capture's pauses and its timers fire as they would have. With
//! `fast` the capture's pauses go: each segment comes a microsecond after the one before,
//! and only deadlines move the clock further. Either way nothing waits for a real clock.
//!
//! Each frame the switch sends goes to the side it is addressed to: a client by its
//! endpoint and VIP, a server by its endpoint and the switch's address towards it; the first
//! SYN towards a server is matched to its conversation through the switch's flow table (the
//! flow's client side). ARP requests are answered by the host asked for. After every frame
//! the switch's decision log says which rule chose which server.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::Read;
use std::net::SocketAddrV4;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::capture::{CaptureError, ConvId, Dir, Scan, Segments};
use super::cast::Casting;
use super::frames::{self, FromSwitch, Received};
use super::live::{playable, Live};
use super::outcome::Outcome;
use super::pcapng::{Recorder, Way};
use super::side::{Planned, Side};
use crate::engine::flow::{Direction, FlowKey};
use crate::engine::l4::L4Stats;
use crate::engine::l7::decisions::Decision;
use crate::engine::sweep::SweepPace;
use crate::engine::{DropReason, Engine, Output, PortIdx};
use crate::time::Instant;
use crate::wire::tcp::flags;
use crate::wire::MacAddr;

/// How long the re-enactment goes on after the capture's last segment, for the switch's and
/// the sides' retransmissions to play out.
const DRAIN: Duration = Duration::from_secs(60);
/// The clock's step between two segments with `fast`.
const FAST_STEP: Duration = Duration::from_micros(1);
/// A pause in the capture after which the switch is polled as through a pause (see
/// `Player::catch_up`), and the polls' spacing: more than the 50 µs between two sweeps.
const CATCH_UP_AFTER: Duration = Duration::from_secs(1);
const SWEEP_STEP: Duration = Duration::from_micros(60);

/// Where a conversation stands.
#[derive(Debug)]
enum Slot {
    /// Not started (or never to be played).
    Waiting,
    Playing(Box<Live>),
    Over(Box<Outcome>),
}

/// What the play counted beside the conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayStats {
    /// Frames the hosts sent the switch, and the switch sent them.
    pub frames_in: u64,
    pub frames_out: u64,
    /// TCP frames from the switch addressed to no re-enacted endpoint.
    pub unattributed: u64,
    /// Frames from the switch that do not parse or checksum, with the first one's fault.
    pub bad_frames: u64,
    pub first_bad_frame: Option<String>,
    /// Decisions the switch logged that no conversation claimed.
    pub unclaimed_decisions: u64,
    /// The most bytes held at once, waiting to be sent or kept to check and resend.
    pub peak_held_bytes: usize,
    /// The clock at the start and the end of the play.
    pub started: Instant,
    pub ended: Instant,
}

/// One engine and every conversation's two sides.
pub struct Player {
    engine: Engine<Vec<u8>>,
    out: Output<Vec<u8>>,
    now: Instant,
    fast: bool,
    /// With `fast`: the time given to the last segment read.
    fast_clock: Option<Instant>,
    /// Per conversation (by `ConvId`): its casting, and where it stands.
    castings: Vec<Casting>,
    slots: Vec<Slot>,
    by_client: FxHashMap<(SocketAddrV4, SocketAddrV4), u32>,
    by_server: FxHashMap<(SocketAddrV4, SocketAddrV4), u32>,
    /// Sides that may have a segment due: (conversation, side).
    wake: VecDeque<(u32, usize)>,
    /// Sides' retransmission deadlines (checked against the side when they come).
    timers: BinaryHeap<Reverse<(Instant, u32, usize)>>,
    /// Frames on their way to the switch, with the port they arrive on and the conversation
    /// they belong to.
    inbox: VecDeque<(PortIdx, Vec<u8>, Option<u32>)>,
    recorder: Option<Recorder>,
    /// Each switch port's MAC, for the frames sent to it.
    port_macs: Vec<MacAddr>,
    held_bytes: usize,
    pub stats: PlayStats,
}

impl Player {
    /// A player around `engine` (its decision log switched on here), with each conversation
    /// of the capture cast.
    pub fn new(mut engine: Engine<Vec<u8>>, castings: Vec<Casting>, fast: bool, recorder: Option<Recorder>) -> Player {
        engine.l4_mut().decisions().switch_on();
        let port_macs: Vec<MacAddr> = engine.topology().ports.iter().map(|p| p.mac).collect();
        let ports = port_macs.len();
        Player {
            engine,
            out: Output::new(ports),
            now: Instant::ZERO,
            fast,
            fast_clock: None,
            slots: castings.iter().map(|_| Slot::Waiting).collect(),
            castings,
            by_client: FxHashMap::default(),
            by_server: FxHashMap::default(),
            wake: VecDeque::new(),
            timers: BinaryHeap::new(),
            inbox: VecDeque::new(),
            recorder,
            port_macs,
            held_bytes: 0,
            stats: PlayStats::default(),
        }
    }

    pub fn engine(&self) -> &Engine<Vec<u8>> {
        &self.engine
    }

    /// Ends the play: each conversation's casting and outcome (`None`: never played).
    pub fn finish(self) -> (Vec<Casting>, Vec<Option<Outcome>>) {
        let outcomes = self
            .slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Waiting => None,
                Slot::Playing(live) => Some(live.into_outcome()),
                Slot::Over(outcome) => Some(*outcome),
            })
            .collect();
        (self.castings, outcomes)
    }

    /// Hands back the recorder, to finish its file.
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// Plays the capture `walk` (a second walk of the capture `scan` came from) to its end
    /// and the aftermath.
    pub fn run<R: Read>(&mut self, scan: &Scan, walk: &mut Segments<R>) -> Result<(), CaptureError> {
        let mut next = self.next_segment(scan, walk)?;
        let start = next.as_ref().map_or(Instant::ZERO, |n| n.2.time);
        self.now = start;
        self.stats.started = start;
        let mut alloc = || Some(Vec::with_capacity(1518));
        self.engine.start(&mut alloc, &mut self.out);
        self.after_engine();
        let mut last_segment = start;
        loop {
            let segment_at = next.as_ref().map(|n| n.2.time);
            // The switch's next deadline only matters across a pause: between two segments
            // closer than its timer wheel's tick, a due timer fires at the next poll anyway.
            // (Asking costs a scan of the wheel, which grows with the connections.)
            let near = segment_at.is_some_and(|s| s.saturating_since(self.now) < crate::engine::timer::TICK);
            let deadline = self.next_deadline(!near);
            let at = match (segment_at, deadline) {
                (Some(s), Some(d)) => s.min(d),
                (Some(s), None) => s,
                (None, Some(d)) if d <= last_segment + DRAIN => d,
                _ => break,
            };
            // A deadline that a poll at its time did not move must not hold the clock.
            let at = if at <= self.now && segment_at.is_none_or(|s| s > self.now) { self.now + FAST_STEP } else { at };
            self.advance(at);
            while let Some(n) = next.take_if(|n| n.2.time <= self.now) {
                last_segment = n.2.time;
                self.enqueue(scan, n);
                next = self.next_segment(scan, walk)?;
            }
            self.pump();
        }
        self.stats.ended = self.now;
        Ok(())
    }

    /// The next segment of a conversation that plays, owned, on the play's clock.
    fn next_segment<R: Read>(
        &mut self,
        scan: &Scan,
        walk: &mut Segments<R>,
    ) -> Result<Option<(ConvId, Dir, Planned)>, CaptureError> {
        while let Some(seg) = walk.next_segment()? {
            let playable = matches!(self.castings.get(seg.conv.0 as usize), Some(Casting::Cast(_)))
                && scan.conversation(seg.conv).is_some_and(playable);
            if !playable {
                continue;
            }
            // Fast: a step after the clock (which is at the segment before), from the first
            // segment's own time.
            let time = match self.fast_clock {
                Some(_) => self.now + FAST_STEP,
                None => seg.time,
            };
            if self.fast {
                self.fast_clock = Some(time);
            }
            return Ok(Some((seg.conv, seg.dir, Planned::of(&seg, time))));
        }
        Ok(None)
    }

    /// The earliest deadline: a side's retransmission, or (`switch`) the switch's own.
    fn next_deadline(&mut self, switch: bool) -> Option<Instant> {
        // Stale entries (the side moved its deadline) go first.
        while let Some(Reverse((at, conv, side))) = self.timers.peek().copied() {
            let current = self.side(conv, side).and_then(Side::deadline);
            if current == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let side = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let engine = if switch { self.engine.poll_timeout() } else { None };
        match (engine, side) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn side(&self, conv: u32, side: usize) -> Option<&Side> {
        self.live(conv).map(|l| &l.sides[side])
    }

    fn live(&self, conv: u32) -> Option<&Live> {
        match self.slots.get(conv as usize)? {
            Slot::Playing(live) => Some(live),
            _ => None,
        }
    }

    fn live_mut(&mut self, conv: u32) -> Option<&mut Live> {
        match self.slots.get_mut(conv as usize)? {
            Slot::Playing(live) => Some(live),
            _ => None,
        }
    }

    /// Reduces a conversation that is over to its outcome: its buffers go, and frames still
    /// addressed to it (there should be none) are counted as unattributed.
    fn retire_if_over(&mut self, conv: u32) {
        let slot = &mut self.slots[conv as usize];
        let Slot::Playing(live) = slot else { return };
        if !live.is_over() {
            return;
        }
        let before = live.held_bytes();
        let Slot::Playing(live) = std::mem::replace(slot, Slot::Waiting) else { return };
        let client = (live.cast.client, live.cast.vip);
        let server = live.sides[1].ends.map(|(me, peer, _)| (me, peer));
        *slot = Slot::Over(Box::new(live.into_outcome()));
        self.account(before, 0);
        if self.by_client.get(&client) == Some(&conv) {
            self.by_client.remove(&client);
        }
        if let Some(server) = server.filter(|s| self.by_server.get(s) == Some(&conv)) {
            self.by_server.remove(&server);
        }
    }

    /// Moves the clock to `at` (never back) and runs what is due: the switch's timers, the
    /// sides' retransmissions.
    fn advance(&mut self, at: Instant) {
        self.catch_up(at);
        self.now = self.now.max(at);
        let mut alloc = || Some(Vec::with_capacity(1518));
        self.engine.poll(self.now, &mut alloc, &mut self.out);
        self.after_engine();
        self.flush_inbox();
        while let Some(Reverse((at, conv, side))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            let (now, port_macs) = (self.now, &self.port_macs);
            let Some(Slot::Playing(live)) = self.slots.get_mut(conv as usize) else { continue };
            let s = &mut live.sides[side];
            if s.deadline() != Some(at) {
                continue;
            }
            let port = s.ends.map(|e| e.2);
            let frame = port.and_then(|p| s.on_timeout(now, port_macs[p]));
            self.arm(conv, side);
            if let (Some(frame), Some(port)) = (frame, port) {
                self.send_to_switch(port, frame, Some(conv));
            }
        }
    }

    /// Polls the switch through a pause as its worker loop would have: a live switch polls
    /// all the time, and its expiry sweep goes round the flow table in well under a second.
    /// Polling once at the pause's end would find the flows that expired in it still there
    /// (the sweep looks at a few entries per poll), so the end of a long pause gets the
    /// polls of one round.
    fn catch_up(&mut self, at: Instant) {
        let flows = self.engine.l4().flows();
        if at.saturating_since(self.now) < CATCH_UP_AFTER || flows.is_empty() {
            return;
        }
        let rounds = flows.capacity() / SweepPace::MIN + 2;
        let room = (at.saturating_since(self.now).as_nanos() / SWEEP_STEP.as_nanos()) as usize;
        let mut alloc = || Some(Vec::with_capacity(1518));
        for k in (1..=rounds.min(room)).rev() {
            let t = Instant::from_nanos(at.as_nanos() - k as u64 * SWEEP_STEP.as_nanos() as u64);
            self.engine.poll(t, &mut alloc, &mut self.out);
            self.after_engine();
        }
    }

    /// Queues a captured segment on its side, starting its conversation on its first.
    fn enqueue(&mut self, scan: &Scan, (conv, dir, planned): (ConvId, Dir, Planned)) {
        let c = conv.0 as usize;
        if matches!(self.slots[c], Slot::Waiting) {
            let (Some(Casting::Cast(cast)), Some(conversation)) = (self.castings.get(c), scan.conversation(conv))
            else {
                return;
            };
            let live = Live::start(cast.clone(), conversation);
            self.by_client.insert((live.cast.client, live.cast.vip), conv.0);
            self.slots[c] = Slot::Playing(Box::new(live));
        }
        let side = match dir {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        };
        self.tracked(conv.0, |live| {
            live.handed_one();
            live.sides[side].push(planned);
        });
        self.wake.push_back((conv.0, side));
    }

    /// Sends every segment that is due, side after side, as long as sending one makes
    /// another due.
    fn pump(&mut self) {
        while let Some((conv, side)) = self.wake.pop_front() {
            loop {
                let now = self.now;
                let port_macs = &self.port_macs;
                let Some(Slot::Playing(live)) = self.slots.get_mut(conv as usize) else { break };
                let before = live.held_bytes();
                let s = &mut live.sides[side];
                let Some(p) = s.next_due() else { break };
                let Some((_, _, port)) = s.ends else { break };
                let frames = s.emit(&p, now, port_macs[port]);
                let after = live.held_bytes();
                self.account(before, after);
                self.arm(conv, side);
                for frame in frames {
                    self.send_to_switch(port, frame, Some(conv));
                }
            }
            self.retire_if_over(conv);
        }
    }

    fn arm(&mut self, conv: u32, side: usize) {
        if let Some(at) = self.side(conv, side).and_then(Side::deadline) {
            self.timers.push(Reverse((at, conv, side)));
        }
    }

    /// Runs `f` on a live conversation, keeping the count of bytes held up to date.
    fn tracked(&mut self, conv: u32, f: impl FnOnce(&mut Live)) {
        let Some(live) = self.live_mut(conv) else { return };
        let before = live.held_bytes();
        f(live);
        let after = live.held_bytes();
        self.account(before, after);
    }

    /// A conversation went from holding `before` bytes to `after`.
    fn account(&mut self, before: usize, after: usize) {
        self.held_bytes = (self.held_bytes + after).saturating_sub(before);
        self.stats.peak_held_bytes = self.stats.peak_held_bytes.max(self.held_bytes);
    }

    /// Hands a frame to the switch, and everything it sends to the hosts, until the hosts
    /// have nothing more to answer at once (ARP, a repeated SYN-ACK).
    fn send_to_switch(&mut self, port: PortIdx, frame: Vec<u8>, conv: Option<u32>) {
        self.inbox.push_back((port, frame, conv));
        self.flush_inbox();
    }

    fn flush_inbox(&mut self) {
        let mut alloc = || Some(Vec::with_capacity(1518));
        while let Some((port, frame, conv)) = self.inbox.pop_front() {
            self.stats.frames_in += 1;
            if let Some(r) = self.recorder.as_mut() {
                r.write(port, Way::In, self.now, &frame);
            }
            let before = conv.map(|_| Counted::of(&self.engine));
            self.engine.process(port, frame, self.now, &mut alloc, &mut self.out);
            if let (Some(before), Some(c)) = (before, conv) {
                let after = Counted::of(&self.engine);
                if let Some(live) = self.live_mut(c) {
                    after.since(&before, &mut live.counted);
                }
            }
            self.after_engine();
        }
    }

    /// What the switch did with the last frame: its decisions noted, what it sent delivered.
    fn after_engine(&mut self) {
        let decisions: Vec<Decision> = self.engine.l4_mut().decisions().take().collect();
        for d in decisions {
            let key = (
                SocketAddrV4::new(d.client.src, d.client.src_port),
                SocketAddrV4::new(d.client.dst, d.client.dst_port),
            );
            match self.by_client.get(&key).copied().and_then(|c| self.live_mut(c)) {
                Some(live) => {
                    live.decision.get_or_insert(d);
                }
                None => self.stats.unclaimed_decisions += 1,
            }
        }
        self.engine.l4_mut().sticky_out.clear();
        self.out.dropped.clear();
        let sent: Vec<(PortIdx, Vec<u8>)> = self
            .out
            .tx
            .iter_mut()
            .enumerate()
            .flat_map(|(port, frames)| frames.drain(..).map(move |f| (port, f)))
            .collect();
        for (port, frame) in sent {
            self.stats.frames_out += 1;
            if let Some(r) = self.recorder.as_mut() {
                r.write(port, Way::Out, self.now, &frame);
            }
            self.deliver(port, frame);
        }
    }

    /// A frame the switch sent, to the host it is for.
    fn deliver(&mut self, port: PortIdx, frame: Vec<u8>) {
        let r = match frames::read(&frame) {
            Ok(FromSwitch::Tcp(r)) => r,
            Ok(FromSwitch::ArpRequest { sender_mac, sender_ip, target }) => {
                self.inbox.push_back((port, frames::arp_reply(sender_mac, sender_ip, target), None));
                return;
            }
            Ok(FromSwitch::Other) => return,
            Err(fault) => {
                self.stats.bad_frames += 1;
                self.stats.first_bad_frame.get_or_insert(fault);
                return;
            }
        };
        let Some((conv, side)) = self.addressee(port, &r) else {
            self.stats.unattributed += 1;
            return;
        };
        let now = self.now;
        let mut again = None;
        self.tracked(conv, |live| {
            let [client, server] = &mut live.sides;
            let (me, peer) = if side == 0 { (client, server) } else { (server, client) };
            again = me.receive(&r, &frame, &peer.sent, peer.sent_rst, now);
            // Bytes both acknowledged by the switch and received at the other end go.
            peer.release(me.contiguous());
            me.release(peer.contiguous());
        });
        self.tracked(conv, |live| {
            // A client the switch reset before any server was reached: the server side has
            // nobody to play to.
            let [client, server] = &mut live.sides;
            if client.reset.is_some() && server.ends.is_none() {
                server.drop_queue();
            }
        });
        self.arm(conv, side);
        self.arm(conv, 1 - side);
        self.wake.push_back((conv, side));
        if let Some(again) = again {
            self.inbox.push_back((port, again, Some(conv)));
        }
        self.retire_if_over(conv);
    }

    /// The conversation and side a TCP frame from the switch is for.
    fn addressee(&mut self, port: PortIdx, r: &Received) -> Option<(u32, usize)> {
        if let Some(&conv) = self.by_client.get(&(r.dst, r.src)) {
            return Some((conv, 0));
        }
        if let Some(&conv) = self.by_server.get(&(r.dst, r.src)) {
            return Some((conv, 1));
        }
        if r.flags & (flags::SYN | flags::ACK) != flags::SYN {
            return None;
        }
        // The switch opens a connection to a server: whose? Its flow says.
        let flows = self.engine.l4().flows();
        let key = FlowKey::new(*r.dst.ip(), r.dst.port(), *r.src.ip(), r.src.port(), 6);
        let (id, Direction::FromServer) = flows.lookup(&key)? else { return None };
        let flow = flows.get(id);
        let ck = flow.client_key();
        let client = (SocketAddrV4::new(ck.src, ck.src_port), SocketAddrV4::new(ck.dst, ck.dst_port));
        let conv = *self.by_client.get(&client)?;
        let server = flow.server();
        let live = self.live_mut(conv)?;
        let s = &mut live.sides[1];
        if s.ends.is_some() {
            // The switch moved on to another server: the side starts over with it.
            *s = s.restarted();
        }
        s.ends = Some((r.dst, r.src, port));
        live.server = Some(server);
        live.servers_tried.push(server);
        self.by_server.insert((r.dst, r.src), conv);
        Some((conv, 1))
    }

    /// Bytes the sides hold now.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }
}

/// The switch's counters that say what became of a frame: drops by reason, L7 events.
struct Counted {
    drops: Vec<u64>,
    l4: [u64; 4],
    l7: Vec<u64>,
}

/// The balancer's counters that say a connection was refused or cut, by the names its report
/// prints them under.
pub const L4_COUNTED: [&str; 4] = ["refused-table-full", "refused-no-server", "reset-server-gone", "half-open-evicted"];

/// The counters of [`L4_COUNTED`], in that order.
pub fn l4_counted(stats: &L4Stats) -> [u64; 4] {
    [stats.refused_table_full, stats.refused_no_server, stats.reset_server_gone, stats.evicted_half_open]
}

impl Counted {
    fn of(engine: &Engine<Vec<u8>>) -> Counted {
        let drops = DropReason::ALL.iter().map(|&r| engine.counters().drops(r)).collect();
        let stats = engine.l4().stats();
        let l7 = stats.l7.named().iter().map(|(_, n)| *n).collect();
        Counted { drops, l4: l4_counted(&stats), l7 }
    }

    /// Adds what grew since `before` to `into`, by counter name.
    fn since(&self, before: &Counted, into: &mut BTreeMap<&'static str, u64>) {
        let names = DropReason::ALL
            .iter()
            .map(|r| r.name())
            .chain(L4_COUNTED)
            .chain(crate::engine::l7::L7Stats::default().named().map(|(n, _)| n));
        let now = self.drops.iter().chain(&self.l4).chain(&self.l7);
        let then = before.drops.iter().chain(&before.l4).chain(&before.l7);
        for ((name, now), then) in names.zip(now).zip(then) {
            if now > then {
                *into.entry(name).or_default() += now - then;
            }
        }
    }
}
