//! Checks of single values shared by every section: ports, Regions, profiles, URLs, keys and
//! durations.

use std::time::Duration;

use crate::config::error::Invalid;
use crate::config::model::Secret;
use crate::config::raw::PortValue;

pub(super) fn checked_port(value: &PortValue, path: &str) -> Result<u16, Invalid> {
    let number = match value {
        PortValue::Number(n) => *n,
        PortValue::Text(t) => t
            .trim()
            .parse::<i64>()
            .map_err(|_| Invalid::new(path, format!("expected a port number, found {t:?}")))?,
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| Invalid::new(path, format!("port {number} is out of range (1-65535)")))
}

pub(super) fn checked_region(region: &str, path: &str) -> Result<String, Invalid> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if well_formed {
        Ok(region.to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{region:?} is not an AWS Region name (like us-east-1)"),
        ))
    }
}

pub(super) fn checked_profile(profile: &str, path: &str) -> Result<String, Invalid> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.+@=,/".contains(&b));
    if ok {
        Ok(profile.to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{profile:?} is not a valid AWS profile name"),
        ))
    }
}

pub(super) fn checked_url(url: &str, path: &str) -> Result<String, Invalid> {
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{url:?} is not an http:// or https:// URL"),
        ))
    }
}

pub(super) fn checked_key(key: &str, path: &str) -> Result<Secret, Invalid> {
    if key.trim().len() < 8 {
        return Err(Invalid::new(path, "keys must be at least 8 characters"));
    }
    Ok(Secret::new(key))
}

pub(super) fn seconds(value: f64, path: &str) -> Result<Duration, Invalid> {
    if value.is_finite() && (0.0..=86_400.0).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Invalid::new(
            path,
            format!("expected seconds between 0 and 86400, found {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_regions_and_profiles() {
        assert!(checked_region("us-east-1", "p").is_ok());
        assert!(checked_region("us-gov-west-1", "p").is_ok());
        assert!(checked_region("US-East-1", "p").is_err());
        assert!(checked_region("useast1", "p").is_err());
        assert!(checked_profile("genai", "p").is_ok());
        assert!(checked_profile("my profile", "p").is_err());
    }
}
