//! End to end in the reference topology: the switch on DPDK's af_packet PMD, real Linux
//! ping, arping and TCP from the client namespace.

mod common;

use std::time::Duration;

use common::{counter, example_with, in_ns, report_number, timed, Switch, Topology};

#[test]
fn switch_answers_for_its_addresses_and_refuses_closed_vip_ports() {
    let _topology = Topology::up();
    let switch = Switch::start("examples/two-arm.toml");
    // The example asks for `workers = "auto"`: the switch says what it chose.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        switch.log.contains(&format!("workers = auto: {} on {cores} core(s)", (cores / 2).max(1))),
        "{}",
        switch.log
    );

    for target in ["198.18.0.1", "198.18.0.100"] {
        let ping = in_ns("sw-client", &["ping", "-c", "3", "-i", "0.2", "-W", "2", target]);
        let text = String::from_utf8_lossy(&ping.stdout);
        assert!(ping.status.success() && text.contains("3 received"), "ping {target}:\n{text}");

        let arping = in_ns("sw-client", &["arping", "-c", "2", "-w", "3", "-I", "c0", target]);
        let text = String::from_utf8_lossy(&arping.stdout);
        assert!(arping.status.success() && text.contains("2 packets received"), "arping {target}:\n{text}");
    }

    // A TCP connect to a VIP port with no service is refused at once, not left to time out.
    let (connect, took) = timed(|| in_ns("sw-client", &["ncat", "-w", "3", "198.18.0.100", "9999"]));
    let err = String::from_utf8_lossy(&connect.stderr);
    assert!(!connect.status.success() && err.contains("Connection refused"), "{err}");
    assert!(took < Duration::from_secs(2), "refusal took {took:?}");

    // The server side answers too, for its address and its full-NAT local address, and a
    // stranger's address is not claimed.
    for target in ["198.18.1.1", "198.18.1.2"] {
        let arping = in_ns("sw-servers", &["arping", "-c", "1", "-w", "2", "-I", "s0", target]);
        assert!(arping.status.success(), "arping {target}: {}", String::from_utf8_lossy(&arping.stdout));
    }
    let stranger = in_ns("sw-client", &["arping", "-c", "1", "-w", "1", "-I", "c0", "198.18.0.77"]);
    assert!(!stranger.status.success());

    let report = switch.stop();
    assert!(counter(&report, "echo-replies-sent") >= 6, "{report}");
    assert_eq!(counter(&report, "resets-sent"), 1, "{report}");
    assert!(counter(&report, "arp-replies-sent") >= 5, "{report}");
    assert!(counter(&report, "arp-not-for-us") >= 1, "{report}");
    // 198.18.0.1 and the two VIPs on the client port, 198.18.1.1 and 198.18.1.2 on the
    // server port.
    assert_eq!(counter(&report, "gratuitous-arps-sent"), 5, "{report}");
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
    // Idle between the pings, the worker backs off into sleeps (`idle = "sleep"`, the default).
    assert!(report_number(&report, "idle back-off sleeps:") > 0, "{report}");
}

/// `idle = "poll"`: the worker never sleeps, and answers as before.
#[test]
fn a_worker_told_to_poll_never_sleeps() {
    let _topology = Topology::up();
    let config = example_with("poll", &[("workers = \"auto\"", "workers = \"auto\"\nidle = \"poll\"")]);
    let switch = Switch::start(&config);
    let ping = in_ns("sw-client", &["ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.0.100"]);
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success() && text.contains("3 received"), "ping:\n{text}");
    let report = switch.stop();
    assert!(counter(&report, "echo-replies-sent") >= 3, "{report}");
    assert_eq!(report_number(&report, "idle back-off sleeps:"), 0, "{report}");
}

