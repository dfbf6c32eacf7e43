//! What the gateway tells an operator about each request: OpenTelemetry traces over OTLP
//! ([`otlp`]) and one JSON log line per request ([`request_log`]), both from one
//! [`RequestRecord`] that the pipeline fills in as the request goes.
//!
//! The gateway's middleware opens a record per API request when either is on and runs the
//! request inside it (a task-local), so the pipeline's hooks here ([`route`],
//! [`attempt_started`], [`attempt_ended`], …) find it without any surface passing it along;
//! with both off there is no record and every hook returns at once.

pub mod context;
pub mod otlp;
mod protobuf;
mod record;
mod request_log;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use context::{Parent, parse_traceparent};
pub use otlp::{ExportStats, OtlpSettings, SettingError};
pub use record::{AttemptReason, AttemptRecord, Recorder, RequestRecord, Surface, Tokens};

use crate::config::Deployment;

tokio::task_local! {
    static CURRENT: Recorder;
}

/// Where requests' records go: the OTLP exporter, the request log, or both.
pub struct Observer {
    exporter: Option<otlp::Exporter>,
    request_log: bool,
    log_prompts: bool,
}

impl Observer {
    /// An observer exporting to `otlp` (if set) and logging each request (if `request_log`);
    /// starts the export task, so it needs a runtime.
    pub fn new(
        otlp: Option<OtlpSettings>,
        default_region: Option<String>,
        request_log: bool,
        log_prompts: bool,
    ) -> Arc<Self> {
        Arc::new(Observer {
            exporter: otlp.map(|settings| otlp::Exporter::start(settings, default_region)),
            request_log,
            log_prompts,
        })
    }

    /// An observer that records nothing.
    pub fn off() -> Arc<Self> {
        Arc::new(Observer {
            exporter: None,
            request_log: false,
            log_prompts: false,
        })
    }

    /// Whether requests are recorded at all.
    pub fn is_on(&self) -> bool {
        self.exporter.is_some() || self.request_log
    }

    /// Whether traces are exported.
    pub fn traces(&self) -> bool {
        self.exporter.is_some()
    }

    /// A record for a request that begins now, or `None` when nothing is observed.
    /// `traceparent` is the client's header, honoured when well-formed.
    pub fn begin(
        self: &Arc<Self>,
        request_id: &str,
        method: &str,
        path: &str,
        traceparent: Option<&str>,
    ) -> Option<Recorder> {
        if !self.is_on() {
            return None;
        }
        let parent = traceparent.and_then(parse_traceparent);
        let mut record = RequestRecord::begin(request_id.to_owned(), method, path, parent);
        record.sampled = match &self.exporter {
            Some(exporter) => exporter
                .sampler
                .keeps(&record.trace_id, parent.map(|p| p.sampled)),
            None => false,
        };
        Some(Recorder::new(Arc::clone(self), record))
    }

    /// A finished record: logged, and its spans queued for export when sampled.
    fn finish(&self, record: RequestRecord) {
        if self.request_log {
            request_log::write(&record, self.log_prompts);
        }
        if let Some(exporter) = &self.exporter
            && record.sampled
        {
            exporter.send(record);
        }
    }

    /// The exporter's counters (`/metrics`), when traces are on.
    pub fn export_stats(&self) -> Option<&ExportStats> {
        self.exporter.as_ref().map(|e| e.stats.as_ref())
    }

    /// Exports the spans queued so far, waiting at most `within` (at shutdown).
    pub async fn flush(&self, within: Duration) {
        if let Some(exporter) = &self.exporter {
            exporter.flush(within).await;
        }
    }
}

/// Runs `future` with `recorder` as the current request's record.
pub async fn within<F: Future>(recorder: Option<Recorder>, future: F) -> F::Output {
    match recorder {
        Some(recorder) => CURRENT.scope(recorder, future).await,
        None => future.await,
    }
}

/// The current request's record, to carry where the task-local does not reach (a stream's
/// relay task).
pub fn current() -> Option<Recorder> {
    CURRENT.try_with(Recorder::clone).ok()
}

