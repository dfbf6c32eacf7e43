//! OpenTelemetry traces over OTLP (HTTP/protobuf, or gRPC), configured by the standard `OTEL_*`
//! variables or LiteLLM's `callbacks: ["otel"]`, with the GenAI semantic conventions: one
//! server span per request, one client span per upstream attempt.
//!
//! Exporting never blocks a request: finished records go to a bounded queue
//! (`OTEL_BSP_MAX_QUEUE_SIZE`); when it is full the record is dropped and counted. A task
//! batches them (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`) and posts each
//! batch once; a collector that is down loses that batch, counted, never retried into a
//! backlog.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Mutex;

use tokio::sync::{Notify, mpsc, oneshot};

use super::protobuf::Writer;
use super::record::{AttemptRecord, RequestRecord};
use crate::config::{Deployment, ProviderKind, Secret};

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

/// Which traces are kept (`OTEL_TRACES_SAMPLER`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// A share of traces, decided by the trace id.
    Ratio(f64),
    /// The caller's decision where it sent one, else the inner sampler's.
    ParentBased(SamplerRoot),
}

/// The sampler of a parent-based sampler's root spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerRoot {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

impl Sampler {
    /// Whether to keep a trace with `trace_id`, whose caller decided `parent` (if it did).
    pub fn keeps(self, trace_id: &[u8; 16], parent: Option<bool>) -> bool {
        let ratio = |r: f64| {
            // The trace id's low 8 bytes as a fraction, as the SDKs' TraceIdRatioBased does.
            let mut low = [0; 8];
            low.copy_from_slice(&trace_id[8..]);
            (u64::from_be_bytes(low) >> 1) as f64 / (u64::MAX >> 1) as f64 <= r
        };
        match (self, parent) {
            (Sampler::AlwaysOn, _) => true,
            (Sampler::AlwaysOff, _) => false,
            (Sampler::Ratio(r), _) => ratio(r),
            (Sampler::ParentBased(_), Some(sampled)) => sampled,
            (Sampler::ParentBased(SamplerRoot::AlwaysOn), None) => true,
            (Sampler::ParentBased(SamplerRoot::AlwaysOff), None) => false,
            (Sampler::ParentBased(SamplerRoot::Ratio(r)), None) => ratio(r),
        }
    }
}

/// Where and how traces are exported.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The full URL posted to: `…/v1/traces` for HTTP, the service's base for gRPC.
    pub endpoint: String,
    pub protocol: Protocol,
    /// Sent with every export (a collector's key, often): never printed.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, besides `service.name`.
    pub resource: Vec<(String, String)>,
    pub sampler: Sampler,
    pub max_queue: usize,
    pub max_batch: usize,
    pub schedule_delay: Duration,
}

/// A variable's value that the exporter cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?}: {problem}")]
pub struct SettingError {
    pub variable: String,
    pub value: String,
    pub problem: String,
}

impl OtlpSettings {
    /// The exporter the environment asks for (`env` reads a variable); `None` when traces
    /// are off: no endpoint is set and `otel_callback` (LiteLLM's `callbacks: ["otel"]`) is
    /// not either, or `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        otel_callback: bool,
    ) -> Result<Option<Self>, SettingError> {
        let env = Env {
            lookup: env,
            litellm: otel_callback,
        };
        if !env.wants_traces()? {
            return Ok(None);
        }
        let (endpoint, protocol) = env.target()?;
        let (service_name, resource) = env.resource()?;
        let max_queue = env.count("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
        Ok(Some(OtlpSettings {
            endpoint,
            protocol,
            headers: env.headers()?,
            timeout: env.millis(
                &[
                    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                ],
                10_000,
            )?,
            service_name,
            resource,
            sampler: sampler(
                env.var("OTEL_TRACES_SAMPLER"),
                env.var("OTEL_TRACES_SAMPLER_ARG"),
            )?,
            max_queue,
            max_batch: env
                .count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?
                .min(max_queue),
            schedule_delay: env.millis(&["OTEL_BSP_SCHEDULE_DELAY"], 5_000)?,
        }))
    }
}

