//! End to end in the reference topology: the switch on DPDK's af_packet PMD, real Linux
//! ping, arping and TCP from the client namespace.

mod common;

use std::time::Duration;

use common::{counter, in_ns, timed, Switch, Topology};

#[test]
fn switch_answers_for_its_addresses_and_refuses_closed_vip_ports() {
    let _topology = Topology::up();
    let switch = Switch::start("examples/two-arm.toml");

    for target in ["198.18.0.1", "198.18.0.100"] {
        let ping = in_ns("sw-client", &["ping", "-c", "3", "-i", "0.2", "-W", "2", target]);
        let text = String::from_utf8_lossy(&ping.stdout);
        assert!(ping.status.success() && text.contains("3 received"), "ping {target}:\n{text}");

        let arping = in_ns("sw-client", &["arping", "-c", "2", "-w", "3", "-I", "c0", target]);
        let text = String::from_utf8_lossy(&arping.stdout);
        assert!(arping.status.success() && text.contains("2 packets received"), "arping {target}:\n{text}");
    }

    // A TCP connect to a VIP port with no service is refused at once, not left to time out.
    let (connect, took) = timed(|| in_ns("sw-client", &["ncat", "-w", "3", "198.18.0.100", "8080"]));
    let err = String::from_utf8_lossy(&connect.stderr);
    assert!(!connect.status.success() && err.contains("Connection refused"), "{err}");
    assert!(took < Duration::from_secs(2), "refusal took {took:?}");

    // The server side answers too, and a stranger's address is not claimed.
    let arping = in_ns("sw-servers", &["arping", "-c", "1", "-w", "2", "-I", "s0", "198.18.1.1"]);
    assert!(arping.status.success(), "{}", String::from_utf8_lossy(&arping.stdout));
    let stranger = in_ns("sw-client", &["arping", "-c", "1", "-w", "1", "-I", "c0", "198.18.0.77"]);
    assert!(!stranger.status.success());

    let report = switch.stop();
    assert!(counter(&report, "echo-replies-sent") >= 6, "{report}");
    assert_eq!(counter(&report, "resets-sent"), 1, "{report}");
    assert!(counter(&report, "arp-replies-sent") >= 5, "{report}");
    assert!(counter(&report, "arp-not-for-us") >= 1, "{report}");
    assert_eq!(counter(&report, "gratuitous-arps-sent"), 3, "{report}");
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}

/// :81 is source-IP sticky: every client keeps one server, the clients spread over all
/// three. :82 is plain round-robin. Real curl, real nginx, the switch on af_packet.
#[test]
fn l4_full_nat_sticky_and_round_robin() {
    let _topology = Topology::up();
    let _backends = common::Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

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

    // Load for 10 s through :81: no socket errors, every response 200.
    let wrk = in_ns("sw-client", &["wrk", "-t", "2", "-c", "20", "-d", "10s", "http://198.18.0.100:81/"]);
    let text = String::from_utf8_lossy(&wrk.stdout);
    assert!(wrk.status.success(), "{text}");
    assert!(!text.contains("Socket errors") && !text.contains("Non-2xx"), "{text}");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(requests > 1000, "wrk made only {requests} requests:\n{text}");

    let report = switch.stop();
    assert!(report.contains("web:81/tcp"), "{report}");
    assert_eq!(counter(&report, "tcp-no-flow"), 0, "{report}");
}
