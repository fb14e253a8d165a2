//! The checker against real smoltcp TCP servers, in virtual time.

mod pair;

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use pair::{local, reply, timing, Behaviour, Pair, Server, LOCAL};

const S1: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const S2: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
const S3: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 3);
/// No server answers there: every packet to it is lost.
const NOWHERE: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 99);

fn tcp(server: u16, ip: Ipv4Addr, port: u16) -> Target {
    Target { server, ip, port, check: Check::Tcp }
}

fn http(server: u16, ip: Ipv4Addr, port: u16, check: HttpCheck) -> Target {
    Target { server, ip, port, check: Check::Http(check) }
}

fn expect_body(s: &str) -> HttpCheck {
    HttpCheck { expect_body: Some(s.to_owned()), ..HttpCheck::get("/") }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ok() -> Behaviour {
    reply("200 OK", "fine")
}

#[test]
fn tcp_check_passes_on_the_handshake_and_closes_in_order() {
    let server = Server::new(S1, &[(22, Behaviour::Silent)]);
    let mut pair = Pair::new(vec![(tcp(0, S1, 22), timing(1000, 500, 2, 3))], vec![server]);
    pair.drive_until(at(9_500));
    let health = pair.checker.status().next().expect("one target");
    assert!(health.up);
    assert_eq!((health.checks, health.successes, health.failures), (10, 10, 0));
    assert_eq!(pair.reason(0), "connected");
    assert!(pair.transitions(0).is_empty());
    // One connection per check, each ended by a FIN, none by a reset.
    let flow = pair.flow(S1, 22);
    assert_eq!((flow.attempts.len(), flow.fins, flow.resets), (10, 10, 0));
}

#[test]
fn refused_connection_takes_a_new_server_down_at_once() {
    let server = Server::new(S1, &[(80, ok())]);
    let mut pair = Pair::new(vec![(tcp(0, S1, 23), timing(1000, 500, 2, 3))], vec![server]);
    pair.drive_until(at(2_500));
    // On probation from the start: the first failure is enough.
    assert_eq!(pair.transitions(0), vec![(at(0), false, "connection refused".to_owned())]);
    assert_eq!(pair.checker.status().next().map(|h| h.failures), Some(3));
}

#[test]
fn rise_and_fall_follow_the_counts() {
    let server = Server::new(S1, &[(80, ok())]);
    let mut pair = Pair::new(vec![(http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3))], vec![server]);
    pair.drive_until(at(4_500));
    assert!(pair.is_up(0));
    assert_eq!(pair.reason(0), "HTTP 200");
    assert!(pair.transitions(0).is_empty());

    // Checks at 5, 6 and 7 s fail: down on the third.
    pair.server(S1).set(80, reply("503 Service Unavailable", "busy"));
    pair.drive_until(at(9_500));
    assert_eq!(pair.transitions(0), vec![(at(7_000), false, "HTTP 503".to_owned())]);

    // Checks at 10 and 11 s pass: up on the second.
    pair.server(S1).set(80, ok());
    pair.drive_until(at(12_500));
    let up = (at(11_000), true, "HTTP 200".to_owned());
    assert_eq!(pair.transitions(0).last(), Some(&up));
    assert_eq!(pair.transitions(0).len(), 2);
}

#[test]
fn status_must_be_one_of_the_expected() {
    let server = Server::new(S1, &[(80, reply("503 Service Unavailable", ""))]);
    let lenient = HttpCheck { expect_status: vec![200, 503], ..HttpCheck::get("/") };
    let targets = vec![
        (http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3)),
        (http(1, S1, 80, lenient), timing(1000, 500, 2, 3)),
    ];
    let mut pair = Pair::new(targets, vec![server]);
    pair.drive_until(at(500));
    assert_eq!(pair.transitions(0), vec![(at(0), false, "HTTP 503".to_owned())]);
    assert!(pair.is_up(1));
    let last = pair.checker.status().nth(1).and_then(|h| h.last).expect("a check");
    assert_eq!(last.verdict, Verdict::pass(Reason::Status(503)));
}

