use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;

use super::tcp_flags::{ACK, FIN, RST, SYN};
use super::*;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 100);
const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

fn secs(s: u64) -> Instant {
    Instant::from_nanos(s * 1_000_000_000)
}

/// Client 10.0.x.y:port -> VIP:80; server 198.18.1.10:80 -> LOCAL:local_port.
fn keys(i: u32, proto: u8) -> (FlowKey, FlowKey) {
    let client = FlowKey::new(Ipv4Addr::from(0x0a00_0000 + (i >> 8)), 1024 + (i & 0xff) as u16, VIP, 80, proto);
    let server = FlowKey::new(Ipv4Addr::new(198, 18, 1, 10), 80, LOCAL, (10_000 + i) as u16, proto);
    (client, server)
}

fn tcp(i: u32) -> (FlowKey, FlowKey) {
    keys(i, PROTO_TCP)
}

#[test]
fn insert_then_lookup_from_both_directions() {
    let mut t = FlowTable::with_capacity(100);
    let (c, s) = tcp(7);
    let id = t.insert(c, s, 2, 1, Instant::ZERO).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(&c), Some((id, Direction::FromClient)));
    assert_eq!(t.lookup(&s), Some((id, Direction::FromServer)));
    // Neither the reverse tuples nor another flow's tuples match.
    assert_eq!(t.lookup(&c.reversed()), None);
    assert_eq!(t.lookup(&s.reversed()), None);
    assert_eq!(t.lookup(&tcp(8).0), None);
    assert_eq!(t.lookup(&keys(7, PROTO_UDP).0), None, "the protocol is part of the key");
    let f = t.get(id);
    assert_eq!((f.client_key(), f.server_key(), f.server(), f.service()), (c, s, 2, 1));
    assert_eq!(f.state(), FlowState::SynSent);
    // What a rewrite needs, both ways.
    assert_eq!(
        f.rewrite(Direction::FromClient),
        Rewrite { src: LOCAL, src_port: s.dst_port, dst: s.src, dst_port: 80 }
    );
    assert_eq!(f.rewrite(Direction::FromServer), Rewrite { src: VIP, src_port: 80, dst: c.src, dst_port: c.src_port });
    t.check_invariants();
}

#[test]
fn a_spliced_flow_gets_its_server_key_at_bind_and_can_change_it() {
    let mut t = FlowTable::with_capacity(8);
    let (c, s) = tcp(3);
    let id = t.insert_spliced(c, 4, Instant::ZERO).unwrap();
    let f = t.get(id);
    assert!(f.is_spliced() && !f.has_server());
    assert_eq!((f.state(), f.service()), (FlowState::SynRecv, 4));
    assert_eq!(t.lookup(&c), Some((id, Direction::FromClient)));
    assert_eq!(t.lookup(&s), None);
    t.check_invariants();
    // The client key is taken: a second connection on it is refused.
    assert_eq!(t.insert_spliced(c, 4, Instant::ZERO), Err(InsertError::KeyInUse(id, Direction::FromClient)));

    t.attach_server(id, s, 2).unwrap();
    assert!(t.get(id).has_server());
    assert_eq!((t.get(id).server(), t.get(id).server_key()), (2, s));
    assert_eq!(t.lookup(&s), Some((id, Direction::FromServer)));
    t.check_invariants();

    // The server refused: another one is tried on another local port.
    t.detach_server(id);
    assert!(!t.get(id).has_server());
    assert_eq!(t.lookup(&s), None);
    t.check_invariants();
    let (_, s2) = tcp(4);
    t.attach_server(id, s2, 1).unwrap();
    assert_eq!(t.lookup(&s2), Some((id, Direction::FromServer)));
    // A server key that another flow holds is refused and changes nothing.
    let (c3, s3) = tcp(5);
    let other = t.insert(c3, s3, 0, 0, Instant::ZERO).unwrap();
    t.detach_server(id);
    assert_eq!(t.attach_server(id, s3, 1), Err(InsertError::KeyInUse(other, Direction::FromServer)));
    assert!(!t.get(id).has_server());
    t.check_invariants();

    assert!(t.remove(id));
    assert_eq!((t.lookup(&c), t.len()), (None, 1));
    t.check_invariants();
}

#[test]
fn gateway_nat_rewrite_keeps_the_client_address() {
    let mut t = FlowTable::with_capacity(4);
    let c = FlowKey::new(Ipv4Addr::new(198, 18, 0, 2), 40000, VIP, 80, PROTO_TCP);
    let s = FlowKey::new(Ipv4Addr::new(198, 18, 1, 11), 8080, c.src, c.src_port, PROTO_TCP);
    let id = t.insert(c, s, 1, 2, Instant::ZERO).unwrap();
    let r = t.get(id).rewrite(Direction::FromClient);
    assert_eq!((r.src, r.src_port, r.dst, r.dst_port), (c.src, c.src_port, s.src, 8080));
}

