use super::*;

const GOOD: &str = r#"
workers = 1
seed = 7

[[port]]
name = "client"
device = "net_af_packet0,iface=l0"
ip = "198.18.0.1/24"
mac = "02:53:57:00:00:01"

[[port]]
name = "server"
device = "net_af_packet1,iface=l1"
ip = "198.18.1.1/24"

[[vip]]
name = "web"
ip = "198.18.0.100"

[[real_server]]
name = "rs1"
ip = "198.18.1.10"
port = 80

[[neighbour]]
port = "server"
ip = "198.18.1.10"
mac = "02:00:00:00:01:10"
"#;

fn error_of(text: &str) -> ConfigError {
    Config::parse(text).expect_err("config should be refused")
}

#[test]
fn good_config_gives_the_topology() {
    let c = Config::parse(GOOD).unwrap();
    assert_eq!(c.seed, Some(7));
    let macs = c.configured_macs();
    assert_eq!(macs[0], MacAddr([2, 0x53, 0x57, 0, 0, 1]));
    assert_eq!(macs[1], Config::default_mac(1));
    let t = c.topology(&macs);
    assert_eq!(t.ports[1].ip, Ipv4Addr::new(198, 18, 1, 1));
    assert_eq!(t.vips[0].ip, Ipv4Addr::new(198, 18, 0, 100));
    assert_eq!(t.static_neighbours[0].port, 1);
    assert!(c.describe().contains("vip `web`: 198.18.0.100"));
}

#[test]
fn unknown_key_is_an_error_with_its_line() {
    let e = error_of(&GOOD.replace("seed = 7", "seed = 7\nsed = 8"));
    assert_eq!(e.line, Some(4));
    assert!(e.reason.contains("unknown field `sed`"), "{e}");
}

#[test]
fn bad_values_name_key_line_and_reason() {
    let e = error_of(&GOOD.replace("198.18.0.1/24", "198.18.0.1/40"));
    assert_eq!((e.key.as_str(), e.line), ("port[0].ip", Some(8)));
    assert!(e.reason.contains("prefix length `40`"), "{e}");

    let e = error_of(&GOOD.replace("\"02:53:57:00:00:01\"", "\"02:53:57\""));
    assert_eq!((e.key.as_str(), e.line), ("port[0].mac", Some(9)));

    let e = error_of(&GOOD.replace("ip = \"198.18.0.100\"", "ip = \"198.18.0.1\""));
    assert_eq!((e.key.as_str(), e.line), ("vip[0].ip", Some(18)));
    assert!(e.reason.contains("a port's own address"), "{e}");

    let e = error_of(&GOOD.replace("name = \"server\"", "name = \"client\""));
    assert_eq!((e.key.as_str(), e.line), ("port[1].name", Some(12)));

    let e = error_of(&GOOD.replace("workers = 1", "workers = 0"));
    assert_eq!((e.key.as_str(), e.line), ("workers", Some(2)));

    let e = error_of(&GOOD.replace("port = \"server\"", "port = \"srv\""));
    assert_eq!(e.key, "neighbour[0].port");
    assert!(e.reason.contains("no port is named `srv`"));

    let e = error_of(&GOOD.replace("port = 80", "port = 70000"));
    assert_eq!((e.key.as_str(), e.line), ("real_server[0].port", Some(23)));

    let e = error_of("workers = \"two\"\n[[port]]\nname=\"a\"\nip=\"1.2.3.4/8\"\n");
    assert_eq!((e.key.as_str(), e.line), ("workers", Some(1)));
    assert!(e.reason.contains("neither a number nor \"auto\""), "{e}");
}

#[test]
fn workers_may_be_auto() {
    let config = Config::parse(&GOOD.replace("workers = 1", "workers = \"auto\"")).expect("auto is a worker count");
    assert_eq!(*config.workers.get_ref(), Workers::Auto);
    assert_eq!(config.workers.get_ref().resolve(|| 3), 3);
    assert_eq!(Config::parse(GOOD).unwrap().workers.get_ref().resolve(|| unreachable!()), 1);
}

