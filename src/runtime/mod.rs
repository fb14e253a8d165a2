//! Worker threads and the poll loop.

pub mod run;
pub mod worker;
