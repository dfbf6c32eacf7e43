//! Bedrock Runtime SDK errors → [`ProviderError`].
//!
//! Each operation has its own error enum (Converse, ConverseStream, and the events of a
//! stream); each is first reduced to a [`Fault`] (what the service said), then one table
//! turns a fault into a provider error. The SDK enums are `#[non_exhaustive]`, so each match
//! ends in a named arm for unmodelled errors that classifies them by their error code and,
//! failing that, by HTTP status: a 429 without `x-amzn-errortype` is still throttling.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;

use crate::provider::ProviderError;

/// What the service said went wrong, across the three error enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttling,
    ModelNotReady,
    ServiceUnavailable,
    InternalServer,
    ModelStreamError,
    ModelTimeout,
    Validation,
    AccessDenied,
    ResourceNotFound,
    ModelError,
    /// An error the SDK does not model, with the HTTP status when there was one.
    Unmodelled(Option<u16>),
}

impl Fault {
    /// The fault for an error code the SDK did not turn into a typed variant.
    pub fn from_code(code: Option<&str>, status: Option<u16>) -> Fault {
        match code {
            // The account's quota for the model is spent (HTTP 400): like a throttle, the
            // deployment cools down and traffic moves to one with capacity.
            Some("ThrottlingException" | "ServiceQuotaExceededException") => Fault::Throttling,
            Some("ModelNotReadyException") => Fault::ModelNotReady,
            Some("ServiceUnavailableException") => Fault::ServiceUnavailable,
            Some("InternalServerException") => Fault::InternalServer,
            Some("ModelStreamErrorException") => Fault::ModelStreamError,
            Some("ModelTimeoutException") => Fault::ModelTimeout,
            Some("ValidationException") => Fault::Validation,
            Some("AccessDeniedException") => Fault::AccessDenied,
            Some("ResourceNotFoundException") => Fault::ResourceNotFound,
            Some("ModelErrorException") => Fault::ModelError,
            Some(_) | None => Fault::Unmodelled(status),
        }
    }
}

/// The fault of a Converse error.
pub fn converse_fault(error: &ConverseError, status: Option<u16>) -> Fault {
    match error {
        ConverseError::ThrottlingException(_) => Fault::Throttling,
        ConverseError::ModelNotReadyException(_) => Fault::ModelNotReady,
        ConverseError::ServiceUnavailableException(_) => Fault::ServiceUnavailable,
        ConverseError::InternalServerException(_) => Fault::InternalServer,
        ConverseError::ModelTimeoutException(_) => Fault::ModelTimeout,
        ConverseError::ValidationException(_) => Fault::Validation,
        ConverseError::AccessDeniedException(_) => Fault::AccessDenied,
        ConverseError::ResourceNotFoundException(_) => Fault::ResourceNotFound,
        ConverseError::ModelErrorException(_) => Fault::ModelError,
        unmodelled => Fault::from_code(unmodelled.code(), status),
    }
}

/// The fault of a ConverseStream error (before the stream started).
pub fn converse_stream_fault(error: &ConverseStreamError, status: Option<u16>) -> Fault {
    match error {
        ConverseStreamError::ThrottlingException(_) => Fault::Throttling,
        ConverseStreamError::ModelNotReadyException(_) => Fault::ModelNotReady,
        ConverseStreamError::ServiceUnavailableException(_) => Fault::ServiceUnavailable,
        ConverseStreamError::InternalServerException(_) => Fault::InternalServer,
        ConverseStreamError::ModelStreamErrorException(_) => Fault::ModelStreamError,
        ConverseStreamError::ModelTimeoutException(_) => Fault::ModelTimeout,
        ConverseStreamError::ValidationException(_) => Fault::Validation,
        ConverseStreamError::AccessDeniedException(_) => Fault::AccessDenied,
        ConverseStreamError::ResourceNotFoundException(_) => Fault::ResourceNotFound,
        ConverseStreamError::ModelErrorException(_) => Fault::ModelError,
        unmodelled => Fault::from_code(unmodelled.code(), status),
    }
}