#[test]
fn body_must_contain_the_expected_string() {
    let servers = vec![
        Server::new(S1, &[(80, reply("200 OK", "status: OK\n"))]),
        Server::new(S2, &[(80, reply("200 OK", "status: DEGRADED\n"))]),
    ];
    let targets = vec![
        (http(0, S1, 80, expect_body("OK")), timing(1000, 500, 2, 3)),
        (http(1, S2, 80, expect_body("OK")), timing(1000, 500, 2, 3)),
    ];
    let mut pair = Pair::new(targets, servers);
    pair.drive_until(at(500));
    assert!(pair.is_up(0));
    assert_eq!(pair.reason(0), "HTTP 200, body has `OK`");
    assert_eq!(pair.transitions(1), vec![(at(0), false, "body lacks `OK`".to_owned())]);
}

#[test]
fn server_that_accepts_and_never_answers_times_out() {
    let server = Server::new(S1, &[(80, Behaviour::Silent)]);
    let mut pair = Pair::new(vec![(http(0, S1, 80, HttpCheck::get("/")), timing(2000, 1000, 2, 3))], vec![server]);
    pair.drive_until(at(1_500));
    let down = (at(1_000), false, "timeout after 1.0 s waiting for a response".to_owned());
    assert_eq!(pair.transitions(0), vec![down]);
    // The connection was reset at the deadline, not left open.
    assert_eq!(pair.flow(S1, 80).resets, 1);
}

#[test]
fn unreachable_server_times_out_connecting() {
    let mut pair = Pair::new(vec![(tcp(0, NOWHERE, 80), timing(2000, 1000, 2, 3))], vec![]);
    pair.drive_until(at(20_500));
    let down = (at(1_000), false, "timeout after 1.0 s connecting".to_owned());
    assert_eq!(pair.transitions(0), vec![down]);
    assert_eq!(pair.flow(NOWHERE, 80).attempts.len(), 11);
    assert!(pair.lost > 11, "SYNs were retransmitted and lost");
    assert_eq!(pair.checker.socket_count(), 1);
}

#[test]
fn garbage_answer_is_a_malformed_status_line() {
    let server = Server::new(S1, &[(80, Behaviour::Reply(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()))]);
    let mut pair = Pair::new(vec![(http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3))], vec![server]);
    pair.drive_until(at(500));
    assert_eq!(pair.transitions(0), vec![(at(0), false, "malformed status line".to_owned())]);
}

#[test]
fn endless_body_is_cut_at_the_cap() {
    let server = Server::new(S1, &[(80, Behaviour::Endless)]);
    let check = expect_body("never there");
    let mut pair = Pair::new(vec![(http(0, S1, 80, check), timing(1000, 900, 2, 3))], vec![server]);
    pair.drive_until(at(5_500));
    // A verdict from the cap, not from the timeout.
    assert_eq!(pair.transitions(0), vec![(at(0), false, "response over 64 KiB".to_owned())]);
    assert_eq!(pair.reason(0), "response over 64 KiB");
    // Each of the 6 checks took the cap and at most a window more before its reset (and a
    // reset for each segment already on its way).
    let flow = pair.flow(S1, 80);
    assert_eq!(flow.attempts.len(), 6);
    assert!(flow.resets >= 6);
    assert!(flow.bytes_back <= 6 * (64 + 8) * 1024, "{} bytes read", flow.bytes_back);
}

#[test]
fn server_closing_at_once_closed_before_a_response() {
    let server = Server::new(S1, &[(80, Behaviour::CloseAtOnce)]);
    let mut pair = Pair::new(vec![(http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3))], vec![server]);
    pair.drive_until(at(500));
    assert_eq!(pair.transitions(0), vec![(at(0), false, "connection closed before a response".to_owned())]);
}

#[test]
fn slow_answer_passes_within_the_timeout_and_fails_past_it() {
    let servers = vec![
        Server::new(
            S1,
            &[(80, Behaviour::ReplyAfter(Duration::from_millis(600), b"HTTP/1.0 200 OK\r\n\r\n".to_vec()))],
        ),
        Server::new(
            S2,
            &[(80, Behaviour::ReplyAfter(Duration::from_millis(1500), b"HTTP/1.0 200 OK\r\n\r\n".to_vec()))],
        ),
    ];
    let targets = vec![
        (http(0, S1, 80, HttpCheck::get("/")), timing(2000, 1000, 2, 3)),
        (http(1, S2, 80, HttpCheck::get("/")), timing(2000, 1000, 2, 3)),
    ];
    let mut pair = Pair::new(targets, servers);
    pair.drive_until(at(1_900));
    assert!(pair.is_up(0));
    let last = pair.checker.status().next().and_then(|h| h.last).expect("a check");
    assert_eq!((last.started, last.finished), (at(0), at(600)));
    assert_eq!(pair.transitions(1), vec![(at(1_000), false, "timeout after 1.0 s waiting for a response".to_owned())]);
}

