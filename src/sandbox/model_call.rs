//! One model call, whatever the route (Converse, ConverseStream, InvokeModel, OpenAI chat
//! completions) once its body is parsed: the steps [`Sandbox::invoke`] takes every call through.
//!
//! 1. The body and the model id must be valid (else ValidationException: an unknown id is
//!    "The provided model identifier is invalid.", a profile-only model's base id is refused).
//! 2. The prompt must fit the model's context window ("Input is too long for requested model.").
//! 3. A Region is chosen: the source Region for a base model, a weighted draw among the
//!    profile's destinations otherwise; no live Region means ServiceUnavailableException.
//! 4. The account's quota for the model (its profile id, else its base id; by id or by ARN) must
//!    admit the request (RPM, and TPM on input tokens plus the output budget); otherwise exactly
//!    one ThrottlingException, worded as Bedrock words it ("Too many requests" past the RPM,
//!    "Too many tokens" past the TPM).
//! 5. Injected faults are drawn (before the reply; for streams also mid-stream and stalls).
//! 6. The reply is generated. Every outcome is counted, and logged as an
//!    `invocation_log` record.
//!
//! Steps 1–6 happen under one lock, so concurrent calls see exact quotas and Region load; the
//! log record is written once it is released.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::config::sandbox::FaultPhase;

use super::auth::Caller;
use super::catalogue::ResolvedModel;
use super::cris;
use super::emulated_model::{self, Prompt, Reply};
use super::error::BedrockError;
use super::faults::{self, Effect, FaultContext};
use super::invocation_log::LogRecord;
use super::pace::Pace;
use super::prompt_cache::{self, CacheUse};
use super::state::{Mutable, Sandbox};
use super::stats::Outcome;
use super::thinking;

/// The API operation, as the invocation log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Converse,
    ConverseStream,
    InvokeModel,
    InvokeModelWithResponseStream,
    /// The OpenAI-compatible route.
    ChatCompletions,
}

impl Operation {
    /// The `operation` field of the invocation log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Converse => "Converse",
            Self::ConverseStream => "ConverseStream",
            Self::InvokeModel => "InvokeModel",
            Self::InvokeModelWithResponseStream => "InvokeModelWithResponseStream",
            Self::ChatCompletions => "ChatCompletions",
        }
    }
}

/// A call as the protocol layer parsed it.
pub struct Call<'a> {
    pub caller: &'a Caller,
    pub operation: Operation,
    /// The model id exactly as called (percent-decoded).
    pub model_id: &'a str,
    pub model: Result<ResolvedModel, BedrockError>,
    pub prompt: Result<Prompt, BedrockError>,
    pub streaming: bool,
}

/// A call that will be answered.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub request_id: String,
    pub region: String,
    pub reply: Reply,
    pub input_tokens: u64,
    /// A fault to raise halfway through the stream.
    pub mid_stream_fault: Option<BedrockError>,
    /// Stop sending after this many output tokens and hang.
    pub stall_after: Option<u32>,
    /// An injected wait before the answer starts (zero when none).
    pub first_byte_delay: Duration,
    /// Prompt tokens read from and written to the cache (`input_tokens` is the rest).
    pub cache: CacheUse,
    /// The service tier the request asked for, echoed in the reply.
    pub service_tier: Option<String>,
    /// What an embedding call asked for.
    pub embedding: Option<crate::sandbox::bedrock::EmbeddingAsk>,
}

/// A call answered with an error.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub request_id: String,
    pub error: BedrockError,
}

/// Where a call got to before it ended: what its log record reports.
pub struct Progress {
    /// The inference Region, once one was chosen.
    pub region: Option<String>,
    pub input_tokens: u64,
}

