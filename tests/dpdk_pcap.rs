//! The basic capture through real DPDK: `stickwire run` on the `net_pcap` PMD must send the
//! same frames as the software replay port, and give every mbuf back.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use stickwire::port::pcap::CaptureReader;

fn frames(path: &Path) -> Vec<Vec<u8>> {
    CaptureReader::open(path).unwrap().read_all().into_iter().map(|f| f.data).collect()
}

#[test]
fn net_pcap_run_sends_what_the_replay_sends() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("stickwire-dpdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tx.pcap");
    let vdev = format!("net_pcap0,rx_pcap={},tx_pcap={}", root.join("pcaps/basic/in.pcap").display(), out.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_stickwire"))
        .args(["run", "--config", "pcaps/basic/switch.toml", "--", "--vdev", &vdev])
        .current_dir(root)
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
    std::thread::sleep(Duration::from_millis(1500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let result = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{stdout}\n{log}");

    assert!(stdout.contains("rx-frames                  20"), "{stdout}");
    assert!(stdout.contains("mbufs in use after stop: 0"), "{stdout}");
    let got = frames(&out);
    let want = frames(&root.join("pcaps/basic/expected.pcap"));
    assert_eq!(got.len(), want.len(), "{stdout}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {} differs", i + 1);
    }
}
