//! Worker threads and the poll loop.

pub mod admin;
pub mod arrivals;
pub mod control;
pub mod health;
pub mod metrics;
pub mod peers;
pub mod relay;
pub mod report;
pub mod run;
pub mod snapshot;
pub mod stats;
pub mod worker;
