//! Delayed binding end to end in virtual time: real TCP stacks (smoltcp) as client and
//! servers around the engine (`lab`), so every rule, the splice and its recovery from loss
//! run against what a stack really sends.

mod lab;

use std::time::Duration;

use lab::{body, config, name_server, Lab};

use super::rules::Decided;

/// Port 80: server-id cookie, jvmRoute, learned `SID`, then round robin; port 8080: the
/// switch's own `ServerID` inserted.
const PORTS: &str = r#"
[[vip.port]]
port = 80
mode = "l7"
predictor = "round-robin"
[[vip.port.rule]]
match = "server-id"
[[vip.port.rule]]
match = "jvm-route"
[[vip.port.rule]]
match = "learned-cookie"
cookie = "SID"

[[vip.port]]
port = 8080
mode = "l7"
predictor = "round-robin"
[[vip.port.rule]]
match = "insert-cookie"
"#;

fn lab() -> Lab {
    Lab::new(&config(PORTS), name_server)
}

fn request(path: &str, cookie: Option<&str>) -> Vec<u8> {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: lab\r\nUser-Agent: lab\r\n{cookie}\r\n").into_bytes()
}

/// The server a response came from (its body starts with its name).
fn server_of(response: &[u8]) -> String {
    String::from_utf8_lossy(body(response)).split_whitespace().next().unwrap_or("").to_string()
}

fn decided(lab: &Lab, d: Decided) -> u64 {
    lab.engine.l4().l7_stats().decided_by(d)
}

#[test]
fn a_server_id_cookie_sends_every_connection_to_its_server() {
    let mut lab = lab();
    for i in 0..20 {
        let r = lab.get(40000 + i, 80, &request("/", Some("ServerID=rs2"))).expect("a response");
        assert_eq!(server_of(&r), "rs2", "{}", String::from_utf8_lossy(&r));
    }
    assert_eq!(lab.requests[1].len(), 20);
    assert_eq!(decided(&lab, Decided::ServerIdCookie), 20);
    // Nothing else was inserted or lost on the way: the request reached the server as sent.
    assert_eq!(lab.requests[1][0], request("/", Some("ServerID=rs2")));
}

#[test]
fn tomcat_session_ids_go_to_their_jvm_route_by_cookie_or_path() {
    let mut lab = lab();
    let r = lab.get(41000, 80, &request("/", Some("JSESSIONID=A1B2C3.node3"))).unwrap();
    assert_eq!(server_of(&r), "rs3");
    let r = lab.get(41001, 80, &request("/cart;jsessionid=FFEE.node1?x=1", None)).unwrap();
    assert_eq!(server_of(&r), "rs1");
    // JSESSIONIDSSO is another cookie: it names nothing.
    let r = lab.get(41002, 80, &request("/", Some("JSESSIONIDSSO=X.node2; JSESSIONID=Y.node1"))).unwrap();
    assert_eq!(server_of(&r), "rs1");
    assert_eq!(decided(&lab, Decided::JvmRoute), 3);
}

#[test]
fn without_a_usable_cookie_the_predictor_spreads_connections() {
    let mut lab = lab();
    let servers: Vec<String> =
        (0..6).map(|i| server_of(&lab.get(42000 + i, 80, &request("/", Some("ServerID=gone"))).unwrap())).collect();
    assert_eq!(servers, ["rs1", "rs2", "rs3", "rs1", "rs2", "rs3"]);
    assert_eq!(decided(&lab, Decided::Predictor), 6);
}

#[test]
fn the_decision_log_names_the_rule_and_the_value_it_read_only_when_switched_on() {
    let mut lab = lab();
    lab.get(41100, 80, &request("/", Some("ServerID=rs2"))).unwrap();
    assert_eq!(lab.engine.l4_mut().decisions().take().count(), 0, "off by default");
    lab.engine.l4_mut().decisions().switch_on();
    lab.get(41101, 80, &request("/cart;jsessionid=FFEE.node1?x=1", Some("ServerID=nobody"))).unwrap();
    lab.get(41102, 80, &request("/", None)).unwrap();
    let log: Vec<_> = lab.engine.l4_mut().decisions().take().collect();
    let seen: Vec<_> = log
        .iter()
        .map(|d| (d.client.src_port, d.server, d.decided, d.rule, d.value.as_deref().map(<[u8]>::to_vec), d.in_path))
        .collect();
    // rs1 by the jvmRoute rule (the second of the port) from the path; then round robin's
    // first pick.
    assert_eq!(
        seen,
        [
            (41101, 0, Decided::JvmRoute, Some(1), Some(b"FFEE.node1".to_vec()), true),
            (41102, 0, Decided::Predictor, None, None, false)
        ]
    );
    assert_eq!(log[0].client.dst_port, 80);
}

