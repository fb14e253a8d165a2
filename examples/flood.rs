//! The project's own flooder, for the SYN-flood tests and benchmarks: spoofed SYNs (or
//! SYN-ACKs, stray ACKs, FINs, blind RSTs) at a paced rate, bounded in time, through DPDK's
//! af_packet PMD on a test interface. Refuses to run outside the reference topology: the interface
//! must be `c0` in namespace `sw-client`, every address in 198.18.0.0/15.
//!
//! ```text
//! ip netns exec sw-client target/release/examples/flood \
//!     --kind syn --to 198.18.0.100:81 --rate 200000 --seconds 8 [--flat-out 4]
//! ip netns exec sw-client target/release/examples/flood \
//!     --kind rst --to 198.18.0.100:81 --from 198.18.0.2:40000 --not-near 123456789 --count 10000
//! ```
//!
//! Frames come from random sources in 198.18.0.51-.250 (`--sources`), each frame with a port
//! and sequence number of its own, or all from the one `--from` tuple (a blind attack on that
//! client's connection) with random sequence numbers (`--not-near SEQ`: none within 256 MiB of
//! SEQ, so none falls in a real window). It prints what it sent and at what rate, per phase.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use stickwire::craft::{self, Segment};
use stickwire::dpdk::{Eal, EthPort, Mbuf, Mempool, QueueId};
use stickwire::port::Port;
use stickwire::wire::{checksum, tcp, FrameBuf, MacAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Syn,
    SynAck,
    Ack,
    Fin,
    Rst,
}

impl Kind {
    fn flags(self) -> u8 {
        use tcp::flags::{ACK, FIN, RST, SYN};
        match self {
            Kind::Syn => SYN,
            Kind::SynAck => SYN | ACK,
            Kind::Ack => ACK,
            Kind::Fin => FIN | ACK,
            Kind::Rst => RST,
        }
    }
}

#[derive(Debug, Parser)]
#[command(about = "Paced, time-bounded flood into the reference topology (sw-client's c0)")]
struct Args {
    #[arg(long, value_enum)]
    kind: Kind,
    /// The VIP and port aimed at.
    #[arg(long)]
    to: SocketAddrV4,
    /// Every frame from this client tuple (a blind attack on its connection) instead of
    /// random spoofed sources.
    #[arg(long)]
    from: Option<SocketAddrV4>,
    /// No sequence number within 256 MiB of this one (the attacked connection's), so
    /// none of the random ones can fall inside a real window.
    #[arg(long)]
    not_near: Option<u32>,
    /// Every frame with exactly this sequence number (an RST in the window ends the
    /// connection it is aimed at).
    #[arg(long, conflicts_with = "not_near")]
    seq: Option<u32>,
    /// Frames per second in the paced phase.
    #[arg(long, default_value_t = 200_000)]
    rate: u64,
    /// Seconds of the paced phase.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Then this many seconds as fast as one core sends.
    #[arg(long, default_value_t = 0.0)]
    flat_out: f64,
    /// At most this many frames per second in the flat-out phase (to give two targets the
    /// same flood when one of them slows its sender).
    #[arg(long)]
    flat_rate: Option<u64>,
    /// Or stop after this many frames (whichever comes first).
    #[arg(long)]
    count: Option<u64>,
    /// Spoofed sources from 198.18.0.51 up, this many.
    #[arg(long, default_value_t = 200)]
    sources: u32,
    /// The interface (must be c0).
    #[arg(long, default_value = "c0")]
    iface: String,
    /// The switch's MAC on that link.
    #[arg(long, default_value = "02:53:57:00:00:01")]
    dst_mac: MacAddr,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The reference topology's test range.
fn in_test_range(ip: Ipv4Addr) -> bool {
    u32::from(ip) & 0xfffe_0000 == u32::from(Ipv4Addr::new(198, 18, 0, 0))
}

/// Whether this process runs in network namespace `name` (its /proc/self/ns/net is that
/// namespace's file).
fn in_namespace(name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net");
    let theirs = std::fs::metadata(format!("/run/netns/{name}"));
    matches!((ours, theirs), (Ok(a), Ok(b)) if a.ino() == b.ino() && a.dev() == b.dev())
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Sequence numbers `--not-near` keeps away from: twice the largest window Linux offers
/// by default is far less.
const NOT_NEAR: u32 = 1 << 28;

/// One frame of the flood.
fn frame(args: &Args, rng: &mut u64) -> Vec<u8> {
    let r = splitmix(rng);
    let (src, src_port) = match args.from {
        Some(from) => (*from.ip(), from.port()),
        None => {
            let src = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 51)) + (r as u32) % args.sources.max(1));
            (src, 1024 + ((r >> 32) as u16) % 64000)
        }
    };
    let random_seq = (r >> 16) as u32;
    let seq = match (args.seq, args.not_near) {
        (Some(seq), _) => seq,
        // Uniform over the 2^32 - 2^29 numbers at least NOT_NEAR away from `near`.
        (None, Some(near)) => near.wrapping_add(NOT_NEAR).wrapping_add(random_seq % (u32::MAX - 2 * NOT_NEAR + 1)),
        (None, None) => random_seq,
    };
    let flags = args.kind.flags();
    let mut seg = Segment {
        src_port,
        dst_port: args.to.port(),
        seq,
        ack: if flags & tcp::flags::ACK != 0 { (r >> 8) as u32 } else { 0 },
        flags,
        window: 64240,
        ..Default::default()
    };
    let mss = [2, 4, 5, 0xb4];
    if flags & tcp::flags::SYN != 0 {
        seg.options = &mss;
    }
    craft::tcp_frame(args.dst_mac, MacAddr([2, 0, 0, 0, 0xf1, 0x0d]), src, *args.to.ip(), &seg)
}