/// The environment as the exporter reads it: empty values count as unset, and LiteLLM's own
/// names are read only with its otel callback.
struct Env<F> {
    lookup: F,
    litellm: bool,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The first of `names` that is set, with its name.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|n| self.var(n).map(|v| (*n, v)))
    }

    fn litellm(&self, name: &str) -> Option<String> {
        if self.litellm { self.var(name) } else { None }
    }

    /// Whether traces are on: not disabled, an OTLP exporter, and an endpoint or the callback.
    fn wants_traces(&self) -> Result<bool, SettingError> {
        if self
            .var("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(false);
        }
        match self.var("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(false),
            Some(other) => {
                return Err(SettingError {
                    variable: "OTEL_TRACES_EXPORTER".into(),
                    value: other.into(),
                    problem: "only otlp (or none) is supported".into(),
                });
            }
        }
        Ok(self.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || self.base_endpoint().is_some()
            || self.litellm)
    }

    fn base_endpoint(&self) -> Option<String> {
        self.var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .or_else(|| self.litellm("OTEL_ENDPOINT"))
    }

    /// The URL posted to and the protocol: a signal endpoint as it is, a base endpoint with
    /// `/v1/traces` for HTTP, else the local collector's default port.
    fn target(&self) -> Result<(String, Protocol), SettingError> {
        let protocol = match self.first(&[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]) {
            Some((_, p)) if p == "http/protobuf" => Protocol::HttpProtobuf,
            Some((_, p)) if p == "grpc" => Protocol::Grpc,
            Some((variable, value)) => {
                return Err(SettingError {
                    variable: variable.into(),
                    value,
                    problem: "the protocols supported are http/protobuf and grpc".into(),
                });
            }
            None => match self.litellm("OTEL_EXPORTER").as_deref() {
                Some("otlp_grpc") => Protocol::Grpc,
                _ => Protocol::HttpProtobuf,
            },
        };
        let signal = self.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let endpoint = match (signal, self.base_endpoint(), protocol) {
            (Some(url), _, _) => url,
            (None, Some(base), Protocol::HttpProtobuf) => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (None, Some(base), Protocol::Grpc) => base,
            (None, None, Protocol::HttpProtobuf) => "http://localhost:4318/v1/traces".into(),
            (None, None, Protocol::Grpc) => "http://localhost:4317".into(),
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(SettingError {
                variable: "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                value: endpoint,
                problem: "must be an http:// or https:// URL".into(),
            });
        }
        Ok((endpoint, protocol))
    }

    /// The headers sent with each export; a value that cannot be read is never echoed.
    fn headers(&self) -> Result<Vec<(String, Secret)>, SettingError> {
        let set = self
            .first(&[
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "OTEL_EXPORTER_OTLP_HEADERS",
            ])
            .or_else(|| self.litellm("OTEL_HEADERS").map(|v| ("OTEL_HEADERS", v)));
        let Some((variable, value)) = set else {
            return Ok(Vec::new());
        };
        let pairs = pairs(&value).ok_or_else(|| SettingError {
            variable: variable.into(),
            value: "(not shown: it may hold a key)".into(),
            problem: "write key=value pairs separated by commas".into(),
        })?;
        Ok(pairs
            .into_iter()
            .map(|(name, value)| (name, Secret::new(value)))
            .collect())
    }

    /// The service's name (`OTEL_SERVICE_NAME`, else the resource's `service.name`) and the
    /// other resource attributes.
    fn resource(&self) -> Result<(String, Vec<(String, String)>), SettingError> {
        let mut resource = match self.var("OTEL_RESOURCE_ATTRIBUTES") {
            Some(value) => pairs(&value).ok_or_else(|| SettingError {
                variable: "OTEL_RESOURCE_ATTRIBUTES".into(),
                value,
                problem: "write key=value pairs separated by commas".into(),
            })?,
            None => Vec::new(),
        };
        let named = resource
            .iter()
            .position(|(k, _)| k == "service.name")
            .map(|i| resource.remove(i).1);
        let service_name = self
            .var("OTEL_SERVICE_NAME")
            .or(named)
            .unwrap_or_else(|| "resilient-llm".into());
        Ok((service_name, resource))
    }

    fn millis(&self, names: &[&'static str], default: u64) -> Result<Duration, SettingError> {
        match self.first(names) {
            None => Ok(Duration::from_millis(default)),
            Some((variable, value)) => value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| SettingError {
                    variable: variable.into(),
                    value,
                    problem: "must be a whole number of milliseconds".into(),
                }),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, SettingError> {
        match self.var(name) {
            None => Ok(default),
            Some(value) => match value.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(SettingError {
                    variable: name.into(),
                    value,
                    problem: "must be a whole number above 0".into(),
                }),
            },
        }
    }
}

