//! The gateway's shared immutable state: the config and the request pipeline (router,
//! providers, metrics), built once.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::body::BodyBudget;
use super::start_error::StartError;
use crate::aws::Clients;
use crate::config::{Config, ProviderKind};
use crate::observe::{Observer, OtlpSettings};
use crate::pipeline::Pipeline;
use crate::provider::transport::Transport;
use crate::provider::{BedrockProvider, OpenAiProvider, Providers};
use crate::router::AnyStore;

/// Everything a request handler reads; shared behind an `Arc`, never cloned per request.
pub struct AppState {
    pub config: Arc<Config>,
    /// The request pipeline every surface hands its requests to.
    pub pipeline: Arc<Pipeline>,
    /// Set when shutdown begins: readiness fails so load balancers stop sending traffic.
    pub shutting_down: AtomicBool,
    /// Bytes of request bodies held at once (`gateway.max_buffered_body_mb`).
    pub body_budget: Arc<BodyBudget>,
    /// Where each request's record goes: traces, the request log.
    pub observer: Arc<Observer>,
    /// The dashboard's once-a-second snapshots.
    pub feed: super::dashboard::feed::Feed,
}

impl AppState {
    /// Builds the state: one Bedrock client per deployment (from the factory, SDK retries off)
    /// and one pooled HTTP client for every OpenAI-compatible upstream.
    pub async fn build(config: Arc<Config>, clients: &Clients) -> Result<Self, StartError> {
        let mut bedrock = Vec::new();
        let mut signing = Vec::new();
        for deployment in config
            .deployments()
            .filter(|d| d.provider == ProviderKind::Bedrock)
        {
            let failed = |error| StartError::BedrockClient {
                id: deployment.id.clone(),
                model: deployment.model.clone(),
                error,
            };
            let client = clients
                .bedrock_for_deployment(deployment)
                .await
                .map_err(failed)?;
            bedrock.push((deployment.index, client));
            let target = clients
                .bedrock_signing_target(deployment)
                .await
                .map_err(failed)?;
            signing.extend(target.map(|target| (deployment.as_ref(), target)));
        }
        // hyper-util's client, or reqwest when a proxy is set in the environment.
        let http = Transport::from_env().map_err(StartError::HttpClient)?;
        let providers = Providers {
            bedrock: BedrockProvider::new(bedrock).with_direct(signing, &http),
            openai: OpenAiProvider::new(http).with_deployments(
                config
                    .deployments()
                    .filter(|d| d.provider == ProviderKind::OpenAi)
                    .map(|d| d.as_ref()),
            ),
        };
        // An unreachable Redis is not fatal: the store starts degraded on local limits.
        let store = AnyStore::from_config(&config)
            .await
            .map_err(StartError::Store)?;
        let telemetry = &config.gateway.telemetry;
        let otlp = match &telemetry.otlp {
            Some(settings) => Some(settings.clone()),
            None => {
                OtlpSettings::from_env(|name| std::env::var(name).ok(), telemetry.otel_callback)
                    .map_err(StartError::Telemetry)?
            }
        };
        let request_log = telemetry.json_logs
            || tracing::enabled!(target: "resilient_llm::request", tracing::Level::INFO);
        let observer = Observer::new(
            otlp,
            Some(config.aws.region.clone()),
            request_log,
            telemetry.log_prompts,
        );
        let pipeline = Arc::new(Pipeline::new(&config, store, providers));
        Ok(AppState {
            observer,
            feed: super::dashboard::feed::Feed::start(Arc::clone(&config), &pipeline),
            pipeline,
            body_budget: BodyBudget::new(config.gateway.max_buffered_body_bytes),
            config,
            shutting_down: AtomicBool::new(false),
        })
    }
}
