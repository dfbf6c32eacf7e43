//! The minute's usage of a deployment or consumer with neither an RPM nor a TPM limit: requests
//! and tokens in one-second buckets over the last [`WINDOW`], for `/health`, the dashboard and
//! the usage-based strategies.
//!
//! The exact log ([`UsageWindow`](super::UsageWindow)) keeps one entry per admission for 60 s,
//! which a limit needs (it says exactly when the oldest admission leaves) and bounds (it never
//! holds more than `rpm`); without a limit nothing needs that precision and nothing bounds it:
//! at 14 k requests per second the log held 840 k entries (20 MiB). Here the minute costs at
//! most 60 buckets, plus an entry per request in flight (its second and reservation), and an
//! admission counts from its second until 60 s later, to within a second of the log's count.

use std::collections::{HashMap, VecDeque};

use super::WINDOW;
use crate::router::clock::Timestamp;

const SECOND_US: u64 = 1_000_000;

/// Requests and tokens of the last minute, by second.
pub type SecondCounts = Buckets<SECOND_US, { WINDOW.as_secs() }>;

/// A bucket: (its index, requests, tokens).
type Bucket = (u64, u64, u64);

/// Requests and tokens over the last `SPAN` buckets of `WIDTH_US` microseconds each, with the
/// reservations of the requests in flight: the shape of both the minute by second
/// ([`SecondCounts`]) and the day by minute ([`DayWindow`](super::DayWindow)).
#[derive(Debug, Clone, Default)]
pub struct Buckets<const WIDTH_US: u64, const SPAN: u64> {
    /// Oldest first.
    buckets: VecDeque<Bucket>,
    requests: u64,
    tokens: u64,
    /// Requests admitted and not finished: their bucket and reservation.
    open: HashMap<u64, (u64, u64)>,
}

impl<const WIDTH_US: u64, const SPAN: u64> Buckets<WIDTH_US, SPAN> {
    /// The bucket a timestamp falls in.
    pub fn bucket_of(now: Timestamp) -> u64 {
        now.0 / WIDTH_US
    }

    /// Each bucket's index and tokens, oldest first.
    pub fn tokens_by_bucket(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.buckets.iter().map(|&(at, _, tokens)| (at, tokens))
    }

    /// Drops the buckets that have left the span at `now`.
    pub fn prune(&mut self, now: Timestamp) {
        let current = Self::bucket_of(now);
        while let Some(&(at, requests, tokens)) = self.buckets.front() {
            if current.saturating_sub(at) < SPAN {
                break;
            }
            self.requests = self.requests.saturating_sub(requests);
            self.tokens = self.tokens.saturating_sub(tokens);
            self.buckets.pop_front();
        }
    }

    /// Requests in the span (as of the last `prune`).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Tokens reserved or used in the span (as of the last `prune`).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Counts request `id`, reserving `tokens`, at `now`.
    pub fn record(&mut self, id: u64, now: Timestamp, tokens: u64) {
        let second = Self::bucket_of(now);
        match self.buckets.back_mut() {
            Some((at, requests, reserved)) if *at == second => {
                *requests += 1;
                *reserved = reserved.saturating_add(tokens);
            }
            _ => self.buckets.push_back((second, 1, tokens)),
        }
        self.requests += 1;
        self.tokens = self.tokens.saturating_add(tokens);
        self.open.insert(id, (second, tokens));
    }

    /// Request `id` finished: its bucket takes `tokens` instead of its reservation, or loses
    /// the request and its reservation (`None`: never sent), if that bucket is still in the
    /// span. Returns whether `id` was counted here.
    pub fn finish(&mut self, id: u64, tokens: Option<u64>) -> bool {
        let Some((second, reserved)) = self.open.remove(&id) else {
            return false;
        };
        let Some(bucket) = self.buckets.iter_mut().rev().find(|b| b.0 == second) else {
            return true;
        };
        let (used, requests) = match tokens {
            Some(used) => (used, 0),
            None => (0, 1),
        };
        bucket.1 = bucket.1.saturating_sub(requests);
        bucket.2 = bucket.2.saturating_sub(reserved).saturating_add(used);
        self.requests = self.requests.saturating_sub(requests);
        self.tokens = self.tokens.saturating_sub(reserved).saturating_add(used);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, micros: u64) -> Timestamp {
        Timestamp(seconds * SECOND_US + micros)
    }

    #[test]
    fn a_minute_of_admissions_settlements_and_releases_in_second_buckets() {
        let mut counts = SecondCounts::default();
        counts.record(1, at(0, 10), 900);
        counts.record(2, at(0, 900_000), 100);
        counts.record(3, at(30, 0), 500);
        assert_eq!((counts.requests(), counts.tokens()), (3, 1_500));
        assert!(counts.finish(1, Some(300)));
        assert!(counts.finish(3, None));
        assert_eq!((counts.requests(), counts.tokens()), (2, 400));
        assert!(!counts.finish(3, Some(1)), "finished once only");
        // Second 0 leaves at 60 s, whatever the microseconds of its admissions.
        counts.prune(at(59, 999_999));
        assert_eq!((counts.requests(), counts.tokens()), (2, 400));
        counts.prune(at(60, 0));
        assert_eq!((counts.requests(), counts.tokens()), (0, 0));
        assert_eq!(
            counts.buckets.len(),
            1,
            "second 30's bucket, emptied by the release"
        );
        counts.prune(at(90, 0));
        assert!(counts.buckets.is_empty());
    }

    #[test]
    fn a_request_finishing_after_its_second_left_changes_nothing() {
        let mut counts = SecondCounts::default();
        counts.record(1, at(0, 0), 900);
        counts.record(2, at(61, 0), 50);
        counts.prune(at(61, 0));
        assert!(counts.finish(1, Some(10)));
        assert_eq!((counts.requests(), counts.tokens()), (1, 50));
        assert_eq!(counts.open.len(), 1, "request 2 is still open");
    }

    #[test]
    fn the_memory_is_bounded_by_the_seconds_not_the_requests() {
        let mut counts = SecondCounts::default();
        for id in 0..100_000u64 {
            let now = at(id / 1_000, id % 1_000);
            counts.prune(now);
            counts.record(id, now, 10);
            counts.finish(id, Some(5));
        }
        assert_eq!(counts.buckets.len(), 60);
        assert!(counts.open.is_empty());
        assert_eq!(counts.requests(), 60_000);
        assert_eq!(counts.tokens(), 300_000);
    }
}
