//! The DPDK layer against a real EAL, with software PMDs only (no NIC, no hugepages).
//!
//! EAL can be initialised once per process, so everything runs in one `#[test]`, in
//! sequence. The test needs root (as CI has) and the DPDK runtime (Debian: `dpdk`,
//! `libdpdk-dev`), both of which CI has: it always runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use stickwire::dpdk::{
    register_thread, tsc, tsc_hz, unregister_thread, DpdkError, DpdkPort, Eal, EthPort, Lcore, Mbuf, Mempool, QueueId,
    RteHash, DEFAULT_DATA_ROOM, LOOKUP_BULK_MAX,
};
use stickwire::port::Port;
use stickwire::time::Instant;
use stickwire::wire::buffer::FrameBuf;

const POOL_SIZE: u32 = 4095;

fn eal_args() -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level",
        "lib.eal:notice",
        "--vdev",
        "net_null0",
        "--vdev",
        "net_ring0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A frame whose bytes say which frame it is.
fn frame(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|b| (b as u8) ^ (i as u8)).collect()
}

fn mbuf_with(pool: &Mempool, data: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("alloc");
    assert!(m.try_resize(data.len()));
    m.as_mut().copy_from_slice(data);
    m
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("stickwire-dpdk-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn dpdk_layer() {
    let eal = Eal::init(&eal_args()).expect("EAL init (run as root; DPDK installed?)");
    println!("EAL up: {eal:?}, bindings {}, pmd dir {:?}", stickwire::dpdk::BINDINGS, stickwire::dpdk::PMD_DIR);
    assert!(matches!(Eal::init(&eal_args()), Err(DpdkError::AlreadyInitialized)));
    assert!(eal.port_count() >= 2, "net_null0 and net_ring0 from --vdev");

    check_tsc();
    let pool = Mempool::new("test_pool", POOL_SIZE, 32, DEFAULT_DATA_ROOM).expect("mempool");
    check_mempool(&pool);
    check_mbuf(&pool);
    check_null_port(&pool);
    check_ring_port(&pool);
    check_registered_thread(&pool);
    check_probe_null1(&pool);
    check_pcap(&pool);
    check_rte_hash();

    assert_eq!(pool.in_use_count(), 0, "no mbuf leaked");
    assert_eq!(pool.avail_count(), POOL_SIZE);
    drop(pool);
    drop(eal);
}

/// The `rte_hash` wrapper the benchmark's reference uses: values come back for the keys
/// added, misses are `None`, a full bulk call works, a replaced value wins.
fn check_rte_hash() {
    let key = |i: u32| -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k[8] = 6;
        k
    };
    let mut table = RteHash::<16>::new("test_hash", 1024).expect("rte_hash_create");
    for i in 0..500 {
        table.insert(&key(i), i * 3).expect("room for 500 keys");
    }
    table.insert(&key(7), 70).expect("replace");
    assert_eq!(table.len(), 500);
    let keys: Vec<[u8; 16]> = (0..LOOKUP_BULK_MAX as u32).map(|i| key(i * 10)).collect();
    let mut out = vec![None; keys.len()];
    table.lookup_bulk(&keys, &mut out);
    for (i, got) in out.iter().enumerate() {
        let k = i as u32 * 10;
        assert_eq!(*got, (k < 500).then_some(k * 3), "key {k}");
    }
    let mut one = [None];
    table.lookup_bulk(&[key(7)], &mut one);
    assert_eq!(one[0], Some(70));
    assert!(RteHash::<16>::new("test_hash", 1024).is_err(), "a second table of the same name is refused");
}

fn check_tsc() {
    let hz = tsc_hz();
    assert!(hz > 1_000_000, "tsc_hz {hz}");
    let a = tsc();
    std::thread::sleep(Duration::from_millis(2));
    let b = tsc();
    assert!(b > a);
}