/// `OTEL_TRACES_SAMPLER` and its argument (the default: `parentbased_always_on`).
fn sampler(name: Option<String>, arg: Option<String>) -> Result<Sampler, SettingError> {
    let ratio = || -> Result<f64, SettingError> {
        match &arg {
            None => Ok(1.0),
            Some(value) => match value.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(SettingError {
                    variable: "OTEL_TRACES_SAMPLER_ARG".into(),
                    value: value.clone(),
                    problem: "must be a ratio from 0 to 1".into(),
                }),
            },
        }
    };
    Ok(match name.as_deref() {
        None | Some("parentbased_always_on") => Sampler::ParentBased(SamplerRoot::AlwaysOn),
        Some("parentbased_always_off") => Sampler::ParentBased(SamplerRoot::AlwaysOff),
        Some("parentbased_traceidratio") => Sampler::ParentBased(SamplerRoot::Ratio(ratio()?)),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::Ratio(ratio()?),
        Some(other) => {
            return Err(SettingError {
                variable: "OTEL_TRACES_SAMPLER".into(),
                value: other.into(),
                problem: "use always_on, always_off, traceidratio or their parentbased_ forms"
                    .into(),
            });
        }
    })
}

/// `k=v,k2=v2` with percent-encoded values (the OTLP exporter's header and resource format).
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_owned(), percent_decoded(value.trim())))
        })
        .collect()
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the exporter has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct ExportStats {
    pub exported_spans: AtomicU64,
    /// Spans of records dropped because the queue was full.
    pub dropped_spans: AtomicU64,
    /// Spans in batches the collector did not take.
    pub failed_spans: AtomicU64,
    pub failed_batches: AtomicU64,
}

impl ExportStats {
    /// The Prometheus text of these counters.
    pub fn render(&self) -> String {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "# HELP resilient_llm_trace_spans_exported_total Spans the OTLP collector accepted.\n\
             # TYPE resilient_llm_trace_spans_exported_total counter\n\
             resilient_llm_trace_spans_exported_total {}\n\
             # HELP resilient_llm_trace_spans_dropped_total Spans not exported: the queue was full, or the collector refused or missed their batch.\n\
             # TYPE resilient_llm_trace_spans_dropped_total counter\n\
             resilient_llm_trace_spans_dropped_total{{reason=\"queue_full\"}} {}\n\
             resilient_llm_trace_spans_dropped_total{{reason=\"export_failed\"}} {}\n\
             # HELP resilient_llm_trace_export_failures_total Batches the OTLP collector did not take.\n\
             # TYPE resilient_llm_trace_export_failures_total counter\n\
             resilient_llm_trace_export_failures_total {}\n",
            read(&self.exported_spans),
            read(&self.dropped_spans),
            read(&self.failed_spans),
            read(&self.failed_batches),
        )
    }
}

/// Finished records waiting for the export task. A request only pushes under the lock: the
/// task is woken when a batch is full (or by its timer, or a flush), never per request, so
/// tracing costs no thread wake-up on the request path.
struct Queue {
    records: Mutex<Vec<RequestRecord>>,
    /// A full batch is waiting.
    batch_ready: Notify,
    max_queue: usize,
    max_batch: usize,
}

