//! CountTokens: `POST /model/{modelId}/count-tokens` with `{"input": {"invokeModel": {"body":
//! <base64 of an InvokeModel body>}}}` or `{"input": {"converse": {…}}}`, answered with
//! `{"inputTokens": N}`. Free: no quota, no invocation log. As on Bedrock, it takes a base
//! model id (or its ARN), not an inference profile ("The provided model doesn't support
//! counting tokens.").

use serde_json::{Value, json};

use crate::sandbox::catalogue::{self, ModelFamily};
use crate::sandbox::error::BedrockError;
use crate::sandbox::request_fields::invalid;

use super::{converse, invoke_model};

/// Bedrock's refusal of a model CountTokens does not count for (inference profiles among them).
const NOT_COUNTED: &str = "The provided model doesn't support counting tokens.";

/// The reply to a CountTokens call for `model_id` with `body`.
pub fn count(model_id: &str, body: &[u8], seed: u64) -> Result<Value, BedrockError> {
    let resolved = catalogue::resolve(model_id)?;
    if resolved.profile.is_some() || resolved.model.family != ModelFamily::Anthropic {
        return Err(BedrockError::Validation(NOT_COUNTED.into()));
    }
    let request: Value =
        serde_json::from_slice(body).map_err(|_| invalid("input", "Member must not be null"))?;
    let input = request
        .get("input")
        .ok_or_else(|| invalid("input", "Member must not be null"))?;
    let prompt = match (input.get("invokeModel"), input.get("converse")) {
        (Some(invoke), None) => {
            let encoded = invoke.get("body").and_then(Value::as_str);
            let encoded = encoded
                .ok_or_else(|| invalid("input.invokeModel.body", "Member must not be null"))?;
            let raw = aws_smithy_types::base64::decode(encoded)
                .map_err(|_| invalid("input.invokeModel.body", "Member must be base64"))?;
            invoke_model::parse_request(resolved.model.family, &raw, seed, model_id)?
        }
        (None, Some(converse)) => {
            converse::parse_request(converse.to_string().as_bytes(), seed, model_id)?
        }
        _ => {
            return Err(invalid(
                "input",
                "Member must contain exactly one of invokeModel, converse",
            ));
        }
    };
    Ok(json!({ "inputTokens": prompt.input_tokens }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(body: Value) -> Vec<u8> {
        let encoded = aws_smithy_types::base64::encode(body.to_string());
        json!({"input": {"invokeModel": {"body": encoded}}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn base_claude_ids_are_counted_and_profiles_are_not() {
        let body = invoke(
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "messages": [{"role": "user", "content": "abcdefghijkl"}]}),
        );
        let counted = count("anthropic.claude-sonnet-4-6", &body, 1).unwrap();
        assert_eq!(counted, json!({"inputTokens": 3}));
        assert_eq!(
            count("us.anthropic.claude-sonnet-4-6", &body, 1),
            Err(BedrockError::Validation(NOT_COUNTED.into()))
        );
        assert!(count("anthropic.claude-sonnet-4-6", b"{}", 1).is_err());
    }
}
