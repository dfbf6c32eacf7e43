//! Injected faults as the SDK sees them: an error before the answer for one profile only, and
//! an exception frame in the middle of a ConverseStream.

use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use resilient_llm::config::sandbox::{FaultKind, FaultPhase, FaultRule};

use super::SONNET;
use crate::support::sandbox::{self as sbx, fast_settings, user_text};

fn always(error: FaultKind, phase: FaultPhase) -> FaultRule {
    FaultRule {
        error,
        rate: 1.0,
        model: None,
        region: None,
        profile: None,
        phase,
    }
}

#[tokio::test]
async fn faults_strike_only_the_calls_they_match() {
    let mut settings = fast_settings();
    let rule = FaultRule {
        profile: Some("test".into()),
        ..always(FaultKind::InternalServer, FaultPhase::Before)
    };
    settings.faults = vec![rule];
    let handle = sbx::start(settings.clone()).await;
    let test = sbx::bedrock(&handle, &settings, "test");
    let err = test
        .converse()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_internal_server_exception(),
        "{err:?}"
    );
    let genai = sbx::bedrock(&handle, &settings, "genai");
    genai
        .converse()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(handle.stats().accounts["test"].calls.failed, 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn mid_stream_faults_arrive_as_typed_stream_errors() {
    let mut settings = fast_settings();
    settings.faults = vec![always(FaultKind::ModelStreamError, FaultPhase::MidStream)];
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let out = client
        .converse_stream()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut deltas = 0;
    let error = loop {
        match stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(_))) => deltas += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without the injected error"),
            Err(error) => break error,
        }
    };
    assert!(
        deltas > 0,
        "the fault should strike mid-stream, after some text"
    );
    let service = error.into_service_error();
    assert!(
        matches!(
            service,
            ConverseStreamOutputError::ModelStreamErrorException(_)
        ),
        "{service:?}"
    );
    handle.shutdown().await;
}
