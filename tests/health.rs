//! Health checks, failover, drain, reload and the operator's surface, end to end in the
//! reference topology: the switch on af_packet, real nginx per real server, real curl and wrk.

mod common;

use std::time::{Duration, Instant};

use common::{in_ns, Backends, Switch, Topology};

fn admin(cmd: &str) -> String {
    let mut args = vec![env!("CARGO_BIN_EXE_stickwire"), "admin", "--socket", "/run/stickwire/admin.sock"];
    args.extend(cmd.split(' '));
    let out = std::process::Command::new(args[0]).args(&args[1..]).output().expect("stickwire admin");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text
}

fn server_line(name: &str) -> String {
    admin("show servers").lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default().to_string()
}

/// Waits until `show servers` says `name` is `word` (`up` or `down`); how long it took.
fn wait_health(name: &str, word: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let line = server_line(name);
        if line.contains(&format!(" health {word} (")) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{name} not {word} after {limit:?}: {line}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn backends(cmd: &str, name: &str) {
    let status = std::process::Command::new(common::root().join("scripts/backends.sh")).args([cmd, name]).status();
    assert!(status.expect("backends.sh").success(), "backends.sh {cmd} {name}");
}

/// One request with a JSESSIONID naming node1 on the L7 port: the server that answered.
fn jsession_node1(from: &str) -> String {
    let body = common::curl(from, 5, &["-H", "Cookie: JSESSIONID=9A1F0C77.node1", "http://198.18.0.100:80/"]);
    body.split_whitespace().next().unwrap_or_default().to_string()
}

/// Stop rs1's nginx: `show servers` says `down` with the reason within fall x interval plus
/// one second; sessions bound to rs1 by jvmRoute (:80) and by source IP (:81) go to rs2, its
/// domain buddy, with no failed request. Start it again: `up` after rise, and node1's
/// cookies go to rs1 again while the source-IP client stays where it moved.
#[test]
fn a_dead_server_goes_down_its_sessions_move_to_its_domain_and_come_back() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");
    for name in ["rs1", "rs2", "rs3"] {
        wait_health(name, "up", Duration::from_secs(5));
    }
    assert!(server_line("rs1").contains("health up (HTTP 200)"), "{}", server_line("rs1"));
    // A client that :81's stickiness binds to rs1.
    let sticky = (2..50)
        .map(|i| format!("198.18.0.{i}"))
        .find(|c| common::fetch_servers(c, "http://198.18.0.100:81/", 1) == ["rs1"])
        .expect("a client bound to rs1");
    assert_eq!(jsession_node1("198.18.0.2"), "rs1");

    backends("stop-server", "rs1");
    let took = wait_health("rs1", "down", Duration::from_secs(10));
    // fall 2 x interval 1 s, plus one.
    assert!(took <= Duration::from_secs(3), "marked down after {took:?}");
    assert!(server_line("rs1").contains("health down (connection refused)"), "{}", server_line("rs1"));
    // Every request from now on is answered, by rs1's buddy.
    for _ in 0..10 {
        assert_eq!(jsession_node1("198.18.0.2"), "rs2");
        assert_eq!(common::fetch_servers(&sticky, "http://198.18.0.100:81/", 1), ["rs2"]);
    }

    backends("start-server", "rs1");
    let took = wait_health("rs1", "up", Duration::from_secs(10));
    assert!(took <= Duration::from_secs(4), "back up after {took:?}");
    assert_eq!(jsession_node1("198.18.0.2"), "rs1", "node1's sessions go home");
    assert_eq!(common::fetch_servers(&sticky, "http://198.18.0.100:81/", 3), ["rs2"; 3], "a moved binding stays");
    let report = switch.stop();
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}

