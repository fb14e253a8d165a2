use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const AGE: Duration = Duration::from_secs(300);
const SVC: u16 = 0;

fn secs(s: u64) -> Instant {
    Instant::from_nanos(s * 1_000_000_000)
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

#[test]
fn mask_keeps_the_prefix() {
    let c = ip(10, 1, 2, 3);
    assert_eq!(mask(c, 32), 0x0a01_0203);
    assert_eq!(mask(c, 40), 0x0a01_0203);
    assert_eq!(mask(c, 24), 0x0a01_0200);
    assert_eq!(mask(c, 16), 0x0a01_0000);
    assert_eq!(mask(c, 1), 0);
    assert_eq!(mask(ip(200, 0, 0, 1), 1), 0x8000_0000);
    assert_eq!(mask(c, 0), 0);
}

#[test]
fn same_server_for_same_client_slash_32() {
    let mut t = StickyTable::with_capacity(16);
    let c = ip(198, 18, 0, 7);
    assert_eq!(t.lookup(SVC, c, 32, secs(0)), None);
    t.bind(SVC, c, 32, 2, secs(0), AGE).unwrap();
    assert_eq!(t.lookup(SVC, c, 32, secs(1)), Some(2));
    assert_eq!(t.lookup(SVC, ip(198, 18, 0, 8), 32, secs(1)), None, "another /32 is not bound");
    assert_eq!(t.lookup(SVC + 1, c, 32, secs(1)), None, "another service is not bound");
    assert_eq!(t.len(), 1);
    assert_eq!(t.counters().bindings_created, 1);
}

#[test]
fn two_clients_in_one_slash_24_share_a_server() {
    let mut t = StickyTable::with_capacity(16);
    t.bind(SVC, ip(198, 18, 0, 7), 24, 1, secs(0), AGE).unwrap();
    assert_eq!(t.lookup(SVC, ip(198, 18, 0, 200), 24, secs(1)), Some(1));
    assert_eq!(t.lookup(SVC, ip(198, 18, 0, 7), 24, secs(1)), Some(1));
    // A flow from one client and the end of a flow from the other count on the same binding.
    assert!(t.flow_started(SVC, ip(198, 18, 0, 9), 24));
    assert_eq!(t.entry(SVC, ip(198, 18, 0, 1), 24).unwrap().active, 1);
    assert!(t.flow_ended(SVC, ip(198, 18, 0, 10), 24, secs(2), AGE));
    assert_eq!(t.entry(SVC, ip(198, 18, 0, 1), 24).unwrap().active, 0);
    assert_eq!(t.len(), 1);
}

#[test]
fn different_slash_24s_are_independent() {
    let mut t = StickyTable::with_capacity(16);
    t.bind(SVC, ip(198, 18, 0, 7), 24, 1, secs(0), AGE).unwrap();
    assert_eq!(t.lookup(SVC, ip(198, 18, 1, 7), 24, secs(0)), None);
    t.bind(SVC, ip(198, 18, 1, 7), 24, 2, secs(0), AGE).unwrap();
    assert_eq!(t.lookup(SVC, ip(198, 18, 0, 99), 24, secs(0)), Some(1));
    assert_eq!(t.lookup(SVC, ip(198, 18, 1, 99), 24, secs(0)), Some(2));
    assert!(t.flow_started(SVC, ip(198, 18, 0, 1), 24));
    assert_eq!(t.entry(SVC, ip(198, 18, 1, 1), 24).unwrap().active, 0);
    assert_eq!(t.remove_server(1), 1);
    assert_eq!(t.lookup(SVC, ip(198, 18, 1, 99), 24, secs(0)), Some(2));
    assert_eq!(t.len(), 2 - 1);
}

#[test]
fn lives_while_flows_are_active_even_past_sticky_age() {
    let mut t = StickyTable::with_capacity(16);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(0), AGE).unwrap();
    assert!(t.flow_started(SVC, c, 32));
    assert!(t.flow_started(SVC, c, 32));
    // Long past the age of the bind: the flows hold it, and a sweep leaves it.
    assert_eq!(t.lookup(SVC, c, 32, secs(10_000)), Some(3));
    assert_eq!(t.expire(secs(10_000), usize::MAX), 0);
    assert!(t.flow_ended(SVC, c, 32, secs(10_000), AGE));
    assert_eq!(t.lookup(SVC, c, 32, secs(20_000)), Some(3), "one flow still open");
    assert_eq!(t.expire(secs(20_000), usize::MAX), 0);
    assert!(t.flow_ended(SVC, c, 32, secs(20_000), AGE));
    assert!(!t.flow_ended(SVC, c, 32, secs(20_000), AGE), "no flow left to end");
    assert_eq!(t.lookup(SVC, c, 32, secs(20_299)), Some(3));
}

