//! Reliability and security of the gateway under faults and abuse (issue 9): upstream faults
//! injected by the sandbox with every request accounted for (`faults`), the gateway's own restart
//! under load (`restart`), bad input (`bad_input`), and security properties (`security`).
//!
//! Everything runs as a process (the `resilient-llm` binary, see `process`): the sandbox
//! (`sandbox serve`) and the gateway (`gateway serve`) in front of it.
//! Run with `cargo test --test reliability -- --nocapture` to see the counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod connections;
mod faults;
mod memory;
mod process;
mod restart;
mod security;
mod stack;
#[path = "../support/mod.rs"]
mod support;