/// The queue to the export task.
pub struct Exporter {
    queue: Arc<Queue>,
    /// Flush requests; dropped with the exporter, which ends the task (after a last export).
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    pub stats: Arc<ExportStats>,
    pub sampler: Sampler,
}

impl Exporter {
    /// Starts the export task (on the current runtime).
    pub fn start(settings: OtlpSettings, default_region: Option<String>) -> Exporter {
        let queue = Arc::new(Queue {
            records: Mutex::new(Vec::with_capacity(settings.max_batch)),
            batch_ready: Notify::new(),
            max_queue: settings.max_queue,
            max_batch: settings.max_batch,
        });
        let (flushes, flush_requests) = mpsc::channel(4);
        let stats = Arc::new(ExportStats::default());
        let sampler = settings.sampler;
        let task = ExportTask {
            http: http_client(&settings),
            resource: resource_bytes(&settings),
            settings,
            cache: AttributeCache::new(default_region),
            stats: Arc::clone(&stats),
            warned_at: None,
        };
        tokio::spawn(task.run(Arc::clone(&queue), flush_requests));
        Exporter {
            queue,
            flushes,
            stats,
            sampler,
        }
    }

    /// Queues a finished record's spans; drops (and counts) them when the queue is full.
    pub fn send(&self, record: RequestRecord) {
        let spans = 1 + record.attempts.len() as u64;
        let queued = match self.queue.records.lock() {
            Ok(mut records) if records.len() < self.queue.max_queue => {
                records.push(record);
                Some(records.len())
            }
            Ok(_) | Err(_) => None,
        };
        match queued {
            Some(n) if n == self.queue.max_batch => self.queue.batch_ready.notify_one(),
            Some(_) => {}
            None => {
                self.stats.dropped_spans.fetch_add(spans, Ordering::Relaxed);
            }
        }
    }

    /// Exports what is queued, waiting at most `within`.
    pub async fn flush(&self, within: Duration) {
        let (done, exported) = oneshot::channel();
        if self.flushes.send(done).await.is_ok() {
            let _ = tokio::time::timeout(within, exported).await;
        }
    }
}

fn http_client(settings: &OtlpSettings) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none());
    let builder = match settings.protocol {
        // gRPC is HTTP/2; cleartext endpoints take it by prior knowledge.
        Protocol::Grpc if settings.endpoint.starts_with("http://") => {
            builder.http2_prior_knowledge()
        }
        Protocol::Grpc | Protocol::HttpProtobuf => builder,
    };
    builder.build().unwrap_or_default()
}

struct ExportTask {
    settings: OtlpSettings,
    http: reqwest::Client,
    /// The encoded `Resource` message, the same in every batch.
    resource: Vec<u8>,
    /// Each deployment's attributes, encoded once.
    cache: AttributeCache,
    stats: Arc<ExportStats>,
    warned_at: Option<std::time::Instant>,
}

impl ExportTask {
    async fn run(
        mut self,
        queue: Arc<Queue>,
        mut flush_requests: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        loop {
            let (flushed, last) = tokio::select! {
                () = tokio::time::sleep(self.settings.schedule_delay) => (None, false),
                () = queue.batch_ready.notified() => (None, false),
                request = flush_requests.recv() => match request {
                    Some(done) => (Some(done), false),
                    None => (None, true),
                },
            };
            let batch = match queue.records.lock() {
                Ok(mut records) => std::mem::take(&mut *records),
                Err(_) => Vec::new(),
            };
            for chunk in batch.chunks(self.settings.max_batch) {
                self.export(chunk).await;
            }
            if let Some(done) = flushed {
                let _ = done.send(());
            }
            if last {
                return;
            }
        }
    }

