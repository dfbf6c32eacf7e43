//! What a call costs: a versioned table of Bedrock's on-demand prices per model (USD per
//! million tokens of input, output, cache writes and cache reads), the premium of geographic
//! cross-Region profiles, and the service tiers' multipliers; a deployment's own prices
//! (LiteLLM's `input_cost_per_token` and siblings) replace the table's.
//!
//! Source of [`TABLE_VERSION`]: the Bedrock entries of LiteLLM's price list (litellm 1.110.2,
//! `model_prices_and_context_window.json`) for the catalogue's models, and AWS's global
//! cross-Region inference page ("approximately 10% savings … compared to geographic
//! cross-Region inference"). Claude Sonnet 4.5, Haiku 4.5, Opus 4.5, Opus 4.6, Sonnet 4.6 and
//! Nova 2 Lite cost 10% more through a geographic profile (`us.`, `eu.`, `apac.`, …) than
//! through `global.` or in-Region; the older models cost the same everywhere. The tier
//! multipliers (Priority 1.75, Flex 0.5) are the ratios of LiteLLM's Nova entries, AWS
//! publishing none. Models the table lacks (Claude Opus 4.7 and later, Sonnet 5) have no price
//! until `model_info` gives one: their calls are counted, not costed.

use crate::catalogue;
use crate::config::TokenCounts;
use crate::content::ServiceTier;

/// Which table this build carries.
pub const TABLE_VERSION: &str = "2026-12-01 (LiteLLM 1.110.2 Bedrock entries)";

/// Prices in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// A 5-minute cache write.
    pub cache_write: f64,
    pub cache_read: f64,
}

impl Price {
    /// The price with every figure multiplied by `factor`.
    fn scaled(self, factor: f64) -> Price {
        Price {
            input: self.input * factor,
            output: self.output * factor,
            cache_write: self.cache_write * factor,
            cache_read: self.cache_read * factor,
        }
    }

    /// What a call of `counts` costs, in USD.
    pub fn cost(&self, counts: TokenCounts) -> f64 {
        let million = 1_000_000.0;
        (counts.input as f64 * self.input
            + counts.output as f64 * self.output
            + counts.cache_write as f64 * self.cache_write
            + counts.cache_read as f64 * self.cache_read)
            / million
    }

    /// The price of a call in `tier`.
    pub fn in_tier(self, tier: Option<ServiceTier>) -> Price {
        match tier {
            Some(ServiceTier::Priority) => self.scaled(1.75),
            Some(ServiceTier::Flex) => self.scaled(0.5),
            Some(ServiceTier::Default) | None => self,
        }
    }
}

/// One model's prices: in-Region and `global.`, and whether a geographic profile adds 10%.
struct Entry {
    id: &'static str,
    price: Price,
    geo_premium: bool,
}

const fn entry(
    id: &'static str,
    [input, output, cache_write, cache_read]: [f64; 4],
    geo_premium: bool,
) -> Entry {
    Entry {
        id,
        price: Price {
            input,
            output,
            cache_write,
            cache_read,
        },
        geo_premium,
    }
}

/// USD per million tokens: input, output, cache write (5 minutes), cache read.
const TABLE: &[Entry] = &[
    entry("anthropic.claude-sonnet-4-6", [3.0, 15.0, 3.75, 0.30], true),
    entry(
        "anthropic.claude-opus-4-6-v1",
        [5.0, 25.0, 6.25, 0.50],
        true,
    ),
    entry(
        "anthropic.claude-opus-4-5-20251101-v1:0",
        [5.0, 25.0, 6.25, 0.50],
        true,
    ),
    entry(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        [3.0, 15.0, 3.75, 0.30],
        true,
    ),
    entry(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        [1.0, 5.0, 1.25, 0.10],
        true,
    ),
    entry(
        "anthropic.claude-sonnet-4-20250514-v1:0",
        [3.0, 15.0, 3.75, 0.30],
        false,
    ),
    entry(
        "anthropic.claude-opus-4-1-20250805-v1:0",
        [15.0, 75.0, 18.75, 1.50],
        false,
    ),
    entry(
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        [3.0, 15.0, 3.75, 0.30],
        false,
    ),
    entry(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        [0.80, 4.0, 1.0, 0.08],
        false,
    ),
    entry("amazon.nova-micro-v1:0", [0.035, 0.14, 0.0, 0.00875], false),
    entry("amazon.nova-lite-v1:0", [0.06, 0.24, 0.0, 0.015], false),
    entry("amazon.nova-pro-v1:0", [0.80, 3.20, 0.0, 0.20], false),
    entry("amazon.nova-premier-v1:0", [2.50, 12.50, 0.0, 0.625], false),
    entry("amazon.nova-2-lite-v1:0", [0.30, 2.50, 0.0, 0.075], true),
    entry(
        "meta.llama3-3-70b-instruct-v1:0",
        [0.72, 0.72, 0.0, 0.0],
        false,
    ),
    entry(
        "meta.llama4-maverick-17b-instruct-v1:0",
        [0.24, 0.97, 0.0, 0.0],
        false,
    ),
    entry(
        "meta.llama4-scout-17b-instruct-v1:0",
        [0.17, 0.66, 0.0, 0.0],
        false,
    ),
    entry("amazon.titan-embed-text-v2:0", [0.02, 0.0, 0.0, 0.0], false),
    entry("cohere.embed-english-v3", [0.10, 0.0, 0.0, 0.0], false),
    entry("cohere.embed-multilingual-v3", [0.10, 0.0, 0.0, 0.0], false),
    entry("cohere.embed-v4:0", [0.12, 0.0, 0.0, 0.0], false),
];