/// The fault of an exception event inside a stream.
pub fn stream_event_fault(error: &ConverseStreamOutputError, status: Option<u16>) -> Fault {
    match error {
        ConverseStreamOutputError::ThrottlingException(_) => Fault::Throttling,
        ConverseStreamOutputError::ServiceUnavailableException(_) => Fault::ServiceUnavailable,
        ConverseStreamOutputError::InternalServerException(_) => Fault::InternalServer,
        ConverseStreamOutputError::ModelStreamErrorException(_) => Fault::ModelStreamError,
        ConverseStreamOutputError::ValidationException(_) => Fault::Validation,
        unmodelled => Fault::from_code(unmodelled.code(), status),
    }
}

/// The provider error for a fault, given the service's message.
pub fn convert_fault(fault: Fault, message: &str) -> ProviderError {
    let message = message.to_owned();
    match fault {
        Fault::Throttling | Fault::ModelNotReady => ProviderError::RateLimited {
            retry_after: None,
            message,
        },
        Fault::ServiceUnavailable | Fault::InternalServer | Fault::ModelStreamError => {
            ProviderError::Unavailable {
                message,
                retry_after: None,
            }
        }
        Fault::ModelTimeout => ProviderError::Timeout { message },
        Fault::Validation if is_context_window_message(&message) => {
            ProviderError::ContextWindowExceeded { message }
        }
        Fault::Validation if is_model_id_refusal(&message) => {
            ProviderError::Misconfigured { message }
        }
        Fault::Validation => ProviderError::BadRequest {
            param: validation_param(&message).map(str::to_owned),
            message,
        },
        Fault::AccessDenied => ProviderError::AccessDenied { message },
        Fault::ResourceNotFound => ProviderError::NotFound { message },
        Fault::ModelError => ProviderError::Upstream { message },
        Fault::Unmodelled(status) => convert_unmodelled_status(status, message),
    }
}

fn convert_unmodelled_status(status: Option<u16>, message: String) -> ProviderError {
    match status {
        Some(429) => ProviderError::RateLimited {
            retry_after: None,
            message,
        },
        Some(408 | 504) => ProviderError::Timeout { message },
        Some(500..=599) => ProviderError::Unavailable {
            message,
            retry_after: None,
        },
        Some(400 | 413 | 422) if is_context_window_message(&message) => {
            ProviderError::ContextWindowExceeded { message }
        }
        Some(400 | 413 | 422) => ProviderError::BadRequest {
            param: None,
            message,
        },
        Some(401 | 403) => ProviderError::AccessDenied { message },
        Some(404) => ProviderError::NotFound { message },
        Some(_) | None => ProviderError::Upstream { message },
    }
}

/// The client's request field a Bedrock ValidationException is about, in OpenAI's names:
/// Bedrock names its own paths (`Value at 'inferenceConfig.maxTokens'`, `#/dimensions`), a
/// Claude model its body's (`The model returned the following errors: top_k: …`), and some
/// refusals only say it in words (the output limit). `None` when nothing names a field.
pub fn validation_param(message: &str) -> Option<&'static str> {
    const BY_PATH: &[(&str, &str)] = &[
        ("inferenceConfig.maxTokens", "max_tokens"),
        ("inferenceConfig.temperature", "temperature"),
        ("inferenceConfig.topP", "top_p"),
        ("inferenceConfig.stopSequences", "stop"),
        ("toolConfig", "tools"),
        ("messages", "messages"),
        ("system", "messages"),
        ("requestMetadata", "metadata"),
        ("serviceTier", "service_tier"),
        ("outputConfig", "response_format"),
        ("#/dimensions", "dimensions"),
        ("#/output_dimension", "dimensions"),
        ("#/inputText", "input"),
        ("#/texts", "input"),
    ];
    const BY_FIELD: &[(&str, &str)] = &[
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("stop_sequences", "stop"),
        ("tools", "tools"),
        ("tool_choice", "tool_choice"),
        ("messages", "messages"),
        ("system", "messages"),
        ("thinking", "reasoning_effort"),
        ("output_config.format", "response_format"),
        ("output_config.effort", "reasoning_effort"),
    ];
    let starts = |path: &str, table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .map(|(_, param)| *param)
    };
    if let Some(rest) = message.split("Value at '").nth(1) {
        return starts(rest.split('\'').next()?, BY_PATH);
    }
    if let Some(at) = message.find("#/") {
        return starts(&message[at..], BY_PATH);
    }
    if let Some(rest) = message
        .split("The model returned the following errors: ")
        .nth(1)
    {
        return starts(rest.split(':').next()?, BY_FIELD);
    }
    message
        .contains("maximum tokens you requested")
        .then_some("max_tokens")
}