#[test]
fn checks_start_every_interval_whatever_the_others_do() {
    let servers = vec![
        Server::new(
            S1,
            &[
                (22, Behaviour::Silent),
                (80, Behaviour::ReplyAfter(Duration::from_millis(400), b"HTTP/1.0 200 OK\r\n\r\n".to_vec())),
            ],
        ),
        Server::new(S2, &[(80, Behaviour::Silent)]),
    ];
    let targets = vec![
        (tcp(0, S1, 22), timing(1000, 500, 2, 3)),
        (http(1, S1, 80, HttpCheck::get("/")), timing(3000, 1000, 2, 3)),
        (http(2, S2, 80, HttpCheck::get("/")), timing(7000, 2000, 2, 3)),
        // Timeout equal to the interval: each check fails just as the next one is due.
        (tcp(3, NOWHERE, 80), timing(2000, 2000, 2, 3)),
    ];
    let mut pair = Pair::new(targets, servers);
    pair.drive_until(at(600_000));
    for (ip, port, interval) in [(S1, 22, 1000), (S1, 80, 3000), (S2, 80, 7000), (NOWHERE, 80, 2000)] {
        let expected: Vec<Instant> = (0..=600_000 / interval).map(|k| at(k * interval)).collect();
        assert_eq!(pair.flow(ip, port).attempts, expected, "{ip}:{port} every {interval} ms");
    }
    assert_eq!(pair.checker.counters().checks_started, 601 + 201 + 86 + 301);
}

#[test]
fn memory_stays_bounded_over_many_checks() {
    let servers = vec![
        Server::new(
            S1,
            &[
                (80, ok()),
                (81, reply("503 Service Unavailable", "")),
                (82, Behaviour::Reply(b"\x00\x01garbage".to_vec())),
                (83, Behaviour::Silent),
            ],
        ),
        Server::new(S2, &[(80, Behaviour::Endless), (81, Behaviour::CloseAtOnce)]),
    ];
    // A small cap keeps the endless body quick to check 600 times in a debug build.
    let check = HttpCheck { max_response: 8 * 1024, ..expect_body("fine") };
    let targets: Vec<_> = [(S1, 80), (S1, 81), (S1, 82), (S1, 83), (S2, 80), (S2, 81), (S2, 82), (NOWHERE, 80)]
        .into_iter()
        .enumerate()
        .map(|(i, (ip, port))| (http(i as u16, ip, port, check.clone()), timing(1000, 500, 2, 3)))
        .collect();
    let mut pair = Pair::new(targets, servers);
    for minute in 1..=10 {
        pair.drive_until(at(minute * 60_000));
        let c = &pair.checker;
        assert_eq!(c.socket_count(), 8, "one socket per target, minute {minute}");
        assert!(c.by_port.len() <= 8 && c.events.len() <= 8);
        assert!(c.device.rx.len() == 0 && c.device.tx.len() == 0);
    }
    let counters = pair.checker.counters();
    assert_eq!(counters.checks_started, 8 * 601);
    assert_eq!(counters.checks_passed + counters.checks_failed, 8 * 601 - 2, "all done but two in flight");
    assert_eq!((counters.rx_queue_full, counters.tx_blocked), (0, 0));
    let reasons: Vec<String> = (0..8).map(|s| pair.reason(s)).collect();
    assert_eq!(
        reasons,
        [
            "HTTP 200, body has `fine`",
            "HTTP 503",
            "malformed status line",
            "timeout after 0.5 s waiting for a response",
            "response over 8 KiB",
            "connection closed before a response",
            "connection refused",
            "timeout after 0.5 s connecting",
        ]
    );
}

#[test]
fn events_wait_one_per_server_until_taken() {
    let server = Server::new(S1, &[(80, ok())]);
    let mut pair = Pair::new(vec![(http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 1, 1))], vec![server]);
    pair.drain_events = false;
    for k in 0..50 {
        let answer = if k % 2 == 0 { reply("503 Busy", "") } else { ok() };
        pair.server(S1).set(80, answer);
        pair.drive_until(at(k * 1000 + 500));
    }
    // Fifty transitions, one pending: the last.
    let events: Vec<_> = pair.checker.events().collect();
    assert_eq!(events, vec![HealthEvent { server: 0, up: true, reason: "HTTP 200".to_owned() }]);
}

