//! Ethernet devices (ethdev ports) and their queues.

use std::ffi::{c_char, CStr, CString};
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::eal;
use super::error::{check, DpdkError};
use super::mbuf::Mbuf;
use super::mempool::Mempool;
use super::sys;
use crate::port::PortStats;
use crate::wire::rss::{Fields, Rss};

/// An ethdev port id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

/// A receive/transmit queue index within a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue {}", self.0)
    }
}

/// A symmetric Toeplitz key (0x6d5a repeated): both directions of a flow hash to the same
/// queue, so return traffic lands on the core that owns the flow.
const SYMMETRIC_RSS_KEY_BYTE_PAIR: [u8; 2] = [0x6d, 0x5a];
/// The Toeplitz key length most NICs use, for devices that do not say.
const DEFAULT_RSS_KEY_LEN: usize = 40;
/// What RSS hashes on: IPv4/IPv6 addresses, TCP and UDP ports.
const RSS_HF: u64 = (sys::RTE_ETH_RSS_IP | sys::RTE_ETH_RSS_TCP | sys::RTE_ETH_RSS_UDP) as u64;
/// `RTE_ETH_RSS_L3_SRC_ONLY` (bit 63; the generated bindings miss it).
const RSS_L3_SRC_ONLY: u64 = 1 << 63;
/// The bits that narrow RSS to one side's address and port.
fn field_bits(fields: Fields) -> u64 {
    match fields {
        Fields::Tuple => 0,
        Fields::Source => RSS_L3_SRC_ONLY | sys::RTE_ETH_RSS_L4_SRC_ONLY,
        Fields::Destination => sys::RTE_ETH_RSS_L3_DST_ONLY | sys::RTE_ETH_RSS_L4_DST_ONLY,
    }
}
/// Redirection table entries per `rte_eth_rss_reta_entry64`.
const RETA_GROUP: usize = 64;
/// How many more times `tx_burst` offers frames the device did not take at once.
const TX_RETRIES: u32 = 4;

