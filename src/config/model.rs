//! The validated runtime configuration: what every other module reads.
//!
//! These types are produced only by [`crate::config::load`]; they hold no serde
//! attributes and no unresolved values (`os.environ/…` references are already resolved).

use super::quota_profile::QuotaProfile;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::capability::{Capabilities, Mode, ModelFamily};
use super::sandbox::SandboxSettings;

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub source: PathBuf,
    pub aws: AwsSettings,
    pub gateway: GatewaySettings,
    /// Model groups in the order the config first names them.
    pub groups: Vec<ModelGroup>,
    pub router: RouterSettings,
    pub cris: CrisSettings,
    pub sandbox: SandboxSettings,
    /// Known LiteLLM keys that loaded but have no effect here, as key paths.
    pub ignored_keys: Vec<String>,
    /// Things that load but deserve a word (a deployment id shared by two groups), located.
    pub warnings: Vec<super::ConfigError>,
}

impl Config {
    /// The group called `name`, if any.
    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Every deployment of every group, in config order.
    pub fn deployments(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.groups.iter().flat_map(|g| g.deployments.iter())
    }

    /// The group a Bedrock model id, inference-profile id or ARN routes through when a client
    /// names the model rather than a group (Bedrock's own routes): the first group, in config
    /// order, with a Bedrock deployment of that model. An ARN and the id it ends in match.
    pub fn group_of_model(&self, model_id: &str) -> Option<&ModelGroup> {
        let wanted = arn_tail(model_id);
        self.groups.iter().find(|g| {
            g.deployments
                .iter()
                .any(|d| d.provider == ProviderKind::Bedrock && arn_tail(&d.model) == wanted)
        })
    }

    /// The Bedrock model ids more than one group holds, each with its groups in config order
    /// (the first is the one [`Config::group_of_model`] routes through).
    pub fn shared_model_ids(&self) -> Vec<(String, Vec<String>)> {
        let mut held: Vec<(String, Vec<String>)> = Vec::new();
        for group in &self.groups {
            for d in group
                .deployments
                .iter()
                .filter(|d| d.provider == ProviderKind::Bedrock)
            {
                let id = arn_tail(&d.model).to_owned();
                match held.iter_mut().find(|(model, _)| *model == id) {
                    Some((_, groups)) if !groups.contains(&group.name) => {
                        groups.push(group.name.clone())
                    }
                    Some(_) => {}
                    None => held.push((id, vec![group.name.clone()])),
                }
            }
        }
        held.retain(|(_, groups)| groups.len() > 1);
        held
    }
}

/// The model id an ARN ends in (`…:inference-profile/us.anthropic…` → `us.anthropic…`); an id
/// as it is.
fn arn_tail(model: &str) -> &str {
    match model.strip_prefix("arn:") {
        Some(_) => model.rsplit('/').next().unwrap_or(model),
        None => model,
    }
}

/// The `aws` section: where the demos and the Bedrock deployments get their credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// Profiles for account sharding, primary first (`profile_name`, `secondary_profile_name`,
    /// or `profiles`). Empty means the default credential chain.
    pub profiles: Vec<String>,
    /// The source Region (`region_name`).
    pub region: String,
    /// The CloudWatch log group holding Bedrock model-invocation logs.
    pub log_group: String,
    /// An endpoint override for every AWS client (a sandbox, a VPC endpoint).
    pub endpoint_url: Option<String>,
}

impl AwsSettings {
    /// The primary profile, if one is configured.
    pub fn primary_profile(&self) -> Option<&str> {
        self.profiles.first().map(String::as_str)
    }
}

/// The `gateway` (alias `litellm`) section plus LiteLLM's `general_settings` and `litellm_settings`.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub host: String,
    pub port: u16,
    /// Admits every request and every model.
    pub master_key: Option<Secret>,
    pub consumers: Vec<Consumer>,
    /// Drop OpenAI parameters a provider cannot take instead of answering 400.
    pub drop_params: bool,
    /// `/metrics` needs the master key (LiteLLM's `require_auth_for_metrics_endpoint`).
    pub metrics_need_auth: bool,
    /// Largest request body accepted; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Time a client has to send a whole request head, counted from accept (slow-loris defence).
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body once its head is read; past it, 408.
    pub body_timeout: Duration,
    /// Most client connections open at once; `None` derives it from the file-descriptor limit.
    pub max_connections: Option<usize>,
    /// Bytes of request bodies held in memory at once, across all requests; past it, 503.
    pub max_buffered_body_bytes: usize,
    /// TLS on the listener (`ssl_certfile_path` / `ssl_keyfile_path`, LiteLLM's names).
    pub tls: Option<TlsFiles>,
    /// The whole gateway's spend limit (`litellm_settings.max_budget`), if any.
    pub budget: Option<super::Budget>,
    /// What the gateway records of each request.
    pub telemetry: Telemetry,
}

