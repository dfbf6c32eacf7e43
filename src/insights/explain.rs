//! Why an AWS call failed, reduced to what the user can do about it.
//!
//! Every SDK error (Bedrock Runtime, CloudWatch Logs, STS: they share `SdkError`) is first
//! classified into a [`Failure`], a pure decision over the error's credential source, error
//! code and kind; then [`Advice`] turns a failure into a sentence that names the profile,
//! Region, model or log group involved and says how to fix it.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};

/// What went wrong with one AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No credentials could be loaded (the SDK's `CredentialsNotLoaded` and friends).
    NoCredentials(String),
    /// Credentials were sent but rejected (unknown key, expired token, bad signature).
    BadCredentials(String),
    /// Not allowed: model access not enabled, or the IAM policy lacks an action.
    AccessDenied(String),
    /// The named resource (log group, model) does not exist.
    NotFound(String),
    /// Over a quota (`ThrottlingException` and its relatives).
    Throttled(String),
    /// The endpoint could not be reached (DNS, refused connection, timeout).
    Unreachable(String),
    /// Anything else, with the error code when there was one.
    Other(String),
}

impl Failure {
    /// Classifies an SDK error.
    pub fn of<E, R>(error: &SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + StdError + 'static,
        R: Debug + 'static,
    {
        let detail = chain(error);
        if has_source::<CredentialsError>(error) {
            return Failure::NoCredentials(detail);
        }
        let message = error.message().unwrap_or_default().to_string();
        match error {
            SdkError::ServiceError(_) => Failure::from_code(error.code(), message),
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                Failure::Unreachable(detail)
            }
            SdkError::ConstructionFailure(_) | SdkError::ResponseError(_) => Failure::Other(detail),
            // `SdkError` is non-exhaustive: a kind added later is reported as it is.
            unknown_kind => Failure::Other(chain(unknown_kind)),
        }
    }

    /// The failure an error code stands for (`message` is the service's own words).
    pub fn from_code(code: Option<&str>, message: String) -> Failure {
        let described = match code {
            Some(code) if message.is_empty() => code.to_string(),
            Some(code) => format!("{code}: {message}"),
            None => message,
        };
        match code {
            Some("AccessDeniedException" | "AccessDenied") => Failure::AccessDenied(described),
            Some("ResourceNotFoundException") => Failure::NotFound(described),
            Some(
                "ThrottlingException"
                | "ServiceQuotaExceededException"
                | "TooManyRequestsException"
                | "LimitExceededException",
            ) => Failure::Throttled(described),
            Some(
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "ExpiredTokenException"
                | "ExpiredToken"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "MissingAuthenticationTokenException",
            ) => Failure::BadCredentials(described),
            Some(_) | None => Failure::Other(described),
        }
    }

    /// A short reason for a per-request line (`AccessDeniedException: …`).
    pub fn reason(&self) -> &str {
        match self {
            Failure::NoCredentials(_) => "no AWS credentials",
            Failure::Unreachable(_) => "endpoint unreachable",
            Failure::BadCredentials(s)
            | Failure::AccessDenied(s)
            | Failure::NotFound(s)
            | Failure::Throttled(s)
            | Failure::Other(s) => s,
        }
    }

    /// Whether every call with the same setup would fail the same way (so a demo should stop
    /// and explain rather than report a distribution).
    pub fn is_setup_problem(&self) -> bool {
        match self {
            Failure::NoCredentials(_)
            | Failure::BadCredentials(_)
            | Failure::AccessDenied(_)
            | Failure::NotFound(_)
            | Failure::Unreachable(_) => true,
            Failure::Throttled(_) | Failure::Other(_) => false,
        }
    }
}

/// The error and its sources, each message once (`dispatch failure: io error: …`), without the
/// `Debug` dump `DisplayErrorContext` appends.
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Walks the error's source chain looking for a `T`.
fn has_source<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Who made the call, for the explanation.
#[derive(Debug, Clone, Copy)]
pub struct Advice<'a> {
    /// The AWS profile, `None` for the default credential chain.
    pub profile: Option<&'a str>,
    /// The Region called.
    pub region: &'a str,
}

