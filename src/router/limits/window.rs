//! The sliding log behind RPM and TPM: one entry per admitted request, holding its admission
//! instant and its token reservation.
//!
//! Invariants:
//! - an entry counts while `at <= now < at + WINDOW`; it leaves the window exactly at `at + WINDOW`;
//! - entries are in admission order (callers read the clock under the same lock as the log), so
//!   the oldest entries are at the front;
//! - `tokens` is the sum of the entries' tokens: reservations until settled, real usage after.
//!
//! A request is admitted only if, counting it, the window holds at most `rpm` requests and `tpm`
//! tokens, so no 60-second window ever holds more than `rpm` admissions: this is a log, not a
//! fixed per-minute bucket. A refused request adds nothing; a released one is removed.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Exceeded, LimitKind, Remaining};
use crate::router::clock::Timestamp;

/// The length of every rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u64,
    at: Timestamp,
    tokens: u64,
}

/// The admissions of one deployment or consumer within the last [`WINDOW`].
#[derive(Debug, Clone, Default)]
pub struct UsageWindow {
    entries: VecDeque<Entry>,
    tokens: u64,
}

impl UsageWindow {
    /// Drops the entries that have left the window at `now`.
    pub fn prune(&mut self, now: Timestamp) {
        while let Some(oldest) = self.entries.front() {
            if oldest.at.plus(WINDOW) > now {
                break;
            }
            self.tokens = self.tokens.saturating_sub(oldest.tokens);
            self.entries.pop_front();
        }
    }

