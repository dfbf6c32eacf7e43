//! Demos and reports through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/mod.rs"]
mod support;

mod direct;
mod gateway;
mod logging;
