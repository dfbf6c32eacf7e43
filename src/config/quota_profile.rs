//! How Bedrock counts a call against a model's tokens-per-minute quota (AWS, "How tokens are
//! counted in Amazon Bedrock"), per deployment: what a call reserves when it starts and what it
//! is charged when it ends, in the quota's own units.
//!
//! At the start Bedrock reserves the whole prompt (input, cache writes and cache reads) plus
//! `maxTokens` (the model's maximum output when the request sets none). At the end it charges
//! the input and cache writes (cache reads are released) plus the output times the model's
//! output burndown rate: 5 for Claude 3.7 Sonnet and the Claude 4 models and later, 1 for the
//! others. The gateway reserves `maxTokens × burndown`, the most the call can be charged, so a
//! settled call never needs more output quota than it held (Bedrock reserves `maxTokens` alone
//! and can be overdrawn by the burndown at the end; the gateway errs the safe way).

use super::model::DEFAULT_OUTPUT_RESERVATION;

/// A deployment's quota arithmetic, from its model card and `model_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaProfile {
    /// Quota tokens each output token takes (`model_info.output_burndown`).
    pub output_burndown: u64,
    /// The most output one call may ask for (`model_info.max_output_tokens`), when known.
    pub max_output_tokens: Option<u64>,
    /// What a call that sets no `max_tokens` reserves (`model_info.default_output_tokens`);
    /// without it the maximum output, as Bedrock reserves.
    pub default_output_tokens: Option<u64>,
    /// Whether cache reads stay counted once the call ends (`model_info.cache_read_counts`):
    /// not on Bedrock, which releases them.
    pub cache_read_counts: bool,
}

impl Default for QuotaProfile {
    fn default() -> Self {
        QuotaProfile {
            output_burndown: 1,
            max_output_tokens: None,
            default_output_tokens: None,
            cache_read_counts: false,
        }
    }
}

/// One call's tokens as its upstream reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Input read fresh (neither from nor into the cache).
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub output: u64,
}

impl QuotaProfile {
    /// The output a call reserves: its `max_tokens`, else the default output, else the maximum
    /// output, else [`DEFAULT_OUTPUT_RESERVATION`] (before the burndown).
    pub fn reserved_output(&self, max_tokens: Option<u64>) -> u64 {
        max_tokens
            .or(self.default_output_tokens)
            .or(self.max_output_tokens)
            .unwrap_or(DEFAULT_OUTPUT_RESERVATION)
    }

    /// What a call whose whole prompt is `prompt` tokens reserves when it starts.
    pub fn reservation(&self, prompt: u64, max_tokens: Option<u64>) -> u64 {
        let output = self
            .reserved_output(max_tokens)
            .saturating_mul(self.output_burndown);
        prompt.saturating_add(output)
    }

    /// What a finished call is charged.
    pub fn charge(&self, counts: TokenCounts) -> u64 {
        let read = if self.cache_read_counts {
            counts.cache_read
        } else {
            0
        };
        counts
            .input
            .saturating_add(counts.cache_write)
            .saturating_add(read)
            .saturating_add(counts.output.saturating_mul(self.output_burndown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAUDE: QuotaProfile = QuotaProfile {
        output_burndown: 5,
        max_output_tokens: Some(64_000),
        default_output_tokens: None,
        cache_read_counts: false,
    };

    #[test]
    fn a_call_reserves_its_whole_prompt_and_its_output_at_the_burndown() {
        assert_eq!(CLAUDE.reservation(1_000, Some(500)), 1_000 + 2_500);
        // No max_tokens: the model's maximum output, burned down.
        assert_eq!(CLAUDE.reservation(1_000, None), 1_000 + 320_000);
        let defaulted = QuotaProfile {
            default_output_tokens: Some(4_096),
            ..CLAUDE
        };
        assert_eq!(defaulted.reservation(10, None), 10 + 20_480);
        assert_eq!(
            QuotaProfile::default().reservation(10, None),
            10 + DEFAULT_OUTPUT_RESERVATION
        );
    }

    #[test]
    fn a_finished_call_is_charged_without_its_cache_reads() {
        let counts = TokenCounts {
            input: 100,
            cache_read: 3_000,
            cache_write: 200,
            output: 40,
        };
        assert_eq!(CLAUDE.charge(counts), 100 + 200 + 200);
        let counted = QuotaProfile {
            cache_read_counts: true,
            ..CLAUDE
        };
        assert_eq!(counted.charge(counts), 100 + 200 + 3_000 + 200);
        assert_eq!(QuotaProfile::default().charge(counts), 100 + 200 + 40);
    }

    #[test]
    fn a_settled_call_never_takes_more_output_quota_than_it_reserved() {
        for max_tokens in [1, 7, 512, 32_000] {
            for output in [0, 1, max_tokens / 2, max_tokens] {
                let counts = TokenCounts {
                    output,
                    ..TokenCounts::default()
                };
                assert!(CLAUDE.charge(counts) <= CLAUDE.reservation(0, Some(max_tokens)));
            }
        }
    }
}
