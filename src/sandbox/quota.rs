//! Per-account, per-model quotas with exact sliding 60-second windows.
//!
//! Each (account, quota id) pair keeps a log of the requests it admitted, with the tokens each
//! reserved (input tokens plus `maxTokens`); the quota id is the profile id, else the base model
//! id, whether the caller named it by id or by ARN. A request is admitted when, counting
//! only entries younger than 60 seconds, one more request stays within the RPM and its tokens
//! stay within the TPM. A refused request leaves the log untouched, so it consumes nothing.
//! Entries expire exactly 60 s after admission: at `t + 60 s` they no longer count.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::sandbox::Quota;

use super::error::BedrockError;

/// The window every quota is measured over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The admission log of one (account, model) pair.
#[derive(Debug, Default)]
struct Window {
    /// Admission times and reserved tokens, oldest first.
    entries: VecDeque<(Instant, u64)>,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.entries.front() {
            if now.saturating_duration_since(*at) >= WINDOW {
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Admits the request, or says which limit it would pass (requests are checked first).
    fn try_admit(&mut self, now: Instant, quota: Quota, tokens: u64) -> Result<(), BedrockError> {
        self.expire(now);
        let requests = self.entries.len() as u64;
        let spent: u64 = self.entries.iter().map(|(_, t)| t).sum();
        if requests >= u64::from(quota.rpm) {
            return Err(BedrockError::Throttling);
        }
        if spent.saturating_add(tokens) > quota.tpm {
            return Err(BedrockError::TokensThrottling);
        }
        self.entries.push_back((now, tokens));
        Ok(())
    }
}

/// Every account's quota windows.
#[derive(Debug, Default)]
pub struct QuotaBook {
    windows: HashMap<(String, String), Window>,
}

impl QuotaBook {
    /// Admits one request of `tokens` for `account` on `model` at `now`, or refuses it with
    /// the ThrottlingException of the limit it would pass.
    pub fn try_admit(
        &mut self,
        account: &str,
        model: &str,
        quota: Quota,
        tokens: u64,
        now: Instant,
    ) -> Result<(), BedrockError> {
        self.windows
            .entry((account.to_owned(), model.to_owned()))
            .or_default()
            .try_admit(now, quota, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota { rpm: 3, tpm: 1_000 };

    // The clock is injected: each call names its own instant.
    #[test]
    fn rpm_window_reopens_exactly_at_sixty_seconds() {
        let mut book = QuotaBook::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(book.try_admit("a", "m", QUOTA, 10, t0).is_ok());
        }
        assert_eq!(
            book.try_admit("a", "m", QUOTA, 10, t0),
            Err(BedrockError::Throttling)
        );
        assert!(
            book.try_admit("a", "m", QUOTA, 10, t0 + WINDOW - Duration::from_millis(1))
                .is_err()
        );
        assert!(book.try_admit("a", "m", QUOTA, 10, t0 + WINDOW).is_ok());
    }

    #[test]
    fn window_slides_rather_than_resetting() {
        let mut book = QuotaBook::default();
        let t0 = Instant::now();
        let t30 = t0 + Duration::from_secs(30);
        assert!(book.try_admit("a", "m", QUOTA, 10, t0).is_ok());
        assert!(book.try_admit("a", "m", QUOTA, 10, t30).is_ok());
        assert!(book.try_admit("a", "m", QUOTA, 10, t30).is_ok());
        // At 60 s the first admission expired; the two at 30 s still count.
        assert!(book.try_admit("a", "m", QUOTA, 10, t0 + WINDOW).is_ok());
        assert!(book.try_admit("a", "m", QUOTA, 10, t0 + WINDOW).is_err());
        assert!(book.try_admit("a", "m", QUOTA, 10, t30 + WINDOW).is_ok());
    }

    #[test]
    fn tpm_counts_reserved_tokens_and_refusals_cost_nothing() {
        let mut book = QuotaBook::default();
        let now = Instant::now();
        assert!(book.try_admit("a", "m", QUOTA, 900, now).is_ok());
        assert_eq!(
            book.try_admit("a", "m", QUOTA, 101, now),
            Err(BedrockError::TokensThrottling)
        );
        assert!(book.try_admit("a", "m", QUOTA, 100, now).is_ok());
    }

    #[test]
    fn accounts_and_models_never_share_a_window() {
        let mut book = QuotaBook::default();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(book.try_admit("a", "m", QUOTA, 1, now).is_ok());
        }
        assert!(book.try_admit("b", "m", QUOTA, 1, now).is_ok());
        assert!(book.try_admit("a", "other", QUOTA, 1, now).is_ok());
    }
}
