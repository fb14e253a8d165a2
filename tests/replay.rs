//! Capture replay: a recorded capture through the software port gives exactly the expected
//! capture, frame by frame, and the expected counters.

use std::path::{Path, PathBuf};
use std::process::Command;

use stickwire::control::config::Config;
use stickwire::engine::l7::rules::Decided;
use stickwire::engine::l7::L7Stats;
use stickwire::engine::DropReason;
use stickwire::port::pcap::CaptureReader;
use stickwire::replay::{replay, PortFiles, ReplayReport};
use stickwire::wire::{ethernet, ipv4, tcp};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = CaptureReader::open(path).unwrap();
    let frames = reader.read_all().into_iter().map(|f| f.data).collect();
    assert!(reader.damage.is_none(), "{}: {:?}", path.display(), reader.damage);
    frames
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stickwire-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn basic_capture_gives_the_expected_frames_and_counters() {
    let config = Config::load(&root().join("pcaps/basic/switch.toml")).unwrap();
    let out = tmp("basic.pcap");
    let files =
        [PortFiles { port: "lan".into(), input: Some(root().join("pcaps/basic/in.pcap")), output: Some(out.clone()) }];
    let report = replay(&config, &files).unwrap();

    let got = frames(&out);
    let want = frames(&root().join("pcaps/basic/expected.pcap"));
    assert_eq!(got.len(), want.len(), "frame count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {} differs", i + 1);
    }

    let c = &report.counters;
    assert_eq!(c.rx_frames, 20);
    assert_eq!((c.gratuitous_arps_sent, c.arp_replies_sent, c.arp_requests_sent), (2, 3, 1));
    assert_eq!((c.echo_replies_sent, c.resets_sent), (4, 1));
    let drops: Vec<(DropReason, u64)> =
        DropReason::ALL.iter().map(|r| (*r, c.drops(*r))).filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        drops,
        vec![
            (DropReason::Runt, 2),
            (DropReason::NotOurMac, 1),
            (DropReason::Ipv6, 1),
            (DropReason::UnknownEthertype, 1),
            (DropReason::ArpTruncated, 1),
            (DropReason::ArpNotForUs, 1),
            (DropReason::Ipv4Malformed, 2),
            (DropReason::TcpToSwitch, 1),
            (DropReason::UdpNoService, 1),
        ]
    );
    assert_eq!(report.ports[0].1.tx_frames, 11);
}

/// What a user would check in the output with tshark, independent of the stored file.
#[test]
fn basic_capture_answers_are_well_formed() {
    let config = Config::load(&root().join("pcaps/basic/switch.toml")).unwrap();
    let out = tmp("basic-check.pcap");
    let files =
        [PortFiles { port: "lan".into(), input: Some(root().join("pcaps/basic/in.pcap")), output: Some(out.clone()) }];
    replay(&config, &files).unwrap();
    let mut resets = 0;
    for f in frames(&out) {
        let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.src_addr().to_string(), "02:53:57:00:00:01");
        if eth.ethertype() != ethernet::ethertype::IPV4 {
            continue;
        }
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        if ip.protocol() == ipv4::protocol::TCP {
            let seg = tcp::Packet::new_checked(ip.payload()).unwrap();
            assert!(seg.verify_checksum(ip.src_addr(), ip.dst_addr()));
            assert!(seg.rst());
            assert_eq!(seg.src_port(), 8080);
            resets += 1;
        }
    }
    assert_eq!(resets, 1);
}

#[test]
fn replay_is_repeatable_to_the_byte() {
    let config = Config::load(&root().join("pcaps/basic/switch.toml")).unwrap();
    let (a, b) = (tmp("again-a.pcapng"), tmp("again-b.pcapng"));
    for out in [&a, &b] {
        let files = [PortFiles {
            port: "lan".into(),
            input: Some(root().join("pcaps/basic/in.pcap")),
            output: Some(out.clone()),
        }];
        replay(&config, &files).unwrap();
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(frames(&a), frames(&root().join("pcaps/basic/expected.pcap")), "pcapng output holds the same frames");
}

#[test]
fn the_command_line_replays_and_reports() {
    let out = tmp("cli.pcap");
    let result = Command::new(env!("CARGO_BIN_EXE_stickwire"))
        .args(["replay", "--config", "pcaps/basic/switch.toml", "--in", "pcaps/basic/in.pcap", "--out"])
        .arg(&out)
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("echo-replies-sent          4"), "{stdout}");
    assert!(stdout.contains("drop runt                       2"), "{stdout}");
    assert_eq!(frames(&out), frames(&root().join("pcaps/basic/expected.pcap")));
}

