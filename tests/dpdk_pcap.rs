//! Captures through real DPDK: `stickwire run` on the `net_pcap` PMD must send the same
//! frames as the software replay port, and give every mbuf back.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stickwire::control::config::Config;
use stickwire::port::pcap::{CaptureReader, CaptureWriter};
use stickwire::replay::{replay, PortFiles};
use stickwire::wire::{ethernet, ipv4, MacAddr};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn frames(path: &Path) -> Vec<Vec<u8>> {
    CaptureReader::open(path).unwrap().read_all().into_iter().map(|f| f.data).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stickwire-dpdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `stickwire run` with `config` and `args` on a net_pcap port reading `input` until it
/// has sent `want` frames (or 20 s have passed), stops it with SIGINT and returns the frames
/// it sent and its report.
fn run_on_net_pcap(config: &Path, args: &[&str], input: &Path, want: usize) -> (Vec<Vec<u8>>, String) {
    let out = scratch(&format!("{}-tx.pcap", input.file_stem().unwrap().to_string_lossy()));
    let vdev = format!("net_pcap0,rx_pcap={},tx_pcap={}", input.display(), out.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_stickwire"))
        .args(["run", "--config"])
        .arg(config)
        .args(args)
        .args(["--", "--vdev", &vdev])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("running with") {
        if stderr.read_line(&mut log).unwrap() == 0 {
            panic!("stickwire run ended before running:\n{log}");
        }
    }
    // net_pcap reads the whole capture at once; give the worker time to take it all.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if CaptureReader::open(&out).map(|mut r| r.read_all().len()).unwrap_or(0) >= want {
            break;
        }
    }
    // Anything more it would send comes now.
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let result = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(result.status.success(), "{stdout}\n{log}");
    assert!(stdout.contains("mbufs in use after stop: 0"), "{stdout}");
    (frames(&out), stdout)
}

fn same_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: frame {} differs", i + 1);
    }
    assert_eq!(got.len(), want.len(), "{what}: frame count");
}

#[test]
fn net_pcap_run_sends_what_the_replay_sends() {
    let want = frames(&root().join("pcaps/basic/expected.pcap"));
    let (got, stdout) =
        run_on_net_pcap(Path::new("pcaps/basic/switch.toml"), &[], &root().join("pcaps/basic/in.pcap"), want.len());
    assert!(stdout.contains("rx-frames                  20"), "{stdout}");
    same_frames(&got, &want, "pcaps/basic");
}

/// The arms' MACs in the reference topology (scripts/netns.sh), which the recordings carry.
const CLIENT_ARM: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 0, 0x01]);
const SERVER_ARM: MacAddr = MacAddr([0x02, 0x53, 0x57, 0, 0, 0x02]);

/// A two-armed recording made one-armed: the config and the merged capture.
struct OneArm {
    config: PathBuf,
    capture: PathBuf,
}

/// Makes a recording of the two-armed switch (`<dir>/switch.toml`, `client-in.pcap`,
/// `server-in.pcap`) one-armed, in the scratch folder:
///
/// - the capture: both inputs merged by time (a tie goes to the client side, the port the
///   worker reads first in a turn), frames for the server arm's MAC readdressed to the one
///   port's, and times cut to whole microseconds, the precision net_pcap reads (so that
///   `replay` and `run` see the same clock);
/// - the config: the recorded one with a single port `lan` on net_pcap0, the client arm's
///   MAC, the server arm's address on a /23 that holds both subnets and the VIP, and its
///   local addresses (full NAT's sources, so the switch opens its server connections from
///   the addresses and ports it used live); every neighbour seen in the capture is static,
///   so the switch need not ask on one arm what it asked on two.
fn one_arm(dir: &Path) -> OneArm {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut merged = Vec::new();
    for (side, port) in [("client", 0u8), ("server", 1u8)] {
        let mut reader = CaptureReader::open(&dir.join(format!("{side}-in.pcap"))).unwrap();
        for (k, mut f) in reader.read_all().into_iter().enumerate() {
            if f.data.len() >= 6 && f.data[..6] == SERVER_ARM.0 {
                f.data[..6].copy_from_slice(&CLIENT_ARM.0);
            }
            merged.push((f.time.as_nanos() / 1000 * 1000, port, k, f.data));
        }
    }
    merged.sort_by_key(|(time, port, k, _)| (*time, *port, *k));
    let capture = scratch(&format!("{name}-one-arm.pcap"));
    let mut writer = CaptureWriter::create(&capture).unwrap();
    let mut neighbours = std::collections::BTreeMap::new();
    for (time, _, _, data) in &merged {
        writer.write(stickwire::time::Instant::from_nanos(*time), data).unwrap();
        let Ok(eth) = ethernet::Frame::new_checked(&data[..]) else { continue };
        if eth.ethertype() != ethernet::ethertype::IPV4 {
            continue;
        }
        if let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) {
            neighbours.insert(ip.src_addr(), eth.src_addr());
        }
    }
    writer.finish().unwrap();

    let text = std::fs::read_to_string(dir.join("switch.toml")).unwrap();
    let mut config: toml::Table = toml::from_str(&text).unwrap();
    let ports = config["port"].as_array().unwrap().clone();
    let server_side = ports[1].as_table().unwrap();
    let server_ip: Ipv4Addr = server_side["ip"].as_str().unwrap().split('/').next().unwrap().parse().unwrap();
    let mut lan = toml::Table::new();
    lan.insert("name".into(), "lan".into());
    lan.insert("device".into(), "net_pcap0".into());
    lan.insert("ip".into(), format!("{server_ip}/23").into());
    lan.insert("mac".into(), CLIENT_ARM.to_string().into());
    if let Some(local) = server_side.get("local_addresses") {
        lan.insert("local_addresses".into(), local.clone());
    }
    config.insert("port".into(), toml::Value::Array(vec![lan.into()]));
    let statics: Vec<toml::Value> = neighbours
        .iter()
        .map(|(ip, mac)| {
            let mut n = toml::Table::new();
            n.insert("port".into(), "lan".into());
            n.insert("ip".into(), ip.to_string().into());
            n.insert("mac".into(), mac.to_string().into());
            n.into()
        })
        .collect();
    config.insert("neighbour".into(), toml::Value::Array(statics));
    let path = scratch(&format!("{name}-one-arm.toml"));
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    OneArm { config: path, capture }
}

