//! Bedrock Runtime's own routes on the gateway, with the real clients: boto3 and the AWS CLI
//! over HTTPS (a test CA made with `openssl`, trusted through `AWS_CA_BUNDLE`) with a consumer
//! key as `AWS_BEARER_TOKEN_BEDROCK`, and the Rust SDK with `endpoint_url` set to the gateway.
//! The pipeline applies as on every surface: the routes reach groups by name and by model id,
//! a throttled primary falls back, a consumer past its quota gets `ThrottlingException`, and
//! two deployments of one model on the profiles `genai` and `test` share the calls 10 / 10.

use std::path::Path;
use std::time::Duration;

use aws_sdk_bedrockruntime::types::{ContentBlock, ConverseStreamOutput};
use serde_json::Value;

use crate::harness::{HAIKU, NOVA, SONNET, SONNET_45, Stack};
use crate::support::{self, process};
use crate::tls::make_certificates;

const APP_KEY: &str = "sk-bedrock-app-test";
const TIGHT_KEY: &str = "sk-bedrock-tight-test";
/// The SigV4 key pair of the consumer `signer` (test values, known to nothing else).
const SIGNER_ID: &str = "AKIASIGNERCONSUMER01";
const SIGNER_SECRET: &str = "signer-sigv4-secret-for-tests";

fn config(dir: &Path) -> String {
    let (cert, key) = (dir.join("gw-cert.pem"), dir.join("gw-key.pem"));
    format!(
        r#"
gateway:
  master_key: sk-bedrock-master-test
  ssl_certfile_path: {cert}
  ssl_keyfile_path: {key}
  consumers:
    - {{name: app, key: {APP_KEY}, models: [sonnet, primary, shard, nova-only, compat]}}
    - {{name: tight, key: {TIGHT_KEY}, rpm_limit: 1, models: [sonnet]}}
    - {{name: signer, key: sk-bedrock-signer-test, sigv4_access_key_id: {SIGNER_ID}, sigv4_secret_access_key: {SIGNER_SECRET}, models: [sonnet]}}
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: sonnet-genai}}
  - model_name: nova-only
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/upstream-model", api_base: "$SANDBOX/v1"}}
    model_info: {{id: compat-upstream}}
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai}}
    model_info: {{id: primary-sonnet-45}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
  - model_name: shard
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai, rpm: 10}}
    model_info: {{id: shard-genai}}
  - model_name: shard
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: test, rpm: 10}}
    model_info: {{id: shard-test}}
router_settings:
  num_retries: 0
  cooldown_time: 30
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  accounts:
    - profile: genai
      account_id: '111111111111'
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
      quotas: {{"{SONNET_45}": {{rpm: 1}}}}
    - profile: test
      account_id: '222222222222'
      access_key_id: SANDBOXTESTKEY000001
      secret_access_key: sandbox-secret-test
"#,
        cert = cert.display(),
        key = key.display(),
    )
}

/// Starts the stack over HTTPS; the CA's path for the clients.
async fn start(dir: &Path) -> (Stack, String) {
    make_certificates(dir, "gw");
    let stack = Stack::start(&config(dir)).await;
    let ca = dir.join("gw-ca.pem").display().to_string();
    (stack, ca)
}

/// How the boto3 client authenticates.
enum Credentials<'a> {
    /// `AWS_BEARER_TOKEN_BEDROCK`.
    Bearer(&'a str),
    /// SigV4 with an access key id and secret.
    SigV4(&'a str, &'a str),
}

async fn boto3(stack: &Stack, ca: &str, token: &str, scenario: &str) -> Value {
    boto3_as(stack, ca, Credentials::Bearer(token), scenario).await
}

