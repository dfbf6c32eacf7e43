//! Who calls the OpenAI-compatible route: the bearer key is matched against the accounts'
//! `openai_api_key`s; when no account has one, any caller (even without a key) is the first
//! account. OpenAI callers sign nothing, so their source Region is the default one.

use axum::http::HeaderMap;

use crate::config::sandbox::{SandboxAccount, SandboxSettings};
use crate::sandbox::auth::{Caller, DEFAULT_REGION, authorization, first_account};
use crate::sandbox::error::BedrockError;

/// The caller of `/v1/chat/completions`.
pub fn openai_caller(
    settings: &SandboxSettings,
    headers: &HeaderMap,
) -> Result<Caller, BedrockError> {
    let bearer = authorization(headers)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let keyed: Vec<&SandboxAccount> = settings
        .accounts
        .iter()
        .filter(|a| a.openai_api_key.is_some())
        .collect();
    let account = if keyed.is_empty() {
        first_account(settings)?
    } else {
        let bearer = bearer.ok_or(BedrockError::MissingAuthenticationToken)?;
        let found = keyed
            .into_iter()
            .find(|a| a.openai_api_key.as_deref() == Some(bearer));
        found.cloned().ok_or(BedrockError::UnrecognizedClient)?
    };
    Ok(Caller {
        account,
        source_region: DEFAULT_REGION.into(),
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
    fn openai_keys_select_accounts_when_configured() {
        let mut s = SandboxSettings::default();
        assert_eq!(
            openai_caller(&s, &HeaderMap::new())
                .unwrap()
                .account
                .profile,
            "genai"
        );
        s.accounts[1].openai_api_key = Some("sk-test".into());
        assert_eq!(
            openai_caller(&s, &headers("Bearer sk-test"))
                .unwrap()
                .account
                .profile,
            "test"
        );
        assert_eq!(
            openai_caller(&s, &headers("Bearer other")),
            Err(BedrockError::UnrecognizedClient)
        );
    }
}
