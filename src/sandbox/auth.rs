//! Who is calling an AWS API: the account behind a request.
//!
//! AWS clients sign with SigV4; the access key id and the source Region are read from the
//! credential scope of `Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/…`
//! (the signature itself is not checked). Bedrock API keys (`Authorization: Bearer …`) select
//! the first account. Every AWS service here (Bedrock Runtime, CloudWatch Logs, STS) reads its
//! caller this way; the OpenAI route's keys are its own (`openai::api_keys`).

use axum::http::HeaderMap;

use crate::config::sandbox::{SandboxAccount, SandboxSettings};

use super::error::BedrockError;

/// The Region assumed when the request does not carry one (Bearer-token calls).
pub const DEFAULT_REGION: &str = "us-east-1";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub account: SandboxAccount,
    /// The Region the client signed for: the source Region of cross-Region inference.
    pub source_region: String,
}

impl Caller {
    /// The caller's IAM identity ARN.
    pub fn principal_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:user/{}",
            self.account.account_id, self.account.profile
        )
    }
}

/// The access key id and Region of a SigV4 `Authorization` header value.
pub fn parse_sigv4(authorization: &str) -> Option<(&str, &str)> {
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let key = scope.next().filter(|k| !k.is_empty())?;
    let _date = scope.next()?;
    let region = scope.next().filter(|r| !r.is_empty())?;
    Some((key, region))
}

/// The trimmed `Authorization` header, if it is text.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The first configured account: the one a bare bearer token selects.
pub fn first_account(settings: &SandboxSettings) -> Result<SandboxAccount, BedrockError> {
    settings
        .accounts
        .first()
        .cloned()
        .ok_or(BedrockError::UnrecognizedClient)
}

/// The caller of an AWS API request (SigV4 or a Bedrock API key).
pub fn aws_caller(settings: &SandboxSettings, headers: &HeaderMap) -> Result<Caller, BedrockError> {
    let value = authorization(headers).ok_or(BedrockError::MissingAuthenticationToken)?;
    if value.starts_with("Bearer ") {
        return Ok(Caller {
            account: first_account(settings)?,
            source_region: DEFAULT_REGION.into(),
        });
    }
    let (key, region) = parse_sigv4(value).ok_or(BedrockError::MissingAuthenticationToken)?;
    let account = settings
        .accounts
        .iter()
        .find(|a| a.access_key_id == key)
        .ok_or(BedrockError::UnrecognizedClient)?;
    Ok(Caller {
        account: account.clone(),
        source_region: region.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", value.parse().unwrap());
        h
    }

    #[test]
    fn sigv4_scope_names_the_key_and_region() {
        let v = "AWS4-HMAC-SHA256 Credential=SANDBOXTESTKEY000001/20250101/us-west-2/bedrock/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(parse_sigv4(v), Some(("SANDBOXTESTKEY000001", "us-west-2")));
        let caller = aws_caller(&SandboxSettings::default(), &headers(v)).unwrap();
        assert_eq!(
            (
                caller.account.profile.as_str(),
                caller.source_region.as_str()
            ),
            ("test", "us-west-2")
        );
    }

    #[test]
    fn unknown_and_missing_credentials_are_rejected() {
        let s = SandboxSettings::default();
        let v =
            "AWS4-HMAC-SHA256 Credential=NOPE/20250101/us-east-1/bedrock/aws4_request, Signature=x";
        assert_eq!(
            aws_caller(&s, &headers(v)),
            Err(BedrockError::UnrecognizedClient)
        );
        assert_eq!(
            aws_caller(&s, &HeaderMap::new()),
            Err(BedrockError::MissingAuthenticationToken)
        );
        assert_eq!(
            aws_caller(&s, &headers("Bearer abc"))
                .unwrap()
                .account
                .profile,
            "genai"
        );
    }
}
