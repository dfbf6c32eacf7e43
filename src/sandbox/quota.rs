//! Per-account, per-model quotas with exact sliding 60-second windows, counted as Bedrock counts
//! them (AWS, "How tokens are counted in Amazon Bedrock").
//!
//! Each (account, quota id) pair keeps a log of the requests it admitted; the quota id is the
//! profile id, else the base model id, whether the caller named it by id or by ARN. A request
//! reserves its whole prompt (input, cache writes and reads) plus `maxTokens` (else the model's
//! maximum output) when it starts; when its answer ends, the entry settles to what it is
//! charged: input and cache writes (cache reads are released) plus the output times the
//! model's burndown. A request is admitted when, counting only entries younger than 60
//! seconds, one more request stays within the RPM and its tokens within the TPM. A refused
//! request leaves the log untouched, so it consumes nothing. Entries expire exactly 60 s after
//! admission: at `t + 60 s` they no longer count.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::sandbox::Quota;

use super::error::BedrockError;

/// The window every quota is measured over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One admitted request: when, what it reserved, and when and to what it settles.
#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    at: Instant,
    reserved: u64,
    /// The end of the answer and the tokens charged then; `None` until known, or for an answer
    /// that never ends (a stall).
    settles: Option<(Instant, u64)>,
}

impl Entry {
    fn tokens(&self, now: Instant) -> u64 {
        match self.settles {
            Some((at, charged)) if now >= at => charged,
            Some(_) | None => self.reserved,
        }
    }
}

/// The admission log of one (account, model) pair.
#[derive(Debug, Default)]
struct Window {
    /// Admitted requests, oldest first.
    entries: VecDeque<Entry>,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.entries.front() {
            if now.saturating_duration_since(entry.at) >= WINDOW {
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Admits the request, or says which limit it would pass (requests are checked first).
    fn try_admit(
        &mut self,
        now: Instant,
        quota: Quota,
        tokens: u64,
        id: u64,
    ) -> Result<(), BedrockError> {
        self.expire(now);
        let requests = self.entries.len() as u64;
        let spent: u64 = self.entries.iter().map(|e| e.tokens(now)).sum();
        if requests >= u64::from(quota.rpm) {
            return Err(BedrockError::Throttling);
        }
        if spent.saturating_add(tokens) > quota.tpm {
            return Err(BedrockError::TokensThrottling);
        }
        self.entries.push_back(Entry {
            id,
            at: now,
            reserved: tokens,
            settles: None,
        });
        Ok(())
    }
}

/// Every account's quota windows.
#[derive(Debug, Default)]
pub struct QuotaBook {
    windows: HashMap<(String, String), Window>,
    next_id: u64,
}

/// An admitted request's place in its window, to settle it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    key: (String, String),
    id: u64,
}

impl QuotaBook {
    /// Admits one request reserving `tokens` for `account` on `model` at `now`, or refuses it
    /// with the ThrottlingException of the limit it would pass.
    pub fn try_admit(
        &mut self,
        account: &str,
        model: &str,
        quota: Quota,
        tokens: u64,
        now: Instant,
    ) -> Result<Admission, BedrockError> {
        let key = (account.to_owned(), model.to_owned());
        self.next_id += 1;
        let id = self.next_id;
        self.windows
            .entry(key.clone())
            .or_default()
            .try_admit(now, quota, tokens, id)?;
        Ok(Admission { key, id })
    }

    /// Says that `admission`'s answer ends at `at`, charged `tokens` from then on.
    pub fn settle(&mut self, admission: &Admission, at: Instant, tokens: u64) {
        let entry = self
            .windows
            .get_mut(&admission.key)
            .and_then(|w| w.entries.iter_mut().find(|e| e.id == admission.id));
        if let Some(entry) = entry {
            entry.settles = Some((at, tokens));
        }
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
    fn a_call_holds_its_reservation_until_its_answer_ends_then_its_charge() {
        let mut book = QuotaBook::default();
        let t0 = Instant::now();
        let first = book.try_admit("a", "m", QUOTA, 900, t0).unwrap();
        // It ends after 2 s, charged 300 (its cache reads released, its output burned down).
        book.settle(&first, t0 + Duration::from_secs(2), 300);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            book.try_admit("a", "m", QUOTA, 200, t1),
            Err(BedrockError::TokensThrottling)
        );
        let t2 = t0 + Duration::from_secs(2);
        assert!(book.try_admit("a", "m", QUOTA, 700, t2).is_ok());
        assert_eq!(
            book.try_admit("a", "m", QUOTA, 1, t2),
            Err(BedrockError::TokensThrottling)
        );
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