#[test]
fn expires_exactly_sticky_age_after_the_last_flow_ends() {
    let mut t = StickyTable::with_capacity(16);
    let c = ip(10, 0, 0, 1);
    let age = Duration::from_secs(60);
    t.bind(SVC, c, 32, 3, secs(0), age).unwrap();
    assert!(t.flow_started(SVC, c, 32));
    assert!(t.flow_ended(SVC, c, 32, secs(100), age));
    let deadline = secs(160);
    let just_before = Instant::from_nanos(deadline.as_nanos() - 1);
    assert_eq!(t.lookup(SVC, c, 32, just_before), Some(3));
    assert_eq!(t.expire(just_before, usize::MAX), 0, "not before");
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(SVC, c, 32, deadline), None);
    assert_eq!(t.expire(deadline, usize::MAX), 1);
    assert_eq!(t.len(), 0);
    assert_eq!(t.counters().expired, 1);
}

#[test]
fn binding_without_flows_ages_from_the_bind() {
    let mut t = StickyTable::with_capacity(16);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(5), AGE).unwrap();
    assert_eq!(t.lookup(SVC, c, 32, secs(304)), Some(3));
    assert_eq!(t.lookup(SVC, c, 32, secs(305)), None);
}

#[test]
fn a_new_flow_refreshes_the_binding() {
    let mut t = StickyTable::with_capacity(16);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(0), AGE).unwrap();
    assert!(t.flow_started(SVC, c, 32));
    assert!(t.flow_ended(SVC, c, 32, secs(10), AGE)); // would expire at 310
                                                      // A new flow at 300 finds the same server and holds the binding again.
    assert_eq!(t.lookup(SVC, c, 32, secs(300)), Some(3));
    assert!(t.flow_started(SVC, c, 32));
    assert_eq!(t.lookup(SVC, c, 32, secs(400)), Some(3));
    assert!(t.flow_ended(SVC, c, 32, secs(400), AGE)); // now expires at 700
    assert_eq!(t.expire(secs(699), usize::MAX), 0);
    assert_eq!(t.lookup(SVC, c, 32, secs(699)), Some(3));
    assert_eq!(t.lookup(SVC, c, 32, secs(700)), None);
    assert_eq!(t.counters().bindings_created, 1);
}

#[test]
fn bind_over_an_expired_binding_makes_a_new_one() {
    let mut t = StickyTable::with_capacity(1);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(0), AGE).unwrap();
    assert_eq!(t.lookup(SVC, c, 32, secs(300)), None);
    // Not swept yet, and the table is full: the slot is reused all the same.
    t.bind(SVC, c, 32, 1, secs(300), AGE).unwrap();
    assert_eq!(t.lookup(SVC, c, 32, secs(301)), Some(1));
    assert_eq!(t.counters().bindings_created, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn bind_and_apply_keep_the_count_of_active_flows() {
    let mut t = StickyTable::with_capacity(4);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(0), AGE).unwrap();
    assert!(t.flow_started(SVC, c, 32));
    t.bind(SVC, c, 32, 2, secs(1), AGE).unwrap();
    t.apply(StickyUpdate { service: SVC, key: client_key(c, 32), server: 1 }, secs(2), AGE).unwrap();
    let e = t.entry(SVC, c, 32).unwrap();
    assert_eq!((e.server, e.active), (1, 1));
    assert_eq!(t.lookup(SVC, c, 32, secs(5_000)), Some(1));
    assert_eq!(t.counters().bindings_created, 1, "overwriting a live binding creates nothing");
    assert_eq!(t.counters().updates_applied, 1);
}

