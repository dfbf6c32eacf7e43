//! The tokens-per-day limit (`tpd`): a rolling 24 hours in one-minute buckets. Each admission
//! adds its reservation to its minute's bucket; when it finishes, the bucket takes its real
//! tokens instead (or loses the reservation, for a request never sent), as long as the minute
//! is still within the day. A request fits when the day's total plus its reservation stays
//! within `tpd`.

use std::time::Duration;

use super::counts::Buckets;
use super::{Exceeded, LimitKind};
use crate::router::clock::Timestamp;

/// Minutes in the day window.
pub const DAY_MINUTES: u64 = 1_440;

const MINUTE_US: u64 = 60_000_000;

/// The minute a timestamp falls in.
pub fn minute_of(now: Timestamp) -> u64 {
    Buckets::<MINUTE_US, DAY_MINUTES>::bucket_of(now)
}

/// One deployment's day of tokens.
#[derive(Debug, Clone, Default)]
pub struct DayWindow {
    minutes: Buckets<MINUTE_US, DAY_MINUTES>,
}

impl DayWindow {
    /// Drops the minutes that have left the day at `now`.
    pub fn prune(&mut self, now: Timestamp) {
        self.minutes.prune(now);
    }

    /// Tokens counted in the day (as of the last `prune`).
    pub fn tokens(&self) -> u64 {
        self.minutes.tokens()
    }

    /// Whether `tokens` more fit under `tpd`; call after `prune(now)`. A refusal says when the
    /// oldest minutes whose departure makes room leave the day.
    pub fn check(&self, now: Timestamp, tpd: u64, tokens: u64) -> Result<(), Exceeded> {
        let total = self.minutes.tokens();
        if total.saturating_add(tokens) <= tpd {
            return Ok(());
        }
        let day = Duration::from_secs(DAY_MINUTES * 60);
        let exceeded = |retry_after| Exceeded {
            kind: LimitKind::Tpd,
            limit: tpd,
            retry_after,
        };
        if tokens > tpd {
            return Err(exceeded(day));
        }
        let mut left = total;
        for (minute, bucket) in self.minutes.tokens_by_bucket() {
            left = left.saturating_sub(bucket);
            if left + tokens <= tpd {
                let leaves = Timestamp((minute + DAY_MINUTES) * MINUTE_US);
                return Err(exceeded(now.until(leaves)));
            }
        }
        Err(exceeded(day))
    }

    /// Counts request `id`'s reservation of `tokens` at `now`.
    pub fn record(&mut self, id: u64, now: Timestamp, tokens: u64) {
        self.minutes.record(id, now, tokens);
    }

    /// Request `id` finished: its minute takes `tokens` (`None`: nothing) instead of its
    /// reservation, if that minute is still in the day.
    pub fn finish(&mut self, id: u64, tokens: Option<u64>) {
        self.minutes.finish(id, tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(m: u64) -> Timestamp {
        Timestamp(m * MINUTE_US)
    }

    #[test]
    fn the_day_holds_reservations_then_real_tokens_for_twenty_four_hours() {
        let mut day = DayWindow::default();
        day.record(1, minute(0), 900);
        day.finish(1, Some(300));
        day.record(2, minute(10), 900);
        assert_eq!(day.tokens(), 1_200);
        assert!(day.check(minute(10), 2_000, 800).is_ok());
        let refused = day.check(minute(10), 2_000, 801).unwrap_err();
        assert_eq!(refused.kind, LimitKind::Tpd);
        // Room comes when minute 0's 300 leave, a day after it.
        assert_eq!(
            refused.retry_after,
            Duration::from_secs((DAY_MINUTES - 10) * 60)
        );
        day.finish(2, None);
        assert_eq!(day.tokens(), 300);
        day.prune(minute(DAY_MINUTES));
        assert_eq!(day.tokens(), 0);
        // A request that finishes after its minute left the day changes nothing.
        day.record(3, minute(DAY_MINUTES), 100);
        day.prune(minute(2 * DAY_MINUTES));
        day.finish(3, Some(50));
        assert_eq!(day.tokens(), 0);
    }
}