#[test]
fn idle_sleeps_unless_told_to_poll() {
    assert_eq!(Config::parse(GOOD).unwrap().idle, Idle::Sleep);
    let config = Config::parse(&GOOD.replace("workers = 1", "workers = 1\nidle = \"poll\"")).expect("poll is valid");
    assert_eq!(config.idle, Idle::Poll);
    let e = error_of(&GOOD.replace("workers = 1", "workers = 1\nidle = \"spin\""));
    assert_eq!((e.key.as_str(), e.line), ("idle", Some(3)));
    assert!(e.reason.contains("poll"), "{}", e.reason);
}

#[test]
fn worker_nice_is_a_nice_value() {
    assert_eq!(Config::parse(GOOD).unwrap().worker_nice, None);
    let config = Config::parse(&GOOD.replace("workers = 1", "workers = 1\nworker_nice = -10")).expect("-10 is valid");
    assert_eq!(config.worker_nice.map(|n| *n.get_ref()), Some(-10));
    for bad in ["-21", "20"] {
        let e = error_of(&GOOD.replace("workers = 1", &format!("workers = 1\nworker_nice = {bad}")));
        assert_eq!((e.key.as_str(), e.line), ("worker_nice", Some(3)));
        assert_eq!(e.reason, format!("must be between -20 and 19, not {bad}"));
    }
}

#[test]
fn no_ports_and_broken_toml_are_errors() {
    assert_eq!(error_of("workers = 1\n").key, "port");
    let e = error_of("[[port]\nname = 1");
    assert!(e.line.is_some());
}

#[test]
fn display_reads_like_a_compiler_message() {
    let mut e = error_of(&GOOD.replace("workers = 1", "workers = 0"));
    e.file = Some("two-arm.toml".into());
    assert_eq!(e.to_string(), "two-arm.toml:2: workers: must be between 1 and 64, not 0");
}

#[test]
fn local_addresses_reach_the_topology_and_bad_ones_are_refused() {
    let with = |list: &str| {
        GOOD.replace("ip = \"198.18.1.1/24\"", &format!("ip = \"198.18.1.1/24\"\nlocal_addresses = [{list}]"))
    };
    let c = Config::parse(&with("\"198.18.1.2\", \"198.18.1.3\"")).unwrap();
    let t = c.topology(&c.configured_macs());
    assert_eq!(t.ports[1].local_ips, vec![Ipv4Addr::new(198, 18, 1, 2), Ipv4Addr::new(198, 18, 1, 3)]);
    assert!(t.ports[0].local_ips.is_empty());
    assert!(c.describe().contains("local addresses 198.18.1.2, 198.18.1.3"), "{}", c.describe());

    let e = error_of(&with("\"198.18.0.9\""));
    assert_eq!((e.key.as_str(), e.line), ("port[1].local_addresses[0]", Some(15)));
    assert!(e.reason.contains("not on the port's subnet"), "{e}");
    let e = error_of(&with("\"198.18.1.2\", \"198.18.1.2\""));
    assert_eq!(e.key, "port[1].local_addresses[1]");
    let e = error_of(&with("\"198.18.1.1\""));
    assert!(e.reason.contains("already"), "{e}");
}

/// GOOD with two more servers and an L7 port 80 whose port table is `port`.
fn with_l7(port: &str) -> String {
    let servers = r#"
[[real_server]]
name = "rs2"
ip = "198.18.1.11"
port = 80
jvm_route = "node2"

[[real_server]]
name = "rs3"
ip = "198.18.1.12"
port = 80
server_id = "third"
"#;
    GOOD.replace("[[neighbour]]", &format!("{servers}\n[[vip.port]]\n{port}\n\n[[neighbour]]"))
}

const L7_PORT: &str = r#"port = 80
mode = "l7"
head_limit = 4096

[[vip.port.rule]]
match = "server-id"

[[vip.port.rule]]
match = "jvm-route"

[[vip.port.rule]]
match = "learned-cookie"
cookie = "SID""#;

