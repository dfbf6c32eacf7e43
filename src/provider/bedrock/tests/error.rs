//! The error mapping table: every SDK error kind to its `ProviderError`.

use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::{
    AccessDeniedException, ConverseStreamOutputError, InternalServerException, ModelErrorException,
    ModelNotReadyException, ModelStreamErrorException, ModelTimeoutException,
    ResourceNotFoundException, ServiceUnavailableException, ThrottlingException,
    ValidationException,
};

use crate::provider::ProviderError;
use crate::provider::bedrock::*;

fn throttled() -> ThrottlingException {
    ThrottlingException::builder()
        .message("Too many requests")
        .build()
}

#[test]
fn converse_errors_map_by_meaning() {
    let service =
        |e: ConverseError| convert_error(SdkError::service_error(e, ()), Some(400), converse_fault);
    type Expectation = fn(&ProviderError) -> bool;
    let cases: Vec<(ConverseError, Expectation)> = vec![
        (
            ConverseError::ThrottlingException(throttled()),
            |e| matches!(e, ProviderError::RateLimited { retry_after: None, message } if message.ends_with("Too many requests")),
        ),
        (
            ConverseError::ModelNotReadyException(
                ModelNotReadyException::builder().message("warming").build(),
            ),
            |e| matches!(e, ProviderError::RateLimited { .. }),
        ),
        (
            ConverseError::ServiceUnavailableException(
                ServiceUnavailableException::builder()
                    .message("down")
                    .build(),
            ),
            |e| matches!(e, ProviderError::Unavailable { .. }),
        ),
        (
            ConverseError::InternalServerException(
                InternalServerException::builder().message("oops").build(),
            ),
            |e| matches!(e, ProviderError::Unavailable { .. }),
        ),
        (
            ConverseError::ModelTimeoutException(
                ModelTimeoutException::builder().message("slow").build(),
            ),
            |e| matches!(e, ProviderError::Timeout { .. }),
        ),
        (
            ConverseError::ValidationException(
                ValidationException::builder().message("bad field").build(),
            ),
            |e| matches!(e, ProviderError::BadRequest { param: None, message } if message.ends_with("bad field")),
        ),
        (
            ConverseError::ValidationException(
                ValidationException::builder()
                    .message("Input is too long for requested model.")
                    .build(),
            ),
            |e| matches!(e, ProviderError::ContextWindowExceeded { .. }),
        ),
        (
            ConverseError::AccessDeniedException(
                AccessDeniedException::builder().message("no").build(),
            ),
            |e| matches!(e, ProviderError::AccessDenied { .. }),
        ),
        (
            ConverseError::ResourceNotFoundException(
                ResourceNotFoundException::builder().message("gone").build(),
            ),
            |e| matches!(e, ProviderError::NotFound { .. }),
        ),
        (
            ConverseError::ModelErrorException(
                ModelErrorException::builder()
                    .message("model failed")
                    .build(),
            ),
            |e| matches!(e, ProviderError::Upstream { .. }),
        ),
    ];
    for (error, expected) in cases {
        let debug = format!("{error:?}");
        let converted = service(error);
        assert!(expected(&converted), "{debug} → {converted:?}");
    }
}

#[test]
fn unmodelled_errors_map_by_code_then_status() {
    let generic = |code: Option<&str>, status: u16| {
        let mut meta = aws_sdk_bedrockruntime::error::ErrorMetadata::builder().message("m");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        convert_error(
            SdkError::service_error(ConverseError::generic(meta.build()), ()),
            Some(status),
            converse_fault,
        )
    };
    assert!(matches!(
        generic(Some("ThrottlingException"), 400),
        ProviderError::RateLimited { .. }
    ));
    assert!(
        matches!(
            generic(Some("ServiceQuotaExceededException"), 400),
            ProviderError::RateLimited { .. }
        ),
        "a spent account quota moves traffic elsewhere"
    );
    assert!(
        matches!(generic(None, 429), ProviderError::RateLimited { .. }),
        "429 without x-amzn-errortype"
    );
    assert!(matches!(
        generic(None, 502),
        ProviderError::Unavailable { .. }
    ));
    assert!(matches!(generic(None, 504), ProviderError::Timeout { .. }));
    assert!(matches!(
        generic(None, 403),
        ProviderError::AccessDenied { .. }
    ));
    assert!(matches!(generic(None, 404), ProviderError::NotFound { .. }));
    assert!(matches!(generic(None, 302), ProviderError::Upstream { .. }));
}

#[test]
fn transport_errors_map_to_timeout_unavailable_or_upstream() {
    use aws_sdk_bedrockruntime::error::ConnectorError;
    let convert = |e: SdkError<ConverseError, ()>| convert_error(e, None, converse_fault);
    assert!(matches!(
        convert(SdkError::timeout_error("operation timeout")),
        ProviderError::Timeout { .. }
    ));
    assert!(matches!(
        convert(SdkError::dispatch_failure(ConnectorError::timeout(
            "read".into()
        ))),
        ProviderError::Timeout { .. }
    ));
    assert!(matches!(
        convert(SdkError::dispatch_failure(ConnectorError::io(
            "refused".into()
        ))),
        ProviderError::Unavailable { .. }
    ));
    assert!(matches!(
        convert(SdkError::construction_failure("no credentials")),
        ProviderError::Upstream { .. }
    ));
    assert!(matches!(
        convert(SdkError::response_error("garbled", ())),
        ProviderError::Upstream { .. }
    ));
}

