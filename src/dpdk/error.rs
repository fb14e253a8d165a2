//! Errors from DPDK calls.

use std::ffi::CStr;

use super::sys;

/// A failed DPDK call, or a misuse the safe layer refused before calling DPDK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpdkError {
    /// A DPDK function failed with `errno` (positive: `-ret` for functions returning a
    /// negative errno, `rte_errno` for the others).
    #[error("{func}: {msg} (errno {errno})")]
    Call { func: &'static str, errno: i32, msg: String },
    /// `Eal::init` was called a second time in this process (DPDK allows one EAL per process).
    #[error("the DPDK EAL was already initialised in this process")]
    AlreadyInitialized,
    /// A DPDK object was requested before `Eal::init` succeeded (or after it was dropped).
    #[error("the DPDK EAL is not initialised")]
    NotInitialized,
    /// An argument the safe layer rejected (interior NUL, queue out of range, ...).
    #[error("{func}: invalid argument: {what}")]
    InvalidArgument { func: &'static str, what: String },
    /// No ethdev port with this name.
    #[error("no DPDK port named {0:?}")]
    NoSuchPort(String),
    /// The port or queue is in use (a queue handle is still out, or a queue was taken twice).
    #[error("{0}: busy")]
    Busy(&'static str),
}

impl DpdkError {
    /// The positive errno of a failed call, if this is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DpdkError::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// From the return value of a function that returns `-errno` on failure.
    #[cold]
    #[inline(never)]
    pub(crate) fn from_ret(func: &'static str, ret: i32) -> DpdkError {
        Self::from_errno(func, ret.saturating_abs())
    }

    /// From `rte_errno`, for functions that return NULL or -1 and set it.
    #[cold]
    #[inline(never)]
    pub(crate) fn from_rte_errno(func: &'static str) -> DpdkError {
        // SAFETY: reads this thread's `rte_errno`; no preconditions.
        let errno = unsafe { sys::stickwire_rte_errno() };
        Self::from_errno(func, errno)
    }

    #[cold]
    pub(crate) fn from_errno(func: &'static str, errno: i32) -> DpdkError {
        DpdkError::Call { func, errno, msg: strerror(errno) }
    }

    #[cold]
    pub(crate) fn invalid(func: &'static str, what: impl Into<String>) -> DpdkError {
        DpdkError::InvalidArgument { func, what: what.into() }
    }
}

/// `rte_strerror`: DPDK's own messages for its errnos, libc's for the rest.
fn strerror(errno: i32) -> String {
    // SAFETY: `rte_strerror` accepts any value and returns a NUL-terminated string, either
    // static or in a thread-local buffer that stays valid until this thread's next call;
    // it is copied out at once.
    unsafe {
        let msg = sys::rte_strerror(errno);
        if msg.is_null() {
            return format!("error {errno}");
        }
        CStr::from_ptr(msg).to_string_lossy().into_owned()
    }
}

/// Turns a `0 or -errno` return value into a `Result`.
#[inline]
pub(crate) fn check(func: &'static str, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_ret(func, ret))
    } else {
        Ok(())
    }
}