#[test]
fn damaged_and_foreign_captures_are_refused_or_read_to_the_damage() {
    let config = Config::load(&root().join("pcaps/basic/switch.toml")).unwrap();
    // Cut the capture in the middle of a frame: everything before the cut is replayed.
    let whole = std::fs::read(root().join("pcaps/basic/in.pcap")).unwrap();
    let cut = tmp("cut.pcap");
    std::fs::write(&cut, &whole[..whole.len() - 50]).unwrap();
    let files = [PortFiles { port: "lan".into(), input: Some(cut.clone()), output: Some(tmp("cut-out.pcap")) }];
    let report = replay(&config, &files).unwrap();
    assert_eq!(report.counters.rx_frames, 19);
    assert_eq!(report.damaged.len(), 1);

    let not_a_capture = tmp("text.pcap");
    std::fs::write(&not_a_capture, "hello, this is not a capture").unwrap();
    let files = [PortFiles { port: "lan".into(), input: Some(not_a_capture), output: None }];
    let err = replay(&config, &files).unwrap_err().to_string();
    assert!(err.contains("not a pcap or pcapng capture"), "{err}");

    let files = [PortFiles { port: "wan".into(), input: None, output: None }];
    assert!(replay(&config, &files).unwrap_err().to_string().contains("no port of that name"));
}

