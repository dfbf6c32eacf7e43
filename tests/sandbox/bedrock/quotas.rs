//! Quotas per account and model id (an id and its ARN share one): ThrottlingException as the
//! typed SDK error, only for the account that spent its quota.

use resilient_llm::config::sandbox::Quota;

use super::{HAIKU, SONNET};
use crate::support::sandbox::{self as sbx, fast_settings, user_text};

#[tokio::test]
async fn throttling_hits_only_the_account_that_spent_its_quota() {
    let settings = sbx::with_model_quota(fast_settings(), HAIKU, Quota::per_minute(3, 1_000_000));
    let handle = sbx::start(settings.clone()).await;
    let genai = sbx::bedrock(&handle, &settings, "genai");
    let test = sbx::bedrock(&handle, &settings, "test");
    for _ in 0..3 {
        genai
            .converse()
            .model_id(HAIKU)
            .messages(user_text("hi"))
            .send()
            .await
            .unwrap();
    }
    let err = genai
        .converse()
        .model_id(HAIKU)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_throttling_exception(),
        "{err:?}"
    );
    for _ in 0..3 {
        test.converse()
            .model_id(HAIKU)
            .messages(user_text("hi"))
            .send()
            .await
            .unwrap();
    }
    // The same profile named by its ARN shares the spent quota.
    let arn = format!("arn:aws:bedrock:us-east-1:111111111111:inference-profile/{HAIKU}");
    let err = genai
        .converse()
        .model_id(&arn)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_throttling_exception(),
        "{err:?}"
    );
    // Another model id has its own quota.
    genai
        .converse()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap();
    let stats = handle.stats();
    assert_eq!(
        (
            stats.model_calls("genai", HAIKU).served,
            stats.model_calls("genai", HAIKU).throttled
        ),
        (3, 1)
    );
    assert_eq!(
        (
            stats.model_calls("test", HAIKU).served,
            stats.model_calls("test", HAIKU).throttled
        ),
        (3, 0)
    );
    handle.shutdown().await;
}