/// Ports configured through [`EthPort::configure`] and not yet dropped: at most one
/// `EthPort` per device.
static CONFIGURED: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Device counters (`rte_eth_stats_get`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EthStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Received frames the device dropped because its receive ring was full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// The name of the ethdev `port` (`rte_eth_dev_get_name_by_port`).
fn port_name(port: PortId) -> Result<String, DpdkError> {
    let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: `buf` has the RTE_ETH_NAME_MAX_LEN bytes the function may write, NUL included.
    let ret = unsafe { sys::rte_eth_dev_get_name_by_port(port.0, buf.as_mut_ptr()) };
    check("rte_eth_dev_get_name_by_port", ret)?;
    // SAFETY: on success `buf` holds a NUL-terminated name.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

/// The port called `name`, if there is one.
fn port_by_name(name: &str) -> Result<Option<PortId>, DpdkError> {
    let cname = CString::new(name).map_err(|_| DpdkError::invalid("rte_eth_dev_get_port_by_name", "NUL in name"))?;
    let mut id = 0u16;
    // SAFETY: `cname` is NUL-terminated and `id` is a valid out-pointer for the call.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    Ok((ret == 0).then_some(PortId(id)))
}

/// An ethdev port, configured with `n` receive and `n` transmit queues filling from one
/// mempool. Dropping the `EthPort` and every [`RxTxQueue`] taken from it stops and closes
/// the device.
pub struct EthPort {
    inner: Arc<PortInner>,
}

struct PortInner {
    id: PortId,
    name: String,
    n_queues: u16,
    n_rx_desc: u16,
    n_tx_desc: u16,
    rss: bool,
    /// The device's RSS as read back after configuring it (`None`: no RSS, or unreadable).
    rss_model: Option<Rss>,
    driver: String,
    started: AtomicBool,
    /// Which queues have a live `RxTxQueue` handle.
    taken: Mutex<Vec<bool>>,
    /// The receive queues fill from this pool (and it keeps EAL up).
    pool: Mempool,
}

impl EthPort {
    /// The port for `device`, probing it if needed.
    ///
    /// `device` is a devargs string: a virtual device (`net_af_packet0,iface=eth0`,
    /// `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`, `net_null1`) or a PCI address
    /// (`0000:03:00.0`). If a port named by the part before the first comma exists already
    /// (given with `--vdev`/`-a` to EAL, or probed before), that is the one; otherwise the
    /// device is hot-plugged with `rte_dev_probe(device)`.
    pub fn find_or_probe(device: &str) -> Result<PortId, DpdkError> {
        let _eal = eal::live()?;
        let name = device.split(',').next().unwrap_or("").trim();
        if name.is_empty() {
            return Err(DpdkError::invalid("rte_dev_probe", "empty device name"));
        }
        if let Some(id) = port_by_name(name)? {
            return Ok(id);
        }
        let cdev = CString::new(device).map_err(|_| DpdkError::invalid("rte_dev_probe", "NUL in devargs"))?;
        // SAFETY: EAL is initialised and `cdev` is a NUL-terminated devargs string.
        let ret = unsafe { sys::rte_dev_probe(cdev.as_ptr()) };
        check("rte_dev_probe", ret)?;
        port_by_name(name)?.ok_or_else(|| DpdkError::NoSuchPort(name.to_string()))
    }

    /// Configures port `id` with `n_queues` receive and transmit queues of `n_desc`
    /// descriptors (clamped to what the device allows), receive buffers from `pool`.
    ///
    /// With more than one queue, and a device that can, receive side scaling spreads flows
    /// over the queues with a symmetric Toeplitz key on IP addresses and TCP/UDP ports. The
    /// port is left stopped: call [`EthPort::start`].
    pub fn configure(id: PortId, n_queues: u16, n_desc: u16, pool: &Mempool) -> Result<EthPort, DpdkError> {
        EthPort::configure_rss(id, n_queues, n_desc, pool, Fields::Tuple)
    }

    /// [`configure`](Self::configure), RSS hashing on `fields` where the device can (else on
    /// addresses and ports); [`rss_model`](Self::rss_model) then says what it does.
    pub fn configure_rss(
        id: PortId,
        n_queues: u16,
        n_desc: u16,
        pool: &Mempool,
        fields: Fields,
    ) -> Result<EthPort, DpdkError> {
        const FUNC: &str = "rte_eth_dev_configure";
        let _eal = eal::live()?;
        // SAFETY: plain query with a value argument.
        if unsafe { sys::rte_eth_dev_is_valid_port(id.0) } == 0 {
            return Err(DpdkError::invalid(FUNC, format!("no {id}")));
        }
        if n_queues == 0 {
            return Err(DpdkError::invalid(FUNC, "zero queues"));
        }
        {
            let mut configured = CONFIGURED.lock().unwrap_or_else(|e| e.into_inner());
            if configured.contains(&id.0) {
                return Err(DpdkError::Busy("rte_eth_dev_configure"));
            }
            configured.push(id.0);
        }
        match Self::configure_device(id, n_queues, n_desc, pool, fields) {
            Ok(inner) => Ok(EthPort { inner: Arc::new(inner) }),
            Err(e) => {
                CONFIGURED.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != id.0);
                Err(e)
            }
        }
    }

    /// The most queue pairs the device offers (the smaller of its rx and tx maxima).
    pub fn max_queues(id: PortId) -> Result<u16, DpdkError> {
        let info = dev_info(id)?;
        Ok(info.max_rx_queues.min(info.max_tx_queues))
    }

    fn configure_device(
        id: PortId,
        n_queues: u16,
        n_desc: u16,
        pool: &Mempool,
        fields: Fields,
    ) -> Result<PortInner, DpdkError> {
        let name = port_name(id)?;
        let info = dev_info(id)?;
        if n_queues > info.max_rx_queues || n_queues > info.max_tx_queues {
            return Err(DpdkError::invalid(
                "rte_eth_dev_configure",
                format!(
                    "{name}: {n_queues} queues, device allows {} rx / {} tx",
                    info.max_rx_queues, info.max_tx_queues
                ),
            ));
        }

        let mut conf = sys::rte_eth_conf::default();
        let narrow = field_bits(fields);
        let fields = if info.flow_type_rss_offloads & narrow == narrow { fields } else { Fields::Tuple };
        let rss_hf = (RSS_HF & info.flow_type_rss_offloads) | field_bits(fields);
        let key_len = if info.hash_key_size == 0 { DEFAULT_RSS_KEY_LEN } else { usize::from(info.hash_key_size) };
        let mut key: Vec<u8> = SYMMETRIC_RSS_KEY_BYTE_PAIR.iter().copied().cycle().take(key_len).collect();
        let rss = n_queues > 1 && rss_hf & RSS_HF != 0;
        if rss {
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key_len as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: `conf` is a fully initialised rte_eth_conf; the RSS key it points to lives
        // until after the call (DPDK copies it).
        let ret = unsafe { sys::rte_eth_dev_configure(id.0, n_queues, n_queues, &conf) };
        check("rte_eth_dev_configure", ret)?;
        let rss_model = if rss { rss_model(id, n_queues, info.reta_size, key_len, fields) } else { None };
        drop(key);
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-NULL driver name is a NUL-terminated string the driver owns for
            // the life of the process.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };

        let (mut n_rx, mut n_tx) = (n_desc, n_desc);
        // SAFETY: valid out-pointers to u16s for the call.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id.0, &mut n_rx, &mut n_tx) };
        check("rte_eth_dev_adjust_nb_rx_tx_desc", ret)?;

        // SAFETY: plain query; SOCKET_ID_ANY (-1) when unknown, which the setup calls accept.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id.0) } as u32;
        for q in 0..n_queues {
            // SAFETY: the port is configured with `n_queues` queues; a NULL rxconf means the
            // driver's defaults; `pool` is alive and stays alive as long as the port (the
            // port keeps a clone of it).
            let ret = unsafe { sys::rte_eth_rx_queue_setup(id.0, q, n_rx, socket, ptr::null(), pool.as_ptr()) };
            check("rte_eth_rx_queue_setup", ret)?;
            // SAFETY: as above; NULL txconf means the driver's defaults.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(id.0, q, n_tx, socket, ptr::null()) };
            check("rte_eth_tx_queue_setup", ret)?;
        }
        Ok(PortInner {
            id,
            name,
            n_queues,
            n_rx_desc: n_rx,
            n_tx_desc: n_tx,
            rss,
            rss_model,
            driver,
            started: AtomicBool::new(false),
            taken: Mutex::new(vec![false; usize::from(n_queues)]),
            pool: pool.clone(),
        })
    }

    /// Refuses control operations that must not run beside the data path.
    fn exclusive(&self, func: &'static str) -> Result<(), DpdkError> {
        if Arc::strong_count(&self.inner) > 1 {
            return Err(DpdkError::Busy(func));
        }
        Ok(())
    }

    /// Starts the device (`rte_eth_dev_start`). No queue handle may be out.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        self.exclusive("rte_eth_dev_start")?;
        if self.inner.started.load(Ordering::Acquire) {
            return Ok(());
        }
        // SAFETY: the port is configured and no queue of it is in use by another thread.
        let ret = unsafe { sys::rte_eth_dev_start(self.inner.id.0) };
        check("rte_eth_dev_start", ret)?;
        self.inner.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops the device (`rte_eth_dev_stop`). No queue handle may be out.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        self.exclusive("rte_eth_dev_stop")?;
        if !self.inner.started.load(Ordering::Acquire) {
            return Ok(());
        }
        // SAFETY: no queue of the port is in use by another thread.
        let ret = unsafe { sys::rte_eth_dev_stop(self.inner.id.0) };
        check("rte_eth_dev_stop", ret)?;
        self.inner.started.store(false, Ordering::Release);
        Ok(())
    }

    /// Whether the device is started.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Takes the handle of queue pair `q`, for one worker thread. Each queue can be taken
    /// once at a time; the handle gives it back when dropped.
    pub fn queue(&self, q: QueueId) -> Result<RxTxQueue, DpdkError> {
        if q.0 >= self.inner.n_queues {
            return Err(DpdkError::invalid(
                "queue",
                format!("{q} of {} with {} queues", self.inner.name, self.inner.n_queues),
            ));
        }
        let mut taken = self.inner.taken.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut taken[usize::from(q.0)];
        if *slot {
            return Err(DpdkError::Busy("queue"));
        }
        *slot = true;
        Ok(RxTxQueue {
            port: Arc::clone(&self.inner),
            port_id: self.inner.id.0,
            queue: q.0,
            counters: PortStats::default(),
        })
    }

    pub fn id(&self) -> PortId {
        self.inner.id
    }

    /// The ethdev name (`net_null0`, `0000:03:00.0`, ...).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn n_queues(&self) -> u16 {
        self.inner.n_queues
    }

    /// Descriptors per receive and transmit queue, after clamping to the device's limits.
    pub fn n_desc(&self) -> (u16, u16) {
        (self.inner.n_rx_desc, self.inner.n_tx_desc)
    }

    /// Whether receive side scaling is on (more than one queue and a device that can).
    pub fn rss(&self) -> bool {
        self.inner.rss
    }

    /// The pool the receive queues fill from.
    pub fn pool(&self) -> &Mempool {
        &self.inner.pool
    }

    /// The device's RSS as read back from it (key, fields, redirection table): which queue
    /// any tuple lands on. `None` without RSS, or when the device would not say.
    pub fn rss_model(&self) -> Option<&Rss> {
        self.inner.rss_model.as_ref()
    }

    /// The driver's name (`net_af_packet`, `net_ice`, ...).
    pub fn driver(&self) -> &str {
        &self.inner.driver
    }

    /// The device's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut addr = sys::rte_ether_addr::default();
        // SAFETY: `addr` is a valid out-pointer for the call.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.inner.id.0, &mut addr) };
        check("rte_eth_macaddr_get", ret)?;
        Ok(addr.addr_bytes)
    }

    /// Sets the device's MAC address (`rte_eth_dev_default_mac_addr_set`); an error (such
    /// as ENOTSUP) if the device cannot.
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let mut addr = sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: `addr` is valid for the call; DPDK copies it.
        let ret = unsafe { sys::rte_eth_dev_default_mac_addr_set(self.inner.id.0, &mut addr) };
        check("rte_eth_dev_default_mac_addr_set", ret)
    }

    /// Turns promiscuous mode on or off.
    pub fn promiscuous(&self, on: bool) -> Result<(), DpdkError> {
        // SAFETY: plain control calls on a valid port.
        let ret = unsafe {
            if on {
                sys::rte_eth_promiscuous_enable(self.inner.id.0)
            } else {
                sys::rte_eth_promiscuous_disable(self.inner.id.0)
            }
        };
        check(if on { "rte_eth_promiscuous_enable" } else { "rte_eth_promiscuous_disable" }, ret)
    }

    /// The device's counters.
    pub fn stats(&self) -> Result<EthStats, DpdkError> {
        eth_stats(self.inner.id)
    }
}

