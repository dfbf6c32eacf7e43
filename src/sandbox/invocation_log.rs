//! The Bedrock model-invocation log: one record per call, whatever its route or outcome, in the
//! schema Bedrock writes to CloudWatch Logs (`schemaType: ModelInvocationLog`). Records go to
//! the caller's log group and become visible after the configured delivery delay, where the
//! Logs Insights queries of the demos and reports find them.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::auth::Caller;
use super::model_call::{Call, Progress};
use super::state::Sandbox;

/// One record of the Bedrock model-invocation log.
pub struct LogRecord<'a> {
    pub call: &'a Call<'a>,
    pub request_id: &'a str,
    pub progress: &'a Progress,
    /// Tokens the caller received (half the reply when a stream failed midway).
    pub output_tokens: u64,
    /// The exception name when the call failed.
    pub error: Option<&'static str>,
}

impl LogRecord<'_> {
    /// The record as the JSON event Bedrock writes.
    pub fn to_json(&self) -> Value {
        let caller = self.call.caller;
        let account_id = &caller.account.account_id;
        let source = &caller.source_region;
        let model_id = match &self.call.model {
            Ok(model) => model.log_model_id(source, account_id),
            Err(_) => self.call.model_id.to_owned(),
        };
        let mut record = json!({
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "accountId": account_id,
            "identity": { "arn": caller.principal_arn() },
            "region": source,
            "requestId": self.request_id,
            "operation": self.call.operation.name(),
            "modelId": model_id,
            "input": { "inputContentType": "application/json", "inputTokenCount": self.progress.input_tokens },
            "output": { "outputContentType": "application/json", "outputTokenCount": self.output_tokens },
        });
        if let Some(region) = &self.progress.region {
            record["inferenceRegion"] = json!(region);
        }
        if let Some(code) = self.error {
            record["errorCode"] = json!(code);
        }
        record
    }
}

impl Sandbox {
    /// Puts `event` in the caller's log group, visible once the configured log delay passed.
    pub fn write_log(&self, caller: &Caller, event: Value) {
        let visible_at = Instant::now() + self.settings.log_delay;
        let account = &caller.account;
        let timestamp_ms = chrono::Utc::now().timestamp_millis();
        self.logs.put(
            &account.account_id,
            &account.log_group,
            timestamp_ms,
            visible_at,
            event,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sandbox::SandboxSettings;
    use crate::sandbox::catalogue;
    use crate::sandbox::emulated_model::Prompt;
    use crate::sandbox::model_call::Operation;

    #[test]
    fn log_records_follow_the_invocation_log_schema() {
        let settings = SandboxSettings::default();
        let caller = Caller {
            account: settings.accounts[0].clone(),
            source_region: "us-east-1".into(),
        };
        let model_id = "us.anthropic.claude-sonnet-4-6";
        let c = Call {
            caller: &caller,
            operation: Operation::Converse,
            model_id,
            model: catalogue::resolve(model_id),
            prompt: Ok(Prompt::default()),
            streaming: false,
        };
        let progress = Progress {
            region: Some("us-east-2".into()),
            input_tokens: 10,
        };
        let record = LogRecord {
            call: &c,
            request_id: "r-1",
            progress: &progress,
            output_tokens: 7,
            error: None,
        };
        let json = record.to_json();
        assert_eq!(json["schemaType"], "ModelInvocationLog");
        assert_eq!(
            json["modelId"],
            "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            (json["region"].as_str(), json["inferenceRegion"].as_str()),
            (Some("us-east-1"), Some("us-east-2"))
        );
        assert_eq!(
            (
                json["input"]["inputTokenCount"].as_u64(),
                json["output"]["outputTokenCount"].as_u64()
            ),
            (Some(10), Some(7))
        );
        assert!(json.get("errorCode").is_none());
        let throttled = Progress {
            region: None,
            input_tokens: 10,
        };
        let record = LogRecord {
            progress: &throttled,
            error: Some("ThrottlingException"),
            ..record
        };
        let json = record.to_json();
        assert_eq!(json["errorCode"], "ThrottlingException");
        assert!(json.get("inferenceRegion").is_none());
    }
}