fn check_mempool(pool: &Mempool) {
    assert_eq!(pool.name(), "test_pool");
    assert_eq!(pool.avail_count(), POOL_SIZE);
    assert_eq!(pool.in_use_count(), 0);

    let singles: Vec<Mbuf> = (0..10).map(|_| pool.alloc().expect("alloc")).collect();
    assert_eq!(pool.in_use_count(), 10);
    let mut bulk = Vec::new();
    pool.alloc_bulk(&mut bulk, 20).expect("alloc_bulk");
    assert_eq!(bulk.len(), 20);
    assert_eq!(pool.in_use_count(), 30);
    assert!(bulk.iter().all(|m| m.is_empty()));
    drop(singles);
    drop(bulk);
    assert_eq!(pool.avail_count(), POOL_SIZE);

    // All or nothing when the pool runs short.
    let mut too_many = Vec::new();
    assert!(pool.alloc_bulk(&mut too_many, POOL_SIZE as usize + 1).is_err());
    assert!(too_many.is_empty());
    assert_eq!(pool.avail_count(), POOL_SIZE);

    // Pool names are unique.
    assert!(Mempool::new("test_pool", 63, 0, DEFAULT_DATA_ROOM).is_err());
    // A second pool, freed when dropped.
    let small = Mempool::new("small_pool", 63, 0, DEFAULT_DATA_ROOM).expect("small pool");
    assert_eq!(small.avail_count(), 63);
    drop(small);
    let again = Mempool::new("small_pool", 63, 0, DEFAULT_DATA_ROOM).expect("name reusable");
    drop(again);
}

fn check_mbuf(pool: &Mempool) {
    let mut m = pool.alloc().unwrap();
    assert_eq!(m.len(), 0);
    assert_eq!(m.as_ref(), &[] as &[u8]);
    assert_eq!(m.segments(), 1);
    assert!(m.headroom() >= 128);
    let room = m.tailroom();
    assert_eq!(room, 2048);

    assert!(m.try_resize(60));
    assert_eq!(m.len(), 60);
    assert!(m.as_ref().iter().all(|&b| b == 0), "grown bytes are zeroed");
    m.as_mut().copy_from_slice(&frame(7, 60));
    assert_eq!(m.as_ref(), &frame(7, 60)[..]);

    FrameBuf::truncate(&mut m, 14);
    assert_eq!(m.as_ref(), &frame(7, 60)[..14]);
    FrameBuf::truncate(&mut m, 100); // not longer: no-op
    assert_eq!(m.len(), 14);

    assert!(!m.try_resize(room + 1), "no room");
    assert_eq!(m.len(), 14, "unchanged after a failed resize");
    assert!(m.try_resize(room));
    assert_eq!(m.len(), room);
    assert_eq!(&m.as_ref()[..14], &frame(7, 60)[..14]);
    assert!(m.as_ref()[14..].iter().all(|&b| b == 0));
    assert!(m.try_resize(20));
    assert_eq!(m.pkt_len(), 20);

    // Mbufs move between threads (Send) and are freed there.
    let before = pool.avail_count();
    std::thread::spawn(move || drop(m)).join().unwrap();
    assert_eq!(pool.avail_count(), before + 1);
    assert_eq!(pool.in_use_count(), 0);
}

fn check_null_port(pool: &Mempool) {
    let id = EthPort::find_or_probe("net_null0").expect("net_null0 given with --vdev");
    let mut port = EthPort::configure(id, 1, 512, pool).expect("configure net_null0");
    assert_eq!(port.name(), "net_null0");
    assert!(!port.rss(), "one queue: no RSS");
    assert!(matches!(EthPort::configure(id, 1, 512, pool), Err(DpdkError::Busy(_))));
    port.start().expect("start");
    assert!(port.is_started());
    let mac = port.mac().expect("mac");
    println!("net_null0: {port:?} mac {mac:02x?} desc {:?}", port.n_desc());
    port.promiscuous(true).expect("promiscuous");
    match port.set_mac([0x02, 0, 0, 0, 0, 0x42]) {
        Ok(()) => assert_eq!(port.mac().unwrap(), [0x02, 0, 0, 0, 0, 0x42]),
        Err(e) => println!("net_null0 set_mac: {e}"),
    }

    let start = pool.avail_count();
    let mut q = port.queue(QueueId(0)).expect("queue 0");
    assert!(matches!(port.queue(QueueId(0)), Err(DpdkError::Busy(_))), "one handle per queue");
    assert!(port.queue(QueueId(1)).is_err(), "only one queue");
    assert!(matches!(port.stop(), Err(DpdkError::Busy(_))), "queue handle out");

    let mut frames = Vec::new();
    let got = q.rx_burst(&mut frames, 32);
    assert_eq!(got, 32, "net_null always has frames");
    assert_eq!(frames.len(), 32);
    assert!(frames.iter().all(|m| m.len() == 64 && m.segments() == 1));
    assert_eq!(pool.avail_count(), start - 32);
    let sent = q.tx_burst(&mut frames);
    assert_eq!(sent, 32);
    assert!(frames.is_empty());
    assert_eq!(pool.avail_count(), start, "transmitted mbufs back in the pool");

    // Large bursts, appended to what is in the Vec already.
    let mut frames = vec![mbuf_with(pool, &frame(1, 60))];
    let got = q.rx_burst(&mut frames, 100);
    assert!(got > 0 && got <= 100);
    assert_eq!(frames.len(), got + 1);
    assert_eq!(frames[0].as_ref(), &frame(1, 60)[..]);
    assert_eq!(q.tx_burst(&mut frames), got + 1);
    assert_eq!(pool.avail_count(), start);

    let rx = 32 + got as u64;
    let c = q.counters();
    assert_eq!((c.rx_frames, c.tx_frames, c.tx_dropped), (rx, rx + 1, 0));
    assert_eq!(c.rx_bytes, rx * 64);
    assert_eq!(c.tx_bytes, rx * 64 + 60);
    let dev = port.stats().expect("stats");
    assert!(dev.ipackets >= rx && dev.opackets > rx, "{dev:?}");

    drop(q);
    port.stop().expect("stop");
    assert!(!port.is_started());
    port.start().expect("restart");
    drop(port);
    assert_eq!(pool.avail_count(), start);
}