impl fmt::Debug for EthPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthPort")
            .field("id", &self.inner.id.0)
            .field("name", &self.inner.name)
            .field("n_queues", &self.inner.n_queues)
            .field("rss", &self.inner.rss)
            .field("started", &self.is_started())
            .finish()
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        let device = dev_info(self.id).map(|info| info.device).unwrap_or(ptr::null_mut());
        // SAFETY: the last handle is gone, so no queue of the port is in use; stopping and
        // closing frees the rings (and the mbufs the driver keeps in them) before `pool` is
        // released.
        unsafe {
            if self.started.load(Ordering::Acquire) {
                let _ = sys::rte_eth_dev_stop(self.id.0);
            }
            let _ = sys::rte_eth_dev_close(self.id.0);
        }
        // Detach the device too, unless another port lives on it, so that a later
        // `find_or_probe` of the same device probes it afresh.
        if !device.is_null() {
            // SAFETY: `device` is the rte_device the port was on; closing the port released
            // the ethdev but not the device. It is detached only when no port uses it.
            unsafe {
                if u32::from(sys::rte_eth_find_next_of(0, device)) >= sys::RTE_MAX_ETHPORTS {
                    let _ = sys::rte_dev_remove(device);
                }
            }
        }
        CONFIGURED.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != self.id.0);
    }
}