#[test]
fn a_cookie_the_server_set_is_learned_and_followed() {
    let mut lab = lab();
    let first = lab.get(43000, 80, &request("/sid", None)).unwrap();
    let head = String::from_utf8_lossy(&first[..first.len() - body(&first).len()]).to_string();
    let sid = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .and_then(|v| v.split(';').next())
        .expect(&head)
        .to_string();
    let server = server_of(&first);
    // The round robin moves on, the learned cookie does not.
    for i in 1..8 {
        let r = lab.get(43000 + i, 80, &request("/", Some(&sid))).unwrap();
        assert_eq!(server_of(&r), server, "request {i} with {sid}");
    }
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.cookies_learned, stats.decided_by(Decided::LearnedCookie)), (1, 7));
}

#[test]
fn an_inserted_cookie_comes_back_and_sticks() {
    let mut lab = lab();
    let first = lab.get(44000, 8080, &request("/", None)).unwrap();
    let text = String::from_utf8_lossy(&first).to_string();
    let server = server_of(&first);
    let line = format!("Set-Cookie: ServerID={server}; Path=/\r\n");
    assert!(text.starts_with(&format!("HTTP/1.1 200 OK\r\n{line}")), "{text}");
    // The server's own bytes all arrived, after the inserted line.
    let sent = name_server(server[2..].parse::<usize>().unwrap() - 1, &request("/", None), 0);
    assert_eq!(first.len(), sent.len() + line.len());
    for i in 1..6 {
        let r = lab.get(44000 + i, 8080, &request("/", Some(&format!("ServerID={server}")))).unwrap();
        assert_eq!(server_of(&r), server);
        assert!(!String::from_utf8_lossy(&r).contains("Set-Cookie"), "inserted only when the request had none");
    }
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.cookies_inserted, stats.decided_by(Decided::InsertedCookie)), (1, 5));
}

/// A big response through the splice: window scaling, timestamps and sequence translation
/// over hundreds of segments.
#[test]
fn a_large_response_arrives_whole_through_the_splice() {
    fn big(server: usize, _: &[u8], _: usize) -> Vec<u8> {
        let body: Vec<u8> = (0..400_000u32).map(|i| (i * 31 + server as u32) as u8).collect();
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        r
    }
    let mut lab = Lab::new(&config(PORTS), big);
    let r = lab.get(45000, 80, &request("/big", Some("ServerID=rs1"))).expect("the whole response");
    let expected: Vec<u8> = (0..400_000u32).map(|i| (i * 31) as u8).collect();
    assert_eq!(body(&r), &expected[..]);
    assert_eq!(lab.engine.l4().l7_stats().spliced, 1);
}

/// Past its first response, a spliced connection's frames are rewritten from its flow line
/// alone (`Flow::steady`), with the splice state's numbers; one with an inserted cookie
/// keeps reading the splice state, whose map needs the insertion point.
#[test]
fn past_the_first_response_a_connection_needs_only_its_flow_line() {
    let mut lab = lab();
    lab.get(47000, 80, &request("/", Some("ServerID=rs2"))).unwrap();
    lab.get(47001, 8080, &request("/", None)).unwrap();
    let l4 = lab.engine.l4();
    let flow_of = |port: u16| l4.flows().iter().find(|(_, f)| f.client_key().dst_port == port).unwrap();
    let (id, plain) = flow_of(80);
    let sp = l4.splice(id);
    let moves = sp.moves();
    let steady = plain.steady().expect("the flow line holds what its frames need");
    assert_eq!((steady.seq_delta, steady.ts_delta), (moves.seq_delta, moves.ts_delta));
    assert_eq!((steady.server_ws, steady.our_ws), (moves.server_ws, moves.our_ws));
    assert_ne!(steady.seq_delta, 0);
    let (id, inserted) = flow_of(8080);
    assert!(l4.splice(id).inserted > 0);
    assert_eq!(inserted.steady(), None);
}