impl Sandbox {
    /// Runs steps 1–6 for one call.
    pub fn invoke(&self, call: Call<'_>) -> Result<Admitted, Rejected> {
        let now = Instant::now();
        let mut state = self.lock();
        let request_id = request_id(&mut state);
        let mut progress = Progress {
            region: None,
            input_tokens: 0,
        };
        let result = self.admit(&mut state, &call, now, &mut progress);
        let (outcome, error, output_tokens) = match &result {
            Ok(admitted) => match &admitted.mid_stream_fault {
                Some(e) => (
                    outcome_of(e),
                    Some(e.name()),
                    admitted.reply.output_tokens / 2,
                ),
                None => (Outcome::Served, None, admitted.reply.output_tokens),
            },
            Err(e) => (outcome_of(e), Some(e.name()), 0),
        };
        let profile = &call.caller.account.profile;
        state
            .stats
            .record(profile, call.model_id, progress.region.as_deref(), outcome);
        drop(state);
        let record = LogRecord {
            call: &call,
            request_id: &request_id,
            progress: &progress,
            output_tokens,
            error,
        };
        self.write_log(call.caller, record.to_json());
        match result {
            Ok(admitted) => Ok(Admitted {
                request_id,
                ..admitted
            }),
            Err(error) => Err(Rejected { request_id, error }),
        }
    }

    fn admit(
        &self,
        state: &mut Mutable,
        call: &Call<'_>,
        now: Instant,
        progress: &mut Progress,
    ) -> Result<Admitted, BedrockError> {
        // The model id is checked before the body, as Bedrock routes on it first.
        let model = call.model.as_ref().map_err(Clone::clone)?;
        let prompt = call.prompt.as_ref().map_err(Clone::clone)?;
        progress.input_tokens = prompt.input_tokens;
        check_size(prompt, model)?;
        let max_output = model.model.max_output_tokens;
        let region = self.choose_region(state, model, &call.caller.source_region, now)?;
        let account = &call.caller.account;
        let quota = account.quota_for(model.quota_id());
        let admission = state.quotas.try_admit(
            &account.profile,
            model.quota_id(),
            quota,
            prompt.reserved_tokens(max_output),
            now,
        )?;
        let cache = state.cache.apply(
            &account.profile,
            model.quota_id(),
            &prompt.cache,
            prompt_cache::min_tokens(call.model_id),
            now,
        );
        state.load.record(&region, now);
        progress.region = Some(region.clone());
        let ctx = FaultContext {
            model: call.model_id,
            region: &region,
            profile: &account.profile,
        };
        let rng = &mut state.rng;
        let first_byte_delay = match self.before_fault(rng, ctx) {
            Ok(delay) => delay,
            Err(error) => {
                // Failed before any output: it keeps its request, and no tokens.
                state.quotas.settle(&admission, now, 0);
                return Err(error);
            }
        };
        let (mid_stream_fault, stall_after) = match call.streaming {
            true => self.stream_faults(rng, ctx),
            false => (None, None),
        };
        let reply = self.reply(prompt, call.model_id, &region);
        let input_tokens = prompt
            .input_tokens
            .saturating_sub(cache.read + cache.written);
        if stall_after.is_none() {
            // The answer's end, and what Bedrock charges then: input and cache writes, the
            // output (half of it, cut off mid-stream) at the model's burndown.
            let output = match mid_stream_fault {
                Some(_) => reply.output_tokens / 2,
                None => reply.output_tokens,
            };
            let ends = now + first_byte_delay + Pace::of(&self.settings).total(output);
            let charged =
                input_tokens + cache.written + output.saturating_mul(model.model.output_burndown);
            state.quotas.settle(&admission, ends, charged);
        }
        Ok(Admitted {
            request_id: String::new(),
            region,
            reply,
            input_tokens,
            mid_stream_fault,
            stall_after,
            first_byte_delay,
            cache,
            service_tier: prompt.service_tier.clone(),
            embedding: prompt.embedding.clone(),
        })
    }

    /// What a call meets before its answer starts: a fault, or a wait (zero when none).
    fn before_fault(
        &self,
        rng: &mut impl Rng,
        ctx: FaultContext<'_>,
    ) -> Result<Duration, BedrockError> {
        let before = faults::decide(&self.settings.faults, FaultPhase::Before, ctx, || {
            rng.random()
        });
        match before.map(faults::effect) {
            Some(Effect::Fail(error)) => Err(error),
            Some(Effect::Delay(delay)) => Ok(delay),
            None => Ok(Duration::ZERO),
        }
    }

