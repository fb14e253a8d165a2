//! The Environment Abstraction Layer: initialisation, clean-up, lcores, the TSC.

use std::ffi::{c_char, CString};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::error::DpdkError;
use super::sys;

/// The program name EAL sees as `argv[0]`.
const ARGV0: &str = "stickwire";

/// The directory of DPDK's driver plugins found at build time (empty if none was found).
pub const PMD_DIR: &str = env!("STICKWIRE_DPDK_PMD_DIR");

/// Whether `librte_eal` loads [`PMD_DIR`] by itself (its built-in plugin path).
const PMD_DIR_BUILTIN: bool = matches!(env!("STICKWIRE_DPDK_PMD_DIR_BUILTIN").as_bytes(), b"1");

/// Which bindings the crate was built with: `"generated"` (bindgen at build time) or
/// `"pregenerated"` (`vendor-bindings/bindings.rs`).
pub const BINDINGS: &str = env!("STICKWIRE_BINDINGS");

/// Set by the first `Eal::init`, successful or not: EAL cannot be initialised twice.
static INIT_ATTEMPTED: AtomicBool = AtomicBool::new(false);

/// The cores the process could run on before EAL pinned its main thread.
static PROCESS_CORES: std::sync::OnceLock<Vec<core_affinity::CoreId>> = std::sync::OnceLock::new();

/// The cores this process may run its workers on: those it had before EAL pinned the main
/// thread to one (the calling thread's own, if EAL was never started).
pub fn process_cores() -> Vec<core_affinity::CoreId> {
    PROCESS_CORES.get().cloned().unwrap_or_else(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// The live EAL, for the objects that need it to outlive them.
static LIVE: Mutex<Option<Weak<EalInner>>> = Mutex::new(None);

/// Keeps EAL alive: held by [`Eal`] and by every mempool and port, so `rte_eal_cleanup`
/// runs only after the last of them is gone.
pub(crate) struct EalInner {
    _private: (),
}

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: the last holder is gone: no mempool, port or queue made through this crate
        // is alive (each holds an `Arc<EalInner>`), so nothing uses EAL memory any more.
        let ret = unsafe { sys::rte_eal_cleanup() };
        if ret < 0 {
            eprintln!("stickwire: {}", DpdkError::from_ret("rte_eal_cleanup", ret));
        }
    }
}

/// A handle on the live EAL, or `NotInitialized`.
pub(crate) fn live() -> Result<Arc<EalInner>, DpdkError> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(Weak::upgrade).ok_or(DpdkError::NotInitialized)
}

/// The initialised DPDK EAL. Dropping the last handle (and every mempool and port) calls
/// `rte_eal_cleanup`; EAL cannot be initialised again in the same process.
#[derive(Clone)]
pub struct Eal {
    inner: Arc<EalInner>,
}

impl fmt::Debug for Eal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Eal").field("bindings", &BINDINGS).finish()
    }
}

