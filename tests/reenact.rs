//! `stickwire reenact` on real captures: the shared corpus (client <-> server traffic nobody
//! here wrote, `pcaps/corpus/`) and conversations recorded in the reference topology at a
//! client and at a server (`pcaps/reenact-*/`), through the L7 port of
//! `examples/two-arm.toml`. Every outcome is locked; tshark, not our own reader, confirms
//! that the streams each side received are the capture's.

use std::path::{Path, PathBuf};
use std::process::Command;

use stickwire::control::config::Config;
use stickwire::reenact::report::{Report, Verdict};
use stickwire::reenact::vipmap::VipMap;
use stickwire::reenact::{reenact, Options};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stickwire-reenact-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn two_arm() -> Config {
    Config::load(&root().join("examples/two-arm.toml")).unwrap()
}

/// HTTP to the L7 port; TLS too (read as not HTTP, spliced by round robin).
const MAP: [&str; 2] = ["*:80=198.18.0.100:80", "*:443=198.18.0.100:80"];

fn reenact_file(capture: &Path, out: Option<PathBuf>) -> Report {
    let map = VipMap::new(MAP.iter().map(|m| m.parse().unwrap()).collect());
    let mut options = Options::new(capture, map);
    options.out = out;
    reenact(&two_arm(), Path::new("examples/two-arm.toml"), &options)
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()))
}

