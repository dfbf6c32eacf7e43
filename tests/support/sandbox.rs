//! Starting an in-process sandbox on port 0 and building the real AWS SDK clients against it:
//! static credentials of one sandbox profile, Region us-east-1, the sandbox's endpoint URL, and
//! SDK retries disabled so throttling reaches the test as it happened.

use std::net::SocketAddr;
use std::time::Duration;

use aws_credential_types::Credentials;
use resilient_llm::config::sandbox::{Quota, SandboxAccount, SandboxSettings};
use resilient_llm::sandbox::{self, SandboxHandle};

/// The Region every test client signs for.
pub const REGION: &str = "us-east-1";

/// Default settings with every wait switched off.
pub fn fast_settings() -> SandboxSettings {
    SandboxSettings {
        first_token: Duration::ZERO,
        tokens_per_second: 0,
        ..SandboxSettings::default()
    }
}

/// `settings` with `model` limited to `quota` for every account.
pub fn with_model_quota(
    mut settings: SandboxSettings,
    model: &str,
    quota: Quota,
) -> SandboxSettings {
    for account in &mut settings.accounts {
        account.model_quotas.insert(model.to_owned(), quota);
    }
    settings
}

/// Starts a sandbox on 127.0.0.1, port 0.
pub async fn start(settings: SandboxSettings) -> SandboxHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sandbox::start(settings, addr).await.unwrap()
}

/// The account of `profile`.
pub fn account<'a>(settings: &'a SandboxSettings, profile: &str) -> &'a SandboxAccount {
    settings
        .accounts
        .iter()
        .find(|a| a.profile == profile)
        .unwrap()
}

fn credentials(settings: &SandboxSettings, profile: &str) -> Credentials {
    let account = account(settings, profile);
    Credentials::new(
        &account.access_key_id,
        &account.secret_access_key,
        None,
        None,
        "sandbox-test",
    )
}

/// A Bedrock Runtime client for `profile`.
pub fn bedrock(
    handle: &SandboxHandle,
    settings: &SandboxSettings,
    profile: &str,
) -> aws_sdk_bedrockruntime::Client {
    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region, retry::RetryConfig};
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials(settings, profile))
        .endpoint_url(handle.endpoint())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// A CloudWatch Logs client for `profile`.
pub fn logs(
    handle: &SandboxHandle,
    settings: &SandboxSettings,
    profile: &str,
) -> aws_sdk_cloudwatchlogs::Client {
    use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Region, retry::RetryConfig};
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials(settings, profile))
        .endpoint_url(handle.endpoint())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(config)
}

/// An STS client for `profile`.
pub fn sts(
    handle: &SandboxHandle,
    settings: &SandboxSettings,
    profile: &str,
) -> aws_sdk_sts::Client {
    use aws_sdk_sts::config::{BehaviorVersion, Region, retry::RetryConfig};
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials(settings, profile))
        .endpoint_url(handle.endpoint())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// A user message with one text block.
pub fn user_text(text: &str) -> aws_sdk_bedrockruntime::types::Message {
    use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// A turn of `role` with `blocks`.
pub fn message(
    role: aws_sdk_bedrockruntime::types::ConversationRole,
    blocks: Vec<aws_sdk_bedrockruntime::types::ContentBlock>,
) -> aws_sdk_bedrockruntime::types::Message {
    aws_sdk_bedrockruntime::types::Message::builder()
        .role(role)
        .set_content(Some(blocks))
        .build()
        .unwrap()
}

/// An inference config asking for at most `max_tokens`: a call without one reserves the
/// model's maximum output against TPM (64,000 on Claude Sonnet 4.6), as on Bedrock.
pub fn max_tokens(max_tokens: i32) -> aws_sdk_bedrockruntime::types::InferenceConfiguration {
    aws_sdk_bedrockruntime::types::InferenceConfiguration::builder()
        .max_tokens(max_tokens)
        .build()
}

/// A SigV4-shaped `Authorization` header for `profile` (the sandbox reads only the scope).
pub fn sigv4_header(settings: &SandboxSettings, profile: &str) -> String {
    let key = &account(settings, profile).access_key_id;
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20250101/{REGION}/bedrock/aws4_request, SignedHeaders=host, Signature=0"
    )
}