    /// Requests in the window (as of the last `prune`).
    pub fn requests(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Tokens reserved or used in the window (as of the last `prune`).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Whether one more request reserving `tokens` fits at `now`; call after `prune(now)`.
    /// When both limits refuse, the one that frees later is reported.
    pub fn check(
        &self,
        now: Timestamp,
        rpm: Option<u32>,
        tpm: Option<u64>,
        tokens: u64,
    ) -> Result<(), Exceeded> {
        let by_requests = rpm.and_then(|limit| self.rpm_wait(now, limit));
        let by_tokens = tpm.and_then(|limit| self.tpm_wait(now, limit, tokens));
        match (by_requests, by_tokens) {
            (None, None) => Ok(()),
            (Some(e), None) | (None, Some(e)) => Err(e),
            (Some(r), Some(t)) => Err(if t.retry_after > r.retry_after { t } else { r }),
        }
    }

    /// Records an admission; call only after `check` passed (or when limits are not enforced).
    pub fn record(&mut self, id: u64, now: Timestamp, tokens: u64) {
        // Ids are allocated and recorded under the same lock (or script), so the log stays
        // sorted by id and `settle`/`release` can binary-search it.
        debug_assert!(self.entries.back().is_none_or(|last| last.id < id));
        self.entries.push_back(Entry {
            id,
            at: now,
            tokens,
        });
        self.tokens = self.tokens.saturating_add(tokens);
    }

    pub fn settle(&mut self, id: u64, tokens: u64) -> bool {
        let Some(entry) = self.position(id).and_then(|i| self.entries.get_mut(i)) else {
            return false;
        };
        self.tokens = self
            .tokens
            .saturating_sub(entry.tokens)
            .saturating_add(tokens);
        entry.tokens = tokens;
        true
    }

    /// Removes an admission as if it never happened. Returns false if it had already left.
    pub fn release(&mut self, id: u64) -> bool {
        let Some(index) = self.position(id) else {
            return false;
        };
        if let Some(entry) = self.entries.remove(index) {
            self.tokens = self.tokens.saturating_sub(entry.tokens);
        }
        true
    }

    /// What is left of each limit at `now` (as of the last `prune`), and how long until one more
    /// request, and one more request of `tokens`, would fit: what a refusal's `Retry-After`
    /// would say for that limit, zero when it fits now.
    pub fn remaining(
        &self,
        now: Timestamp,
        rpm: Option<u32>,
        tpm: Option<u64>,
        tokens: u64,
    ) -> Remaining {
        Remaining {
            requests: rpm.map(|limit| u64::from(limit).saturating_sub(self.requests())),
            tokens: tpm.map(|limit| limit.saturating_sub(self.tokens)),
            reset_requests: rpm.map(|limit| {
                self.rpm_wait(now, limit)
                    .map_or(Duration::ZERO, |e| e.retry_after)
            }),
            reset_tokens: tpm.map(|limit| {
                self.tpm_wait(now, limit, tokens)
                    .map_or(Duration::ZERO, |e| e.retry_after)
            }),
        }
    }

    /// `None` if one more request fits under `limit`; else how long until the entry whose
    /// departure makes room leaves the window.
    /// Where request `id` sits in the log: O(log n), the log being sorted by id. A busy
    /// deployment holds tens of thousands of entries per minute, so a scan would dominate.
    fn position(&self, id: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    fn rpm_wait(&self, now: Timestamp, limit: u32) -> Option<Exceeded> {
        let limit = u64::from(limit);
        let count = self.requests();
        if count < limit {
            return None;
        }
        // To get down to `limit - 1` entries, the oldest `count - limit + 1` must leave; the last
        // of them is at index `count - limit`.
        let retry_after = usize::try_from(count - limit)
            .ok()
            .and_then(|index| self.entries.get(index))
            .map_or(WINDOW, |entry| now.until(entry.at.plus(WINDOW)));
        Some(Exceeded {
            kind: LimitKind::Rpm,
            limit,
            retry_after,
        })
    }

    /// `None` if `tokens` more fit under `limit`; else how long until enough have left.
    fn tpm_wait(&self, now: Timestamp, limit: u64, tokens: u64) -> Option<Exceeded> {
        if self.tokens.saturating_add(tokens) <= limit {
            return None;
        }
        let exceeded = |retry_after| Exceeded {
            kind: LimitKind::Tpm,
            limit,
            retry_after,
        };
        if tokens > limit {
            // Never fits, even in an empty window: tell the caller to wait a whole window.
            return Some(exceeded(WINDOW));
        }
        let mut left = self.tokens;
        for entry in &self.entries {
            left = left.saturating_sub(entry.tokens);
            if left + tokens <= limit {
                return Some(exceeded(now.until(entry.at.plus(WINDOW))));
            }
        }
        Some(exceeded(WINDOW))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn at(seconds: u64) -> Timestamp {
        Timestamp(seconds * SECOND)
    }

    #[test]
    fn remaining_says_when_one_more_request_and_as_many_tokens_fit() {
        let mut w = UsageWindow::default();
        for (id, t, tokens) in [(1, 0, 400), (2, 10, 300), (3, 20, 200)] {
            w.record(id, at(t), tokens);
        }
        let left = w.remaining(at(30), Some(3), Some(1000), 200);
        assert_eq!((left.requests, left.tokens), (Some(0), Some(100)));
        // The oldest leaves at 60 s: 30 s from now.
        assert_eq!(left.reset_requests, Some(Duration::from_secs(30)));
        // 200 more fit once the first 400 leave, also at 60 s.
        assert_eq!(left.reset_tokens, Some(Duration::from_secs(30)));
        let roomy = w.remaining(at(30), Some(10), Some(1000), 100);
        assert_eq!(roomy.reset_requests, Some(Duration::ZERO));
        assert_eq!(roomy.reset_tokens, Some(Duration::ZERO));
        let unlimited = w.remaining(at(30), None, None, 100);
        assert_eq!(
            (unlimited.reset_requests, unlimited.reset_tokens),
            (None, None)
        );
    }

    #[test]
    fn rpm_refuses_the_n_plus_first_until_the_oldest_leaves() {
        let mut w = UsageWindow::default();
        for (id, t) in [(1, 0), (2, 10), (3, 20)] {
            w.prune(at(t));
            assert!(w.check(at(t), Some(3), None, 0).is_ok());
            w.record(id, at(t), 0);
        }
        w.prune(at(59));
        let refused = w.check(at(59), Some(3), None, 0).unwrap_err();
        assert_eq!(refused.kind, LimitKind::Rpm);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        // One microsecond before the oldest leaves: still refused.
        let edge = Timestamp(60 * SECOND - 1);
        w.prune(edge);
        assert_eq!(
            w.check(edge, Some(3), None, 0).unwrap_err().retry_after,
            Duration::from_micros(1)
        );
        // Exactly at 60 s the first entry has left.
        w.prune(at(60));
        assert!(w.check(at(60), Some(3), None, 0).is_ok());
        assert_eq!(w.requests(), 2);
    }

    #[test]
    fn tpm_retry_after_waits_for_enough_tokens_to_leave() {
        let mut w = UsageWindow::default();
        w.record(1, at(0), 400);
        w.record(2, at(5), 400);
        w.prune(at(10));
        // 800 used of 1000: 300 more needs the first entry gone (at 60 s).
        let refused = w.check(at(10), None, Some(1000), 300).unwrap_err();
        assert_eq!(
            (refused.kind, refused.retry_after),
            (LimitKind::Tpm, Duration::from_secs(50))
        );
        assert!(w.check(at(10), None, Some(1000), 200).is_ok());
        // Larger than the limit itself: never fits, wait a whole window.
        assert_eq!(
            w.check(at(10), None, Some(1000), 1001)
                .unwrap_err()
                .retry_after,
            WINDOW
        );
    }

    #[test]
    fn settle_and_release_adjust_the_reservation() {
        let mut w = UsageWindow::default();
        w.record(1, at(0), 1000);
        w.record(2, at(1), 500);
        assert!(w.settle(1, 120));
        assert_eq!(w.tokens(), 620);
        assert!(w.release(2));
        assert_eq!((w.requests(), w.tokens()), (1, 120));
        w.prune(at(60));
        assert!(
            !w.settle(1, 5),
            "settling after the entry left changes nothing"
        );
        assert_eq!((w.requests(), w.tokens()), (0, 0));
    }

    #[test]
    fn both_limits_report_the_later_one() {
        let mut w = UsageWindow::default();
        w.record(1, at(0), 5);
        w.record(2, at(30), 995);
        w.prune(at(40));
        let refused = w.check(at(40), Some(2), Some(1000), 10).unwrap_err();
        assert_eq!(
            (refused.kind, refused.retry_after),
            (LimitKind::Tpm, Duration::from_secs(50))
        );
    }

    #[test]
    fn never_more_than_n_in_any_window_over_a_random_sequence() {
        use rand::{Rng, SeedableRng, rngs::SmallRng};
        let mut rng = SmallRng::seed_from_u64(7);
        let mut w = UsageWindow::default();
        let limit = 20u32;
        let mut now = 0u64;
        let mut admitted = Vec::new();
        for id in 0..20_000u64 {
            now += rng.random_range(0..4 * SECOND);
            let t = Timestamp(now);
            w.prune(t);
            let refused = w.check(t, Some(limit), None, 0);
            if refused.is_ok() {
                w.record(id, t, 0);
                admitted.push(now);
            } else {
                // Refused only when the window really is full.
                assert_eq!(w.requests(), u64::from(limit));
            }
        }
        // Every window starting at an admission holds at most `limit` admissions.
        let window = 60 * SECOND;
        let mut end = 0;
        for (start, &t0) in admitted.iter().enumerate() {
            while end < admitted.len() && admitted[end] < t0 + window {
                end += 1;
            }
            assert!(end - start <= limit as usize);
        }
        assert!(
            admitted.len() > 1000,
            "the sequence should exercise the limit"
        );
    }
}
