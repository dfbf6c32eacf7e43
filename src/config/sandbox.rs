//! The `sandbox` section of `config/config.yaml`: how the local AWS emulator behaves.
//!
//! Read in two stages like the rest of the configuration: [`RawSandbox`] is what serde reads
//! (every key optional, unknown keys rejected), [`SandboxSettings::from_raw`] validates it into
//! runtime settings and names the offending key path (relative to `sandbox`) on error. Anything
//! left out takes the built-in defaults of [`SandboxSettings::default`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

/// A geography of cross-Region inference profiles (`us.`, `eu.`, `apac.`, `global.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Geography {
    Us,
    Eu,
    Apac,
    Global,
}

impl Geography {
    /// Every geography, in prefix order.
    pub const ALL: [Geography; 4] = [Self::Us, Self::Eu, Self::Apac, Self::Global];

    /// The inference-profile id prefix without the dot (`us`, `eu`, `apac`, `global`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Us => "us",
            Self::Eu => "eu",
            Self::Apac => "apac",
            Self::Global => "global",
        }
    }
}

/// A fault the sandbox can inject: an error Bedrock can answer with, or a network misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Throttling,
    ServiceUnavailable,
    InternalServer,
    ModelTimeout,
    ModelNotReady,
    ModelError,
    ModelStreamError,
    /// The connection is closed without an answer (no status line, no body).
    ConnectionReset,
    /// The answer starts only after this delay (to outlast a client's timeout).
    SlowFirstByte(Duration),
}

/// How long a `SlowFirstByte` fault holds the answer back unless `delay_ms` says otherwise.
pub const DEFAULT_SLOW_FIRST_BYTE: Duration = Duration::from_secs(30);

impl FaultKind {
    const ALL: [FaultKind; 9] = [
        Self::Throttling,
        Self::ServiceUnavailable,
        Self::InternalServer,
        Self::ModelTimeout,
        Self::ModelNotReady,
        Self::ModelError,
        Self::ModelStreamError,
        Self::ConnectionReset,
        Self::SlowFirstByte(DEFAULT_SLOW_FIRST_BYTE),
    ];

    /// The name written in `faults[].error`: the exception name on the wire for Bedrock errors
    /// (`ThrottlingException`, …), `ConnectionReset` or `SlowFirstByte` for network faults.
    pub fn exception_name(self) -> &'static str {
        match self {
            Self::Throttling => "ThrottlingException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ModelError => "ModelErrorException",
            Self::ModelStreamError => "ModelStreamErrorException",
            Self::ConnectionReset => "ConnectionReset",
            Self::SlowFirstByte(_) => "SlowFirstByte",
        }
    }

    /// Whether ConverseStream can deliver it as an event-stream exception frame.
    pub fn streamable(self) -> bool {
        match self {
            Self::Throttling
            | Self::ServiceUnavailable
            | Self::InternalServer
            | Self::ModelStreamError => true,
            Self::ModelTimeout
            | Self::ModelNotReady
            | Self::ModelError
            | Self::ConnectionReset
            | Self::SlowFirstByte(_) => false,
        }
    }

    fn parse(name: &str) -> Option<FaultKind> {
        Self::ALL.into_iter().find(|k| k.exception_name() == name)
    }
}

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    /// Instead of a response (every operation).
    #[default]
    Before,
    /// Halfway through a stream, as an exception frame (streaming calls only).
    MidStream,
}

/// One fault-injection rule: with probability `rate`, calls matching every filter fail.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub error: FaultKind,
    pub rate: f64,
    /// Substring of the model id as called.
    pub model: Option<String>,
    /// Inference Region the call landed in.
    pub region: Option<String>,
    /// Account profile of the caller.
    pub profile: Option<String>,
    pub phase: FaultPhase,
}

/// Requests and tokens one account may spend on one model per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub rpm: u32,
    pub tpm: u64,
    /// Tokens per rolling 24 hours; by default the per-minute quota × 1,440, as AWS sets it.
    pub tpd: u64,
}

impl Quota {
    /// A per-minute quota, with AWS's default day (TPM × 1,440).
    pub const fn per_minute(rpm: u32, tpm: u64) -> Quota {
        Quota {
            rpm,
            tpm,
            tpd: tpm.saturating_mul(1_440),
        }
    }
}

/// One emulated AWS account.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxAccount {
    pub profile: String,
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Log group receiving this account's model-invocation logs.
    pub log_group: String,
    /// Bearer key selecting this account on `/v1/chat/completions`.
    pub openai_api_key: Option<String>,
    /// Quota for models without an entry in `model_quotas`.
    pub default_quota: Quota,
    /// Quotas per model id as called.
    pub model_quotas: BTreeMap<String, Quota>,
}

impl SandboxAccount {
    /// The quota for `model_id` as called.
    pub fn quota_for(&self, model_id: &str) -> Quota {
        self.model_quotas
            .get(model_id)
            .copied()
            .unwrap_or(self.default_quota)
    }
}

