//! The control side: configuration loading and validation.

pub mod config;
