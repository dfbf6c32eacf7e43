//! Where a demo runs: against real AWS and a running gateway, or against an in-process
//! sandbox (and an in-process gateway pointed at it) started fresh for each demo run.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::aws::Clients;
use crate::config::Config;
use crate::gateway::GatewayHandle;
use crate::sandbox::SandboxHandle;

/// The AWS clients and gateway a demo uses, and what was started for it.
pub struct DemoEnv {
    pub config: Arc<Config>,
    pub clients: Arc<Clients>,
    /// The gateway's base URL (`http://127.0.0.1:4000`).
    pub gateway_url: String,
    /// Set when the demo runs offline.
    pub sandbox: Option<SandboxHandle>,
    gateway: Option<GatewayHandle>,
}

/// Which pieces a demo needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Direct AWS calls only (cris, shard, report).
    Aws,
    /// A gateway (fallback, balance, isolate).
    Gateway,
}

impl DemoEnv {
    /// Real AWS with the config's profiles, and the gateway at `gateway_url` (default: the
    /// config's port on localhost).
    pub fn real(config: Arc<Config>, gateway_url: Option<String>) -> Self {
        let clients = Arc::new(Clients::new(&config.aws));
        let gateway_url =
            gateway_url.unwrap_or_else(|| format!("http://127.0.0.1:{}", config.gateway.port));
        DemoEnv {
            config,
            clients,
            gateway_url,
            sandbox: None,
            gateway: None,
        }
    }

    /// A fresh in-process sandbox (fresh quotas, logs and seed), plus an in-process gateway on
    /// a free port pointed at it when `needs` says so.
    pub async fn sandbox(config: Arc<Config>, needs: Needs) -> anyhow::Result<Self> {
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sandbox = crate::sandbox::start(config.sandbox.clone(), loopback)
            .await
            .context("cannot start the in-process sandbox")?;
        let clients = Arc::new(Clients::for_sandbox(&config, &sandbox.endpoint()));
        let (gateway, gateway_url) = match needs {
            Needs::Aws => (None, String::new()),
            Needs::Gateway => {
                let gateway = crate::gateway::start(Arc::clone(&config), &clients, loopback)
                    .await
                    .context("cannot start the in-process gateway")?;
                let url = gateway.url();
                (Some(gateway), url)
            }
        };
        Ok(DemoEnv {
            config,
            clients,
            gateway_url,
            sandbox: Some(sandbox),
            gateway,
        })
    }

    /// Whether this run is offline.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.is_some()
    }

    /// Stops what was started for the demo.
    pub async fn close(self) {
        if let Some(gateway) = self.gateway {
            gateway.shutdown().await;
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
    }
}
