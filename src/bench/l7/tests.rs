//! The L7 scenarios' traffic, checked frame by frame on `Vec` buffers (no EAL, no clock):
//! what they measure must be what they say.

use super::*;
use crate::port::mem::VecPool;

fn parse(frame: &[u8]) -> Sent {
    sent(0, frame).expect("good TCP with good checksums")
}

/// Both established frames of a spliced connection go through the splice and come out
/// translated: the client's ACK into the server's sequence space (less the timestamp delta
/// on its TSecr), the server's data into the switch's (its TSval moved).
#[test]
fn spliced_frames_are_translated_both_ways() {
    let services = l7_services(64, SynCookies::Auto).unwrap();
    let mut engine: Engine<Vec<u8>> = Engine::with_services(l4::topology(false), services, Default::default());
    let now = Instant::from_millis(1000);
    let set_up = splice_all(&mut engine, || Some(Vec::new()), 6, now).unwrap();
    let mut d = Driver { engine: &mut engine, alloc: || Some(Vec::new()), out: Output::new(2), now };
    for (i, e) in set_up.iter().enumerate() {
        let (ack, data) = (parse(&e.client_ack), parse(&e.server_data));
        let out = d.send(0, &e.client_ack).unwrap();
        expect("client ACK", &out, &[(1, tcp::flags::ACK)]).unwrap();
        // The client acknowledges all the server's data: the server's next sequence number.
        assert_eq!(out[0].ack, data.seq.wrapping_add(SPLICED_DATA as u32), "connection {i}");
        assert_eq!((out[0].seq, out[0].dst_port), (ack.seq, SERVER_PORT));
        let out = d.send(1, &e.server_data).unwrap();
        expect("server data", &out, &[(0, tcp::flags::PSH | tcp::flags::ACK)]).unwrap();
        assert_eq!(out[0].ack, data.ack, "client sequence numbers pass unchanged");
        assert_eq!(out[0].ack, ack.seq);
        assert_eq!((out[0].src, out[0].src_port, out[0].dst_port), (VIP, VIP_PORT, ack.src_port));
        assert_eq!(out[0].payload, SPLICED_DATA);
        assert_ne!(out[0].seq, data.seq, "the server's sequence numbers move into the switch's space");
        assert_ne!(out[0].tsval, data.tsval, "its timestamps onto the switch's clock");
    }
    assert_eq!(d.engine.counters().total_drops(), 0);
}

/// Runs `plan` for `passes` passes after a first one (whose first turns carry the ends of
/// connections that never started), and judges what the measured passes did.
fn run(engine: Engine<Vec<u8>>, plan: Plan, passes: u64, handshakes: Handshakes) -> Outcome {
    let turns = plan.turns() as u64;
    let mut run = Clocked::new(engine, plan, VecPool::default());
    for _ in 0..turns {
        run.turn();
    }
    let before = run.snapshot();
    for _ in 0..passes * turns {
        assert_eq!(run.turn(), crate::port::BURST, "a full burst every turn");
    }
    let o = Outcome::between(&before, &run.snapshot());
    judge("test", &o, handshakes).unwrap();
    o
}

#[test]
fn every_connection_of_the_lifecycle_completes() {
    let plan = lifecycle_plan(96).unwrap();
    assert_eq!((plan.turns(), plan.connections()), (24, 96));
    let services = l7_services(4096, SynCookies::Auto).unwrap();
    let o = run(Engine::with_services(l4::topology(true), services, Default::default()), plan, 3, Handshakes::Stateful);
    let t = &o.tally;
    assert_eq!(t.completed, 3 * 96);
    assert_eq!(t.delivered(Kind::Syn), 3 * 96);
    assert_eq!((t.delivered(Kind::FloodSyn), t.flood_answers), (0, 0));
    assert_eq!(t.sent, 3 * 96 * u64::from(peer::ANSWERS_PER_CONNECTION));
    // Half the connections named their server; the round robin placed the rest.
    assert_eq!(o.l7("syn-acks").unwrap(), 3 * 96);
}

#[test]
fn a_synflood_is_answered_with_cookies_and_its_legitimate_connections_complete() {
    let plan = synflood_plan(48, Handshakes::Cookies).unwrap();
    assert_eq!(plan.turns(), 96);
    let services = flood_services(4096, Handshakes::Cookies).unwrap();
    let o = run(Engine::with_services(l4::topology(true), services, Default::default()), plan, 2, Handshakes::Cookies);
    let t = &o.tally;
    assert_eq!(t.completed, 2 * 48);
    // One legitimate SYN among 57 (8 frames of one connection and 56 spoofed SYNs every
    // other turn).
    assert_eq!(t.delivered(Kind::FloodSyn), 2 * 48 * 56);
    assert_eq!(t.flood_answers, t.delivered(Kind::FloodSyn));
    assert_eq!(o.l7("syn-cookies-sent").unwrap(), 2 * 48 * 57);
    assert_eq!(o.l7("syn-cookies-accepted").unwrap(), 2 * 48);
    assert!(o.l7("no-such-counter").is_err());
}

/// The same flood against the L4 port with SYN cookies always on: every SYN is answered with
/// a cookie, every legitimate connection is proxied through it (the ACK proves the cookie,
/// the switch connects to the round robin's server) and completes, no head is read.
#[test]
fn a_synflood_on_an_l4_port_is_answered_with_cookies_and_its_legitimate_connections_complete() {
    let plan = synflood_plan(48, Handshakes::Proxied).unwrap();
    let services = flood_services(4096, Handshakes::Proxied).unwrap();
    assert!(services.services[0].l7.is_none());
    let o = run(Engine::with_services(l4::topology(true), services, Default::default()), plan, 2, Handshakes::Proxied);
    let t = &o.tally;
    assert_eq!(t.completed, 2 * 48);
    assert_eq!(t.delivered(Kind::FloodSyn), 2 * 48 * 56);
    assert_eq!(t.flood_answers, t.delivered(Kind::FloodSyn));
    assert_eq!(o.l7("syn-cookies-sent").unwrap(), 2 * 48 * 57);
    assert_eq!(o.l7("syn-proxied").unwrap(), 2 * 48);
    assert_eq!(o.l7("heads").unwrap(), 0);
}

/// A connection whose frames the switch did not all send is not counted complete: the
/// judge refuses the figures.
#[test]
fn a_lost_frame_is_caught() {
    let plan = lifecycle_plan(96).unwrap();
    let services = l7_services(4096, SynCookies::Auto).unwrap();
    let mut run =
        Clocked::new(Engine::with_services(l4::topology(true), services, Default::default()), plan, VecPool::default());
    for _ in 0..24 {
        run.turn();
    }
    let before = run.snapshot();
    // rs2 goes down: connections bound to it are reset by the switch, the others go on.
    run.worker.engine_mut().l4_mut().set_server_state(1, crate::engine::predictor::ServerState::Down);
    for _ in 0..48 {
        run.turn();
    }
    let o = Outcome::between(&before, &run.snapshot());
    let verdict = judge("test", &o, Handshakes::Stateful);
    assert!(verdict.is_err(), "{:?}", o.tally);
}