    async fn export(&mut self, records: &[RequestRecord]) {
        if records.is_empty() {
            return;
        }
        let spans: u64 = records.iter().map(|r| 1 + r.attempts.len() as u64).sum();
        let body = export_request(&self.resource, records, &mut self.cache);
        let sent = self.post(body).await;
        match sent {
            Ok(()) => {
                self.stats
                    .exported_spans
                    .fetch_add(spans, Ordering::Relaxed);
            }
            Err(problem) => {
                self.stats.failed_spans.fetch_add(spans, Ordering::Relaxed);
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                // One warning a minute at most: a collector that is down must not flood the log.
                let quiet = self
                    .warned_at
                    .is_some_and(|at| at.elapsed() < Duration::from_secs(60));
                if !quiet {
                    self.warned_at = Some(std::time::Instant::now());
                    tracing::warn!(endpoint = %self.settings.endpoint, spans, error = %problem, "OTLP export failed; these spans are dropped");
                }
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let (url, content_type, body) = match self.settings.protocol {
            Protocol::HttpProtobuf => (
                self.settings.endpoint.clone(),
                "application/x-protobuf",
                body,
            ),
            Protocol::Grpc => {
                let mut framed = Vec::with_capacity(body.len() + 5);
                framed.push(0);
                framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
                framed.extend_from_slice(&body);
                let url = format!(
                    "{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                    self.settings.endpoint.trim_end_matches('/')
                );
                (url, "application/grpc", framed)
            }
        };
        let mut request = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body);
        if self.settings.protocol == Protocol::Grpc {
            request = request.header("te", "trailers");
        }
        for (name, value) in &self.settings.headers {
            request = request.header(name.as_str(), value.expose());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the collector answered {status}"));
        }
        // A gRPC error comes as a trailers-only response: its status in the headers.
        match response.headers().get("grpc-status").map(|v| v.as_bytes()) {
            None | Some(b"0") => Ok(()),
            Some(code) => Err(format!(
                "gRPC status {} ({})",
                String::from_utf8_lossy(code),
                response
                    .headers()
                    .get("grpc-message")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            )),
        }
    }
}

/// Span kinds and status codes of the OTLP model.
const KIND_SERVER: u64 = 2;
const KIND_CLIENT: u64 = 3;
const STATUS_ERROR: u64 = 2;

fn resource_bytes(settings: &OtlpSettings) -> Vec<u8> {
    let mut w = Writer::new();
    attr_str(&mut w, RESOURCE, "service.name", &settings.service_name);
    attr_str(
        &mut w,
        RESOURCE,
        "service.version",
        env!("CARGO_PKG_VERSION"),
    );
    attr_str(&mut w, RESOURCE, "telemetry.sdk.name", "resilient-llm");
    attr_str(&mut w, RESOURCE, "telemetry.sdk.language", "rust");
    for (key, value) in &settings.resource {
        attr_str(&mut w, RESOURCE, key, value);
    }
    w.into_bytes()
}

/// The attributes a deployment gives every span it appears in, encoded on first use: the
/// same bytes in every batch, so each export copies them instead of encoding ten strings.
pub struct AttributeCache {
    default_region: Option<String>,
    /// By deployment index: (as the request span's server, as an attempt span's target).
    blocks: Vec<Option<(Vec<u8>, Vec<u8>)>>,
}

impl AttributeCache {
    pub fn new(default_region: Option<String>) -> Self {
        AttributeCache {
            default_region,
            blocks: Vec::new(),
        }
    }