    /// What a stream will meet: a fault halfway, and a stall after some tokens.
    fn stream_faults(
        &self,
        rng: &mut impl Rng,
        ctx: FaultContext<'_>,
    ) -> (Option<BedrockError>, Option<u32>) {
        let kind = faults::decide(&self.settings.faults, FaultPhase::MidStream, ctx, || {
            rng.random()
        });
        let fault = match kind.map(faults::effect) {
            Some(Effect::Fail(error)) => Some(error),
            Some(Effect::Delay(_)) | None => None,
        };
        let stall = faults::decide_stall(self.settings.stall_streams, rng.random());
        (fault, stall)
    }

    /// The emulated model's answer to `prompt`: a scripted reply where a rule matches, else a
    /// generated one; its thinking first when the request has thinking on.
    fn reply(&self, prompt: &Prompt, model_id: &str, region: &str) -> Reply {
        let seed = self.settings.seed;
        let mut reply = emulated_model::scripted(&self.settings.replies, seed, prompt)
            .unwrap_or_else(|| emulated_model::generate(seed, model_id, region, prompt));
        if let Some(display) = prompt.thinking {
            let thought = thinking::think(seed, &prompt.last_text, display);
            reply.output_tokens += emulated_model::estimate_tokens(thought.signature.len() / 2);
            reply.thinking = Some(thought);
        }
        reply
    }

    fn choose_region(
        &self,
        state: &mut Mutable,
        model: &ResolvedModel,
        source: &str,
        now: Instant,
    ) -> Result<String, BedrockError> {
        let Some((geography, _)) = &model.profile else {
            return match state.down.contains(source) {
                true => Err(BedrockError::ServiceUnavailable),
                false => Ok(source.to_owned()),
            };
        };
        let destinations = cris::destinations(&self.settings.regions, *geography, source)?;
        let Mutable {
            load, down, rng, ..
        } = state;
        let recent: std::collections::HashMap<&str, u64> = destinations
            .keys()
            .map(|r| (r.as_str(), load.recent(r, now)))
            .collect();
        let weights = cris::weights(destinations, |r| recent.get(r).copied().unwrap_or(0), down);
        cris::pick(&weights, rng.random()).ok_or(BedrockError::ServiceUnavailable)
    }
}

fn outcome_of(error: &BedrockError) -> Outcome {
    match error {
        BedrockError::Throttling
        | BedrockError::TokensThrottling
        | BedrockError::DailyTokensThrottling => Outcome::Throttled,
        BedrockError::Validation(_)
        | BedrockError::ResourceNotFound(_)
        | BedrockError::ServiceUnavailable
        | BedrockError::InternalServer
        | BedrockError::ModelTimeout
        | BedrockError::ModelNotReady
        | BedrockError::ModelError
        | BedrockError::ModelStreamError
        | BedrockError::UnrecognizedClient
        | BedrockError::MissingAuthenticationToken
        | BedrockError::UnknownOperation(_)
        | BedrockError::ConnectionReset => Outcome::Failed,
    }
}

