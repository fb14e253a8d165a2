//! stickwire: a session-affinity switch in the style of the Foundry/Brocade ServerIron,
//! running in user space on DPDK.
//!
//! The crate is laid out as `../DESIGN.md` describes:
//! - [`wire`]: zero-copy packet views and checksums (no I/O, no allocation);
//! - [`engine`]: the switch as a deterministic, sans-IO state machine, one per core;
//! - [`port`]: the `Port` trait and its software implementations (pcap, in-memory);
//! - [`dpdk`]: the only FFI, safe types over DPDK's EAL, mempools, mbufs and ethdev ports;
//! - [`runtime`]: worker threads, pinning, the poll loop;
//! - [`health`]: health checks of the real servers over smoltcp (TCP connect, HTTP);
//! - [`control`]: configuration loading and validation;
//! - [`reenact`]: replaying real client<->server captures through the switch.

pub mod bench;
pub mod control;
pub mod craft;
pub mod dpdk;
pub mod engine;
pub mod health;
pub mod mem;
pub mod port;
pub mod reenact;
pub mod replay;
pub mod runtime;
pub mod time;
pub mod wire;
