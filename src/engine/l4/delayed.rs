//! Delayed binding on L7 ports: the switch answers the client's SYN itself, reads the
//! request head, picks the server by the port's rules, connects to it with the client's own
//! ISN and options, sends it the held head, then splices: every later frame of either side
//! is rewritten in place (addresses, ports, sequence and acknowledgment numbers, window,
//! timestamps, SACK blocks), as `engine::l7::splice` describes.
//!
//! ```text
//! client            switch                         server
//!  SYN  ───────────▶  SYN-ACK (ISN ours, or a SYN cookie)
//!  ACK  ───────────▶  (Head)
//!  GET … ──────────▶  ACK, head complete: rules pick the server
//!                     SYN (client's ISN) ──────────▶
//!                     (Connecting)       ◀────────── SYN-ACK
//!                     ACK + held head    ──────────▶ (Sending)
//!                     (Spliced)          ◀────────── ACK, response … rewritten both ways
//! ```
//!
//! Retransmissions (SYN-ACK, SYN, held head) and the head's deadline run on the core's
//! timer wheel; a server that refuses or never answers makes way for the next one, and the
//! client is reset only when none is left.

use std::time::Duration;

use super::super::flow::{Direction, FlowId, FlowKey, FlowState};
use super::super::frame::{Ip, Transport};
use super::super::l7::decisions::Decision;
use super::super::l7::head::NO_HEAD;
use super::super::l7::rules::{self, Decided, Ground};
use super::super::l7::segment::{self, Options, Out, Splicing};
use super::super::l7::splice::{opt, seq_ge, Moves, Phase, Splice};
use super::super::l7::syn::{self, Offered};
use super::super::net::{Net, Output, Verdict};
use super::super::predictor::ServerState;
use super::super::service::{L7Policy, NatMode, RuleKind, SynCookies};
use super::super::sticky::{cookie_key, StickyUpdate};
use super::super::DropReason;
use super::{L4, MSS_MAX};
use crate::time::Instant;
use crate::wire::buffer::FrameBuf;
use crate::wire::http::{self, HeadError, RequestHead};
use crate::wire::tcp::{self, OptionEdits};

/// The window scale the switch announces to clients (Linux's usual one).
const OUR_WS: u8 = 7;
/// The window field of the switch's SYN-ACK (never scaled).
const SYN_ACK_WINDOW: u16 = 64240;
/// First SYN-ACK retransmission, doubling; tries before the half-open connection goes.
const SYN_ACK_RTO: Duration = Duration::from_secs(1);
const SYN_ACK_TRIES: u8 = 2;
/// First SYN retransmission towards a server, doubling; tries before the next server.
const SYN_RTO: Duration = Duration::from_millis(250);
const SYN_TRIES: u8 = 2;
/// First retransmission of the held head, doubling; tries before both sides are reset.
const HELD_RTO: Duration = Duration::from_millis(200);
const HELD_TRIES: u8 = 5;
/// How long a client may take to send its request head once connected.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the switch waits for the last ACK of a connection its client closed early.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SYN cookie may come back: its two minutes of validity and then some.
const COOKIE_LIFE: Duration = Duration::from_secs(3 * 64);
/// Client bytes an L4 port's proxied connection holds while the switch reaches the server.
const PROXY_HOLD: usize = 8192;
/// How long a learned cookie binding lives after its last use.
const COOKIE_AGE: Duration = Duration::from_secs(3600);

impl L4 {
    /// The first segment of a connection to an L7 port: a SYN is answered by the switch
    /// (with state, or a SYN cookie under a flood); an ACK may prove a cookie.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn l7_open<B: FrameBuf>(
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
        if t.syn() && !t.ack() && !t.rst() {
            return self.l7_syn(net, svc, frame, ip, t, now, out);
        }
        if t.ack() && !t.syn() && !t.rst() && self.may_prove_a_cookie(svc, now) {
            return self.l7_cookie_ack(net, svc, frame, ip, t, now, alloc, out);
        }
        net.drop(frame, DropReason::TcpNoFlow, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn l7_syn<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        svc: usize,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        out: &mut Output<B>,
    ) -> Verdict {
        // An answer that could not go out: neither a cookie nor a half-open flow for it.
        if let Some(reason) = net.unanswerable(t.key.src, now) {
            return net.drop(frame, reason, out);
        }
        let (client_isn, offered) = read_syn(frame.as_ref(), ip);
        // An L4 port comes here only to answer with a cookie (`L4::syn_proxy`).
        let cookies = self.services.services[svc].l7.is_none() || self.syn_cookies_now(svc);
        let ts_now = self.l7.ts_now(now);
        let (our_isn, ts) = if cookies {
            self.stats.l7.syn_cookies_sent += 1;
            self.l7.cookies_until = now + COOKIE_LIFE;
            let cookie = self.l7.keys.cookie(&t.key, client_isn, offered.mss, now);
            (cookie, offered.ts_val.map(|val| (syn::cookie_timestamp(ts_now, &offered), val)))
        } else {
            self.make_room(now);
            let id = match self.flows.insert_spliced(t.key, svc as u8, now) {
                Ok(id) => id,
                Err(_) => {
                    self.stats.refused_table_full += 1;
                    self.stats.services[svc].refused += 1;
                    return self.refuse(net, frame, ip, t, now, out);
                }
            };
            let mut sp = Splice::succeeding(&self.l7.splices[id.index()]);
            sp.client_isn = client_isn;
            sp.our_isn = self.l7.keys.isn(&t.key, now);
            sp.set_phase(Phase::SynReceived);
            take_offer(&mut sp, &offered);
            self.l7.splices[id.index()] = sp;
            self.stats.l7.syn_acks += 1;
            self.arm(id, now + SYN_ACK_RTO);
            (sp.our_isn, offered.ts_val.map(|val| (ts_now, val)))
        };
        let options = Options {
            mss: Some(MSS_MAX),
            window_scale: offered.window_scale.map(|_| OUR_WS),
            sack_permitted: offered.sack,
            timestamps: ts,
        };
        let seg =
            reply(t, our_isn, client_isn.wrapping_add(1), tcp::flags::SYN | tcp::flags::ACK, SYN_ACK_WINDOW, options);
        if !segment::write(&mut frame, &seg) {
            return net.drop(frame, DropReason::NoBuffer, out);
        }
        net.answer(frame, t.key.src, now, out)
    }

