//! Cross-Region inference: which Region a profile call lands in.
//!
//! For an inference profile the destinations come from its geography and the caller's source
//! Region. Each call lands in one destination, drawn with weights equal to each Region's
//! remaining capacity this minute (capacity minus the calls it took in the last 60 s, floored
//! at [`MIN_WEIGHT`] so a saturated Region still sees the odd call); a down Region weighs 0.
//! The draw `roll` in `[0, 1)` comes from the sandbox's seeded RNG, so runs are reproducible.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use tokio::time::Instant;

use crate::config::sandbox::{Geography, RegionTable};

use super::error::BedrockError;
use super::quota::WINDOW;

/// The weight of a Region with no capacity left this minute.
pub const MIN_WEIGHT: f64 = 0.1;

/// The destinations of `geography`'s profiles called from `source`.
pub fn destinations<'a>(
    regions: &'a BTreeMap<Geography, RegionTable>,
    geography: Geography,
    source: &str,
) -> Result<&'a BTreeMap<String, u32>, BedrockError> {
    regions.get(&geography).and_then(|t| t.get(source)).ok_or_else(|| {
        BedrockError::Validation(format!(
            "The provided model identifier is invalid. Inference profiles with prefix '{}.' are not available in {source}.",
            geography.prefix()
        ))
    })
}

/// The weight of every destination, in the destinations' (sorted) order.
pub fn weights(
    destinations: &BTreeMap<String, u32>,
    recent_calls: impl Fn(&str) -> u64,
    down: &BTreeSet<String>,
) -> Vec<(String, f64)> {
    destinations
        .iter()
        .map(|(region, capacity)| {
            let weight = if down.contains(region) {
                0.0
            } else {
                (f64::from(*capacity) - recent_calls(region) as f64).max(MIN_WEIGHT)
            };
            (region.clone(), weight)
        })
        .collect()
}

/// Picks a Region from `weights` with `roll` in `[0, 1)`; `None` when every Region is down.
pub fn pick(weights: &[(String, f64)], roll: f64) -> Option<String> {
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return None;
    }
    let mut threshold = roll * total;
    let live = weights.iter().filter(|(_, w)| *w > 0.0);
    let mut last = None;
    for (region, weight) in live {
        if threshold < *weight {
            return Some(region.clone());
        }
        threshold -= weight;
        last = Some(region);
    }
    // Rounding can leave a sliver past the last live Region.
    last.cloned()
}

/// Calls each Region took in the last 60 s (shared by every account: capacity is physical).
#[derive(Debug, Default)]
pub struct RegionLoad {
    calls: HashMap<String, VecDeque<Instant>>,
}

impl RegionLoad {
    /// Calls `region` took in the 60 s before `now`.
    pub fn recent(&mut self, region: &str, now: Instant) -> u64 {
        let Some(log) = self.calls.get_mut(region) else {
            return 0;
        };
        while log
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            log.pop_front();
        }
        log.len() as u64
    }

    /// Records one call landing in `region`.
    pub fn record(&mut self, region: &str, now: Instant) {
        self.calls
            .entry(region.to_owned())
            .or_default()
            .push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn dests(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
        list.iter().map(|(r, c)| (r.to_string(), *c)).collect()
    }

    #[test]
    fn weights_are_remaining_capacity_and_down_regions_weigh_nothing() {
        let d = dests(&[("a", 50), ("b", 30), ("c", 20)]);
        let down = BTreeSet::from(["c".to_string()]);
        let w = weights(&d, |r| if r == "a" { 60 } else { 10 }, &down);
        assert_eq!(
            w,
            vec![
                ("a".into(), MIN_WEIGHT),
                ("b".into(), 20.0),
                ("c".into(), 0.0)
            ]
        );
    }

    #[test]
    fn pick_follows_the_cumulative_weights() {
        let w = vec![
            ("a".to_string(), 5.0),
            ("b".to_string(), 0.0),
            ("c".to_string(), 5.0),
        ];
        assert_eq!(pick(&w, 0.0).as_deref(), Some("a"));
        assert_eq!(pick(&w, 0.49).as_deref(), Some("a"));
        assert_eq!(pick(&w, 0.5).as_deref(), Some("c"));
        assert_eq!(pick(&w, 0.999_999).as_deref(), Some("c"));
        assert_eq!(pick(&[("a".to_string(), 0.0)], 0.3), None);
    }

    #[test]
    fn seeded_draws_split_like_the_capacities() {
        let d = dests(&[("a", 50_000), ("b", 30_000), ("c", 20_000)]);
        let mut rng = StdRng::seed_from_u64(42);
        let mut counts = BTreeMap::new();
        for _ in 0..10_000 {
            let region = pick(&weights(&d, |_| 0, &BTreeSet::new()), rng.random()).unwrap();
            *counts.entry(region).or_insert(0) += 1;
        }
        assert!((4_700..5_300).contains(&counts["a"]), "{counts:?}");
        assert!((2_700..3_300).contains(&counts["b"]), "{counts:?}");
    }

    #[test]
    fn region_load_forgets_calls_after_a_minute() {
        let mut load = RegionLoad::default();
        let t0 = Instant::now();
        load.record("a", t0);
        assert_eq!(load.recent("a", t0 + WINDOW / 2), 1);
        assert_eq!(load.recent("a", t0 + WINDOW), 0);
    }

    #[test]
    fn unknown_source_regions_are_a_validation_error() {
        let regions = crate::config::sandbox::default_regions();
        assert!(destinations(&regions, Geography::Us, "us-east-1").is_ok());
        assert!(matches!(
            destinations(&regions, Geography::Us, "eu-west-1"),
            Err(BedrockError::Validation(_))
        ));
    }
}
