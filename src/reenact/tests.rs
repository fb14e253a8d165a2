//! Re-enactments of captures written here, frame by frame, so that each outcome is known in
//! advance: the rules and cookies reported, verdicts with their offsets, captures taken at a
//! server, out-of-order and lost segments, L4 ports, bad input, a long download in bounded
//! memory, the pcapng output and the diff of two reports.

mod script;

use std::path::{Path, PathBuf};

use script::{http_response, Script};

use super::report::{Cookie, Report, Verdict};
use super::vipmap::VipMap;
use super::*;

fn config(text_changes: &[(&str, &str)]) -> Config {
    let mut text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/two-arm.toml")).unwrap();
    for (from, to) in text_changes {
        assert!(text.contains(from), "two-arm.toml has no `{from}`");
        text = text.replace(from, to);
    }
    Config::parse(&text).unwrap()
}

/// A file of its own for each test's capture.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stickwire-reenact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn map(entries: &[&str]) -> VipMap {
    VipMap::new(entries.iter().map(|e| e.parse().unwrap()).collect())
}

fn run_with(config: &Config, name: &str, capture: &[u8], entries: &[&str], fast: bool) -> Report {
    let path = temp(name);
    std::fs::write(&path, capture).unwrap();
    let mut options = Options::new(&path, map(entries));
    options.fast = fast;
    reenact(config, Path::new("test.toml"), &options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(name: &str, capture: &[u8]) -> Report {
    run_with(&config(&[]), name, capture, &["*:80=198.18.0.100:80"], false)
}

fn verdicts(report: &Report) -> Vec<String> {
    report.connections.iter().map(|c| c.verdict.to_string()).collect()
}

fn servers(report: &Report) -> Vec<String> {
    report.connections.iter().map(|c| c.real_server.as_ref().map_or("-".into(), |s| s.name.clone())).collect()
}

fn get(cookie: &str) -> Vec<u8> {
    format!("GET /index.html HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8.0\r\n{cookie}\r\n").into_bytes()
}

#[test]
fn a_server_id_cookie_chooses_its_server_and_the_report_names_rule_cookie_and_value() {
    let mut s = Script::new("10.1.0.5:40000", "10.9.0.1:80");
    s.exchange(&get("Cookie: lang=en; ServerID=rs2\r\n"), &http_response(200, "", 3000));
    s.close();
    let report = run("server-id.pcap", &s.pcap());
    let c = &report.connections[0];
    assert_eq!(c.verdict, Verdict::Intact, "{c:?}");
    assert_eq!(servers(&report), ["rs2"]);
    assert_eq!(c.rule.as_deref(), Some("server-id-cookie"));
    let cookie = Cookie { name: "ServerID".into(), value: "rs2".into(), source: "cookie".into() };
    assert_eq!(c.cookie.as_ref(), Some(&cookie));
    assert_eq!((c.bytes, c.delivered), (c.bytes, c.bytes));
    assert_eq!(c.bytes.client_to_server, get("Cookie: lang=en; ServerID=rs2\r\n").len() as u64);
    assert_eq!(
        (c.client.as_str(), c.server.as_str(), c.vip.as_str()),
        ("10.1.0.5:40000", "10.9.0.1:80", "198.18.0.100:80")
    );
    assert_eq!(c.reenacted_client, "10.1.0.5:40000", "reached through the gateway the re-enactment adds");
    assert_eq!((report.summary.judged, report.summary.intact), (1, 1));
    assert!(report.summary.all_intact());
}

#[test]
fn a_session_id_in_the_path_is_reported_as_read_from_the_path() {
    let mut s = Script::new("10.1.0.5:40001", "10.9.0.1:80");
    let request = b"GET /cart;jsessionid=5F3A9C0D.node3?x=1 HTTP/1.1\r\nHost: shop.example\r\n\r\n";
    s.exchange(request, &http_response(200, "", 100));
    s.close();
    let report = run("jvm-route-path.pcap", &s.pcap());
    let c = &report.connections[0];
    assert_eq!((c.verdict.clone(), servers(&report)), (Verdict::Intact, vec!["rs3".to_string()]));
    assert_eq!(c.rule.as_deref(), Some("jvm-route"));
    let cookie = Cookie { name: "JSESSIONID".into(), value: "5F3A9C0D.node3".into(), source: "path".into() };
    assert_eq!(c.cookie.as_ref(), Some(&cookie));
}

#[test]
fn a_cookie_a_server_set_is_learned_and_brings_another_client_back_to_it() {
    let mut first = Script::new("10.1.0.5:40002", "10.9.0.1:80");
    first.exchange(&get(""), &http_response(200, "Set-Cookie: SID=a1b2c3; Path=/\r\n", 10));
    first.close();
    // Round robin would send the next two elsewhere: the second brings the cookie back.
    let mut capture = first.frames();
    for (i, cookie) in ["", "Cookie: SID=a1b2c3\r\n"].iter().enumerate() {
        let mut s = Script::new(&format!("10.1.0.{}:4100{i}", 6 + i), "10.9.0.1:80");
        s.at(first.time_ms() + 10 * (i as u64 + 1));
        s.exchange(&get(cookie), &http_response(200, "", 10));
        s.close();
        capture.extend(s.frames());
    }
    let report = run("learned.pcap", &script::pcap(&capture));
    assert_eq!(verdicts(&report), ["intact", "intact", "intact"]);
    assert_eq!(servers(&report), ["rs1", "rs2", "rs1"]);
    let rules: Vec<_> = report.connections.iter().map(|c| c.rule.clone().unwrap_or_default()).collect();
    assert_eq!(rules, ["predictor", "predictor", "learned-cookie"]);
    assert_eq!(report.connections[2].cookie.as_ref().map(|c| c.value.as_str()), Some("a1b2c3"));
    assert_eq!(report.switch.l7.get("cookies-learned"), Some(&1));
}

#[test]
fn a_head_over_the_limit_is_reset_and_the_report_says_where_the_client_stream_stopped() {
    let config = config(&[("port = 80\nmode = \"l7\"", "port = 80\nmode = \"l7\"\nhead_limit = 512")]);
    let mut s = Script::new("10.1.0.5:40010", "10.9.0.1:80");
    let long = format!("Cookie: tracking={}\r\n", "x".repeat(900));
    s.exchange(&get(&long), &http_response(200, "", 100));
    s.close();
    let report = run_with(&config, "head-limit.pcap", &s.pcap(), &["*:80=198.18.0.100:80"], false);
    let c = &report.connections[0];
    let reset = Verdict::Reset { reset_to: "client".into(), direction: Some("client->server".into()), offset: Some(0) };
    assert_eq!(c.verdict, reset, "{c:?}");
    assert_eq!(c.real_server, None);
    assert!(c.notes.iter().any(|n| n.contains("head-too-large 1")), "{:?}", c.notes);
    assert!(!report.summary.all_intact());
    // Without the limit, the same capture goes through.
    assert_eq!(verdicts(&run("head-limit-default.pcap", &s.pcap())), ["intact"]);
}

#[test]
fn an_inserted_cookie_is_an_alteration_at_the_end_of_the_status_line() {
    let mut s = Script::new("10.1.0.5:40020", "10.9.0.1:8080");
    s.exchange(&get(""), &http_response(200, "", 50));
    s.close();
    let report = run_with(&config(&[]), "insert.pcap", &s.pcap(), &["*:8080=198.18.0.100:8080"], false);
    let c = &report.connections[0];
    // "HTTP/1.1 200 OK\r\n" is 17 bytes: the switch's Set-Cookie line goes right after.
    assert_eq!(c.verdict, Verdict::Altered { direction: "server->client".into(), offset: 17 });
    assert_eq!(c.delivered.server_to_client, 17);
    assert_eq!(c.delivered.client_to_server, c.bytes.client_to_server);
    assert_eq!(report.switch.l7.get("cookies-inserted"), Some(&1));
}

#[test]
fn an_l4_port_passes_the_servers_numbers_and_names_stickiness() {
    let mut capture = Vec::new();
    for i in 0..3u64 {
        let mut s = Script::new(&format!("10.1.0.5:4003{i}"), "10.9.0.1:81");
        s.at(i * 100);
        s.exchange(&get(""), &http_response(200, "", 2000));
        s.close();
        capture.extend(s.frames());
    }
    let report = run_with(&config(&[]), "l4.pcap", &script::pcap(&capture), &["*:81=198.18.0.100:81"], false);
    assert_eq!(verdicts(&report), ["intact", "intact", "intact"]);
    let rules: Vec<_> = report.connections.iter().map(|c| c.rule.clone().unwrap_or_default()).collect();
    assert_eq!(rules, ["predictor", "sticky", "sticky"]);
    let s = servers(&report);
    assert!(s.iter().all(|x| *x == s[0]), "{s:?}");
}

#[test]
fn a_capture_taken_at_a_server_plays_its_client_from_a_stand_in_address() {
    // tcpdump on a real server behind the switch: the client is the switch's own address.
    let mut s = Script::new("198.18.1.1:1024", "198.18.1.10:80");
    s.exchange(&get("Cookie: ServerID=rs3\r\n"), &http_response(200, "", 500));
    s.close();
    let report = run("at-server.pcap", &s.pcap());
    let c = &report.connections[0];
    assert_eq!((c.verdict.clone(), servers(&report)), (Verdict::Intact, vec!["rs3".to_string()]));
    assert_eq!(c.reenacted_client, "198.18.0.2:1024");
    assert!(c.notes[0].contains("the switch owns that address"), "{:?}", c.notes);
}

#[test]
fn out_of_order_retransmitted_and_overlapping_segments_arrive_intact() {
    let mut s = Script::new("10.1.0.5:40040", "10.9.0.1:80");
    s.handshake();
    let request = get("Cookie: ServerID=rs1\r\n");
    s.client_sends(&request);
    s.server_acks();
    let response = http_response(200, "", 6000);
    // Segments 2 and 1 swapped, segment 3 sent twice, then the rest.
    let seg: Vec<&[u8]> = response.chunks(1400).collect();
    s.server_sends_at(1400, seg[1]);
    s.server_sends_at(0, seg[0]);
    s.server_sends_at(2800, seg[2]);
    s.server_sends_at(2800, seg[2]);
    s.server_sends_at(2100, &response[2100..4200]);
    s.server_sends_at(4200, &response[4200..]);
    s.client_acks();
    s.close();
    let report = run("ooo.pcap", &s.pcap());
    assert_eq!(verdicts(&report), ["intact"]);
    assert_eq!(report.connections[0].delivered.server_to_client, response.len() as u64);
}

#[test]
fn the_fast_clock_gives_the_same_servers_and_verdicts() {
    let mut capture = Vec::new();
    for i in 0..4u64 {
        let mut s = Script::new(&format!("10.1.0.{}:4005{i}", 5 + i), "10.9.0.1:80");
        // Seconds apart: the capture's clock moves, the fast one does not.
        s.at(i * 5000);
        s.exchange(&get(""), &http_response(200, "", 700));
        s.close();
        capture.extend(s.frames());
    }
    let capture = script::pcap(&capture);
    let slow = run_with(&config(&[]), "clock.pcap", &capture, &["*:80=198.18.0.100:80"], false);
    let fast = run_with(&config(&[]), "clock-fast.pcap", &capture, &["*:80=198.18.0.100:80"], true);
    assert_eq!((verdicts(&slow), servers(&slow)), (verdicts(&fast), servers(&fast)));
    assert_eq!(verdicts(&fast), ["intact"; 4]);
    assert!(fast.play.duration_ms < slow.play.duration_ms, "{} {}", fast.play.duration_ms, slow.play.duration_ms);
    assert_eq!((slow.clock.as_str(), fast.clock.as_str()), ("capture", "fast"));
}

#[test]
fn a_long_download_streams_through_in_bounded_memory() {
    let mut s = Script::new("10.1.0.5:40060", "10.9.0.1:80");
    s.handshake();
    s.client_sends(&get(""));
    s.server_acks();
    // 48 MiB, acknowledged every 64 KiB as a receiver would.
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 50331648\r\n\r\n".to_vec();
    s.server_sends(&head);
    let block: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..768 {
        s.server_sends(&block);
        s.client_acks();
    }
    s.close();
    let report = run("download.pcap", &s.pcap());
    let c = &report.connections[0];
    assert_eq!(c.verdict, Verdict::Intact, "{c:?}");
    assert_eq!(c.delivered.server_to_client, (head.len() + 768 * block.len()) as u64);
    // What the sides held at once stayed near one acknowledgement's worth, not the stream.
    assert!(report.play.peak_held_bytes < 512 * 1024, "peak {}", report.play.peak_held_bytes);
}

#[test]
fn a_capture_without_a_handshake_or_cut_short_by_the_snap_length_cannot_be_judged() {
    let mut s = Script::new("10.1.0.5:40070", "10.9.0.1:80");
    s.exchange(&get(""), &http_response(200, "", 2000));
    s.close();
    // Without its first three frames (SYN, SYN-ACK, ACK).
    let frames = s.frames();
    let report = run("no-handshake.pcap", &script::pcap(&frames[3..]));
    let reason = "no handshake: the client's SYN is not in the capture";
    assert_eq!(report.connections[0].verdict, Verdict::IncompleteCapture { reason: reason.into() });
    assert!(report.summary.all_intact(), "nothing judged, nothing broken");
    // Every frame cut to 100 bytes: the request (frame 4) is cut.
    let report = run("snap.pcap", &script::pcap_cut(&frames, 100));
    let Verdict::IncompleteCapture { reason } = &report.connections[0].verdict else { panic!("{report:?}") };
    assert!(reason.contains("client->server: frame 4 cut by the snap length"), "{reason}");
    assert!(report.capture.notes.iter().any(|n| n.contains("captured shorter than on the wire")));
}

#[test]
fn a_truncated_capture_is_played_up_to_the_damage_and_said_so() {
    let mut s = Script::new("10.1.0.5:40080", "10.9.0.1:80");
    s.exchange(&get(""), &http_response(200, "", 3000));
    s.close();
    let bytes = s.pcap();
    // Cut in the middle of the response's second segment.
    let report = run("truncated.pcap", &bytes[..bytes.len() - 700]);
    assert!(report.capture.notes.iter().any(|n| n.starts_with("capture damaged")), "{:?}", report.capture.notes);
    // What the capture holds arrived; the capture just ends.
    assert_eq!(verdicts(&report), ["intact"]);
}

#[test]
fn bad_files_are_errors_that_name_the_file_and_the_fault() {
    let config = config(&[]);
    let err = |name: &str, bytes: &[u8]| {
        let path = temp(name);
        std::fs::write(&path, bytes).unwrap();
        reenact(&config, Path::new("t.toml"), &Options::new(&path, map(&["*:80=198.18.0.100:80"])))
            .unwrap_err()
            .to_string()
    };
    assert!(err("empty.pcap", b"").contains("empty.pcap"), "{}", err("empty.pcap", b""));
    assert!(err("text.pcap", b"GET / HTTP/1.1\r\n\r\n").contains("not a pcap or pcapng capture"));
    let mut usb = script::pcap(&[]);
    usb[20..24].copy_from_slice(&189u32.to_le_bytes()); // LINKTYPE_USB_LINUX
    assert!(err("usb.pcap", &usb).contains("link type 189"), "{}", err("usb.pcap", &usb));
    let missing =
        reenact(&config, Path::new("t.toml"), &Options::new(&temp("absent.pcap"), map(&["*:80=198.18.0.100:80"])));
    assert!(missing.unwrap_err().to_string().contains("absent.pcap"));
    let none = reenact(&config, Path::new("t.toml"), &Options::new(&temp("absent.pcap"), VipMap::default()));
    assert!(none.unwrap_err().to_string().contains("no --vip-map"));
}

#[test]
fn traffic_other_than_mapped_tcp_is_counted_not_played() {
    let mut s = Script::new("10.1.0.5:40090", "10.9.0.1:443");
    s.exchange(b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03\x00\x02ok");
    s.close();
    let mut frames = s.frames();
    frames.push(script::udp_frame(99));
    let report = run("other.pcap", &script::pcap(&frames));
    assert!(report.connections.is_empty());
    assert_eq!(report.unmapped.len(), 1);
    assert_eq!((report.unmapped[0].server.as_str(), report.unmapped[0].conversations), ("10.9.0.1:443", 1));
    assert!(report.capture.notes.iter().any(|n| n == "1 IPv4 packets other than TCP"), "{:?}", report.capture.notes);
    // Mapped too, TLS goes through the L7 port unread (not HTTP: the predictor decides).
    let report = run_with(&config(&[]), "tls.pcap", &s.pcap(), &["*:443=198.18.0.100:80"], false);
    assert_eq!(verdicts(&report), ["intact"]);
    assert_eq!(report.switch.l7.get("not-http"), Some(&1));
}

#[test]
fn the_pcapng_output_has_an_interface_per_port_and_both_directions() {
    use pcap_file::pcapng::{Block, PcapNgReader};
    let mut s = Script::new("10.1.0.5:40100", "10.9.0.1:80");
    s.exchange(&get(""), &http_response(200, "", 100));
    s.close();
    let path = temp("out-in.pcap");
    std::fs::write(&path, s.pcap()).unwrap();
    let out = temp("out.pcapng");
    let mut options = Options::new(&path, map(&["*:80=198.18.0.100:80"]));
    options.out = Some(out.clone());
    let report = reenact(&config(&[]), Path::new("t.toml"), &options).unwrap();
    let mut reader = PcapNgReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let (mut names, mut per_way) = (Vec::new(), [[0u64; 2]; 2]);
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(idb) => names.push(format!("{:?}", idb.options)),
            Block::EnhancedPacket(epb) => {
                let way = epb.options.iter().find_map(|o| match o {
                    pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Flags(f) => Some(*f as usize),
                    _ => None,
                });
                per_way[epb.interface_id as usize][way.unwrap() - 1] += 1;
            }
            _ => {}
        }
    }
    assert_eq!(names.len(), 2);
    assert!(names[0].contains("\"client\"") && names[1].contains("\"server\""), "{names:?}");
    assert!(per_way.iter().all(|w| w[0] > 0 && w[1] > 0), "{per_way:?}");
    let total: u64 = per_way.iter().flatten().sum();
    assert_eq!(total, report.play.frames_to_switch + report.play.frames_from_switch);
}

#[test]
fn the_diff_of_two_reports_lists_the_connections_whose_server_or_verdict_changed() {
    let mut capture = Vec::new();
    for (i, cookie) in ["Cookie: ServerID=rs2\r\n", ""].iter().enumerate() {
        let mut s = Script::new(&format!("10.1.0.5:4011{i}"), "10.9.0.1:80");
        s.at(i as u64 * 100);
        s.exchange(&get(cookie), &http_response(200, "", 100));
        s.close();
        capture.extend(s.frames());
    }
    let capture = script::pcap(&capture);
    let old = run_with(&config(&[]), "diff.pcap", &capture, &["*:80=198.18.0.100:80"], false);
    let same = run_with(&config(&[]), "diff.pcap", &capture, &["*:80=198.18.0.100:80"], false);
    assert_eq!(diff::diff(&old, &same).changes, []);
    // The new config drops the server-id rule: the first connection goes by round robin.
    let new_config = config(&[("[[vip.port.rule]]\nmatch = \"server-id\"\ncookie = \"ServerID\"\n\n", "")]);
    let new = run_with(&new_config, "diff.pcap", &capture, &["*:80=198.18.0.100:80"], false);
    let d = diff::diff(&old, &new);
    assert_eq!(d.changes.len(), 2, "{d}");
    assert_eq!(d.changes[0].real_server, (Some("rs2".into()), Some("rs1".into())));
    assert_eq!(d.changes[0].rule, (Some("server-id-cookie".into()), Some("predictor".into())));
    assert_eq!(d.changes[1].real_server, (Some("rs1".into()), Some("rs2".into())));
    assert!(
        d.to_string().contains("#0 10.1.0.5:40110 -> 10.9.0.1:80: server rs2 (server-id-cookie) -> rs1 (predictor)"),
        "{d}"
    );
    // A report survives JSON.
    assert_eq!(Report::from_json(&old.to_json()).unwrap(), old);
}

#[test]
fn a_connection_idle_past_the_switchs_timeout_stalls_on_the_capture_clock_not_the_fast_one() {
    let mut s = Script::new("10.1.0.5:40120", "10.9.0.1:80");
    let first = get("");
    s.exchange(&first, &http_response(200, "", 100));
    // The same keep-alive connection 20 minutes later: past the 15 minutes an established
    // flow lives idle in the switch.
    s.at(s.time_ms() + 20 * 60 * 1000);
    s.client_sends(&get(""));
    s.server_acks();
    s.server_sends(&http_response(200, "", 100));
    s.client_acks();
    s.close();
    let capture = s.pcap();
    let report = run("idle.pcap", &capture);
    let c = &report.connections[0];
    assert_eq!(c.verdict, Verdict::Stalled { direction: "client->server".into(), offset: first.len() as u64 });
    assert!(c.notes.iter().any(|n| n.contains("tcp-no-flow")), "{:?}", c.notes);
    assert!(c.notes.iter().any(|n| n.starts_with("the client sent 5 segment(s) again")), "{:?}", c.notes);
    let fast = run_with(&config(&[]), "idle-fast.pcap", &capture, &["*:80=198.18.0.100:80"], true);
    assert_eq!(verdicts(&fast), ["intact"]);
}

/// The example's config with small tables, for many runs.
fn small_config() -> Config {
    config(&[
        ("flows = 65536     # per worker", "flows = 1024\nhead_buffers = 16"),
        ("sticky = 65536", "sticky = 1024"),
    ])
}

/// What a capture of three conversations (two mapped) looks like after `damage`.
fn damaged(damage: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frames = Vec::new();
    for (i, port) in [80, 80, 443].iter().enumerate() {
        let mut s = Script::new(&format!("10.1.0.5:4020{i}"), &format!("10.9.0.1:{port}"));
        s.at(i as u64 * 50);
        s.exchange(&get("Cookie: ServerID=rs2\r\n"), &http_response(200, "", 3000));
        s.close();
        frames.extend(s.frames());
    }
    let mut bytes = script::pcap(&frames);
    damage(&mut bytes);
    bytes
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Flipped bytes and cuts anywhere in a capture: a report or an error, never a panic, and
    /// every conversation accounted for once.
    #[test]
    fn damaged_captures_give_a_report_or_an_error(
        flips in proptest::collection::vec((0usize..20_000, proptest::prelude::any::<u8>()), 0..8),
        cut in 0usize..25_000,
    ) {
        let bytes = damaged(|b| {
            for (at, x) in &flips {
                let n = b.len();
                b[at % n] ^= x;
            }
            b.truncate(cut.max(24));
        });
        let options = Options::new(Path::new("damaged.pcap"), map(&["*:80=198.18.0.100:80"]));
        if let Ok(report) = reenact_bytes(&small_config(), &bytes, &options) {
            let unmapped: usize = report.unmapped.iter().map(|u| u.conversations).sum();
            proptest::prop_assert_eq!(
                report.connections.len() + unmapped + report.skipped.len(),
                report.capture.tcp_conversations
            );
            proptest::prop_assert!(report.summary.judged <= report.summary.connections);
        }
    }
}

#[test]
fn the_undamaged_capture_of_the_damage_test_is_intact() {
    let options = Options::new(Path::new("whole.pcap"), map(&["*:80=198.18.0.100:80"]));
    let report = reenact_bytes(&small_config(), &damaged(|_| {}), &options).unwrap();
    assert_eq!(verdicts(&report), ["intact", "intact"]);
    assert_eq!(report.unmapped.len(), 1);
}

#[test]
fn captures_of_any_link_type_the_reader_knows_re_enact_alike() {
    use super::capture::tests::{pcap_of, pcapng_of, to_sll, to_sll2};
    use pcap_file::DataLink;
    let mut frames = Vec::new();
    for (i, cookie) in ["Cookie: ServerID=rs3\r\n", ""].iter().enumerate() {
        let mut s = Script::new(&format!("10.1.0.5:4013{i}"), "10.9.0.1:80");
        s.at(i as u64 * 100);
        s.exchange(&get(cookie), &http_response(200, "", 2500));
        s.close();
        frames.extend(s.frames());
    }
    let ethernet = run("link-ethernet.pcap", &script::pcap(&frames));
    let want = (verdicts(&ethernet), servers(&ethernet));
    assert_eq!(want, (vec!["intact".to_string(); 2], vec!["rs3".to_string(), "rs1".to_string()]));
    let as_link = |f: fn(&[u8]) -> Vec<u8>| frames.iter().map(move |(t, d)| (*t, f(d)));
    let captures = [
        ("sll.pcap", pcap_of(DataLink::LINUX_SLL, as_link(to_sll))),
        ("sll2.pcap", pcap_of(DataLink::LINUX_SLL2, as_link(to_sll2))),
        ("raw.pcap", pcap_of(DataLink::RAW, as_link(|d| d[14..].to_vec()))),
        ("ethernet.pcapng", pcapng_of(DataLink::ETHERNET, frames.clone())),
    ];
    for (name, capture) in captures {
        let report = run(name, &capture);
        assert_eq!((verdicts(&report), servers(&report)), want, "{name}");
    }
}

#[test]
fn a_connection_the_switch_refuses_is_a_reset_with_the_counter_that_says_why() {
    // Room for four connections: closed ones linger (TIME_WAIT) and fill the table.
    let small = config(&[("flows = 65536     # per worker", "flows = 4\nhead_buffers = 4")]);
    let mut capture = Vec::new();
    for i in 0..6u64 {
        let mut s = Script::new(&format!("10.1.0.{}:4014{i}", 5 + i), "10.9.0.1:80");
        s.at(i * 100);
        s.exchange(&get(""), &http_response(200, "", 100));
        s.close();
        capture.extend(s.frames());
    }
    let report = run_with(&small, "full.pcap", &script::pcap(&capture), &["*:80=198.18.0.100:80"], false);
    let v = verdicts(&report);
    assert_eq!(&v[..4], ["intact"; 4]);
    let refused =
        Verdict::Reset { reset_to: "client".into(), direction: Some("client->server".into()), offset: Some(0) };
    assert_eq!(report.connections[4].verdict, refused);
    assert!(
        report.connections[4].notes.iter().any(|n| n.contains("refused-table-full 1")),
        "{:?}",
        report.connections[4].notes
    );
    assert_eq!(report.switch.l4.get("refused-table-full"), Some(&2));
}