/// Fills the redirection table of a configured port `0, 1, .., n - 1, 0, ..` and reads back
/// the table and key the device then uses: the model of where it puts each tuple.
fn rss_model(id: PortId, n_queues: u16, reta_size: u16, key_len: usize, fields: Fields) -> Option<Rss> {
    let size = usize::from(reta_size);
    if size == 0 {
        return None;
    }
    let mut groups = vec![sys::rte_eth_rss_reta_entry64::default(); size.div_ceil(RETA_GROUP)];
    for (i, group) in groups.iter_mut().enumerate() {
        let entries = (size - i * RETA_GROUP).min(RETA_GROUP);
        group.mask = if entries == RETA_GROUP { u64::MAX } else { (1u64 << entries) - 1 };
        for (j, q) in group.reta.iter_mut().take(entries).enumerate() {
            *q = ((i * RETA_GROUP + j) % usize::from(n_queues)) as u16;
        }
    }
    // SAFETY: `groups` holds `reta_size` entries in groups of 64, as the call reads them; a
    // device that cannot update its table says so and keeps its own (read back below).
    let _ = unsafe { sys::rte_eth_dev_rss_reta_update(id.0, groups.as_mut_ptr(), reta_size) };
    for g in &mut groups {
        g.reta = [0; RETA_GROUP];
    }
    // SAFETY: as above; the call writes the entries each group's mask selects.
    let ret = unsafe { sys::rte_eth_dev_rss_reta_query(id.0, groups.as_mut_ptr(), reta_size) };
    if ret != 0 {
        return None;
    }
    let reta: Vec<u16> = groups.iter().flat_map(|g| g.reta).take(size).collect();
    let mut key = vec![0u8; key_len];
    let mut conf = sys::rte_eth_rss_conf { rss_key: key.as_mut_ptr(), rss_key_len: key_len as u8, rss_hf: 0 };
    // SAFETY: `conf.rss_key` points to `key_len` writable bytes, which the call fills.
    let ret = unsafe { sys::rte_eth_dev_rss_hash_conf_get(id.0, &mut conf) };
    if ret != 0 || conf.rss_hf == 0 {
        return None;
    }
    Some(Rss::with_reta(&key, fields, reta))
}

