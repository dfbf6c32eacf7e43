//! Routing strategies: each turns a group's candidate deployments into an ORDER to try, so the
//! caller can move to the next one when an admission races and loses.
//!
//! Every strategy is a pure function of the candidates, their load and an injected RNG.

mod latency;
mod least_busy;
mod simple_shuffle;
mod usage;

use rand::Rng;

pub use latency::{EWMA_ALPHA, EXPLORATION, ewma};
pub use simple_shuffle::weights;

use crate::config::{Deployment, RoutingStrategy};
use crate::router::store::DeploymentLoad;

/// One deployment the strategy may pick, with its current load.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub deployment: &'a Deployment,
    pub load: &'a DeploymentLoad,
}

/// The indices of `candidates`, best first, according to `strategy`.
pub fn order<R: Rng + ?Sized>(
    strategy: RoutingStrategy,
    candidates: &[Candidate<'_>],
    rng: &mut R,
) -> Vec<usize> {
    match strategy {
        RoutingStrategy::SimpleShuffle => simple_shuffle::order(candidates, rng),
        RoutingStrategy::LeastBusy => least_busy::order(candidates, rng),
        RoutingStrategy::UsageBased => usage::order(candidates, rng),
        RoutingStrategy::LatencyBased => latency::order(candidates, rng),
    }
}

/// The indices `0..n` sorted by `key` ascending, ties in random order.
fn ascending_with_random_ties<R: Rng + ?Sized>(keys: &[f64], rng: &mut R) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut indices: Vec<usize> = (0..keys.len()).collect();
    indices.shuffle(rng);
    // A stable sort keeps the shuffled order among equal keys.
    indices.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    indices
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use crate::config::{Deployment, ProviderKind};

    /// A Bedrock deployment with the given id and optional weight/rpm/tpm.
    pub fn deployment(
        id: &str,
        weight: Option<f64>,
        rpm: Option<u32>,
        tpm: Option<u64>,
    ) -> Arc<Deployment> {
        Arc::new(Deployment {
            index: 0,
            id: id.to_string(),
            key: id.to_string(),
            group: "g".to_string(),
            provider: ProviderKind::Bedrock,
            model: format!("model-{id}"),
            profile: None,
            region: None,
            api_base: None,
            api_key: None,
            weight,
            rpm,
            tpm,
            timeout: None,
            max_input_tokens: None,
            quota: Default::default(),
            price: None,
            tpd: None,
            mode: crate::config::Mode::Chat,
            family: None,
            capabilities: crate::config::Capabilities::ALL,
        })
    }

    /// How often each index comes first over `picks` orders.
    pub fn first_pick_shares(
        picks: usize,
        mut order: impl FnMut() -> Vec<usize>,
        n: usize,
    ) -> Vec<f64> {
        let mut counts = vec![0usize; n];
        for _ in 0..picks {
            counts[order()[0]] += 1;
        }
        counts.iter().map(|&c| c as f64 / picks as f64).collect()
    }
}
