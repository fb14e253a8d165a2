//! The control side: configuration loading and validation, the state service snapshots are
//! built from, the admin API.

pub mod admin;
pub mod config;
pub mod metrics;
pub mod state;