async fn boto3_as(stack: &Stack, ca: &str, credentials: Credentials<'_>, scenario: &str) -> Value {
    let auth: Vec<String> = match credentials {
        Credentials::Bearer(token) => vec!["--token".into(), token.into()],
        Credentials::SigV4(id, secret) => vec![
            "--access-key".into(),
            id.into(),
            "--secret-key".into(),
            secret.into(),
        ],
    };
    let mut args: Vec<String> = vec![
        "--endpoint".into(),
        stack.gateway.url(),
        "--ca-bundle".into(),
        ca.into(),
    ];
    args.extend(auth);
    args.extend::<[String; 4]>([
        "--model-id".into(),
        SONNET.into(),
        "--scenario".into(),
        scenario.into(),
    ]);
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        process::run_python_client("gateway_boto3.py", &args, "boto3", Duration::from_secs(120))
    })
    .await
    .unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn boto3_and_the_aws_cli_use_bedrocks_own_api_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, ca) = start(dir.path()).await;
    let out = boto3(&stack, &ca, APP_KEY, "surface").await;

    let converse = &out["converse"];
    assert!(!converse["text"].as_str().unwrap().is_empty(), "{converse}");
    assert_eq!(converse["stop_reason"], "end_turn");
    assert_eq!(converse["deployment"], "sonnet-genai");
    assert!(
        converse["usage"]["inputTokens"].as_u64().unwrap() > 0,
        "{converse}"
    );
    assert!(
        converse["usage"]["outputTokens"].as_u64().unwrap() > 0,
        "{converse}"
    );
    assert!(
        converse["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    // A deployment's model id routes through the group holding it.
    assert_eq!(out["converse_by_model_id"]["deployment"], "sonnet-genai");

    let events: Vec<&str> = out["stream_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"messageStart"), "{events:?}");
    assert_eq!(
        &events[events.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    assert!(events.contains(&"contentBlockDelta"), "{events:?}");
    assert!(!out["stream_text"].as_str().unwrap().is_empty());
    assert!(out["stream_usage"]["outputTokens"].as_u64().unwrap() > 0);

    assert_eq!(out["tool"]["stop_reason"], "tool_use", "{}", out["tool"]);
    assert_eq!(out["tool"]["names"][0], "get_weather");
    assert!(out["tool"]["inputs"][0].is_object());

    // InvokeModel: the model's own body and reply, as Claude on Bedrock writes them.
    let invoke = &out["invoke"];
    assert_eq!(invoke["body"]["type"], "message", "{invoke}");
    assert_eq!(invoke["body"]["role"], "assistant");
    assert_eq!(invoke["content_type"], "application/json");
    assert_eq!(invoke["deployment"], "sonnet-genai");
    let types: Vec<&str> = out["invoke_stream_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"message_start"), "{types:?}");
    assert_eq!(types.last(), Some(&"message_stop"), "{types:?}");
    // An Anthropic body for a group of Nova: refused, saying why.
    let refused = &out["invoke_nova"];
    assert_eq!(refused["code"], "ValidationException", "{refused}");
    assert_eq!(refused["status"], 400);
    assert!(
        refused["message"].as_str().unwrap().contains("anthropic"),
        "{refused}"
    );

    assert!(out["count_tokens"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(out["count_tokens"]["counted_by"], "bedrock");

    let unknown = &out["unknown_model"];
    assert_eq!(unknown["code"], "ValidationException", "{unknown}");
    assert_eq!(
        unknown["message"],
        "The provided model identifier is invalid."
    );
    let bad = &out["bad_body"];
    assert_eq!(bad["code"], "ValidationException", "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("messages.0.role"),
        "{bad}"
    );

    // An OpenAI-compatible upstream answers in Converse's shapes too.
    let compat = &out["compat"];
    assert_eq!(compat["deployment"], "compat-upstream", "{compat}");
    assert!(!compat["text"].as_str().unwrap().is_empty(), "{compat}");
    assert_eq!(compat["stop_reason"], "end_turn");
    assert!(
        compat["usage"]["outputTokens"].as_u64().unwrap() > 0,
        "{compat}"
    );
    let events: Vec<&str> = out["compat_stream_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"messageStart"), "{events:?}");
    assert_eq!(
        &events[events.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );

    let cli = &out["cli"];
    assert!(!cli["converse_text"].as_str().unwrap().is_empty(), "{cli}");
    assert_eq!(cli["invoke_type"], "message");
    assert_eq!(cli["count_tokens"], out["count_tokens"]["input_tokens"]);
    assert_ne!(cli["unknown_model_exit"], 0);
    assert!(
        cli["unknown_model_stderr"]
            .as_str()
            .unwrap()
            .contains("ValidationException"),
        "{cli}"
    );
    // The gateway's own key never reached the sandbox: each deployment signed with its profile.
    assert!(stack.sandbox.stats().model_calls("genai", SONNET).served >= 8);
}

#[tokio::test]
async fn a_throttled_primary_falls_back_and_an_exhausted_consumer_is_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, ca) = start(dir.path()).await;
    let out = boto3(&stack, &ca, APP_KEY, "fallback").await;
    let deployments: Vec<&str> = out["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["deployment"].as_str().unwrap())
        .collect();
    // The sandbox account allows the primary 1 RPM: the second call is throttled upstream and
    // falls back; the third goes to the backup while the primary cools down.
    assert_eq!(
        deployments,
        ["primary-sonnet-45", "backup-haiku", "backup-haiku"]
    );
    assert_eq!(
        stack
            .sandbox
            .stats()
            .model_calls("genai", SONNET_45)
            .throttled,
        1
    );

    let out = boto3(&stack, &ca, TIGHT_KEY, "throttle").await;
    assert_eq!(out["first"]["deployment"], "sonnet-genai");
    let second = &out["second"];
    assert_eq!(second["code"], "ThrottlingException", "{second}");
    assert_eq!(second["status"], 429);
    let seconds: u64 = second["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&seconds), "{second}");
}

/// The sample's account sharding inside the gateway: two deployments of one model on two
/// profiles, each at 10 RPM, share 20 calls exactly.
#[tokio::test]
async fn twenty_calls_shard_ten_per_account() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, ca) = start(dir.path()).await;
    let out = boto3(&stack, &ca, APP_KEY, "shard").await;
    let deployments = out["deployments"].as_array().unwrap();
    let on = |id: &str| deployments.iter().filter(|d| *d == id).count();
    assert_eq!((on("shard-genai"), on("shard-test")), (10, 10), "{out}");
    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", NOVA).served, 10);
    assert_eq!(stats.model_calls("test", NOVA).served, 10);
}

/// A Bedrock Runtime client of the Rust SDK with its endpoint set to `url`, signing with the
/// given key pair, retries off.
fn sdk_client(url: &str, access_key: &str, secret: &str) -> aws_sdk_bedrockruntime::Client {
    use aws_sdk_bedrockruntime::config::{
        BehaviorVersion, Credentials, Region, retry::RetryConfig,
    };
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// The Rust SDK with `endpoint_url` set to the gateway (plain HTTP, an open gateway): Converse
/// and ConverseStream through the pipeline.
#[tokio::test]
async fn the_rust_sdk_calls_the_gateway_as_it_would_bedrock() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: sonnet-genai}}
{}"#,
        crate::harness::FAST_SANDBOX
    ))
    .await;
    let client = sdk_client(
        &stack.gateway.url(),
        "AKIDRUSTSDKCLIENT001",
        "rust-sdk-secret",
    );
    let reply = client
        .converse()
        .model_id(SONNET)
        .messages(support::sandbox::user_text("Say hello."))
        .inference_config(support::sandbox::max_tokens(32))
        .send()
        .await
        .unwrap();
    let message = reply.output().unwrap().as_message().unwrap();
    assert!(matches!(&message.content()[0], ContentBlock::Text(t) if !t.is_empty()));
    assert!(reply.usage().unwrap().output_tokens() > 0);

    let mut stream = client
        .converse_stream()
        .model_id("sonnet")
        .messages(support::sandbox::user_text("Say hello."))
        .send()
        .await
        .unwrap()
        .stream;
    let mut names = Vec::new();
    while let Some(event) = stream.recv().await.unwrap() {
        names.push(match event {
            ConverseStreamOutput::MessageStart(_) => "messageStart",
            ConverseStreamOutput::ContentBlockDelta(_) => "contentBlockDelta",
            ConverseStreamOutput::ContentBlockStop(_) => "contentBlockStop",
            ConverseStreamOutput::MessageStop(_) => "messageStop",
            ConverseStreamOutput::Metadata(_) => "metadata",
            _ => "other",
        });
    }
    assert_eq!(names.first(), Some(&"messageStart"));
    assert_eq!(names.last(), Some(&"metadata"));
    // The gateway called the sandbox with its deployment's profile, not the client's.
    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", SONNET).served, 2);
    assert_eq!(stats.model_calls("test", SONNET).total(), 0);
}

/// A consumer's SigV4 key pair: boto3 signs as it would for Bedrock and is served; a wrong
/// secret is `InvalidSignatureException`, an unknown access key id
/// `UnrecognizedClientException`, both 403 with AWS's words only.
#[tokio::test]
async fn boto3_signing_with_a_consumers_sigv4_key_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (stack, ca) = start(dir.path()).await;
    let signed = Credentials::SigV4(SIGNER_ID, SIGNER_SECRET);
    let out = boto3_as(&stack, &ca, signed, "sigv4").await;
    assert_eq!(out["converse"]["deployment"], "sonnet-genai", "{out}");
    assert!(!out["converse"]["text"].as_str().unwrap().is_empty());
    let events = out["stream_events"].as_array().unwrap();
    assert_eq!(events.first().unwrap(), "messageStart");
    assert_eq!(events.last().unwrap(), "metadata");

    let wrong = Credentials::SigV4(SIGNER_ID, "not-the-signers-secret");
    let out = boto3_as(&stack, &ca, wrong, "sigv4-refused").await;
    assert_eq!(out["error"]["code"], "InvalidSignatureException", "{out}");
    assert_eq!(out["error"]["status"], 403);
    assert!(
        !out["error"]["message"]
            .as_str()
            .unwrap()
            .contains(SIGNER_SECRET)
    );
    let unknown = Credentials::SigV4("AKIANOBODYCONSUMER01", SIGNER_SECRET);
    let out = boto3_as(&stack, &ca, unknown, "sigv4-refused").await;
    assert_eq!(out["error"]["code"], "UnrecognizedClientException", "{out}");
    assert_eq!(out["error"]["status"], 403);
    // Only the signed request that verified reached an upstream.
    assert_eq!(stack.sandbox.stats().model_calls("genai", SONNET).served, 2);
}

/// The Rust SDK signing with a consumer's key pair against a gateway with keys: served as
/// that consumer (its quota counts); a wrong secret is refused with the SDK's own error code.
#[tokio::test]
async fn the_rust_sdk_signs_with_a_consumers_key_pair() {
    let stack = Stack::start(&format!(
        r#"
gateway:
  master_key: sk-bedrock-master-test
  consumers:
    - {{name: signer, key: sk-bedrock-signer-test, rpm_limit: 1, sigv4_access_key_id: {SIGNER_ID}, sigv4_secret_access_key: {SIGNER_SECRET}}}
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
{}"#,
        crate::harness::FAST_SANDBOX
    ))
    .await;
    let url = stack.gateway.url();
    let converse = |client: aws_sdk_bedrockruntime::Client| async move {
        client
            .converse()
            .model_id(SONNET)
            .messages(support::sandbox::user_text("Say hello."))
            .send()
            .await
    };
    let reply = converse(sdk_client(&url, SIGNER_ID, SIGNER_SECRET))
        .await
        .unwrap();
    assert!(reply.usage().unwrap().output_tokens() > 0);
    // The signer's own quota (1 RPM) now counts against it.
    let throttled = converse(sdk_client(&url, SIGNER_ID, SIGNER_SECRET))
        .await
        .unwrap_err();
    assert_eq!(
        throttled.into_service_error().meta().code(),
        Some("ThrottlingException")
    );
    let refused = converse(sdk_client(&url, SIGNER_ID, "wrong-secret-value"))
        .await
        .unwrap_err();
    let refused = refused.into_service_error();
    assert_eq!(refused.meta().code(), Some("InvalidSignatureException"));
    assert_eq!(stack.sandbox.stats().model_calls("genai", SONNET).served, 1);
}

/// Streams on Bedrock's routes fail over like any other until their first content event
/// (ConverseStream and InvokeModelWithResponseStream); after it, the stream ends with an
/// exception frame the SDK reads as an error, and nothing goes to the fallback.
#[tokio::test]
async fn bedrock_streams_fail_over_before_content_and_end_with_an_exception_after() {
    use crate::streaming::failing_config;
    let stack = Stack::start(&failing_config("before", "ServiceUnavailableException")).await;
    let client = sdk_client(
        &stack.gateway.url(),
        "AKIDRUSTSDKCLIENT001",
        "rust-sdk-secret",
    );
    let mut stream = client
        .converse_stream()
        .model_id("primary")
        .messages(support::sandbox::user_text("Say hello."))
        .send()
        .await
        .unwrap()
        .stream;
    let mut metadata = false;
    while let Some(event) = stream.recv().await.unwrap() {
        metadata |= matches!(event, ConverseStreamOutput::Metadata(_));
    }
    assert!(metadata, "the fallback's stream ran to its end");
    let body = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut chunks = client
        .invoke_model_with_response_stream()
        .model_id("primary")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(body))
        .send()
        .await
        .unwrap()
        .body;
    let mut types = Vec::new();
    while let Some(event) = chunks.recv().await.unwrap() {
        if let aws_sdk_bedrockruntime::types::ResponseStream::Chunk(chunk) = event {
            let data: Value = serde_json::from_slice(chunk.bytes().unwrap().as_ref()).unwrap();
            types.push(data["type"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(types.last().map(String::as_str), Some("message_stop"));
    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", SONNET).failed, 2);
    assert_eq!(stats.model_calls("genai", HAIKU).served, 2);

    let stack = Stack::start(&failing_config("mid_stream", "ModelStreamErrorException")).await;
    let client = sdk_client(
        &stack.gateway.url(),
        "AKIDRUSTSDKCLIENT001",
        "rust-sdk-secret",
    );
    let mut stream = client
        .converse_stream()
        .model_id("primary")
        .messages(support::sandbox::user_text("Say hello."))
        .send()
        .await
        .unwrap()
        .stream;
    let mut deltas = 0;
    let error = loop {
        match stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(_))) => deltas += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without its exception"),
            Err(error) => break error,
        }
    };
    assert!(deltas > 0, "content came before the failure");
    let error = error.into_service_error();
    assert!(
        error.is_service_unavailable_exception() || error.is_model_stream_error_exception(),
        "{error:?}"
    );
    assert_eq!(stack.calls(HAIKU), 0, "nothing was sent to the fallback");
}
