//! Reliability and security of the gateway under faults and abuse (issue 9): upstream faults
//! injected by the sandbox with every request accounted for (`faults`), the gateway's own restart
//! under load (`restart`), bad input (`bad_input`), and security properties (`security`).
//!
//! What runs as a process (the `resilient-llm` binary, see `process`): the sandbox always
//! (`sandbox serve`), and the gateway (`gateway serve`) in `faults`, `restart` and `security`.
//! `bad_input` runs its gateway in the test process, because the connection limits it shortens
//! (the slow-loris header timeout) have no config key or flag.
//! Run with `cargo test --test reliability -- --nocapture` to see the counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod faults;
mod process;
mod restart;
mod security;
mod stack;
#[path = "../support/mod.rs"]
mod support;