#[test]
fn lookup_burst_agrees_with_lookup() {
    let mut t = FlowTable::with_capacity(1000);
    for i in 0..1000 {
        let (c, s) = tcp(i);
        t.insert(c, s, 0, 0, Instant::ZERO).unwrap();
    }
    for i in (0..1000).step_by(3) {
        t.remove(t.lookup(&tcp(i).0).unwrap().0);
    }
    let probe: Vec<FlowKey> = (0..1500).flat_map(|i| [tcp(i).0, tcp(i).1]).collect();
    let mut out = vec![None; probe.len()];
    t.lookup_burst(&probe, &mut out);
    let mut hits = 0;
    for (k, o) in probe.iter().zip(&out) {
        assert_eq!(*o, t.lookup(k), "{k:?}");
        hits += usize::from(o.is_some());
    }
    assert_eq!(hits, 2 * t.len());
}

#[test]
fn remove_makes_both_keys_miss() {
    let mut t = FlowTable::with_capacity(10);
    let (c, s) = tcp(1);
    let (c2, s2) = tcp(2);
    let id = t.insert(c, s, 0, 0, Instant::ZERO).unwrap();
    let id2 = t.insert(c2, s2, 0, 0, Instant::ZERO).unwrap();
    assert!(t.remove(id));
    assert!(!t.remove(id), "removing twice");
    assert_eq!(t.lookup(&c), None);
    assert_eq!(t.lookup(&s), None);
    assert_eq!(t.lookup(&c2), Some((id2, Direction::FromClient)));
    assert_eq!(t.len(), 1);
    t.check_invariants();
    // The keys can be tracked again.
    t.insert(c, s, 0, 0, Instant::ZERO).unwrap();
    assert_eq!(t.len(), 2);
}

#[test]
fn full_table_refuses_and_keeps_existing_flows() {
    let mut t = FlowTable::with_capacity(64);
    let ids: Vec<FlowId> = (0..64).map(|i| t.insert(tcp(i).0, tcp(i).1, i as u16, 0, Instant::ZERO).unwrap()).collect();
    assert_eq!(t.len(), t.capacity());
    assert_eq!(t.insert(tcp(64).0, tcp(64).1, 0, 0, Instant::ZERO), Err(InsertError::Full));
    assert_eq!(t.lookup(&tcp(64).0), None);
    for (i, id) in ids.iter().enumerate() {
        let (c, s) = tcp(i as u32);
        assert_eq!(t.lookup(&c), Some((*id, Direction::FromClient)));
        assert_eq!(t.lookup(&s), Some((*id, Direction::FromServer)));
        assert_eq!(t.get(*id).server(), i as u16);
    }
    t.check_invariants();
    // One out, one in.
    t.remove(ids[10]);
    assert!(t.insert(tcp(64).0, tcp(64).1, 0, 0, Instant::ZERO).is_ok());
}

#[test]
fn a_key_already_tracked_is_refused() {
    let mut t = FlowTable::with_capacity(10);
    let (c, s) = tcp(1);
    let id = t.insert(c, s, 0, 0, Instant::ZERO).unwrap();
    // Same client tuple, another local port; another client, same local port.
    assert_eq!(t.insert(c, tcp(2).1, 0, 0, Instant::ZERO), Err(InsertError::KeyInUse(id, Direction::FromClient)));
    assert_eq!(t.insert(tcp(2).0, s, 0, 0, Instant::ZERO), Err(InsertError::KeyInUse(id, Direction::FromServer)));
    // A client-side key equal to an existing server-side key.
    assert_eq!(t.insert(s, tcp(3).1, 0, 0, Instant::ZERO), Err(InsertError::KeyInUse(id, Direction::FromServer)));
    assert_eq!(t.len(), 1);
    t.check_invariants();
}

#[test]
fn one_way_flow_is_indexed_once() {
    let mut t = FlowTable::with_capacity(4);
    let (c, _) = tcp(1);
    let id = t.insert(c, c, 0, 3, Instant::ZERO).unwrap();
    assert_eq!(t.lookup(&c), Some((id, Direction::FromClient)));
    t.check_invariants();
    t.remove(id);
    assert_eq!(t.lookup(&c), None);
    t.check_invariants();
}