/// Streams that stop sending mid-way and never finish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StallStreams {
    pub rate: f64,
    pub after_tokens: u32,
}

/// A scripted reply (`sandbox.replies`): when the last user message's text (or the tool
/// result it carries) matches `when`, the model answers `answer` instead of its generated
/// text, so an agent loop (tool call → tool result → answer) runs the same every time.
#[derive(Debug, Clone)]
pub struct ReplyRule {
    pub when: regex::Regex,
    pub answer: ScriptedAnswer,
}

/// What a scripted reply answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptedAnswer {
    Text(String),
    /// A call of the tool `name` with `input`.
    Tool {
        name: String,
        input: serde_json::Value,
    },
}

/// Destination Regions (with capacity in requests per minute) per source Region.
pub type RegionTable = BTreeMap<String, BTreeMap<String, u32>>;

/// The validated `sandbox` section.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub seed: u64,
    /// Time to first token; zero means none.
    pub first_token: Duration,
    /// Output pace; zero means no waiting at all.
    pub tokens_per_second: u32,
    /// How long an invocation log takes to become visible to queries.
    pub log_delay: Duration,
    /// How long a Logs Insights query runs before it is `Complete`.
    pub query_latency: Duration,
    pub accounts: Vec<SandboxAccount>,
    /// Cross-Region destinations per geography and source Region.
    pub regions: BTreeMap<Geography, RegionTable>,
    pub down_regions: BTreeSet<String>,
    pub faults: Vec<FaultRule>,
    pub stall_streams: StallStreams,
    /// Scripted replies, first match wins; none: every reply is generated.
    pub replies: Vec<ReplyRule>,
}

/// A validation error in the `sandbox` section.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("sandbox.{path}: {message}")]
pub struct SandboxConfigError {
    /// Key path relative to `sandbox`, e.g. `accounts[1].account_id`.
    pub path: String,
    pub message: String,
}

/// The `sandbox` section as written (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    pub seed: Option<u64>,
    pub latency: Option<RawLatency>,
    pub log_delay_ms: Option<u64>,
    pub query_latency_ms: Option<u64>,
    pub accounts: Option<Vec<RawAccount>>,
    pub regions: Option<BTreeMap<Geography, RegionTable>>,
    pub down_regions: Option<Vec<String>>,
    pub faults: Option<Vec<RawFault>>,
    pub stall_streams: Option<RawStall>,
    pub replies: Option<Vec<RawReply>>,
}

/// One entry of `sandbox.replies`: `when` and one of `text` or `tool`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReply {
    pub when: String,
    pub text: Option<String>,
    pub tool: Option<RawToolReply>,
}

/// `sandbox.replies[].tool`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolReply {
    pub name: String,
    #[serde(default)]
    pub input: serde_json::Value,
}

/// `sandbox.latency`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    pub first_token_ms: Option<u64>,
    pub tokens_per_second: Option<u32>,
}

/// One entry of `sandbox.accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub profile: String,
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub log_group: Option<String>,
    pub openai_api_key: Option<String>,
    #[serde(default)]
    pub quotas: BTreeMap<String, RawQuota>,
}

/// A quota entry; a missing field inherits the account's `default` entry.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
}

/// One entry of `sandbox.faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub error: String,
    pub rate: f64,
    pub model: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    #[serde(default)]
    pub phase: FaultPhase,
    /// How long `SlowFirstByte` holds the answer back (milliseconds).
    pub delay_ms: Option<u64>,
}

/// `sandbox.stall_streams`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStall {
    pub rate: f64,
    #[serde(default = "default_stall_after")]
    pub after_tokens: u32,
}

fn default_stall_after() -> u32 {
    20
}

/// The log group Bedrock's invocation logging writes to unless configured otherwise.
mod defaults;
mod validate;

pub use defaults::{DEFAULT_LOG_GROUP, default_regions};