/// (conversation, client, server, verdict as printed, real server, rule).
type Row = (u32, &'static str, &'static str, &'static str, &'static str, &'static str);

fn rows(report: &Report) -> Vec<(u32, String, String, String, String, String)> {
    report
        .connections
        .iter()
        .map(|c| {
            let server = c.real_server.as_ref().map_or("-".into(), |s| s.name.clone());
            (
                c.conversation,
                c.client.clone(),
                c.server.clone(),
                c.verdict.to_string(),
                server,
                c.rule.clone().unwrap_or("-".into()),
            )
        })
        .collect()
}

fn owned(rows: &[Row]) -> Vec<(u32, String, String, String, String, String)> {
    rows.iter().map(|r| (r.0, r.1.into(), r.2.into(), r.3.into(), r.4.into(), r.5.into())).collect()
}

const CORPUS: [(&str, &[Row]); 5] = [
    (
        "http-dvwa-login.pcapng",
        &[
            (0, "10.2.2.101:58783", "10.2.2.104:80", "intact", "rs1", "predictor"),
            (1, "10.2.2.101:58785", "10.2.2.104:80", "intact", "rs2", "predictor"),
        ],
    ),
    // JSESSIONID and JSESSIONIDSSO: neither ends in a jvmRoute of the config's servers.
    ("suricata-jsessionid-sso.pcap", &[(0, "10.100.0.8:44270", "162.2.41.200:80", "intact", "rs1", "predictor")]),
    (
        "suricata-ooo-retrans-cookie.pcap",
        &[(
            0,
            "10.3.11.101:49309",
            "174.56.47.59:80",
            "incomplete-capture (server->client: 1288 bytes never captured at stream offset 35576 (2 holes))",
            "rs1",
            "predictor",
        )],
    ),
    (
        "tcpreplay-test.pcap",
        &[
            (
                0,
                "172.16.11.12:64565",
                "74.125.19.17:443",
                "incomplete-capture (no handshake: the client's SYN is not in the capture)",
                "-",
                "-",
            ),
            (1, "172.16.11.12:64581", "216.34.181.45:80", "intact", "rs1", "predictor"),
            (2, "172.16.11.12:64582", "96.17.211.172:80", "intact", "rs2", "predictor"),
            (3, "172.16.11.12:64583", "96.17.211.172:80", "intact", "rs3", "predictor"),
            (4, "172.16.11.12:64584", "96.17.211.172:80", "intact", "rs1", "predictor"),
            (5, "172.16.11.12:64585", "96.17.211.172:80", "intact", "rs2", "predictor"),
        ],
    ),
    ("zeek-pipelined-requests.pcap", &[(0, "192.168.1.104:1673", "63.245.209.11:80", "intact", "rs1", "predictor")]),
];

#[test]
fn every_corpus_conversation_is_intact_or_incomplete_with_its_reason() {
    for (file, want) in CORPUS {
        let report = reenact_file(&root().join("pcaps/corpus").join(file), None);
        assert_eq!(rows(&report), owned(want), "{file}");
        assert_eq!(report.play.bad_frames, 0, "{file}");
        assert!(report.summary.all_intact(), "{file}: judged and not intact");
    }
}

#[test]
fn zeeks_49_connections_of_odd_methods_are_all_intact() {
    let report = reenact_file(&root().join("pcaps/corpus/zeek-http-methods.pcap"), None);
    let s = &report.summary;
    assert_eq!((s.connections, s.intact), (49, 49));
    assert_eq!(s.by_server.values().copied().collect::<Vec<_>>(), [17, 16, 16]);
    // `GET/ HTTP/1.1`, `OPTIONS\r\n`, ...: 40 requests httparse refuses go by round robin
    // unread, as the switch does with anything that is not HTTP.
    assert_eq!((report.switch.l7.get("heads"), report.switch.l7.get("not-http")), (Some(&9), Some(&40)));
}

/// The bytes of every TCP stream of a capture, as tshark follows them (hex, both ways).
fn tshark_streams(capture: &Path, filter: &str) -> Vec<String> {
    let filtered = tmp(&format!("{}-{}.pcapng", capture.file_name().unwrap().to_string_lossy(), filter.len()));
    let status = Command::new("tshark")
        .args(["-r", capture.to_str().unwrap(), "-Y", filter, "-w", filtered.to_str().unwrap()])
        .output()
        .expect("tshark (scripts/install-deps.sh installs it)");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let count = Command::new("tshark")
        .args(["-r", filtered.to_str().unwrap(), "-T", "fields", "-e", "tcp.stream"])
        .output()
        .unwrap();
    let n = String::from_utf8_lossy(&count.stdout).lines().filter_map(|l| l.trim().parse::<u32>().ok()).max();
    (0..=n.unwrap_or(0))
        .map(|i| {
            let out = Command::new("tshark")
                .args(["-r", filtered.to_str().unwrap(), "-qz", &format!("follow,tcp,raw,{i}")])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| {
                    !l.starts_with('=')
                        && !l.starts_with("Follow")
                        && !l.starts_with("Filter")
                        && !l.starts_with("Node")
                })
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

#[test]
fn what_each_side_received_is_the_capture_as_tshark_follows_it() {
    for file in ["zeek-pipelined-requests.pcap", "http-dvwa-login.pcapng"] {
        let capture = root().join("pcaps/corpus").join(file);
        let out = tmp(&format!("{file}.out.pcapng"));
        let report = reenact_file(&capture, Some(out.clone()));
        assert!(report.connections.iter().all(|c| c.verdict == Verdict::Intact), "{file}");
        let original = tshark_streams(&capture, "tcp");
        // The clients' side: client <-> VIP; the servers' side: the switch <-> rs1..rs3.
        let at_clients = tshark_streams(&out, "ip.addr == 198.18.0.100");
        let at_servers = tshark_streams(&out, "ip.addr == 198.18.1.0/24");
        assert_eq!(at_clients, original, "{file}: the clients' side");
        // tshark numbers streams in the order their first frames come: the same order here.
        assert_eq!(at_servers, original, "{file}: the servers' side");
    }
}

#[test]
fn the_command_exits_1_on_a_broken_conversation_and_diff_lists_what_changed() {
    let bin = env!("CARGO_BIN_EXE_stickwire");
    let capture = root().join("pcaps/corpus/http-dvwa-login.pcapng");
    let small = tmp("small-head.toml");
    let text = std::fs::read_to_string(root().join("examples/two-arm.toml")).unwrap();
    std::fs::write(&small, text.replace("port = 80\nmode = \"l7\"", "port = 80\nmode = \"l7\"\nhead_limit = 400"))
        .unwrap();
    let run = |config: &Path, report: &Path| {
        Command::new(bin)
            .args(["reenact", "--config", config.to_str().unwrap(), "--capture", capture.to_str().unwrap()])
            .args(["--vip-map", MAP[0], "--report", report.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let (a, b) = (tmp("a.json"), tmp("b.json"));
    let good = run(&root().join("examples/two-arm.toml"), &a);
    assert_eq!(good.status.code(), Some(0), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("2 connections: 2 intact"));
    let bad = run(&small, &b);
    assert_eq!(bad.status.code(), Some(1), "{}", String::from_utf8_lossy(&bad.stderr));
    let stdout = String::from_utf8_lossy(&bad.stdout);
    // The first connection's first head (393 bytes) fits in 400, the second's (444) does not.
    assert!(stdout.contains("#1 10.2.2.101:58785 -> 10.2.2.104:80 (no server): reset (the client got the switch's RST; client->server stopped at byte 0)"), "{stdout}");
    assert!(stdout.contains("2 connections: 1 intact, 0 altered, 1 reset"), "{stdout}");
    // The report is JSON a script can read.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    assert_eq!(report["connections"][1]["verdict"], "reset");
    assert_eq!(report["connections"][1]["direction"], "client->server");
    assert_eq!(report["connections"][1]["offset"], 0);
    assert_eq!(report["summary"]["reset"], 1);

    let diff =
        Command::new(bin).args(["reenact", "--diff", a.to_str().unwrap(), b.to_str().unwrap()]).output().unwrap();
    assert_eq!(diff.status.code(), Some(1));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("#1 10.2.2.101:58785 -> 10.2.2.104:80: server rs2 (predictor) -> - (-); verdict intact -> reset"),
        "{text}"
    );
    assert!(text.ends_with("1 connection(s) changed, 1 unchanged\n"), "{text}");
    let same =
        Command::new(bin).args(["reenact", "--diff", a.to_str().unwrap(), a.to_str().unwrap()]).output().unwrap();
    assert_eq!(same.status.code(), Some(0));

    // Bad input: a clear message and status 2, no report.
    let text_file = tmp("not-a-capture.pcap");
    std::fs::write(&text_file, "GET / HTTP/1.1\r\n\r\n").unwrap();
    let out = Command::new(bin)
        .args(["reenact", "--config", "examples/two-arm.toml", "--capture", text_file.to_str().unwrap()])
        .args(["--vip-map", MAP[0], "--report", tmp("never.json").to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng capture"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!tmp("never.json").exists());
    let bad_map = Command::new(bin)
        .args(["reenact", "--config", "examples/two-arm.toml", "--capture", capture.to_str().unwrap()])
        .args(["--vip-map", "*:80=198.18.0.100", "--report", tmp("never.json").to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(bad_map.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_map.stderr).contains("expected VIP:PORT"));
}

/// (rule, real server) of each connection, in capture order.
fn decisions(report: &Report) -> Vec<(String, String)> {
    report
        .connections
        .iter()
        .map(|c| (c.rule.clone().unwrap_or("-".into()), c.real_server.as_ref().map_or("-".into(), |s| s.name.clone())))
        .collect()
}

fn expect(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect()
}

fn recorded(dir: &str, side: &str) -> Report {
    let report = reenact_file(&root().join("pcaps").join(dir).join(format!("{side}.pcap")), None);
    let not_intact: Vec<_> = report.connections.iter().filter(|c| c.verdict != Verdict::Intact).collect();
    assert!(not_intact.is_empty(), "{dir}/{side}: {not_intact:#?}");
    assert_eq!(report.play.bad_frames + report.play.unattributed_frames, 0, "{dir}/{side}");
    report
}

#[test]
fn curl_and_wrk_recorded_at_the_client_and_at_the_servers_are_intact_and_decided_as_live() {
    // Recorded by scripts/record-reenact.sh curl: what the rules name, they name again; round
    // robin goes its own way (it starts afresh).
    let named = [
        ("server-id-cookie", "rs2"), // ServerID=rs2
        ("jvm-route", "rs3"),        // JSESSIONID=….node3
        ("predictor", "rs1"),
        ("predictor", "rs2"),        // /sid: nginx sets SID
        ("learned-cookie", "rs2"),   // that SID, from another client: where it was set
        ("server-id-cookie", "rs1"), // two requests on one connection
        ("server-id-cookie", "rs2"), // a 64 KiB download
        ("server-id-cookie", "rs3"), // a 48 KiB upload
    ];
    let client = recorded("reenact-curl", "client");
    // Then wrk: a connection that closes before its request (no server), four that send ten.
    let mut want = expect(&named);
    want.extend(expect(&[
        ("-", "-"),
        ("predictor", "rs3"),
        ("predictor", "rs2"),
        ("predictor", "rs3"),
        ("predictor", "rs1"),
    ]));
    assert_eq!(decisions(&client), want);
    let download = &client.connections[6];
    assert!(download.bytes.server_to_client > 65536, "the download's head and body");
    assert_eq!(download.delivered, download.bytes);
    assert_eq!(client.switch.l7.get("closed-before-head"), Some(&1));

    // At the servers: the switch's own addresses as clients, standing on the client side.
    let server = recorded("reenact-curl", "server");
    let mut want = expect(&named);
    want.extend(expect(&[("predictor", "rs3"), ("predictor", "rs2"), ("predictor", "rs3"), ("predictor", "rs1")]));
    assert_eq!(decisions(&server), want);
    assert!(server
        .connections
        .iter()
        .all(|c| c.reenacted_client.starts_with("198.18.0.") && c.client.starts_with("198.18.1.")));
}

#[test]
fn tomcat_sessions_recorded_at_the_client_and_at_the_servers_are_intact_and_follow_their_jvm_route() {
    let want = expect(&[
        ("predictor", "rs1"), // a new session
        ("jvm-route", "rs2"), // back with a JSESSIONID from node2 (live round robin gave node2)
        ("predictor", "rs2"),
        ("jvm-route", "rs3"), // ;jsessionid=….node3 in the path
        ("jvm-route", "rs2"), // two requests on one connection
    ]);
    for side in ["client", "server"] {
        let report = recorded("reenact-tomcat", side);
        assert_eq!(decisions(&report), want, "{side}");
        let sources: Vec<_> =
            report.connections.iter().filter_map(|c| c.cookie.as_ref().map(|k| k.source.as_str())).collect();
        assert_eq!(sources, ["cookie", "path", "cookie"], "{side}");
    }
}