/// `worker_nice` (the example config's -10) goes to the workers only: the control thread,
/// the admin API and the rest keep the switch's own.
#[test]
fn workers_take_the_configs_nice_value() {
    let _topology = Topology::up();
    let switch = Switch::start(&common::example_with("two-workers-nice", &[common::TWO_WORKERS]));
    let threads = switch.thread_nice();
    let workers: Vec<_> = threads.iter().filter(|(name, _)| name.starts_with("stickwire-w")).collect();
    assert_eq!(workers.len(), 2, "{threads:?}");
    assert!(workers.iter().all(|(_, nice)| *nice == -10), "{threads:?}");
    // The switch's own: whatever the test harness runs at (0 unless started under `nice`).
    let own = threads.iter().find(|(name, _)| name == "stickwire").expect("the main thread").1;
    assert_ne!(own, -10, "{threads:?}");
    let others = threads.iter().filter(|(name, _)| !name.starts_with("stickwire-w"));
    assert!(others.clone().count() >= 2, "{threads:?}");
    assert!(others.into_iter().all(|(_, nice)| *nice == own), "{threads:?}");
    switch.stop();
}

/// The report reader the tests use: a counter at zero is left out of the report and reads
/// as 0; a name the engine has no counter for fails the test instead of passing as a zero.
#[test]
fn counters_are_read_by_their_real_names_only() {
    let report = "engine counters:\n  rx-frames                  9\n  drop tcp-no-flow           3\n";
    assert_eq!((counter(report, "rx-frames"), counter(report, "tcp-no-flow")), (9, 3));
    assert_eq!(counter(report, "ttl-expired"), 0);
    let misspelt = std::panic::catch_unwind(|| counter(report, "tcp-no-flwo"));
    assert!(misspelt.is_err(), "a counter name that does not exist must fail");
}

/// Every `run` keys its tables, client hashing and SYN cookies with secrets of its own from
/// the OS (unless a config fixes them with `seed`): two runs of the example config log
/// different fingerprints of their secrets.
#[test]
fn each_run_draws_its_own_secrets() {
    let _topology = Topology::up();
    let fingerprint =
        |log: &str| log.lines().find_map(|l| l.split("secrets fingerprint ").nth(1)).map(str::to_string).expect(log);
    let first = Switch::start("examples/two-arm.toml");
    let a = fingerprint(&first.log);
    first.stop();
    let second = Switch::start("examples/two-arm.toml");
    let (b, log) = (fingerprint(&second.log), second.log.clone());
    second.stop();
    assert_ne!(a, b, "two runs used the same secrets");
    assert!(!log.contains("config's seed"), "the example config fixes no seed:\n{log}");
}