#[test]
fn reload_keeps_the_state_of_servers_that_stay() {
    let servers = vec![Server::new(S1, &[(80, reply("503 Busy", ""))]), Server::new(S2, &[(22, Behaviour::Silent)])];
    let targets = vec![
        (http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3)),
        (tcp(1, S2, 22), timing(1000, 500, 2, 3)),
    ];
    let mut pair = Pair::new(targets, servers);
    pair.drive_until(at(2_500));
    assert!(!pair.is_up(0) && pair.is_up(1));

    // Server 0 stays as it was, 1 goes, 2 comes.
    let targets = vec![
        (http(0, S1, 80, HttpCheck::get("/")), timing(1000, 500, 2, 3)),
        (tcp(2, S2, 22), timing(1000, 500, 2, 3)),
    ];
    pair.checker.set_targets(targets, pair.now).expect("valid");
    assert_eq!(pair.checker.socket_count(), 3, "the removed target's socket waits for a poll");
    pair.drive_until(at(5_500));
    assert_eq!(pair.checker.socket_count(), 2);
    let status: Vec<_> = pair.checker.status().map(|h| (h.server, h.up, h.checks)).collect();
    assert_eq!(status, vec![(0, false, 6), (2, true, 4)]);
    assert_eq!(pair.transitions(0).len(), 1, "no event from the reload");
    // Server 0 kept its cadence: 0, 1, ..., 5 s.
    assert_eq!(pair.flow(S1, 80).attempts, (0..=5).map(|k| at(k * 1000)).collect::<Vec<_>>());

    // A changed check keeps up/down but starts over at once.
    let changed = vec![(http(0, S1, 80, HttpCheck::get("/other")), timing(1000, 500, 2, 3))];
    pair.checker.set_targets(changed, at(5_700)).expect("valid");
    pair.now = at(5_700);
    pair.drive_until(at(5_800));
    let health = pair.checker.status().next().expect("a target");
    assert_eq!((health.up, health.checks, health.failures), (false, 7, 1));
    assert_eq!(pair.flow(S1, 80).attempts.last(), Some(&at(5_700)));
}

#[test]
fn http_request_names_method_path_and_host() {
    let servers = vec![Server::new(S1, &[(80, ok())]), Server::new(S2, &[(8080, ok())])];
    let head = HttpCheck {
        method: "HEAD".into(),
        path: "/health?full=1".into(),
        host: Some("app.example".into()),
        ..HttpCheck::get("/")
    };
    let targets = vec![
        (http(0, S1, 80, head), timing(1000, 500, 2, 3)),
        (http(1, S2, 8080, HttpCheck::get("/")), timing(1000, 500, 2, 3)),
    ];
    let mut pair = Pair::new(targets, servers);
    pair.drive_until(at(500));
    let request =
        |ip| String::from_utf8(pair.servers.iter().find(|s| s.ip == ip).unwrap().requests[0].clone()).unwrap();
    assert_eq!(
        request(S1),
        "HEAD /health?full=1 HTTP/1.0\r\nHost: app.example\r\nUser-Agent: stickwire-health\r\nConnection: close\r\n\r\n"
    );
    assert!(request(S2).starts_with("GET / HTTP/1.0\r\nHost: 198.18.1.2:8080\r\n"));
}

/// An IPv4 packet from `S1:80` carrying a TCP ACK header, with valid checksums.
fn packet(dst: Ipv4Addr, proto: u8, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 40 + payload.len()];
    p[0] = 0x45;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&S1.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&80u16.to_be_bytes());
    p[22..24].copy_from_slice(&dst_port.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x10; // ACK
    p[40..].copy_from_slice(payload);
    fill_checksums(&mut p);
    p
}

fn fill_checksums(p: &mut [u8]) {
    let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
    ip.fill_checksum();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if let Ok(mut tcp) = TcpPacket::new_checked(ip.payload_mut()) {
        tcp.fill_checksum(src, dst);
    }
}