#[test]
fn keep_alive_requests_stay_on_the_bound_server() {
    let mut lab = lab();
    let h = lab.connect(46000, 80);
    let mut responses = Vec::new();
    let mut sent = 0;
    lab.run_until(Duration::from_secs(10), |lab| {
        let s = lab.client.socket(h);
        while s.can_recv() {
            let _ = s.recv(|d| {
                responses.extend_from_slice(d);
                (d.len(), ())
            });
        }
        let answered = responses.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
        if sent < 5 && answered == sent && s.may_send() {
            // The first request has no cookie; the later ones name another server: the
            // connection stays where it was bound.
            let cookie = (sent > 0).then_some("ServerID=rs3");
            if s.send_slice(&request("/", cookie)).is_ok() {
                sent += 1;
            }
        }
        answered == 5
    });
    let text = String::from_utf8_lossy(&responses).to_string();
    assert_eq!(text.matches("rs1 ").count(), 5, "{text}");
    assert_eq!((lab.requests[0].len(), lab.requests[2].len()), (5, 0));
}

/// Frames lost on the way, at every step of the delayed binding: the client's SYN-ACK, the
/// switch's SYN to the server, the held head, the first response. TCP and the switch's own
/// retransmissions bring every connection through, whole.
#[test]
fn every_lost_step_of_the_binding_is_sent_again() {
    use crate::wire::{ipv4, tcp};
    // Which frame of the switch's output to lose: (towards the servers, TCP flags, with
    // payload).
    let cases: [(bool, u8, bool); 4] = [
        (false, tcp::flags::SYN | tcp::flags::ACK, false),
        (true, tcp::flags::SYN, false),
        (true, tcp::flags::ACK | tcp::flags::PSH, true),
        (false, tcp::flags::ACK | tcp::flags::PSH, true),
    ];
    for (i, &(to_servers, flags, data)) in cases.iter().enumerate() {
        let mut lab = lab();
        let mut lost = false;
        lab.lose = Some(Box::new(move |towards, frame: &[u8]| {
            let ip = ipv4::Packet::new_checked(&frame[14..]).unwrap();
            let seg = tcp::Packet::new_checked(ip.payload()).unwrap();
            let hit = !lost && towards == to_servers && seg.flags() == flags && seg.payload().is_empty() != data;
            lost |= hit;
            hit
        }));
        let r =
            lab.get(47000 + i as u16, 80, &request("/", Some("ServerID=rs3"))).unwrap_or_else(|| panic!("case {i}"));
        assert_eq!(server_of(&r), "rs3", "case {i}");
        assert_eq!(lab.requests[2], [request("/", Some("ServerID=rs3"))], "case {i}: the head once, whole");
    }
}

/// One frame in 40 lost, both ways, through a 400 KB response: the splice keeps sequence
/// numbers, SACK blocks and timestamps straight while both stacks recover.
#[test]
fn a_lossy_wire_still_delivers_every_byte() {
    fn big(_: usize, _: &[u8], _: usize) -> Vec<u8> {
        let body: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        r
    }
    let mut lab = Lab::new(&config(PORTS), big);
    let mut n = 0u32;
    lab.lose = Some(Box::new(move |_, _| {
        n += 1;
        n.is_multiple_of(40)
    }));
    let r = lab.get(48000, 80, &request("/", None)).expect("the whole response");
    assert_eq!(body(&r), &(0..400_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()[..]);
}

#[test]
fn a_refusing_server_makes_way_for_the_next_one() {
    let mut lab = lab();
    lab.refuse(1);
    // The cookie names rs2: it refuses (RST), the next server takes the connection.
    let r = lab.get(49000, 80, &request("/", Some("ServerID=rs2"))).expect("served by another");
    assert_eq!(server_of(&r), "rs3");
    assert_eq!(lab.engine.l4().l7_stats().server_refused, 1);
}

#[test]
fn an_old_connection_a_server_still_holds_on_the_tuple_is_reset_and_the_syn_sent_again() {
    let mut lab = lab();
    lab.stale.push(1);
    let started = lab.now;
    // The cookie names rs2, which answers the SYN with the ACK of an old connection.
    let r = lab.get(49050, 80, &request("/", Some("ServerID=rs2"))).expect("a response");
    assert_eq!(server_of(&r), "rs2", "the same server, once its old connection is reset");
    assert_eq!(lab.stale_cleared, [1]);
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.server_stale, stats.server_timeouts, stats.server_refused), (1, 0, 0));
    assert!(lab.now - started < Duration::from_millis(250), "no wait for a retransmission: {:?}", lab.now - started);
}

#[test]
fn a_silent_server_is_given_up_after_its_retries() {
    let mut lab = lab();
    lab.silent.push(0);
    let started = lab.now;
    let r = lab.get(49100, 80, &request("/", Some("ServerID=rs1"))).expect("served by another");
    assert_eq!(server_of(&r), "rs2");
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.server_timeouts, stats.retransmits), (1, 2), "two SYNs again, then the next server");
    // 250 ms, then 500 ms more, then 1 s more: given up after 1.75 s.
    assert!(lab.now - started >= Duration::from_millis(1750), "{:?}", lab.now - started);
}

