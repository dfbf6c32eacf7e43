//! Fault injection: pure decisions from the configured rules and draws of the seeded RNG.
//!
//! Rules are tried in configuration order; a rule applies when every filter it sets matches
//! (model id substring, inference Region, caller profile, phase); an applicable rule fires
//! when its draw falls below its rate. The first rule that fires decides the fault.

use std::time::Duration;

use crate::config::sandbox::{FaultKind, FaultPhase, FaultRule, StallStreams};

use super::error::BedrockError;

/// What a call is, as far as fault rules care.
#[derive(Debug, Clone, Copy)]
pub struct FaultContext<'a> {
    /// Model id as called.
    pub model: &'a str,
    /// Inference Region the call landed in.
    pub region: &'a str,
    /// Caller's account profile.
    pub profile: &'a str,
}

fn applies(rule: &FaultRule, phase: FaultPhase, ctx: FaultContext<'_>) -> bool {
    rule.phase == phase
        && rule.model.as_deref().is_none_or(|m| ctx.model.contains(m))
        && rule.region.as_deref().is_none_or(|r| ctx.region == r)
        && rule.profile.as_deref().is_none_or(|p| ctx.profile == p)
}

/// The fault striking a call in `phase`, if any; `roll` yields uniform draws in `[0, 1)`.
pub fn decide(
    rules: &[FaultRule],
    phase: FaultPhase,
    ctx: FaultContext<'_>,
    mut roll: impl FnMut() -> f64,
) -> Option<FaultKind> {
    rules
        .iter()
        .filter(|rule| applies(rule, phase, ctx) && rule.rate > 0.0)
        .find(|rule| rule.rate >= 1.0 || roll() < rule.rate)
        .map(|rule| rule.error)
}

/// What a fault does to the call it strikes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The call is answered with this error (or, for a reset, with nothing at all).
    Fail(BedrockError),
    /// The call is answered normally, after this delay.
    Delay(Duration),
}

/// The effect of `kind`.
pub fn effect(kind: FaultKind) -> Effect {
    match kind {
        FaultKind::Throttling => Effect::Fail(BedrockError::Throttling),
        FaultKind::ServiceUnavailable => Effect::Fail(BedrockError::ServiceUnavailable),
        FaultKind::InternalServer => Effect::Fail(BedrockError::InternalServer),
        FaultKind::ModelTimeout => Effect::Fail(BedrockError::ModelTimeout),
        FaultKind::ModelNotReady => Effect::Fail(BedrockError::ModelNotReady),
        FaultKind::ModelError => Effect::Fail(BedrockError::ModelError),
        FaultKind::ModelStreamError => Effect::Fail(BedrockError::ModelStreamError),
        FaultKind::ConnectionReset => Effect::Fail(BedrockError::ConnectionReset),
        FaultKind::SlowFirstByte(delay) => Effect::Delay(delay),
    }
}

/// After how many output tokens a stream stalls, if it does.
pub fn decide_stall(stall: StallStreams, roll: f64) -> Option<u32> {
    (stall.rate > 0.0 && roll < stall.rate).then_some(stall.after_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(error: FaultKind, rate: f64) -> FaultRule {
        FaultRule {
            error,
            rate,
            model: None,
            region: None,
            profile: None,
            phase: FaultPhase::Before,
        }
    }

    const CTX: FaultContext<'static> = FaultContext {
        model: "us.anthropic.claude-sonnet-4-6",
        region: "us-east-2",
        profile: "genai",
    };

    #[test]
    fn filters_must_all_match() {
        let mut r = rule(FaultKind::InternalServer, 1.0);
        r.model = Some("sonnet".into());
        r.region = Some("us-east-2".into());
        assert_eq!(
            decide(&[r.clone()], FaultPhase::Before, CTX, || 0.5),
            Some(FaultKind::InternalServer)
        );
        r.profile = Some("test".into());
        assert_eq!(decide(&[r.clone()], FaultPhase::Before, CTX, || 0.5), None);
        r.profile = None;
        assert_eq!(decide(&[r], FaultPhase::MidStream, CTX, || 0.5), None);
    }

    #[test]
    fn rates_compare_with_the_draw_and_first_rule_wins() {
        let rules = [
            rule(FaultKind::Throttling, 0.3),
            rule(FaultKind::ModelTimeout, 0.5),
        ];
        let mut draws = [0.4, 0.2].into_iter();
        assert_eq!(
            decide(&rules, FaultPhase::Before, CTX, || draws.next().unwrap()),
            Some(FaultKind::ModelTimeout)
        );
        assert_eq!(
            decide(&rules, FaultPhase::Before, CTX, || 0.1),
            Some(FaultKind::Throttling)
        );
        assert_eq!(decide(&rules, FaultPhase::Before, CTX, || 0.9), None);
        assert_eq!(
            decide(
                &[rule(FaultKind::ModelError, 0.0)],
                FaultPhase::Before,
                CTX,
                || 0.0
            ),
            None
        );
    }

    #[test]
    fn network_faults_reset_or_delay() {
        assert_eq!(
            effect(FaultKind::ConnectionReset),
            Effect::Fail(BedrockError::ConnectionReset)
        );
        let delay = Duration::from_millis(700);
        assert_eq!(
            effect(FaultKind::SlowFirstByte(delay)),
            Effect::Delay(delay)
        );
        assert_eq!(
            effect(FaultKind::Throttling),
            Effect::Fail(BedrockError::Throttling)
        );
    }

    #[test]
    fn stalls_follow_their_rate() {
        let stall = StallStreams {
            rate: 0.5,
            after_tokens: 7,
        };
        assert_eq!(decide_stall(stall, 0.2), Some(7));
        assert_eq!(decide_stall(stall, 0.7), None);
        assert_eq!(decide_stall(StallStreams::default(), 0.0), None);
    }
}