#[test]
fn packets_not_for_the_checker_are_counted_and_dropped() {
    let mut checker = Checker::new(local(), vec![(tcp(0, S1, 80), Timing::default())], Instant::ZERO).expect("valid");
    let huge = vec![0u8; 2000];
    for bad in [
        &b""[..],
        &b"\x45\x00"[..],
        &packet(LOCAL, 17, 40000, b"udp")[..],
        &packet(S3, 6, 40000, b"other host")[..],
        &packet(LOCAL, 6, 39999, b"port outside the range")[..],
        &packet(LOCAL, 6, 40000, &huge)[..],
    ] {
        checker.receive(bad);
    }
    assert_eq!(checker.counters().rx_unwanted, 6);
    assert_eq!(checker.counters().rx_packets, 0);

    // Segments from the server the check is connecting to, their TCP header and payload
    // mangled (checksums kept valid, so smoltcp looks at them), do no harm.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let base = packet(LOCAL, 6, 40000, b"HTTP/1.1 200 OK\r\n\r\n");
    for round in 0..5_000u64 {
        let mut p = base.clone();
        for _ in 0..(round % 8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = 20 + (seed as usize) % (p.len() - 20);
            p[i] = (seed >> 32) as u8;
        }
        fill_checksums(&mut p);
        checker.receive(&p);
        let now = at(round);
        checker.poll(now);
        checker.transmit(|_| {});
        assert!(checker.poll_at(now).is_some_and(|t| t >= now));
    }
    assert!(checker.counters().rx_packets > 4_000, "{:?}", checker.counters());
    assert_eq!(checker.socket_count(), 1);
}

#[test]
fn receive_queue_is_bounded_and_poll_at_says_now_while_it_holds_packets() {
    let mut checker = Checker::new(local(), vec![(tcp(0, S1, 80), Timing::default())], Instant::ZERO).expect("valid");
    checker.poll(Instant::ZERO);
    checker.transmit(|_| {});
    let next = checker.poll_at(at(1)).expect("a target");
    assert!(next > at(1) && next <= at(1000), "a SYN retransmission or the deadline: {next:?}");
    let p = packet(LOCAL, 6, 40000, b"");
    for _ in 0..300 {
        checker.receive(&p);
    }
    let counters = checker.counters();
    assert_eq!((counters.rx_packets, counters.rx_queue_full), (256, 44));
    assert_eq!(checker.poll_at(at(5)), Some(at(5)));
    checker.poll(at(5));
    assert_eq!(checker.device.rx.len(), 0);
}

#[test]
fn checker_can_move_to_its_own_thread() {
    fn send<T: Send>() {}
    send::<Checker>();
}

#[test]
fn bad_configurations_are_refused() {
    let t = |check| vec![(Target { server: 0, ip: S1, port: 80, check }, Timing::default())];
    let new = |local: Local, targets| Checker::new(local, targets, Instant::ZERO).err().map(|e| e.to_string());
    let narrow = Local { ports: 40000..=40000, ..local() };
    let two = vec![(tcp(0, S1, 80), Timing::default()), (tcp(1, S2, 80), Timing::default())];
    assert_eq!(new(narrow, two).as_deref(), Some("2 health-check targets need as many local ports; the range has 1"));
    let dup = vec![(tcp(0, S1, 80), Timing::default()), (tcp(0, S2, 80), Timing::default())];
    assert_eq!(new(local(), dup).as_deref(), Some("server 0 has two health-check targets"));
    let slow = vec![(tcp(0, S1, 80), timing(1000, 2000, 2, 3))];
    assert!(new(local(), slow).is_some_and(|e| e.contains("must not exceed the interval")));
    let injected = HttpCheck { path: "/ HTTP/1.1\r\nX: y".into(), ..HttpCheck::get("/") };
    assert!(new(local(), t(Check::Http(injected))).is_some_and(|e| e.contains("path")));
    let head_body = HttpCheck { method: "HEAD".into(), ..expect_body("OK") };
    assert!(new(local(), t(Check::Http(head_body))).is_some_and(|e| e.contains("HEAD")));
    let no_status = HttpCheck { expect_status: vec![], ..HttpCheck::get("/") };
    assert!(new(local(), t(Check::Http(no_status))).is_some());
    assert!(new(Local { ports: 0..=10, ..local() }, t(Check::Tcp)).is_some());
    assert!(new(Local { addr: Ipv4Addr::UNSPECIFIED, ..local() }, t(Check::Tcp)).is_some());

    // A refused reload changes nothing.
    let mut checker = Checker::new(local(), t(Check::Tcp), Instant::ZERO).expect("valid");
    assert!(checker.set_targets(vec![(tcp(0, S1, 0), Timing::default())], Instant::ZERO).is_err());
    assert_eq!(checker.status().next().map(|h| h.port), Some(80));
}