#[test]
fn no_server_left_resets_the_client() {
    let mut lab = lab();
    for s in 0..3 {
        lab.refuse(s);
    }
    let (response, state) = lab.exchange(49200, 80, &[&request("/", None)], |_| false);
    assert!(response.is_empty());
    assert_eq!(state, smoltcp::socket::tcp::State::Closed, "reset");
    assert_eq!(lab.engine.l4().l7_stats().no_server, 1);
}

#[test]
fn a_head_over_the_limit_is_reset_and_counted() {
    let mut lab = Lab::new(
        &config(&PORTS.replace(
            "mode = \"l7\"\npredictor = \"round-robin\"\n[[vip.port.rule]]\nmatch = \"server-id\"",
            "mode = \"l7\"\npredictor = \"round-robin\"\nhead_limit = 1024\n[[vip.port.rule]]\nmatch = \"server-id\"",
        )),
        name_server,
    );
    let long = format!("GET / HTTP/1.1\r\nHost: lab\r\nCookie: a={}\r\n\r\n", "x".repeat(2000));
    let (response, state) = lab.exchange(49300, 80, &[long.as_bytes()], |_| false);
    assert!(response.is_empty());
    assert_eq!(state, smoltcp::socket::tcp::State::Closed, "reset");
    assert_eq!(lab.engine.l4().l7_stats().head_too_large, 1);
    assert!(lab.received.iter().all(Vec::is_empty), "nothing reached a server");
}

#[test]
fn a_six_kilobyte_cookie_header_is_read_whole() {
    let mut lab = lab();
    let cookie = format!("big={}; ServerID=rs2", "c".repeat(6 * 1024));
    let r = lab.get(49400, 80, &request("/", Some(&cookie))).expect("a response");
    assert_eq!(server_of(&r), "rs2");
    assert_eq!(lab.requests[1][0], request("/", Some(&cookie)));
}

#[test]
fn a_head_split_over_segments_and_pipelined_requests_go_to_one_server() {
    let mut lab = lab();
    let (first, second) = (
        b"GET / HTTP/1.1\r\nHo".as_slice(),
        b"st: lab\r\nCookie: ServerID=rs3\r\n\r\nGET /next HTTP/1.1\r\nHost: lab\r\n\r\n".as_slice(),
    );
    let (response, _) =
        lab.exchange(49500, 80, &[first, second], |r| r.windows(4).filter(|w| w == b"rs3 ").count() == 2);
    assert_eq!(String::from_utf8_lossy(&response).matches("rs3 ").count(), 2, "{}", String::from_utf8_lossy(&response));
    assert_eq!(lab.requests[2].len(), 2);
}

#[test]
fn bytes_that_are_not_http_are_bound_by_the_predictor_and_spliced() {
    let mut lab = lab();
    // The start of a TLS ClientHello.
    let hello = [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 7, 7, 7, 7];
    let _ = lab.exchange(49600, 80, &[&hello], |_| false);
    let (stats, served) = (lab.engine.l4().l7_stats(), lab.received.iter().position(|r| r == &hello));
    assert_eq!((stats.not_http, stats.decided_by(Decided::Predictor)), (1, 1));
    assert!(served.is_some(), "the bytes reached a server unchanged: {:?}", lab.received);
}

#[test]
fn a_post_body_beyond_the_head_reaches_the_server_whole() {
    let mut lab = lab();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    let head =
        format!("POST /upload HTTP/1.1\r\nHost: lab\r\nCookie: ServerID=rs1\r\nContent-Length: {}\r\n\r\n", body.len());
    // The server answers once the head is in; the body keeps flowing after that.
    let _ = lab.exchange(49700, 80, &[head.as_bytes(), &body], |_| false);
    let mut expected = head.into_bytes();
    expected.extend_from_slice(&body);
    assert_eq!(lab.received[0].len(), expected.len());
    assert!(lab.received[0] == expected, "the server got every byte in order");
}

#[test]
fn syn_cookies_carry_the_handshake_when_always_on() {
    let mut lab = Lab::new(
        &config(&PORTS.replace("port = 80\nmode = \"l7\"", "port = 80\nmode = \"l7\"\nsyn_cookies = \"always\"")),
        name_server,
    );
    for i in 0..5 {
        let r = lab.get(49800 + i, 80, &request("/", Some("ServerID=rs2"))).expect("a response");
        assert_eq!(server_of(&r), "rs2");
    }
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.syn_cookies_sent, stats.syn_cookies_accepted, stats.syn_acks), (5, 5, 0));
    assert_eq!(lab.engine.l4().flows().len(), 5, "no flow before the ACK; one per connection after");
}