#[test]
fn config_errors_stop_the_start_with_key_and_reason() {
    let bad = tmp("bad.toml");
    std::fs::write(&bad, "[[port]]\nname = \"lan\"\nip = \"198.18.0.1\"\n").unwrap();
    let result = Command::new(env!("CARGO_BIN_EXE_stickwire")).args(["check", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("bad.toml:3: port[0].ip: `198.18.0.1` needs a prefix length"), "{stderr}");
}

#[test]
fn pcapng_input_gives_the_same_output() {
    let config = Config::load(&root().join("pcaps/basic/switch.toml")).unwrap();
    let out = tmp("from-pcapng.pcap");
    let input = root().join("pcaps/basic/in.pcapng");
    let files = [PortFiles { port: "lan".into(), input: Some(input.clone()), output: Some(out.clone()) }];
    replay(&config, &files).unwrap();
    assert_eq!(frames(&input), frames(&root().join("pcaps/basic/in.pcap")));
    assert_eq!(frames(&out), frames(&root().join("pcaps/basic/expected.pcap")));
}

/// Two-armed: the client side's capture in, each port's output recorded on its own.
#[test]
fn each_port_records_what_it_sends() {
    let (client_out, server_out) = (tmp("two-arm-client.pcap"), tmp("two-arm-server.pcap"));
    let result = Command::new(env!("CARGO_BIN_EXE_stickwire"))
        .args(["replay", "--config", "pcaps/basic/two-arm.toml", "--port"])
        .arg(format!("client=pcaps/basic/in.pcap:{}", client_out.display()))
        .arg("--port")
        .arg(format!("server=:{}", server_out.display()))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    // The client side sends what the one-armed switch sent (same MAC, same addresses)...
    assert_eq!(frames(&client_out), frames(&root().join("pcaps/basic/expected.pcap")));
    // ...and the server side only announces the switch's server-side address and its
    // full-NAT local address.
    let announced: Vec<std::net::Ipv4Addr> = frames(&server_out)
        .iter()
        .map(|f| {
            let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
            let arp = stickwire::wire::arp::Packet::new_checked(eth.payload()).unwrap();
            assert_eq!(arp.target_ip_addr(), arp.sender_ip_addr(), "a gratuitous ARP");
            arp.sender_ip_addr()
        })
        .collect();
    assert_eq!(announced, [std::net::Ipv4Addr::new(198, 18, 1, 1), std::net::Ipv4Addr::new(198, 18, 1, 2)]);
}

/// Real curl through the live switch to real nginx (scripts/record-l4.sh): what reached
/// the switch's two arms, replayed, gives exactly what the live switch sent to the client
/// and to the servers, frame for frame (full NAT sticky and round-robin, gateway NAT, ARP).
#[test]
fn recorded_l4_traffic_replays_to_what_the_live_switch_sent() {
    let dir = root().join("pcaps/l4-curl");
    let config = Config::load(&dir.join("switch.toml")).unwrap();
    let (client_out, server_out) = (tmp("l4-client.pcap"), tmp("l4-server.pcap"));
    let files = [
        PortFiles { port: "client".into(), input: Some(dir.join("client-in.pcap")), output: Some(client_out.clone()) },
        PortFiles { port: "server".into(), input: Some(dir.join("server-in.pcap")), output: Some(server_out.clone()) },
    ];
    let report = replay(&config, &files).unwrap();
    assert_eq!(frames(&client_out), frames(&dir.join("client-expected.pcap")));
    assert_eq!(frames(&server_out), frames(&dir.join("server-expected.pcap")));
    assert_eq!(report.l4.flows_created, 7);
    assert_eq!(report.counters.total_drops(), 0);
    // Sticky: the client's two connections to :81 went to one server.
    assert_eq!(report.l4.sticky_hits, 1);
}

/// Replays a recording of the live switch (`client-in.pcap` and `server-in.pcap`: what its
/// two arms received, recorded by the switch itself on its own clock) with the folder's
/// `switch.toml`, and checks that each port sends exactly what the live switch sent
/// (`client-expected.pcap`, `server-expected.pcap`, recorded at the far ends), frame for
/// frame, and that the replay counts what the live switch counted (`live-report.txt`, its
/// report when it stopped).
fn replay_recording(dir: &Path) -> ReplayReport {
    let config = Config::load(&dir.join("switch.toml")).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let outputs = ["client", "server"].map(|side| (side, tmp(&format!("{name}-{side}.pcap"))));
    let files = outputs.clone().map(|(side, out)| PortFiles {
        port: side.into(),
        input: Some(dir.join(format!("{side}-in.pcap"))),
        output: Some(out),
    });
    let report = replay(&config, &files).unwrap();
    for (side, out) in &outputs {
        let want_path = dir.join(format!("{side}-expected.pcap"));
        let (got, want) = (frames(out), frames(&want_path));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{}: frame {} differs", want_path.display(), i + 1);
        }
        assert_eq!(got.len(), want.len(), "{}: frame count", want_path.display());
    }
    // The engine's counters, the VIP ports', the servers' and the L7 ports' print the same
    // way from `run` and from `replay`: from `engine counters:` on, the reports are equal
    // (but for the table's gauges, which say when the report was taken: the live switch ran
    // on after its last frame).
    let live = std::fs::read_to_string(dir.join("live-report.txt")).unwrap();
    let replayed = report.to_string();
    let from_counters = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.starts_with("engine counters:"))
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with("flows in table"))
            .collect()
    };
    let live = from_counters(&live);
    assert!(live.len() > 10, "{}: no counters in live-report.txt", dir.display());
    assert_eq!(from_counters(&replayed), live, "{}: the replay counts otherwise than the live switch", dir.display());
    report
}

fn decided(l7: &L7Stats, by: Decided) -> u64 {
    l7.decided[by as usize]
}

