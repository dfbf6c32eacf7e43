//! Built-in defaults of the `sandbox` section: two accounts with clearly fake keys and the
//! cross-Region destinations of each geography.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Geography, Quota, RegionTable, SandboxAccount, SandboxSettings, StallStreams};

pub const DEFAULT_LOG_GROUP: &str = "BedrockModelInvocation";
pub(super) const DEFAULT_QUOTA: Quota = Quota {
    rpm: 500,
    tpm: 2_000_000,
    tpd: 2_000_000 * 1_440,
};

fn default_account(profile: &str, account_id: &str) -> SandboxAccount {
    let upper = profile.to_uppercase();
    SandboxAccount {
        profile: profile.into(),
        account_id: account_id.into(),
        access_key_id: format!(
            "SANDBOX{upper}KEY{:0>width$}",
            1,
            width = 10usize.saturating_sub(upper.len())
        ),
        secret_access_key: format!("sandbox-secret-{profile}"),
        log_group: DEFAULT_LOG_GROUP.into(),
        openai_api_key: None,
        default_quota: DEFAULT_QUOTA,
        model_quotas: BTreeMap::new(),
    }
}

fn table(sources: &[&str], destinations: &[(&str, u32)]) -> RegionTable {
    let dests: BTreeMap<String, u32> = destinations
        .iter()
        .map(|(r, c)| (r.to_string(), *c))
        .collect();
    sources
        .iter()
        .map(|s| (s.to_string(), dests.clone()))
        .collect()
}

/// The built-in cross-Region destinations (capacities in requests per minute).
pub fn default_regions() -> BTreeMap<Geography, RegionTable> {
    let us = ["us-east-1", "us-east-2", "us-west-2"];
    let eu = ["eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"];
    let apac = [
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-south-1",
    ];
    let all: Vec<&str> = us.iter().chain(&eu).chain(&apac).copied().collect();
    BTreeMap::from([
        (
            Geography::Us,
            table(
                &us,
                &[("us-east-1", 50), ("us-east-2", 30), ("us-west-2", 20)],
            ),
        ),
        (
            Geography::Eu,
            table(
                &eu,
                &[
                    ("eu-central-1", 30),
                    ("eu-west-1", 30),
                    ("eu-west-3", 20),
                    ("eu-north-1", 20),
                ],
            ),
        ),
        (
            Geography::Apac,
            table(
                &apac,
                &[
                    ("ap-northeast-1", 30),
                    ("ap-southeast-1", 20),
                    ("ap-southeast-2", 20),
                    ("ap-south-1", 15),
                ],
            ),
        ),
        (
            Geography::Global,
            table(
                &all,
                &[
                    ("us-east-1", 30),
                    ("us-east-2", 15),
                    ("us-west-2", 15),
                    ("eu-west-1", 15),
                    ("eu-central-1", 10),
                    ("ap-northeast-1", 15),
                ],
            ),
        ),
    ])
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            seed: 42,
            first_token: Duration::from_millis(250),
            tokens_per_second: 400,
            log_delay: Duration::ZERO,
            // Long enough to be seen Scheduled and Running, short enough that a demo's first
            // poll after a quarter second finds it complete.
            query_latency: Duration::from_millis(100),
            accounts: vec![
                default_account("genai", "111111111111"),
                default_account("test", "222222222222"),
            ],
            regions: default_regions(),
            down_regions: BTreeSet::new(),
            faults: Vec::new(),
            stall_streams: StallStreams::default(),
            replies: Vec::new(),
        }
    }
}

impl Default for StallStreams {
    /// No stalls; a stall, once enabled, strikes after 20 tokens.
    fn default() -> Self {
        StallStreams {
            rate: 0.0,
            after_tokens: super::default_stall_after(),
        }
    }
}
