//! L7 cookie switching end to end in the reference topology: the switch on DPDK's
//! af_packet PMD with `examples/two-arm.toml` (port 80: server-id cookie, jvmRoute, learned
//! `SID`, round robin; port 8080: inserted `ServerID`), real curl and wrk in sw-client,
//! real nginx and Tomcat in sw-servers, real Linux TCP (window scaling, SACK, timestamps)
//! on both sides of every splice.

mod common;

use std::collections::BTreeMap;

use common::{counter, curl, curl_with_jar, jar_cookie, scratch_path, Backends, Switch, Tomcat, Topology};

/// Every request with `Cookie: ServerID=rs2`, each on a new connection, reaches rs2.
#[test]
fn a_server_id_cookie_sends_200_connections_to_its_server() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    let mut args = vec!["-b", "ServerID=rs2", "-H", "Connection: close", "-w", "\n"];
    args.extend(std::iter::repeat_n("http://198.18.0.100/", 200));
    let out = curl("198.18.0.2", 60, &args);
    let servers: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(servers.len(), 200, "{out}");
    assert!(servers.iter().all(|&s| s == "rs2"), "{servers:?}");

    let report = switch.stop();
    assert!(report.contains("decided by server-id-cookie 200"), "{report}");
    assert_eq!(counter(&report, "tcp-no-flow"), 0, "{report}");
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}

/// Three Tomcat nodes, each with its own jvmRoute, count requests in the HTTP session. 20
/// clients with cookie jars make 50 requests each, every one on a new connection: the
/// jvmRoute in JSESSIONID brings each back to the node holding its session, so every
/// counter reaches 50, and the first requests spread the clients over all nodes.
#[test]
fn tomcat_sessions_stay_on_their_node_by_jvm_route() {
    let _topology = Topology::up();
    let _tomcat = Tomcat::start();
    let switch = Switch::start("examples/two-arm.toml");

    let clients: Vec<(String, std::path::PathBuf)> =
        (2..22).map(|i| (format!("198.18.0.{i}"), scratch_path(&format!("jar-{i}")))).collect();
    let results: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .map(|(from, jar)| {
                s.spawn(move || {
                    let bodies: Vec<String> =
                        (0..50).map(|_| curl_with_jar(from, jar, "http://198.18.0.100/counter.jsp")).collect();
                    (jar_cookie(jar, "JSESSIONID").unwrap_or_default(), bodies)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut per_node = BTreeMap::new();
    for (session, bodies) in &results {
        let node = bodies[0].split_whitespace().next().unwrap_or_default().to_string();
        assert!(session.ends_with(&format!(".{node}")), "session {session} from {node}");
        for (k, body) in bodies.iter().enumerate() {
            assert_eq!(body, &format!("{node} count={}", k + 1), "session {session}: {bodies:?}");
        }
        *per_node.entry(node).or_insert(0) += 1;
    }
    assert_eq!(per_node.keys().cloned().collect::<Vec<_>>(), ["node1", "node2", "node3"], "{per_node:?}");

    let report = switch.stop();
    // The first request of each client had no session: the predictor; then jvmRoute.
    assert!(report.contains("decided by jvm-route       980"), "{report}");
    assert!(report.contains("decided by predictor       20"), "{report}");
}

/// nginx sets an opaque `SID` session cookie; the switch learns which server set it, and a
/// client that sends it back keeps going there, on new connections and from another
/// address (a session the source IP could not keep).
#[test]
fn a_learned_session_cookie_keeps_the_client_on_its_server() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    for client in 2..8 {
        let from = format!("198.18.0.{client}");
        let jar = scratch_path(&format!("sid-{client}"));
        let first = curl_with_jar(&from, &jar, "http://198.18.0.100/sid");
        let server = first.split_whitespace().next().unwrap_or_default().to_string();
        let sid = jar_cookie(&jar, "SID").expect("nginx set SID");
        for other in [client, client + 20, client + 30] {
            let from = format!("198.18.0.{other}");
            for _ in 0..5 {
                let body = curl(&from, 5, &["-b", &format!("SID={sid}"), "http://198.18.0.100/"]);
                assert_eq!(body.split_whitespace().next(), Some(server.as_str()), "SID {sid} from {from}");
            }
        }
    }
    let report = switch.stop();
    assert!(report.contains("decided by learned-cookie  90"), "{report}");
    assert!(report.contains("cookies-learned            6"), "{report}");
}

/// Port 8080 inserts `ServerID`: the first response carries the cookie, the browser sends
/// it back, and every later request goes to that server, with no second insertion.
#[test]
fn an_inserted_cookie_sticks() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    for client in 2..6 {
        let from = format!("198.18.0.{client}");
        let (head, body) = common::get_with_head(&from, "http://198.18.0.100:8080/", &[]);
        let server = body.split_whitespace().next().unwrap_or_default().to_string();
        assert!(head.contains(&format!("Set-Cookie: ServerID={server}; Path=/")), "{head}");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nSet-Cookie: "), "inserted after the status line: {head}");
        for _ in 0..10 {
            let (head, body) =
                common::get_with_head(&from, "http://198.18.0.100:8080/", &[&format!("Cookie: ServerID={server}")]);
            assert_eq!(body.split_whitespace().next(), Some(server.as_str()));
            assert!(!head.contains("Set-Cookie"), "{head}");
        }
    }
    let report = switch.stop();
    assert!(report.contains("cookies-inserted           4"), "{report}");
    assert!(report.contains("decided by inserted-cookie 40"), "{report}");
}

/// A 6 KiB cookie header (a head over many segments), a 10 MiB POST and a 100 MiB download
/// through the splice: the same bytes at both ends.
#[test]
fn large_heads_uploads_and_downloads_arrive_whole() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    // As a header: curl's `-b` drops a cookie over 4 KiB.
    let cookie = format!("Cookie: filler={}; ServerID=rs3", "x".repeat(6 * 1024));
    let body = curl("198.18.0.2", 5, &["-H", &cookie, "http://198.18.0.100/"]);
    assert!(body.starts_with("rs3 "), "{body}");

    let upload = scratch_path("upload");
    common::random_file(&upload, 10 << 20);
    let answer = common::upload("198.18.0.2", "http://198.18.0.100/upload", &upload);
    assert_eq!(answer.split_whitespace().nth(1), Some(common::sha256_file(&upload).as_str()), "{answer}");

    let downloaded = common::download_sha256("198.18.0.2", "http://198.18.0.100/big");
    assert_eq!(downloaded, common::sha256_file(std::path::Path::new(common::BIG_FILE)));
    let _ = std::fs::remove_file(&upload);

    let report = switch.stop();
    assert_eq!(counter(&report, "ttl-expired") + counter(&report, "no-buffer"), 0, "{report}");
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}

/// wrk through port 80 for 10 s with keep-alive, then 10 s with a new connection per
/// request: no socket errors, every answer 200.
#[test]
fn wrk_through_the_splice_sees_no_errors() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let switch = Switch::start("examples/two-arm.toml");

    for extra in [&[][..], &["-H", "Connection: close"][..]] {
        let mut args = vec!["-t", "2", "-c", "16", "-d", "10s"];
        args.extend_from_slice(extra);
        args.push("http://198.18.0.100/");
        let run = common::wrk(&args);
        assert_eq!((run.socket_errors, run.non_2xx), (0, 0), "{extra:?}: {}", run.text);
        assert!(run.requests > 1000, "wrk {extra:?} made only {} requests:\n{}", run.requests, run.text);
    }
    let report = switch.stop();
    assert!(report.contains("mbufs in use after stop: 0"), "{report}");
}