    fn of(&mut self, d: &Deployment) -> &(Vec<u8>, Vec<u8>) {
        if self.blocks.len() <= d.index {
            self.blocks.resize_with(d.index + 1, || None);
        }
        let region = self.default_region.as_deref();
        self.blocks[d.index].get_or_insert_with(|| {
            let mut served = Writer::new();
            attr_str(&mut served, SPAN, "gen_ai.provider.name", provider_name(d));
            attr_str(&mut served, SPAN, "gen_ai.response.model", &d.model);
            attr_str(&mut served, SPAN, "resilient_llm.deployment", &d.id);
            attr_str(&mut served, SPAN, "resilient_llm.model_group", &d.group);
            (served.into_bytes(), target_attributes(d, region))
        })
    }
}

/// An attempt's attributes that come from its deployment.
fn target_attributes(d: &Deployment, default_region: Option<&str>) -> Vec<u8> {
    let mut w = Writer::new();
    let w = &mut w;
    attr_str(w, SPAN, "gen_ai.provider.name", provider_name(d));
    attr_str(w, SPAN, "gen_ai.request.model", &d.model);
    attr_str(w, SPAN, "resilient_llm.deployment", &d.id);
    attr_str(w, SPAN, "resilient_llm.model_group", &d.group);
    match d.provider {
        ProviderKind::Bedrock => {
            if let Some(region) = d.region.as_deref().or(default_region) {
                attr_str(w, SPAN, "cloud.region", region);
            }
            if let Some(profile) = &d.profile {
                attr_str(w, SPAN, "resilient_llm.aws_profile", profile);
            }
        }
        ProviderKind::OpenAi => {
            if let Some(host) = d.api_base.as_deref().and_then(host_of) {
                attr_str(w, SPAN, "server.address", host);
            }
        }
    }
    std::mem::take(w).into_bytes()
}

/// An `ExportTraceServiceRequest` of `records`' spans.
pub fn export_request(
    resource: &[u8],
    records: &[RequestRecord],
    cache: &mut AttributeCache,
) -> Vec<u8> {
    // About 1 KiB a request (its span and an attempt's): one allocation for most batches.
    let mut w = Writer::with_capacity(records.len() * 1024 + resource.len() + 64);
    // resource_spans = 1 { resource = 1, scope_spans = 2 { scope = 1, spans = 2 } }
    w.message(1, |rs| {
        rs.bytes(1, resource);
        rs.message(2, |ss| {
            ss.message(1, |scope| {
                scope.string(1, "resilient-llm");
                scope.string(2, env!("CARGO_PKG_VERSION"));
            });
            for record in records {
                ss.message(2, |span| request_span(span, record, cache));
                for (i, attempt) in record.attempts.iter().enumerate() {
                    ss.message(2, |span| attempt_span(span, record, i, attempt, cache));
                }
            }
        });
    });
    w.into_bytes()
}

/// The request's server span.
fn request_span(w: &mut Writer, r: &RequestRecord, cache: &mut AttributeCache) {
    w.bytes(1, &r.trace_id);
    w.bytes(2, &r.span_id);
    if let Some(parent) = &r.parent_span_id {
        w.bytes(4, parent);
    }
    let name = match (r.operation, &r.requested_model) {
        (Some(op), Some(model)) => format!("{op} {model}"),
        _ => format!("{} {}", r.method, r.path),
    };
    w.string(5, &name);
    w.uint(6, KIND_SERVER);
    w.fixed64(7, r.unix_nanos(std::time::Duration::ZERO));
    w.fixed64(8, r.unix_nanos(r.latency()));
    if let Some(op) = r.operation {
        attr_str(w, SPAN, "gen_ai.operation.name", op);
    }
    if let Some(model) = &r.requested_model {
        attr_str(w, SPAN, "gen_ai.request.model", model);
    }
    if let Some(max) = r.max_tokens {
        attr_int(w, SPAN, "gen_ai.request.max_tokens", max);
    }
    if let Some(served) = &r.served_by {
        w.raw(&cache.of(served).0);
    }
    usage_attributes(w, r);
    route_attributes(w, r);
    let failed = r.status.is_some_and(|s| s >= 500) || (r.status == Some(200) && r.error.is_some());
    if let Some(error) = &r.error {
        attr_str(w, SPAN, "error.type", error);
    }
    if failed {
        w.message(15, |status| {
            status.string(2, r.error.as_deref().unwrap_or("server error"));
            status.uint(3, STATUS_ERROR);
        });
    }
}

/// What the request used: tokens, cost, time to the first token.
fn usage_attributes(w: &mut Writer, r: &RequestRecord) {
    if let Some(tokens) = &r.tokens {
        attr_int(w, SPAN, "gen_ai.usage.input_tokens", tokens.input);
        attr_int(w, SPAN, "gen_ai.usage.output_tokens", tokens.output);
        if tokens.cache_read > 0 {
            attr_int(
                w,
                SPAN,
                "gen_ai.usage.cache_read.input_tokens",
                tokens.cache_read,
            );
        }
        if tokens.cache_write > 0 {
            attr_int(
                w,
                SPAN,
                "gen_ai.usage.cache_creation.input_tokens",
                tokens.cache_write,
            );
        }
    }
    if let Some(cost) = r.cost {
        attr_double(w, SPAN, "resilient_llm.cost_usd", cost);
    }
    if let Some(ttft) = r.first_token {
        attr_double(
            w,
            SPAN,
            "resilient_llm.time_to_first_token_ms",
            ttft.as_secs_f64() * 1e3,
        );
    }
}

/// How the request came and went: HTTP, its id, surface, consumer and route counts.
fn route_attributes(w: &mut Writer, r: &RequestRecord) {
    attr_str(w, SPAN, "http.request.method", &r.method);
    attr_str(w, SPAN, "url.path", &r.path);
    if let Some(status) = r.status {
        attr_int(w, SPAN, "http.response.status_code", u64::from(status));
    }
    attr_str(w, SPAN, "resilient_llm.request_id", &r.request_id);
    attr_str(w, SPAN, "resilient_llm.surface", r.surface.label());
    if let Some(consumer) = &r.consumer {
        attr_str(w, SPAN, "resilient_llm.consumer", consumer);
    }
    attr_bool(w, SPAN, "resilient_llm.stream", r.stream);
    attr_int(w, SPAN, "resilient_llm.attempts", r.attempts.len() as u64);
    attr_int(w, SPAN, "resilient_llm.retries", u64::from(r.retries));
    attr_int(w, SPAN, "resilient_llm.fallbacks", u64::from(r.fallbacks));
}

/// One attempt's client span, a child of the request's.
fn attempt_span(
    w: &mut Writer,
    r: &RequestRecord,
    index: usize,
    a: &AttemptRecord,
    cache: &mut AttributeCache,
) {
    let d = &a.deployment;
    w.bytes(1, &r.trace_id);
    w.bytes(2, &a.span_id);
    w.bytes(4, &r.span_id);
    let operation = r.operation.unwrap_or("chat");
    w.string(5, &format!("{operation} {}", d.model));
    w.uint(6, KIND_CLIENT);
    w.fixed64(7, r.unix_nanos(a.start));
    w.fixed64(8, r.unix_nanos(a.end.unwrap_or_else(|| r.latency())));
    attr_str(w, SPAN, "gen_ai.operation.name", operation);
    w.raw(&cache.of(d).1);
    attr_int(w, SPAN, "resilient_llm.attempt", index as u64 + 1);
    attr_str(w, SPAN, "resilient_llm.attempt.reason", a.reason.label());
    attr_str(w, SPAN, "resilient_llm.outcome", a.outcome);
    if a.outcome != "success" {
        let error = a.error.as_deref().unwrap_or(a.outcome);
        attr_str(w, SPAN, "error.type", a.outcome);
        w.message(15, |status| {
            status.string(2, error);
            status.uint(3, STATUS_ERROR);
        });
    }
}

/// GenAI's `gen_ai.provider.name` of a deployment.
fn provider_name(d: &Deployment) -> &'static str {
    match d.provider {
        ProviderKind::Bedrock => "aws.bedrock",
        ProviderKind::OpenAi => "openai",
    }
}

