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

/// The tokens-per-day window: 24 hours of one-minute buckets.
const DAY_MINUTES: u64 = 1_440;

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
    /// The day: tokens per minute since the window's first admission (minute, tokens), oldest
    /// first, and their sum. A call counts its reservation here, then its charge once known.
    day: VecDeque<(u64, u64)>,
    day_total: u64,
    /// The first admission's instant: minutes are counted from it.
    origin: Option<Instant>,
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

    fn minute(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin).as_secs() / 60
    }

    /// Drops the day's minutes older than 24 hours.
    fn expire_day(&mut self, minute: u64) {
        while let Some((at, tokens)) = self.day.front() {
            if minute.saturating_sub(*at) < DAY_MINUTES {
                break;
            }
            self.day_total = self.day_total.saturating_sub(*tokens);
            self.day.pop_front();
        }
    }

    /// Adds `tokens` (or takes them off) at `minute`.
    fn count_day(&mut self, minute: u64, tokens: i64) {
        match self.day.iter_mut().rev().find(|(at, _)| *at == minute) {
            Some((_, slot)) => *slot = slot.saturating_add_signed(tokens),
            None => self
                .day
                .push_back((minute, 0u64.saturating_add_signed(tokens))),
        }
        self.day_total = self.day_total.saturating_add_signed(tokens);
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
        let minute = self.minute(now);
        self.expire_day(minute);
        let requests = self.entries.len() as u64;
        let spent: u64 = self.entries.iter().map(|e| e.tokens(now)).sum();
        if requests >= u64::from(quota.rpm) {
            return Err(BedrockError::Throttling);
        }
        if spent.saturating_add(tokens) > quota.tpm {
            return Err(BedrockError::TokensThrottling);
        }
        if self.day_total.saturating_add(tokens) > quota.tpd {
            return Err(BedrockError::DailyTokensThrottling);
        }
        self.count_day(minute, i64::try_from(tokens).unwrap_or(i64::MAX));
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

    /// Says that `admission`'s answer ends at `at`, charged `tokens` from then on (the day
    /// counts the charge at once, in the minute of the admission).
    pub fn settle(&mut self, admission: &Admission, at: Instant, tokens: u64) {
        let Some(window) = self.windows.get_mut(&admission.key) else {
            return;
        };
        let Some(entry) = window.entries.iter_mut().find(|e| e.id == admission.id) else {
            return;
        };
        entry.settles = Some((at, tokens));
        let (admitted, reserved) = (entry.at, entry.reserved);
        let minute = window.minute(admitted);
        let delta =
            i64::try_from(tokens).unwrap_or(i64::MAX) - i64::try_from(reserved).unwrap_or(i64::MAX);
        window.count_day(minute, delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        rpm: 3,
        tpm: 1_000,
        tpd: 1_000_000,
    };

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
    fn the_day_counts_every_charge_for_twenty_four_hours() {
        let quota = Quota {
            rpm: 100,
            tpm: 1_000,
            tpd: 2_500,
        };
        let mut book = QuotaBook::default();
        let t0 = Instant::now();
        // Each minute one call reserving 900, charged 600: three fill 1,800 of the day.
        for minute in 0..3 {
            let at = t0 + Duration::from_secs(60 * minute);
            let admission = book.try_admit("a", "m", quota, 900, at).unwrap();
            book.settle(&admission, at, 600);
        }
        let later = t0 + Duration::from_secs(60 * 5);
        assert_eq!(
            book.try_admit("a", "m", quota, 800, later),
            Err(BedrockError::DailyTokensThrottling)
        );
        assert!(book.try_admit("a", "m", quota, 700, later).is_ok());
        // 24 hours after the first call, its minute has left the day.
        let next_day = t0 + Duration::from_secs(60 * 1_440);
        assert!(book.try_admit("a", "m", quota, 600, next_day).is_ok());
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
