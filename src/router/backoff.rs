//! The delay before a retry: exponential backoff with full jitter, never shorter than what the
//! upstream asked for.
//!
//! 1. The ceiling doubles per attempt from the base (`router_settings.retry_after`):
//!    `base · 2^attempt`, capped at [`MAX_BACKOFF`].
//! 2. Full jitter: a uniform draw in `[0, ceiling]`, so retries from many clients spread out
//!    instead of arriving together.
//! 3. An upstream `Retry-After` is a floor: the delay is the larger of the draw and it, even past
//!    the cap (the caller may prefer another deployment to waiting that long).

use std::time::Duration;

use rand::Rng;

/// The largest jittered delay, whatever the attempt.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Steps 1–3 for retry number `attempt` (0 for the first retry).
pub fn backoff<R: Rng + ?Sized>(
    attempt: u32,
    base: Duration,
    upstream_retry_after: Option<Duration>,
    rng: &mut R,
) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let ceiling = base.saturating_mul(factor).min(MAX_BACKOFF);
    let jittered = ceiling.mul_f64(rng.random::<f64>());
    upstream_retry_after.map_or(jittered, |floor| jittered.max(floor))
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;

    #[test]
    fn jitter_stays_under_a_doubling_capped_ceiling() {
        let mut rng = SmallRng::seed_from_u64(10);
        let base = Duration::from_millis(100);
        for attempt in 0..40 {
            let ceiling = (base * 2u32.pow(attempt.min(20))).min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(backoff(attempt, base, None, &mut rng) <= ceiling);
            }
        }
        let mean = (0..1000)
            .map(|_| backoff(2, base, None, &mut rng).as_secs_f64())
            .sum::<f64>()
            / 1000.0;
        assert!(
            (mean - 0.2).abs() < 0.03,
            "full jitter averages half the ceiling: {mean}"
        );
    }

    #[test]
    fn upstream_retry_after_is_a_floor() {
        let mut rng = SmallRng::seed_from_u64(11);
        let wait = Duration::from_secs(30);
        for attempt in 0..5 {
            assert!(backoff(attempt, Duration::from_millis(100), Some(wait), &mut rng) >= wait);
        }
    }
}