fn dev_info(id: PortId) -> Result<sys::rte_eth_dev_info, DpdkError> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid out-pointer for the call.
    let ret = unsafe { sys::rte_eth_dev_info_get(id.0, &mut info) };
    check("rte_eth_dev_info_get", ret)?;
    Ok(info)
}

fn eth_stats(id: PortId) -> Result<EthStats, DpdkError> {
    let mut s = sys::rte_eth_stats::default();
    // SAFETY: `s` is a valid out-pointer for the call.
    let ret = unsafe { sys::rte_eth_stats_get(id.0, &mut s) };
    check("rte_eth_stats_get", ret)?;
    Ok(EthStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

/// Queue pair `q` of a started port, owned by one worker thread.
///
/// Keeps the port (and its pool, and EAL) alive. Counts what went through it: frames and
/// bytes received and sent, frames the device did not take (`tx_dropped`), chained frames
/// that could not be linearised (`rx_missed`).
pub struct RxTxQueue {
    port: Arc<PortInner>,
    port_id: u16,
    queue: u16,
    counters: PortStats,
}

impl RxTxQueue {
    pub fn port_id(&self) -> PortId {
        PortId(self.port_id)
    }

    pub fn queue_id(&self) -> QueueId {
        QueueId(self.queue)
    }

    /// The pool the receive queue fills from.
    pub fn pool(&self) -> &Mempool {
        &self.port.pool
    }

    /// This queue's counters (no device counters; `alloc_failed` stays 0).
    pub fn counters(&self) -> PortStats {
        self.counters
    }

    /// The device's counters (for the whole port).
    pub fn device_stats(&self) -> Result<EthStats, DpdkError> {
        eth_stats(PortId(self.port_id))
    }

    /// Appends up to `max` received frames to `out`; returns how many.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let max = max.min(usize::from(u16::MAX));
        if max == 0 {
            return 0;
        }
        out.reserve(max);
        let start = out.len();
        let spare = out.spare_capacity_mut();
        // SAFETY: `spare` has room for `max` elements; `Mbuf` is `repr(transparent)` over
        // `NonNull<rte_mbuf>` (layout of `*mut rte_mbuf`). This handle is the only user of
        // the queue (queues are handed out once), and `&mut self` keeps it on one thread.
        let n = unsafe {
            sys::rte_eth_rx_burst(self.port_id, self.queue, spare.as_mut_ptr().cast::<*mut sys::rte_mbuf>(), max as u16)
        };
        let n = usize::from(n);
        // SAFETY: the driver wrote `n` valid mbuf pointers, whose ownership passes to us.
        unsafe { out.set_len(start + n) };

        let mut bytes = 0u64;
        let mut chained = false;
        for m in &out[start..] {
            bytes += m.pkt_len() as u64;
            chained |= m.segments() > 1;
        }
        if chained {
            self.linearize_from(out, start);
        }
        let got = out.len() - start;
        self.counters.rx_frames += got as u64;
        self.counters.rx_bytes += bytes;
        got
    }

    #[cold]
    fn linearize_from(&mut self, out: &mut Vec<Mbuf>, start: usize) {
        let mut i = start;
        while i < out.len() {
            if out[i].linearize() {
                i += 1;
            } else {
                drop(out.remove(i));
                self.counters.rx_missed += 1;
            }
        }
    }

    /// Sends every frame in `frames`, leaving it empty, and returns how many the device
    /// took. Frames it does not take after a few retries are freed and counted in
    /// `tx_dropped`: nothing leaks.
    #[inline]
    pub fn tx_burst(&mut self, frames: &mut Vec<Mbuf>) -> usize {
        let len = frames.len();
        if len == 0 {
            return 0;
        }
        let total_bytes: u64 = frames.iter().map(|m| m.pkt_len() as u64).sum();
        let base = frames.as_mut_ptr();
        // SAFETY: ownership of the `len` mbufs moves out of the Vec to this function: the
        // driver takes some, the rest are dropped below. Setting the length first means a
        // panic can only leak them, never free them twice.
        unsafe { frames.set_len(0) };

        let mut sent = 0usize;
        let mut retries = 0u32;
        while sent < len {
            let chunk = (len - sent).min(usize::from(u16::MAX)) as u16;
            // SAFETY: `base + sent .. base + len` are valid owned mbuf pointers (`Mbuf` is
            // `repr(transparent)` over a non-null `*mut rte_mbuf`); the driver takes
            // ownership of the first `n` it returns. Only this handle uses the queue.
            let n = unsafe {
                sys::rte_eth_tx_burst(self.port_id, self.queue, base.add(sent).cast::<*mut sys::rte_mbuf>(), chunk)
            };
            sent += usize::from(n);
            if n < chunk {
                retries += 1;
                if retries > TX_RETRIES {
                    break;
                }
            }
        }

        let mut unsent_bytes = 0u64;
        if sent < len {
            // SAFETY: `base + sent .. base + len` are still ours (the driver did not take
            // them) and no longer in the Vec: drop (free) each exactly once.
            unsafe {
                let rest = ptr::slice_from_raw_parts_mut(base.add(sent), len - sent);
                unsent_bytes = (*rest).iter().map(|m| m.pkt_len() as u64).sum();
                ptr::drop_in_place(rest);
            }
            self.counters.tx_dropped += (len - sent) as u64;
        }
        self.counters.tx_frames += sent as u64;
        self.counters.tx_bytes += total_bytes - unsent_bytes;
        sent
    }
}

impl fmt::Debug for RxTxQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxTxQueue")
            .field("port", &self.port.name)
            .field("queue", &self.queue)
            .field("counters", &self.counters)
            .finish()
    }
}

impl Drop for RxTxQueue {
    fn drop(&mut self) {
        let mut taken = self.port.taken.lock().unwrap_or_else(|e| e.into_inner());
        taken[usize::from(self.queue)] = false;
    }
}