/// A disabled (draining) server: its keep-alive connection goes on, new clients never land
/// on it.
#[test]
fn a_disabled_server_keeps_its_sessions_and_gets_no_new_ones() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");
    let on_rs3 = (2..50)
        .map(|i| format!("198.18.0.{i}"))
        .find(|c| common::fetch_servers(c, "http://198.18.0.100:81/", 1) == ["rs3"])
        .expect("a client on rs3");
    let keepalive = std::thread::spawn(move || {
        let mut args =
            vec!["curl", "-s", "-m", "20", "--interface", &on_rs3, "--rate", "2/s", "-w", "|%{num_connects}\n"];
        args.extend(std::iter::repeat_n("http://198.18.0.100:81/", 8));
        String::from_utf8_lossy(&in_ns("sw-client", &args).stdout).into_owned()
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(admin("set server rs3 state disabled").trim(), "ok");
    assert!(server_line("rs3").contains("admin disabled"), "{}", server_line("rs3"));
    let fresh: Vec<String> =
        (2..40).flat_map(|i| common::fetch_servers(&format!("198.18.0.{i}"), "http://198.18.0.100:82/", 1)).collect();
    assert_eq!(fresh.len(), 38);
    assert!(!fresh.iter().any(|s| s == "rs3"), "{fresh:?}");
    let text = keepalive.join().unwrap();
    let servers: Vec<&str> = text.lines().filter(|l| l.starts_with("rs")).map(|l| &l[..3]).collect();
    let connects: u32 = text.lines().filter_map(|l| l.strip_prefix('|')?.parse::<u32>().ok()).sum();
    assert_eq!((servers, connects), (vec!["rs3"; 8], 1), "{text}");
    switch.stop();
}

/// Metrics a Prometheus parser accepts, whose counters move under load; health checks keep
/// their one-second cadence while wrk saturates the data path; a POST is refused.
#[test]
fn metrics_parse_move_under_load_and_checks_keep_their_interval() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");
    let scrape = || common::curl_ns("sw-lb", &["-sS", "-m", "5", "http://127.0.0.1:9901/metrics"]);
    let parse = |text: &str| -> std::collections::HashMap<String, f64> {
        let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
                      for f in p(sys.stdin.read()):\n    for s in f.samples:\n        \
                      print(s.name + ','.join(sorted(k+'='+v for k,v in s.labels.items())), s.value)\n";
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "the Prometheus parser refused it: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN))))
            .collect()
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = parse(&scrape());
    let key = |name: &str, labels: &str| format!("stickwire_{name}{labels}");
    let checks =
        |m: &std::collections::HashMap<String, f64>| m[&key("health_checks_total", "result=passed,server=rs2")];
    let wrk = in_ns("sw-client", &["wrk", "-t", "2", "-c", "32", "-d", "6s", "http://198.18.0.100:82/"]);
    let text = String::from_utf8_lossy(&wrk.stdout);
    assert!(wrk.status.success() && !text.contains("Socket errors"), "{text}");
    let after = parse(&scrape());
    // wrk keeps its 32 connections alive: a few connections, many packets.
    let total = |m: &std::collections::HashMap<String, f64>, name| m[&key(name, "vip_port=web:82/tcp")];
    let (conns, packets) = ("vip_connections_total", "vip_packets_total");
    assert!(total(&after, conns) >= total(&before, conns) + 32.0, "{before:?} -> {after:?}");
    assert!(total(&after, packets) > total(&before, packets) + 10_000.0, "{before:?} -> {after:?}");
    // Six seconds of wrk: five or more checks of rs2 passed, one a second.
    let done = checks(&after) - checks(&before);
    assert!(done >= 5.0, "{done} checks in 6 s of wrk");
    assert_eq!(after[&key("server_up", "server=rs2")], 1.0);
    let post = common::curl_ns(
        "sw-lb",
        &["-s", "-m", "5", "-X", "POST", "-d", "x", "-w", "%{http_code}", "http://127.0.0.1:9901/metrics"],
    );
    assert!(post.ends_with("405"), "{post}");
    switch.stop();
}

/// `reload` (through the Unix socket) adds a VIP port while wrk runs on another: wrk sees no
/// socket error, the new port answers; a bad file is refused with file, line, key and reason,
/// and the running config stays.
#[test]
fn reload_adds_a_vip_port_under_load_and_refuses_a_bad_file() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let path = std::env::temp_dir().join(format!("stickwire-reload-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(common::root().join("examples/two-arm.toml")).unwrap();
    std::fs::write(&path, &text).unwrap();
    let switch = Switch::start(path.to_str().unwrap());
    let wrk = std::thread::spawn(|| {
        let out = in_ns("sw-client", &["wrk", "-t", "2", "-c", "16", "-d", "6s", "http://198.18.0.100:81/"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    std::thread::sleep(Duration::from_secs(2));
    let added = text.replace(
        "# :82 — L4, full NAT, round-robin, no stickiness.",
        "[[vip.port]]\nport = 84\nnat = \"full\"\npredictor = \"round-robin\"\n\n# :82 — L4, full NAT, round-robin, no stickiness.",
    );
    std::fs::write(&path, &added).unwrap();
    let reply = admin("reload");
    assert!(reply.contains("reloaded: added web:84"), "{reply}");
    let answers = common::fetch_servers("198.18.0.5", "http://198.18.0.100:84/", 3);
    assert_eq!(answers.len(), 3, "{answers:?}");
    let out = wrk.join().unwrap();
    assert!(!out.contains("Socket errors") && !out.contains("Non-2xx"), "{out}");
    // A bad file: the error names it, and :84 still answers.
    std::fs::write(&path, added.replace("port = 84", "port = 84\nnat_typo = 1")).unwrap();
    let reply = admin("reload");
    assert!(reply.contains(&format!("{}:", path.display())) && reply.contains("nat_typo"), "{reply}");
    assert_eq!(common::fetch_servers("198.18.0.6", "http://198.18.0.100:84/", 1).len(), 1);
    switch.stop();
    let _ = std::fs::remove_file(&path);
}