/// Real curl and wrk through the live switch's L7 ports to real nginx (scripts/record-l7.sh
/// curl), replayed: exactly what the live switch sent, both ways. Port 80: a `ServerID`
/// cookie (rs2), a JSESSIONID ending in `.node3` (rs3), no cookie (round robin), `/sid`
/// (nginx sets `SID`, the switch learns it) then that SID from another address; port 8080:
/// the switch inserts `ServerID` into the first response and the next request brings it
/// back; two requests on one keep-alive connection; then wrk on four keep-alive connections
/// for a second (76 requests, each connection paced to one per 50 ms). The switch's ISNs and timestamps come from its clock, which
/// the recorded captures carry (`run --record-rx`).
///
/// wrk first opens a connection and closes it without a request (its connectivity probe):
/// the switch never answers that FIN (a FIN before the request head is only acknowledged
/// as far as the head goes), so the capture holds the client's four retransmissions of it.
/// The expected output is the live switch's, this silence included.
#[test]
fn recorded_l7_traffic_replays_to_what_the_live_switch_sent() {
    let report = replay_recording(&root().join("pcaps/l7-curl"));
    let l7 = &report.l4.l7;
    assert_eq!(report.counters.total_drops(), 0);
    // 13 connections (12 requests' and wrk's probe); 12 heads read, 12 spliced.
    assert_eq!((l7.syn_acks, l7.handshakes, l7.heads, l7.spliced), (13, 13, 12, 12));
    assert_eq!(decided(l7, Decided::ServerIdCookie), 2, "ServerID=rs2, and ServerID=rs1 on the keep-alive connection");
    assert_eq!(decided(l7, Decided::JvmRoute), 1);
    assert_eq!(decided(l7, Decided::LearnedCookie), 1);
    assert_eq!(decided(l7, Decided::InsertedCookie), 1);
    assert_eq!(decided(l7, Decided::Predictor), 7, "no cookie, /sid, :8080's first, wrk's four");
    assert_eq!((l7.cookies_inserted, l7.cookies_learned), (1, 1));
    assert_eq!((l7.syn_cookies_sent, l7.retransmits, l7.head_timeouts, l7.not_http), (0, 0, 0, 0));
    assert_eq!(report.l4.servers.iter().map(|s| s.total).collect::<Vec<_>>(), [5, 4, 3]);
}

/// Real curl through the live switch's port 80 to three real Tomcat nodes (scripts/record-l7.sh
/// tomcat), replayed: exactly what the live switch sent. A client without a session goes
/// by round robin and gets a JSESSIONID ending in its node's jvmRoute; its next request
/// comes back to that node by the cookie; a second client likewise, its second request
/// naming the session in the path (`;jsessionid=`); then two requests on one keep-alive
/// connection with the first client's cookie.
#[test]
fn recorded_tomcat_sessions_replay_to_what_the_live_switch_sent() {
    let report = replay_recording(&root().join("pcaps/l7-tomcat"));
    let l7 = &report.l4.l7;
    assert_eq!(report.counters.total_drops(), 0);
    assert_eq!((l7.syn_acks, l7.handshakes, l7.heads, l7.spliced), (5, 5, 5, 5));
    assert_eq!(decided(l7, Decided::Predictor), 2);
    assert_eq!(decided(l7, Decided::JvmRoute), 3, "a cookie twice, the path once");
    assert_eq!((l7.cookies_inserted, l7.cookies_learned, l7.retransmits), (0, 0, 0));
}

/// A small spoofed SYN flood and blind RSTs through the live switch (scripts/record-l7.sh
/// flood), replayed: exactly what the live switch sent. 1500 spoofed SYNs at :81 (L4) from
/// 20 sources pass to the servers until 64 flows are half-open, then are answered with SYN
/// cookies, and a real client then comes through on a proven cookie (the switch opens the
/// server side only then); 1500 more at :80 (L7), and a real client likewise. The cookie
/// answers to spoofed sources wait for ARP that never comes and are never sent;
/// once a source's queue is full (16 answers) or its ARP has failed, its SYNs are dropped
/// before any cookie is built.
/// Then a live keep-alive connection through :81: 20 RSTs with its tuple and sequence
/// numbers far from its window and a SYN on it are dropped and it carries a second
/// request; an RST with its next sequence number ends it (the server is told).
#[test]
fn recorded_flood_and_blind_rsts_replay_to_what_the_live_switch_sent() {
    let report = replay_recording(&root().join("pcaps/flood"));
    let (c, l7) = (&report.counters, &report.l4.l7);
    assert_eq!(c.drops(DropReason::RstOutOfWindow), 20);
    assert_eq!(l7.syn_cookies_accepted, 3, "the L4 client, the L7 client and the keep-alive connection");
    assert_eq!(l7.proxied, 2, "both :81 connections after the threshold");
    assert!(l7.syn_cookies_sent < 400, "only answers that could wait for ARP: {}", l7.syn_cookies_sent);
    assert!(c.drops(DropReason::NeighbourQueueFull) + c.drops(DropReason::NeighbourFailed) > 2700);
    assert_eq!(report.l4.half_open, 64, "the spoofed flows before the threshold, and no more");
    assert_eq!(c.resets_sent, 0, "nothing the spoofed sources sent was answered with an RST");
}