    /// Whether port `svc` answers SYNs with cookies now: always, never, or (auto) while the
    /// core's half-open connections are past the threshold.
    pub(super) fn syn_cookies_now(&self, svc: usize) -> bool {
        let service = &self.services.services[svc];
        match service.syn_cookies {
            _ if !service.can_proxy_handshakes() => false,
            SynCookies::Always => true,
            SynCookies::Never => false,
            SynCookies::Auto => self.flows.half_open() >= self.l7.cookie_threshold,
        }
    }

    /// Whether an ACK with no connection to port `svc` may be a cookie's proof: only while
    /// cookies this core sent may still come back (else it costs no more than any stray
    /// ACK).
    pub(super) fn may_prove_a_cookie(&self, svc: usize, now: Instant) -> bool {
        now < self.l7.cookies_until && self.services.services[svc].can_proxy_handshakes()
    }

    /// An ACK to an L7 port with no connection: a SYN cookie's proof, or nothing.
    #[allow(clippy::too_many_arguments)]
    fn l7_cookie_ack<B: FrameBuf>(
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
        let seg = tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]);
        let (client_isn, cookie) = (seg.seq_number().wrapping_sub(1), seg.ack_number().wrapping_sub(1));
        let options = tcp::read_options(seg.options()).unwrap_or_default();
        let Some(mss) = self.l7.keys.check(&t.key, client_isn, cookie, now) else {
            self.stats.l7.syn_cookies_refused += 1;
            return net.drop(frame, DropReason::TcpNoFlow, out);
        };
        self.make_room(now);
        let Ok(id) = self.flows.insert_spliced(t.key, svc as u8, now) else {
            self.stats.refused_table_full += 1;
            self.stats.services[svc].refused += 1;
            return self.refuse(net, frame, ip, t, now, out);
        };
        self.stats.l7.syn_cookies_accepted += 1;
        let (window_scale, sack) = match options.timestamps {
            Some(ts) => syn::options_from_timestamp(ts.tsecr),
            None => (None, false),
        };
        let offered = Offered { mss, window_scale, sack, ts_val: options.timestamps.map(|ts| ts.tsval) };
        let mut sp = Splice::succeeding(&self.l7.splices[id.index()]);
        sp.client_isn = client_isn;
        sp.our_isn = cookie;
        take_offer(&mut sp, &offered);
        sp.set_phase(Phase::SynReceived);
        self.l7.splices[id.index()] = sp;
        // The ACK completes the handshake the cookie stood for.
        self.l7_handshake(net, id, frame, ip, t, now, alloc, out)
    }

    /// A frame of a spliced flow, in whatever phase it is. Nearly every frame is only
    /// rewritten: that path is inlined into the burst loop, the rest is not.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn l7_frame<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        dir: Direction,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        // Most of a connection's frames: what they need is in the flow line.
        if let Some(steady) = self.flows.get(id).steady() {
            debug_assert_eq!(Some(*steady), self.l7.splices[id.index()].steady(), "the flow line's copy is stale");
            if dir == Direction::FromServer || !fresh_syn(t) {
                let moves = Moves::from(steady);
                return self.l7_splice(net, id, dir, frame, ip, t, now, moves, out);
            }
        }
        if self.only_rewritten(id, dir, frame.as_ref(), ip, t) {
            let moves = self.l7.splices[id.index()].moves();
            return self.l7_splice(net, id, dir, frame, ip, t, now, moves, out);
        }
        self.l7_frame_phase(net, id, dir, frame, ip, t, now, alloc, out)
    }

    /// Whether a frame of a spliced flow changes nothing of its connection and is only
    /// rewritten: the client's segments once the head went to the server (a SYN aside), the
    /// server's once it acknowledged the head, past its first response and away from an
    /// inserted cookie.
    #[inline(always)]
    fn only_rewritten(&self, id: FlowId, dir: Direction, frame: &[u8], ip: &Ip, t: &Transport) -> bool {
        let sp = &self.l7.splices[id.index()];
        match dir {
            Direction::FromClient => matches!(sp.phase(), Phase::Sending | Phase::Spliced) && !fresh_syn(t),
            Direction::FromServer => {
                let seg = tcp::Packet::new_unchecked(&frame[ip.l4..ip.end]);
                let (seq, payload_len) = (seg.seq_number(), seg.payload().len());
                sp.phase() == Phase::Spliced
                    && (payload_len == 0
                        || sp.has(opt::RESPONSE_SEEN)
                            && !(sp.has(opt::INSERT) && (sp.insert_at.wrapping_sub(seq) as usize) < payload_len))
            }
        }
    }

    /// A frame of a spliced flow that [`only_rewritten`](Self::only_rewritten) did not take,
    /// by the connection's phase.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn l7_frame_phase<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        dir: Direction,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let phase = self.l7.splices[id.index()].phase();
        if dir == Direction::FromClient && fresh_syn(t) && phase != Phase::SynReceived {
            // A new connection on the tuple of one that closed: it starts over. A SYN on a
            // connection still open is dropped (it never resets one).
            let closed = matches!(self.flows.get(id).state(), FlowState::TimeWait | FlowState::Close);
            if !closed {
                return net.drop(frame, DropReason::TcpNoFlow, out);
            }
            let svc = usize::from(self.flows.get(id).service());
            self.end_flow(id, now);
            return self.l7_syn(net, svc, frame, ip, t, now, out);
        }
        match (dir, phase) {
            (Direction::FromClient, Phase::SynReceived) => self.l7_handshake(net, id, frame, ip, t, now, alloc, out),
            (Direction::FromClient, Phase::Head | Phase::Connecting) => {
                self.l7_head(net, id, frame, ip, t, now, alloc, out)
            }
            (Direction::FromServer, Phase::Connecting) => {
                self.l7_server_syn_ack(net, id, frame, ip, t, now, alloc, out)
            }
            (Direction::FromClient, Phase::Closing) => self.l7_closing(net, id, frame, t, now, out),
            (Direction::FromServer, Phase::Sending | Phase::Spliced) => {
                self.l7_from_server(net, id, frame, ip, t, now, alloc, out)
            }
            // The client's other segments once the head went out were rewritten by
            // `l7_frame`, or were a fresh SYN (above): what is left is a server's out of turn.
            _ => net.drop(frame, DropReason::TcpNoFlow, out),
        }
    }

    /// The client's answer to the SYN-ACK (its ACK, maybe with the first data).
    #[allow(clippy::too_many_arguments)]
    fn l7_handshake<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let sp = self.l7.splices[id.index()];
        if t.rst() {
            self.end_flow(id, now);
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        if t.syn() && !t.ack() {
            // The SYN again: our SYN-ACK was lost. The same answer, the same ISN.
            self.stats.l7.retransmits += 1;
            let (client_isn, offered) = read_syn(frame.as_ref(), ip);
            if client_isn != sp.client_isn {
                return net.drop(frame, DropReason::TcpNoFlow, out);
            }
            let options = syn_ack_options(&sp, self.l7.ts_now(now), offered.ts_val);
            let seg = reply(
                t,
                sp.our_isn,
                sp.client_isn.wrapping_add(1),
                tcp::flags::SYN | tcp::flags::ACK,
                SYN_ACK_WINDOW,
                options,
            );
            if !segment::write(&mut frame, &seg) {
                return net.drop(frame, DropReason::NoBuffer, out);
            }
            return net.answer(frame, t.key.src, now, out);
        }
        let ack = tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]).ack_number();
        if !t.ack() || ack != sp.our_isn.wrapping_add(1) {
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        self.flows.established(id, now);
        self.stats.l7.handshakes += 1;
        let sp = &mut self.l7.splices[id.index()];
        sp.set_phase(Phase::Head);
        sp.timer = sp.timer.wrapping_add(1);
        self.arm(id, now + HEAD_TIMEOUT);
        self.flows.set_expiry(id, now + HEAD_TIMEOUT + Duration::from_secs(1));
        if self.services.services[usize::from(self.flows.get(id).service())].l7.is_none() {
            // An L4 port's proxied handshake: no head to read, the server is picked now.
            self.l7_bind(net, id, Bind::Proxy, now, alloc, out);
            if !self.flows.contains(id) {
                return net.drop(frame, DropReason::NoServer, out);
            }
        }
        self.l7_head(net, id, frame, ip, t, now, alloc, out)
    }

    /// A client segment while the head is read (or the server is being reached): its data
    /// is kept and acknowledged; a complete head binds the connection.
    #[allow(clippy::too_many_arguments)]
    fn l7_head<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        if t.rst() {
            self.l7_abort(net, id, false, now, alloc, out);
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        let svc = usize::from(self.flows.get(id).service());
        let limit = self.services.services[svc].l7.as_ref().map_or(PROXY_HOLD, |p| p.head_limit);
        let seg = tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]);
        let (seq, window, payload) = (seg.seq_number(), seg.window_len(), seg.payload());
        let options = tcp::read_options(seg.options()).unwrap_or_default();
        let mut sp = self.l7.splices[id.index()];
        sp.client_window = window;
        // TS.Recent only moves forward (RFC 7323): segments may come out of order, and a
        // server rejects (PAWS) a segment whose timestamp is older than one it saw.
        if let Some(ts) = options.timestamps.filter(|ts| seq_ge(ts.tsval, sp.ts_recent)) {
            sp.ts_recent = ts.tsval;
        }
        let offset = seq.wrapping_sub(sp.client_isn.wrapping_add(1));
        let mut head = HeadState::Partial;
        if !payload.is_empty() && (offset as i32) >= 0 {
            if sp.head == NO_HEAD {
                match self.l7.heads.take() {
                    Some(slot) => sp.head = slot,
                    None => {
                        self.stats.l7.head_buffers_full += 1;
                        self.l7.splices[id.index()] = sp;
                        self.end_flow(id, now);
                        return net.reset(frame, ip, now, out);
                    }
                }
            }
            let stored = self.l7.heads.store(sp.head, sp.held, offset, payload, limit);
            sp.held = stored.contiguous;
            if sp.phase() == Phase::Head {
                head = match self.l7_read_head(svc, &sp) {
                    HeadState::Partial if stored.overflow || sp.held as usize >= limit => HeadState::TooLarge,
                    read => read,
                };
            }
        }
        self.l7.splices[id.index()] = sp;
        if let HeadState::TooLarge = head {
            self.stats.l7.head_too_large += 1;
            self.end_flow(id, now);
            return net.reset(frame, ip, now, out);
        }
        let all_in = seq.wrapping_add(payload.len() as u32) == sp.client_next();
        if t.fin() && matches!(head, HeadState::Partial) && sp.phase() == Phase::Head && all_in {
            return self.l7_close(net, id, frame, t, now, out);
        }
        // Our ACK of what is held, in place of the segment.
        let ts_now = self.l7.ts_now(now);
        let room = (limit as u32).saturating_sub(sp.held);
        let ack_options =
            Options { timestamps: sp.has(opt::CLIENT_TS).then_some((ts_now, sp.ts_recent)), ..Options::default() };
        let ack = reply(
            t,
            sp.our_isn.wrapping_add(1),
            sp.client_next(),
            tcp::flags::ACK,
            (room >> sp.our_ws) as u16,
            ack_options,
        );
        if payload_is_empty(&frame, ip) {
            out.dropped.push(frame);
        } else if segment::write(&mut frame, &ack) {
            net.answer(frame, t.key.src, now, out);
        } else {
            net.drop(frame, DropReason::NoBuffer, out);
        }
        match head {
            HeadState::Http(named) => self.l7_bind(net, id, Bind::Head(named), now, alloc, out),
            HeadState::NotHttp => self.l7_bind(net, id, Bind::NotHttp, now, alloc, out),
            HeadState::Partial | HeadState::TooLarge => {}
        }
        Verdict::Consumed
    }

    /// The client closed before its request was whole (a connection opened and given up, as
    /// browsers and wrk do): the switch answers its FIN with its own and waits for the last
    /// ACK; no server ever hears of it.
    fn l7_close<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        frame: B,
        t: &Transport,
        now: Instant,
        out: &mut Output<B>,
    ) -> Verdict {
        let sp = &mut self.l7.splices[id.index()];
        self.l7.heads.give_back(std::mem::replace(&mut sp.head, NO_HEAD));
        sp.set_phase(Phase::Closing);
        sp.timer = sp.timer.wrapping_add(1);
        self.stats.l7.closed_before_head += 1;
        self.flows.set_expiry(id, now + CLOSING_TIMEOUT);
        self.l7_fin_ack(net, id, frame, t, now, out)
    }

    /// A client segment after the switch closed its side: a FIN again is answered again,
    /// the last ACK ends the connection.
    fn l7_closing<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        frame: B,
        t: &Transport,
        now: Instant,
        out: &mut Output<B>,
    ) -> Verdict {
        if t.fin() {
            return self.l7_fin_ack(net, id, frame, t, now, out);
        }
        if t.ack() || t.rst() {
            self.end_flow(id, now);
        }
        out.dropped.push(frame);
        Verdict::Consumed
    }

    /// The switch's FIN|ACK to the client's FIN, written over the client's segment.
    fn l7_fin_ack<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        mut frame: B,
        t: &Transport,
        now: Instant,
        out: &mut Output<B>,
    ) -> Verdict {
        let sp = self.l7.splices[id.index()];
        let options = Options {
            timestamps: sp.has(opt::CLIENT_TS).then_some((self.l7.ts_now(now), sp.ts_recent)),
            ..Options::default()
        };
        let flags = tcp::flags::FIN | tcp::flags::ACK;
        let fin = reply(t, sp.our_isn.wrapping_add(1), sp.client_next().wrapping_add(1), flags, 0, options);
        if !segment::write(&mut frame, &fin) {
            return net.drop(frame, DropReason::NoBuffer, out);
        }
        net.answer(frame, t.key.src, now, out)
    }

    /// The head is in: the rules pick the server, and the switch connects to it.
    fn l7_bind<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        how: Bind,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let flow = *self.flows.get(id);
        let svc = usize::from(flow.service());
        let named = match how {
            Bind::Head(named) => {
                self.stats.l7.heads += 1;
                named
            }
            Bind::NotHttp => {
                self.stats.l7.not_http += 1;
                None
            }
            Bind::Proxy => {
                self.stats.l7.proxied += 1;
                None
            }
        };
        let (server, decided) = match named {
            Some(n) => {
                if n.failover {
                    self.stats.l7.domain_failovers += 1;
                    // A learned session moves to the buddy for good: it stays there when its
                    // server comes back.
                    if let Some(hash) = n.learned {
                        let key = cookie_key(hash);
                        if self.l7.cookies.bind_key(svc as u16, key, n.server, now, COOKIE_AGE).is_ok() {
                            self.sticky_out.push(StickyUpdate { service: svc as u16, key, server: n.server });
                        }
                    }
                }
                (Some(n.server), n.decided)
            }
            None => match self.schedule(svc, &flow.client_key(), now) {
                Some((server, true)) => (Some(server), Decided::Sticky),
                Some((server, false)) => (Some(server), Decided::Predictor),
                None => (None, Decided::Predictor),
            },
        };
        let Some(server) = server else {
            self.stats.l7.no_server += 1;
            self.stats.refused_no_server += 1;
            self.stats.services[svc].refused += 1;
            self.l7_abort(net, id, true, now, alloc, out);
            return;
        };
        if self.l7.decisions.is_on() {
            let sp = self.l7.splices[id.index()];
            let policy = self.services.services[svc].l7.clone();
            let rule = named.map(|n| n.rule);
            let read = policy.as_ref().zip(rule).and_then(|(p, rule)| self.l7.value_read(p, &sp, rule));
            let (value, in_path) = read.map_or((None, false), |(v, in_path)| (Some(v), in_path));
            let failover = named.is_some_and(|n| n.failover);
            let client = flow.client_key();
            self.l7.decisions.record(Decision { client, server, decided, rule, value, in_path, failover });
        }
        let inserted = self.services.services[svc].l7.as_ref().and_then(L7Policy::inserted_cookie);
        let sp = &mut self.l7.splices[id.index()];
        sp.decided = decided as u8;
        sp.first_server = server;
        if let Some(cookie) = inserted.filter(|_| decided != Decided::InsertedCookie) {
            sp.options |= opt::INSERT;
            let id_len = self.services.servers[usize::from(server)].server_id.len();
            sp.insert_len = cookie_line_len(cookie, id_len) as u16;
        }
        self.stats.l7.decided[decided as usize] += 1;
        if let Some(sticky) = self.services.services[svc].sticky {
            self.sticky.flow_started(svc as u16, flow.client_key().src, sticky.prefix_len);
        }
        self.l7_connect(net, id, server, now, alloc, out);
    }

    /// Reads what connection `sp` of port `svc` holds of its request head, once: whether the
    /// head is complete, and for a complete HTTP head what the port's rules name for it.
    fn l7_read_head(&self, svc: usize, sp: &Splice) -> HeadState {
        let mut headers = [http::EMPTY_HEADER; http::MAX_HEADERS];
        match RequestHead::parse(self.l7.heads.bytes(sp.head, sp.held), &mut headers) {
            Ok(head) => HeadState::Http(self.l7_rules(svc, &head)),
            Err(HeadError::Incomplete) => HeadState::Partial,
            Err(HeadError::NotHttp) => HeadState::NotHttp,
            Err(HeadError::TooLarge) => HeadState::TooLarge,
        }
    }

    /// What the port's rules name for a request head, if anything.
    fn l7_rules(&self, svc: usize, head: &RequestHead<'_>) -> Option<rules::Named> {
        let policy = self.services.services[svc].l7.as_ref()?;
        let cookies = &self.l7.cookies;
        let learned = |hash: u64| cookies.lookup_key(svc as u16, cookie_key(hash), Instant::ZERO);
        let ground = Ground {
            servers: &self.services.servers,
            ids: &self.services.services[svc].servers,
            learned: &learned,
            cookie_key: self.services.secrets.sticky,
        };
        rules::apply(&policy.rules, head, &ground)
    }

    /// Opens the server side towards `server`: a local port of this core, the server key in
    /// the flow table, the SYN.
    fn l7_connect<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        server: u16,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let s = &self.services.servers[usize::from(server)];
        let (server_ip, server_port) = (s.ip, s.port);
        let Some((port, _)) = net.topology.route(server_ip) else {
            self.l7_abort(net, id, true, now, alloc, out);
            return;
        };
        let svc = usize::from(self.flows.get(id).service());
        let attached = match self.services.services[svc].nat {
            // Gateway NAT: the server answers the client's own address and port.
            NatMode::Gateway => {
                let client = self.flows.get(id).client_key();
                let key = FlowKey::new(server_ip, server_port, client.src, client.src_port, super::PROTO_TCP);
                self.flows.attach_server(id, key, server)
            }
            _ => self.with_local_port(
                port,
                &net.topology.ports[port],
                (server_ip, server_port),
                super::PROTO_TCP,
                now,
                |flows, local_ip, local_port| {
                    let key = FlowKey::new(server_ip, server_port, local_ip, local_port, super::PROTO_TCP);
                    flows.attach_server(id, key, server)
                },
            ),
        };
        if attached.is_err() {
            self.stats.refused_table_full += 1;
            self.l7_abort(net, id, true, now, alloc, out);
            return;
        }
        self.stats.flows_created += 1;
        self.stats.services[svc].total += 1;
        self.stats.servers[usize::from(server)].total += 1;
        self.count_open(svc, server, true);
        let sp = &mut self.l7.splices[id.index()];
        sp.set_phase(Phase::Connecting);
        sp.attempts = sp.attempts.saturating_add(1);
        sp.tries = 0;
        self.flows.set_expiry(id, now + Duration::from_secs(30));
        self.arm(id, now + SYN_RTO);
        self.l7_send_syn(net, id, now, alloc, out);
    }

    /// The SYN to the flow's server, with the client's ISN and options.
    fn l7_send_syn<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let (flow, sp) = (*self.flows.get(id), self.l7.splices[id.index()]);
        let to = flow.server_key().reversed();
        let mss = sp.client_mss.min(MSS_MAX).saturating_sub(sp.insert_len);
        let options = Options {
            mss: Some(mss),
            window_scale: sp.has(opt::CLIENT_WS).then_some(sp.client_ws),
            sack_permitted: sp.has(opt::CLIENT_SACK),
            timestamps: sp.has(opt::CLIENT_TS).then_some((sp.ts_recent, 0)),
        };
        let seg = Out {
            src: to.src,
            dst: to.dst,
            src_port: to.src_port,
            dst_port: to.dst_port,
            seq: sp.client_isn,
            ack: 0,
            flags: tcp::flags::SYN,
            window: SYN_ACK_WINDOW,
            options,
            payload: b"",
        };
        send_new(net, &seg, now, alloc, out);
    }

    /// A bare RST at `seq` to the flow's server, from the switch's side of it.
    fn l7_reset_server<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        seq: u32,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let to = self.flows.get(id).server_key().reversed();
        let seg = Out {
            src: to.src,
            dst: to.dst,
            src_port: to.src_port,
            dst_port: to.dst_port,
            seq,
            ack: 0,
            flags: tcp::flags::RST,
            window: 0,
            options: Options::default(),
            payload: b"",
        };
        send_new(net, &seg, now, alloc, out);
    }

    /// The server's answer to the SYN: a SYN-ACK (send it the held head) or a refusal (the
    /// next server).
    #[allow(clippy::too_many_arguments)]
    fn l7_server_syn_ack<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let sp = self.l7.splices[id.index()];
        let seg = tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]);
        let (seq, ack) = (seg.seq_number(), seg.ack_number());
        if t.rst() {
            if t.ack() && ack == sp.client_isn.wrapping_add(1) {
                self.stats.l7.server_refused += 1;
                out.dropped.push(frame);
                self.l7_next_server(net, id, now, alloc, out);
                return Verdict::Consumed;
            }
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        if t.ack() && !t.syn() && ack != sp.client_isn.wrapping_add(1) {
            // An old connection on this tuple answered (the server still holds it in
            // SYN_RECV or TIME_WAIT, as after a flood or a quick reuse of a local port). As
            // an active opener must (RFC 9293 3.10.7.3), reset it at the number it acked,
            // which clears it, and send the SYN again at once.
            self.stats.l7.server_stale += 1;
            out.dropped.push(frame);
            self.l7_reset_server(net, id, ack, now, alloc, out);
            if sp.tries < SYN_TRIES {
                self.l7.splices[id.index()].tries += 1;
                self.l7_send_syn(net, id, now, alloc, out);
            }
            return Verdict::Consumed;
        }
        if !(t.syn() && t.ack()) || ack != sp.client_isn.wrapping_add(1) {
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        let options = tcp::read_options(seg.options()).unwrap_or_default();
        let ts_now = self.l7.ts_now(now);
        let sp = &mut self.l7.splices[id.index()];
        sp.server_isn = seq;
        sp.server_mss = options.mss.unwrap_or(536).min(MSS_MAX);
        if options.sack_permitted && sp.has(opt::CLIENT_SACK) {
            sp.options |= opt::SERVER_SACK;
        }
        if let (Some(ws), true) = (options.window_scale, sp.has(opt::CLIENT_WS)) {
            sp.options |= opt::SERVER_WS;
            sp.server_ws = ws.min(14);
        } else {
            sp.server_ws = 0;
        }
        if let (Some(ts), true) = (options.timestamps, sp.has(opt::CLIENT_TS)) {
            sp.options |= opt::SERVER_TS;
            sp.ts_delta = ts_now.wrapping_sub(ts.tsval);
            sp.server_ts = ts.tsval;
        }
        sp.set_phase(Phase::Sending);
        sp.tries = 0;
        sp.timer = sp.timer.wrapping_add(1);
        out.dropped.push(frame);
        self.arm(id, now + HELD_RTO);
        self.l7_send_held(net, id, now, alloc, out);
        Verdict::Consumed
    }

    /// The held request, to the server, in segments of its MSS (again on retransmission).
    fn l7_send_held<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let (flow, sp) = (*self.flows.get(id), self.l7.splices[id.index()]);
        let to = flow.server_key().reversed();
        let ts = sp.timestamps().then_some((sp.ts_recent, sp.server_ts));
        if sp.held == 0 {
            // Nothing held (a proxied L4 handshake): the ACK completes the server's
            // handshake, and the connection is spliced at once.
            let seg = Out {
                src: to.src,
                dst: to.dst,
                src_port: to.src_port,
                dst_port: to.dst_port,
                seq: sp.client_isn.wrapping_add(1),
                ack: sp.server_isn.wrapping_add(1),
                flags: tcp::flags::ACK,
                window: sp.client_window,
                options: Options { timestamps: ts, ..Options::default() },
                payload: b"",
            };
            send_new(net, &seg, now, alloc, out);
            let sp = &mut self.l7.splices[id.index()];
            if sp.phase() == Phase::Sending {
                self.l7.heads.give_back(std::mem::replace(&mut sp.head, NO_HEAD));
                sp.set_phase(Phase::Spliced);
                sp.timer = sp.timer.wrapping_add(1);
                self.stats.l7.spliced += 1;
            }
            return;
        }
        // As Linux does, the timestamp option comes out of the MSS.
        let mss = usize::from(sp.server_mss.max(88)) - if ts.is_some() { 12 } else { 0 };
        let mut at = 0usize;
        while at < sp.held as usize {
            let len = mss.min(sp.held as usize - at);
            let chunk = &self.l7.heads.bytes(sp.head, sp.held)[at..at + len];
            let last = at + len == sp.held as usize;
            let seg = Out {
                src: to.src,
                dst: to.dst,
                src_port: to.src_port,
                dst_port: to.dst_port,
                seq: sp.client_isn.wrapping_add(1).wrapping_add(at as u32),
                ack: sp.server_isn.wrapping_add(1),
                flags: tcp::flags::ACK | if last { tcp::flags::PSH } else { 0 },
                window: sp.client_window,
                options: Options { timestamps: ts, ..Options::default() },
                payload: chunk,
            };
            send_new(net, &seg, now, alloc, out);
            at += len;
        }
    }

    /// A server segment once the head went out: the end of holding, the first response
    /// (cookies learned, one inserted), then the splice.
    #[allow(clippy::too_many_arguments)]
    fn l7_from_server<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) -> Verdict {
        let seg = tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]);
        let (seq, ack, payload_len) = (seg.seq_number(), seg.ack_number(), seg.payload().len());
        // Not only rewritten (`l7_frame` took those): the connection changes.
        let mut sp = self.l7.splices[id.index()];
        if sp.phase() == Phase::Sending {
            if t.syn() {
                // Our ACK with the head was lost: the server answers the SYN again.
                self.stats.l7.retransmits += 1;
                out.dropped.push(frame);
                self.l7_send_held(net, id, now, alloc, out);
                return Verdict::Consumed;
            }
            if t.ack() && seq_ge(ack, sp.client_next()) {
                self.l7.heads.give_back(sp.head);
                sp.head = NO_HEAD;
                sp.set_phase(Phase::Spliced);
                sp.timer = sp.timer.wrapping_add(1);
                self.stats.l7.spliced += 1;
            }
        }
        let first = sp.server_isn.wrapping_add(1);
        if payload_len > 0 && seq == first {
            if !sp.has(opt::RESPONSE_SEEN) {
                sp.options |= opt::RESPONSE_SEEN;
                self.l7_learn(id, seg.payload(), now);
                if sp.has(opt::INSERT) {
                    match http::status_line_end(seg.payload()) {
                        Some(at) => sp.insert_at = seq.wrapping_add(at as u32),
                        None => {
                            sp.options &= !opt::INSERT;
                            self.stats.l7.cookie_insert_missed += 1;
                        }
                    }
                }
            }
        } else if payload_len > 0 && sp.has(opt::INSERT) && !sp.has(opt::RESPONSE_SEEN) {
            // A later part of the response came first: the insertion point is not known
            // yet. The server sends it again once the first part arrives.
            self.l7.splices[id.index()] = sp;
            return net.drop(frame, DropReason::TcpNoFlow, out);
        }
        // The segment that carries the insertion point gets the cookie line.
        if sp.has(opt::INSERT) && sp.has(opt::RESPONSE_SEEN) && payload_len > 0 {
            let offset = sp.insert_at.wrapping_sub(seq);
            if (offset as usize) < payload_len {
                let server = self.flows.get(id).server();
                let svc = usize::from(self.flows.get(id).service());
                let line = self.services.services[svc]
                    .l7
                    .as_ref()
                    .and_then(L7Policy::inserted_cookie)
                    .map(|name| cookie_line(name, &self.services.servers[usize::from(server)].server_id));
                let placed =
                    line.filter(|line| segment::insert(&mut frame, ip.l2_len, ip.l4, ip.end, offset as usize, line));
                match placed {
                    Some(line) => {
                        if sp.inserted == 0 {
                            self.stats.l7.cookies_inserted += 1;
                        }
                        sp.inserted = line.len() as u16;
                    }
                    // No room: no cookie for this connection, ever (a later copy of this
                    // segment must look like this one).
                    None if sp.inserted == 0 => {
                        sp.options &= !opt::INSERT;
                        self.stats.l7.cookie_insert_missed += 1;
                    }
                    None => {
                        self.l7.splices[id.index()] = sp;
                        return net.drop(frame, DropReason::NoBuffer, out);
                    }
                }
                self.l7_keep(id, sp);
                let grown = ip.end + usize::from(sp.inserted);
                let ip = Ip { end: grown, ..*ip };
                return self.l7_splice(net, id, Direction::FromServer, frame, &ip, t, now, sp.moves(), out);
            }
        }
        self.l7_keep(id, sp);
        self.l7_splice(net, id, Direction::FromServer, frame, ip, t, now, sp.moves(), out)
    }

    /// Keeps `sp` as connection `id`'s splice state, and puts into its flow line what its
    /// frames are rewritten by once that is all they need (`Splice::steady`).
    fn l7_keep(&mut self, id: FlowId, sp: Splice) {
        self.flows.set_steady(id, sp.steady());
        self.l7.splices[id.index()] = sp;
    }

    /// Learns the cookie values the first response sets, for the port's learned-cookie rule.
    fn l7_learn(&mut self, id: FlowId, response: &[u8], now: Instant) {
        let flow = *self.flows.get(id);
        let svc = usize::from(flow.service());
        let Some(policy) = &self.services.services[svc].l7 else { return };
        for rule in policy.rules.iter().filter(|r| r.kind == RuleKind::LearnedCookie) {
            if let Some(value) = http::set_cookie_value(response, rule.cookie.as_bytes()) {
                let key = cookie_key(rules::cookie_hash(self.services.secrets.sticky, value));
                if self.l7.cookies.bind_key(svc as u16, key, flow.server(), now, COOKIE_AGE).is_ok() {
                    self.stats.l7.cookies_learned += 1;
                    self.sticky_out.push(StickyUpdate { service: svc as u16, key, server: flow.server() });
                }
            }
        }
    }

    /// A segment of a spliced connection, rewritten for the other side.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn l7_splice<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        dir: Direction,
        mut frame: B,
        ip: &Ip,
        t: &Transport,
        now: Instant,
        moves: Moves,
        out: &mut Output<B>,
    ) -> Verdict {
        let server = self.flows.get(id).server();
        if dir == Direction::FromClient && self.services.servers[usize::from(server)].resets_flows() {
            // As on L4 ports: the connection cannot move, the client is told at once.
            self.end_flow(id, now);
            self.stats.reset_server_gone += 1;
            return if t.rst() { net.drop(frame, DropReason::ServerDown, out) } else { net.reset(frame, ip, now, out) };
        }
        let len = (frame.as_ref().len() - ip.l2_len) as u32;
        let seg = super::segment_of(frame.as_ref(), ip, t);
        let Ok(seen) = self.flows.on_frame(id, dir, t.flags, &seg, now) else {
            return net.drop(frame, DropReason::RstOutOfWindow, out);
        };
        let (rw, opened, server, svc) = (seen.flow.rewrite(dir), seen.opened, seen.flow.server(), seen.flow.service());
        if let Some(open) = opened {
            self.count_open(usize::from(svc), server, open);
        }
        let (svc_stats, srv_stats) =
            (&mut self.stats.services[usize::from(svc)], &mut self.stats.servers[usize::from(server)]);
        svc_stats.packets += 1;
        svc_stats.bytes += u64::from(len);
        srv_stats.packets += 1;
        srv_stats.bytes += u64::from(len);
        let splicing = match dir {
            Direction::FromClient => Splicing {
                src: rw.src,
                src_port: rw.src_port,
                dst: rw.dst,
                dst_port: rw.dst_port,
                seq: None,
                ack: t.ack().then(|| moves.client_ack_to_server(seg.ack)),
                window: None,
                options: OptionEdits { ts_val_add: 0, ts_ecr_add: moves.ts_delta.wrapping_neg(), mss_max: None },
                // The client's SACK blocks name server data in the client's sequence space.
                sack_to_server: true,
                moves,
            },
            Direction::FromServer => Splicing {
                src: rw.src,
                src_port: rw.src_port,
                dst: rw.dst,
                dst_port: rw.dst_port,
                seq: Some(moves.server_seq_to_client(seg.seq)),
                ack: None,
                window: Some(moves.server_window_to_client(seg.window)),
                options: OptionEdits { ts_val_add: moves.ts_delta, ts_ecr_add: 0, mss_max: None },
                // The server's SACK blocks name client data: its sequence numbers pass as
                // they are.
                sack_to_server: false,
                moves,
            },
        };
        if let Err(reason) = segment::rewrite(frame.as_mut(), ip.l2_len, ip.l4, ip.end, &splicing) {
            return net.drop(frame, reason, out);
        }
        net.forward(frame, rw.dst, now, out)
    }

    /// The server refused or never answered: the next server of the port, or, with none
    /// left, the client is reset.
    fn l7_next_server<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let flow = *self.flows.get(id);
        let (svc, failed) = (usize::from(flow.service()), flow.server());
        self.count_open(svc, failed, false);
        self.flows.detach_server(id);
        let ids = &self.services.services[svc].servers;
        let sp = self.l7.splices[id.index()];
        let next = (usize::from(sp.attempts) < ids.len())
            .then(|| {
                let at = ids.iter().position(|&s| s == failed).unwrap_or(0);
                (1..ids.len()).map(|k| ids[(at + k) % ids.len()]).find(|&s| {
                    s != sp.first_server && self.services.servers[usize::from(s)].state == ServerState::Enabled
                })
            })
            .flatten();
        match next {
            Some(server) => self.l7_connect(net, id, server, now, alloc, out),
            None => {
                self.stats.l7.no_server += 1;
                self.l7_abort(net, id, true, now, alloc, out);
            }
        }
    }

    /// Ends a connection before it is spliced: the client gets a RST when `reset_client`
    /// (it has data acknowledged that will never reach a server), the server one when it was
    /// reached.
    fn l7_abort<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        reset_client: bool,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let (flow, sp) = (*self.flows.get(id), self.l7.splices[id.index()]);
        if reset_client {
            let key = flow.client_key();
            let seg = Out {
                src: key.dst,
                dst: key.src,
                src_port: key.dst_port,
                dst_port: key.src_port,
                seq: sp.our_isn.wrapping_add(1),
                ack: sp.client_next(),
                flags: tcp::flags::RST | tcp::flags::ACK,
                window: 0,
                options: Options::default(),
                payload: b"",
            };
            send_new(net, &seg, now, alloc, out);
        }
        if flow.has_server() && matches!(sp.phase(), Phase::Connecting | Phase::Sending) {
            let seq = if sp.phase() == Phase::Sending { sp.client_next() } else { sp.client_isn.wrapping_add(1) };
            self.l7_reset_server(net, id, seq, now, alloc, out);
        }
        self.end_flow(id, now);
    }

    /// Arms flow `id`'s timer for `at` (a timer armed before for it no longer counts).
    fn arm(&mut self, id: FlowId, at: Instant) {
        let sp = &mut self.l7.splices[id.index()];
        sp.timer = sp.timer.wrapping_add(1);
        self.l7.timers.schedule(id, sp.timer, at);
    }

    /// The L7 timers due at `now`: retransmissions, given-up handshakes and servers, heads
    /// that never came.
    pub(super) fn l7_poll<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let mut fired = std::mem::take(&mut self.l7.fired);
        fired.clear();
        self.l7.timers.expire(now, &mut fired);
        for f in &fired {
            let live = self.flows.contains(f.flow) && self.flows.get(f.flow).is_spliced();
            if live && self.l7.splices[f.flow.index()].timer == f.generation {
                self.l7_timer(net, f.flow, now, alloc, out);
            }
        }
        self.l7.fired = fired;
    }

    fn l7_timer<B: FrameBuf>(
        &mut self,
        net: &mut Net<B>,
        id: FlowId,
        now: Instant,
        alloc: &mut impl FnMut() -> Option<B>,
        out: &mut Output<B>,
    ) {
        let sp = self.l7.splices[id.index()];
        let tries = sp.tries;
        let retry = |rto: Duration| now + rto * (1 << tries.min(6));
        match sp.phase() {
            Phase::SynReceived if tries < SYN_ACK_TRIES => {
                self.l7.splices[id.index()].tries += 1;
                self.stats.l7.retransmits += 1;
                let key = self.flows.get(id).client_key();
                let options = syn_ack_options(&sp, self.l7.ts_now(now), sp.has(opt::CLIENT_TS).then_some(sp.ts_recent));
                let seg = Out {
                    src: key.dst,
                    dst: key.src,
                    src_port: key.dst_port,
                    dst_port: key.src_port,
                    seq: sp.our_isn,
                    ack: sp.client_isn.wrapping_add(1),
                    flags: tcp::flags::SYN | tcp::flags::ACK,
                    window: SYN_ACK_WINDOW,
                    options,
                    payload: b"",
                };
                send_new(net, &seg, now, alloc, out);
                self.arm(id, retry(SYN_ACK_RTO * 2));
            }
            Phase::SynReceived => {
                self.stats.l7.half_open_expired += 1;
                self.end_flow(id, now);
            }
            Phase::Head => {
                self.stats.l7.head_timeouts += 1;
                self.l7_abort(net, id, true, now, alloc, out);
            }
            Phase::Connecting if tries < SYN_TRIES => {
                self.l7.splices[id.index()].tries += 1;
                self.stats.l7.retransmits += 1;
                self.l7_send_syn(net, id, now, alloc, out);
                self.arm(id, retry(SYN_RTO * 2));
            }
            Phase::Connecting => {
                self.stats.l7.server_timeouts += 1;
                // The silent server may still answer: it gets a RST for this attempt.
                self.l7_reset_server(net, id, sp.client_isn.wrapping_add(1), now, alloc, out);
                self.l7_next_server(net, id, now, alloc, out);
            }
            Phase::Sending if tries < HELD_TRIES => {
                self.l7.splices[id.index()].tries += 1;
                self.stats.l7.retransmits += 1;
                self.l7_send_held(net, id, now, alloc, out);
                self.arm(id, retry(HELD_RTO * 2));
            }
            Phase::Sending => {
                self.stats.l7.held_timeouts += 1;
                self.l7_abort(net, id, true, now, alloc, out);
            }
            Phase::Spliced | Phase::Closing => {}
        }
    }

    /// What a spliced flow leaves behind when it ends (removed or expired): its head
    /// buffer, its timer.
    pub(super) fn l7_release(&mut self, id: FlowId) {
        let Some(sp) = self.l7.splices.get_mut(id.index()) else { return };
        let head = std::mem::replace(&mut sp.head, NO_HEAD);
        sp.timer = sp.timer.wrapping_add(1);
        sp.set_phase(Phase::Spliced);
        self.l7.heads.give_back(head);
    }

    /// When the next L7 timer falls due.
    pub fn l7_next_deadline(&self) -> Option<Instant> {
        self.l7.timers.next_deadline()
    }

    /// The splice state of flow `id` (meaningful for a spliced flow).
    #[cfg(test)]
    pub(crate) fn splice(&self, id: FlowId) -> &Splice {
        &self.l7.splices[id.index()]
    }

    /// The L7 counters of this core.
    pub fn l7_stats(&self) -> &super::super::l7::L7Stats {
        &self.stats.l7
    }

    /// A learned cookie binding from another core.
    pub(super) fn apply_cookie(&mut self, update: StickyUpdate, now: Instant) {
        let _ = self.l7.cookies.bind_key(update.service, update.key, update.server, now, COOKIE_AGE);
    }
}

