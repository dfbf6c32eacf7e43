//! STS through the real `aws-sdk-sts` client: each profile's key names its own account.

use crate::support::sandbox::{self as sbx, fast_settings, start};

#[tokio::test]
async fn get_caller_identity_returns_each_profiles_account() {
    let settings = fast_settings();
    let handle = start(settings.clone()).await;
    assert!(
        settings.accounts.len() >= 2,
        "the defaults have two accounts"
    );
    for account in &settings.accounts {
        let identity = sbx::sts(&handle, &settings, &account.profile)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(identity.account(), Some(account.account_id.as_str()));
        let arn = format!(
            "arn:aws:iam::{}:user/{}",
            account.account_id, account.profile
        );
        assert_eq!(identity.arn(), Some(arn.as_str()));
        assert!(identity.user_id().unwrap().starts_with("AIDA"));
    }
    handle.shutdown().await;
}