#[test]
fn an_l7_port_gets_its_rules_in_order_with_their_cookies() {
    let c = Config::parse(&with_l7(L7_PORT)).unwrap();
    let services = c.services(Secrets::from_seed(1));
    let svc = &services.services[0];
    assert_eq!(svc.nat, NatMode::Full, "an l7 port is full NAT");
    let l7 = svc.l7.as_ref().expect("l7 policy");
    let rules: Vec<(RuleKind, &str)> = l7.rules.iter().map(|r| (r.kind, r.cookie.as_str())).collect();
    assert_eq!(
        rules,
        [(RuleKind::ServerId, "ServerID"), (RuleKind::JvmRoute, "JSESSIONID"), (RuleKind::LearnedCookie, "SID")]
    );
    assert_eq!((l7.head_limit, svc.syn_cookies, l7.inserted_cookie()), (4096, SynCookies::Auto, None));
    let ids: Vec<(&str, Option<&str>)> =
        services.servers.iter().map(|s| (s.server_id.as_str(), s.jvm_route.as_deref())).collect();
    assert_eq!(ids, [("rs1", None), ("rs2", Some("node2")), ("third", None)]);
    assert!(c.describe().contains("port 80/tcp: l7, Full NAT"), "{}", c.describe());
    assert!(c.describe().contains("rules: server-id ServerID, jvm-route JSESSIONID, learned-cookie SID"));
}

#[test]
fn l7_mistakes_name_their_key() {
    let check = |port: &str, key: &str, reason: &str| {
        let e = error_of(&with_l7(port));
        assert_eq!(e.key, key, "{e}");
        assert!(e.reason.contains(reason), "{e}");
        assert!(e.line.is_some(), "{e}");
    };
    check(
        "port = 80\nnat = \"full\"\n[[vip.port.rule]]\nmatch = \"server-id\"",
        "vip[0].port[0].rule",
        "need `mode = \"l7\"`",
    );
    check("port = 80\nmode = \"l7\"\nnat = \"gateway\"", "vip[0].port[0].nat", "only `full`");
    check("port = 80", "vip[0].port[0].nat", "needs `nat`");
    check(
        &L7_PORT.replace("cookie = \"SID\"", "cookie = \"S;ID\""),
        "vip[0].port[0].rule[2].cookie",
        "`;` is not allowed",
    );
    check(&L7_PORT.replace("head_limit = 4096", "head_limit = 100"), "vip[0].port[0].head_limit", "between 256");
    check(
        &format!("{L7_PORT}\n[[vip.port.rule]]\nmatch = \"server-id\""),
        "vip[0].port[0].rule[3].match",
        "never match",
    );
    let e = error_of(&with_l7(&L7_PORT.replace("\"learned-cookie\"", "\"cookie-jar\"")));
    assert!(e.reason.contains("unknown variant `cookie-jar`"), "{e}");

    let e = error_of(&with_l7(L7_PORT).replace("server_id = \"third\"", "server_id = \"rs2\""));
    assert_eq!(e.key, "real_server[2].server_id");
    let e = error_of(&with_l7(L7_PORT).replace("jvm_route = \"node2\"", "jvm_route = \"a.b\""));
    assert_eq!(e.key, "real_server[1].jvm_route");
    assert!(e.reason.contains("`.`"), "{e}");
}

#[test]
fn syn_cookies_on_a_dsr_port_are_refused_with_the_reason() {
    let dsr = |extra: &str| {
        format!(
            "{GOOD}\n[[vip.port]]\nport = 80\nnat = \"dsr\"\npredictor = \"round-robin\"\nservers = [\"rs1\"]\n{extra}"
        )
    };
    // Not asked for: a dsr port simply has none.
    assert!(Config::parse(&dsr("")).is_ok());
    assert!(Config::parse(&dsr("syn_cookies = \"never\"")).is_ok());
    let e = error_of(&dsr("syn_cookies = \"always\""));
    assert_eq!(e.key, "vip[0].port[0].syn_cookies");
    assert!(e.reason.contains("bypass the switch"), "{e}");
}