/// Where the TCP header starts in a frame [`frame`] built (Ethernet, IPv4 without options).
const TCP_OFFSET: usize = 14 + 20;

/// Gives a copied template a source port and sequence number of its own, patching the TCP
/// checksum (RFC 1624) rather than building the frame again: with only the templates' few
/// thousand tuples every spoofed SYN would come back every 20 ms at 200 k/s, which no real
/// flood does and which a switch rightly treats as the client's retransmission.
fn fresh_tuple(frame: &mut [u8], rng: &mut u64) {
    let Ok(mut segment) = tcp::Packet::new_checked(&mut frame[TCP_OFFSET..]) else { return };
    let r = splitmix(rng);
    let (port, seq) = (1024 + (r as u16) % 64000, (r >> 32) as u32);
    let sum = checksum::update16(segment.checksum(), segment.src_port(), port);
    let sum = checksum::update32(sum, segment.seq_number(), seq);
    segment.set_src_port(port);
    segment.set_seq_number(seq);
    segment.set_checksum(sum);
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.iface != "c0" || !in_namespace("sw-client") {
        return Err("flood runs only on c0 in namespace sw-client (ip netns exec sw-client ...)".into());
    }
    if !in_test_range(*args.to.ip()) || args.from.is_some_and(|f| !in_test_range(*f.ip())) {
        return Err("every address must be in 198.18.0.0/15".into());
    }
    let eal_args: Vec<String> = [
        "flood",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level",
        "lib.eal:error",
    ]
    .map(String::from)
    .to_vec();
    let _eal = Eal::init(&eal_args).map_err(|e| format!("EAL: {e}"))?;
    let pool = Mempool::new("flood", 8191, 256, 2048 + 128).map_err(|e| format!("mempool: {e}"))?;
    let id =
        EthPort::find_or_probe(&format!("net_af_packet9,iface={},blocksz=4096,framesz=2048,framecnt=4096", args.iface))
            .map_err(|e| format!("af_packet on {}: {e}", args.iface))?;
    let mut port = EthPort::configure(id, 1, 1024, &pool).map_err(|e| format!("configure: {e}"))?;
    port.start().map_err(|e| format!("start: {e}"))?;
    let mut queue = stickwire::dpdk::DpdkPort::new(&port, QueueId(0)).map_err(|e| format!("queue: {e}"))?;

    let mut rng = args.seed;
    // A few thousand frames built once, sent round robin (building is not what is measured);
    // with random sources each copy gets a fresh port and sequence number.
    let fresh = args.from.is_none() && args.seq.is_none() && args.not_near.is_none();
    let templates: Vec<Vec<u8>> = (0..4096).map(|_| frame(&args, &mut rng)).collect();
    let limit = args.count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    for (phase, seconds, rate) in
        [("paced", args.seconds, Some(args.rate)), ("flat out", args.flat_out, args.flat_rate)]
    {
        if seconds <= 0.0 || sent >= limit {
            continue;
        }
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let (mut phase_sent, mut burst) = (0u64, Vec::with_capacity(32));
        while Instant::now() < end && sent < limit {
            let due = match rate {
                Some(rate) => ((start.elapsed().as_secs_f64() * rate as f64) as u64).saturating_sub(phase_sent),
                None => 32,
            };
            if due == 0 {
                // Ahead of the pace: leave the core to the switch and the servers (two-core
                // boxes) until the next frame is due.
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            for _ in 0..due.min(32).min(limit - sent) {
                let Some(mut m) = queue.alloc() else { break };
                if m.try_copy_from(&templates[(sent % templates.len() as u64) as usize]) {
                    if fresh {
                        fresh_tuple(m.as_mut(), &mut rng);
                    }
                    burst.push(m);
                    sent += 1;
                    phase_sent += 1;
                }
            }
            queue.tx_burst(stickwire::time::Instant::ZERO, &mut burst);
            Mbuf::free_bulk(&mut burst);
        }
        let took = start.elapsed().as_secs_f64();
        println!("{phase}: {phase_sent} frames in {took:.2} s, {:.0} per second", phase_sent as f64 / took.max(1e-9));
    }
    let stats = queue.stats();
    println!("sent {sent} frames; device tx {} dropped {}", stats.tx_frames, stats.tx_dropped);
    drop(queue); // A port stops only once no queue handle of it is out.
    if let Err(e) = port.stop() {
        eprintln!("flood: stopping {}: {e}", args.iface);
    }
    Ok(())
}
