//! resilient-llm: resilient LLM inference on Amazon Bedrock.
//!
//! One library shared by the binary, the tests and the benches. Data flows one way:
//! `cli` → `commands` → `config::load` → `aws::Clients` / `gateway` (the HTTP surfaces) →
//! `pipeline` (admission, the route plan's loop, settlement) → `router` → `provider`,
//! with `sandbox` as an emulator of the AWS slice we use that only tests and `--sandbox` start.
//! `demo` and `report` read the Bedrock invocation logs through `insights`.
//! `content` is the canonical request model between the two: a client surface (`openai`)
//! converts into it, an upstream (`provider::bedrock`) converts out of it.

pub mod anthropic;
pub mod aws;
pub mod bedrock_runtime;
pub mod catalogue;
pub mod cli;
pub mod commands;
pub mod config;
pub mod content;
pub mod demo;
pub mod gateway;
pub mod insights;
pub mod metrics;
pub mod observe;
pub mod openai;
pub mod pipeline;
pub mod pricing;
pub mod provider;
pub mod render;
pub mod report;
pub mod router;
pub mod sandbox;
