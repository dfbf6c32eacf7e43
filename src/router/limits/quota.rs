//! One deployment's or consumer's quota: its [`UsageWindow`] plus its requests in flight, with the
//! admission rule applied to both at once.

use super::{
    DayWindow, Exceeded, LimitKind, Limits, PARALLEL_RETRY_AFTER, Remaining, SecondCounts,
    UsageWindow,
};
use crate::router::clock::Timestamp;

/// Usage figures for `/health` and for the routing strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Requests admitted in the current window.
    pub requests: u64,
    /// Tokens reserved or used in the current window.
    pub tokens: u64,
    /// Requests admitted and not yet finished.
    pub in_flight: u32,
    /// Tokens reserved or used in the last 24 hours (kept only under a `tpd`).
    pub day_tokens: u64,
}

/// The window and in-flight count of one deployment or consumer.
#[derive(Debug, Clone, Default)]
pub struct Quota {
    /// The exact log, for admissions under an RPM or TPM limit.
    window: UsageWindow,
    /// Per-second counts, for admissions under neither (the log would grow with the request
    /// rate and bound nothing).
    seconds: SecondCounts,
    day: DayWindow,
    in_flight: u32,
}

impl Quota {
    /// Admits request `id` reserving `tokens` at `now` if it fits every limit (or unconditionally
    /// when `enforce` is false, still counting it). A refusal changes nothing.
    pub fn try_admit(
        &mut self,
        now: Timestamp,
        limits: &Limits,
        id: u64,
        tokens: u64,
        enforce: bool,
    ) -> Result<Remaining, Exceeded> {
        self.window.prune(now);
        self.seconds.prune(now);
        self.day.prune(now);
        if enforce {
            self.window.check(now, limits.rpm, limits.tpm, tokens)?;
            if let Some(tpd) = limits.tpd {
                self.day.check(now, tpd, tokens)?;
            }
            if let Some(limit) = limits.parallel
                && self.in_flight >= limit
            {
                return Err(Exceeded {
                    kind: LimitKind::Parallel,
                    limit: u64::from(limit),
                    retry_after: PARALLEL_RETRY_AFTER,
                });
            }
        }
        if limits.rpm.is_some() || limits.tpm.is_some() {
            self.window.record(id, now, tokens);
        } else {
            self.seconds.record(id, now, tokens);
        }
        // Only a day limit needs the day (as in the Redis store): the rest skip its upkeep.
        if limits.tpd.is_some() {
            self.day.record(id, now, tokens);
        }
        self.in_flight = self.in_flight.saturating_add(1);
        Ok(self.window.remaining(now, limits.rpm, limits.tpm, tokens))
    }