impl SandboxSettings {
    /// Validates the raw section; unset keys take the defaults.
    pub fn from_raw(raw: RawSandbox) -> Result<SandboxSettings, SandboxConfigError> {
        let mut settings = SandboxSettings::default();
        if let Some(seed) = raw.seed {
            settings.seed = seed;
        }
        if let Some(latency) = raw.latency {
            if let Some(ms) = latency.first_token_ms {
                settings.first_token = Duration::from_millis(ms);
            }
            if let Some(tps) = latency.tokens_per_second {
                settings.tokens_per_second = tps;
            }
        }
        if let Some(ms) = raw.log_delay_ms {
            settings.log_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = raw.query_latency_ms {
            settings.query_latency = validate::validate_query_latency(ms)?;
        }
        if let Some(accounts) = raw.accounts {
            settings.accounts = validate::validate_accounts(accounts)?;
        }
        if let Some(regions) = raw.regions {
            settings.regions = validate::validate_regions(regions)?;
        }
        if let Some(down) = raw.down_regions {
            settings.down_regions = down.into_iter().collect();
        }
        if let Some(faults) = raw.faults {
            settings.faults = validate::validate_faults(faults)?;
        }
        if let Some(stall) = raw.stall_streams {
            let rate = validate::check_rate("stall_streams.rate".into(), stall.rate)?;
            settings.stall_streams = StallStreams {
                rate,
                after_tokens: stall.after_tokens,
            };
        }
        if let Some(replies) = raw.replies {
            settings.replies = validate::validate_replies(replies)?;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<SandboxSettings, SandboxConfigError> {
        SandboxSettings::from_raw(serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn defaults_have_two_accounts_with_fake_keys() {
        let s = SandboxSettings::default();
        assert_eq!(s.accounts[0].access_key_id, "SANDBOXGENAIKEY00001");
        assert_eq!(s.accounts[1].access_key_id, "SANDBOXTESTKEY000001");
        assert_eq!(s.accounts[1].account_id, "222222222222");
        assert_eq!(s.regions[&Geography::Us]["us-east-1"]["us-east-2"], 30);
    }

    #[test]
    fn quotas_inherit_the_default_entry() {
        let s = parse(
            "accounts:\n- {profile: a, account_id: '123456789012', access_key_id: K1, secret_access_key: s,\n   quotas: {default: {rpm: 7}, m: {tpm: 9}}}\n",
        )
        .unwrap();
        assert_eq!(
            s.accounts[0].default_quota,
            Quota {
                rpm: 7,
                tpm: 2_000_000,
                tpd: 2_000_000 * 1_440
            }
        );
        assert_eq!(
            s.accounts[0].quota_for("m"),
            Quota {
                rpm: 7,
                tpm: 9,
                tpd: 9 * 1_440
            }
        );
        assert_eq!(s.accounts[0].quota_for("other").rpm, 7);
    }

    #[test]
    fn errors_name_the_key_path() {
        let bad_id = parse(
            "accounts:\n- {profile: a, account_id: '12', access_key_id: K, secret_access_key: s}\n",
        );
        assert_eq!(bad_id.unwrap_err().path, "accounts[0].account_id");
        let dup = parse(
            "accounts:\n- {profile: a, account_id: '123456789012', access_key_id: K, secret_access_key: s}\n- {profile: b, account_id: '123456789013', access_key_id: K, secret_access_key: s}\n",
        );
        assert_eq!(dup.unwrap_err().path, "accounts[1].access_key_id");
        let rate = parse("faults: [{error: ThrottlingException, rate: 1.5}]");
        assert_eq!(rate.unwrap_err().path, "faults[0].rate");
        let name = parse("faults: [{error: Boom, rate: 0.5}]");
        assert_eq!(name.unwrap_err().path, "faults[0].error");
        let delay = parse("faults: [{error: ThrottlingException, rate: 0.5, delay_ms: 10}]");
        assert_eq!(delay.unwrap_err().path, "faults[0].delay_ms");
        let reset = parse("faults: [{error: ConnectionReset, rate: 0.5, phase: mid_stream}]");
        assert_eq!(reset.unwrap_err().path, "faults[0].phase");
        let cap = parse("regions: {us: {us-east-1: {us-east-1: 0}}}");
        assert_eq!(cap.unwrap_err().path, "regions.us.us-east-1.us-east-1");
        let latency = parse("query_latency_ms: 3600001").unwrap_err();
        assert_eq!(latency.path, "query_latency_ms");
        assert!(latency.message.contains("60 minutes"), "{latency}");
    }

    #[test]
    fn queries_complete_after_the_configured_latency() {
        assert_eq!(
            SandboxSettings::default().query_latency,
            Duration::from_millis(100)
        );
        let s = parse("query_latency_ms: 0").unwrap();
        assert_eq!(s.query_latency, Duration::ZERO);
        let s = parse("query_latency_ms: 3600000").unwrap();
        assert_eq!(s.query_latency, Duration::from_secs(3600));
    }

    #[test]
    fn network_faults_read_by_name_with_an_optional_delay() {
        let s = parse(
            "faults:\n- {error: ConnectionReset, rate: 0.2}\n- {error: SlowFirstByte, rate: 1, delay_ms: 1500}\n- {error: SlowFirstByte, rate: 1}\n",
        )
        .unwrap();
        let kinds: Vec<FaultKind> = s.faults.iter().map(|f| f.error).collect();
        assert_eq!(
            kinds,
            [
                FaultKind::ConnectionReset,
                FaultKind::SlowFirstByte(Duration::from_millis(1500)),
                FaultKind::SlowFirstByte(DEFAULT_SLOW_FIRST_BYTE),
            ]
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_yaml::from_str::<RawSandbox>("sed: 1").is_err());
    }
}