impl Advice<'_> {
    fn who(&self) -> String {
        match self.profile {
            Some(p) => format!("profile {p:?}"),
            None => "the default credential chain".to_string(),
        }
    }

    fn credentials_fix(&self) -> String {
        let flag = self
            .profile
            .map(|p| format!(" --profile {p}"))
            .unwrap_or_default();
        format!(
            "run `aws configure{flag}` (or `aws sso login{flag}`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; to try everything offline, add --sandbox"
        )
    }

    /// The failure and its fix, common to every service.
    fn common(&self, failure: &Failure, service: &str) -> Option<String> {
        match failure {
            Failure::NoCredentials(detail) => Some(format!(
                "no AWS credentials found for {} ({detail}): {}",
                self.who(),
                self.credentials_fix()
            )),
            Failure::BadCredentials(detail) => Some(format!(
                "AWS rejected the credentials of {} ({detail}): refresh them ({})",
                self.who(),
                self.credentials_fix()
            )),
            Failure::Unreachable(detail) => Some(format!(
                "cannot reach the {service} endpoint in {} ({detail}): check the network and proxy (HTTPS_PROXY, NO_PROXY), the Region, and aws.endpoint_url / AWS_ENDPOINT_URL if set",
                self.region
            )),
            Failure::Throttled(detail) => Some(format!(
                "{service} throttled the call ({detail}): wait a minute or raise the quota"
            )),
            Failure::Other(detail) => Some(format!(
                "{service} call failed for {} in {}: {detail}",
                self.who(),
                self.region
            )),
            Failure::AccessDenied(_) | Failure::NotFound(_) => None,
        }
    }

    /// Explains a failed Bedrock Runtime call to `model`.
    pub fn bedrock(&self, failure: &Failure, model: &str) -> String {
        match failure {
            Failure::AccessDenied(detail) => format!(
                "access denied to model {model} in {} for {} ({detail}): enable access to the model in the Amazon Bedrock console (Model access) in this Region, and allow bedrock:InvokeModel on it in the profile's IAM policy (see iam/policy.json)",
                self.region,
                self.who()
            ),
            Failure::NotFound(detail) => format!(
                "model {model} is not available in {} ({detail}): check cris.model_id (an inference profile such as us.anthropic.claude-opus-4-6-v1) and aws.region_name",
                self.region
            ),
            other => self.common(other, "Amazon Bedrock").unwrap_or_default(),
        }
    }

    /// Explains a failed CloudWatch Logs call on `log_group`.
    pub fn logs(&self, failure: &Failure, log_group: &str) -> String {
        match failure {
            Failure::AccessDenied(detail) => format!(
                "access denied to CloudWatch Logs group {log_group} in {} for {} ({detail}): allow logs:StartQuery, logs:GetQueryResults, logs:DescribeQueries and logs:DescribeLogGroups (see iam/policy.json)",
                self.region,
                self.who()
            ),
            Failure::NotFound(detail) => format!(
                "log group {log_group} does not exist in {} for {} ({detail}): Bedrock model invocation logging must be enabled to CloudWatch Logs group {log_group} in {} (Bedrock console: Settings, Model invocation logging), or set aws.bedrock_log_group_name to the group it writes to",
                self.region,
                self.who(),
                self.region
            ),
            other => self.common(other, "CloudWatch Logs").unwrap_or_default(),
        }
    }

    /// Explains a failed STS call (used to show which account a profile is).
    pub fn sts(&self, failure: &Failure) -> String {
        match failure {
            Failure::AccessDenied(detail) | Failure::NotFound(detail) => {
                format!(
                    "STS GetCallerIdentity failed for {} ({detail}): check the profile's credentials and Region",
                    self.who()
                )
            }
            other => self.common(other, "AWS STS").unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_user_can_fix() {
        assert!(matches!(
            Failure::from_code(Some("AccessDeniedException"), "no".into()),
            Failure::AccessDenied(_)
        ));
        assert!(matches!(
            Failure::from_code(Some("ResourceNotFoundException"), String::new()),
            Failure::NotFound(_)
        ));
        assert!(matches!(
            Failure::from_code(Some("ThrottlingException"), String::new()),
            Failure::Throttled(_)
        ));
        assert!(matches!(
            Failure::from_code(Some("UnrecognizedClientException"), String::new()),
            Failure::BadCredentials(_)
        ));
        assert_eq!(
            Failure::from_code(Some("Weird"), "m".into()),
            Failure::Other("Weird: m".into())
        );
        assert_eq!(
            Failure::from_code(None, "m".into()),
            Failure::Other("m".into())
        );
    }

    #[test]
    fn advice_names_the_fix() {
        let advice = Advice {
            profile: Some("genai"),
            region: "us-east-1",
        };
        let text = advice.logs(
            &Failure::NotFound("ResourceNotFoundException".into()),
            "BedrockModelInvocation",
        );
        assert!(
            text.contains("invocation logging must be enabled"),
            "{text}"
        );
        assert!(
            text.contains("BedrockModelInvocation in us-east-1"),
            "{text}"
        );
        let text = advice.bedrock(&Failure::AccessDenied("x".into()), "us.m");
        assert!(
            text.contains("Model access") && text.contains("iam/policy.json"),
            "{text}"
        );
        let text = advice.bedrock(&Failure::NoCredentials("x".into()), "us.m");
        assert!(text.contains("aws configure --profile genai"), "{text}");
        assert!(!Failure::Throttled(String::new()).is_setup_problem());
        assert!(Failure::Unreachable(String::new()).is_setup_problem());
    }
}
