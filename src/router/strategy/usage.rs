//! `usage-based-routing`: the deployment with the most headroom in the current window first.
//!
//! 1. For each candidate, its share used: the larger of `requests / rpm` and `tokens / tpm` over
//!    the sliding window, counting only the limits it has.
//! 2. A candidate with no limit has share 0: it is never the bottleneck.
//! 3. Order ascending by share; ties at random.

use rand::Rng;

use super::{Candidate, ascending_with_random_ties};

/// Step 1 and 2 for one candidate.
pub fn share_used(candidate: &Candidate<'_>) -> f64 {
    let by_requests = candidate
        .deployment
        .rpm
        .map(|rpm| candidate.load.requests as f64 / f64::from(rpm.max(1)));
    let by_tokens = candidate
        .deployment
        .tpm
        .map(|tpm| candidate.load.tokens as f64 / tpm.max(1) as f64);
    by_requests.into_iter().chain(by_tokens).fold(0.0, f64::max)
}

/// Step 3.
pub fn order<R: Rng + ?Sized>(candidates: &[Candidate<'_>], rng: &mut R) -> Vec<usize> {
    let shares: Vec<f64> = candidates.iter().map(share_used).collect();
    ascending_with_random_ties(&shares, rng)
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;
    use crate::router::store::DeploymentLoad;
    use crate::router::strategy::test_support::deployment;

    fn load(requests: u64, tokens: u64) -> DeploymentLoad {
        DeploymentLoad {
            requests,
            tokens,
            ..DeploymentLoad::default()
        }
    }

    #[test]
    fn lowest_share_of_its_own_limit_first() {
        // a: 5/10 rpm = 50%; b: 20/100 rpm = 20% but 900/1000 tpm = 90%; c: 30/100 = 30%.
        let ds = [
            deployment("a", None, Some(10), None),
            deployment("b", None, Some(100), Some(1000)),
            deployment("c", None, Some(100), None),
        ];
        let loads = [load(5, 0), load(20, 900), load(30, 0)];
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .zip(&loads)
            .map(|(d, l)| Candidate {
                deployment: d,
                load: l,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(6);
        assert_eq!(order(&candidates, &mut rng), vec![2, 0, 1]);
    }

    #[test]
    fn unlimited_deployments_have_no_share() {
        let d = deployment("a", None, None, None);
        let l = load(1000, 1_000_000);
        assert_eq!(
            share_used(&Candidate {
                deployment: &d,
                load: &l
            }),
            0.0
        );
    }
}