#[test]
fn displacement_keeps_every_key_at_high_load() {
    // 16 buckets of 8 slots for 60 flows: 120 keys in 128 slots, 94 % full.
    let mut t = FlowTable::with_buckets(60, 16, 42, Timeouts::default());
    let mut placed = Vec::new();
    for i in 0..60 {
        match t.insert(tcp(i).0, tcp(i).1, 0, 0, Instant::ZERO) {
            Ok(id) => placed.push((i, id)),
            Err(e) => assert_eq!(e, InsertError::Full),
        }
        t.check_invariants();
    }
    assert!(placed.len() >= 55, "only {} of 60 flows placed at 94 % load", placed.len());
    assert!(t.displacements() > 0, "the test must exercise displacement");
    for &(i, id) in &placed {
        assert_eq!(t.lookup(&tcp(i).0), Some((id, Direction::FromClient)));
        assert_eq!(t.lookup(&tcp(i).1), Some((id, Direction::FromServer)));
    }
    // Refused inserts left nothing behind; removing everything empties the index.
    for &(_, id) in &placed {
        t.remove(id);
        t.check_invariants();
    }
    assert!(t.buckets.iter().all(|b| b.used == 0 && b.spilled == 0));
}

#[test]
fn bytes_per_flow_within_budget() {
    // Computed from the real sizes: a 64-byte flow, a 64-byte bucket, a 4-byte free slot.
    assert_eq!(std::mem::size_of::<Flow>(), 64);
    assert_eq!(std::mem::align_of::<Flow>(), 64);
    assert_eq!(std::mem::size_of::<Bucket>(), 64);
    assert!(FlowTable::bytes_per_flow() <= 256, "{} bytes per flow", FlowTable::bytes_per_flow());
    // And what tables of any size really hold, both directions' index included.
    for n in [1usize, 2, 3, 100, 1000, 1025, 4097, 65_536, 100_000, 1 << 20] {
        let t = FlowTable::with_capacity(n);
        assert_eq!(t.capacity(), n.max(2));
        let per_flow = (t.memory_bytes() - std::mem::size_of::<FlowTable>()) / t.capacity();
        assert!(per_flow <= FlowTable::bytes_per_flow(), "{n} flows: {per_flow} bytes each");
        if n.is_power_of_two() && n >= 4 {
            assert_eq!(per_flow, 64 + 32 + 4);
        }
    }
}

#[test]
fn tcp_handshake_reaches_established() {
    let to = Timeouts::default();
    let mut t = FlowTable::with_capacity(4);
    let (c, s) = tcp(1);
    let id = t.insert(c, s, 0, 0, secs(0)).unwrap();
    use Direction::{FromClient as C, FromServer as S};
    assert_eq!(t.on_tcp_segment(id, C, SYN, secs(0)), FlowState::SynSent);
    assert_eq!(t.get(id).expires(), secs(0) + to.syn_sent);
    // The client's ACK before any SYN-ACK does not establish anything.
    assert_eq!(t.on_tcp_segment(id, C, ACK, secs(1)), FlowState::SynSent);
    assert_eq!(t.on_tcp_segment(id, S, SYN | ACK, secs(1)), FlowState::SynRecv);
    assert!(t.get(id).seen_from_server());
    assert_eq!(t.get(id).expires(), secs(1) + to.syn_recv);
    // An ACK from the server is not the handshake's last step.
    assert_eq!(t.on_tcp_segment(id, S, ACK, secs(1)), FlowState::SynRecv);
    assert_eq!(t.on_tcp_segment(id, C, ACK, secs(2)), FlowState::Established);
    assert_eq!(t.get(id).expires(), secs(2) + to.established);
    assert!(t.get(id).state().is_active());
    // Data refreshes; a segment with no flag we track changes nothing.
    assert_eq!(t.on_tcp_segment(id, S, ACK | 0x08, secs(100)), FlowState::Established);
    assert_eq!(t.get(id).expires(), secs(100) + to.established);
    assert_eq!(t.on_tcp_segment(id, C, 0, secs(200)), FlowState::Established);
    assert_eq!(t.get(id).expires(), secs(100) + to.established);
    // Expires 900 s after the last segment, not before.
    assert_eq!(t.expire(secs(999), usize::MAX, |_, _| panic!("too early")), 0);
    let mut gone = Vec::new();
    assert_eq!(t.expire(secs(1000), usize::MAX, |id, f| gone.push((id, f.state()))), 1);
    assert_eq!(gone, [(id, FlowState::Established)]);
    assert_eq!(t.lookup(&c), None);
}

