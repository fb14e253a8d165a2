//! The raw DPDK API, as bindgen generates it from `vendor-bindings/dpdk.h`.
//!
//! Nothing outside `crate::dpdk` uses these names; the safe types in the sibling modules are
//! the crate's interface to DPDK.

#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    improper_ctypes,
    unnecessary_transmutes,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    rustdoc::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
