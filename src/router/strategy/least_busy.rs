//! `least-busy`: fewest requests in flight first.
//!
//! 1. Read each candidate's requests in flight (admitted, not finished) from the state store.
//! 2. Order ascending by that count.
//! 3. Break ties at random, so equally idle deployments share the traffic.

use rand::Rng;

use super::{Candidate, ascending_with_random_ties};

/// Steps 1–3.
pub fn order<R: Rng + ?Sized>(candidates: &[Candidate<'_>], rng: &mut R) -> Vec<usize> {
    let in_flight: Vec<f64> = candidates
        .iter()
        .map(|c| f64::from(c.load.in_flight))
        .collect();
    ascending_with_random_ties(&in_flight, rng)
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;
    use crate::router::store::DeploymentLoad;
    use crate::router::strategy::test_support::{deployment, first_pick_shares};

    fn load(in_flight: u32) -> DeploymentLoad {
        DeploymentLoad {
            in_flight,
            ..DeploymentLoad::default()
        }
    }

    #[test]
    fn fewest_in_flight_first() {
        let ds = [
            deployment("a", None, None, None),
            deployment("b", None, None, None),
            deployment("c", None, None, None),
        ];
        let loads = [load(5), load(1), load(3)];
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .zip(&loads)
            .map(|(d, l)| Candidate {
                deployment: d,
                load: l,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(4);
        assert_eq!(order(&candidates, &mut rng), vec![1, 2, 0]);
    }

    #[test]
    fn ties_are_broken_at_random() {
        let ds = [
            deployment("a", None, None, None),
            deployment("b", None, None, None),
            deployment("c", None, None, None),
        ];
        let loads = [load(2), load(2), load(9)];
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .zip(&loads)
            .map(|(d, l)| Candidate {
                deployment: d,
                load: l,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(5);
        let shares = first_pick_shares(10_000, || order(&candidates, &mut rng), 3);
        assert!((shares[0] - 0.5).abs() < 0.03, "{shares:?}");
        assert_eq!(shares[2], 0.0);
    }
}
