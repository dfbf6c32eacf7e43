//! The request log: one line per request at INFO on the target `resilient_llm::request` (one
//! JSON object with `--log-format json` or `json_logs: true`). It says who asked for what,
//! where it went and what it cost; never a key, and the prompt only with `log_prompts: true`.

use super::record::RequestRecord;
use crate::observe::context::hex;

/// Logs `record` on one line.
pub fn write(record: &RequestRecord, log_prompts: bool) {
    let served = record.served_by.as_deref();
    let millis = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let tokens = record.tokens;
    let prompt = record
        .prompt
        .as_ref()
        .filter(|_| log_prompts)
        .map(|p| p.to_string());
    let attempted: Vec<&str> = record
        .attempts
        .iter()
        .map(|a| a.deployment.id.as_str())
        .collect();
    tracing::info!(
        target: "resilient_llm::request",
        request_id = %record.request_id,
        trace_id = %hex(&record.trace_id),
        method = %record.method,
        path = %record.path,
        surface = record.surface.label(),
        consumer = record.consumer.as_deref(),
        model = record.requested_model.as_deref(),
        model_group = served.map(|d| d.group.as_str()),
        deployment = served.map(|d| d.id.as_str()),
        upstream_model = served.map(|d| d.model.as_str()),
        stream = record.stream,
        attempts = record.attempts.len() as u64,
        attempted = %attempted.join(","),
        retries = record.retries,
        fallbacks = record.fallbacks,
        status = record.status,
        error = record.error.as_deref(),
        latency_ms = millis(record.latency()),
        first_token_ms = record.first_token.map(millis),
        input_tokens = tokens.map(|t| t.input),
        output_tokens = tokens.map(|t| t.output),
        cache_read_tokens = tokens.map(|t| t.cache_read).filter(|n| *n > 0),
        cache_write_tokens = tokens.map(|t| t.cache_write).filter(|n| *n > 0),
        cost_usd = record.cost,
        prompt = prompt.as_deref(),
        "request"
    );
}