/// The host of a URL (`http://host:port/path`).
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next(),
        None => host.split(':').next(),
    }
}

/// The attributes field of a `Resource` and of a `Span`; each is a `KeyValue { key = 1,
/// value = 2 }` with an `AnyValue { string = 1, bool = 2, int = 3, double = 4 }`.
const RESOURCE: u32 = 1;
const SPAN: u32 = 9;

fn attr(w: &mut Writer, field: u32, key: &str, value: impl FnOnce(&mut Writer)) {
    w.message(field, |kv| {
        kv.string(1, key);
        kv.message(2, value);
    });
}

fn attr_str(w: &mut Writer, field: u32, key: &str, value: &str) {
    attr(w, field, key, |v| v.string(1, value));
}

fn attr_bool(w: &mut Writer, field: u32, key: &str, value: bool) {
    attr(w, field, key, |v| v.bool(2, value));
}

fn attr_int(w: &mut Writer, field: u32, key: &str, value: u64) {
    attr(w, field, key, |v| v.uint(3, value));
}

fn attr_double(w: &mut Writer, field: u32, key: &str, value: f64) {
    attr(w, field, key, |v| v.double(4, value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        vars: &[(&str, &str)],
        callback: bool,
    ) -> Result<Option<OtlpSettings>, SettingError> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpSettings::from_env(|name| vars.get(name).cloned(), callback)
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_or_the_otel_callback_is_set() {
        assert_eq!(settings(&[], false), Ok(None));
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")], false), Ok(None));
        let on = settings(&[], true).unwrap().unwrap();
        assert_eq!(on.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(on.protocol, Protocol::HttpProtobuf);
        let off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(settings(&off, true), Ok(None));
        let none = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ];
        assert_eq!(settings(&none, false), Ok(None));
    }

    #[test]
    fn the_standard_variables_are_read_as_the_specification_says() {
        let s = settings(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-tenant=t1"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=from-resource,deployment.environment=prod",
                ),
                ("OTEL_BSP_SCHEDULE_DELAY", "250"),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            false,
        )
        .unwrap()
        .unwrap();
        // A signal path is appended to the base endpoint, not to a signal endpoint.
        assert_eq!(s.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(
            s.headers,
            [
                ("api-key".into(), Secret::new("a b")),
                ("x-tenant".into(), Secret::new("t1"))
            ]
        );
        assert!(
            !format!("{s:?}").contains("a b"),
            "header values never print"
        );
        assert_eq!(s.service_name, "from-resource");
        assert_eq!(
            s.resource,
            [("deployment.environment".into(), "prod".into())]
        );
        assert_eq!(s.schedule_delay, Duration::from_millis(250));
        assert_eq!(s.sampler, Sampler::Ratio(0.25));
        let signal = settings(
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c/custom"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_SERVICE_NAME", "named"),
            ],
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (signal.endpoint.as_str(), signal.protocol),
            ("http://c/custom", Protocol::Grpc)
        );
        assert_eq!(signal.service_name, "named");
    }

    #[test]
    fn litellms_own_variables_work_with_its_otel_callback() {
        let s = settings(
            &[
                ("OTEL_EXPORTER", "otlp_grpc"),
                ("OTEL_ENDPOINT", "http://c:4317"),
            ],
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.protocol),
            ("http://c:4317", Protocol::Grpc)
        );
    }

    #[test]
    fn unusable_values_say_which_variable_and_why() {
        let e = settings(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(e.variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
        assert!(e.to_string().contains("http/protobuf and grpc"), "{e}");
        let e = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")], false).unwrap_err();
        assert!(e.problem.contains("http://"), "{e}");
        let e = settings(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(e.variable, "OTEL_BSP_MAX_QUEUE_SIZE");
        let e = settings(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "secret-without-equals"),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            !e.to_string().contains("secret-without-equals"),
            "a header value is never echoed: {e}"
        );
    }

    #[test]
    fn samplers_follow_the_parent_and_the_ratio() {
        let id = [0xff; 16];
        let low = [0; 16];
        let parent = Sampler::ParentBased(SamplerRoot::AlwaysOff);
        assert!(parent.keeps(&id, Some(true)));
        assert!(!parent.keeps(&id, None));
        assert!(!Sampler::Ratio(0.5).keeps(&id, None));
        assert!(Sampler::Ratio(0.5).keeps(&low, None));
        assert!(!Sampler::AlwaysOff.keeps(&id, Some(true)));
    }

    #[test]
    fn hosts_are_read_from_upstream_urls() {
        assert_eq!(host_of("http://127.0.0.1:8080/v1"), Some("127.0.0.1"));
        assert_eq!(
            host_of("https://user:pw@api.example.com/x"),
            Some("api.example.com")
        );
        assert_eq!(host_of("http://[::1]:9/"), Some("::1"));
    }
}
