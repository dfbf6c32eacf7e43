//! Router-level tests: the memory store and the router together, on a manual clock.
//! Shared builders here; [`limits`] covers exactness and concurrency, [`selection`] routing,
//! cooldowns, fallbacks and `/health`.

mod limits;
mod selection;

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::{
    AwsSettings, Config, Consumer, CrisSettings, Deployment, GatewaySettings, ModelGroup,
    RouterSettings, RoutingStrategy, Secret, StateStoreSettings,
};

pub(super) const SECOND: Duration = Duration::from_secs(1);

pub(super) fn settings() -> RouterSettings {
    RouterSettings {
        strategy: RoutingStrategy::SimpleShuffle,
        pre_call_checks: true,
        num_retries: 2,
        retry_after: Duration::from_millis(100),
        allowed_fails: 1,
        cooldown_time: Duration::from_secs(30),
        fallbacks: vec![(
            "primary".into(),
            vec!["backup".into(), "primary".into(), "spare".into()],
        )],
        context_window_fallbacks: vec![("primary".into(), vec!["big".into()])],
        default_fallbacks: vec!["spare".into(), "backup".into(), "last".into()],
        aliases: Vec::new(),
        timeout: Duration::from_secs(60),
        state: StateStoreSettings::Memory,
    }
}

pub(super) fn group(name: &str, deployments: Vec<Arc<Deployment>>) -> ModelGroup {
    let deployments = deployments
        .into_iter()
        .map(|d| {
            let mut d = (*d).clone();
            d.group = name.to_string();
            Arc::new(d)
        })
        .collect();
    ModelGroup {
        name: name.to_string(),
        deployments,
    }
}

pub(super) fn consumer(
    name: &str,
    rpm: Option<u32>,
    tpm: Option<u64>,
    parallel: Option<u32>,
) -> Consumer {
    Consumer {
        name: name.to_string(),
        key: Secret::new(format!("sk-{name}")),
        tier: None,
        rpm_limit: rpm,
        tpm_limit: tpm,
        max_parallel_requests: parallel,
        models: Vec::new(),
        sigv4: None,
        budget: None,
    }
}

pub(super) fn config(
    groups: Vec<ModelGroup>,
    consumers: Vec<Consumer>,
    router: RouterSettings,
) -> Config {
    Config {
        source: "test.yaml".into(),
        aws: AwsSettings {
            profiles: Vec::new(),
            region: "us-east-1".into(),
            log_group: "logs".into(),
            endpoint_url: None,
        },
        gateway: GatewaySettings {
            host: "127.0.0.1".into(),
            port: 0,
            master_key: None,
            consumers,
            drop_params: false,
            metrics_need_auth: false,
            max_body_bytes: 1 << 20,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: None,
            max_buffered_body_bytes: 64 << 20,
            tls: None,
            budget: None,
            telemetry: Default::default(),
        },
        groups,
        router,
        cris: CrisSettings {
            model_id: "m".into(),
        },
        sandbox: Default::default(),
        ignored_keys: Vec::new(),
        warnings: Vec::new(),
    }
}

pub(super) fn router(config: &Config) -> (Router<MemoryStore>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let store = MemoryStore::with_clock(config, clock.clone());
    (Router::new(config, store).with_seed(42), clock)
}

pub(super) fn admitted(selection: Selection<MemoryStore>) -> DeploymentPermit<MemoryStore> {
    match selection {
        Selection::Admitted(permit) => permit,
        Selection::Exhausted { refusals, .. } => panic!("exhausted: {refusals:?}"),
        Selection::Unfit(reason) => panic!("unfit: {reason}"),
        Selection::UnknownGroup => panic!("unknown group"),
    }
}

pub(super) fn exhausted(
    selection: Selection<MemoryStore>,
) -> (Option<Duration>, Vec<(String, DeploymentRefusal)>) {
    match selection {
        Selection::Exhausted {
            retry_after,
            refusals,
        } => (retry_after, refusals),
        Selection::Admitted(p) => panic!("admitted {}", p.deployment().id),
        Selection::Unfit(reason) => panic!("unfit: {reason}"),
        Selection::UnknownGroup => panic!("unknown group"),
    }
}

pub(super) fn success(tokens: u64) -> Outcome {
    Outcome::Success {
        latency: Duration::from_millis(20),
        input_tokens: tokens,
        output_tokens: 0,
    }
}
