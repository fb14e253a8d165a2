//! `workers = "auto"`: as many polling workers as the box can give a core each, and no more.
//!
//! A worker busy-polls its queues, so it wants a core of its own; two workers on one core
//! only take turns, and a worker sharing a core with the traffic it carries slows both.
//! So `auto` counts the cores this process may run on and keeps some for the rest:
//! - ports on a NIC (a PCI device): one core is left to the operating system and the
//!   switch's control thread, the others each run a worker;
//! - ports on devices whose I/O the kernel does (af_packet, tap, pcap, af_xdp): every
//!   frame costs the kernel as much again on other cores (veth, the packet ring, a send
//!   call), and on a test box the clients and servers run there too: half the cores run
//!   workers. A 2-core box running wrk and nginx beside the switch gets one worker, which
//!   end to end beats two (BENCHMARKS.md).

/// Drivers whose frames the kernel moves.
const KERNEL_IO: [&str; 4] = ["net_af_packet", "net_tap", "net_pcap", "net_af_xdp"];

/// The workers for `cores` cores and ports on `devices` (their devargs), at most `max`.
pub fn workers(cores: usize, devices: &[&str], max: usize) -> usize {
    let kernel_io = devices.iter().any(|d| KERNEL_IO.iter().any(|k| d.starts_with(k)));
    let n = if kernel_io { cores / 2 } else { cores.saturating_sub(1) };
    n.clamp(1, max.max(1))
}

/// The cores this process may run on.
pub fn cores() -> usize {
    core_affinity::get_core_ids().map_or(1, |ids| ids.len().max(1))
}

/// With `auto`, af_packet's queue pairs follow the worker count: `qpairs=N` in `device` becomes the
/// number of workers (dropped for one), so no socket of the kernel's fanout goes unpolled.
pub fn devargs(device: &str, workers: usize) -> String {
    if !device.starts_with("net_af_packet") {
        return device.to_string();
    }
    let mut parts: Vec<String> =
        device.split(',').filter(|p| !p.trim_start().starts_with("qpairs=")).map(str::to_string).collect();
    if workers > 1 {
        parts.push(format!("qpairs={workers}"));
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_per_core_left_over() {
        assert_eq!(workers(2, &["net_af_packet0,iface=l0"], 64), 1);
        assert_eq!(workers(8, &["net_af_packet0,iface=l0", "0000:03:00.0"], 64), 4);
        assert_eq!(workers(2, &["0000:03:00.0"], 64), 1);
        assert_eq!(workers(16, &["0000:03:00.0", "0000:03:00.1"], 64), 15);
        assert_eq!(workers(1, &["0000:03:00.0"], 64), 1);
        assert_eq!(workers(128, &["0000:03:00.0"], 64), 64);
    }

    #[test]
    fn af_packet_queue_pairs_follow_the_workers() {
        assert_eq!(devargs("net_af_packet0,iface=l0,qpairs=2", 1), "net_af_packet0,iface=l0");
        assert_eq!(devargs("net_af_packet0,iface=l0", 4), "net_af_packet0,iface=l0,qpairs=4");
        assert_eq!(devargs("net_af_packet0,qpairs=2,iface=l0", 2), "net_af_packet0,iface=l0,qpairs=2");
        assert_eq!(devargs("0000:03:00.0", 2), "0000:03:00.0");
    }
}
