//! The real backends themselves, asked from inside sw-servers (no switch): what the L7
//! end-to-end tests rely on from scripts/backends.sh and scripts/tomcat.sh.

mod common;

use common::{
    curl, curl_with_jar, download_sha256, get_with_head, jar_cookie, random_file, scratch_path, sha256_file, upload,
    Backends, Tomcat, Topology, BIG_FILE,
};

const SERVERS: [(&str, &str); 3] = [("rs1", "198.18.1.10"), ("rs2", "198.18.1.11"), ("rs3", "198.18.1.12")];

/// `/sid` sets a SID cookie only when the request has none, `/big` is the same file on every
/// server, `/upload` answers the body's sha256, `/` keeps one connection for many requests.
#[test]
fn nginx_backends_serve_sid_big_and_upload() {
    let _topology = Topology::up();
    let _backends = Backends::start();
    let from = "198.18.1.10";

    let mut sids = Vec::new();
    for (name, addr) in SERVERS {
        let url = format!("http://{addr}/sid");
        let (head, body) = get_with_head(from, &url, &[]);
        assert_eq!(body, format!("{name} {from}\n"), "{head}");
        let sid = head
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: SID="))
            .unwrap_or_else(|| panic!("no SID cookie from {name}:\n{head}"));
        assert!(sid.ends_with("; Path=/"), "{sid}");
        sids.push(sid.to_string());

        let (head, body) = get_with_head(from, &url, &["Cookie: lang=en; SID=abc123"]);
        assert!(body.starts_with(&format!("{name} ")), "{body}");
        assert!(!head.to_ascii_lowercase().contains("set-cookie"), "a SID cookie set again by {name}:\n{head}");
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 3, "the same SID twice: {sids:?}");

    let big = sha256_file(std::path::Path::new(BIG_FILE));
    for (_, addr) in SERVERS {
        assert_eq!(download_sha256(from, &format!("http://{addr}/big")), big, "/big from {addr}");
    }

    let file = scratch_path("upload");
    random_file(&file, 10 << 20);
    let sum = sha256_file(&file);
    for (name, addr) in SERVERS {
        assert_eq!(upload(from, &format!("http://{addr}/upload"), &file), format!("{name} {sum}"));
    }
    let _ = std::fs::remove_file(&file);

    // 200 requests, one connection.
    let urls = vec!["http://198.18.1.11/"; 200];
    let mut args = vec!["-w", "%{num_connects}\n"];
    args.extend(urls);
    let out = curl(from, 10, &args);
    assert_eq!(out.matches("rs2 ").count(), 200, "{out}");
    assert_eq!(out.lines().filter(|l| *l == "1").count(), 1, "more than one connection:\n{out}");
}

/// Each node counts in its own sessions, and its session ids carry its jvmRoute.
#[test]
fn tomcat_nodes_count_per_session() {
    let _topology = Topology::up();
    let _tomcat = Tomcat::start();
    let from = "198.18.1.10";

    for (n, (_, addr)) in SERVERS.iter().enumerate() {
        let node = format!("node{}", n + 1);
        let jar = scratch_path(&format!("jar-{node}"));
        for count in 1..=3 {
            let path = if count == 3 { "/" } else { "/counter.jsp" };
            assert_eq!(curl_with_jar(from, &jar, &format!("http://{addr}{path}")), format!("{node} count={count}"));
        }
        let id = jar_cookie(&jar, "JSESSIONID").expect("a JSESSIONID in the jar");
        assert!(id.ends_with(&format!(".{node}")), "{id}");

        // Without the cookie: a new session.
        let (head, body) = get_with_head(from, &format!("http://{addr}/counter.jsp"), &[]);
        assert_eq!(body, format!("{node} count=1\n"));
        assert!(head.contains("Set-Cookie: JSESSIONID=") && head.contains(&format!(".{node}; Path=/")), "{head}");
        let _ = std::fs::remove_file(&jar);
    }
}
