//! The one AWS client factory: Bedrock Runtime, CloudWatch Logs and STS clients keyed by
//! (profile, Region, endpoint, flavour), built once and cached.
//!
//! Real AWS uses aws-config's normal chain (profiles, environment, SSO, IMDS, ECS roles) and
//! honours `AWS_ENDPOINT_URL*`; the config's `aws.endpoint_url` (or a deployment's
//! `api_base`) overrides both. The sandbox flavour uses static per-profile credentials and
//! the sandbox's endpoint. The gateway flavour disables the SDK's retries (the router owns
//! retries) and sets a connect timeout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::Mutex;

use crate::config::{AwsSettings, Config, Deployment};

/// How a client retries and times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// Demos and reports: the SDK's standard retries.
    Interactive,
    /// Inside the gateway: no SDK retries, a short connect timeout, no stalled-stream
    /// protection (the router has its own first-byte and idle timeouts).
    Gateway,
}

/// Static credentials of one sandbox profile.
#[derive(Debug, Clone)]
pub struct StaticProfile {
    pub profile: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A client could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(
        "AWS profile {profile:?} was not found in {} (set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE, or fix aws.profile_name in the config)",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
    )]
    UnknownProfile {
        profile: String,
        searched: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    profile: Option<String>,
    region: String,
    endpoint: Option<String>,
    flavour: Flavour,
}

enum Source {
    /// The default credential chain and profile files.
    Chain,
    /// The sandbox: fixed endpoint, static keys per profile.
    Sandbox {
        endpoint: String,
        profiles: Vec<StaticProfile>,
    },
}

/// Hands out cached AWS clients.
pub struct Clients {
    default_profile: Option<String>,
    default_region: String,
    endpoint: Option<String>,
    source: Source,
    /// The profile files searched for named profiles.
    profile_files: Vec<PathBuf>,
    configs: Mutex<HashMap<ClientKey, SdkConfig>>,
}