/// :81 is source-IP sticky: every client keeps one server, the clients spread over all
/// three. :82 is plain round-robin. Real curl, real nginx, the switch on af_packet with two
/// workers.
#[test]
fn l4_full_nat_sticky_and_round_robin() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let switch = Switch::start(&common::example_with("two-workers", &[common::TWO_WORKERS]));

    let clients: Vec<String> = (2..=50).map(|i| format!("198.18.0.{i}")).collect();
    let per_client: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            clients.iter().map(|c| s.spawn(move || common::fetch_servers(c, "http://198.18.0.100:81/", 20))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut spread = std::collections::BTreeMap::new();
    for (client, servers) in clients.iter().zip(&per_client) {
        assert_eq!(servers.len(), 20, "{client}: {servers:?}");
        assert!(servers.iter().all(|s| s == &servers[0]), "{client} moved between servers: {servers:?}");
        *spread.entry(servers[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(spread.keys().cloned().collect::<Vec<_>>(), ["rs1", "rs2", "rs3"], "{spread:?}");
    assert!(spread.values().all(|&n| n >= 8), "49 clients spread unevenly: {spread:?}");

    let rr = common::fetch_servers("198.18.0.2", "http://198.18.0.100:82/", 60);
    assert_eq!(rr.len(), 60);
    for name in ["rs1", "rs2", "rs3"] {
        let n = rr.iter().filter(|s| *s == name).count();
        assert!((18..=22).contains(&n), "round robin gave {name} {n} of 60: {rr:?}");
    }

    // Full NAT's sources take turns: the servers see the switch's port address and its
    // local address.
    let sources: std::collections::BTreeSet<String> =
        common::fetch_servers_body("198.18.0.2", "http://198.18.0.100:82/", 6)
            .iter()
            .filter_map(|body| body.split_whitespace().nth(1).map(String::from))
            .collect();
    assert_eq!(sources.into_iter().collect::<Vec<_>>(), ["198.18.1.1", "198.18.1.2"]);

    // Load for 10 s through :81: no socket errors, every response 200.
    let run = common::wrk(&["-t", "2", "-c", "64", "-d", "10s", "http://198.18.0.100:81/"]);
    assert_eq!((run.socket_errors, run.non_2xx), (0, 0), "{}", run.text);
    assert!(run.requests > 1000, "wrk made only {} requests:\n{}", run.requests, run.text);

    let report = switch.stop();
    assert!(report.contains("web:81/tcp"), "{report}");
    assert_eq!(counter(&report, "tcp-no-flow"), 0, "{report}");
    // Both workers carried flows. af_packet's kernel fanout keeps a client's frames on one
    // socket, and the switch makes that socket's core the flow's owner, so only replies the
    // fanout puts elsewhere are handed off (each flow's replies land on either socket, so
    // about half of them, a quarter of all frames): counted, and none lost to a full ring.
    // Summed over both workers, because the fanout may give one worker most of wrk's
    // flows, and then most of the other's frames are those flows' replies, rightly handed
    // off; 64 connections keep the sum's share of unlucky flows far from the bound.
    let workers: Vec<&str> = report.lines().filter(|l| l.starts_with("worker ")).collect();
    assert_eq!(workers.len(), 2, "{report}");
    let number_after = |line: &str, key: &str| -> u64 {
        line.split(key).nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok()).expect(key)
    };
    let (mut rx, mut handed) = (0, 0);
    for line in &workers {
        assert!(number_after(line, "flows created ") > 100, "a worker did little: {line}");
        rx += number_after(line, "rx ");
        handed += number_after(line, "handed off ");
        assert_eq!(number_after(line, "hand-off ring full "), 0, "a hand-off ring dropped frames: {line}");
    }
    assert!(handed < rx * 2 / 5, "most frames crossed cores: {workers:?}");
    assert!(report.contains("mbufs in use after stop: 0"), "no mbuf left in a ring: {report}");
}

/// Gateway NAT: the servers see the client's address and answer through the switch.
/// DSR: the servers hold the VIP on loopback and answer the client directly, over a path
/// that bypasses the switch (set up here: a veth between servers and client).
#[test]
fn l4_gateway_nat_and_direct_server_return() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    let gateway = common::fetch_servers_body("198.18.0.7", "http://198.18.0.100:83/", 6);
    assert_eq!(gateway.len(), 6, "{gateway:?}");
    for body in &gateway {
        assert!(body.ends_with(" 198.18.0.7"), "the server must see the client's own address: {body}");
    }

    // DSR set-up on the server side: the VIP on loopback, no ARP for it, and a return path
    // to the clients that does not go through the switch.
    for cmd in [
        "ip addr add 198.18.0.101/32 dev lo",
        "sysctl -qw net.ipv4.conf.all.arp_ignore=1",
        "sysctl -qw net.ipv4.conf.all.arp_announce=2",
        "ip link add r0 type veth peer name r1 netns sw-client",
        "ip addr add 198.19.0.1/30 dev r0",
        "ip link set r0 up",
        "ip route add 198.18.0.0/24 via 198.19.0.2 dev r0",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        assert!(in_ns("sw-servers", &args).status.success(), "sw-servers: {cmd}");
    }
    for cmd in [
        "ip addr add 198.19.0.2/30 dev r1",
        "ip link set r1 up",
        "sysctl -qw net.ipv4.conf.all.rp_filter=0",
        "sysctl -qw net.ipv4.conf.r1.rp_filter=0",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        assert!(in_ns("sw-client", &args).status.success(), "sw-client: {cmd}");
    }
    let dsr = common::fetch_servers_body("198.18.0.8", "http://198.18.0.101:80/", 5);
    assert_eq!(dsr, vec!["dsr 198.18.0.8"; 5], "direct server return");

    let report = switch.stop();
    // Replies bypassed the switch: for the DSR VIP it saw only the client's side.
    let line = report.lines().find(|l| l.trim_start().starts_with("direct:80/tcp")).expect("direct:80 counters");
    assert!(line.contains("total 5"), "{line}");
    assert!(report.lines().any(|l| l.trim_start().starts_with("web:83/tcp") && l.contains("total 6")), "{report}");
}

/// A server marked down by an admin call gets no new flows; flows on the other servers go
/// on undisturbed; its sticky clients move. Back up, it takes new flows again.
#[test]
fn server_marked_down_by_the_admin_api() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let switch = Switch::start("examples/two-arm.toml");
    let admin = |cmd: &str| {
        let mut args = vec![env!("CARGO_BIN_EXE_stickwire"), "admin", "--addr", "127.0.0.1:9900"];
        args.extend(cmd.split(' '));
        let out = in_ns("sw-lb", &args);
        assert!(out.status.success(), "admin {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // Two clients with keep-alive connections through :81 (sticky): one on rs2, one
    // elsewhere. Each asks once a second on one connection.
    let sticky_server = |c: &str| common::fetch_servers(c, "http://198.18.0.100:81/", 1).pop().unwrap_or_default();
    let clients: Vec<(String, String)> =
        (30..50).map(|i| format!("198.18.0.{i}")).map(|c| (sticky_server(&c), c)).collect();
    let on_rs2 = clients.iter().find(|(s, _)| s == "rs2").expect("a client on rs2").1.clone();
    let (other_server, elsewhere) = clients.iter().find(|(s, _)| s != "rs2").cloned().expect("a client elsewhere");
    let keepalive = |client: String| {
        std::thread::spawn(move || {
            let mut args =
                vec!["curl", "-s", "-m", "20", "--interface", &client, "--rate", "1/s", "-w", "|%{num_connects}\n"];
            args.extend(std::iter::repeat_n("http://198.18.0.100:81/", 6));
            let out = in_ns("sw-client", &args);
            // Each transfer: "rsN addr" then "|new connections made".
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let servers: Vec<String> =
                text.lines().filter(|l| l.starts_with("rs")).map(|l| l[..3].to_string()).collect();
            let connects: u32 = text.lines().filter_map(|l| l.strip_prefix('|')?.parse::<u32>().ok()).sum();
            (servers, connects)
        })
    };
    let (moved, stayed) = (keepalive(on_rs2), keepalive(elsewhere));
    std::thread::sleep(Duration::from_millis(2500));

    assert_eq!(admin("set server rs2 state down").trim(), "ok");
    assert!(admin("show servers").contains("rs2 198.18.1.11:80 admin down"));
    let after: Vec<String> =
        (2..30).flat_map(|i| common::fetch_servers(&format!("198.18.0.{i}"), "http://198.18.0.100:81/", 1)).collect();
    assert_eq!(after.len(), 28, "{after:?}");
    assert!(!after.iter().any(|s| s == "rs2"), "a down server got new flows: {after:?}");
    let rr: Vec<String> = common::fetch_servers("198.18.0.2", "http://198.18.0.100:82/", 12);
    assert!(!rr.iter().any(|s| s == "rs2") && rr.len() == 12, "{rr:?}");

    // The connection on another server never broke: six answers, one connection.
    let (servers, connects) = stayed.join().unwrap();
    assert_eq!((servers.len(), connects), (6, 1), "{servers:?}");
    assert!(servers.iter().all(|s| *s == other_server), "{servers:?}");
    // The one on rs2 was reset: curl reconnected, to another server.
    let (servers, connects) = moved.join().unwrap();
    assert_eq!(servers.len(), 6, "{servers:?}");
    assert_eq!(connects, 2, "{servers:?}");
    assert_eq!(servers.first().map(String::as_str), Some("rs2"));
    assert_ne!(servers.last().map(String::as_str), Some("rs2"));

    // Enabled again, it takes new flows, ramping up over the example's slow start (5 s).
    assert_eq!(admin("set server rs2 state enabled").trim(), "ok");
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    let mut back = Vec::new();
    while std::time::Instant::now() < deadline && !back.iter().any(|s| s == "rs2") {
        back = common::fetch_servers("198.18.0.3", "http://198.18.0.100:82/", 9);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(back.iter().any(|s| s == "rs2"), "no new flow reached rs2 within its slow start: {back:?}");

    let report = switch.stop();
    assert!(report.contains("reset (server gone) 1"), "{report}");
}

/// Two workers on devices with one queue each (af_packet without `qpairs`): worker 0
/// receives everything and hands each flow to its owner; the other worker sends through
/// worker 0. Traffic through the VIP works and both workers carry flows.
#[test]
fn two_workers_share_single_queue_devices() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let config = common::example_with("single-queue", &[common::TWO_WORKERS, (",qpairs=2", "")]);
    let switch = Switch::start(&config);
    assert!(switch.log.contains("worker 0 receives and relays"), "{}", switch.log);

    for i in 2..22 {
        let client = format!("198.18.0.{i}");
        let servers = common::fetch_servers(&client, "http://198.18.0.100:81/", 3);
        assert_eq!(servers.len(), 3, "{client}: {servers:?}");
        assert!(servers.iter().all(|s| s == &servers[0]), "{client}: {servers:?}");
    }
    let rr = common::fetch_servers("198.18.0.30", "http://198.18.0.100:82/", 30);
    assert_eq!(rr.len(), 30, "{rr:?}");

    let report = switch.stop();
    let created: Vec<u64> = report
        .lines()
        .filter(|l| l.starts_with("worker "))
        .map(|l| l.split("flows created ").nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok()).unwrap_or(0))
        .collect();
    assert_eq!(created.len(), 2, "{report}");
    assert!(created.iter().all(|&n| n >= 10), "both workers carry flows: {created:?}\n{report}");
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}

/// The client's SYN retransmissions so far (`TcpExt: TCPSynRetrans` of sw-client's stack).
fn client_syn_retransmissions() -> u64 {
    let out = common::in_ns("sw-client", &["cat", "/proc/net/netstat"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().expect("TcpExt names"), lines.next().expect("TcpExt values"));
    let at = names.split_whitespace().position(|n| n == "TCPSynRetrans").expect("TCPSynRetrans");
    values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).expect("a number")
}

/// A restarted switch takes its full-NAT local ports from where it took them before, on
/// tuples the server still holds in TIME_WAIT (nginx closes first after `Connection: close`),
/// and the client's timestamps fail the server's PAWS check about half the time: the server
/// answers those SYNs with the old connection's ACK. The switch resets it and sends the SYN
/// again, so no client waits for its own SYN retransmission (a second each; before, every
/// retry met the same ACK until the TIME_WAIT ended, and 20 k requests/s fell to 100).
#[test]
fn a_restarted_switch_reaches_a_server_that_holds_its_old_connections() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let config = common::example_with(
        "restart",
        &[("sticky_age = 300\nservers = [\"rs1\", \"rs2\", \"rs3\"]", "sticky_age = 300\nservers = [\"rs1\"]")],
    );
    let url = "http://198.18.0.100:81/";
    // 300 connections one after the other, each closed by the server.
    let fetch_all = || {
        let mut args = vec!["-s", "-m", "120", "-o", "/dev/null", "-w", "%{http_code}\n", "-H", "Connection: close"];
        args.extend(std::iter::repeat_n(url, 300));
        let codes = common::curl_ns("sw-client", &args);
        codes.lines().filter(|c| *c == "200").count()
    };
    let first = Switch::start(&config);
    assert_eq!(fetch_all(), 300);
    first.stop();

    let second = Switch::start(&config);
    let retransmitted = client_syn_retransmissions();
    assert_eq!(fetch_all(), 300, "every request through the restarted switch answered");
    let retransmitted = client_syn_retransmissions() - retransmitted;
    let report = second.stop();
    let reset = common::report_number(&report, "old connections reset at servers");
    assert!(reset > 0, "no SYN met an old connection: the test shows nothing\n{report}");
    assert_eq!(retransmitted, 0, "clients sent SYNs again ({reset} old connections reset)\n{report}");
}