#[test]
fn age_zero_binding_lives_only_with_its_flows() {
    let mut t = StickyTable::with_capacity(4);
    let c = ip(10, 0, 0, 1);
    t.bind(SVC, c, 32, 3, secs(1), Duration::ZERO).unwrap();
    assert!(t.flow_started(SVC, c, 32), "bind then flow_started at the same instant works for age 0");
    assert_eq!(t.lookup(SVC, c, 32, secs(9)), Some(3));
    assert!(t.flow_ended(SVC, c, 32, secs(10), Duration::ZERO));
    assert_eq!(t.lookup(SVC, c, 32, secs(10)), None);
}

#[test]
fn flow_calls_without_a_binding_do_nothing() {
    let mut t = StickyTable::with_capacity(4);
    assert!(!t.flow_started(SVC, ip(10, 0, 0, 1), 32));
    assert!(!t.flow_ended(SVC, ip(10, 0, 0, 1), 32, secs(1), AGE));
    assert!(t.is_empty());
}

#[test]
fn remove_server_drops_only_that_servers_bindings() {
    let mut t = StickyTable::with_capacity(1000);
    for i in 0..900u32 {
        let c = Ipv4Addr::from(0x0a00_0000 + i);
        t.bind((i % 3) as u16, c, 32, (i % 4) as u16, secs(0), AGE).unwrap();
        if i % 2 == 0 {
            assert!(t.flow_started((i % 3) as u16, c, 32));
        }
    }
    assert_eq!(t.remove_server(2), 225);
    assert_eq!(t.len(), 675);
    for i in 0..900u32 {
        let c = Ipv4Addr::from(0x0a00_0000 + i);
        let got = t.lookup((i % 3) as u16, c, 32, secs(1));
        let want = (i % 4 != 2).then_some((i % 4) as u16);
        assert_eq!(got, want, "client {i}");
    }
    assert!(t.iter().all(|e| e.server != 2));
    assert_eq!(t.remove_server(2), 0);
}

#[test]
fn expire_is_bounded_per_call_and_eventually_removes_everything_expired() {
    let mut t = StickyTable::with_capacity(1000);
    for i in 0..1000u32 {
        let c = Ipv4Addr::from(0x0a00_0000 + i * 7);
        t.bind(1, c, 32, 1, secs(0), AGE).unwrap();
        if i % 10 == 0 {
            assert!(t.flow_started(1, c, 32)); // 100 held by a flow
        }
    }
    let now = secs(10_000);
    let mut calls = 0;
    let mut total = 0;
    loop {
        let n = t.expire(now, 5);
        assert!(n <= 5, "removed {n} in one call");
        total += n;
        calls += 1;
        if t.len() == 100 {
            break;
        }
        assert!(calls < 10_000, "the sweep never finishes");
    }
    assert_eq!(total, 900);
    assert_eq!(t.counters().expired, 900);
    assert!(t.iter().all(|e| e.active == 1));
    // A sweep over a table with nothing expired looks at a bounded number of slots.
    let slots = t.slots.len();
    let before = t.cursor;
    assert_eq!(t.expire(now, 1), 0);
    assert_eq!((t.cursor + slots - before) % slots, SCAN_PER_EXPIRY, "one call passes 8 * max slots");
    let before = t.cursor;
    assert_eq!(t.expire(now, 3), 0);
    assert_eq!((t.cursor + slots - before) % slots, 3 * SCAN_PER_EXPIRY);
    assert_eq!(t.expire(now, usize::MAX), 0);
    assert_eq!(t.expire(now, 0), 0);
}