/// What the gateway records of each request: traces and the request log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    /// One JSON line per request, and every log line as JSON (`litellm_settings.json_logs`).
    pub json_logs: bool,
    /// The request log carries the prompt (`litellm_settings.log_prompts`).
    pub log_prompts: bool,
    /// LiteLLM's `callbacks: ["otel"]`: export traces (to `OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `http://localhost:4318`).
    pub otel_callback: bool,
    /// LiteLLM callbacks named but not implemented here (warned of at load).
    pub ignored_callbacks: Vec<String>,
    /// The OTLP exporter, when set here rather than by the `OTEL_*` variables (tests, and
    /// embedders of the library).
    pub otlp: Option<crate::observe::OtlpSettings>,
}

/// The files the listener's TLS is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert: std::path::PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

impl GatewaySettings {
    /// Whether requests need a key at all.
    pub fn requires_auth(&self) -> bool {
        self.master_key.is_some() || !self.consumers.is_empty()
    }
}

/// What one byte of request body costs in memory while its request is served: the bytes, the
/// request parsed from them, the upstream request built from that and its serialisation
/// (measured 3.5 to 5.3 times the body's size in peak RSS for 9.5 MB chat requests through
/// Bedrock, four at once and one alone). The body
/// budget (`max_buffered_body_mb`) counts this, so it bounds the memory of the bodies in
/// flight, not only of the raw bytes.
pub const MEMORY_PER_BODY_BYTE: usize = 5;

/// A caller with its own key and its own quotas.
#[derive(Debug, Clone)]
pub struct Consumer {
    pub name: String,
    pub key: Secret,
    /// A free-form label shown by the demos (for example `noisy`, `normal`).
    pub tier: Option<String>,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u32>,
    /// Model groups this key may call; empty means all.
    pub models: Vec<String>,
    /// The key pair this consumer may sign Bedrock requests with (SigV4), if any.
    pub sigv4: Option<SigV4Key>,
    /// Its spend limit, if any.
    pub budget: Option<super::Budget>,
}

/// An access key id and its secret, for SigV4-signed requests.
#[derive(Debug, Clone)]
pub struct SigV4Key {
    pub access_key_id: String,
    pub secret: Secret,
}

impl Consumer {
    /// Whether this consumer may call the model group `group`.
    pub fn may_use(&self, group: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| name_matches(m, group))
    }
}

/// A named group of interchangeable deployments (LiteLLM's `model_name`).
#[derive(Debug, Clone)]
pub struct ModelGroup {
    pub name: String,
    pub deployments: Vec<Arc<Deployment>>,
}

/// Which kind of upstream a deployment talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// Amazon Bedrock through the AWS SDK's Converse APIs (`bedrock/<model id>`).
    Bedrock,
    /// Any OpenAI-compatible server (`openai/<model>`).
    OpenAi,
}

impl ProviderKind {
    /// The prefix used in `litellm_params.model`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::OpenAi => "openai",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One upstream model endpoint with its own limits.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Stable id as configured: `model_info.id`, else `<group>-<index>` derived from its
    /// position. What clients see (`x-litellm-model-id`); not unique across groups.
    pub id: String,
    /// Its place among the config's deployments (in [`Config::deployments`] order): the slot of
    /// its metrics, SDK client and upstream target, resolved once at load.
    pub index: usize,
    /// The key of its limits, cooldown and Redis keys: unique in the config.
    /// The id, or `<group>/<id>` when deployments of several groups share the id (LiteLLM's
    /// sample does), so the two never share a quota.
    pub key: String,
    /// The model group it serves.
    pub group: String,
    pub provider: ProviderKind,
    /// The upstream model id without the provider prefix
    /// (`us.anthropic.claude-sonnet-4-6`, `llama3`).
    pub model: String,
    /// AWS profile (Bedrock only); `None` uses the `aws` section's primary profile.
    pub profile: Option<String>,
    /// AWS Region (Bedrock only); `None` uses the `aws` section's Region.
    pub region: Option<String>,
    /// Base URL of an OpenAI-compatible server (OpenAI only), or an endpoint override for Bedrock.
    pub api_base: Option<String>,
    pub api_key: Option<Secret>,
    pub weight: Option<f64>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Tokens per rolling 24 hours, in the same units as `tpm`.
    pub tpd: Option<u64>,
    /// Per-call timeout; `None` uses the router's.
    pub timeout: Option<Duration>,
    /// Largest prompt the model takes, in tokens, when known (for context-window fallbacks).
    pub max_input_tokens: Option<u64>,
    /// How a call counts against its quotas: output burndown, default and maximum output,
    /// whether cache reads count (`model_info`, else the model card's, [`crate::catalogue`]).
    pub quota: QuotaProfile,
    /// What its tokens cost (the price table's, or `input_cost_per_token` and its siblings);
    /// `None` for a model with no known price.
    pub price: Option<crate::pricing::Price>,
    /// What kind of call it answers (`model_info.mode`, else told by the model id).
    pub mode: Mode,
    /// Who made the model (Bedrock deployments whose id names its provider; else `None`).
    pub family: Option<ModelFamily>,
    /// The request features it takes (`model_info.supports_*`).
    pub capabilities: Capabilities,
}

/// Output tokens reserved against TPM for a request without `max_tokens` to a deployment whose
/// maximum output is unknown (an OpenAI-compatible server, a model the catalogue lacks).
pub const DEFAULT_OUTPUT_RESERVATION: u64 = 1024;