fn established(t: &mut FlowTable, i: u32, now: Instant) -> FlowId {
    let (c, s) = tcp(i);
    let id = t.insert(c, s, 0, 0, now).unwrap();
    t.on_tcp_segment(id, Direction::FromClient, SYN, now);
    t.on_tcp_segment(id, Direction::FromServer, SYN | ACK, now);
    assert_eq!(t.on_tcp_segment(id, Direction::FromClient, ACK, now), FlowState::Established);
    id
}

#[test]
fn tcp_fin_both_ways_lingers_then_goes() {
    use Direction::{FromClient as C, FromServer as S};
    let to = Timeouts::default();
    let mut t = FlowTable::with_capacity(4);
    let id = established(&mut t, 1, secs(0));
    assert_eq!(t.on_tcp_segment(id, C, FIN | ACK, secs(10)), FlowState::FinWait);
    assert_eq!(t.get(id).expires(), secs(10) + to.fin_wait);
    // A retransmitted FIN changes nothing; the server's ACK makes it half closed.
    assert_eq!(t.on_tcp_segment(id, C, FIN | ACK, secs(11)), FlowState::FinWait);
    assert_eq!(t.on_tcp_segment(id, S, ACK, secs(11)), FlowState::CloseWait);
    assert_eq!(t.get(id).expires(), secs(11) + to.close_wait);
    // The server still sends, then closes its side.
    assert_eq!(t.on_tcp_segment(id, S, ACK, secs(12)), FlowState::CloseWait);
    assert_eq!(t.on_tcp_segment(id, S, FIN | ACK, secs(13)), FlowState::LastAck);
    assert_eq!(t.get(id).expires(), secs(13) + to.last_ack);
    // The server's own ACKs do not end it; the client's last ACK does.
    assert_eq!(t.on_tcp_segment(id, S, ACK, secs(14)), FlowState::LastAck);
    assert_eq!(t.on_tcp_segment(id, C, ACK, secs(14)), FlowState::TimeWait);
    assert_eq!(t.get(id).expires(), secs(14) + to.time_wait);
    // Lingers: still found (a late segment reaches its server), then swept.
    assert!(t.lookup(&tcp(1).1).is_some());
    assert_eq!(t.expire(Instant::from_nanos((secs(14) + to.time_wait).as_nanos() - 1), 10, |_, _| ()), 0);
    assert_eq!(t.expire(secs(14) + to.time_wait, 10, |_, _| ()), 1);
    assert_eq!((t.lookup(&tcp(1).0), t.lookup(&tcp(1).1)), (None, None));
}

#[test]
fn tcp_simultaneous_close_and_server_first_close() {
    use Direction::{FromClient as C, FromServer as S};
    let mut t = FlowTable::with_capacity(4);
    let id = established(&mut t, 1, secs(0));
    // The server closes first, the client answers with its own FIN at once.
    assert_eq!(t.on_tcp_segment(id, S, FIN | ACK, secs(1)), FlowState::FinWait);
    assert_eq!(t.on_tcp_segment(id, C, FIN | ACK, secs(1)), FlowState::LastAck);
    // The last FIN was the client's: the client's own ACK does not end it, the server's does.
    assert_eq!(t.on_tcp_segment(id, C, ACK, secs(1)), FlowState::LastAck);
    assert_eq!(t.on_tcp_segment(id, S, ACK, secs(1)), FlowState::TimeWait);
    // The client reuses the tuple: a new connection on the same flow.
    assert_eq!(t.on_tcp_segment(id, C, SYN, secs(2)), FlowState::SynSent);
    assert_eq!(t.on_tcp_segment(id, S, SYN | ACK, secs(2)), FlowState::SynRecv);
    assert_eq!(t.on_tcp_segment(id, C, ACK, secs(2)), FlowState::Established);
    assert_eq!(t.on_tcp_segment(id, C, FIN | ACK, secs(3)), FlowState::FinWait, "FIN bits were reset");
}

#[test]
fn tcp_rst_ends_the_flow_soon() {
    let to = Timeouts::default();
    for from in [Direction::FromClient, Direction::FromServer] {
        let mut t = FlowTable::with_capacity(4);
        let id = established(&mut t, 1, secs(0));
        assert_eq!(t.on_tcp_segment(id, from, RST | ACK, secs(5)), FlowState::Close);
        assert_eq!(t.get(id).expires(), secs(5) + to.close);
        assert!(to.close <= Duration::from_secs(10));
        assert_eq!(t.expire(secs(14), 10, |_, _| ()), 0);
        assert_eq!(t.expire(secs(15), 10, |_, _| ()), 1);
        assert!(t.is_empty());
    }
    // A reset before the handshake completes too.
    let mut t = FlowTable::with_capacity(4);
    let id = t.insert(tcp(1).0, tcp(1).1, 0, 0, secs(0)).unwrap();
    assert_eq!(t.on_tcp_segment(id, Direction::FromServer, RST | ACK, secs(0)), FlowState::Close);
}

