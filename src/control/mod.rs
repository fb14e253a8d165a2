//! The control side: configuration loading and validation.

pub mod admin;
pub mod config;