#[test]
fn stream_errors_map_like_call_errors() {
    let before = |e: ConverseStreamError| {
        convert_error(
            SdkError::service_error(e, ()),
            Some(400),
            converse_stream_fault,
        )
    };
    assert!(matches!(
        before(ConverseStreamError::ThrottlingException(throttled())),
        ProviderError::RateLimited { .. }
    ));
    assert!(matches!(
        before(ConverseStreamError::ModelStreamErrorException(
            ModelStreamErrorException::builder().message("x").build()
        )),
        ProviderError::Unavailable { .. }
    ));
    let during =
        |e: ConverseStreamOutputError| convert_stream_event_error(SdkError::service_error(e, ()));
    assert!(matches!(
        during(ConverseStreamOutputError::ThrottlingException(throttled())),
        ProviderError::RateLimited { .. }
    ));
    assert!(matches!(
        during(ConverseStreamOutputError::ModelStreamErrorException(
            ModelStreamErrorException::builder().message("x").build()
        )),
        ProviderError::Unavailable { .. }
    ));
    assert!(matches!(
        during(ConverseStreamOutputError::ServiceUnavailableException(
            ServiceUnavailableException::builder().build()
        )),
        ProviderError::Unavailable { .. }
    ));
    assert!(matches!(
        during(ConverseStreamOutputError::InternalServerException(
            InternalServerException::builder().build()
        )),
        ProviderError::Unavailable { .. }
    ));
    assert!(matches!(
        during(ConverseStreamOutputError::ValidationException(
            ValidationException::builder()
                .message("prompt is too long")
                .build()
        )),
        ProviderError::ContextWindowExceeded { .. }
    ));
}

#[test]
fn typed_helpers_read_the_http_status() {
    use aws_sdk_bedrockruntime::config::http::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    let raw = HttpResponse::new(http::StatusCode::TOO_MANY_REQUESTS.into(), SdkBody::empty());
    let unhandled =
        ConverseError::generic(aws_sdk_bedrockruntime::error::ErrorMetadata::builder().build());
    assert!(matches!(
        convert_converse_error(SdkError::service_error(unhandled, raw)),
        ProviderError::RateLimited { .. }
    ));
}

#[test]
fn the_service_message_is_kept_as_parsed() {
    // The SDK's deserialiser fills the error metadata; the message then comes through bare.
    let meta = aws_sdk_bedrockruntime::error::ErrorMetadata::builder()
        .code("ThrottlingException")
        .message("Too many tokens, please wait")
        .build();
    let error = ConverseError::ThrottlingException(
        ThrottlingException::builder()
            .message("Too many tokens, please wait")
            .meta(meta)
            .build(),
    );
    let converted = convert_error(
        SdkError::service_error(error, ()),
        Some(429),
        converse_fault,
    );
    assert_eq!(
        converted,
        ProviderError::RateLimited {
            retry_after: None,
            message: "Too many tokens, please wait".into()
        }
    );
}

#[test]
fn refusals_of_the_model_id_are_misconfigurations_not_bad_requests() {
    let invalid = "The provided model identifier is invalid.";
    let on_demand = "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.";
    for message in [invalid, on_demand] {
        let error = convert_fault(Fault::Validation, message);
        assert!(
            matches!(&error, ProviderError::Misconfigured { message: m } if m == message),
            "{error:?}"
        );
        assert!(error.is_misconfiguration());
        assert_eq!(error.status().as_u16(), 502);
    }
    let client_fault = convert_fault(Fault::Validation, "messages.0.content.0.text is blank");
    assert!(matches!(client_fault, ProviderError::BadRequest { .. }));
}

#[test]
fn missing_credentials_are_access_denied_not_an_upstream_fault() {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_bedrockruntime::error::ConnectorError;
    let failed = |credentials: CredentialsError| {
        let error: SdkError<ConverseError, ()> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(credentials), None));
        convert_error(error, None, converse_fault)
    };
    let missing = failed(CredentialsError::not_loaded("no profile named `prod`"));
    assert!(
        matches!(&missing, ProviderError::AccessDenied { .. }),
        "{missing:?}"
    );
    assert!(missing.is_misconfiguration());
    let slow = failed(CredentialsError::provider_timed_out(
        std::time::Duration::from_secs(5),
    ));
    assert!(matches!(slow, ProviderError::Upstream { .. }), "{slow:?}");
}

#[test]
fn validation_errors_name_the_client_s_field() {
    let cases = [
        (
            "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
            Some("max_tokens"),
        ),
        (
            "1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: Map value must satisfy constraint",
            Some("metadata"),
        ),
        (
            "Malformed input request: #/dimensions: 300 is not a valid enum value, please reformat your input and try again.",
            Some("dimensions"),
        ),
        (
            "The model returned the following errors: top_k: Extra inputs are not permitted",
            Some("top_k"),
        ),
        (
            "The model returned the following errors: output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
            Some("response_format"),
        ),
        (
            "The maximum tokens you requested exceeds the model limit of 64000. Try again with a maximum tokens value that is lower than 64000.",
            Some("max_tokens"),
        ),
        ("Something else went wrong.", None),
    ];
    for (message, param) in cases {
        assert_eq!(validation_param(message), param, "{message}");
    }
    let error = convert_fault(Fault::Validation, cases[0].0);
    assert_eq!(error.param(), Some("max_tokens"));
}