#[test]
fn unanswered_syn_expires_after_syn_timeout() {
    let to = Timeouts::default();
    let mut t = FlowTable::with_capacity(4);
    let id = t.insert(tcp(1).0, tcp(1).1, 0, 0, secs(0)).unwrap();
    t.on_tcp_segment(id, Direction::FromClient, SYN, secs(0));
    assert_eq!(t.get(id).expires(), secs(0) + to.syn_sent);
    assert_eq!(t.expire(secs(0) + to.syn_sent, 1, |_, _| ()), 1);
}

#[test]
fn udp_flow_ends_when_idle() {
    let to = Timeouts::default();
    assert_eq!(to.udp, Duration::from_secs(300));
    let mut t = FlowTable::with_capacity(4);
    let (c, s) = keys(1, PROTO_UDP);
    let id = t.insert(c, s, 0, 0, secs(0)).unwrap();
    assert_eq!(t.get(id).state(), FlowState::Udp);
    assert_eq!(t.get(id).expires(), secs(300));
    t.on_datagram(id, Direction::FromServer, secs(200));
    assert!(t.get(id).seen_from_server());
    // TCP flags on a UDP flow only refresh it.
    assert_eq!(t.on_tcp_segment(id, Direction::FromClient, RST, secs(250)), FlowState::Udp);
    assert_eq!(t.expire(secs(549), 10, |_, _| ()), 0);
    assert_eq!(t.expire(secs(550), 10, |_, _| ()), 1);
    assert_eq!(t.lookup(&c), None);
}