#[test]
fn expire_with_max_at_least_capacity_sweeps_everything() {
    let mut t = StickyTable::with_capacity(500);
    for i in 0..500u32 {
        t.bind(0, Ipv4Addr::from(i << 8), 24, 0, secs(0), AGE).unwrap();
    }
    assert_eq!(t.expire(secs(300), 2 * 500), 500);
    assert!(t.is_empty());
}

#[test]
fn full_table_refuses_and_keeps_existing_entries() {
    let mut t = StickyTable::with_capacity(8);
    for i in 0..8u32 {
        t.bind(SVC, Ipv4Addr::from(i), 32, i as u16, secs(0), AGE).unwrap();
    }
    assert_eq!(t.len(), 8);
    assert_eq!(t.bind(SVC, Ipv4Addr::from(100), 32, 1, secs(1), AGE), Err(StickyFull));
    assert_eq!(t.apply(StickyUpdate { service: SVC, key: 101, server: 1 }, secs(1), AGE), Err(StickyFull));
    assert_eq!(t.counters().bindings_refused_full, 2);
    assert_eq!(t.len(), 8);
    assert_eq!(t.lookup(SVC, Ipv4Addr::from(100), 32, secs(1)), None);
    for i in 0..8u32 {
        assert_eq!(t.lookup(SVC, Ipv4Addr::from(i), 32, secs(1)), Some(i as u16));
    }
    // Rebinding an existing key still works when full.
    t.bind(SVC, Ipv4Addr::from(3), 32, 9, secs(1), AGE).unwrap();
    assert_eq!(t.lookup(SVC, Ipv4Addr::from(3), 32, secs(1)), Some(9));
    // Once expired bindings are swept there is room again.
    assert_eq!(t.expire(secs(300), usize::MAX), 7);
    t.bind(SVC, Ipv4Addr::from(100), 32, 1, secs(300), AGE).unwrap();
}

#[test]
fn zero_capacity_refuses_everything() {
    let mut t = StickyTable::with_capacity(0);
    assert_eq!(t.bind(SVC, ip(1, 2, 3, 4), 32, 1, secs(0), AGE), Err(StickyFull));
    assert_eq!(t.lookup(SVC, ip(1, 2, 3, 4), 32, secs(0)), None);
    assert_eq!(t.expire(secs(0), 10), 0);
}

#[test]
fn no_allocation_after_construction() {
    let mut t = StickyTable::new(256, 0x5eed);
    let (ptr, len) = (t.slots.as_ptr(), t.slots.len());
    let mem = t.memory_bytes();
    let mut now = 0;
    for round in 0..50u32 {
        for i in 0..400u32 {
            let c = Ipv4Addr::from(round.wrapping_mul(7919).wrapping_add(i * 13));
            now += 1_000_000;
            let now = Instant::from_nanos(now);
            if t.lookup(1, c, 32, now).is_none() {
                let _ = t.bind(1, c, 32, (i % 5) as u16, now, Duration::from_millis(50));
            }
            t.flow_started(1, c, 32);
            if i % 3 != 0 {
                t.flow_ended(1, c, 32, now, Duration::from_millis(50));
            }
            let _ = t.apply(StickyUpdate { service: 2, key: u64::from(i), server: 1 }, now, Duration::from_millis(10));
            t.expire(now, 4);
        }
        t.remove_server((round % 5) as u16);
        assert!(t.len() <= t.capacity());
    }
    assert_eq!(t.slots.as_ptr(), ptr);
    assert_eq!(t.slots.len(), len);
    assert_eq!(t.memory_bytes(), mem);
    assert_eq!(t.capacity(), 256);
    assert!(t.counters().bindings_refused_full > 0, "the churn filled the table");
}

