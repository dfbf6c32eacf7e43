//! The Redis state store against a real `redis-server` (started on a free port, no persistence,
//! stopped after): the behavioural suite shared with the in-memory store (`suite`), several
//! gateway processes sharing one Redis in front of one sandbox process (`fleet`), and a Redis
//! outage in the middle of traffic (`outage`), and a Redis slower than the timeout (`slow`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fleet;
mod outage;
mod slow;
mod suite;
#[path = "../support/mod.rs"]
mod support;