impl Clients {
    /// Clients for real AWS, with defaults from the `aws` section.
    pub fn new(aws: &AwsSettings) -> Self {
        Clients {
            default_profile: aws.primary_profile().map(str::to_string),
            default_region: aws.region.clone(),
            endpoint: aws.endpoint_url.clone(),
            source: Source::Chain,
            profile_files: profile_files(),
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// Clients for a sandbox at `endpoint`, signing with each profile's static keys.
    /// Clients that sign with the keys of `config`'s sandbox accounts and call `endpoint` (a
    /// sandbox started from `config.sandbox`).
    pub fn for_sandbox(config: &Config, endpoint: &str) -> Self {
        let profiles = config
            .sandbox
            .accounts
            .iter()
            .map(|a| StaticProfile {
                profile: a.profile.clone(),
                access_key_id: a.access_key_id.clone(),
                secret_access_key: a.secret_access_key.clone(),
            })
            .collect();
        Clients::sandbox(&config.aws, endpoint, profiles)
    }

    pub fn sandbox(aws: &AwsSettings, endpoint: &str, profiles: Vec<StaticProfile>) -> Self {
        Clients {
            default_profile: aws.primary_profile().map(str::to_string),
            default_region: aws.region.clone(),
            endpoint: Some(endpoint.to_string()),
            source: Source::Sandbox {
                endpoint: endpoint.to_string(),
                profiles,
            },
            profile_files: Vec::new(),
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// Reads named profiles from `files` instead of the standard locations; the SDK is told
    /// to read the same files.
    pub fn with_profile_files(mut self, files: Vec<PathBuf>) -> Self {
        self.profile_files = files;
        self
    }

    /// The default profile (the `aws` section's primary), if any.
    pub fn default_profile(&self) -> Option<&str> {
        self.default_profile.as_deref()
    }

    /// The default Region.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// The shared SDK config for a profile and Region (defaults when `None`).
    pub async fn sdk_config(
        &self,
        profile: Option<&str>,
        region: Option<&str>,
        endpoint: Option<&str>,
        flavour: Flavour,
    ) -> Result<SdkConfig, AwsError> {
        let key = ClientKey {
            profile: profile
                .map(str::to_string)
                .or_else(|| self.default_profile.clone()),
            region: region.unwrap_or(&self.default_region).to_string(),
            endpoint: endpoint
                .map(str::to_string)
                .or_else(|| self.endpoint.clone()),
            flavour,
        };
        let mut configs = self.configs.lock().await;
        if let Some(config) = configs.get(&key) {
            return Ok(config.clone());
        }
        let config = self.build(&key).await?;
        configs.insert(key, config.clone());
        Ok(config)
    }

    async fn build(&self, key: &ClientKey) -> Result<SdkConfig, AwsError> {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(key.region.clone()));
        loader = match flavour_retry(key.flavour) {
            Some(retry) => loader.retry_config(retry),
            None => loader,
        };
        loader = loader.timeout_config(flavour_timeouts(key.flavour));
        if key.flavour == Flavour::Gateway {
            // The router bounds the first byte and every gap in a stream itself; the SDK's own
            // throughput check would only add a timer and a wrapper to every request body.
            loader = loader.stalled_stream_protection(StalledStreamProtectionConfig::disabled());
        }
        match &self.source {
            Source::Chain => {
                if let Some(profile) = &key.profile {
                    check_profile_exists(profile, &self.profile_files)?;
                    loader = loader
                        .profile_name(profile)
                        .profile_files(sdk_profile_files(&self.profile_files));
                }
                if let Some(endpoint) = &key.endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
            }
            Source::Sandbox { endpoint, profiles } => {
                let wanted = key.profile.as_deref();
                let chosen = match wanted {
                    Some(name) => profiles.iter().find(|p| p.profile == name),
                    None => profiles.first(),
                };
                let Some(chosen) = chosen else {
                    return Err(AwsError::UnknownProfile {
                        profile: wanted.unwrap_or("default").to_string(),
                        searched: vec![PathBuf::from("sandbox.accounts in the config")],
                    });
                };
                let credentials = Credentials::new(
                    &chosen.access_key_id,
                    &chosen.secret_access_key,
                    None,
                    None,
                    "resilient-llm-sandbox",
                );
                loader = loader
                    .credentials_provider(SharedCredentialsProvider::new(credentials))
                    .endpoint_url(key.endpoint.as_deref().unwrap_or(endpoint));
            }
        }
        Ok(loader.load().await)
    }

    /// A Bedrock Runtime client for demos (standard retries).
    pub async fn bedrock(
        &self,
        profile: Option<&str>,
        region: Option<&str>,
    ) -> Result<aws_sdk_bedrockruntime::Client, AwsError> {
        let config = self
            .sdk_config(profile, region, None, Flavour::Interactive)
            .await?;
        Ok(aws_sdk_bedrockruntime::Client::new(&config))
    }

    /// A Bedrock Runtime client for a gateway deployment: its profile, Region and endpoint,
    /// SDK retries off.
    pub async fn bedrock_for_deployment(
        &self,
        deployment: &Deployment,
    ) -> Result<aws_sdk_bedrockruntime::Client, AwsError> {
        let config = self.gateway_config(deployment).await?;
        let config = aws_sdk_bedrockruntime::config::Builder::from(&config)
            .interceptor(Traceparent)
            .build();
        Ok(aws_sdk_bedrockruntime::Client::from_conf(config))
    }

    /// The SDK config of a gateway deployment: its profile, Region and endpoint.
    async fn gateway_config(&self, deployment: &Deployment) -> Result<SdkConfig, AwsError> {
        self.sdk_config(
            deployment.profile.as_deref(),
            deployment.region.as_deref(),
            deployment.api_base.as_deref(),
            Flavour::Gateway,
        )
        .await
    }

    /// A CloudWatch Logs client.
    pub async fn logs(
        &self,
        profile: Option<&str>,
        region: Option<&str>,
    ) -> Result<aws_sdk_cloudwatchlogs::Client, AwsError> {
        let config = self
            .sdk_config(profile, region, None, Flavour::Interactive)
            .await?;
        Ok(aws_sdk_cloudwatchlogs::Client::new(&config))
    }

    /// An STS client.
    pub async fn sts(
        &self,
        profile: Option<&str>,
        region: Option<&str>,
    ) -> Result<aws_sdk_sts::Client, AwsError> {
        let config = self
            .sdk_config(profile, region, None, Flavour::Interactive)
            .await?;
        Ok(aws_sdk_sts::Client::new(&config))
    }
}

/// What a direct (SDK-less) Bedrock Runtime call of a deployment needs from its SDK config.
#[derive(Debug, Clone)]
pub struct SigningTarget {
    /// The endpoint the SDK's resolver gives for the deployment (its Region, FIPS and
    /// dual-stack settings, or the configured endpoint URL).
    pub endpoint: String,
    /// The Region signed for.
    pub region: String,
    /// The deployment's credential provider chain.
    pub credentials: SharedCredentialsProvider,
}

impl Clients {
    /// The signing target of a gateway deployment, or `None` when its calls must go through
    /// the SDK: a Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`) instead of SigV4, no Region,
    /// no credential provider, or an endpoint the SDK's resolver does not give.
    pub async fn bedrock_signing_target(
        &self,
        deployment: &Deployment,
    ) -> Result<Option<SigningTarget>, AwsError> {
        let config = self.gateway_config(deployment).await?;
        Ok(signing_target(&config).await)
    }
}

/// The endpoint, Region and credentials of Bedrock Runtime calls with `config`, resolved as
/// the SDK's client resolves them (`aws_sdk_bedrockruntime::config::Builder::from`).
async fn signing_target(config: &SdkConfig) -> Option<SigningTarget> {
    use aws_sdk_bedrockruntime::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use aws_types::service_config::ServiceConfigKey;
    let service_key = |service, env, profile| {
        ServiceConfigKey::builder()
            .service_id(service)
            .env(env)
            .profile(profile)
            .build()
            .ok()
    };
    let service_setting = |service, env, profile| {
        let key = service_key(service, env, profile)?;
        config.service_config()?.load_config(key)
    };
    if service_setting("bedrock", "AWS_BEARER_TOKEN", "").is_some() {
        return None;
    }
    let credentials = config.credentials_provider()?;
    let region = config.region()?.to_string();
    let endpoint_url = if config.get_origin("endpoint_url").is_client_config() {
        config.endpoint_url().map(str::to_owned)
    } else {
        service_setting("Bedrock Runtime", "AWS_ENDPOINT_URL", "endpoint_url")
            .or_else(|| config.endpoint_url().map(str::to_owned))
    };
    let params = Params::builder()
        .region(region.clone())
        .set_use_fips(config.use_fips())
        .set_use_dual_stack(config.use_dual_stack())
        .set_endpoint(endpoint_url)
        .build()
        .ok()?;
    let endpoint = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .ok()?;
    Some(SigningTarget {
        endpoint: endpoint.url().to_owned(),
        region,
        credentials,
    })
}

/// Adds the W3C `traceparent` of the running attempt's span to each Bedrock call, when
/// traces are on ([`crate::observe::upstream_traceparent`]); before signing, so it is signed.
#[derive(Debug)]
struct Traceparent;

impl aws_sdk_bedrockruntime::config::Intercept for Traceparent {
    fn name(&self) -> &'static str {
        "Traceparent"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_bedrockruntime::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_bedrockruntime::config::RuntimeComponents,
        _cfg: &mut aws_sdk_bedrockruntime::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(traceparent) = crate::observe::upstream_traceparent() {
            context
                .request_mut()
                .headers_mut()
                .insert("traceparent", traceparent);
        }
        Ok(())
    }
}

fn flavour_retry(flavour: Flavour) -> Option<RetryConfig> {
    match flavour {
        Flavour::Interactive => None,
        Flavour::Gateway => Some(RetryConfig::disabled()),
    }
}

fn flavour_timeouts(flavour: Flavour) -> TimeoutConfig {
    match flavour {
        Flavour::Interactive => TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .build(),
        // The router bounds each call itself (streams can be long); only connecting is bounded here.
        Flavour::Gateway => TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .build(),
    }
}

/// The profile files aws-config reads: `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`,
/// else `~/.aws/config` and `~/.aws/credentials`.
pub fn profile_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    vec![config, credentials]
}

/// Fails early, naming the files searched, when `profile` is in neither profile file.
fn check_profile_exists(profile: &str, files: &[PathBuf]) -> Result<(), AwsError> {
    if profile == "default" {
        return Ok(());
    }
    let found = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .any(|text| profile_names(&text).any(|name| name == profile));
    if found {
        Ok(())
    } else {
        Err(AwsError::UnknownProfile {
            profile: profile.to_string(),
            searched: files.to_vec(),
        })
    }
}

/// The SDK's view of `files`: the first is a config file, the rest credentials files.
fn sdk_profile_files(files: &[PathBuf]) -> aws_runtime::env_config::file::EnvConfigFiles {
    use aws_runtime::env_config::file::{
        EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
    };
    let mut builder = ProfileFiles::builder();
    for (i, file) in files.iter().enumerate() {
        let kind = if i == 0 {
            ProfileFileKind::Config
        } else {
            ProfileFileKind::Credentials
        };
        builder = builder.with_file(kind, file);
    }
    builder.build()
}

/// Section names of an AWS config or credentials file (`[profile x]` and `[x]` both give `x`).
pub fn profile_names(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let inner = line.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
        let name = inner
            .strip_prefix("profile")
            .filter(|r| r.starts_with(char::is_whitespace))
            .map_or(inner, str::trim);
        (!inner.starts_with("sso-session") && !inner.starts_with("services")).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profile_section_names() {
        let text = "[default]\nregion=us-east-1\n[profile genai]\n[ test ]\n[sso-session corp]\n[services local]\n";
        let names: Vec<&str> = profile_names(text).collect();
        assert_eq!(names, vec!["default", "genai", "test"]);
    }
}
