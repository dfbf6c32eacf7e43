//! One request's record, filled in as it goes: the route it asked for, every upstream attempt
//! (its deployment, why it was made, how it ended), the status answered, the tokens and the
//! cost. The record is shared by whoever still works on the request (the surface's handler,
//! then a stream's relay) and handed to the [`Observer`](super::Observer) when the last of them
//! lets go of it, so a stream's record ends with the stream, not with its headers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Observer;
use super::context::{self, Parent, SpanId, TraceId};
use crate::config::Deployment;

/// Which API a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    OpenAi,
    Anthropic,
    Bedrock,
}

impl Surface {
    /// The surface of a request path.
    pub fn of_path(path: &str) -> Surface {
        if path.starts_with("/v1/messages") {
            Surface::Anthropic
        } else if path.starts_with("/model/") {
            Surface::Bedrock
        } else {
            Surface::OpenAi
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Surface::OpenAi => "openai",
            Surface::Anthropic => "anthropic",
            Surface::Bedrock => "bedrock",
        }
    }
}

/// Why an attempt was made: the first, a retry, or the first in a fallback group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttemptReason {
    #[default]
    First,
    Retry,
    Fallback,
}

impl AttemptReason {
    pub fn label(self) -> &'static str {
        match self {
            AttemptReason::First => "first",
            AttemptReason::Retry => "retry",
            AttemptReason::Fallback => "fallback",
        }
    }
}

/// One upstream call of a request.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub span_id: SpanId,
    pub deployment: Arc<Deployment>,
    pub reason: AttemptReason,
    pub start: Duration,
    /// `None` while the call (or its stream) runs.
    pub end: Option<Duration>,
    /// `success`, `rate_limited`, `failed`, `client_error`, `timeout`, `cut_off`, `abandoned`.
    pub outcome: &'static str,
    /// What went wrong, in the words of the error (never a key or prompt text).
    pub error: Option<String>,
}

/// The tokens a served request used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

/// Everything known of one request; times are offsets from its start.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub surface: Surface,
    /// When it began (wall clock), and the same instant on the monotonic clock.
    pub started_at: SystemTime,
    pub started: Instant,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// The client's span, from its `traceparent`.
    pub parent_span_id: Option<SpanId>,
    pub sampled: bool,
    /// `chat` or `embeddings` (GenAI's `gen_ai.operation.name`); `None` before a route.
    pub operation: Option<&'static str>,
    /// The model (group) the client asked for.
    pub requested_model: Option<String>,
    /// The consumer's name (`master`, `anonymous` for the others).
    pub consumer: Option<String>,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    pub attempts: Vec<AttemptRecord>,
    /// Why the next attempt will be made.
    pub next_reason: AttemptReason,
    /// The deployment that answered.
    pub served_by: Option<Arc<Deployment>>,
    pub retries: u32,
    pub fallbacks: u32,
    /// The HTTP status answered.
    pub status: Option<u16>,
    /// Why it was not served, or how its stream ended badly.
    pub error: Option<String>,
    pub first_token: Option<Duration>,
    pub end: Option<Duration>,
    pub tokens: Option<Tokens>,
    pub cost: Option<f64>,
    /// The prompt as the client sent it (`log_prompts: true` only).
    pub prompt: Option<serde_json::Value>,
}

impl RequestRecord {
    /// A record of a request begun now; `parent` is the client's trace context, if it sent one.
    pub fn begin(request_id: String, method: &str, path: &str, parent: Option<Parent>) -> Self {
        let (trace_id, parent_span_id, sampled) = match parent {
            Some(p) => (p.trace_id, Some(p.span_id), p.sampled),
            None => (context::new_trace_id(), None, true),
        };
        RequestRecord {
            request_id,
            method: method.to_owned(),
            path: path.to_owned(),
            surface: Surface::of_path(path),
            started_at: SystemTime::now(),
            started: Instant::now(),
            trace_id,
            span_id: context::new_span_id(),
            parent_span_id,
            sampled,
            operation: None,
            requested_model: None,
            consumer: None,
            stream: false,
            max_tokens: None,
            attempts: Vec::new(),
            next_reason: AttemptReason::First,
            served_by: None,
            retries: 0,
            fallbacks: 0,
            status: None,
            error: None,
            first_token: None,
            end: None,
            tokens: None,
            cost: None,
            prompt: None,
        }
    }

    /// Time since the request began.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The Unix time in nanoseconds of the offset `at`.
    pub fn unix_nanos(&self, at: Duration) -> u64 {
        let start = self
            .started_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from((start + at).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The attempt running now (the last one, before it ended).
    pub fn running_attempt(&mut self) -> Option<&mut AttemptRecord> {
        self.attempts.last_mut().filter(|a| a.end.is_none())
    }

    /// The request's length: to its end, else to now.
    pub fn latency(&self) -> Duration {
        self.end.unwrap_or_else(|| self.now())
    }
}

/// A handle on a request's record, cloned to whoever works on the request; the record goes
/// to its observer when the last handle drops.
#[derive(Clone)]
pub struct Recorder(Arc<Shared>);

struct Shared {
    observer: Arc<Observer>,
    record: Mutex<Option<RequestRecord>>,
}

impl Recorder {
    pub fn new(observer: Arc<Observer>, record: RequestRecord) -> Self {
        Recorder(Arc::new(Shared {
            observer,
            record: Mutex::new(Some(record)),
        }))
    }

    /// Updates the record.
    pub fn note(&self, update: impl FnOnce(&mut RequestRecord)) {
        if let Ok(mut guard) = self.0.record.lock()
            && let Some(record) = guard.as_mut()
        {
            update(record);
        }
    }

    /// Reads the record.
    pub fn read<T>(&self, read: impl FnOnce(&RequestRecord) -> T) -> Option<T> {
        let guard = self.0.record.lock().ok()?;
        guard.as_ref().map(read)
    }

    /// The observer the record goes to.
    pub fn observer(&self) -> &Observer {
        &self.0.observer
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let record = self.record.get_mut().ok().and_then(Option::take);
        if let Some(mut record) = record {
            if record.end.is_none() {
                record.end = Some(record.now());
            }
            self.observer.finish(record);
        }
    }
}