#[test]
fn slot_is_small() {
    // Half a cache line: a 64-bit key (a client prefix or a cookie's hash) and its binding.
    assert_eq!(std::mem::size_of::<Slot>(), 32);
    assert_eq!(StickyTable::with_capacity(1000).memory_bytes(), 2048 * 32);
}

// ---- cross-core ----

#[test]
fn binding_made_on_core_0_is_found_on_core_1_after_a_drain() {
    let mut ports = StickyBus::new(2, 64);
    let (p1, p0) = (ports.pop().unwrap(), ports.pop().unwrap());
    assert_eq!((p0.core(), p1.core()), (0, 1));
    let mut t0 = StickyTable::new(64, 1);
    let mut t1 = StickyTable::new(64, 2);
    let c = ip(198, 18, 0, 33);

    // Core 0 chooses, binds and publishes.
    assert_eq!(t0.lookup(7, c, 24, secs(0)), None);
    t0.bind(7, c, 24, 2, secs(0), AGE).unwrap();
    t0.flow_started(7, c, 24);
    assert_eq!(p0.publish(StickyUpdate { service: 7, key: client_key(c, 24), server: 2 }), 0);
    assert_eq!(p0.drain(10).count(), 0, "a core does not hear itself");

    // Core 1 drains and applies: another client of the /24 now lands on the same server.
    let other = ip(198, 18, 0, 34);
    assert_eq!(t1.lookup(7, other, 24, secs(1)), None);
    for u in p1.drain(32) {
        t1.apply(u, secs(1), AGE).unwrap();
    }
    assert_eq!(t1.lookup(7, other, 24, secs(1)), Some(2));
    assert_eq!(t1.entry(7, other, 24).unwrap().active, 0, "no flows of core 1 yet");
    assert_eq!(t1.counters().updates_applied, 1);
    // Core 1's copy ages from the apply unless a local flow holds it.
    assert_eq!(t1.lookup(7, other, 24, secs(300)), Some(2));
    assert_eq!(t1.lookup(7, other, 24, secs(301)), None);
}

#[test]
fn cores_on_threads_agree() {
    let ports = StickyBus::new(2, 16);
    let mut it = ports.into_iter();
    let (p0, p1) = (it.next().unwrap(), it.next().unwrap());
    let clients: Vec<Ipv4Addr> = (1..=10).map(|d| ip(198, 18, 0, d)).collect();

    // Each port moves to its core's thread, as a worker's would.
    let core0 = {
        let clients = clients.clone();
        std::thread::spawn(move || {
            let mut t0 = StickyTable::new(64, 11);
            for (k, &c) in clients.iter().enumerate() {
                let server = (k % 3) as u16;
                t0.bind(0, c, 32, server, secs(0), AGE).unwrap();
                let missed = p0.publish(StickyUpdate { service: 0, key: client_key(c, 32), server });
                t0.record_dropped(missed);
            }
            t0
        })
    };
    let t0 = core0.join().unwrap();
    assert_eq!(t0.counters().updates_dropped, 0);
    let core1 = std::thread::spawn(move || {
        let mut t1 = StickyTable::new(64, 22);
        for u in p1.drain(usize::MAX) {
            t1.apply(u, secs(0), AGE).unwrap();
        }
        t1
    });
    let t1 = core1.join().unwrap();
    for &c in &clients {
        assert_eq!(t1.lookup(0, c, 32, secs(1)), t0.lookup(0, c, 32, secs(1)));
        assert!(t1.lookup(0, c, 32, secs(1)).is_some());
    }
}

