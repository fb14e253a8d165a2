use super::*;
use crate::engine::predictor::RAMP_FULL;

const BASE: &str = r#"
[[port]]
name = "client"
ip = "198.18.0.1/24"
[[port]]
name = "server"
ip = "198.18.1.1/24"
[[vip]]
name = "web"
ip = "198.18.0.100"
[[vip.port]]
port = 81
nat = "full"
sticky = true
[[vip.port]]
port = 82
nat = "full"
[[real_server]]
name = "rs1"
ip = "198.18.1.10"
port = 80
[[real_server]]
name = "rs2"
ip = "198.18.1.11"
port = 80
[[real_server]]
name = "rs3"
ip = "198.18.1.12"
port = 80
"#;

fn state(text: &str) -> ControlState {
    ControlState::new(Config::parse(text).expect("config"), Secrets::from_seed(1))
}

fn names(s: &Services) -> Vec<(String, u8, Vec<u16>)> {
    s.services.iter().map(|v| (v.name.clone(), v.proto, v.servers.clone())).collect()
}

#[test]
fn admin_calls_build_a_new_snapshot_with_the_effective_state() {
    let mut st = state(BASE);
    assert_eq!(st.generation(), 1);
    st.set_admin_state("rs2", ServerState::Down).unwrap();
    assert_eq!(st.generation(), 2);
    assert_eq!(st.services().servers[1].state, ServerState::Down);
    // The predictors see it: Maglev over rs1 and rs3 only.
    let maglev = st.services().services[0].predictor.maglev();
    assert!(maglev.table().iter().all(|&id| id != 1));
    st.set_weight("rs3", 0).unwrap();
    assert_eq!(st.services().servers[2].weight, 0);
    let err = st.set_admin_state("rs9", ServerState::Down).unwrap_err();
    assert_eq!(err, "no real server is named `rs9`");
    assert_eq!(st.generation(), 3, "a refused call builds nothing");
}

#[test]
fn reload_keeps_indices_adds_ports_and_leaves_tombstones() {
    let mut st = state(BASE);
    st.set_admin_state("rs1", ServerState::Disabled).unwrap();
    // rs2 goes, rs4 comes, :83 comes, :82 goes.
    let text = BASE
        .replace("[[vip.port]]\nport = 82\nnat = \"full\"\n", "[[vip.port]]\nport = 83\nnat = \"gateway\"\n")
        .replace("name = \"rs2\"\nip = \"198.18.1.11\"", "name = \"rs4\"\nip = \"198.18.1.13\"");
    let summary = st.reload(Config::parse(&text).unwrap()).unwrap();
    assert_eq!(summary, "reloaded: added rs4, web:83; removed rs2, web:82/tcp");
    let s = st.services();
    let servers: Vec<&str> = s.servers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(servers, ["rs1", "rs2", "rs3", "rs4"]);
    // rs2 is a tombstone: down, in no port; the operator's call on rs1 stands. Ports list
    // their servers in the config's order.
    assert_eq!(s.servers[1].state, ServerState::Down);
    assert_eq!(s.servers[0].state, ServerState::Disabled);
    assert_eq!(
        names(s),
        [
            ("web:81/tcp".to_string(), 6, vec![0, 3, 2]),
            ("web:82/tcp".to_string(), 0, vec![]),
            ("web:83/tcp".to_string(), 6, vec![0, 3, 2]),
        ]
    );
    assert_eq!(s.find("198.18.0.100".parse().unwrap(), 82, 6), None, "a removed port matches nothing");
    assert!(!st.is_live_server(1) && !st.is_live_service(1));
    // Back again: the same indices.
    let summary = st.reload(Config::parse(BASE).unwrap()).unwrap();
    assert_eq!(summary, "reloaded: added rs2, web:82; removed rs4, web:83/tcp");
    assert_eq!(st.services().services[1].proto, 6);
    assert_eq!(st.services().services[1].servers, [0, 1, 2]);
    assert_eq!(st.server_index("rs2"), Some(1));
}

#[test]
fn reload_refuses_what_needs_a_restart_and_keeps_the_running_state() {
    let mut st = state(BASE);
    let before = st.generation();
    let err = st.reload(Config::parse(&format!("workers = 2\n{BASE}")).unwrap()).unwrap_err();
    assert_eq!(err, "workers: cannot change on reload; restart to apply");
    let err = st.reload(Config::parse(&format!("idle = \"poll\"\n{BASE}")).unwrap()).unwrap_err();
    assert_eq!(err, "idle: cannot change on reload; restart to apply");
    let err = st.reload(Config::parse(&format!("worker_nice = -5\n{BASE}")).unwrap()).unwrap_err();
    assert_eq!(err, "worker_nice: cannot change on reload; restart to apply");
    let err = st.reload(Config::parse(&BASE.replace("198.18.0.100", "198.18.0.99")).unwrap()).unwrap_err();
    assert_eq!(err, "vip: cannot change on reload; restart to apply");
    // No L7 port at start: no head buffers for one now.
    let l7 = BASE.replace("port = 82\nnat = \"full\"", "port = 82\nmode = \"l7\"\nhead_limit = 16384");
    let err = st.reload(Config::parse(&l7).unwrap()).unwrap_err();
    assert!(err.starts_with("vip[0].port[1]: its request heads of 16384 bytes"), "{err}");
    assert_eq!(st.generation(), before);
    assert_eq!(names(st.services()).len(), 2);
}

/// A server that comes back ramps up: a small share at once, more each step, all of it once
/// the slow start is over; one that goes down meanwhile starts again when it comes back.
#[test]
fn slow_start_ramps_a_server_back_up() {
    let text = BASE.replace("[[vip]]", "[health]\ncheck = \"tcp\"\nslow_start = 8.0\n[[vip]]");
    let mut st = state(&text);
    let report = |up| HealthReport { server: 1, up, passed: up, reason: "x".into(), checks: 1 };
    st.tick(Instant::from_millis(0));
    assert_eq!(st.services().servers[1].ramp, RAMP_FULL);
    st.health_report(report(false));
    assert_eq!(st.services().servers[1].state, ServerState::Down);
    st.health_report(report(true));
    let s = &st.services().servers[1];
    assert_eq!((s.state, s.ramp), (ServerState::Enabled, RAMP_FULL / 16));
    assert_eq!(st.services().services[0].predictor.servers()[1].ramp, RAMP_FULL / 16, "the predictors see it");
    st.tick(Instant::from_millis(1_000)); // the ramp starts here
    let generation = st.generation();
    st.tick(Instant::from_millis(5_000)); // half way
    assert_eq!(st.services().servers[1].ramp, RAMP_FULL * 9 / 16);
    assert_eq!(st.generation(), generation + 1);
    st.tick(Instant::from_millis(5_100)); // within the same step: nothing new
    assert_eq!(st.generation(), generation + 1);
    st.tick(Instant::from_millis(9_000));
    assert_eq!(st.services().servers[1].ramp, RAMP_FULL);
    // An admin call back to enabled ramps too.
    st.set_admin_state("rs3", ServerState::Disabled).unwrap();
    st.set_admin_state("rs3", ServerState::Enabled).unwrap();
    assert_eq!(st.services().servers[2].ramp, RAMP_FULL / 16);
}