#[test]
fn expire_is_incremental_and_bounded() {
    let mut t = FlowTable::with_capacity(1000);
    for i in 0..1000 {
        let (c, s) = keys(i, PROTO_UDP);
        t.insert(c, s, 0, 0, secs(0)).unwrap();
    }
    // Nothing expired: a call looks at 4 * max entries and removes nothing.
    assert_eq!(t.expire(secs(1), 8, |_, _| ()), 0);
    assert_eq!(t.cursor, 32);
    // All expired: at most `max` per call, and every flow gets its callback once.
    let mut seen = std::collections::HashSet::new();
    let mut calls = 0;
    while !t.is_empty() {
        let n = t.expire(secs(301), 8, |id, f| {
            assert!(f.is_expired(secs(301)));
            assert!(seen.insert(id));
        });
        assert!(n <= 8);
        calls += 1;
        assert!(calls < 1000);
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(calls, 1000 / 8);
    // max = 0 does nothing.
    t.insert(keys(1, PROTO_UDP).0, keys(1, PROTO_UDP).1, 0, 0, secs(0)).unwrap();
    assert_eq!(t.expire(secs(1000), 0, |_, _| ()), 0);
}

#[test]
fn expire_within_says_what_it_looked_at() {
    let mut t = FlowTable::with_capacity(1000);
    for i in 0..100 {
        let (c, s) = keys(i, PROTO_UDP);
        t.insert(c, s, 0, 0, secs(0)).unwrap();
    }
    let cap = t.capacity();
    // Nothing expired: the whole scan budget is spent.
    assert_eq!(t.expire_within(secs(1), 8, 50, |_, _| ()), Swept { removed: 0, scanned: 50 });
    // Never more than the capacity.
    assert_eq!(t.expire_within(secs(1), 8, 10 * cap, |_, _| ()), Swept { removed: 0, scanned: cap });
    // All expired: stops at `max` removals, having looked at fewer entries than allowed.
    let swept = t.expire_within(secs(301), 8, cap, |_, _| ());
    assert_eq!(swept.removed, 8);
    assert!(swept.scanned < cap, "{swept:?}");
    assert_eq!(t.len(), 92);
}

#[test]
fn no_allocation_after_construction() {
    let mut t = FlowTable::with_capacity(5000);
    let before =
        (t.buckets.len(), t.buckets.as_ptr(), t.flows.len(), t.flows.as_ptr(), t.free.capacity(), t.free.as_ptr());
    let mut rng = 1u64;
    let mut now = secs(0);
    let mut out = [None; BURST];
    for op in 0..100_000u32 {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = (rng >> 33) as u32 % 8000;
        let (c, s) = tcp(i);
        match op % 5 {
            0 | 1 => {
                let _ = t.insert(c, s, 0, 0, now);
            }
            2 => {
                if let Some((id, dir)) = t.lookup(&s) {
                    t.on_tcp_segment(id, dir, (rng >> 20) as u8, now);
                }
            }
            3 => {
                if let Some((id, _)) = t.lookup(&c) {
                    t.remove(id);
                }
                let burst: [FlowKey; BURST] = std::array::from_fn(|k| tcp(i + k as u32).1);
                t.lookup_burst(&burst, &mut out);
            }
            _ => {
                now = now + Duration::from_secs(1);
                t.expire(now, 16, |_, _| ());
            }
        }
    }
    assert!(!t.is_empty());
    let after =
        (t.buckets.len(), t.buckets.as_ptr(), t.flows.len(), t.flows.as_ptr(), t.free.capacity(), t.free.as_ptr());
    assert_eq!(before, after);
    t.check_invariants();
}

#[test]
fn hash_spreads_sequential_keys() {
    // 2^16 keys differing in a few low bits, into 4096 buckets: about 16 each.
    let mut counts = vec![0u32; 4096];
    let mut sigs = std::collections::HashSet::new();
    for i in 0..65_536u32 {
        let h = tcp(i).0.hash(FlowTable::with_capacity(2).seed());
        counts[h as usize & 4095] += 1;
        sigs.insert(sig_of(h));
    }
    let max = *counts.iter().max().unwrap();
    let min = *counts.iter().min().unwrap();
    assert!(max <= 40 && min >= 2, "bucket loads from {min} to {max}");
    assert!(sigs.len() > 30_000, "{} distinct signatures", sigs.len());
    // The seed matters.
    assert_ne!(tcp(1).0.hash(1), tcp(1).0.hash(2));
}

#[test]
fn bench_lookups_runs() {
    let (ns, mlps) = bench_lookups(1000, 10_000, 7);
    assert!(ns > 0.0 && mlps > 0.0 && (ns * mlps - 1e3).abs() < 1e-6);
    for mode in [LookupMode::PrefetchThenLookup, LookupMode::Plain] {
        assert!(bench_lookups_with(100, 1000, 7, mode).0 > 0.0);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert { flow: u8 },
    Lookup { flow: u8, from_server: bool },
    Remove { flow: u8 },
    Segment { flow: u8, from_server: bool, flags: u8 },
    Advance { secs: u16 },
    Expire { max: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(|flow| Op::Insert { flow }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(flow, from_server)| Op::Lookup { flow, from_server }),
        1 => any::<u8>().prop_map(|flow| Op::Remove { flow }),
        2 => (any::<u8>(), any::<bool>(), prop::sample::select(vec![SYN, SYN | ACK, ACK, FIN | ACK, RST, 0x18]))
            .prop_map(|(flow, from_server, flags)| Op::Segment { flow, from_server, flags }),
        1 => (0u16..400).prop_map(|secs| Op::Advance { secs }),
        1 => any::<u8>().prop_map(|max| Op::Expire { max }),
    ]
}

/// The model: flow number -> (id, state, expiry), from the timeouts alone.
struct Model {
    flows: HashMap<u8, (FlowId, FlowState, Instant)>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random insert / lookup / remove / segments / time / expiry: the table and a plain
    /// HashMap agree on which flows exist, on their states and expiry times, and every
    /// flow is found from both sides.
    #[test]
    fn table_agrees_with_a_model_under_churn(ops in prop::collection::vec(op(), 1..300), cap in 2usize..80) {
        let to = Timeouts::default();
        let mut t = FlowTable::new(cap, 99, to);
        let mut m = Model { flows: HashMap::new() };
        let mut now = secs(1);
        let key = |flow: u8, udp: bool| keys(u32::from(flow), if udp { PROTO_UDP } else { PROTO_TCP });
        // Flow numbers keep their protocol for a whole case, so keys never clash across protocols.
        let is_udp = |flow: u8| flow.is_multiple_of(3);
        for op in ops {
            match op {
                Op::Insert { flow } => {
                    let udp = is_udp(flow);
                    let (c, s) = key(flow, udp);
                    let r = t.insert(c, s, u16::from(flow), 0, now);
                    match m.flows.get(&flow) {
                        Some(&(id, _, _)) => prop_assert_eq!(r, Err(InsertError::KeyInUse(id, Direction::FromClient))),
                        None if m.flows.len() == cap => prop_assert_eq!(r, Err(InsertError::Full)),
                        None => {
                            let id = r.expect("room for the flow");
                            let state = if udp { FlowState::Udp } else { FlowState::SynSent };
                            m.flows.insert(flow, (id, state, now + to.of(state)));
                        }
                    }
                }
                Op::Lookup { flow, from_server } => {
                    let (c, s) = key(flow, is_udp(flow));
                    let found = t.lookup(if from_server { &s } else { &c });
                    let dir = if from_server { Direction::FromServer } else { Direction::FromClient };
                    prop_assert_eq!(found, m.flows.get(&flow).map(|&(id, _, _)| (id, dir)));
                }
                Op::Remove { flow } => {
                    let removed = m.flows.remove(&flow);
                    if let Some((id, _, _)) = removed {
                        prop_assert!(t.remove(id));
                    }
                }
                Op::Segment { flow, from_server, flags } => {
                    if let Some(entry) = m.flows.get_mut(&flow) {
                        let dir = if from_server { Direction::FromServer } else { Direction::FromClient };
                        let state = t.on_tcp_segment(entry.0, dir, flags, now);
                        if entry.1 == FlowState::Udp {
                            prop_assert_eq!(state, FlowState::Udp);
                            entry.2 = now + to.udp;
                        } else if flags & RST != 0 {
                            prop_assert_eq!(state, FlowState::Close);
                        }
                        if flags != 0 || entry.1 == FlowState::Udp {
                            entry.1 = state;
                            entry.2 = now + to.of(state);
                        }
                    }
                }
                Op::Advance { secs } => now = now + Duration::from_secs(u64::from(secs)),
                Op::Expire { max } => {
                    let mut gone = Vec::new();
                    let n = t.expire(now, usize::from(max), |id, f| gone.push((id, f.server())));
                    prop_assert_eq!(n, gone.len());
                    prop_assert!(n <= usize::from(max));
                    for (id, server) in gone {
                        let flow = server as u8;
                        let (mid, _, expires) = m.flows.remove(&flow).expect("expired flow was tracked");
                        prop_assert_eq!(mid, id);
                        prop_assert!(expires <= now, "flow removed before its time");
                    }
                }
            }
            prop_assert_eq!(t.len(), m.flows.len());
            for (&flow, &(id, state, expires)) in &m.flows {
                let (c, s) = key(flow, is_udp(flow));
                prop_assert_eq!(t.lookup(&c), Some((id, Direction::FromClient)));
                prop_assert_eq!(t.lookup(&s), Some((id, Direction::FromServer)));
                prop_assert_eq!(t.get(id).state(), state);
                prop_assert_eq!(t.get(id).expires(), expires);
            }
        }
        t.check_invariants();
        // A full sweep removes exactly the flows the model says have expired.
        let mut gone = std::collections::HashSet::new();
        t.expire(now, usize::MAX, |_, f| { gone.insert(f.server() as u8); });
        let expected: std::collections::HashSet<u8> =
            m.flows.iter().filter(|(_, &(_, _, e))| e <= now).map(|(&f, _)| f).collect();
        prop_assert_eq!(gone, expected);
        t.check_invariants();
    }
}

#[test]
fn signature_match_is_exact() {
    let mut b = Bucket::EMPTY;
    let sigs = [0u16, 1, 0x8000, 0xffff, 0x7fff, 1, 0x0100, 0xfffe];
    for (i, &s) in sigs.iter().enumerate() {
        b.set_sig(i, s);
        b.used |= 1 << i;
    }
    for probe in [0u16, 1, 2, 0x8000, 0x8001, 0xffff, 0x7fff, 0x0100, 0xfffe, 0x00ff] {
        let expected: u32 = sigs.iter().enumerate().filter(|(_, &s)| s == probe).map(|(i, _)| 1 << i).sum();
        assert_eq!(b.matching(probe), expected, "{probe:#x}");
    }
    b.used &= !(1 << 1);
    assert_eq!(b.matching(1), 1 << 5, "unused slots never match");
}

/// RFC 5961: a RST is believed only with a sequence number within the receiver's window of
/// where its sender has sent to; in SYN_SENT only the server's refusal that acknowledges
/// the SYN. Blind resets with other numbers leave the connection as it was.
#[test]
fn resets_outside_the_window_are_not_believed() {
    let mut t = FlowTable::with_capacity(4);
    let (c, s) = tcp(1);
    let id = t.insert(c, s, 0, 0, secs(0)).unwrap();
    let seg = |seq: u32, ack: u32, len: u32, window: u16| Segment { seq, ack, len, window, window_scale: None };
    let syn = Segment { window_scale: Some(7), ..seg(1000, 0, 0, 64240) };
    t.on_frame(id, Direction::FromClient, SYN, &syn, secs(0)).unwrap();
    assert_eq!(t.get(id).seq_end(Direction::FromClient), Some(1001));
    // A refusal that does not acknowledge the SYN is not the server's.
    assert!(t.on_frame(id, Direction::FromServer, RST | ACK, &seg(0, 77, 0, 0), secs(0)).is_err());
    assert_eq!(t.get(id).state(), FlowState::SynSent);
    let syn_ack = Segment { window_scale: Some(2), ..seg(500_000, 1001, 0, 65160) };
    t.on_frame(id, Direction::FromServer, SYN | ACK, &syn_ack, secs(0)).unwrap();
    t.on_frame(id, Direction::FromClient, ACK, &seg(1001, 500_001, 100, 500), secs(0)).unwrap();
    assert_eq!(t.get(id).state(), FlowState::Established);
    // The client's window is 500 << 7 = 64000 bytes (the check never uses less than 64 KiB).
    for wrong in [500_001 + 70_000, 500_001 - 70_000, 0, 0x8000_0000] {
        assert!(t.on_frame(id, Direction::FromServer, RST, &seg(wrong, 0, 0, 0), secs(1)).is_err(), "{wrong}");
    }
    // Its window field grows to 1000: 128 000 bytes, by the scale its SYN announced.
    t.on_frame(id, Direction::FromClient, ACK, &seg(1101, 500_001, 0, 1000), secs(0)).unwrap();
    let beyond_64k = 500_001 + 100_000;
    assert!(t.on_frame(id, Direction::FromServer, RST, &seg(500_001 + 130_000, 0, 0, 0), secs(1)).is_err());
    for wrong in [1101 + 70_000, 1101u32.wrapping_sub(70_000)] {
        assert!(t.on_frame(id, Direction::FromClient, RST, &seg(wrong, 0, 0, 0), secs(1)).is_err(), "{wrong}");
    }
    assert_eq!(t.get(id).state(), FlowState::Established, "blind resets change nothing");
    // One in the window ends it: past 64 KiB, within the scaled window.
    let seen = t.on_frame(id, Direction::FromServer, RST, &seg(beyond_64k, 0, 0, 0), secs(1)).unwrap();
    assert_eq!((seen.flow.state(), seen.opened), (FlowState::Close, Some(false)));
}

#[test]
fn the_server_refusing_the_syn_closes_the_flow() {
    let mut t = FlowTable::with_capacity(4);
    let (c, s) = tcp(2);
    let id = t.insert(c, s, 0, 0, secs(0)).unwrap();
    let syn = Segment { seq: 7, ack: 0, len: 0, window: 64240, window_scale: None };
    t.on_frame(id, Direction::FromClient, SYN, &syn, secs(0)).unwrap();
    let refusal = Segment { seq: 0, ack: 8, len: 0, window: 0, window_scale: None };
    let seen = t.on_frame(id, Direction::FromServer, RST | ACK, &refusal, secs(0)).unwrap();
    assert_eq!(seen.flow.state(), FlowState::Close);
}

/// A SYN flood fills a table with half-open flows: each new flow evicts one, never an
/// established one, and under pressure half-open flows expire after a few seconds.
#[test]
fn half_open_flows_make_way_and_expire_early_under_pressure() {
    let mut t = FlowTable::with_capacity(8);
    let established: Vec<FlowId> = (0..3)
        .map(|i| {
            let (c, s) = tcp(i);
            let id = t.insert(c, s, 0, 0, secs(0)).unwrap();
            t.on_tcp_segment(id, Direction::FromServer, SYN | ACK, secs(0));
            t.on_tcp_segment(id, Direction::FromClient, ACK, secs(0));
            id
        })
        .collect();
    for i in 3..8 {
        let (c, s) = tcp(i);
        t.insert(c, s, 0, 0, secs(0)).unwrap();
    }
    assert_eq!((t.len(), t.half_open()), (8, 5));
    t.check_invariants();
    for round in 0..20 {
        let (gone, flow) = t.evict_half_open(64).expect("a half-open flow to evict");
        assert!(!established.contains(&gone), "round {round}: an established flow was evicted");
        assert_eq!(flow.state(), FlowState::SynSent);
        let (c, s) = tcp(100 + round);
        t.insert(c, s, 0, 0, secs(0)).unwrap();
        t.check_invariants();
    }
    // Under pressure the half-open ones go after 3 s; the established ones stay.
    assert_eq!(t.expire(secs(2), 100, |_, _| ()), 0);
    t.set_pressure(true);
    assert_eq!(t.expire(secs(2), 100, |_, _| ()), 0);
    assert_eq!(t.expire(secs(3), 100, |_, _| ()), 5);
    assert_eq!((t.len(), t.half_open()), (3, 0));
    assert!(established.iter().all(|&id| t.contains(id)));
    t.check_invariants();
}