/// The health checks of examples/two-arm.toml (HTTP GET / every second, fall 2, rise 2)
/// against real nginx through the live switch, with curl at :80 (scripts/record-l7.sh
/// health), replayed: exactly what the live switch sent, its checkers' conversations
/// included (`replay` hosts them as `run` does, on the capture's clock). Round robin gives
/// rs1, rs2, rs3 and a `ServerID=rs3` cookie rs3; then rs3's nginx is stopped: its checks
/// are refused and it goes down; round robin gives rs1 and rs2 only, and the `ServerID=rs3`
/// cookie and a `.node3` session go by the predictor (rs3 has no buddy in its domain, so
/// rs1 then rs2); started again, rs3 comes back up after two passes, and the cookie and the
/// session naming it reach it again (then `ServerID=rs1`). The replay's report, with the
/// health checks per server, is the live switch's.
#[test]
fn recorded_health_checks_replay_to_what_the_live_switch_sent() {
    let dir = root().join("pcaps/health");
    let report = replay_recording(&dir);
    assert_eq!(report.counters.total_drops(), 0);
    let h = &report.health;
    assert_eq!(h.servers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["rs1", "rs2", "rs3"]);
    for name in ["rs1", "rs2"] {
        let s = h.server(name).unwrap();
        assert!(s.up && s.checks >= 5 && s.failed == 0 && s.passed == s.checks, "{name}: {s:?}");
        assert_eq!((s.downs, s.ups), (0, 0), "{name}");
    }
    let rs3 = h.server("rs3").unwrap();
    assert!(rs3.up, "{rs3:?}");
    assert_eq!((rs3.downs, rs3.ups), (1, 1), "rs3 went down once and came back up once");
    assert_eq!(rs3.failed, 2, "fall 2: down at its second refused check, started again at once");
    assert_eq!(rs3.passed + rs3.failed, rs3.checks);
    assert_eq!(rs3.reason, "HTTP 200");
    let text = report.to_string();
    assert!(text.contains("went down 1 came up 1; last: HTTP 200"), "{text}");

    let l7 = &report.l4.l7;
    assert_eq!((l7.handshakes, l7.spliced), (11, 11));
    assert_eq!(decided(l7, Decided::ServerIdCookie), 3, "ServerID=rs3 before and after, ServerID=rs1");
    assert_eq!(decided(l7, Decided::JvmRoute), 1, "the .node3 session once rs3 is back");
    assert_eq!(
        decided(l7, Decided::Predictor),
        7,
        "round robin five times, the rs3 cookie and session while it is down"
    );
    assert_eq!(report.l4.servers.iter().map(|s| s.total).collect::<Vec<_>>(), [4, 3, 4]);

    // The checkers' SYNs (from the switch's server-side address, on the ports kept for
    // them), in the live switch's output: one per check, to each server.
    let mut syns = [0u64; 3];
    for f in frames(&dir.join("server-expected.pcap")) {
        let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
        let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else { continue };
        let Ok(seg) = tcp::Packet::new_checked(ip.payload()) else { continue };
        if seg.syn() && !seg.ack() && seg.src_port() >= 64512 {
            syns[usize::from(ip.dst_addr().octets()[3] - 10)] += 1;
        }
    }
    let checks = h.servers.iter().map(|(_, s)| s.checks).collect::<Vec<_>>();
    assert_eq!(syns.to_vec(), checks, "a SYN per check");
}
