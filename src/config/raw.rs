//! The config file as written: serde types that mirror the YAML, checked for unknown keys.
//!
//! Nothing here is validated beyond types; [`super::load`] turns these into the runtime
//! types of [`super::model`].

use serde::Deserialize;
use serde_yaml::Value;

use super::sandbox::RawSandbox;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub aws: RawAws,
    #[serde(default, alias = "litellm")]
    pub gateway: RawGateway,
    #[serde(default)]
    pub model_list: Vec<RawModelEntry>,
    #[serde(default)]
    pub router_settings: RawRouterSettings,
    #[serde(default)]
    pub general_settings: RawGeneralSettings,
    #[serde(default)]
    pub litellm_settings: RawLitellmSettings,
    #[serde(default)]
    pub cris: Option<RawCris>,
    #[serde(default)]
    pub sandbox: RawSandbox,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAws {
    pub profile_name: Option<String>,
    pub secondary_profile_name: Option<String>,
    pub profiles: Option<Vec<String>>,
    pub region_name: Option<String>,
    pub bedrock_log_group_name: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub host: Option<String>,
    pub port: Option<PortValue>,
    pub master_key: Option<String>,
    #[serde(default)]
    pub consumers: Vec<RawConsumer>,
    pub drop_params: Option<bool>,
    pub max_request_size_mb: Option<f64>,
    /// Seconds a client has to send a whole request head, counted from accept.
    pub header_timeout: Option<f64>,
    /// Seconds a client has to send a whole request body once its head is read.
    pub body_timeout: Option<f64>,
    /// Most client connections open at once.
    pub max_connections: Option<u64>,
    /// TLS on the listener: a PEM certificate chain and its key (LiteLLM's names).
    pub ssl_certfile_path: Option<String>,
    pub ssl_keyfile_path: Option<String>,
    /// MiB of request bodies the gateway holds in memory at once, across all requests.
    pub max_buffered_body_mb: Option<f64>,
}

/// A port written as a number or as a string (as `os.environ/` values are).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsumer {
    pub name: String,
    pub key: String,
    #[serde(alias = "type")]
    pub tier: Option<String>,
    /// Free text for people reading the config; accepted, not used.
    #[allow(dead_code)]
    pub description: Option<String>,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u32>,
    #[serde(default)]
    pub models: Vec<String>,
    /// A key pair for SigV4-signed requests on Bedrock's routes (both or neither).
    pub sigv4_access_key_id: Option<String>,
    pub sigv4_secret_access_key: Option<String>,
    /// A spend limit (USD) and its period.
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelEntry {
    pub model_name: String,
    pub litellm_params: RawLitellmParams,
    #[serde(default)]
    pub model_info: RawModelInfo,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLitellmParams {
    pub model: String,
    pub aws_region_name: Option<String>,
    pub aws_profile_name: Option<String>,
    /// LiteLLM's name for a Bedrock endpoint override.
    pub aws_bedrock_runtime_endpoint: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub api_base: Option<String>,
    pub api_key: Option<String>,
    pub weight: Option<f64>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
    /// Seconds.
    pub timeout: Option<f64>,
    /// LiteLLM's per-token prices (USD).
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub cache_creation_input_token_cost: Option<f64>,
    pub cache_read_input_token_cost: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelInfo {
    pub id: Option<String>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// LiteLLM's older name of `max_output_tokens`.
    pub max_tokens: Option<u64>,
    /// Quota tokens each output token takes (Bedrock's burndown rate).
    pub output_burndown: Option<u64>,
    /// What a call without `max_tokens` reserves.
    pub default_output_tokens: Option<u64>,
    /// Whether cache reads count against the quota once a call ends.
    pub cache_read_counts: Option<bool>,
    /// LiteLLM's per-token prices (USD).
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub cache_creation_input_token_cost: Option<f64>,
    pub cache_read_input_token_cost: Option<f64>,
    pub mode: Option<String>,
    pub supports_function_calling: Option<bool>,
    pub supports_vision: Option<bool>,
    pub supports_pdf_input: Option<bool>,
    pub supports_reasoning: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouterSettings {
    pub routing_strategy: Option<String>,
    pub enable_pre_call_checks: Option<bool>,
    pub num_retries: Option<u32>,
    /// Seconds.
    pub retry_after: Option<f64>,
    pub allowed_fails: Option<u32>,
    /// Seconds.
    pub cooldown_time: Option<f64>,
    /// LiteLLM's list of single-key maps, or one map: checked by the loader.
    pub fallbacks: Option<Value>,
    pub context_window_fallbacks: Option<Value>,
    pub default_fallbacks: Option<Vec<String>>,
    /// LiteLLM's `{alias: group}` or `{alias: {model: group, hidden: true}}`: checked by the
    /// loader.
    pub model_group_alias: Option<Value>,
    /// Seconds.
    pub timeout: Option<f64>,
    pub redis_url: Option<String>,
    pub redis_host: Option<String>,
    pub redis_port: Option<PortValue>,
    pub redis_password: Option<String>,
    pub redis_key_prefix: Option<String>,
    pub redis_timeout_ms: Option<u64>,
    pub expected_replicas: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneralSettings {
    pub master_key: Option<String>,
    pub max_request_size_mb: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLitellmSettings {
    pub drop_params: Option<bool>,
    pub num_retries: Option<u32>,
    /// Seconds.
    pub request_timeout: Option<f64>,
    pub context_window_fallbacks: Option<Value>,
    /// `/metrics` needs the master key.
    pub require_auth_for_metrics_endpoint: Option<bool>,
    /// The whole gateway's spend limit (USD) and its period.
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    /// One JSON line per request (and JSON for every other log line).
    pub json_logs: Option<bool>,
    /// Add the prompt to the request log line.
    pub log_prompts: Option<bool>,
    /// LiteLLM's callbacks: `otel` turns the OpenTelemetry exporter on.
    pub callbacks: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCris {
    pub model_id: String,
}