/// A UUID-shaped request id from the seeded id stream.
fn request_id(state: &mut Mutable) -> String {
    let n: u128 = state.ids.random();
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Refuses, in Bedrock's words, a call asking more output than the model gives or whose prompt
/// and output cannot fit its context window.
fn check_size(prompt: &Prompt, model: &ResolvedModel) -> Result<(), BedrockError> {
    let max_output = model.model.max_output_tokens;
    // Bedrock's words (Converse and InvokeModel alike), which do not repeat the request's.
    if prompt.max_tokens.is_some_and(|n| n > max_output) {
        return Err(BedrockError::Validation(format!(
            "The maximum tokens you requested exceeds the model limit of {max_output}. Try again with a maximum tokens value that is lower than {max_output}."
        )));
    }
    if prompt.input_tokens + prompt.max_tokens.unwrap_or(0) > model.model.context_window {
        return Err(BedrockError::Validation(format!(
            "Input is too long for requested model. {} input tokens exceed the context window of {}.",
            prompt.input_tokens, model.model.context_window
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sandbox::{Quota, SandboxSettings};
    use crate::sandbox::catalogue;

    fn caller(settings: &SandboxSettings) -> Caller {
        Caller {
            account: settings.accounts[0].clone(),
            source_region: "us-east-1".into(),
        }
    }

    fn prompt() -> Prompt {
        Prompt {
            input_tokens: 10,
            max_tokens: Some(100),
            ..Prompt::default()
        }
    }

    fn call<'a>(caller: &'a Caller, model_id: &'a str) -> Call<'a> {
        Call {
            caller,
            operation: Operation::Converse,
            model_id,
            model: catalogue::resolve(model_id),
            prompt: Ok(prompt()),
            streaming: false,
        }
    }

    #[test]
    fn over_quota_calls_are_refused_once_and_counted() {
        let mut settings = SandboxSettings::default();
        settings.accounts[0].default_quota = Quota {
            rpm: 1,
            tpm: 1_000,
            tpd: 1_000_000,
        };
        let sandbox = Sandbox::new(settings.clone());
        let caller = caller(&settings);
        assert!(
            sandbox
                .invoke(call(&caller, "amazon.nova-lite-v1:0"))
                .is_ok()
        );
        let refused = sandbox
            .invoke(call(&caller, "amazon.nova-lite-v1:0"))
            .unwrap_err();
        assert_eq!(refused.error, BedrockError::Throttling);
        let counts = sandbox
            .stats()
            .model_calls("genai", "amazon.nova-lite-v1:0");
        assert_eq!((counts.served, counts.throttled), (1, 1));
    }

    /// A call holds its prompt plus `maxTokens` until its answer ends, then its charge: input
    /// plus output times the model's burndown (5 on Claude Sonnet 4.6, 1 on Nova).
    #[test]
    fn a_finished_call_is_charged_its_output_at_the_models_burndown() {
        for (model, burndown) in [
            ("us.anthropic.claude-sonnet-4-6", 5),
            ("amazon.nova-lite-v1:0", 1),
        ] {
            let mut settings = SandboxSettings {
                first_token: Duration::ZERO,
                tokens_per_second: 0,
                ..SandboxSettings::default()
            };
            let output = {
                let sandbox = Sandbox::new(settings.clone());
                let caller = caller(&settings);
                sandbox
                    .invoke(call(&caller, model))
                    .unwrap()
                    .reply
                    .output_tokens
            };
            let charged = 10 + output * burndown;
            // Room for the first call's charge and one more reservation (10 + 100), less one.
            settings.accounts[0].default_quota = Quota {
                rpm: 10,
                tpm: charged + 110 - 1,
                tpd: 1_000_000,
            };
            let sandbox = Sandbox::new(settings.clone());
            let caller = caller(&settings);
            assert!(sandbox.invoke(call(&caller, model)).is_ok(), "{model}");
            let refused = sandbox.invoke(call(&caller, model)).unwrap_err();
            assert_eq!(refused.error, BedrockError::TokensThrottling, "{model}");
            // With exactly that room, the second fits.
            settings.accounts[0].default_quota.tpm = charged + 110;
            let sandbox = Sandbox::new(settings.clone());
            let caller = tests::caller(&settings);
            assert!(sandbox.invoke(call(&caller, model)).is_ok());
            assert!(sandbox.invoke(call(&caller, model)).is_ok(), "{model}");
        }
    }

    #[test]
    fn prompts_past_the_context_window_are_validation_errors() {
        let settings = SandboxSettings::default();
        let sandbox = Sandbox::new(settings.clone());
        let caller = caller(&settings);
        let mut long = call(&caller, "amazon.nova-micro-v1:0");
        long.prompt = Ok(Prompt {
            input_tokens: 200_000,
            ..prompt()
        });
        let error = sandbox.invoke(long).unwrap_err().error;
        assert!(
            error
                .to_string()
                .contains("Input is too long for requested model"),
            "{error}"
        );
    }
}