#[test]
fn publish_to_a_full_peer_drops_and_counts() {
    let ports = StickyBus::new(3, 2);
    let u = |i: u32| StickyUpdate { service: 0, key: u64::from(i), server: 1 };
    for i in 0..5 {
        let missed = ports[0].publish(u(i));
        assert_eq!(missed, if i < 2 { 0 } else { 2 });
    }
    assert_eq!(ports[0].dropped(), 6);
    assert_eq!(ports[1].drain(10).collect::<Vec<_>>(), vec![u(0), u(1)]);
    // `drain` takes at most `max`.
    assert_eq!(ports[2].drain(1).collect::<Vec<_>>(), vec![u(0)]);
    assert_eq!(ports[2].drain(10).collect::<Vec<_>>(), vec![u(1)]);
    assert_eq!(ports[1].publish(u(9)), 0);
    assert_eq!(ports[0].drain(10).collect::<Vec<_>>(), vec![u(9)]);
}

#[test]
fn publish_to_a_gone_peer_counts_it() {
    let mut ports = StickyBus::new(2, 4);
    drop(ports.pop());
    assert_eq!(ports[0].publish(StickyUpdate { service: 0, key: 0, server: 0 }), 1);
    assert_eq!(ports[0].dropped(), 1);
}

// ---- against a model ----

#[derive(Clone, Debug)]
enum Op {
    Bind { svc: u16, client: u8, len: u8, server: u16 },
    Apply { svc: u16, client: u8, len: u8, server: u16 },
    Start { svc: u16, client: u8, len: u8 },
    End { svc: u16, client: u8, len: u8 },
    Lookup { svc: u16, client: u8, len: u8 },
    Advance(u64),
    Expire(usize),
    RemoveServer(u16),
}

/// Eight clients over two /24s.
fn client(c: u8) -> Ipv4Addr {
    ip(10, 0, c & 1, c >> 1)
}