    /// Finishes request `id`: its reservation becomes `tokens` (`Some`) or is removed (`None`:
    /// the request consumes nothing).
    pub fn finish(&mut self, now: Timestamp, id: u64, tokens: Option<u64>) {
        self.window.prune(now);
        self.seconds.prune(now);
        self.day.prune(now);
        self.day.finish(id, tokens);
        // Counted in one of the two: the per-second counts say whether it was theirs.
        if !self.seconds.finish(id, tokens) {
            match tokens {
                Some(used) => {
                    self.window.settle(id, used);
                }
                None => {
                    self.window.release(id);
                }
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Current usage at `now`.
    pub fn usage(&mut self, now: Timestamp) -> Usage {
        self.window.prune(now);
        self.seconds.prune(now);
        self.day.prune(now);
        Usage {
            requests: self.window.requests() + self.seconds.requests(),
            tokens: self.window.tokens() + self.seconds.tokens(),
            in_flight: self.in_flight,
            day_tokens: self.day.tokens(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: u32, tpm: u64, parallel: u32) -> Limits {
        Limits {
            rpm: Some(rpm),
            tpm: Some(tpm),
            parallel: Some(parallel),
            tpd: None,
        }
    }

    /// Property: in any interleaving of admissions (each reserving a call's worst case, the
    /// prompt plus `max_tokens` × burndown), settlements (to a charge no larger: the output
    /// burned down at most `max_tokens`) and releases, with time moving on, the window never
    /// holds more than its TPM. Checked over 300 random interleavings of 400 steps.
    #[test]
    fn no_interleaving_of_reservations_and_settlements_overruns_the_tpm() {
        use crate::config::{QuotaProfile, TokenCounts};
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        let profile = QuotaProfile {
            output_burndown: 5,
            max_output_tokens: Some(4_000),
            ..QuotaProfile::default()
        };
        let tpm = 50_000;
        let l = Limits {
            rpm: None,
            tpm: Some(tpm),
            parallel: None,
            tpd: None,
        };
        for seed in 0..300 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut q = Quota::default();
            let mut now = 0u64;
            let mut open: Vec<(u64, u64, u64)> = Vec::new(); // (id, prompt, max_tokens)
            for id in 0..400u64 {
                match rng.random_range(0..10) {
                    0..=4 => {
                        let prompt = rng.random_range(0..3_000);
                        let max_tokens = rng.random_range(1..4_000);
                        let reserved = profile.reservation(prompt, Some(max_tokens));
                        if q.try_admit(Timestamp(now), &l, id, reserved, true).is_ok() {
                            open.push((id, prompt, max_tokens));
                        }
                    }
                    5..=7 if !open.is_empty() => {
                        let (id, prompt, max_tokens) =
                            open.swap_remove(rng.random_range(0..open.len()));
                        let read = rng.random_range(0..=prompt);
                        let counts = TokenCounts {
                            input: prompt - read,
                            cache_read: read,
                            cache_write: 0,
                            output: rng.random_range(0..=max_tokens),
                        };
                        q.finish(Timestamp(now), id, Some(profile.charge(counts)));
                    }
                    8 if !open.is_empty() => {
                        let (id, ..) = open.swap_remove(rng.random_range(0..open.len()));
                        q.finish(Timestamp(now), id, None);
                    }
                    _ => now += rng.random_range(0..5_000_000),
                }
                let held = q.usage(Timestamp(now)).tokens;
                assert!(held <= tpm, "seed {seed}: {held} > {tpm}");
            }
        }
    }

    #[test]
    fn without_rpm_or_tpm_the_minute_is_counted_by_second_and_settles_the_same() {
        let mut q = Quota::default();
        let unlimited = Limits::default();
        let now = Timestamp(0);
        for id in 0..3 {
            assert!(q.try_admit(now, &unlimited, id, 100, true).is_ok());
        }
        q.finish(now, 0, Some(40));
        q.finish(now, 1, None);
        assert_eq!(
            q.usage(now),
            Usage {
                requests: 2,
                tokens: 140,
                in_flight: 1,
                day_tokens: 0,
            }
        );
        assert_eq!(q.window.requests(), 0, "nothing in the exact log");
        // A minute later the counts are gone, as the log's would be.
        assert_eq!(q.usage(Timestamp(60_000_000)).requests, 0);
        q.finish(Timestamp(60_000_000), 2, Some(10));
        assert_eq!(q.usage(Timestamp(60_000_000)).in_flight, 0);
    }

    #[test]
    fn a_refused_request_consumes_nothing() {
        let mut q = Quota::default();
        let l = limits(1, 1000, 5);
        let now = Timestamp(0);
        assert!(q.try_admit(now, &l, 1, 100, true).is_ok());
        assert_eq!(
            q.try_admit(now, &l, 2, 100, true).unwrap_err().kind,
            LimitKind::Rpm
        );
        assert_eq!(
            q.usage(now),
            Usage {
                requests: 1,
                tokens: 100,
                in_flight: 1,
                day_tokens: 0,
            }
        );
    }

    #[test]
    fn reserve_settle_release() {
        let mut q = Quota::default();
        let l = limits(10, 1000, 5);
        let now = Timestamp(0);
        let remaining = q.try_admit(now, &l, 1, 600, true).unwrap();
        assert_eq!(
            remaining,
            Remaining {
                requests: Some(9),
                tokens: Some(400),
                reset_requests: Some(std::time::Duration::ZERO),
                // 600 more do not fit until the first reservation leaves the window.
                reset_tokens: Some(super::super::WINDOW),
            }
        );
        assert_eq!(
            q.try_admit(now, &l, 2, 600, true).unwrap_err().kind,
            LimitKind::Tpm
        );
        q.finish(now, 1, Some(150));
        assert!(q.try_admit(now, &l, 3, 600, true).is_ok());
        q.finish(now, 3, None);
        assert_eq!(
            q.usage(now),
            Usage {
                requests: 1,
                tokens: 150,
                in_flight: 0,
                day_tokens: 0,
            }
        );
    }

    #[test]
    fn parallel_limit_frees_when_a_request_finishes() {
        let mut q = Quota::default();
        let l = limits(100, 100_000, 2);
        let now = Timestamp(0);
        q.try_admit(now, &l, 1, 1, true).unwrap();
        q.try_admit(now, &l, 2, 1, true).unwrap();
        let refused = q.try_admit(now, &l, 3, 1, true).unwrap_err();
        assert_eq!((refused.kind, refused.limit), (LimitKind::Parallel, 2));
        q.finish(now, 1, Some(1));
        assert!(q.try_admit(now, &l, 3, 1, true).is_ok());
    }

    #[test]
    fn unenforced_admissions_are_still_counted() {
        let mut q = Quota::default();
        let l = limits(1, 10, 1);
        let now = Timestamp(0);
        q.try_admit(now, &l, 1, 50, false).unwrap();
        q.try_admit(now, &l, 2, 50, false).unwrap();
        assert_eq!(
            q.usage(now),
            Usage {
                requests: 2,
                tokens: 100,
                in_flight: 2,
                day_tokens: 0,
            }
        );
    }
}