/// Updates the current request's record, if there is one.
fn note(update: impl FnOnce(&mut RequestRecord)) {
    let _ = CURRENT.try_with(|recorder| recorder.note(update));
}

/// Whether the current request's prompt is to be logged (`log_prompts: true`).
pub fn wants_prompt() -> bool {
    CURRENT
        .try_with(|r| r.observer().log_prompts && r.observer().request_log)
        .unwrap_or(false)
}

/// The route a request asks for: the model (group), the caller, the operation and its shape.
pub fn route(
    model: &str,
    consumer: &str,
    operation: &'static str,
    stream: bool,
    max_tokens: Option<u64>,
    prompt: Option<serde_json::Value>,
) {
    note(|r| {
        r.requested_model = Some(model.to_owned());
        r.consumer = Some(consumer.to_owned());
        r.operation = Some(operation);
        r.stream = stream;
        r.max_tokens = max_tokens;
        r.prompt = prompt;
    });
}

/// Why the plan selects again: the attempt it makes next is a retry or a fallback.
pub fn next_reason(reason: AttemptReason) {
    note(|r| {
        // A fallback stays one until an attempt is made in the new group.
        if r.next_reason != AttemptReason::Fallback {
            r.next_reason = reason;
        }
    });
}

/// An upstream call to `deployment` begins.
pub fn attempt_started(deployment: &Arc<Deployment>) {
    note(|r| {
        let start = r.now();
        let reason = std::mem::take(&mut r.next_reason);
        r.attempts.push(AttemptRecord {
            span_id: context::new_span_id(),
            deployment: Arc::clone(deployment),
            reason,
            start,
            end: None,
            outcome: "success",
            error: None,
        });
    });
}

/// The running attempt ended as `outcome` (with `error`, when it failed).
pub fn attempt_ended(outcome: &'static str, error: Option<String>) {
    note(|r| end_attempt(r, outcome, error));
}

fn end_attempt(r: &mut RequestRecord, outcome: &'static str, error: Option<String>) {
    let now = r.now();
    if let Some(attempt) = r.running_attempt() {
        attempt.end = Some(now);
        attempt.outcome = outcome;
        attempt.error = error;
    }
}

/// A stream's first content event arrived.
pub fn first_token() {
    note(|r| r.first_token = Some(r.now()));
}

/// The request was served by `deployment` after `retries` retries and `fallbacks` fallbacks.
pub fn served(deployment: &Arc<Deployment>, retries: u32, fallbacks: u32) {
    note(|r| {
        r.served_by = Some(Arc::clone(deployment));
        r.retries = retries;
        r.fallbacks = fallbacks;
    });
}

/// The request was refused: why, and the retries and fallbacks it took.
pub fn refused(error: &str, retries: u32, fallbacks: u32) {
    note(|r| {
        r.error = Some(error.to_owned());
        r.retries = retries;
        r.fallbacks = fallbacks;
    });
}

/// The `traceparent` for the upstream call being made now: the trace of the current request
/// with the running attempt's span. `None` when traces are off.
pub fn upstream_traceparent() -> Option<String> {
    CURRENT
        .try_with(|recorder| {
            if !recorder.observer().traces() {
                return None;
            }
            recorder.read(|r| {
                let attempt = r.attempts.last().filter(|a| a.end.is_none())?;
                Some(context::traceparent(
                    &r.trace_id,
                    &attempt.span_id,
                    r.sampled,
                ))
            })?
        })
        .ok()
        .flatten()
}

/// How a served call ended, noted by its settlement on the record it carried.
pub fn settled(
    recorder: &Recorder,
    outcome: &'static str,
    error: Option<String>,
    tokens: Option<Tokens>,
    cost: Option<f64>,
) {
    recorder.note(|r| {
        end_attempt(r, outcome, error.clone());
        if outcome != "success" {
            r.error = error.or(Some(outcome.to_owned()));
        }
        r.tokens = tokens;
        r.cost = cost;
        r.end = Some(r.now());
    });
}

/// The status the client was answered with.
pub fn answered(recorder: &Recorder, status: u16) {
    recorder.note(|r| r.status = Some(status));
}