fn op() -> impl Strategy<Value = Op> {
    let key = (0..3u16, 0..8u8, prop_oneof![Just(24u8), Just(32u8)]);
    prop_oneof![
        3 => (key.clone(), 0..4u16).prop_map(|((svc, client, len), server)| Op::Bind { svc, client, len, server }),
        1 => (key.clone(), 0..4u16).prop_map(|((svc, client, len), server)| Op::Apply { svc, client, len, server }),
        3 => key.clone().prop_map(|(svc, client, len)| Op::Start { svc, client, len }),
        3 => key.clone().prop_map(|(svc, client, len)| Op::End { svc, client, len }),
        2 => key.prop_map(|(svc, client, len)| Op::Lookup { svc, client, len }),
        2 => (0..15u64).prop_map(Op::Advance),
        2 => prop_oneof![Just(usize::MAX), 0..4usize].prop_map(Op::Expire),
        1 => (0..4u16).prop_map(Op::RemoveServer),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelEntry {
    server: u16,
    active: u32,
    expires: Instant,
}

impl ModelEntry {
    fn expired(&self, now: Instant) -> bool {
        self.active == 0 && self.expires <= now
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_hashmap_model(
        capacity in 1..40usize,
        age in prop_oneof![Just(0u64), Just(5), Just(10)],
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let age = Duration::from_secs(age);
        let mut t = StickyTable::new(capacity, seed);
        // Stored bindings, expired but unswept ones included, as the table keeps them.
        let mut model: HashMap<(u16, u32), ModelEntry> = HashMap::new();
        let mut now = secs(1);
        for op in ops {
            match op {
                Op::Bind { svc, client: c, len, server } | Op::Apply { svc, client: c, len, server } => {
                    let key = (svc, mask(client(c), len));
                    let room = model.contains_key(&key) || model.len() < capacity;
                    let got = if matches!(op, Op::Bind { .. }) {
                        t.bind(svc, client(c), len, server, now, age)
                    } else {
                        t.apply(StickyUpdate { service: svc, key: u64::from(key.1), server }, now, age)
                    };
                    prop_assert_eq!(got.is_ok(), room);
                    if room {
                        let e = model.entry(key).or_insert(ModelEntry { server, active: 0, expires: now });
                        if e.expired(now) {
                            e.active = 0;
                        }
                        e.server = server;
                        e.expires = now + age;
                    }
                }
                Op::Start { svc, client: c, len } => {
                    let e = model.get_mut(&(svc, mask(client(c), len)));
                    let want = e.is_some();
                    if let Some(e) = e {
                        e.active += 1;
                    }
                    prop_assert_eq!(t.flow_started(svc, client(c), len), want);
                }
                Op::End { svc, client: c, len } => {
                    let mut want = false;
                    if let Some(e) = model.get_mut(&(svc, mask(client(c), len))) {
                        if e.active > 0 {
                            e.active -= 1;
                            if e.active == 0 {
                                e.expires = now + age;
                            }
                            want = true;
                        }
                    }
                    prop_assert_eq!(t.flow_ended(svc, client(c), len, now, age), want);
                }
                Op::Lookup { svc, client: c, len } => {
                    let want = model.get(&(svc, mask(client(c), len))).filter(|e| !e.expired(now)).map(|e| e.server);
                    prop_assert_eq!(t.lookup(svc, client(c), len, now), want);
                }
                Op::Advance(s) => now = now + Duration::from_secs(s),
                Op::Expire(max) => {
                    let expired_before = model.values().filter(|e| e.expired(now)).count();
                    let n = t.expire(now, max);
                    prop_assert!(n <= max);
                    if max >= capacity {
                        prop_assert_eq!(n, expired_before);
                    }
                    // What went must have been expired; what stayed is still stored.
                    let stored: HashMap<(u16, u32), StickyEntry> =
                        t.iter().map(|e| ((e.service, e.key as u32), e)).collect();
                    let gone: Vec<_> = model.keys().filter(|k| !stored.contains_key(k)).copied().collect();
                    prop_assert_eq!(gone.len(), n);
                    for k in gone {
                        prop_assert!(model[&k].expired(now), "{:?} removed before expiry", k);
                        model.remove(&k);
                    }
                }
                Op::RemoveServer(server) => {
                    let before = model.len();
                    model.retain(|_, e| e.server != server);
                    prop_assert_eq!(t.remove_server(server), before - model.len());
                }
            }
            // The whole state agrees after every step.
            prop_assert_eq!(t.len(), model.len());
            prop_assert!(t.len() <= t.capacity());
            for e in t.iter() {
                let m = model.get(&(e.service, e.key as u32));
                prop_assert!(m.is_some(), "{:?} not in the model", e);
                let m = m.unwrap();
                prop_assert_eq!((e.server, e.active), (m.server, m.active));
                if e.active == 0 {
                    prop_assert_eq!(e.expires, m.expires);
                }
            }
        }
    }

    /// Heavy churn through a small table: probe runs, backward shifts and the sweep cursor
    /// never lose or duplicate a binding.
    #[test]
    fn churn_keeps_every_binding_findable(
        seed in any::<u64>(),
        ops in proptest::collection::vec((0..64u32, any::<bool>(), 0..3usize), 1..400),
    ) {
        let mut t = StickyTable::new(48, seed);
        let mut live: HashMap<u32, u16> = HashMap::new();
        let mut now = 0u64;
        for (k, bind, sweep) in ops {
            now += 1;
            let c = Ipv4Addr::from(k);
            if bind {
                let room = live.contains_key(&k) || t.len() < 48;
                let server = (k % 5) as u16;
                prop_assert_eq!(t.bind(0, c, 32, server, Instant::from_nanos(now), Duration::from_nanos(20)).is_ok(), room);
                if room {
                    live.insert(k, server);
                }
            }
            t.expire(Instant::from_nanos(now), sweep);
            live.retain(|&k, _| t.entry(0, Ipv4Addr::from(k), 32).is_some());
            prop_assert_eq!(t.len(), live.len());
            for (&k, &server) in &live {
                prop_assert_eq!(t.entry(0, Ipv4Addr::from(k), 32).map(|e| e.server), Some(server));
            }
        }
    }
}