/// The report from `engine counters:` on, as `run` and `replay` both print it.
fn counters(report: &str) -> Vec<&str> {
    report.lines().skip_while(|l| !l.starts_with("engine counters:")).filter(|l| !l.trim().is_empty()).collect()
}

/// A recorded conversation of the live switch (tests/replay.rs), one-armed, through
/// `stickwire run --clock capture` on net_pcap: the same frames and the same counters as
/// `stickwire replay` of the same capture with the same config.
///
/// Why one arm: net_pcap reads each port's capture as fast as the worker takes it, and two
/// ports are two files read side by side, so which of a server's reply and a client's next
/// segment comes first would be up to the reads. Merged into one capture for one port, the
/// order is the file's, the order the live switch saw. The run's clock must follow the
/// capture too (`--clock capture`: each frame's receive timestamp, which net_pcap sets from
/// the capture): on an L7 port the switch's ISNs and TCP timestamps tick with its clock, and
/// on the machine's clock they would not be those the recorded clients acknowledged.
fn one_armed_recording_runs_as_it_replays(dir: &str) -> String {
    let arm = one_arm(&root().join(dir));
    let config = Config::load(&arm.config).unwrap();
    let replayed = scratch(&format!("{}-replayed.pcap", dir.replace('/', "-")));
    let files = [PortFiles { port: "lan".into(), input: Some(arm.capture.clone()), output: Some(replayed.clone()) }];
    let report = replay(&config, &files).unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let want = frames(&replayed);
    let (got, stdout) = run_on_net_pcap(&arm.config, &["--clock", "capture"], &arm.capture, want.len());
    same_frames(&got, &want, dir);
    let replayed_report = report.to_string();
    assert_eq!(counters(&stdout), counters(&replayed_report), "{dir}: run and replay count otherwise");
    assert_eq!(report.counters.total_drops(), 0, "{dir}: one-armed, the conversation still flows:\n{replayed_report}");
    // One arm changes nothing but the way out: the switch sends the IPv4 frames the live
    // two-armed switch sent (tests/replay.rs), from its one MAC, in one stream.
    let ipv4 = |f: &Vec<u8>| f.len() > 14 && f[12..14] == [0x08, 0x00];
    let mut sent: Vec<Vec<u8>> = want.iter().filter(|f| ipv4(f)).cloned().collect();
    let mut live: Vec<Vec<u8>> = ["client", "server"]
        .iter()
        .flat_map(|side| frames(&root().join(dir).join(format!("{side}-expected.pcap"))))
        .filter(ipv4)
        .map(|mut f| {
            f[6..12].copy_from_slice(&CLIENT_ARM.0);
            f
        })
        .collect();
    sent.sort();
    live.sort();
    assert!(sent == live, "{dir}: one-armed, the switch sends other IPv4 frames than the live switch did");
    replayed_report
}

#[test]
fn the_l4_recording_one_armed_runs_as_it_replays() {
    let report = one_armed_recording_runs_as_it_replays("pcaps/l4-curl");
    assert!(report.contains("flows created 7 "), "{report}");
}

#[test]
fn the_l7_recording_one_armed_runs_as_it_replays() {
    let report = one_armed_recording_runs_as_it_replays("pcaps/l7-curl");
    assert!(report.contains("spliced                    12"), "{report}");
    assert!(report.contains("cookies-learned            1"), "{report}");
}

#[test]
fn the_tomcat_recording_one_armed_runs_as_it_replays() {
    let report = one_armed_recording_runs_as_it_replays("pcaps/l7-tomcat");
    assert!(report.contains("decided by jvm-route       3"), "{report}");
}

/// With health checks: `run --clock capture` hosts the checkers on the capture's clock and
/// takes their results turn by turn, as `replay` does, so rs3 goes down and comes back up at
/// the same frames, and the checkers' conversations come out the same.
#[test]
fn the_health_recording_one_armed_runs_as_it_replays() {
    let report = one_armed_recording_runs_as_it_replays("pcaps/health");
    assert!(report.contains("went down 1 came up 1; last: HTTP 200"), "{report}");
}