/// Sends a segment the switch originates, in a fresh buffer.
pub(super) fn send_new<B: FrameBuf>(
    net: &mut Net<B>,
    seg: &Out<'_>,
    now: Instant,
    alloc: &mut impl FnMut() -> Option<B>,
    out: &mut Output<B>,
) {
    let Some(mut frame) = alloc() else {
        net.counters.count_drop(DropReason::NoBuffer);
        return;
    };
    if segment::write(&mut frame, seg) {
        let _ = net.send_ip(frame, seg.dst, now, out);
    } else {
        net.drop(frame, DropReason::NoBuffer, out);
    }
}

/// How a connection came to be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    /// Its request head is in, and the server the port's rules named for it.
    Head(Option<rules::Named>),
    /// Its first bytes are not HTTP.
    NotHttp,
    /// An L4 port's handshake the switch answered (SYN proxy): nothing to read.
    Proxy,
}

/// What the head collected so far is.
enum HeadState {
    Partial,
    /// A complete HTTP request head, and the server the port's rules named for it.
    Http(Option<rules::Named>),
    NotHttp,
    TooLarge,
}

/// A client SYN's sequence number and what it offered.
fn read_syn(frame: &[u8], ip: &Ip) -> (u32, Offered) {
    let seg = tcp::Packet::new_unchecked(&frame[ip.l4..ip.end]);
    let o = tcp::read_options(seg.options()).unwrap_or_default();
    let offered = Offered {
        mss: o.mss.unwrap_or(536),
        window_scale: o.window_scale,
        sack: o.sack_permitted,
        ts_val: o.timestamps.map(|ts| ts.tsval),
    };
    (seg.seq_number(), offered)
}

