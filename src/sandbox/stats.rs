//! Call counters: what the sandbox served, throttled and failed, per account profile and model
//! id as called, and per inference Region. Tests and demos read them to assert exact splits.

use std::collections::BTreeMap;

use serde::Serialize;

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Served,
    /// Answered ThrottlingException (quota or injected).
    Throttled,
    /// Any other error.
    Failed,
}

/// Counts of calls by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    pub served: u64,
    pub throttled: u64,
    pub failed: u64,
}

impl CallCounts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Served => self.served += 1,
            Outcome::Throttled => self.throttled += 1,
            Outcome::Failed => self.failed += 1,
        }
    }

    /// Every call counted.
    pub fn total(&self) -> u64 {
        self.served + self.throttled + self.failed
    }
}

/// One account's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountStats {
    #[serde(flatten)]
    pub calls: CallCounts,
    /// Per model id as called.
    pub models: BTreeMap<String, CallCounts>,
}

/// Everything the sandbox counted since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SandboxStats {
    pub total: CallCounts,
    /// Per account profile.
    pub accounts: BTreeMap<String, AccountStats>,
    /// Per inference Region (calls that reached a Region).
    pub regions: BTreeMap<String, CallCounts>,
}

impl SandboxStats {
    /// Counts one call.
    pub fn record(&mut self, profile: &str, model: &str, region: Option<&str>, outcome: Outcome) {
        self.total.add(outcome);
        let account = self.accounts.entry(profile.to_owned()).or_default();
        account.calls.add(outcome);
        account
            .models
            .entry(model.to_owned())
            .or_default()
            .add(outcome);
        if let Some(region) = region {
            self.regions
                .entry(region.to_owned())
                .or_default()
                .add(outcome);
        }
    }

    /// Counters of `profile` on `model` (zero when never called).
    pub fn model_calls(&self, profile: &str, model: &str) -> CallCounts {
        self.accounts
            .get(profile)
            .and_then(|a| a.models.get(model))
            .copied()
            .unwrap_or_default()
    }

    /// Calls served per inference Region.
    pub fn served_by_region(&self) -> BTreeMap<String, u64> {
        self.regions
            .iter()
            .map(|(r, c)| (r.clone(), c.served))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_roll_up_by_account_model_and_region() {
        let mut stats = SandboxStats::default();
        stats.record("genai", "m", Some("us-east-1"), Outcome::Served);
        stats.record("genai", "m", None, Outcome::Throttled);
        stats.record("test", "m", Some("us-east-2"), Outcome::Failed);
        assert_eq!(stats.total.total(), 3);
        assert_eq!(
            stats.model_calls("genai", "m"),
            CallCounts {
                served: 1,
                throttled: 1,
                failed: 0
            }
        );
        assert_eq!(stats.served_by_region()["us-east-1"], 1);
        assert_eq!(stats.regions.len(), 2);
    }
}
