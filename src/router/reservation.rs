//! The tokens a request reserves against TPM at admission, and whether that can ever fit.
//!
//! On a deployment, a request reserves in Bedrock's quota units
//! ([`crate::config::QuotaProfile::reservation`]): its prompt plus its `max_tokens` times the
//! model's output burndown. One that sets no `max_tokens` reserves what Bedrock would: the
//! serving model's maximum output ([`Deployment::default_output_tokens`]), so the same request
//! reserves 64,000 × 5 on Claude Sonnet 4.6 and 10,000 on Nova Pro, and the amount is known
//! only once a deployment is chosen. A consumer's own quota counts plain tokens (prompt plus
//! output), the units its `tpm_limit` is written in.

use std::sync::Arc;

use crate::config::Deployment;

/// A request's TPM reservation before a deployment is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The prompt's estimated tokens.
    pub input: u64,
    /// The request's `max_tokens`, if it sets one.
    pub max_output: Option<u64>,
}

impl Reservation {
    /// The quota tokens reserved on `deployment`: the prompt plus `max_tokens` (else the
    /// model's default output) times its burndown.
    pub fn on(&self, deployment: &Deployment) -> u64 {
        deployment.quota.reservation(self.input, self.max_output)
    }

    /// The largest reservation among `deployments` (what a consumer's quota holds before the
    /// deployment is known); with none, `max_tokens` or the flat default.
    pub fn worst_case(&self, deployments: &[Arc<Deployment>]) -> u64 {
        let output = match self.max_output {
            Some(max_tokens) => max_tokens,
            None => deployments
                .iter()
                .map(|d| d.default_output_tokens())
                .max()
                .unwrap_or(crate::config::DEFAULT_OUTPUT_RESERVATION),
        };
        self.input.saturating_add(output)
    }
}

/// A flat reservation, the same on every deployment (tests, benches, callers that know it).
impl From<u64> for Reservation {
    fn from(tokens: u64) -> Self {
        Reservation {
            input: tokens,
            max_output: Some(0),
        }
    }
}

/// Why a request can never be admitted: it reserves more than the TPM (or TPD, when tighter) of
/// every deployment it could reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeverFits {
    /// The smallest reservation it would make anywhere.
    pub reserved: u64,
    /// The output burndown of the deployment it would reserve that on.
    pub burndown: u64,
    /// The largest TPM among those deployments.
    pub ceiling: u64,
}

/// Whether `reservation` fits the TPM of any of `deployments`; `None` when one has room, or
/// has no TPM limit, or there are none.
pub fn never_fits(reservation: Reservation, deployments: &[Arc<Deployment>]) -> Option<NeverFits> {
    let mut smallest: Option<(u64, u64)> = None;
    let mut ceiling = 0;
    for deployment in deployments {
        // The tighter of its minute and day limits; none: it can take anything.
        let tpm = match (deployment.tpm, deployment.tpd) {
            (Some(minute), Some(day)) => minute.min(day),
            (Some(limit), None) | (None, Some(limit)) => limit,
            (None, None) => return None,
        };
        let reserved = reservation.on(deployment);
        if reserved <= tpm {
            return None;
        }
        ceiling = ceiling.max(tpm);
        let burndown = deployment.quota.output_burndown;
        smallest = match smallest {
            Some((least, _)) if least <= reserved => smallest,
            Some(_) | None => Some((reserved, burndown)),
        };
    }
    let (reserved, burndown) = smallest?;
    Some(NeverFits {
        reserved,
        burndown,
        ceiling,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn deployments(yaml: &str) -> Vec<Arc<Deployment>> {
        load_str(yaml, std::path::Path::new("test.yaml"), &|_| None)
            .unwrap()
            .deployments()
            .cloned()
            .collect()
    }

    const TWO_MODELS: &str = r#"
model_list:
  - model_name: g
    litellm_params: {model: bedrock/us.anthropic.claude-sonnet-4-6, tpm: 400000}
  - model_name: g
    litellm_params: {model: bedrock/us.amazon.nova-pro-v1:0, tpm: 20000}
  - model_name: g
    litellm_params: {model: openai/llama3, api_base: "http://localhost:1/v1", tpm: 2000}
"#;

    #[test]
    fn without_max_tokens_each_model_reserves_its_maximum_output() {
        let d = deployments(TWO_MODELS);
        let unset = Reservation {
            input: 100,
            max_output: None,
        };
        let reserved: Vec<u64> = d.iter().map(|d| unset.on(d)).collect();
        // Claude's output burns its quota five times over.
        assert_eq!(reserved, [320_100, 10_100, 1_124]);
        assert_eq!(unset.worst_case(&d), 64_100);
        let set = Reservation {
            max_output: Some(500),
            ..unset
        };
        assert_eq!(set.on(&d[0]), 2_600);
        assert_eq!(set.on(&d[1]), 600);
        assert_eq!(set.worst_case(&[]), 600);
        assert_eq!(unset.worst_case(&[]), 1_124);
    }

    #[test]
    fn model_info_overrides_the_card() {
        let d = deployments(
            r#"
model_list:
  - model_name: g
    litellm_params: {model: bedrock/us.anthropic.claude-sonnet-4-6}
    model_info: {max_output_tokens: 4096}
  - model_name: g
    litellm_params: {model: openai/llama3, api_base: "http://localhost:1/v1"}
    model_info: {max_tokens: 2048}
"#,
        );
        assert_eq!(d[0].default_output_tokens(), 4096);
        assert_eq!(d[1].default_output_tokens(), 2048);
    }

    #[test]
    fn a_request_never_fits_only_when_it_fits_nowhere() {
        let d = deployments(TWO_MODELS);
        let unset = |input| Reservation {
            input,
            max_output: None,
        };
        // Nova Pro's 10,000 + 100 fits its 20,000 even though Sonnet's 320,100 would fit too.
        assert_eq!(never_fits(unset(100), &d), None);
        // 19,000 prompt tokens: Sonnet's 19,000 + 64,000 × 5 ≤ 400,000 still fits.
        assert_eq!(never_fits(unset(19_000), &d), None);
        assert_eq!(
            never_fits(unset(90_000), &d),
            Some(NeverFits {
                reserved: 91_024,
                burndown: 1,
                ceiling: 400_000
            })
        );
        assert_eq!(
            never_fits(Reservation::from(450_000), &d[..1])
                .unwrap()
                .ceiling,
            400_000
        );
        assert_eq!(never_fits(unset(1), &[]), None);
    }

    #[test]
    fn a_day_limit_tighter_than_the_minute_is_the_ceiling() {
        let d = deployments(
            r#"
model_list:
  - model_name: g
    litellm_params: {model: bedrock/us.amazon.nova-pro-v1:0, tpm: 100000, tpd: 5000}
"#,
        );
        let never = never_fits(Reservation::from(6_000), &d).unwrap();
        assert_eq!((never.reserved, never.ceiling), (6_000, 5_000));
        assert_eq!(never_fits(Reservation::from(4_000), &d), None);
    }
}
