//! `simple-shuffle`: weighted random order.
//!
//! 1. Pick the weighting key: `weight` if any candidate sets it, else `rpm`, else `tpm`; none set
//!    means every candidate weighs 1.
//! 2. A candidate missing the chosen key weighs the average of those that set it (not zero, which
//!    would starve it, nor one, which would be arbitrary against `rpm: 300`).
//! 3. Draw a weighted random permutation (Efraimidis–Spirakis: key `ln(u) / w`, sort descending):
//!    the first element is candidate `i` with probability `w_i / Σw`, and each later position is a
//!    weighted draw among the rest, so falling back to the next keeps the weights' proportions.
//!    A weight of zero (or less) sorts last: used only when nothing else is left.

use rand::Rng;

use super::Candidate;
use crate::config::Deployment;

/// The weight of each deployment under step 1 and 2.
pub fn weights(deployments: &[&Deployment]) -> Vec<f64> {
    let keys: [fn(&Deployment) -> Option<f64>; 3] = [
        |d| d.weight,
        |d| d.rpm.map(f64::from),
        |d| d.tpm.map(|t| t as f64),
    ];
    let Some(key) = keys
        .iter()
        .find(|key| deployments.iter().any(|d| key(d).is_some()))
    else {
        return vec![1.0; deployments.len()];
    };
    let set: Vec<f64> = deployments.iter().filter_map(|d| key(d)).collect();
    let average = set.iter().sum::<f64>() / set.len() as f64;
    deployments
        .iter()
        .map(|d| key(d).unwrap_or(average))
        .collect()
}

/// Step 3 over the candidates' weights.
pub fn order<R: Rng + ?Sized>(candidates: &[Candidate<'_>], rng: &mut R) -> Vec<usize> {
    let deployments: Vec<&Deployment> = candidates.iter().map(|c| c.deployment).collect();
    let weights = weights(&deployments);
    let sort_keys: Vec<f64> = weights
        .iter()
        .map(|&w| {
            // In (0, 1], so ln(u) is finite and ≤ 0.
            let u = 1.0 - rng.random::<f64>();
            if w > 0.0 {
                -(u.ln() / w)
            } else {
                f64::INFINITY
            }
        })
        .collect();
    // Ascending on -ln(u)/w is descending on ln(u)/w.
    let mut indices: Vec<usize> = (0..candidates.len()).collect();
    indices.sort_by(|&a, &b| sort_keys[a].total_cmp(&sort_keys[b]));
    indices
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;
    use crate::router::store::DeploymentLoad;
    use crate::router::strategy::test_support::{deployment, first_pick_shares};

    #[test]
    fn weights_one_to_three_pick_25_and_75_percent() {
        let a = deployment("a", Some(1.0), None, None);
        let b = deployment("b", Some(3.0), None, None);
        let load = DeploymentLoad::default();
        let candidates = [
            Candidate {
                deployment: &a,
                load: &load,
            },
            Candidate {
                deployment: &b,
                load: &load,
            },
        ];
        let mut rng = SmallRng::seed_from_u64(1);
        let shares = first_pick_shares(10_000, || order(&candidates, &mut rng), 2);
        assert!((shares[0] - 0.25).abs() < 0.03, "{shares:?}");
    }

    #[test]
    fn weight_wins_over_rpm_and_missing_keys_get_the_average() {
        let a = deployment("a", Some(2.0), Some(1), None);
        let b = deployment("b", Some(4.0), Some(1000), None);
        let c = deployment("c", None, Some(5), None);
        assert_eq!(weights(&[&a, &b, &c]), vec![2.0, 4.0, 3.0]);
        let by_rpm = [
            deployment("x", None, Some(10), None),
            deployment("y", None, None, Some(9)),
        ];
        assert_eq!(weights(&[&by_rpm[0], &by_rpm[1]]), vec![10.0, 10.0]);
        let by_tpm = [
            deployment("x", None, None, Some(100)),
            deployment("y", None, None, Some(300)),
        ];
        assert_eq!(weights(&[&by_tpm[0], &by_tpm[1]]), vec![100.0, 300.0]);
        let none = [
            deployment("x", None, None, None),
            deployment("y", None, None, None),
        ];
        assert_eq!(weights(&[&none[0], &none[1]]), vec![1.0, 1.0]);
    }

    #[test]
    fn missing_rpm_is_weighted_by_the_average_in_practice() {
        // rpm 100, 300 and missing (→ 200): shares 1/6, 1/2, 1/3.
        let ds = [
            deployment("a", None, Some(100), None),
            deployment("b", None, Some(300), None),
            deployment("c", None, None, None),
        ];
        let load = DeploymentLoad::default();
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .map(|d| Candidate {
                deployment: d,
                load: &load,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(2);
        let shares = first_pick_shares(10_000, || order(&candidates, &mut rng), 3);
        for (share, expected) in shares.iter().zip([1.0 / 6.0, 0.5, 1.0 / 3.0]) {
            assert!((share - expected).abs() < 0.03, "{shares:?}");
        }
    }

    #[test]
    fn zero_weight_sorts_last_and_every_candidate_appears_once() {
        let ds = [
            deployment("a", Some(0.0), None, None),
            deployment("b", Some(1.0), None, None),
        ];
        let load = DeploymentLoad::default();
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .map(|d| Candidate {
                deployment: d,
                load: &load,
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..100 {
            assert_eq!(order(&candidates, &mut rng), vec![1, 0]);
        }
    }
}
