//! Helpers shared by the integration tests (each test binary uses a different subset).
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod process;
pub mod redis;
pub mod sandbox;
