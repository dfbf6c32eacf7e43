//! The deployment's AWS credentials for direct calls: its SDK provider chain asked once, then
//! again shortly before the credentials expire (as the SDK's own identity cache does: five
//! minutes before expiry, and every fifteen minutes for credentials without one).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::provider::ProviderError;

/// How long before their expiry credentials are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// How long credentials without an expiry are kept.
const KEEP_WITHOUT_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// A credential provider behind a cache.
#[derive(Debug)]
pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Credentials, SystemTime)>>,
}

impl CredentialCache {
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        CredentialCache {
            provider,
            cached: Mutex::new(None),
        }
    }

    /// Credentials valid at `now`: the cached ones until their refresh time, else the
    /// provider's (two calls that miss at once may both ask it; the later answer is kept).
    pub async fn get(&self, now: SystemTime) -> Result<Credentials, ProviderError> {
        if let Some((credentials, refresh)) = self.lock().as_ref()
            && now < *refresh
        {
            return Ok(credentials.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(convert_credentials_error)?;
        let refresh = refresh_at(credentials.expiry(), now);
        *self.lock() = Some((credentials.clone(), refresh));
        Ok(credentials)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Credentials, SystemTime)>> {
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// When credentials fetched at `fetched` with `expiry` are fetched again.
pub fn refresh_at(expiry: Option<SystemTime>, fetched: SystemTime) -> SystemTime {
    match expiry {
        Some(expiry) => expiry
            .checked_sub(REFRESH_BEFORE_EXPIRY)
            .unwrap_or(fetched)
            .max(fetched),
        None => fetched + KEEP_WITHOUT_EXPIRY,
    }
}

/// No credentials (none found, or a configuration the chain cannot use) is access denied,
/// as on the SDK's path; a provider that failed for a passing reason may succeed later.
fn convert_credentials_error(error: CredentialsError) -> ProviderError {
    let message = format!(
        "no AWS credentials for the call: {}",
        aws_sdk_bedrockruntime::error::DisplayErrorContext(&error)
    );
    match error {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            ProviderError::AccessDenied { message }
        }
        _ => ProviderError::Unavailable {
            message,
            retry_after: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn credentials_are_fetched_again_five_minutes_before_expiry_or_every_fifteen() {
        assert_eq!(refresh_at(Some(at(10_000)), at(1_000)), at(10_000 - 300));
        // Already within five minutes of expiry: due at once.
        assert_eq!(refresh_at(Some(at(1_100)), at(1_000)), at(1_000));
        assert_eq!(refresh_at(None, at(1_000)), at(1_000 + 900));
    }

    /// Counts its calls; each answer expires at the given time.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        expiry: SystemTime,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                Some("token".into()),
                Some(self.expiry),
                "test",
            )))
        }
    }

    #[tokio::test]
    async fn the_cache_asks_the_provider_again_only_when_due() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = CredentialCache::new(SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            expiry: at(4_000),
        }));
        assert_eq!(cache.get(at(1_000)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(cache.get(at(3_699)).await.unwrap().access_key_id(), "AKID0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(at(3_700)).await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[derive(Debug)]
    struct Missing;

    impl ProvideCredentials for Missing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no profile"),
            ))
        }
    }

    #[tokio::test]
    async fn no_credentials_is_access_denied() {
        let cache = CredentialCache::new(SharedCredentialsProvider::new(Missing));
        assert!(matches!(
            cache.get(at(0)).await,
            Err(ProviderError::AccessDenied { message }) if message.contains("no AWS credentials")
        ));
    }
}