/// L4 ports under a SYN flood (here: always) answer SYNs with cookies themselves and
/// splice the connection to the server once the client's ACK proves the cookie (DPVS's
/// synproxy), with no head to read: full NAT and gateway NAT.
#[test]
fn l4_ports_proxy_handshakes_with_syn_cookies() {
    let ports = r#"
[[vip.port]]
port = 81
nat = "full"
predictor = "round-robin"
syn_cookies = "always"

[[vip.port]]
port = 83
nat = "gateway"
predictor = "round-robin"
syn_cookies = "always"
"#;
    let mut lab = Lab::new(&config(ports), name_server);
    for (i, port) in [81u16, 81, 81, 83, 83, 83].into_iter().enumerate() {
        let r =
            lab.get(50000 + i as u16, port, &request("/", None)).unwrap_or_else(|| panic!("request {i} to :{port}"));
        assert_eq!(server_of(&r), format!("rs{}", i % 3 + 1), "request {i}");
    }
    let stats = lab.engine.l4().stats();
    assert_eq!((stats.l7.syn_cookies_sent, stats.l7.syn_cookies_accepted, stats.l7.proxied), (6, 6, 6));
    assert_eq!((stats.l7.heads, stats.l7.decided_by(Decided::Predictor)), (0, 6));
    // The servers saw every request once, whole.
    assert_eq!(lab.requests.iter().map(Vec::len).sum::<usize>(), 6);
    assert!(lab.requests.iter().flatten().all(|r| r == &request("/", None)));
}

/// A client that opens a connection and closes it without a request (browsers' spare
/// connections, wrk's first one): the switch answers the FIN with its own at once, no server
/// hears of it, and the connection is gone after the last ACK.
#[test]
fn a_connection_closed_before_its_request_is_closed_by_the_switch() {
    let mut lab = lab();
    let h = lab.connect(51000, 80);
    lab.run_until(Duration::from_secs(1), |lab| lab.client.socket(h).may_send());
    lab.client.socket(h).close();
    let closed = lab.run_until(Duration::from_secs(2), |lab| {
        matches!(
            lab.client.socket(h).state(),
            smoltcp::socket::tcp::State::TimeWait | smoltcp::socket::tcp::State::Closed
        )
    });
    assert!(closed, "the client's close went through: {:?}", lab.client.socket(h).state());
    assert_eq!(lab.engine.l4().l7_stats().closed_before_head, 1);
    assert_eq!(lab.engine.l4().flows().len(), 0, "gone after the last ACK");
    assert!(lab.received.iter().all(Vec::is_empty));
}

/// A connection that ends early leaves its timers in the wheel; the next connection in its
/// flow slot must not take them for its own. Here the first is reset by its client while
/// the switch waits for its head; the second, in the same slot, comes half a second later,
/// so the first one's head deadline falls while the second still has half a second to go.
/// (With the second coming at once, the first one's SYN-ACK timer made the switch send the
/// second its SYN-ACK again.)
#[test]
fn a_gone_connections_timers_do_not_fire_for_the_next_in_its_slot() {
    use smoltcp::socket::tcp::State;
    let mut lab = lab();
    let first = lab.connect(49900, 80);
    assert!(lab.run_until(Duration::from_secs(1), |lab| lab.client.socket(first).state() == State::Established));
    let first_at = lab.now;
    lab.client.socket(first).abort();
    lab.run_until(Duration::from_millis(500), |_| false);
    assert_eq!(lab.engine.l4().flows().len(), 0, "the reset connection is gone");
    let second = lab.connect(49901, 80);
    assert!(lab.run_until(Duration::from_secs(1), |lab| lab.client.socket(second).state() == State::Established));
    let second_at = lab.now;
    assert!(second_at - first_at >= Duration::from_millis(500));
    lab.run_until(first_at + Duration::from_millis(30_250) - lab.now, |_| false);
    let stats = lab.engine.l4().l7_stats();
    assert_eq!((stats.head_timeouts, stats.retransmits), (0, 0));
    assert_eq!(lab.client.socket(second).state(), State::Established);
    // The second connection's own deadline holds.
    lab.run_until(second_at + Duration::from_millis(30_250) - lab.now, |_| false);
    assert_eq!(lab.engine.l4().l7_stats().head_timeouts, 1);
}