fn check_ring_port(pool: &Mempool) {
    // net_ring0 created by --vdev loops each queue's tx ring back to its rx ring.
    let id = EthPort::find_or_probe("net_ring0").expect("net_ring0");
    let mut port = EthPort::configure(id, 1, 1024, pool).expect("configure net_ring0");
    port.start().expect("start");
    let start = pool.avail_count();

    let mut dp = DpdkPort::new(&port, QueueId(0)).expect("DpdkPort");
    let mut out: Vec<Mbuf> = (0..5).map(|i| mbuf_with(pool, &frame(i, 60 + i))).collect();
    let mut originated = dp.alloc().expect("Port::alloc");
    assert!(originated.try_resize(42));
    originated.as_mut()[0] = 0xff;
    out.push(originated);
    assert_eq!(dp.tx_burst(Instant::ZERO, &mut out), 6);
    assert!(out.is_empty());

    let mut back = Vec::new();
    dp.rx_burst(Instant::ZERO, &mut back, 32);
    assert_eq!(back.len(), 6, "looped back");
    for (i, m) in back.iter().take(5).enumerate() {
        assert_eq!(m.as_ref(), &frame(i, 60 + i)[..], "frame {i} intact");
    }
    assert_eq!(back[5].len(), 42);
    assert_eq!(back[5].as_ref()[0], 0xff);
    drop(back);
    assert_eq!(pool.avail_count(), start);

    // More frames than the ring holds: the rest are freed and counted, not leaked.
    let n = 3000;
    let mut out = Vec::new();
    pool.alloc_bulk(&mut out, n).unwrap();
    for m in &mut out {
        assert!(m.try_resize(60));
    }
    let sent = dp.tx_burst(Instant::ZERO, &mut out);
    assert!(out.is_empty());
    assert!(sent > 0 && sent < n, "sent {sent}");
    let stats = dp.stats();
    assert_eq!(stats.tx_dropped, (n - sent) as u64);
    assert_eq!(stats.tx_frames, 6 + sent as u64);
    assert_eq!(stats.rx_frames, 6);
    assert_eq!(stats.alloc_failed, 0);
    assert_eq!(pool.in_use_count() as usize, sent, "only the ring holds mbufs");

    let mut drained = 0;
    let mut back = Vec::new();
    loop {
        back.clear();
        dp.rx_burst(Instant::ZERO, &mut back, 512);
        if back.is_empty() {
            break;
        }
        drained += back.len();
    }
    assert_eq!(drained, sent);
    assert_eq!(pool.avail_count(), start);
    drop(dp);
    drop(port);
}

