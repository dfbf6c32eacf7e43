//! `latency-based-routing`: the fastest deployment first, with a little exploration.
//!
//! 1. Each deployment's latency is an exponentially weighted moving average of its successful
//!    calls ([`ewma`], weight [`EWMA_ALPHA`] on the newest sample), kept by the state store.
//! 2. Candidates never measured come first (ties at random): they must be seen once to be ranked.
//! 3. The rest follow in ascending EWMA order, ties at random.
//! 4. With probability [`EXPLORATION`], one of the other candidates, chosen uniformly, is moved to
//!    the front, so a deployment whose average is stale (one that was slow and has recovered) is
//!    measured again instead of being starved forever.

use std::time::Duration;

use rand::Rng;

use super::{Candidate, ascending_with_random_ties};

/// Weight of the newest sample in the moving average.
pub const EWMA_ALPHA: f64 = 0.3;

/// Probability that a candidate other than the fastest goes first.
pub const EXPLORATION: f64 = 0.05;

/// Step 1: the new average after `sample`.
pub fn ewma(previous: Option<Duration>, sample: Duration) -> Duration {
    match previous {
        None => sample,
        Some(average) => average.mul_f64(1.0 - EWMA_ALPHA) + sample.mul_f64(EWMA_ALPHA),
    }
}

/// Steps 2–4.
pub fn order<R: Rng + ?Sized>(candidates: &[Candidate<'_>], rng: &mut R) -> Vec<usize> {
    let keys: Vec<f64> = candidates
        .iter()
        .map(|c| c.load.latency.map_or(-1.0, |l| l.as_secs_f64()))
        .collect();
    let mut indices = ascending_with_random_ties(&keys, rng);
    if indices.len() > 1 && rng.random_bool(EXPLORATION) {
        let explored = rng.random_range(1..indices.len());
        let chosen = indices.remove(explored);
        indices.insert(0, chosen);
    }
    indices
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;
    use crate::router::store::DeploymentLoad;
    use crate::router::strategy::test_support::{deployment, first_pick_shares};

    fn load(latency_ms: Option<u64>) -> DeploymentLoad {
        DeploymentLoad {
            latency: latency_ms.map(Duration::from_millis),
            ..DeploymentLoad::default()
        }
    }

    #[test]
    fn ewma_moves_toward_new_samples() {
        let first = ewma(None, Duration::from_millis(100));
        assert_eq!(first, Duration::from_millis(100));
        assert_eq!(
            ewma(Some(first), Duration::from_millis(200)),
            Duration::from_millis(130)
        );
    }

    #[test]
    fn fastest_first_with_about_five_percent_exploration() {
        let ds = [
            deployment("slow", None, None, None),
            deployment("fast", None, None, None),
        ];
        let loads = [load(Some(900)), load(Some(100))];
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .zip(&loads)
            .map(|(d, l)| Candidate {
                deployment: d,
                load: l,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(8);
        let shares = first_pick_shares(10_000, || order(&candidates, &mut rng), 2);
        assert!(
            (shares[0] - EXPLORATION).abs() < 0.015,
            "slow one explored: {shares:?}"
        );
    }

    #[test]
    fn unmeasured_deployments_are_tried_first() {
        let ds = [
            deployment("a", None, None, None),
            deployment("b", None, None, None),
            deployment("c", None, None, None),
        ];
        let loads = [load(Some(50)), load(None), load(Some(10))];
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .zip(&loads)
            .map(|(d, l)| Candidate {
                deployment: d,
                load: l,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(9);
        let mut ordered = 0;
        for _ in 0..1000 {
            if order(&candidates, &mut rng) == vec![1, 2, 0] {
                ordered += 1;
            }
        }
        assert!(ordered > 900, "{ordered}");
    }
}