impl Eal {
    /// `rte_eal_init` with `args` (EAL options such as `-l 0-1 --vdev net_null0 --no-huge`,
    /// without the program name, which is `stickwire`).
    ///
    /// When DPDK's driver plugins live in a directory `librte_eal` does not load by itself,
    /// `-d <dir>` is added, unless `args` already has a `-d`.
    ///
    /// The calling thread becomes EAL's main lcore. Only the first call in a process may
    /// succeed; later calls return [`DpdkError::AlreadyInitialized`].
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INIT_ATTEMPTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialized);
        }
        // EAL pins the calling thread to its main lcore: the cores this process may use must
        // be read before, or every worker would be pinned to that one core.
        let _ = PROCESS_CORES.set(core_affinity::get_core_ids().unwrap_or_default());
        let argv = eal_argv(args);
        // EAL may keep pointers into argv (and getopt permutes the array), so the strings and
        // the array live for the rest of the process: a few hundred bytes, once.
        let mut cstrings = Vec::with_capacity(argv.len());
        for a in &argv {
            let c = CString::new(a.as_str())
                .map_err(|_| DpdkError::invalid("rte_eal_init", format!("NUL byte in {a:?}")))?;
            cstrings.push(c);
        }
        let cstrings: &'static [CString] = Vec::leak(cstrings);
        let mut ptrs: Vec<*mut c_char> = cstrings.iter().map(|c| c.as_ptr().cast_mut()).collect();
        ptrs.push(std::ptr::null_mut());
        let ptrs: &'static mut [*mut c_char] = Vec::leak(ptrs);
        let argc =
            i32::try_from(cstrings.len()).map_err(|_| DpdkError::invalid("rte_eal_init", "too many arguments"))?;

        // SAFETY: argc/argv describe NUL-terminated strings and a NULL-terminated array that
        // live (leaked) for the rest of the process; this is the only call in the process
        // (guarded by INIT_ATTEMPTED).
        let ret = unsafe { sys::rte_eal_init(argc, ptrs.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno("rte_eal_init"));
        }
        let inner = Arc::new(EalInner { _private: () });
        *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(&inner));
        Ok(Eal { inner })
    }

    /// The number of lcores EAL was given.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL is initialised (self exists); reads configuration only.
        unsafe { sys::rte_lcore_count() }
    }

    /// The number of ethdev ports available (probed and not owned by another entity).
    pub fn port_count(&self) -> u16 {
        let _ = &self.inner;
        // SAFETY: EAL is initialised; reads the ethdev table.
        unsafe { sys::rte_eth_dev_count_avail() }
    }
}

/// The EAL argument vector: `stickwire`, `-d <PMD_DIR>` when needed, then `args`.
fn eal_argv(args: &[String]) -> Vec<String> {
    let mut argv = Vec::with_capacity(args.len() + 3);
    argv.push(ARGV0.to_string());
    let has_d = args.iter().any(|a| a == "-d" || (a.starts_with("-d") && a.len() > 2));
    if !PMD_DIR_BUILTIN && !PMD_DIR.is_empty() && !has_d && std::path::Path::new(PMD_DIR).is_dir() {
        argv.push("-d".to_string());
        argv.push(PMD_DIR.to_string());
    }
    argv.extend(args.iter().cloned());
    argv
}

/// The time-stamp counter (`rte_rdtsc`).
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the CPU's time-stamp counter; no preconditions.
    unsafe { sys::rte_rdtsc() }
}

/// TSC ticks per second, as EAL measured them (0 before `Eal::init`).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL set at init (0 before); no preconditions.
    unsafe { sys::rte_get_tsc_hz() }
}

/// An EAL lcore id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lcore(pub u32);

impl Lcore {
    /// The calling thread's lcore, if it is an EAL thread or a registered one.
    pub fn current() -> Option<Lcore> {
        // SAFETY: reads a thread-local; LCORE_ID_ANY (u32::MAX) for unregistered threads.
        let id = unsafe { sys::rte_lcore_id() };
        (id != u32::MAX).then_some(Lcore(id))
    }
}

impl fmt::Display for Lcore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lcore {}", self.0)
    }
}

/// Registers the calling (non-EAL) thread with EAL (`rte_thread_register`), giving it an
/// lcore id, so per-lcore mempool caches work for it. Returns the lcore.
pub fn register_thread() -> Result<Lcore, DpdkError> {
    let _eal = live()?;
    if let Some(lcore) = Lcore::current() {
        return Ok(lcore);
    }
    // SAFETY: EAL is initialised (checked above); registers this thread only.
    let ret = unsafe { sys::rte_thread_register() };
    if ret < 0 {
        return Err(DpdkError::from_rte_errno("rte_thread_register"));
    }
    Lcore::current().ok_or_else(|| DpdkError::from_errno("rte_thread_register", 0))
}

/// Undoes [`register_thread`] for the calling thread (`rte_thread_unregister`). A thread that
/// is not registered, or an EAL lcore thread, is left alone.
pub fn unregister_thread() {
    if live().is_err() {
        return;
    }
    // SAFETY: EAL is initialised; the call releases this thread's lcore id if it registered
    // one and does nothing for EAL threads or unregistered threads.
    unsafe { sys::rte_thread_unregister() };
}