impl Deployment {
    /// The output a request that sets no `max_tokens` reserves here (before the burndown):
    /// the default output, else the model's maximum output (what Bedrock itself reserves), else
    /// [`DEFAULT_OUTPUT_RESERVATION`].
    pub fn default_output_tokens(&self) -> u64 {
        self.quota.reserved_output(None)
    }
}

/// How the router picks among a group's healthy deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingStrategy {
    SimpleShuffle,
    LeastBusy,
    UsageBased,
    LatencyBased,
}

impl RoutingStrategy {
    /// The LiteLLM name of the strategy.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::UsageBased => "usage-based-routing",
            RoutingStrategy::LatencyBased => "latency-based-routing",
        }
    }

    /// Every strategy, for messages and hints.
    pub const ALL: [RoutingStrategy; 4] = [
        RoutingStrategy::SimpleShuffle,
        RoutingStrategy::LeastBusy,
        RoutingStrategy::UsageBased,
        RoutingStrategy::LatencyBased,
    ];
}

/// The `router_settings` section (plus `litellm_settings.num_retries` / `request_timeout`).
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub strategy: RoutingStrategy,
    /// Skip deployments over their limits or in cooldown before calling them.
    pub pre_call_checks: bool,
    pub num_retries: u32,
    /// Base delay of the exponential backoff between retries.
    pub retry_after: Duration,
    /// Failures tolerated within `cooldown_time` before a deployment is cooled down.
    pub allowed_fails: u32,
    pub cooldown_time: Duration,
    /// Per group: the groups to try, in order, when it has no deployment left.
    pub fallbacks: Vec<(String, Vec<String>)>,
    /// Per group: the groups to try on a context-window error.
    pub context_window_fallbacks: Vec<(String, Vec<String>)>,
    /// Tried after a group's own fallbacks.
    pub default_fallbacks: Vec<String>,
    /// Other names of groups (`model_group_alias`): `(alias, group, hidden from /v1/models)`.
    pub aliases: Vec<GroupAlias>,
    /// Whole-request timeout (also the per-call default).
    pub timeout: Duration,
    pub state: StateStoreSettings,
}

impl RouterSettings {
    /// The fallback groups configured for `group`, without the defaults.
    pub fn fallbacks_for(&self, group: &str) -> &[String] {
        lookup(&self.fallbacks, group)
    }

    /// The context-window fallback groups configured for `group`.
    pub fn context_window_fallbacks_for(&self, group: &str) -> &[String] {
        lookup(&self.context_window_fallbacks, group)
    }
}

/// Another name of a model group (`router_settings.model_group_alias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAlias {
    pub alias: String,
    pub group: String,
    /// Left out of `/v1/models`.
    pub hidden: bool,
}

/// Whether `name` matches `pattern`, where each `*` stands for any run of characters
/// (`claude-*` matches `claude-sonnet-4-6`); a pattern without `*` matches only itself.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn lookup<'a>(table: &'a [(String, Vec<String>)], group: &str) -> &'a [String] {
    table
        .iter()
        .find(|(g, _)| g == group)
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

/// Where limit counters and cooldowns live.
#[derive(Debug, Clone, PartialEq)]
pub enum StateStoreSettings {
    /// In this process (one replica).
    Memory,
    /// Shared by every replica through Redis.
    Redis(RedisSettings),
}

impl StateStoreSettings {
    /// A short name for tables and logs (`memory`, `redis`).
    pub fn kind(&self) -> &'static str {
        match self {
            StateStoreSettings::Memory => "memory",
            StateStoreSettings::Redis(_) => "redis",
        }
    }
}

/// Connection settings for the Redis state store.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL, password included if any (never printed).
    pub url: Secret,
    /// Prepended to every key so several gateways can share one Redis.
    pub key_prefix: String,
    /// Timeout of each Redis call.
    pub timeout: Duration,
    /// Replicas expected in the fleet: local limits are divided by it while Redis is away.
    pub expected_replicas: u32,
}

/// The `cris` section: what the cross-Region inference demo calls.
#[derive(Debug, Clone, PartialEq)]
pub struct CrisSettings {
    pub model_id: String,
}

/// A credential that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented key.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let mine = self.0.as_bytes();
        // Lengths are not secret-dependent enough to matter, but compare in constant
        // time over equal-length inputs only, as `ct_eq` requires.
        mine.len() == presented.len() && bool::from(mine.ct_eq(presented))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        let cases = [
            ("claude-*", "claude-sonnet-4-6", true),
            ("claude-*", "claude-", true),
            ("claude-*", "gpt-4o", false),
            ("*-haiku-*", "claude-haiku-4-5-20251001", true),
            ("claude-*-4-6", "claude-opus-4-6", true),
            ("claude-*-4-6", "claude-opus-4-5", false),
            ("a*a", "a", false),
            ("chat", "chat", true),
            ("chat", "chatty", false),
            ("*", "anything", true),
        ];
        for (pattern, name, matches) in cases {
            assert_eq!(name_matches(pattern, name), matches, "{pattern} ~ {name}");
        }
    }
}