/// The geographies whose profiles carry the premium (`global.` does not).
const GEOGRAPHIC: &[&str] = &["us", "us-gov", "eu", "apac", "jp", "au", "ca"];

/// The table's price of the model `model_id` names (base id, inference profile or ARN), with
/// a geographic profile's premium; `None` for a model it lacks.
pub fn price_of(model_id: &str) -> Option<Price> {
    let base = catalogue::base_id(model_id);
    let entry = TABLE.iter().find(|e| e.id == base)?;
    let named = model_id.rsplit('/').next().unwrap_or(model_id);
    let geographic = named
        .split_once('.')
        .is_some_and(|(prefix, _)| GEOGRAPHIC.contains(&prefix));
    Some(match entry.geo_premium && geographic {
        true => entry.price.scaled(1.10),
        false => entry.price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn each_token_kind_is_priced_from_the_table() {
        let price = price_of("global.anthropic.claude-sonnet-4-6").unwrap();
        let kind = |counts: TokenCounts| price.cost(counts);
        let one_million = 1_000_000;
        assert!(close(
            kind(TokenCounts {
                input: one_million,
                ..Default::default()
            }),
            3.0
        ));
        assert!(close(
            kind(TokenCounts {
                output: one_million,
                ..Default::default()
            }),
            15.0
        ));
        assert!(close(
            kind(TokenCounts {
                cache_write: one_million,
                ..Default::default()
            }),
            3.75
        ));
        assert!(close(
            kind(TokenCounts {
                cache_read: one_million,
                ..Default::default()
            }),
            0.30
        ));
        let call = TokenCounts {
            input: 1_000,
            cache_read: 20_000,
            cache_write: 2_000,
            output: 500,
        };
        // 1,000 × 3 + 20,000 × 0.3 + 2,000 × 3.75 + 500 × 15, per million.
        assert!(close(price.cost(call), 0.024));
    }

    #[test]
    fn geographic_profiles_cost_ten_percent_more_where_aws_says_so() {
        let global = price_of("global.anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        let us = price_of("us.anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        let in_region = price_of("anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        assert!(close(global.input, 1.0) && close(in_region.input, 1.0));
        assert!(close(us.input, 1.1) && close(us.output, 5.5));
        let arn = "arn:aws:bedrock:us-east-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-6";
        assert!(close(price_of(arn).unwrap().input, 3.3));
        // No premium on the older models.
        let sonnet_4 = price_of("us.anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert!(close(sonnet_4.input, 3.0));
        assert_eq!(price_of("us.anthropic.claude-opus-4-7"), None);
    }

    #[test]
    fn tiers_scale_every_figure() {
        let nova = price_of("amazon.nova-pro-v1:0").unwrap();
        assert!(close(nova.in_tier(Some(ServiceTier::Priority)).input, 1.40));
        assert!(close(nova.in_tier(Some(ServiceTier::Flex)).output, 1.60));
        assert_eq!(nova.in_tier(None), nova);
    }

    #[test]
    fn every_priced_model_is_in_the_catalogue() {
        for entry in TABLE {
            assert!(catalogue::lookup(entry.id).is_some(), "{}", entry.id);
        }
    }
}
