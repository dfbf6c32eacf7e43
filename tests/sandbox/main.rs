//! Integration tests of the sandbox: the real AWS SDK clients and plain HTTP against an
//! in-process sandbox on port 0, and the `sandbox serve` command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bedrock;
mod cli;
mod logs;
mod openai;
mod strict_boto3;
mod sts;
#[path = "../support/mod.rs"]
mod support;
