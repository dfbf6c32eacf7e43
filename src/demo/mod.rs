//! The five resilience patterns of the walkthrough, narrated: cross-Region inference and
//! account sharding call Bedrock directly; fallback, load balancing and quota isolation go
//! through the gateway. Each demo returns a [`DemoOutcome`] (its verdict and figures), which
//! `demo all` gathers into a summary table and `--json` prints as one document.
//!
//! No demo imports another: what they share lives beside them. The direct demos (`cris`,
//! `shard`) share `converse` (the Bedrock calls) and `regions` (reading their Region split back
//! from the logs, through [`crate::insights`]); the gateway demos (`fallback`, `balance`,
//! `isolate`) share `client` (the gateway calls), `routing` (the routing and usage tables) and
//! `check` (what makes a verdict trustworthy).

pub mod balance;
mod check;
mod client;
mod converse;
pub mod cris;
mod env;
pub mod fallback;
pub mod html;
pub mod isolate;
mod regions;
mod routing;
pub mod shard;

pub use env::{DemoEnv, Needs};

use serde_json::Value;

use crate::render::Tone;

/// What a demo observed, and whether that is what the walkthrough expects.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    /// The demo's stable id, as on the command line (`cris`, `shard`, `fallback`, `balance`,
    /// `isolate`): scripts key on it, never on the wording of `pattern`.
    pub id: &'static str,
    /// The pattern's name (`cross-Region inference`, `fallback`, …).
    pub pattern: &'static str,
    /// What the walkthrough shows, in words (`3 primary, 7 fallback, 10/10 succeed`).
    pub expected: String,
    /// What this run observed, in the same words.
    pub observed: String,
    /// Whether the observation matches the expectation.
    pub passed: bool,
    /// Why it did not match, when the demo can tell (a gateway whose windows were still full
    /// from an earlier run; the sandbox's own counters disagreeing with the gateway's headers).
    pub diagnosis: Vec<String>,
    /// Every figure shown, for `--json`.
    pub figures: Value,
}

impl DemoOutcome {
    /// The closing line of a demo that calls Bedrock directly: `working` (`ACCOUNT SHARDING
    /// WORKING`) when it passed, `NOT AS EXPECTED` when not, then what was observed.
    pub fn headline(&self, working: &str) -> (Tone, String) {
        if self.passed {
            (Tone::Good, format!("{working}: {}", self.observed))
        } else {
            (Tone::Warn, format!("NOT AS EXPECTED: {}", self.observed))
        }
    }

    /// The outcome as JSON (the figures plus the verdict).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "pattern": self.pattern,
            "expected": self.expected,
            "observed": self.observed,
            "passed": self.passed,
            "diagnosis": self.diagnosis,
            "figures": self.figures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_names_the_pattern_only_when_it_worked() {
        let outcome = |passed| DemoOutcome {
            id: "cris",
            pattern: "cross-Region inference",
            expected: String::new(),
            observed: "2/2 succeed".into(),
            passed,
            diagnosis: Vec::new(),
            figures: Value::Null,
        };
        assert_eq!(
            outcome(true).headline("CROSS-REGION INFERENCE WORKING"),
            (
                Tone::Good,
                "CROSS-REGION INFERENCE WORKING: 2/2 succeed".to_string()
            )
        );
        assert_eq!(
            outcome(false).headline("CROSS-REGION INFERENCE WORKING"),
            (Tone::Warn, "NOT AS EXPECTED: 2/2 succeed".to_string())
        );
    }
}