/// A client's SYN without ACK: on a tuple whose connection is over, a new one starts.
#[inline(always)]
fn fresh_syn(t: &Transport) -> bool {
    t.syn() && !t.ack()
}

/// Notes what the client offered in its splice state.
fn take_offer(sp: &mut Splice, offered: &Offered) {
    sp.client_mss = offered.mss.min(MSS_MAX);
    if let Some(ws) = offered.window_scale {
        sp.options |= opt::CLIENT_WS;
        sp.client_ws = ws.min(14);
        sp.our_ws = OUR_WS;
    }
    if offered.sack {
        sp.options |= opt::CLIENT_SACK;
    }
    if let Some(val) = offered.ts_val {
        sp.options |= opt::CLIENT_TS;
        sp.ts_recent = val;
    }
}

/// The options of the switch's SYN-ACK for a connection with state.
fn syn_ack_options(sp: &Splice, ts_now: u32, ts_val: Option<u32>) -> Options {
    Options {
        mss: Some(MSS_MAX),
        window_scale: sp.has(opt::CLIENT_WS).then_some(OUR_WS),
        sack_permitted: sp.has(opt::CLIENT_SACK),
        timestamps: ts_val.filter(|_| sp.has(opt::CLIENT_TS)).map(|val| (ts_now, val)),
    }
}

/// A segment from the VIP back to the client of `t`.
fn reply(t: &Transport, seq: u32, ack: u32, flags: u8, window: u16, options: Options) -> Out<'static> {
    Out {
        src: t.key.dst,
        dst: t.key.src,
        src_port: t.key.dst_port,
        dst_port: t.key.src_port,
        seq,
        ack,
        flags,
        window,
        options,
        payload: b"",
    }
}

fn payload_is_empty<B: FrameBuf>(frame: &B, ip: &Ip) -> bool {
    tcp::Packet::new_unchecked(&frame.as_ref()[ip.l4..ip.end]).payload().is_empty()
}

/// `Set-Cookie: NAME=ID; Path=/` and its line end.
fn cookie_line(name: &str, server_id: &str) -> Vec<u8> {
    format!("Set-Cookie: {name}={server_id}; Path=/\r\n").into_bytes()
}

fn cookie_line_len(name: &str, id_len: usize) -> usize {
    "Set-Cookie: =; Path=/\r\n".len() + name.len() + id_len
}