/// Whether a validation message says the prompt does not fit the model's context window.
/// Bedrock has no dedicated error code for it; these are the phrasings its models use.
pub fn is_context_window_message(message: &str) -> bool {
    const PHRASES: [&str; 8] = [
        "input is too long",
        "too many input tokens",
        "prompt is too long",
        "context length",
        "context window",
        "maximum context",
        "too many tokens",
        "input length",
    ];
    let lower = message.to_ascii_lowercase();
    PHRASES.iter().any(|p| lower.contains(p))
}

/// Whether a validation message refuses the model id itself, which comes from the deployment's
/// config, not the client: an id Bedrock does not know ("The provided model identifier is
/// invalid.") or a base id it serves on demand only through an inference profile ("Invocation
/// of model ID … with on-demand throughput isn't supported. Retry your request with the ID or
/// ARN of an inference profile that contains this model.").
pub fn is_model_id_refusal(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("model identifier is invalid")
        || (lower.contains("on-demand throughput") && lower.contains("inference profile"))
}

/// Converts any SDK error of a Bedrock call. `fault` classifies the service error itself;
/// `status` is the HTTP status of the reply, when there was a reply.
pub fn convert_error<E, R>(
    error: SdkError<E, R>,
    status: Option<u16>,
    fault: impl FnOnce(&E, Option<u16>) -> Fault,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(service) => {
            let source = service.err();
            let message = source
                .message()
                .map_or_else(|| source.to_string(), str::to_owned);
            convert_fault(fault(source, status), &message)
        }
        SdkError::TimeoutError(_) => ProviderError::Timeout {
            message: describe(&error),
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => ProviderError::Timeout {
            message: describe(&error),
        },
        // No usable credentials for the deployment's profile: only its config can fix that.
        SdkError::DispatchFailure(failure)
            if failure
                .as_connector_error()
                .is_some_and(|e| lacks_credentials(e)) =>
        {
            ProviderError::AccessDenied {
                message: describe(&error),
            }
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => ProviderError::Unavailable {
            message: describe(&error),
            retry_after: None,
        },
        // Unreadable replies, requests that could not be built or sent (no credentials,
        // bad endpoint) and error kinds newer than this SDK: the upstream path is broken.
        SdkError::DispatchFailure(_)
        | SdkError::ResponseError(_)
        | SdkError::ConstructionFailure(_) => ProviderError::Upstream {
            message: describe(&error),
        },
        newer => ProviderError::Upstream {
            message: describe(newer),
        },
    }
}

/// Whether the call failed because the credential chain found no credentials, or found a
/// configuration it cannot use (a missing profile, a bad `credential_process`). A provider
/// that timed out or failed for a passing reason is not this: that may succeed on a retry.
pub fn lacks_credentials(error: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
            return matches!(
                credentials,
                CredentialsError::CredentialsNotLoaded(_)
                    | CredentialsError::InvalidConfiguration(_)
            );
        }
        current = e.source();
    }
    false
}

fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    aws_sdk_bedrockruntime::error::DisplayErrorContext(error).to_string()
}

/// Converts a Converse call's error.
pub fn convert_converse_error(error: SdkError<ConverseError>) -> ProviderError {
    let status = error.raw_response().map(|r| r.status().as_u16());
    convert_error(error, status, converse_fault)
}

/// Converts a ConverseStream call's error (before the first event).
pub fn convert_converse_stream_error(error: SdkError<ConverseStreamError>) -> ProviderError {
    let status = error.raw_response().map(|r| r.status().as_u16());
    convert_error(error, status, converse_stream_fault)
}

/// Converts an error met while reading a stream's events.
pub fn convert_stream_event_error<R: std::fmt::Debug>(
    error: SdkError<ConverseStreamOutputError, R>,
) -> ProviderError {
    convert_error(error, None, stream_event_fault)
}
