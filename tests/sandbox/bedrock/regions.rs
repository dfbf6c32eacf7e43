//! Cross-Region inference: profile calls split by Region capacity; a Region marked down gets
//! none; all destinations down is ServiceUnavailableException.

use std::collections::BTreeMap;

use resilient_llm::config::sandbox::{Geography, Quota, RegionTable};

use super::SONNET;
use crate::support::sandbox::{self as sbx, fast_settings, user_text};

fn us_capacities(capacities: &[(&str, u32)]) -> RegionTable {
    let destinations: BTreeMap<String, u32> = capacities
        .iter()
        .map(|(r, c)| (r.to_string(), *c))
        .collect();
    BTreeMap::from([("us-east-1".to_string(), destinations)])
}

/// Capacities far above the calls made, so remaining capacity stays close to capacity and the
/// expected share of each Region is its capacity share.
#[tokio::test]
async fn profile_calls_split_across_regions_by_capacity() {
    let mut settings = sbx::with_model_quota(
        fast_settings(),
        SONNET,
        Quota::per_minute(10_000, 100_000_000),
    );
    let capacities = [
        ("us-east-1", 50_000),
        ("us-east-2", 30_000),
        ("us-west-2", 20_000),
    ];
    settings
        .regions
        .insert(Geography::Us, us_capacities(&capacities));
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    for i in 0..300 {
        client
            .converse()
            .model_id(SONNET)
            .messages(user_text(&format!("call {i}")))
            .send()
            .await
            .unwrap();
    }
    let served = handle.stats().served_by_region();
    assert_eq!(served.values().sum::<u64>(), 300);
    // Tolerance: ±8 percentage points (±24 calls), about 2.8 standard deviations at p = 0.5.
    for (region, capacity) in capacities {
        let expected = 300.0 * f64::from(capacity) / 100_000.0;
        let got = served.get(region).copied().unwrap_or(0) as f64;
        assert!(
            (got - expected).abs() <= 24.0,
            "{region}: {got} calls, expected {expected} ± 24 ({served:?})"
        );
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn a_region_marked_down_gets_no_calls() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    handle.set_region_down("us-west-2", true);
    for _ in 0..40 {
        client
            .converse()
            .model_id(SONNET)
            .messages(user_text("hi"))
            .inference_config(sbx::max_tokens(256))
            .send()
            .await
            .unwrap();
    }
    let served = handle.stats().served_by_region();
    assert_eq!(served.get("us-west-2"), None);
    assert_eq!(served.values().sum::<u64>(), 40);
    handle.set_region_down("us-east-1", true);
    handle.set_region_down("us-east-2", true);
    let err = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_service_unavailable_exception(),
        "{err:?}"
    );
    handle.shutdown().await;
}
