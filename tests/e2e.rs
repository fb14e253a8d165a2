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
