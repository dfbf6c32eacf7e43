//! Integration tests of the gateway: a real gateway (in-process, or the binary) in front of an
//! in-process sandbox, every port 0. The OpenAI surface (`http`), every error status
//! (`errors`), streaming and stream failover (`streaming`), the routing semantics counted at
//! the upstream (`routing`), and the process: graceful shutdown and the official `openai`
//! Python client (`process`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod anthropic;
mod bedrock_runtime;
mod claude_code;
mod cost;
mod dashboard;
mod direct;
mod errors;
mod harness;
mod http;
mod openai_features;
mod process;
mod quota_agreement;
mod ratelimit;
mod routing;
mod streaming;
mod strict;
#[path = "../support/mod.rs"]
mod support;
mod tls;
mod traces;