fn check_registered_thread(pool: &Mempool) {
    assert!(Lcore::current().is_some(), "the EAL main thread is an lcore");
    let pool2 = pool.clone();
    let lcore = std::thread::spawn(move || {
        assert!(Lcore::current().is_none());
        let lcore = register_thread().expect("rte_thread_register");
        assert_eq!(Lcore::current(), Some(lcore));
        // Alloc and free through this lcore's cache.
        let mut v = Vec::new();
        pool2.alloc_bulk(&mut v, 100).unwrap();
        drop(v);
        unregister_thread();
        assert!(Lcore::current().is_none());
        lcore
    })
    .join()
    .unwrap();
    println!("registered thread got {lcore}");
    assert_eq!(pool.in_use_count(), 0);
}

fn check_probe_null1(pool: &Mempool) {
    let id = EthPort::find_or_probe("net_null1,size=128").expect("probe net_null1");
    assert_eq!(EthPort::find_or_probe("net_null1").unwrap(), id, "found, not probed again");
    let mut port = EthPort::configure(id, 1, 256, pool).expect("configure net_null1");
    assert_eq!(port.name(), "net_null1");
    port.start().unwrap();
    let mut q = port.queue(QueueId(0)).unwrap();
    let mut frames = Vec::new();
    assert_eq!(q.rx_burst(&mut frames, 8), 8);
    assert!(frames.iter().all(|m| m.len() == 128), "devargs reached the driver");
    drop(frames);
    drop(q);
    drop(port);
    assert!(EthPort::find_or_probe("net_nosuchdriver0").is_err());

    // Closing a port detaches its device, so the same device can be probed and opened again;
    // this time with two queues, spread by RSS, each on its own worker thread.
    let id = EthPort::find_or_probe("net_null1,size=100").expect("probe net_null1 again");
    let mut port = EthPort::configure(id, 2, 256, pool).expect("configure net_null1 again");
    assert_eq!(port.n_queues(), 2);
    assert!(port.rss(), "net_null reports RSS support");
    port.start().unwrap();
    let workers: Vec<_> = (0..2)
        .map(|q| {
            let mut dp = DpdkPort::new(&port, QueueId(q)).unwrap();
            std::thread::spawn(move || {
                register_thread().unwrap();
                let mut frames = Vec::new();
                dp.rx_burst(Instant::ZERO, &mut frames, 4);
                assert_eq!(frames.len(), 4);
                assert!(frames.iter().all(|m| m.len() == 100));
                assert_eq!(dp.tx_burst(Instant::ZERO, &mut frames), 4);
                let stats = dp.stats();
                unregister_thread();
                stats
            })
        })
        .collect();
    for w in workers {
        let stats = w.join().unwrap();
        assert_eq!((stats.rx_frames, stats.tx_frames, stats.tx_dropped), (4, 4, 0));
    }
    drop(port);
    assert_eq!(pool.in_use_count(), 0);
}

fn check_pcap(pool: &Mempool) {
    let dir = TempDir::new();
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 60 + 10 * i)).collect();
    {
        let mut w = PcapWriter::new(File::create(&input).unwrap()).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let ts = Duration::from_millis(1000 + i as u64);
            w.write_packet(&PcapPacket::new(ts, f.len() as u32, f)).unwrap();
        }
    }
    let devargs = format!("net_pcap0,rx_pcap={},tx_pcap={}", input.display(), output.display());
    let id = EthPort::find_or_probe(&devargs).expect("probe net_pcap0");
    let mut port = EthPort::configure(id, 1, 256, pool).expect("configure net_pcap0");
    port.start().unwrap();
    let mut dp = DpdkPort::new(&port, QueueId(0)).unwrap();

    let mut got = Vec::new();
    for _ in 0..100 {
        dp.rx_burst(Instant::ZERO, &mut got, 4);
        if got.len() >= frames.len() {
            break;
        }
    }
    assert_eq!(got.len(), frames.len());
    for (m, f) in got.iter().zip(&frames) {
        assert_eq!(m.as_ref(), &f[..]);
    }
    assert_eq!(dp.tx_burst(Instant::ZERO, &mut got), frames.len());
    let stats = dp.stats();
    assert_eq!((stats.rx_frames, stats.tx_frames, stats.tx_dropped), (10, 10, 0));
    drop(dp);
    drop(port); // closes the pcap files

    let mut r = PcapReader::new(File::open(&output).unwrap()).unwrap();
    let mut written = Vec::new();
    while let Some(p) = r.next_packet() {
        written.push(p.unwrap().data.into_owned());
    }
    assert_eq!(written, frames, "net_pcap wrote what was sent");
}
